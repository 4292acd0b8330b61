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
mod rooms;
mod roster;
pub use accounts::{PinnedCertificate, ServerSecurity, StoredAccount};
pub use changes::{merge_reactions, Change, Committed, Occupant};
pub use messages::{
    strip_reply_quote, Conversation, ConversationKind, Direction, MessageRow, MessageState,
    NewMessage, OutboxEntry, SearchHit, Stored,
};
pub use omemo::{OmemoStore, OmemoStoreError};
pub use profiles::ProfileRow;
pub use rooms::{InvitationRow, RoomRow};
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
    (
        "0010_group_chats",
        include_str!("../migrations/0010_group_chats.sql"),
    ),
    ("0011_files", include_str!("../migrations/0011_files.sql")),
    (
        "0012_encrypted",
        include_str!("../migrations/0012_encrypted.sql"),
    ),
    (
        "0013_encryption",
        include_str!("../migrations/0013_encryption.sql"),
    ),
    (
        "0014_group_encryption",
        include_str!("../migrations/0014_group_encryption.sql"),
    ),
    ("0015_calls", include_str!("../migrations/0015_calls.sql")),
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

/// Makes `dir` a folder only its owner may enter (Unix): created with mode
/// 0700 when missing (its parents as usual), and set to 0700 when it
/// exists with any group or other bits. Tern keeps its database, avatars
/// and caches in such folders, so other users of the computer cannot read
/// them. Elsewhere it only creates the folder.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Makes the database file at `path` readable by its owner only (Unix):
/// created empty with mode 0600 when missing (SQLite gives its WAL and
/// shared-memory files the database's mode), and the database and those
/// files set to 0600 when they exist with group or other bits.
fn private_database_files(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // Missing folder or no right to create: SQLite says so next.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut f = path.as_os_str().to_owned();
            f.push(suffix);
            files.push(PathBuf::from(f));
        }
        for f in files {
            let Ok(meta) = std::fs::metadata(&f) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                if let Err(e) = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))
                {
                    tracing::warn!(path = %f.display(), "could not make the file private (0600): {e}");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Handle to Tern's database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) `tern.sqlite3` in `dir` and brings its schema
    /// up to date. `dir` is made private first ([`private_dir`]); where its
    /// mode cannot be changed (a file system without Unix modes), a warning
    /// is logged and Tern goes on.
    pub async fn open_in_dir(dir: &Path) -> Result<Store> {
        if let Err(source) = private_dir(dir) {
            if !dir.is_dir() {
                return Err(StoreError::DataDir {
                    path: dir.to_path_buf(),
                    source,
                });
            }
            tracing::warn!(path = %dir.display(), "could not make the data folder private (0700): {source}");
        }
        Store::open(&dir.join("tern.sqlite3")).await
    }

    /// Opens (creating if needed) the database file at `path` and brings its
    /// schema up to date. The file and the WAL beside it are readable by
    /// their owner only (mode 0600 on Unix, tightened when they exist), and
    /// deleted rows are overwritten (`secure_delete`).
    pub async fn open(path: &Path) -> Result<Store> {
        private_database_files(path);
        let corrupt = |e: sqlx::Error| classify(path, e);
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(corrupt)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Deleted content (a deleted conversation, a retracted message)
            // is overwritten with zeros rather than left in free space of
            // the file. The search index's words go when its segments are
            // merged; see docs/security.md.
            .pragma("secure_delete", "on")
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

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The database and the files SQLite keeps beside it.
    fn files(dir: &Path) -> [PathBuf; 3] {
        ["tern.sqlite3", "tern.sqlite3-wal", "tern.sqlite3-shm"].map(|f| dir.join(f))
    }

    #[tokio::test]
    async fn a_new_data_folder_and_its_files_are_for_their_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("share").join("tern");
        let store = Store::open_in_dir(&dir).await.unwrap();
        assert_eq!(mode(&dir), 0o700, "the data folder");
        for f in files(&dir) {
            assert!(f.exists(), "{}", f.display());
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        // Its parents are the user's business.
        assert_eq!(mode(&tmp.path().join("share")) & 0o700, 0o700);
        store.close().await;
    }

    #[tokio::test]
    async fn an_existing_data_folder_readable_by_others_is_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tern");
        std::fs::create_dir(&dir).unwrap();
        {
            // A database written with the default umask, as Tern did before.
            let opts = SqliteConnectOptions::from_str("sqlite://")
                .unwrap()
                .filename(dir.join("tern.sqlite3"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            let pool = SqlitePool::connect_with(opts).await.unwrap();
            sqlx::query("CREATE TABLE t (x)")
                .execute(&pool)
                .await
                .unwrap();
            for f in files(&dir) {
                set_mode(&f, 0o644);
            }
            set_mode(&dir, 0o755);
            let store = Store::open_in_dir(&dir).await.unwrap();
            assert_eq!(mode(&dir), 0o700, "the data folder");
            for f in files(&dir) {
                assert_eq!(mode(&f), 0o600, "{}", f.display());
            }
            store.close().await;
            pool.close().await;
        }
        // A folder that others may write to, too.
        set_mode(&dir, 0o777);
        Store::open_in_dir(&dir).await.unwrap().close().await;
        assert_eq!(mode(&dir), 0o700);
    }

    #[tokio::test]
    async fn a_deleted_conversation_leaves_no_text_in_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open_in_dir(tmp.path()).await.unwrap();
        // 200 messages fill whole pages, which the delete frees; the text
        // is exact (case and punctuation), which only the messages table
        // keeps (the search index keeps folded words).
        let secret = |i: usize| format!("Meet-Me At The Orchard, Gate #{i:04}!");
        let messages: Vec<NewMessage> = (0..200)
            .map(|i| NewMessage {
                account: "juliet@example.org".into(),
                peer: "romeo@example.net".into(),
                direction: Direction::Incoming,
                sender: "romeo@example.net".into(),
                uid: format!("u{i}"),
                msg_id: Some(format!("m{i}")),
                archive_id: None,
                archive_by: None,
                kind: ConversationKind::Chat,
                body: format!("{} {}", secret(i), "x".repeat(300)),
                timestamp_ms: 1_800_000_000_000 + i as i64,
                state: MessageState::Received,
                reply_to: None,
                coarse_time: false,
                mention: false,
                occupant_id: None,
                file: None,
                encrypted: false,
                decrypt_error: None,
                omemo_retry: None,
                omemo_sender: None,
                call: None,
            })
            .collect();
        store
            .upsert_account(&StoredAccount {
                jid: "juliet@example.org".into(),
                enabled: true,
                resource: None,
                host_override: None,
                port_override: None,
                direct_tls: false,
            })
            .await
            .unwrap();
        store.import_messages(&messages).await.unwrap();
        store.close().await;
        let store = Store::open_in_dir(tmp.path()).await.unwrap();
        let bytes = std::fs::read(tmp.path().join("tern.sqlite3")).unwrap();
        let has = |bytes: &[u8], s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
        assert!(has(&bytes, &secret(7)), "the test's text is in the file");
        store
            .delete_conversation("juliet@example.org", "romeo@example.net", 1_900_000_000_000)
            .await
            .unwrap();
        store.close().await;
        let mut bytes = std::fs::read(tmp.path().join("tern.sqlite3")).unwrap();
        if let Ok(wal) = std::fs::read(tmp.path().join("tern.sqlite3-wal")) {
            bytes.extend(wal);
        }
        let left: Vec<usize> = (0..200).filter(|i| has(&bytes, &secret(*i))).collect();
        assert!(
            left.is_empty(),
            "deleted messages still in the file: {left:?}"
        );
    }
}
