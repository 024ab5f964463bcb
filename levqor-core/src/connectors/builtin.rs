//! Offline built-in connectors.

use std::sync::Arc;

use serde_json::Value;

use super::{Connector, ConnectorError, ConnectorRegistry, ParamSpec, TaskContext};

/// Registers every built-in connector.
pub fn register(registry: &mut ConnectorRegistry) {
    registry.register(Arc::new(Echo));
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
