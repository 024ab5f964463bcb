//! SQLite implementation of every store trait: an r2d2 pool of connections in
//! WAL mode with a busy timeout and foreign keys on, and numbered migrations
//! applied at open.

use std::path::Path;
use std::time::Duration;

use r2d2::{CustomizeConnection, Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::config::SyncMode;
use crate::error::{Error, Result, StorageError};

mod audit;
mod flags;
mod jobs;
mod ledger;
mod migrate;
mod pipelines;
mod tokens;
mod users;

pub use users::PiiKeys;

pub use migrate::{MIGRATIONS, schema_version};

/// Options for opening a database.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Connections in the pool.
    pub pool_size: u32,
    /// `PRAGMA synchronous`.
    pub sync: SyncMode,
    /// How long a writer waits for the lock before failing.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            pool_size: 16,
            sync: SyncMode::Full,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
struct Pragmas {
    sync: SyncMode,
    busy_timeout: Duration,
}

impl CustomizeConnection<Connection, rusqlite::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut Connection) -> std::result::Result<(), rusqlite::Error> {
        conn.busy_timeout(self.busy_timeout)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;",
            self.sync.as_str()
        ))?;
        // Every store's statements are cached per connection; rusqlite's
        // default of 16 made them evict each other and be parsed again.
        conn.set_prepared_statement_cache_capacity(256);
        Ok(())
    }
}

/// The SQLite store. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: Pool<SqliteConnectionManager>,
    pii: std::sync::Arc<PiiKeys>,
    /// Serialises this process's writers. SQLite allows one writer at a
    /// time; without this, threads contending for the lock fall into
    /// SQLite's busy handler, which sleeps in steps of milliseconds. A mutex
    /// hands the lock over in microseconds. Other processes still meet the
    /// busy timeout.
    write_lock: std::sync::Arc<std::sync::Mutex<()>>,
    /// When a claim last expired lost leases (epoch ms), shared by clones.
    pub(crate) last_reap_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    ///
    /// # Errors
    /// Unavailable storage if the file cannot be opened; a config error if the
    /// database was written by a newer Levqor.
    pub fn open(path: &Path, opts: &SqliteOptions, pii: PiiKeys) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Unavailable(format!(
                    "cannot create database folder {}: {e}",
                    dir.display()
                ))
            })?;
        }
        // Enable WAL once on a plain connection first: switching the journal
        // mode needs an exclusive lock that concurrent pool connections would contend for.
        {
            let conn = Connection::open(path).map_err(sql_err)?;
            conn.busy_timeout(opts.busy_timeout).map_err(sql_err)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(sql_err)?;
        }
        let manager = SqliteConnectionManager::file(path);
        let pool = Pool::builder()
            .max_size(opts.pool_size)
            .min_idle(Some(1))
            // Connections are checked by use; a probe query per checkout
            // would cost a round trip on every call.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(Pragmas {
                sync: opts.sync,
                busy_timeout: opts.busy_timeout,
            }))
            .build(manager)
            .map_err(|e| {
                Error::Unavailable(format!("cannot open database {}: {e}", path.display()))
            })?;
        let store = SqliteStore {
            pool,
            pii: std::sync::Arc::new(pii),
            write_lock: Default::default(),
            last_reap_ms: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)),
        };
        store.with_conn(migrate::migrate)??;
        Ok(store)
    }

    /// An in-memory-like throwaway database in a temporary file (for tests
    /// and benchmarks). The file is removed when the OS cleans the temp dir.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_temp() -> Result<SqliteStore> {
        let path =
            std::env::temp_dir().join(format!("levqor-test-{}.db", crate::ids::random_token(8)));
        let mut key = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key);
        let pii = PiiKeys {
            cipher: crate::crypto::Cipher::new(key),
            blind_index_key: crate::ids::random_token(32).into_bytes(),
        };
        SqliteStore::open(&path, &SqliteOptions::default(), pii)
    }

    /// The PII keys this store encrypts with.
    pub fn pii(&self) -> &PiiKeys {
        &self.pii
    }

    /// Runs `f` on a pooled connection.
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> Result<T> {
        let mut conn: PooledConnection<SqliteConnectionManager> = self.pool.get().map_err(|e| {
            Error::Storage(StorageError {
                unavailable: true,
                message: e.to_string(),
            })
        })?;
        Ok(f(&mut conn))
    }

    /// Runs `f` in an IMMEDIATE transaction (write lock taken up front, so
    /// concurrent writers queue on the busy timeout instead of deadlocking).
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_conn(|c| {
            let _writer = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sql_err)?;
            let out = f(&tx)?;
            tx.commit().map_err(sql_err)?;
            Ok(out)
        })?
    }

    /// Runs `f` with a connection for reads.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.with_conn(|c| f(c))?
    }

    /// Whether the database answers a trivial query (readiness probe).
    pub fn ping(&self) -> bool {
        self.read(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map_err(sql_err)
        })
        .is_ok()
    }
}

/// Maps a rusqlite error into the backend-free [`Error`].
pub(crate) fn sql_err(e: rusqlite::Error) -> Error {
    let unavailable = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy)
            | Some(rusqlite::ErrorCode::DatabaseLocked)
            | Some(rusqlite::ErrorCode::CannotOpen)
            | Some(rusqlite::ErrorCode::DiskFull)
            | Some(rusqlite::ErrorCode::SystemIoFailure)
    );
    Error::Storage(StorageError {
        unavailable,
        message: e.to_string(),
    })
}

/// Reads a JSON text column.
pub(crate) fn json_col(s: Option<String>) -> Option<serde_json::Value> {
    s.and_then(|t| serde_json::from_str(&t).ok())
}
