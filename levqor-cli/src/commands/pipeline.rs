//! `levqor plan`, `levqor run`, `levqor bench`.

use std::path::Path;

use levqor_core::auth::Principal;
use levqor_core::pipeline::RunOutcome;
use levqor_core::pipeline::bench::{BenchOptions, run_bench};
use levqor_core::users::Role;
use levqor_core::{Config, Error, Levqor, Result};
use serde_json::{Value, json};

use crate::output::print;

fn read_json(path: &Path, what: &str) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {what} {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::InvalidJson(format!("{what} {} is not JSON: {e}", path.display())))
}

fn owner(l: &Levqor, email: &str) -> Result<Principal> {
    let (user_id, _) = l.ensure_user(email)?;
    Ok(Principal {
        user_id,
        role: Role::User,
        key_id: None,
    })
}

/// `levqor plan "description"`
pub fn plan(l: &Levqor, description: &str, email: &str, as_json: bool) -> Result<()> {
    let who = owner(l, email)?;
    let out = l.pipelines.plan_description(&who, description)?.to_json();
    print(&out, as_json, |v| {
        serde_json::to_string_pretty(v).unwrap_or_default()
    });
    Ok(())
}

/// `levqor run pipeline.json --input in.json`
pub fn run(
    l: &Levqor,
    pipeline: &Path,
    input: Option<&Path>,
    is_async: bool,
    email: &str,
    as_json: bool,
) -> Result<()> {
    let who = owner(l, email)?;
    let mut def = read_json(pipeline, "pipeline")?;
    if let Some(obj) = def.as_object_mut() {
        obj.remove("id");
    }
    let input = match input {
        Some(p) => read_json(p, "input")?,
        None => json!({}),
    };
    let body = json!({"pipeline": def, "input": input, "async": is_async});
    let v = match l.pipelines.run(&who, &body)? {
        RunOutcome::Finished(run) => run.to_json(),
        RunOutcome::Queued { run_id, job_id } => json!({"run_id": run_id, "job_id": job_id}),
    };
    print(&v, as_json, |v| {
        serde_json::to_string_pretty(v).unwrap_or_default()
    });
    if v["status"] == "failed" {
        return Err(Error::Conflict(format!(
            "run {} failed",
            v["id"].as_str().unwrap_or_default()
        )));
    }
    Ok(())
}

/// `levqor bench`
pub fn bench(l: &Levqor, runs: usize, steps: usize) -> Result<()> {
    let config: &Config = &l.config;
    for persist in [false, true] {
        let opts = BenchOptions {
            runs,
            steps,
            persist,
            sync: config.sqlite_sync,
        };
        let report = run_bench(&opts)?;
        let mut v = report.to_json();
        v["bench"] = json!(if persist {
            "levqor.pipeline.persisted"
        } else {
            "levqor.pipeline.memory"
        });
        println!("RESULT {v}");
    }
    Ok(())
}
