//! Tern's persistent storage: one SQLite database per profile, in WAL mode,
//! with numbered migrations.
//!
//! The schema version is kept in SQLite's `user_version` pragma. Opening a
//! database applies every migration it has not seen yet, in one transaction
//! each; opening a database written by a newer Tern, or a file that is not a
//! database, fails with a typed [`StoreError`] instead of a panic.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

mod accounts;
mod changes;
mod messages;
mod omemo;
mod profiles;
mod roster;
pub use accounts::{PinnedCertificate, ServerSecurity, StoredAccount};
pub use changes::{merge_reactions, Change, Committed};
pub use messages::{
    strip_reply_quote, Conversation, ConversationKind, Direction, MessageRow, MessageState,
    NewMessage, OutboxEntry, SearchHit, Stored,
};
pub use omemo::{OmemoStore, OmemoStoreError};
pub use profiles::ProfileRow;
pub use roster::RosterRow;

/// The migrations, in order. The position in this list (starting at 1) is
/// the schema version a database has after applying the migration.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_accounts",
        include_str!("../migrations/0001_accounts.sql"),
    ),
    (
        "0002_messaging",
        include_str!("../migrations/0002_messaging.sql"),
    ),
    ("0003_omemo", include_str!("../migrations/0003_omemo.sql")),
    (
        "0004_profiles",
        include_str!("../migrations/0004_profiles.sql"),
    ),
    (
        "0005_failures",
        include_str!("../migrations/0005_failures.sql"),
    ),
    (
        "0006_cleared_history",
        include_str!("../migrations/0006_cleared_history.sql"),
    ),
    (
        "0007_kinds_and_intents",
        include_str!("../migrations/0007_kinds_and_intents.sql"),
    ),
    (
        "0008_read_markers",
        include_str!("../migrations/0008_read_markers.sql"),
    ),
    (
        "0009_security_memory",
        include_str!("../migrations/0009_security_memory.sql"),
    ),
];

/// The schema version this build of Tern writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database was written by a newer version of Tern.
    #[error("the database at {path} was written by a newer version of Tern (schema {found}, this version understands up to {supported}); update Tern or choose another data folder")]
    NewerSchema {
        /// Database file.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The file exists but is not a readable SQLite database.
    #[error("the database at {path} is damaged or is not a Tern database ({detail}); move it away to start fresh")]
    Corrupt {
        /// Database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// A migration failed to apply.
    #[error("could not upgrade the database to schema {version} ({name}): {source}")]
    Migration {
        /// Version the migration leads to.
        version: i64,
        /// Migration name.
        name: &'static str,
        /// Underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// The data directory could not be determined or created.
    #[error("cannot use the data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The platform has no app-data folder for this user.
    #[error("this system does not provide a data folder for the current user")]
    NoDataDir,
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Result alias for the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The platform's data folder for Tern (`~/.local/share/tern` on Linux,
/// `~/Library/Application Support/im.tern.Tern` on macOS,
/// `%APPDATA%\Tern\Tern\data` on Windows).
pub fn default_data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("im", "tern", "Tern")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or(StoreError::NoDataDir)
}

/// Handle to Tern's database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) `tern.sqlite3` in `dir` and brings its schema
    /// up to date.
    pub async fn open_in_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        Store::open(&dir.join("tern.sqlite3")).await
    }

    /// Opens (creating if needed) the database file at `path` and brings its
    /// schema up to date.
    pub async fn open(path: &Path) -> Result<Store> {
        let corrupt = |e: sqlx::Error| classify(path, e);
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(corrupt)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(corrupt)?;
        let store = Store {
            pool,
            path: path.to_path_buf(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a fresh database in memory, with the current schema. Nothing is
    /// written to disk; the data is gone when the last handle is dropped.
    pub async fn open_in_memory() -> Result<Store> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection that is never recycled: an in-memory database lives
        // and dies with its connection.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        let store = Store {
            pool,
            path: PathBuf::from(":memory:"),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version currently in the file.
    pub async fn schema_version(&self) -> Result<i64> {
        let v: i64 = sqlx::query("PRAGMA user_version")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| classify(&self.path, e))?
            .try_get(0)?;
        Ok(v)
    }

    async fn migrate(&self) -> Result<()> {
        // `quick_check` reads every page header; it is what turns a damaged
        // file into a clear error rather than a failure deep inside a query.
        let check: String = sqlx::query("PRAGMA quick_check")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| classify(&self.path, e))?
            .try_get(0)?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: check,
            });
        }
        let current = self.schema_version().await?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        for (idx, (name, sql)) in MIGRATIONS.iter().enumerate() {
            let version = idx as i64 + 1;
            if version <= current {
                continue;
            }
            let wrap = |source| StoreError::Migration {
                version,
                name,
                source,
            };
            let mut tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(wrap)?;
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(wrap)?;
            sqlx::raw_sql(&format!("PRAGMA user_version = {version}"))
                .execute(&mut *tx)
                .await
                .map_err(wrap)?;
            tx.commit().await.map_err(wrap)?;
            tracing::info!(version, name, "applied migration");
        }
        Ok(())
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::warn!("WAL checkpoint on close failed: {e}");
        }
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Maps SQLite's "not a database" / "malformed" errors to [`StoreError::Corrupt`].
fn classify(path: &Path, e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        // SQLITE_CORRUPT = 11, SQLITE_NOTADB = 26 (primary codes).
        let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0) & 0xff;
        if code == 11 || code == 26 {
            return StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: db.message().to_string(),
            };
        }
    }
    StoreError::Database(e)
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
