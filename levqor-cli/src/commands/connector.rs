//! `levqor connector test NAME --params p.json`.

use std::io::Read;

use levqor_core::connectors::run_one;
use levqor_core::{Config, Error, Result};
use serde_json::Value;

use crate::cli::ConnectorCmd;
use crate::output::print;

/// Runs a connector subcommand.
pub fn run(config: &Config, cmd: ConnectorCmd, as_json: bool) -> Result<()> {
    match cmd {
        ConnectorCmd::Test { name, params } => {
            let text = if params.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| Error::Config(format!("cannot read standard input: {e}")))?;
                s
            } else {
                std::fs::read_to_string(&params)
                    .map_err(|e| Error::Config(format!("cannot read {}: {e}", params.display())))?
            };
            let params: Value = serde_json::from_str(&text)
                .map_err(|e| Error::invalid("/params", format!("not JSON: {e}")))?;
            match run_one(&config.connectors, &name, &params) {
                Ok(out) => {
                    print(&out, as_json, |v| {
                        serde_json::to_string_pretty(v).unwrap_or_default()
                    });
                    Ok(())
                }
                Err(e) => Err(Error::Conflict(format!(
                    "{e} (class {}, retryable: {})",
                    e.kind.label(),
                    e.is_retryable()
                ))),
            }
        }
    }
}
