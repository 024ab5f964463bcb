//! Job handlers: the code that runs a job of a given kind, and the registry
//! mapping kinds to handlers. Embedding programs register their own kinds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::Value;

use super::job::Job;
use crate::error::FieldError;

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// What went wrong (stored on the job).
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// The least wait before the next attempt (a service's Retry-After), ms.
    pub retry_after_ms: Option<i64>,
}

impl JobError {
    /// A failure that another attempt may fix.
    pub fn retryable(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            retryable: true,
            retry_after_ms: None,
        }
    }
    /// A failure that no retry will fix: the job goes dead at once.
    pub fn permanent(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            retryable: false,
            retry_after_ms: None,
        }
    }
}

/// What a handler sees while running an attempt.
#[derive(Debug)]
pub struct JobContext<'a> {
    /// The job, as claimed (its `attempts` counts this attempt).
    pub job: &'a Job,
    /// When the attempt's timeout runs out, if it has one.
    pub deadline: Option<Instant>,
    cancelled: &'a AtomicBool,
}

impl<'a> JobContext<'a> {
    /// Builds a context (workers and tests).
    pub fn new(job: &'a Job, deadline: Option<Instant>, cancelled: &'a AtomicBool) -> Self {
        JobContext {
            job,
            deadline,
            cancelled,
        }
    }
    /// True once the attempt timed out or the worker is shutting down:
    /// long-running handlers should stop early.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Runs jobs of one kind.
pub trait JobHandler: Send + Sync {
    /// Checks a payload at intake, before the job is accepted (422 on error).
    fn validate(&self, _payload: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Runs one attempt.
    ///
    /// # Errors
    /// A [`JobError`] saying whether to retry.
    fn run(&self, ctx: &JobContext<'_>) -> Result<Value, JobError>;
}

/// Kind → handler map.
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    map: BTreeMap<String, Arc<dyn JobHandler>>,
}

impl std::fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map.keys()).finish()
    }
}

impl HandlerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with the built-in `echo` kind.
    pub fn with_builtins() -> Self {
        let mut r = Self::new();
        r.register("echo", Arc::new(EchoHandler));
        r
    }

    /// Registers `handler` for `kind`, replacing any earlier one.
    pub fn register(&mut self, kind: &str, handler: Arc<dyn JobHandler>) {
        self.map.insert(kind.to_string(), handler);
    }

    /// The handler of a kind.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn JobHandler>> {
        self.map.get(kind)
    }

    /// Registered kinds.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

/// The diagnostic `echo` kind: its result is its payload. With
/// `{"fail_attempts": N}` its first N attempts fail with a retryable error;
/// with `{"sleep_ms": N}` (at most 10000) each attempt first sleeps, so
/// operators can watch leases, timeouts and crash recovery.
#[derive(Debug, Default)]
pub struct EchoHandler;

impl JobHandler for EchoHandler {
    fn validate(&self, payload: &Value) -> Vec<FieldError> {
        let mut errors = vec![];
        if payload
            .get("fail_attempts")
            .is_some_and(|v| v.as_u64().is_none())
        {
            errors.push(FieldError::new(
                "/payload/fail_attempts",
                "must be a non-negative integer",
            ));
        }
        if payload
            .get("sleep_ms")
            .is_some_and(|v| v.as_u64().is_none_or(|n| n > 10_000))
        {
            errors.push(FieldError::new(
                "/payload/sleep_ms",
                "must be an integer from 0 to 10000",
            ));
        }
        errors
    }

    fn run(&self, ctx: &JobContext<'_>) -> Result<Value, JobError> {
        if let Some(ms) = ctx.job.payload.get("sleep_ms").and_then(Value::as_u64) {
            let end = std::time::Instant::now() + std::time::Duration::from_millis(ms.min(10_000));
            while std::time::Instant::now() < end && !ctx.is_cancelled() {
                std::thread::sleep(std::time::Duration::from_millis(ms.clamp(1, 5)));
            }
        }
        let fail = ctx
            .job
            .payload
            .get("fail_attempts")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if ctx.job.attempts <= fail {
            return Err(JobError::retryable(format!(
                "echo: simulated failure on attempt {} of the first {fail}",
                ctx.job.attempts
            )));
        }
        Ok(ctx.job.payload.clone())
    }
}
