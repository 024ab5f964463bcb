//! The executor benchmark behind `levqor bench`: N runs of M `echo` steps,
//! either in memory (executor overhead only) or persisted to a throwaway
//! SQLite database (every run created, every step saved, every run finished).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::cost::CostTable;
use super::engine::{Engine, NewRun, PipelineSettings};
use super::executor::{CompiledPipeline, ExecOptions, Executor};
use super::model::{PipelineDef, RunStatus, Step, StepRecord};
use super::validate::Limits;
use crate::clock::SystemClock;
use crate::config::SyncMode;
use crate::connectors::ConnectorRegistry;
use crate::error::{Error, Result};
use crate::storage::SqliteStore;
use crate::storage::sqlite::{PiiKeys, SqliteOptions};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOptions {
    /// Runs to execute.
    pub runs: usize,
    /// `echo` steps per run (each after the first reads the previous output).
    pub steps: usize,
    /// Persist runs to a temporary SQLite database.
    pub persist: bool,
    /// SQLite synchronous mode when persisting.
    pub sync: SyncMode,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            runs: 2000,
            steps: 3,
            persist: false,
            sync: SyncMode::Normal,
        }
    }
}

/// What was measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// The options.
    pub options: BenchOptions,
    /// Wall time, seconds.
    pub elapsed_s: f64,
    /// Runs per second.
    pub runs_per_s: f64,
    /// Steps per second.
    pub steps_per_s: f64,
    /// Run latency percentiles, microseconds.
    pub p50_us: f64,
    /// 95th percentile, µs.
    pub p95_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
}

impl BenchReport {
    /// JSON form for the CLI.
    pub fn to_json(&self) -> Value {
        json!({
            "runs": self.options.runs,
            "steps_per_run": self.options.steps,
            "persisted": self.options.persist,
            "sqlite_sync": self.options.sync.as_str(),
            "elapsed_s": self.elapsed_s,
            "runs_per_s": self.runs_per_s,
            "steps_per_s": self.steps_per_s,
            "p50_us": self.p50_us,
            "p95_us": self.p95_us,
            "p99_us": self.p99_us,
        })
    }
}

/// A pipeline of `steps` echo steps, each reading the previous one's output.
pub fn echo_pipeline(steps: usize) -> PipelineDef {
    let steps = (0..steps.max(1))
        .map(|i| Step {
            id: format!("s{i}"),
            connector: "echo".into(),
            action: None,
            params: if i == 0 {
                json!({"n": "{{input.n}}", "text": "hello"})
            } else {
                json!({"n": format!("{{{{steps.s{}.output.n}}}}", i - 1), "text": "hello"})
            },
            max_attempts: 1,
            timeout_ms: None,
        })
        .collect();
    PipelineDef {
        name: "bench".into(),
        steps,
    }
}

/// A throwaway SQLite store with this sync mode, and its path (benchmarks).
///
/// # Errors
/// Storage errors.
pub fn temp_store(sync: SyncMode) -> Result<(SqliteStore, std::path::PathBuf)> {
    let path =
        std::env::temp_dir().join(format!("levqor-bench-{}.db", crate::ids::random_token(8)));
    let mut key = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key);
    let pii = PiiKeys {
        cipher: crate::crypto::Cipher::new(key),
        blind_index_key: crate::ids::random_token(32).into_bytes(),
    };
    let opts = SqliteOptions {
        sync,
        ..SqliteOptions::default()
    };
    Ok((SqliteStore::open(&path, &opts, pii)?, path))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the benchmark.
///
/// # Errors
/// Storage errors; an internal error if a run fails.
pub fn run_bench(opts: &BenchOptions) -> Result<BenchReport> {
    let def = echo_pipeline(opts.steps);
    let connectors = Arc::new(ConnectorRegistry::with_builtins());
    let mut lat = Vec::with_capacity(opts.runs);
    let started = Instant::now();
    if opts.persist {
        let (store, path) = temp_store(opts.sync)?;
        let settings = PipelineSettings {
            limits: Limits::default(),
            costs: CostTable {
                default: 0,
                per_connector: Default::default(),
            },
            exec: ExecOptions::default(),
            llm: None,
        };
        let engine = Engine::new(Arc::new(store), connectors, Arc::new(SystemClock), settings);
        for i in 0..opts.runs {
            let t = Instant::now();
            let mut run = engine.create_run(NewRun {
                user_id: "usr_bench".into(),
                pipeline_id: None,
                def: def.clone(),
                input: json!({"n": i}),
                job_id: None,
                status: RunStatus::Running,
            })?;
            engine.execute(&mut run)?;
            if run.status != RunStatus::Succeeded {
                return Err(Error::Internal(format!(
                    "bench run ended {}",
                    run.status.as_str()
                )));
            }
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
        drop(engine);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    } else {
        let plan = CompiledPipeline::compile(&def, &connectors)?;
        let exec = Executor::default();
        for i in 0..opts.runs {
            let t = Instant::now();
            let input = json!({"n": i});
            let mut records: Vec<StepRecord> = def
                .steps
                .iter()
                .map(|s| StepRecord::pending(&s.id))
                .collect();
            let status = exec.run(&plan, "run_bench", &input, &mut records, &mut |_, _| Ok(()))?;
            if status != RunStatus::Succeeded {
                return Err(Error::Internal("bench run failed".into()));
            }
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    let runs = opts.runs as f64;
    Ok(BenchReport {
        options: *opts,
        elapsed_s,
        runs_per_s: if elapsed_s > 0.0 {
            runs / elapsed_s
        } else {
            0.0
        },
        steps_per_s: if elapsed_s > 0.0 {
            runs * opts.steps as f64 / elapsed_s
        } else {
            0.0
        },
        p50_us: percentile(&lat, 0.50),
        p95_us: percentile(&lat, 0.95),
        p99_us: percentile(&lat, 0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_runs_both_ways() {
        let mem = run_bench(&BenchOptions {
            runs: 20,
            ..Default::default()
        })
        .unwrap();
        assert!(mem.runs_per_s > 0.0 && mem.p50_us <= mem.p99_us);
        let disk = run_bench(&BenchOptions {
            runs: 5,
            persist: true,
            ..Default::default()
        })
        .unwrap();
        assert!(disk.runs_per_s > 0.0);
    }
}
