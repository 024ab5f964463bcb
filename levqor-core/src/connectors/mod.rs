//! Connectors: the one trait through which pipelines and `connector.task`
//! jobs reach the outside world, and the registry that names them.
//!
//! A connector is fail-closed: anything it cannot positively confirm as a
//! success is a [`ConnectorError`], whose [`ConnectorErrorKind`] decides
//! whether the caller retries.
//!
//! Entry points: [`ConnectorRegistry::standard`] builds every connector from
//! [`ConnectorSettings`]; [`ConnectorRegistry::run`] is the instrumented call
//! path (records [`ConnectorMetrics`]); [`run_one`] runs one call for
//! `levqor connector test`.
//!
//! Code map: `settings` (environment), `http_client` (the one place that
//! builds ureq agents: timeouts, size cap, error mapping, secret scrubbing),
//! `guard` (private-address rules and the pinning resolver), `params`
//! (schema checks), `metrics`, `builtin` and `transform` (offline), and one
//! file per service: `slack`, `telegram`, `email`, `notion`, `sheets`, `http`.
//!
//! **Invariant**: no credential appears in an error message, a `Debug` output
//! or a connector's output.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub mod builtin;
pub mod email;
pub mod guard;
pub mod http;
pub(crate) mod http_client;
pub mod job;
pub mod metrics;
pub mod notion;
pub mod params;
pub mod settings;
pub mod sheets;
pub mod slack;
pub mod telegram;
pub mod transform;

pub use metrics::ConnectorMetrics;
pub use settings::ConnectorSettings;

/// The type a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// A JSON string.
    String,
    /// A JSON integer.
    Integer,
    /// A string or an integer (Telegram's `chat_id`).
    StringOrInteger,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// Any JSON value.
    Any,
}

/// One parameter of a connector's schema.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParamSpec {
    /// Member name in `params`.
    pub name: &'static str,
    /// Expected JSON type.
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// Whether the member must be present.
    pub required: bool,
    /// One-line description.
    pub description: &'static str,
}

impl ParamSpec {
    /// A required parameter.
    pub const fn required(name: &'static str, ty: ParamType, description: &'static str) -> Self {
        ParamSpec {
            name,
            ty,
            required: true,
            description,
        }
    }
    /// An optional parameter.
    pub const fn optional(name: &'static str, ty: ParamType, description: &'static str) -> Self {
        ParamSpec {
            name,
            ty,
            required: false,
            description,
        }
    }
}

/// Per-call context handed to a connector.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// Stable key of this logical call (one per run and step, or per job):
    /// connectors send it where the service supports idempotency.
    pub idempotency_key: String,
    /// Upper bound on the whole call, if the caller has one.
    pub timeout: Option<Duration>,
}

impl TaskContext {
    /// A context with the given idempotency key and no timeout.
    pub fn new(idempotency_key: impl Into<String>) -> Self {
        TaskContext {
            idempotency_key: idempotency_key.into(),
            timeout: None,
        }
    }
}

/// Why a connector call failed; decides retry behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectorErrorKind {
    /// Credentials or settings missing; names the setting to fill in.
    NotConfigured {
        /// The environment variable to set.
        setting: String,
    },
    /// The params are wrong for this connector.
    InvalidPayload,
    /// The service refused the credentials.
    Unauthorized,
    /// The service rate limited us.
    RateLimited {
        /// The service's own retry-after, if it gave one.
        retry_after: Option<Duration>,
    },
    /// Upstream 5xx: retryable.
    Upstream5xx {
        /// HTTP status.
        status: u16,
    },
    /// Upstream 4xx (other than 401/429): not retryable.
    Upstream4xx {
        /// HTTP status.
        status: u16,
    },
    /// The call took longer than its timeout.
    Timeout,
    /// Connection failed, DNS failed, or the answer could not be read.
    Network,
    /// The destination is forbidden (private address guard).
    Forbidden,
    /// The service answered something we cannot confirm as success.
    BadResponse,
}

impl ConnectorErrorKind {
    /// Short stable label used in metrics (`errors by class`).
    pub fn label(&self) -> &'static str {
        match self {
            ConnectorErrorKind::NotConfigured { .. } => "not_configured",
            ConnectorErrorKind::InvalidPayload => "invalid_payload",
            ConnectorErrorKind::Unauthorized => "unauthorized",
            ConnectorErrorKind::RateLimited { .. } => "rate_limited",
            ConnectorErrorKind::Upstream5xx { .. } => "upstream_5xx",
            ConnectorErrorKind::Upstream4xx { .. } => "upstream_4xx",
            ConnectorErrorKind::Timeout => "timeout",
            ConnectorErrorKind::Network => "network",
            ConnectorErrorKind::Forbidden => "forbidden",
            ConnectorErrorKind::BadResponse => "bad_response",
        }
    }
}

/// A failed connector call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{connector}: {message}")]
pub struct ConnectorError {
    /// Connector name.
    pub connector: String,
    /// Class of failure.
    pub kind: ConnectorErrorKind,
    /// Human-readable detail; never contains a secret.
    pub message: String,
}

impl ConnectorError {
    /// Builds an error.
    pub fn new(
        connector: impl Into<String>,
        kind: ConnectorErrorKind,
        message: impl Into<String>,
    ) -> Self {
        ConnectorError {
            connector: connector.into(),
            kind,
            message: message.into(),
        }
    }

    /// Whether retrying the same call may succeed (timeouts, network errors,
    /// upstream 5xx and 429).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ConnectorErrorKind::RateLimited { .. }
                | ConnectorErrorKind::Upstream5xx { .. }
                | ConnectorErrorKind::Timeout
                | ConnectorErrorKind::Network
        )
    }

    /// The minimum wait the service asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            ConnectorErrorKind::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// A connector: a named client of one service.
pub trait Connector: Send + Sync {
    /// Registry name (`slack`, `http`, `echo`...).
    fn name(&self) -> &str;

    /// The parameters this connector takes; pipeline validation checks
    /// required members and literal types against it.
    fn params(&self) -> &[ParamSpec];

    /// Runs one task with these params and returns the service's useful answer.
    ///
    /// # Errors
    /// A classed [`ConnectorError`]; see [`ConnectorError::is_retryable`].
    fn run_task(&self, ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError>;
}

/// Name → connector map. Embedding programs register their own.
#[derive(Clone, Default)]
pub struct ConnectorRegistry {
    map: BTreeMap<String, Arc<dyn Connector>>,
}

impl std::fmt::Debug for ConnectorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map.keys()).finish()
    }
}

impl ConnectorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding the offline built-ins (`echo`, `transform`, `delay`, `log`).
    pub fn with_builtins() -> Self {
        let mut r = Self::new();
        builtin::register(&mut r);
        r
    }

    /// The built-ins plus every external connector (`slack`, `telegram`,
    /// `email`, `notion`, `sheets`, `http`), configured from `settings`.
    /// Connectors without credentials are registered anyway and fail closed
    /// with a `NotConfigured` error naming the variable to set.
    pub fn standard(settings: &ConnectorSettings) -> Self {
        let mut r = Self::with_builtins();
        r.register(Arc::new(slack::Slack::new(settings)));
        r.register(Arc::new(telegram::Telegram::new(settings)));
        r.register(Arc::new(email::Email::new(settings)));
        r.register(Arc::new(notion::Notion::new(settings)));
        r.register(Arc::new(sheets::Sheets::new(settings)));
        r.register(Arc::new(http::Http::new(settings)));
        r
    }

    /// Adds (or replaces) a connector under its own name.
    pub fn register(&mut self, connector: Arc<dyn Connector>) {
        self.map.insert(connector.name().to_string(), connector);
    }

    /// Looks a connector up by name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Connector>> {
        self.map.get(name)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// Runs connector `name` once, recording the call in `metrics`; the
    /// instrumented path the executor and `connector.task` jobs use.
    ///
    /// # Errors
    /// `InvalidPayload` for an unknown name, else the connector's own error.
    ///
    /// # Example
    /// ```
    /// use levqor_core::connectors::{ConnectorMetrics, ConnectorRegistry, TaskContext};
    /// let reg = ConnectorRegistry::with_builtins();
    /// let metrics = ConnectorMetrics::new();
    /// let out = reg
    ///     .run("echo", &TaskContext::new("k1"), &serde_json::json!({"a": 1}), &metrics)
    ///     .unwrap();
    /// assert_eq!(out["a"], 1);
    /// assert_eq!(metrics.stats("echo").unwrap().calls, 1);
    /// ```
    pub fn run(
        &self,
        name: &str,
        ctx: &TaskContext,
        params: &Value,
        metrics: &ConnectorMetrics,
    ) -> Result<Value, ConnectorError> {
        let Some(connector) = self.get(name) else {
            return Err(ConnectorError::new(
                name,
                ConnectorErrorKind::InvalidPayload,
                format!("unknown connector `{name}`"),
            ));
        };
        let started = std::time::Instant::now();
        let result = connector.run_task(ctx, params);
        metrics.record(name, started.elapsed(), result.as_ref().map(|_| ()));
        result
    }
}

/// Runs connector `name` once with `params`, as `levqor connector test NAME
/// --params p.json` does: a standard registry from `settings`, a fresh
/// idempotency key (`test_...`) and the settings' total timeout.
///
/// # Errors
/// `InvalidPayload` for an unknown name, else the connector's own error.
///
/// # Example
/// ```
/// use levqor_core::connectors::{run_one, ConnectorSettings};
/// let out = run_one(&ConnectorSettings::default(), "echo", &serde_json::json!({"x": 1})).unwrap();
/// assert_eq!(out["x"], 1);
/// ```
pub fn run_one(
    settings: &ConnectorSettings,
    name: &str,
    params: &Value,
) -> Result<Value, ConnectorError> {
    let registry = ConnectorRegistry::standard(settings);
    let key = crate::ids::new_id("test", chrono::Utc::now().timestamp_millis());
    let ctx = TaskContext {
        idempotency_key: key,
        timeout: Some(settings.limits.total_timeout),
    };
    registry.run(name, &ctx, params, &ConnectorMetrics::new())
}
