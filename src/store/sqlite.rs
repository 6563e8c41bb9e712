//! SQLite backend (the embedded default): connect options. Times are stored as fixed-width text
//! (see [`Dialect`]), in UTC for the signal tables and naive local time for bars, as VnPy writes
//! them.

use std::str::FromStr;

use sqlx::{
    Pool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode},
};

use super::backend::{Backend, pool_options};
use super::dialect::Dialect;
use super::{PoolOptions, StoreError};

impl Backend for sqlx::Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;

    /// Opens (and creates if missing) the database file, in WAL mode so readers never block
    /// the writer.
    fn pool(url: &str, opts: &PoolOptions) -> Result<Pool<Self>, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(opts.acquire_timeout);
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::BadUrl(format!("cannot create {}: {e}", dir.display())))?;
        }
        Ok(pool_options(opts).connect_lazy_with(options))
    }
}
