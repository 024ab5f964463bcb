//! Offline built-in connectors: `echo`, `transform` (see [`super::transform`]),
//! `delay` and `log`. None of them calls out.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::transform::Transform;
use super::{
    Connector, ConnectorError, ConnectorErrorKind, ConnectorRegistry, ParamSpec, ParamType,
    TaskContext,
};

/// Longest wait `delay` accepts, in milliseconds.
pub const MAX_DELAY_MS: u64 = 60_000;

/// Registers every built-in connector.
pub fn register(registry: &mut ConnectorRegistry) {
    registry.register(Arc::new(Echo));
    registry.register(Arc::new(Transform));
    registry.register(Arc::new(Delay));
    registry.register(Arc::new(Log));
}

/// `echo`: its output is its params.
#[derive(Debug, Default)]
pub struct Echo;

impl Connector for Echo {
    fn name(&self) -> &str {
        "echo"
    }
    fn params(&self) -> &[ParamSpec] {
        &[]
    }
    fn run_task(&self, _ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        Ok(params.clone())
    }
}

const DELAY_PARAMS: &[ParamSpec] = &[ParamSpec::required(
    "ms",
    ParamType::Integer,
    "Milliseconds to wait, 0 to 60000",
)];

/// `delay`: sleeps `ms` milliseconds (at most [`MAX_DELAY_MS`]) and answers
/// `{"waited_ms": ms}`. A wait longer than the context's timeout fails at
/// once with a `Timeout` error instead of sleeping into it.
#[derive(Debug, Default)]
pub struct Delay;

impl Connector for Delay {
    fn name(&self) -> &str {
        "delay"
    }
    fn params(&self) -> &[ParamSpec] {
        DELAY_PARAMS
    }
    fn run_task(&self, ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        let ms = params.get("ms").and_then(Value::as_u64).ok_or_else(|| {
            ConnectorError::new(
                "delay",
                ConnectorErrorKind::InvalidPayload,
                "param `ms` must be a non-negative integer",
            )
        })?;
        if ms > MAX_DELAY_MS {
            return Err(ConnectorError::new(
                "delay",
                ConnectorErrorKind::InvalidPayload,
                format!("param `ms` must be at most {MAX_DELAY_MS}"),
            ));
        }
        let wait = Duration::from_millis(ms);
        if let Some(limit) = ctx.timeout
            && wait > limit
        {
            return Err(ConnectorError::new(
                "delay",
                ConnectorErrorKind::Timeout,
                format!(
                    "{ms} ms is longer than the step timeout of {} ms",
                    limit.as_millis()
                ),
            ));
        }
        std::thread::sleep(wait);
        Ok(json!({"waited_ms": ms}))
    }
}

const LOG_PARAMS: &[ParamSpec] = &[
    ParamSpec::required("message", ParamType::String, "Text to log"),
    ParamSpec::optional(
        "level",
        ParamType::String,
        "debug, info (default), warn or error",
    ),
    ParamSpec::optional("fields", ParamType::Object, "Extra structured fields"),
];

/// `log`: writes one JSON line to stderr and answers that same object
/// (`ts`, `level`, `connector`, `idempotency_key`, `message`, `fields`).
#[derive(Debug, Default)]
pub struct Log;

impl Connector for Log {
    fn name(&self) -> &str {
        "log"
    }
    fn params(&self) -> &[ParamSpec] {
        LOG_PARAMS
    }
    fn run_task(&self, ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        super::params::check("log", LOG_PARAMS, params)?;
        let invalid = |m: &str| ConnectorError::new("log", ConnectorErrorKind::InvalidPayload, m);
        let message = params
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let level = params
            .get("level")
            .and_then(Value::as_str)
            .unwrap_or("info");
        if !matches!(level, "debug" | "info" | "warn" | "error") {
            return Err(invalid("param `level` must be debug, info, warn or error"));
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let line = json!({
            "ts": crate::clock::rfc3339(now_ms),
            "level": level,
            "connector": "log",
            "idempotency_key": ctx.idempotency_key,
            "message": message,
            "fields": params.get("fields").cloned().unwrap_or_else(|| json!({})),
        });
        let mut err = std::io::stderr().lock();
        // A closed stderr must not fail the step: the output still carries the line.
        let _ = writeln!(err, "{line}");
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_respects_cap_and_timeout() {
        let ctx = TaskContext::new("k");
        assert_eq!(
            Delay.run_task(&ctx, &json!({"ms": 1})).unwrap(),
            json!({"waited_ms": 1})
        );
        assert!(Delay.run_task(&ctx, &json!({"ms": 60_001})).is_err());
        assert!(Delay.run_task(&ctx, &json!({"ms": -1})).is_err());
        let short = TaskContext {
            timeout: Some(Duration::from_millis(10)),
            ..ctx
        };
        let e = Delay.run_task(&short, &json!({"ms": 5000})).unwrap_err();
        assert_eq!(e.kind, ConnectorErrorKind::Timeout);
    }

    #[test]
    fn log_returns_its_line() {
        let out = Log
            .run_task(
                &TaskContext::new("k9"),
                &json!({"message": "hi", "fields": {"n": 1}}),
            )
            .unwrap();
        assert_eq!(out["message"], "hi");
        assert_eq!(out["level"], "info");
        assert_eq!(out["idempotency_key"], "k9");
        assert_eq!(out["fields"]["n"], 1);
        assert!(
            Log.run_task(
                &TaskContext::new("k"),
                &json!({"message": "x", "level": "loud"})
            )
            .is_err()
        );
    }
}
