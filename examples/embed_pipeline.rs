//! Embedding Levqor: open storage, register a custom connector, run a pipeline.
//!
//! `cargo run --example embed_pipeline`

use std::sync::Arc;

use levqor_core::connectors::{Connector, ConnectorError, ParamSpec, ParamType, TaskContext};
use levqor_core::users::Role;
use levqor_core::{Config, LevqorBuilder, auth::Principal};
use serde_json::{Value, json};

/// Upper-cases its `text` param.
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
        let text = params["text"].as_str().unwrap_or_default();
        Ok(json!({"text": text.to_uppercase()}))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("levqor-embed-example");
    let config = Config {
        db: dir.join("levqor.db"),
        data_dir: dir,
        ..Config::default()
    };
    let levqor = LevqorBuilder::new(config)
        .connector(Arc::new(Shout))
        .open()?;
    let (user, key) = levqor.create_api_key("embed@example.com", Role::User)?;
    let me = Principal {
        user_id: user.id,
        role: Role::User,
        key_id: Some(key.record.id),
    };
    let body = json!({
        "pipeline": {"name": "shout then echo", "steps": [
            {"id": "shout", "connector": "shout", "params": {"text": "hello {{input.name}}"}},
            {"id": "echo", "connector": "echo", "params": {"got": "{{steps.shout.output.text}}"}}
        ]},
        "input": {"name": "levqor"}
    });
    let run = levqor.pipelines.run(&me, &body)?;
    println!("{}", serde_json::to_string_pretty(&run.to_json())?);
    Ok(())
}
