//! Shared helpers of the pipeline integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use levqor_core::auth::Principal;
use levqor_core::connectors::{
    Connector, ConnectorError, ConnectorErrorKind, ParamSpec, ParamType, TaskContext,
};
use levqor_core::users::Role;
use levqor_core::{Config, Levqor, LevqorBuilder};
use serde_json::Value;

/// A fresh system on a temporary database, with extra connectors.
pub fn system(free_credits: i64, extra: Vec<Arc<dyn Connector>>, env: &[(&str, &str)]) -> Levqor {
    let dir = std::env::temp_dir().join(format!("levqor-pl-{}", levqor_core::ids::random_token(6)));
    let db = dir.join("levqor.db").display().to_string();
    let data = dir.display().to_string();
    let credits = free_credits.to_string();
    let mut vars: Vec<(String, String)> = vec![
        ("LEVQOR_DB".into(), db),
        ("LEVQOR_DATA_DIR".into(), data),
        ("LEVQOR_FREE_CREDITS".into(), credits),
        ("LEVQOR_SQLITE_SYNC".into(), "NORMAL".into()),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let lookup = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let config = Config::from_lookup(&lookup).unwrap();
    let mut b = LevqorBuilder::new(config);
    for c in extra {
        b = b.connector(c);
    }
    b.open().unwrap()
}

/// A user with the configured free credits.
pub fn user(lq: &Levqor, email: &str, role: Role) -> Principal {
    let (u, key) = lq.create_api_key(email, role).unwrap();
    Principal {
        user_id: u.id,
        role,
        key_id: Some(key.record.id),
    }
}

/// What a scripted connector does on a call.
#[derive(Debug, Clone)]
pub enum Act {
    /// Answer `{"ok": true, "params": params}`.
    Ok,
    /// Fail with this kind.
    Fail(ConnectorErrorKind),
    /// Sleep this long, then answer.
    Sleep(Duration),
}

/// A connector that plays a script (the last act repeats) and records calls.
pub struct Scripted {
    pub name: &'static str,
    pub script: Vec<Act>,
    pub calls: AtomicU32,
    pub keys: Mutex<Vec<String>>,
    pub params: Mutex<Vec<Value>>,
    pub spec: Vec<ParamSpec>,
}

impl Scripted {
    pub fn new(name: &'static str, script: Vec<Act>) -> Arc<Self> {
        Arc::new(Scripted {
            name,
            script,
            calls: AtomicU32::new(0),
            keys: Mutex::new(vec![]),
            params: Mutex::new(vec![]),
            spec: vec![],
        })
    }
    /// A connector requiring these string params (stands in for slack etc.).
    pub fn with_params(name: &'static str, required: &[&'static str]) -> Arc<Self> {
        Arc::new(Scripted {
            name,
            script: vec![Act::Ok],
            calls: AtomicU32::new(0),
            keys: Mutex::new(vec![]),
            params: Mutex::new(vec![]),
            spec: required
                .iter()
                .map(|n| ParamSpec::required(n, ParamType::Any, "test"))
                .collect(),
        })
    }
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Connector for Scripted {
    fn name(&self) -> &str {
        self.name
    }
    fn params(&self) -> &[ParamSpec] {
        &self.spec
    }
    fn run_task(&self, ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) as usize;
        self.keys.lock().unwrap().push(ctx.idempotency_key.clone());
        self.params.lock().unwrap().push(params.clone());
        let act = self
            .script
            .get(n)
            .or(self.script.last())
            .cloned()
            .unwrap_or(Act::Ok);
        match act {
            Act::Ok => Ok(serde_json::json!({"ok": true, "params": params})),
            Act::Fail(kind) => Err(ConnectorError::new(self.name, kind, "scripted failure")),
            Act::Sleep(d) => {
                std::thread::sleep(d);
                Ok(serde_json::json!({"slept_ms": d.as_millis() as u64}))
            }
        }
    }
}
