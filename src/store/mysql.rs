//! MySQL / MariaDB backend: connect options. `DATETIME(6)` columns hold UTC as naive times;
//! every session runs in UTC and `READ COMMITTED`.

use sqlx::Pool;

use super::backend::{Backend, pool_options};
use super::dialect::Dialect;
use super::{PoolOptions, StoreError};

impl Backend for sqlx::MySql {
    const DIALECT: Dialect = Dialect::MySql;

    fn pool(url: &str, opts: &PoolOptions) -> Result<Pool<Self>, StoreError> {
        pool_options(opts)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Every statement is its own autocommit transaction; READ COMMITTED makes
                    // sure no poll ever reads through an old snapshot.
                    sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("SET time_zone = '+00:00'")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect_lazy(url)
            .map_err(|e| StoreError::BadUrl(format!("invalid MySQL URL: {e}")))
    }
}
