//! Embedding Levqor's connector layer: register a connector of your own next
//! to the standard ones and run it through the instrumented registry.
//! Runs offline: `cargo run --example custom_connector`.

use std::sync::Arc;

use levqor_core::connectors::{
    Connector, ConnectorError, ConnectorErrorKind, ConnectorMetrics, ConnectorRegistry,
    ConnectorSettings, ParamSpec, ParamType, TaskContext,
};
use serde_json::{Value, json};

/// `shout`: upper-cases its `text` param.
struct Shout;

const PARAMS: &[ParamSpec] = &[ParamSpec::required(
    "text",
    ParamType::String,
    "Text to shout",
)];

impl Connector for Shout {
    fn name(&self) -> &str {
        "shout"
    }
    fn params(&self) -> &[ParamSpec] {
        PARAMS
    }
    fn run_task(&self, _ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        let text = params.get("text").and_then(Value::as_str).ok_or_else(|| {
            ConnectorError::new(
                "shout",
                ConnectorErrorKind::InvalidPayload,
                "`text` is required",
            )
        })?;
        Ok(json!({"text": text.to_uppercase()}))
    }
}

fn main() {
    let settings = ConnectorSettings::from_env().expect("connector settings");
    let mut registry = ConnectorRegistry::standard(&settings);
    registry.register(Arc::new(Shout));

    let metrics = ConnectorMetrics::new();
    let ctx = TaskContext::new("example-run-1");
    let out = registry.run("shout", &ctx, &json!({"text": "lead arrived"}), &metrics);
    println!("shout -> {:?}", out);
    let bad = registry.run("shout", &ctx, &json!({}), &metrics);
    println!("shout without text -> {:?}", bad.map_err(|e| e.to_string()));

    let mut text = String::new();
    metrics.render_prometheus(&mut text);
    print!("{text}");
}
