//! The `connector.task` job kind: payload `{"connector", "payload"}` runs one
//! connector call through the queue, with the job id as idempotency key and
//! the connector's error class deciding whether the job retries.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{ConnectorMetrics, ConnectorRegistry, TaskContext};
use crate::error::FieldError;
use crate::queue::{JobContext, JobError, JobHandler};

/// Handler of `connector.task` jobs.
pub struct ConnectorTaskHandler {
    registry: Arc<ConnectorRegistry>,
    metrics: Arc<ConnectorMetrics>,
}

impl ConnectorTaskHandler {
    /// A handler calling connectors of `registry`, recording into `metrics`.
    pub fn new(registry: Arc<ConnectorRegistry>, metrics: Arc<ConnectorMetrics>) -> Self {
        ConnectorTaskHandler { registry, metrics }
    }
}

impl JobHandler for ConnectorTaskHandler {
    fn validate(&self, payload: &Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match payload.get("connector").and_then(Value::as_str) {
            None => errors.push(FieldError::new(
                "/payload/connector",
                "is required (a string)",
            )),
            Some(name) => match self.registry.get(name) {
                None => errors.push(FieldError::new(
                    "/payload/connector",
                    format!("unknown connector `{name}`"),
                )),
                Some(c) => {
                    let params = payload
                        .get("payload")
                        .cloned()
                        .unwrap_or(Value::Object(Default::default()));
                    if !params.is_object() {
                        errors.push(FieldError::new("/payload/payload", "must be an object"));
                    } else if let Err(e) = super::params::check(name, c.params(), &params) {
                        errors.push(FieldError::new("/payload/payload", e.message));
                    }
                }
            },
        }
        if let Some(obj) = payload.as_object() {
            for k in obj.keys().filter(|k| *k != "connector" && *k != "payload") {
                errors.push(FieldError::new(format!("/payload/{k}"), "unknown field"));
            }
        }
        errors
    }

    fn run(&self, ctx: &JobContext<'_>) -> Result<Value, JobError> {
        let job = ctx.job;
        let name = job
            .payload
            .get("connector")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let params = job
            .payload
            .get("payload")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        let tctx = TaskContext {
            idempotency_key: job.id.clone(),
            timeout: job.timeout_ms.map(|ms| Duration::from_millis(ms as u64)),
        };
        self.registry
            .run(name, &tctx, &params, &self.metrics)
            .map_err(|e| JobError {
                message: e.to_string(),
                retryable: e.is_retryable(),
                retry_after_ms: e.retry_after().map(|d| d.as_millis() as i64),
            })
    }
}
