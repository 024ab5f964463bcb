//! [`Levqor`]: the assembled system that front ends and embedding programs
//! open: configuration, secrets, stores, the queue, handler and connector
//! registries. Built with [`LevqorBuilder`] so embedders can add their own
//! job kinds and connectors.

use std::sync::Arc;

use crate::auth::{ApiKeyStore, NewApiKey, Principal, key_matches, mint_api_key};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, Secrets};
use crate::connectors::job::ConnectorTaskHandler;
use crate::connectors::{ConnectorMetrics, ConnectorRegistry};
use crate::crypto::sha256_hex;
use crate::error::{Error, Result};
use crate::observability::Metrics;
use crate::queue::retry::Backoff;
use crate::queue::{
    HandlerRegistry, JobHandler, JobStore, Notifier, Queue, QueueSettings, WorkerOptions,
    WorkerPool,
};
use crate::storage::SqliteStore;
use crate::storage::sqlite::{PiiKeys, SqliteOptions};
use crate::users::{NewUser, Role, User, UserStore, normalize_email};

/// Every store the system uses, as trait objects so that another backend
/// can stand in for SQLite.
#[derive(Clone)]
pub struct Stores {
    /// Jobs.
    pub jobs: Arc<dyn JobStore>,
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// API keys.
    pub keys: Arc<dyn ApiKeyStore>,
    /// Credits ledger.
    pub ledger: Arc<dyn crate::billing::LedgerStore>,
    /// Token families, refresh tokens, access-token revocation.
    pub tokens: Arc<dyn crate::auth::TokenStore>,
    /// Audit log.
    pub audit: Arc<dyn crate::audit::AuditStore>,
    /// Feature flags.
    pub flags: Arc<dyn crate::flags::FlagStore>,
    /// Pipelines and runs.
    pub pipelines: Arc<dyn crate::pipeline::PipelineStore>,
    /// The SQLite store itself (ping, maintenance).
    pub sqlite: SqliteStore,
}

impl Stores {
    /// All stores backed by one SQLite database.
    pub fn sqlite(store: SqliteStore) -> Stores {
        Stores {
            jobs: Arc::new(store.clone()),
            users: Arc::new(store.clone()),
            keys: Arc::new(store.clone()),
            ledger: Arc::new(store.clone()),
            tokens: Arc::new(store.clone()),
            audit: Arc::new(store.clone()),
            flags: Arc::new(store.clone()),
            pipelines: Arc::new(store.clone()),
            sqlite: store,
        }
    }
}

/// Builds a [`Levqor`].
pub struct LevqorBuilder {
    config: Config,
    clock: SharedClock,
    handlers: HandlerRegistry,
    connectors: ConnectorRegistry,
    group_commit: bool,
}

impl LevqorBuilder {
    /// Starts from a configuration, with the built-in job kinds and connectors.
    pub fn new(config: Config) -> Self {
        LevqorBuilder {
            clock: Arc::new(SystemClock),
            handlers: HandlerRegistry::with_builtins(),
            connectors: ConnectorRegistry::standard(&config.connectors),
            group_commit: false,
            config,
        }
    }

    /// Uses another clock (tests).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Registers a job handler for `kind`.
    pub fn handler(mut self, kind: &str, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.register(kind, handler);
        self
    }

    /// Registers a connector.
    pub fn connector(mut self, connector: Arc<dyn crate::connectors::Connector>) -> Self {
        self.connectors.register(connector);
        self
    }

    /// Commits enqueues from many threads together (servers).
    pub fn group_commit(mut self, on: bool) -> Self {
        self.group_commit = on;
        self
    }

    /// Loads secrets, opens and migrates the database, assembles the system.
    ///
    /// # Errors
    /// Configuration errors (missing production secrets, malformed keys) and
    /// storage errors.
    pub fn open(self) -> Result<Levqor> {
        let secrets = Secrets::load(&self.config)?;
        let pii = PiiKeys {
            cipher: crate::users::pii::cipher(&self.config, &secrets)?,
            blind_index_key: secrets.blind_index_key.clone(),
        };
        let opts = SqliteOptions {
            pool_size: self.config.db_pool,
            sync: self.config.sqlite_sync,
            ..SqliteOptions::default()
        };
        let sqlite = SqliteStore::open(&self.config.db, &opts, pii)?;
        let stores = Stores::sqlite(sqlite);
        let connectors = Arc::new(self.connectors);
        let connector_metrics = Arc::new(ConnectorMetrics::new());
        let engine = Arc::new(
            crate::pipeline::Engine::new(
                stores.pipelines.clone(),
                connectors.clone(),
                self.clock.clone(),
                crate::pipeline::PipelineSettings::from_config(&self.config),
            )
            .with_metrics(connector_metrics.clone()),
        );
        let mut handlers = self.handlers;
        if handlers.get("pipeline.run").is_none() {
            let h = crate::pipeline::PipelineRunHandler::new(engine.clone());
            handlers.register("pipeline.run", Arc::new(h));
        }
        if handlers.get("connector.task").is_none() {
            handlers.register(
                "connector.task",
                Arc::new(ConnectorTaskHandler::new(
                    connectors.clone(),
                    connector_metrics.clone(),
                )),
            );
        }
        let handlers = Arc::new(handlers);
        let notifier = Arc::new(Notifier::default());
        let queue = Queue::new(
            stores.jobs.clone(),
            handlers,
            self.clock.clone(),
            notifier,
            QueueSettings {
                lease_ms: self.config.lease_ms,
            },
            self.group_commit,
        );
        let limits = Arc::new(crate::ratelimit::RateLimits::in_memory(
            &self.config,
            self.clock.clone(),
        ));
        let pipelines = crate::pipeline::PipelineService::new(engine, queue.clone());
        Ok(Levqor {
            limits,
            started_at: self.clock.now_ms(),
            pipelines,
            config: self.config,
            secrets,
            clock: self.clock,
            stores,
            queue,
            connectors,
            connector_metrics,
            metrics: Arc::new(Metrics::default()),
        })
    }
}

/// The assembled system. Cheap to share behind an `Arc`.
pub struct Levqor {
    /// Settings.
    pub config: Config,
    /// Secret material.
    pub secrets: Secrets,
    /// Time source.
    pub clock: SharedClock,
    /// Storage.
    pub stores: Stores,
    /// The job queue.
    pub queue: Queue,
    /// Pipelines: plan, create, run (the `pipeline.run` job kind is registered).
    pub pipelines: crate::pipeline::PipelineService,
    /// Connectors.
    pub connectors: Arc<ConnectorRegistry>,
    /// Per-connector calls, errors and latency.
    pub connector_metrics: Arc<ConnectorMetrics>,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
    /// Epoch ms when opened.
    pub started_at: i64,
    /// Rate-limit policies and their limiter.
    pub limits: Arc<crate::ratelimit::RateLimits>,
}

impl std::fmt::Debug for Levqor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Levqor")
            .field("db", &self.config.db)
            .finish()
    }
}

impl Levqor {
    /// Opens the system described by `config` with the built-ins only.
    ///
    /// # Errors
    /// As [`LevqorBuilder::open`].
    pub fn open(config: Config) -> Result<Levqor> {
        LevqorBuilder::new(config).open()
    }

    /// Starts a worker pool on this system's queue.
    pub fn start_workers(&self, threads: usize) -> WorkerPool {
        self.start_workers_with(self.worker_options(threads))
    }

    /// Starts a worker pool with explicit options.
    pub fn start_workers_with(&self, opts: WorkerOptions) -> WorkerPool {
        WorkerPool::start(
            self.stores.jobs.clone(),
            self.queue.handlers().clone(),
            self.clock.clone(),
            self.queue.notifier().clone(),
            opts,
        )
    }

    /// Worker settings from the configuration.
    pub fn worker_options(&self, threads: usize) -> WorkerOptions {
        WorkerOptions {
            threads,
            lease_ms: self.config.lease_ms,
            poll_ms: self.config.poll_ms,
            claim_batch: self.config.claim_batch,
            backoff: Backoff {
                base_ms: self.config.retry_base_ms,
                max_ms: self.config.retry_max_ms,
            },
            on_complete: None,
            writer: self.queue.writer().cloned(),
        }
    }

    /// Whether storage answers.
    pub fn ready(&self) -> bool {
        self.stores.sqlite.ping()
    }

    /// Authenticates an `X-API-Key` value.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] for unknown or revoked keys.
    pub fn authenticate_key(&self, presented: &str) -> Result<Principal> {
        let bad = || Error::Unauthorized("invalid or revoked API key".into());
        if !presented.starts_with("lvq_") || presented.len() > 200 {
            return Err(bad());
        }
        let (record, role) = self
            .stores
            .keys
            .find_key(&sha256_hex(presented.as_bytes()))?
            .ok_or_else(bad)?;
        if record.revoked_at.is_some() || !key_matches(presented, &record) {
            return Err(bad());
        }
        Ok(Principal {
            user_id: record.user_id,
            role,
            key_id: Some(record.id),
        })
    }

    /// Creates an API key for the user with `email` (creating the user with
    /// `role` if needed; an existing user keeps its role).
    ///
    /// # Errors
    /// Validation errors for a bad email; storage errors.
    pub fn create_api_key(&self, email: &str, role: Role) -> Result<(User, NewApiKey)> {
        let email = normalize_email(email)?;
        let now = self.clock.now_ms();
        let (user, _) = self.stores.users.upsert_by_email(
            &NewUser {
                email,
                name: None,
                role,
                credits: self.config.free_credits,
            },
            now,
        )?;
        let key = mint_api_key(&user.id, now);
        self.stores.keys.insert_key(&key.record)?;
        let details = serde_json::json!({"key_id": key.record.id, "via": "operator"});
        self.audit(
            crate::audit::Action::KeyCreated,
            None,
            Some(&user.id),
            details,
        )?;
        Ok((user, key))
    }

    /// The id of the user with `email`, created as a plain user if new
    /// (operators submitting jobs from the CLI).
    ///
    /// # Errors
    /// Validation errors for a bad email; storage errors.
    pub fn ensure_user(&self, email: &str) -> Result<(String, bool)> {
        let email = normalize_email(email)?;
        let (user, created) = self.stores.users.upsert_by_email(
            &NewUser {
                email,
                name: None,
                role: Role::User,
                credits: self.config.free_credits,
            },
            self.clock.now_ms(),
        )?;
        Ok((user.id, created))
    }

    /// Revokes an API key by id.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no active key has this id.
    pub fn revoke_api_key(&self, key_id: &str) -> Result<()> {
        if self.stores.keys.revoke_key(key_id, self.clock.now_ms())? {
            let details = serde_json::json!({"key_id": key_id});
            self.audit(crate::audit::Action::KeyRevoked, None, None, details)
        } else {
            Err(Error::NotFound("api key"))
        }
    }
}
