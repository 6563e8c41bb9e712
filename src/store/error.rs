//! Storage errors. Errors that mean "the database is not available" — unreachable, refused
//! credentials, a missing database or table — become [`StoreError::Unavailable`] with an
//! [`UnavailableKind`], so the HTTP layer answers 503 and the log says which; everything else is
//! a query failure (a logged 500).

use std::fmt;

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot serve requests right now.
    #[error("database unavailable: {0}")]
    Unavailable(Unavailable),
    /// A query failed for another reason.
    #[error("database query failed: {0}")]
    Query(#[source] sqlx::Error),
    /// Applying or reverting migrations failed (other than for an unavailable database).
    #[error("migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// The database URL is not usable.
    #[error("{0}")]
    BadUrl(String),
    /// The operation does not apply to this database (e.g. partitioning outside PostgreSQL).
    #[error("{0}")]
    Unsupported(String),
    /// The database has no identity row (`signalgate_meta`, migration 0004): it was not migrated
    /// by this version of the gateway.
    #[error(
        "the database has no signalgate identity (table signalgate_meta, migration 0004): run `signalgate migrate`"
    )]
    NoIdentity,
}

/// Why the database is not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnavailableKind {
    /// No answer: connection refused or lost, pool or ping timed out, server shutting down or
    /// out of connections, SQLite file locked or not openable.
    Unreachable,
    /// The server refused the credentials (MySQL 1044/1045, PostgreSQL 28P01/28000).
    AuthFailed,
    /// The database named in the URL does not exist (MySQL 1049, PostgreSQL 3D000).
    MissingDatabase,
    /// A table the gateway reads does not exist (MySQL 1146, PostgreSQL 42P01, SQLite "no such
    /// table"): not migrated, or dropped under the running gateway.
    MissingTable,
}

impl fmt::Display for UnavailableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unreachable => "unreachable",
            Self::AuthFailed => "authentication failed",
            Self::MissingDatabase => "database does not exist",
            Self::MissingTable => "table does not exist",
        })
    }
}

/// A database that is not available, with the driver's error.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {error}")]
pub struct Unavailable {
    kind: UnavailableKind,
    /// Part of the message rather than a `source`, so that a logged chain says it once.
    error: sqlx::Error,
}

impl Unavailable {
    /// Why.
    pub fn kind(&self) -> UnavailableKind {
        self.kind
    }

    /// A ping or acquire that did not finish in time.
    pub(crate) fn timed_out() -> Self {
        Self {
            kind: UnavailableKind::Unreachable,
            error: sqlx::Error::PoolTimedOut,
        }
    }
}

impl StoreError {
    /// The kind, if this error means the database is not available.
    pub fn unavailable(&self) -> Option<UnavailableKind> {
        match self {
            Self::Unavailable(u) => Some(u.kind),
            _ => None,
        }
    }
}

impl From<Unavailable> for StoreError {
    fn from(u: Unavailable) -> Self {
        Self::Unavailable(u)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match classify(&err) {
            Some(kind) => Self::Unavailable(Unavailable { kind, error: err }),
            None => Self::Query(err),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        match err {
            sqlx::migrate::MigrateError::Execute(e) if classify(&e).is_some() => e.into(),
            other => Self::Migrate(other),
        }
    }
}

/// Whether `err` means the database is not available, and why.
fn classify(err: &sqlx::Error) -> Option<UnavailableKind> {
    use UnavailableKind::*;
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Some(Unreachable),
        sqlx::Error::Database(db) => {
            if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                return mysql_kind(my.number());
            }
            let code = db.code();
            match db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                Some(_) => sqlite_kind(code.as_deref(), db.message()),
                None => postgres_kind(code.as_deref()),
            }
        }
        _ => None,
    }
}

fn mysql_kind(number: u16) -> Option<UnavailableKind> {
    use UnavailableKind::*;
    match number {
        // Access denied to the database / for the user.
        1044 | 1045 => Some(AuthFailed),
        1049 => Some(MissingDatabase),
        1146 => Some(MissingTable),
        // Too many connections, server shutting down, connection aborted.
        1040 | 1053 | 1152 | 1184 => Some(Unreachable),
        _ => None,
    }
}

fn postgres_kind(code: Option<&str>) -> Option<UnavailableKind> {
    use UnavailableKind::*;
    match code? {
        "28P01" | "28000" => Some(AuthFailed),
        "3D000" => Some(MissingDatabase),
        "42P01" => Some(MissingTable),
        // Admin shutdown, crash shutdown, cannot connect now, too many connections, and the
        // connection exception class.
        "57P01" | "57P02" | "57P03" | "53300" => Some(Unreachable),
        c if c.starts_with("08") => Some(Unreachable),
        _ => None,
    }
}

fn sqlite_kind(code: Option<&str>, message: &str) -> Option<UnavailableKind> {
    use UnavailableKind::*;
    if message.starts_with("no such table") {
        return Some(MissingTable);
    }
    // Extended result codes carry the primary code in the low byte.
    let primary = code?.parse::<i32>().ok()? & 0xff;
    match primary {
        // SQLITE_BUSY, SQLITE_LOCKED (another connection holds the lock too long),
        // SQLITE_CANTOPEN (the file or its directory cannot be opened).
        5 | 6 | 14 => Some(Unreachable),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_code() {
        assert_eq!(mysql_kind(1045), Some(UnavailableKind::AuthFailed));
        assert_eq!(
            mysql_kind(1064),
            None,
            "a syntax error is a bug, not an outage"
        );
        assert_eq!(
            postgres_kind(Some("3D000")),
            Some(UnavailableKind::MissingDatabase)
        );
        assert_eq!(
            postgres_kind(Some("08006")),
            Some(UnavailableKind::Unreachable)
        );
        assert_eq!(postgres_kind(Some("42601")), None);
        assert_eq!(
            sqlite_kind(Some("1"), "no such table: monitor_signal_event"),
            Some(UnavailableKind::MissingTable)
        );
        assert_eq!(
            sqlite_kind(Some("517"), "database is locked"),
            Some(UnavailableKind::Unreachable)
        );
        assert_eq!(sqlite_kind(Some("1"), "near \"x\": syntax error"), None);
    }

    #[test]
    fn message_names_the_kind() {
        let err = StoreError::from(Unavailable::timed_out());
        assert_eq!(err.unavailable(), Some(UnavailableKind::Unreachable));
        assert!(
            err.to_string()
                .starts_with("database unavailable: unreachable: ")
        );
    }
}
