//! Storage errors. The HTTP layer maps [`StoreError::Unavailable`] to 503 and everything else to
//! a logged 500.

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (connection refused or lost, pool timed out).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A query failed for another reason.
    #[error("database query failed: {0}")]
    Query(#[source] sqlx::Error),
    /// Applying or reverting migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL is not usable.
    #[error("{0}")]
    BadUrl(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err),
            sqlx::Error::Database(ref db) if is_unavailable_code(db.code().as_deref()) => {
                Self::Unavailable(err)
            }
            other => Self::Query(other),
        }
    }
}

/// Server error codes that mean "try again later" rather than "bad query".
fn is_unavailable_code(code: Option<&str>) -> bool {
    matches!(
        code,
        // PostgreSQL: admin shutdown, crash shutdown, cannot connect now, too many connections.
        Some("57P01" | "57P02" | "57P03" | "53300")
        // MySQL/MariaDB: communication link failure, cannot establish connection.
        | Some("08S01" | "08004")
        // SQLite: SQLITE_BUSY, SQLITE_LOCKED (another connection holds the write lock too long).
        | Some("5" | "6")
    )
}
