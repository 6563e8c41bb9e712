//! How each backend spells SQL and times: placeholders, identifier quotes, JSON reads and
//! writes, upsert syntax, the time representation and the embedded migrations.
//!
//! Times cross the driver as naive UTC on MySQL (`DATETIME(6)`), as `TIMESTAMPTZ` instants on
//! PostgreSQL (a plain `TIMESTAMP` column converts them in the session time zone, which sqlx
//! sets to UTC) and, on SQLite, as fixed-width text `YYYY-MM-DD HH:MM:SS.ffffff`, so that text
//! order is time order. Bar times are naive local times everywhere (text on SQLite).

use chrono::NaiveDateTime;
use sqlx::migrate::Migrator;

/// A SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    MySql,
    Postgres,
    Sqlite,
}

/// How a conflicting insert is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upsert {
    /// MySQL: `INSERT IGNORE` / `ON DUPLICATE KEY UPDATE c = VALUES(c)`.
    OnDuplicateKey,
    /// PostgreSQL and SQLite: `ON CONFLICT DO NOTHING` / `ON CONFLICT (key) DO UPDATE SET c = excluded.c`.
    OnConflict,
}

/// The text format SQLite times are written in.
const TEXT_TIME: &str = "%Y-%m-%d %H:%M:%S%.6f";

impl Dialect {
    /// `mysql`, `postgres` or `sqlite`.
    pub fn name(self) -> &'static str {
        match self {
            Self::MySql => "mysql",
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }

    /// `$1, $2, ..` (PostgreSQL) instead of `?`.
    pub fn dollar(self) -> bool {
        self == Self::Postgres
    }

    /// Identifier quote character for VnPy's reserved-word columns (`interval`, `datetime`).
    pub fn quote(self) -> char {
        match self {
            Self::MySql => '`',
            _ => '"',
        }
    }

    /// Expression that reads `payload_json` as text.
    pub fn payload(self) -> &'static str {
        match self {
            Self::MySql => "CAST(payload_json AS CHAR)",
            Self::Postgres => "payload_json::text",
            Self::Sqlite => "CAST(payload_json AS TEXT)",
        }
    }

    /// Appended to the placeholder of a JSON value written as text.
    pub fn json_cast(self) -> &'static str {
        match self {
            Self::Postgres => "::jsonb",
            _ => "",
        }
    }

    /// Upsert syntax.
    pub fn upsert(self) -> Upsert {
        match self {
            Self::MySql => Upsert::OnDuplicateKey,
            _ => Upsert::OnConflict,
        }
    }

    /// Whether `=` on text may match other bytes (MySQL's default collations ignore case and
    /// trailing spaces), so exact matches need an extra binary comparison.
    pub fn binary_compare(self) -> bool {
        self == Self::MySql
    }

    /// Whether UTC instants are bound as such (PostgreSQL, for `TIMESTAMPTZ`) rather than as
    /// naive UTC.
    pub fn utc_params(self) -> bool {
        self == Self::Postgres
    }

    /// Whether times are stored as text (SQLite) rather than a native type.
    pub fn text_times(self) -> bool {
        self == Self::Sqlite
    }

    /// The condition "this snapshot row has an unpublished version" (migration 0005), spelled
    /// as each backend's partial index (PostgreSQL, SQLite) or plain index (MySQL) expects it.
    pub fn pending(self) -> &'static str {
        match self {
            Self::Postgres => "pending",
            _ => "pending = 1",
        }
    }

    /// The value that marks a snapshot row's version as published.
    pub fn published(self) -> &'static str {
        match self {
            Self::Postgres => "FALSE",
            _ => "0",
        }
    }

    /// `col` as a 64-bit integer (so a `UNION` column has one type everywhere).
    pub fn bigint(self, col: &str) -> String {
        match self {
            Self::MySql => format!("CAST({col} AS SIGNED)"),
            Self::Postgres => format!("CAST({col} AS BIGINT)"),
            Self::Sqlite => col.to_owned(),
        }
    }

    /// Row locks that skip rows a writer holds; SQLite has one writer at a time and no row
    /// locks.
    pub fn skip_locked(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => None,
            _ => Some(" FOR UPDATE SKIP LOCKED"),
        }
    }

    /// `(t, c)`: the table and column names of the two signal tables, if they exist.
    pub fn signal_columns_sql(self) -> &'static str {
        match self {
            Self::MySql => {
                "SELECT CAST(table_name AS CHAR) AS t, CAST(column_name AS CHAR) AS c \
                 FROM information_schema.columns WHERE table_schema = DATABASE() \
                 AND table_name IN ('monitor_signal_snapshot', 'monitor_signal_event')"
            }
            Self::Postgres => {
                "SELECT table_name::text AS t, column_name::text AS c \
                 FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name IN ('monitor_signal_snapshot', 'monitor_signal_event')"
            }
            Self::Sqlite => {
                "SELECT m.name AS t, p.name AS c FROM sqlite_master m \
                 JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' \
                 AND m.name IN ('monitor_signal_snapshot', 'monitor_signal_event')"
            }
        }
    }

    /// The documented statements that give design-document tables the gateway's columns
    /// (docs/schema.md, "Adopting existing tables"); none are documented for SQLite.
    pub fn adoption_sql(self) -> Option<&'static str> {
        match self {
            Self::MySql => Some(include_str!("adopt/mysql.sql")),
            Self::Postgres => Some(include_str!("adopt/postgres.sql")),
            Self::Sqlite => None,
        }
    }

    /// The embedded migrations.
    pub fn migrator(self) -> &'static Migrator {
        static MYSQL: Migrator = sqlx::migrate!("./migrations/mysql");
        static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
        static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
        match self {
            Self::MySql => &MYSQL,
            Self::Postgres => &POSTGRES,
            Self::Sqlite => &SQLITE,
        }
    }
}

/// A time as SQLite text.
pub(crate) fn time_to_text(t: NaiveDateTime) -> String {
    t.format(TEXT_TIME).to_string()
}

/// Reads SQLite text written by us or by a strategy (`T` separator and a trailing `Z` allowed).
pub(crate) fn time_from_text(col: &str, text: &str) -> Result<NaiveDateTime, sqlx::Error> {
    let trimmed = text.trim_end_matches('Z');
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(trimmed, f).ok())
        .ok_or_else(|| sqlx::Error::ColumnDecode {
            index: col.to_owned(),
            source: format!("'{text}' is not a time").into(),
        })
}
