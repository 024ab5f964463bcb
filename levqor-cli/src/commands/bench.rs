//! `levqor bench-queue`: prints `RESULT {json}` lines in the field names of
//! the peer harness (../shared/peers/bench_rq.py).

use levqor_core::queue::bench;
use levqor_core::{Levqor, Result};
use serde_json::json;

use crate::cli::BenchQueueArgs;

/// Runs the queue benchmarks.
pub fn run(l: &Levqor, a: BenchQueueArgs) -> Result<()> {
    let t = bench::throughput(l, a.n, a.workers)?;
    println!(
        "RESULT {}",
        json!({"bench": format!("levqor.process.w{}", a.workers), "n": t.jobs,
               "jobs_per_s": t.jobs_per_s, "enqueue_jobs_per_s": t.enqueue_jobs_per_s})
    );
    if a.n_latency > 0 {
        let r = bench::latency(l, a.n_latency, a.rate, a.workers)?;
        println!(
            "RESULT {}",
            json!({"bench": format!("levqor.latency.w{}", a.workers), "n": r.jobs, "rate": r.rate,
                   "e2e_ms_p50": r.e2e_ms_p50, "e2e_ms_p95": r.e2e_ms_p95, "e2e_ms_p99": r.e2e_ms_p99})
        );
    }
    Ok(())
}
