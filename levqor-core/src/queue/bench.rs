//! Queue benchmarks that users (and `levqor bench-queue`) run: throughput
//! of pre-enqueued `echo` jobs, and enqueue-to-finish latency at a steady
//! rate with the workers in the same process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::service::IntakeRequest;
use super::worker::WorkerOptions;
use crate::app::Levqor;
use crate::error::{Error, Result};

/// Throughput of a drained backlog.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Throughput {
    /// Jobs processed.
    pub jobs: usize,
    /// Worker threads.
    pub workers: usize,
    /// Jobs enqueued per second (batched inserts).
    pub enqueue_jobs_per_s: f64,
    /// Jobs processed per second, from the first claim to the last commit.
    pub jobs_per_s: f64,
}

/// Enqueue-to-finish latency at a fixed rate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Latency {
    /// Jobs measured.
    pub jobs: usize,
    /// Offered rate, jobs/s.
    pub rate: f64,
    /// Median, ms.
    pub e2e_ms_p50: f64,
    /// 95th percentile, ms.
    pub e2e_ms_p95: f64,
    /// 99th percentile, ms.
    pub e2e_ms_p99: f64,
}

fn user(l: &Levqor) -> Result<String> {
    let (u, _) = l.create_api_key("bench@levqor.local", crate::users::Role::User)?;
    Ok(u.id)
}

/// Enqueues `n` echo jobs, then drains them with `workers` threads.
///
/// # Errors
/// Storage errors, or a timeout when the backlog does not drain.
pub fn throughput(l: &Levqor, n: usize, workers: usize) -> Result<Throughput> {
    let uid = user(l)?;
    let now = l.clock.now_ms();
    let t0 = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let jobs: Vec<_> = chunk
            .iter()
            .map(|i| super::job::NewJob {
                id: crate::ids::new_id("job", now),
                user_id: uid.clone(),
                kind: "echo".into(),
                payload: json!({"i": i}),
                priority: 5,
                run_at: now,
                max_attempts: 3,
                timeout_ms: None,
                idempotency_key: None,
                created_at: now,
            })
            .collect();
        l.stores.jobs.enqueue_batch(&jobs)?;
    }
    let enqueue_s = t0.elapsed().as_secs_f64();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let d2 = done.clone();
    let mut opts = l.worker_options(workers);
    opts.on_complete = Some(Arc::new(move |_| {
        d2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }));
    let t1 = Instant::now();
    let pool = l.start_workers_with(opts);
    let deadline = Instant::now() + Duration::from_secs(600);
    while done.load(std::sync::atomic::Ordering::Relaxed) < n {
        if Instant::now() > deadline {
            pool.shutdown();
            return Err(Error::Internal("backlog did not drain in 600 s".into()));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let window = t1.elapsed().as_secs_f64();
    pool.shutdown();
    Ok(Throughput {
        jobs: n,
        workers,
        enqueue_jobs_per_s: n as f64 / enqueue_s,
        jobs_per_s: n as f64 / window,
    })
}

/// Submits `n` echo jobs at `rate` per second through [`super::Queue::submit`]
/// (one committed enqueue each) with `workers` in-process workers, and
/// measures each job from submit to its committed success.
///
/// # Errors
/// Storage errors, or a timeout.
pub fn latency(l: &Levqor, n: usize, rate: f64, workers: usize) -> Result<Latency> {
    let uid = user(l)?;
    let started: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let samples: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let (s2, m2) = (started.clone(), samples.clone());
    let mut opts: WorkerOptions = l.worker_options(workers);
    opts.on_complete = Some(Arc::new(move |c| {
        let now = Instant::now();
        let t = s2
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&c.job_id);
        if let Some(t) = t {
            m2.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((now - t).as_secs_f64() * 1e3);
        }
    }));
    let pool = l.start_workers_with(opts);
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let t0 = Instant::now();
    for i in 0..n {
        let due = t0 + interval * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let req = IntakeRequest {
            kind: "echo".into(),
            payload: json!({"i": i}),
            priority: 5,
            run_at: None,
            max_attempts: 3,
            timeout_ms: None,
            idempotency_key: None,
        };
        // Hold the map lock across submit so the completion hook cannot run
        // before the start time is recorded.
        let mut map = started.lock().unwrap_or_else(|e| e.into_inner());
        let t = Instant::now();
        let out = l.queue.submit(&uid, req)?;
        map.insert(out.job_id, t);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while samples.lock().unwrap_or_else(|e| e.into_inner()).len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    pool.shutdown();
    let mut v = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    v.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        let k = ((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[k]
    };
    Ok(Latency {
        jobs: v.len(),
        rate,
        e2e_ms_p50: pct(50.0),
        e2e_ms_p95: pct(95.0),
        e2e_ms_p99: pct(99.0),
    })
}
