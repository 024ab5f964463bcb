//! Embedding Levqor: register your own job kind, enqueue work, and let a
//! worker pool run it on a durable SQLite queue.
//!
//! `cargo run --example custom_job_kind`

use std::sync::Arc;
use std::time::Duration;

use levqor_core::queue::{IntakeRequest, JobContext, JobError, JobHandler, JobStatus};
use levqor_core::users::Role;
use levqor_core::{Config, LevqorBuilder};
use serde_json::{Value, json};

/// Adds the numbers in `payload.values`.
struct Sum;

impl JobHandler for Sum {
    fn run(&self, ctx: &JobContext<'_>) -> Result<Value, JobError> {
        let values = ctx.job.payload["values"]
            .as_array()
            .ok_or_else(|| JobError::permanent("payload.values must be an array"))?;
        let total: f64 = values.iter().filter_map(Value::as_f64).sum();
        Ok(json!({"sum": total}))
    }
}

fn main() -> levqor_core::Result<()> {
    let dir = std::env::temp_dir().join(format!("levqor-example-{}", std::process::id()));
    let config = Config::from_lookup(&|key| match key {
        "LEVQOR_DB" => Some(dir.join("levqor.db").display().to_string()),
        _ => None,
    })?;
    let levqor = LevqorBuilder::new(config)
        .handler("math.sum", Arc::new(Sum))
        .open()?;
    let (user, _key) = levqor.create_api_key("embedder@example.com", Role::User)?;
    let pool = levqor.start_workers(2);

    let req = IntakeRequest::from_json(
        &json!({"kind": "math.sum", "payload": {"values": [1, 2, 3.5]}}),
        None,
    )?;
    let job_id = levqor.queue.submit(&user.id, req)?.job_id;
    let me = levqor_core::auth::Principal {
        user_id: user.id,
        role: Role::User,
        key_id: None,
    };
    for _ in 0..200 {
        let job = levqor.queue.get(&me, &job_id)?;
        if job.status == JobStatus::Succeeded {
            println!("{job_id}: {}", job.result.unwrap_or_default());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    pool.shutdown();
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
