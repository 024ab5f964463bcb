//! The worker pool: threads that claim jobs under a lease, run their
//! handlers, and report outcomes; a heartbeat thread that renews leases and
//! the pool's presence. Shutdown is explicit: stop claiming, finish the job in
//! hand, give back claimed jobs not yet started, exit.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::handlers::{HandlerRegistry, JobContext, JobError};
use super::job::{Completion, Job, Outcome, WorkerInfo};
use super::notify::Notifier;
use super::retry::Backoff;
use super::store::JobStore;
use crate::clock::SharedClock;

/// Settings of a worker pool.
#[derive(Clone)]
pub struct WorkerOptions {
    /// Worker threads.
    pub threads: usize,
    /// Lease length, ms.
    pub lease_ms: i64,
    /// Longest idle sleep between looks for work, ms.
    pub poll_ms: u64,
    /// Jobs claimed per round trip.
    pub claim_batch: usize,
    /// Retry backoff.
    pub backoff: Backoff,
    /// Called with each job id once its outcome is committed (metrics,
    /// benchmarks, tests).
    pub on_complete: Option<CompletionHook>,
    /// The process's group-commit writer, if any: a busy worker's
    /// outcome-and-claim round trip then shares the transaction (and fsync)
    /// of concurrent enqueues.
    pub writer: Option<super::batcher::EnqueueBatcher>,
}

/// Callback run after a job's outcome is committed.
pub type CompletionHook = Arc<dyn Fn(&Completion) + Send + Sync>;

impl std::fmt::Debug for WorkerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerOptions")
            .field("threads", &self.threads)
            .field("lease_ms", &self.lease_ms)
            .field("poll_ms", &self.poll_ms)
            .field("claim_batch", &self.claim_batch)
            .finish()
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            threads: 2,
            lease_ms: 30_000,
            poll_ms: 100,
            claim_batch: 16,
            backoff: Backoff {
                base_ms: 1_000,
                max_ms: 3_600_000,
            },
            on_complete: None,
            writer: None,
        }
    }
}

/// Counters a pool keeps (for metrics and benchmarks).
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Attempts that succeeded.
    pub succeeded: AtomicU64,
    /// Attempts that failed.
    pub failed: AtomicU64,
    /// Completions refused because the lease was lost.
    pub lease_lost: AtomicU64,
}

struct Shared {
    store: Arc<dyn JobStore>,
    handlers: Arc<HandlerRegistry>,
    clock: SharedClock,
    notifier: Arc<Notifier>,
    opts: WorkerOptions,
    worker_id: String,
    stop: AtomicBool,
    in_flight: Mutex<HashSet<String>>,
    stats: Arc<WorkerStats>,
}

/// A running pool of worker threads.
pub struct WorkerPool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("worker_id", &self.shared.worker_id)
            .finish()
    }
}

impl WorkerPool {
    /// Starts `opts.threads` workers plus a heartbeat thread.
    pub fn start(
        store: Arc<dyn JobStore>,
        handlers: Arc<HandlerRegistry>,
        clock: SharedClock,
        notifier: Arc<Notifier>,
        opts: WorkerOptions,
    ) -> WorkerPool {
        let now = clock.now_ms();
        let shared = Arc::new(Shared {
            worker_id: crate::ids::new_id("wrk", now),
            store,
            handlers,
            clock,
            notifier,
            opts,
            stop: AtomicBool::new(false),
            in_flight: Mutex::new(HashSet::new()),
            stats: Arc::new(WorkerStats::default()),
        });
        let info = shared.info(now);
        let _ = shared.store.worker_seen(&info, now);
        let mut threads = Vec::new();
        for i in 0..shared.opts.threads {
            let s = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("levqor-worker-{i}"))
                    .spawn(move || s.work_loop())
                    .expect("spawn worker thread"),
            );
        }
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("levqor-heartbeat".into())
                .spawn(move || s.heartbeat_loop(info))
                .expect("spawn heartbeat thread"),
        );
        WorkerPool { shared, threads }
    }

    /// This pool's lease-owner id.
    pub fn worker_id(&self) -> &str {
        &self.shared.worker_id
    }

    /// The pool's counters.
    pub fn stats(&self) -> Arc<WorkerStats> {
        self.shared.stats.clone()
    }

    /// Asks every thread to stop after its current job.
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.notifier.notify();
    }

    /// Stops the pool and waits for its threads.
    pub fn shutdown(mut self) {
        self.request_stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = self.shared.store.worker_gone(&self.shared.worker_id);
    }
}

impl Shared {
    fn info(&self, now: i64) -> WorkerInfo {
        WorkerInfo {
            id: self.worker_id.clone(),
            hostname: std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
            pid: std::process::id() as i64,
            threads: self.opts.threads as i64,
            started_at: now,
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn heartbeat_loop(&self, info: WorkerInfo) {
        let every = Duration::from_millis((self.opts.lease_ms / 3).max(10) as u64);
        let mut last = Instant::now();
        while !self.stopping() {
            std::thread::sleep(Duration::from_millis(20).min(every));
            if last.elapsed() < every {
                continue;
            }
            last = Instant::now();
            let now = self.clock.now_ms();
            let ids: Vec<String> = self.lock_in_flight().iter().cloned().collect();
            let _ = self
                .store
                .heartbeat(&self.worker_id, &ids, now, self.opts.lease_ms);
            let _ = self.store.worker_seen(&info, now);
        }
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work_loop(&self) {
        let mut idle_errors = 0u32;
        // Outcomes of the last batch, committed together with the next claim.
        let mut carry: Vec<Completion> = Vec::new();
        while !self.stopping() {
            let seen = self.notifier.generation();
            let now = self.clock.now_ms();
            let (max, lease) = (self.opts.claim_batch, self.opts.lease_ms);
            let claimed = if carry.is_empty() {
                self.store.claim(&self.worker_id, max, now, lease)
            } else {
                let round_trip = match &self.opts.writer {
                    Some(w) => w.complete_and_claim(carry.clone(), &self.worker_id, max, lease),
                    None => self
                        .store
                        .complete_and_claim(&carry, &self.worker_id, max, now, lease),
                };
                round_trip.map(|(applied, jobs)| {
                    self.completed(&std::mem::take(&mut carry), &applied);
                    jobs
                })
            };
            let jobs = match claimed {
                Ok(j) => j,
                Err(e) => {
                    // Storage hiccup: keep any results and try again; the
                    // leases keep the jobs ours meanwhile (the heartbeat
                    // renews them).
                    idle_errors += 1;
                    if idle_errors == 1 || idle_errors.is_multiple_of(100) {
                        eprintln!("levqor worker: claim failed: {e}");
                    }
                    std::thread::sleep(Duration::from_millis(self.opts.poll_ms));
                    continue;
                }
            };
            idle_errors = 0;
            if jobs.is_empty() {
                self.notifier.wait(seen, self.idle_wait());
                continue;
            }
            if jobs.len() == self.opts.claim_batch {
                // There may be more: bring in another worker.
                self.notifier.notify_one();
            }
            self.lock_in_flight()
                .extend(jobs.iter().map(|j| j.id.clone()));
            carry = self.run_batch(jobs);
        }
        self.flush(&mut carry);
    }

    /// How long an idle worker may sleep: until the next delayed job is due,
    /// at most the poll interval.
    fn idle_wait(&self) -> Duration {
        let poll = Duration::from_millis(self.opts.poll_ms);
        match self.store.next_run_at() {
            Ok(Some(t)) => {
                let wait = (t - self.clock.now_ms()).max(1) as u64;
                poll.min(Duration::from_millis(wait))
            }
            _ => poll,
        }
    }

    /// Runs a claimed batch; returns the outcomes not yet committed (the
    /// caller commits them with its next claim). Outcomes older than 5 ms
    /// are committed on the way, and everything when stopping.
    fn run_batch(&self, jobs: Vec<Job>) -> Vec<Completion> {
        let mut pending: Vec<Completion> = Vec::new();
        let mut oldest_pending: Option<Instant> = None;
        let mut rest = jobs.into_iter();
        for job in rest.by_ref() {
            let outcome = self.run_one(&job);
            pending.push(Completion {
                job_id: job.id.clone(),
                worker_id: self.worker_id.clone(),
                outcome,
                at: self.clock.now_ms(),
            });
            let first = *oldest_pending.get_or_insert_with(Instant::now);
            if first.elapsed() > Duration::from_millis(5) {
                self.flush(&mut pending);
                oldest_pending = None;
            }
            if self.stopping() {
                break;
            }
        }
        let unstarted: Vec<String> = rest.map(|j| j.id).collect();
        if !unstarted.is_empty() {
            let _ = self.store.release(&self.worker_id, &unstarted);
            let mut f = self.lock_in_flight();
            for id in &unstarted {
                f.remove(id);
            }
        }
        if self.stopping() {
            self.flush(&mut pending);
        }
        pending
    }

    /// Counts committed outcomes, runs the completion hook, and forgets the
    /// jobs' leases.
    fn completed(&self, batch: &[Completion], applied: &[bool]) {
        for (c, ok) in batch.iter().zip(applied) {
            let counter = match (&c.outcome, ok) {
                (_, false) => &self.stats.lease_lost,
                (Outcome::Succeeded(_), true) => &self.stats.succeeded,
                (Outcome::Failed { .. }, true) => &self.stats.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if *ok && let Some(hook) = &self.opts.on_complete {
                hook(c);
            }
        }
        let mut f = self.lock_in_flight();
        for c in batch {
            f.remove(&c.job_id);
        }
    }

    fn flush(&self, pending: &mut Vec<Completion>) {
        if pending.is_empty() {
            return;
        }
        let batch = std::mem::take(pending);
        let mut delay = Duration::from_millis(50);
        loop {
            match self.store.complete(&batch) {
                Ok(applied) => {
                    self.completed(&batch, &applied);
                    return;
                }
                // Storage hiccup: keep the results and try again; the leases
                // keep the jobs ours meanwhile (the heartbeat renews them).
                Err(e) if !self.stopping() || delay < Duration::from_secs(2) => {
                    eprintln!("levqor worker: recording results failed, retrying: {e}");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    eprintln!("levqor worker: giving up recording results at shutdown: {e}");
                    break;
                }
            }
        }
        let mut f = self.lock_in_flight();
        for c in &batch {
            f.remove(&c.job_id);
        }
    }

    fn run_one(&self, job: &Job) -> Outcome {
        let result = match self.handlers.get(&job.kind) {
            None => Err(JobError::permanent(format!(
                "no handler registered for kind `{}`",
                job.kind
            ))),
            Some(h) => run_with_timeout(h.clone(), job, self.stopping()),
        };
        match result {
            Ok(v) => Outcome::Succeeded(v),
            Err(e) => {
                let retry_at = (e.retryable && job.attempts < job.max_attempts).then(|| {
                    let at_least = e.retry_after_ms.unwrap_or(0);
                    self.clock.now_ms() + self.opts.backoff.delay_ms(job.attempts, at_least)
                });
                Outcome::Failed {
                    error: e.message,
                    retry_at,
                }
            }
        }
    }
}

/// Runs a handler, on its own thread when the job has a timeout so that a
/// stuck handler cannot hold the worker past it. Panics become failures.
fn run_with_timeout(
    handler: Arc<dyn super::handlers::JobHandler>,
    job: &Job,
    stopping: bool,
) -> Result<Value, JobError> {
    let cancelled = Arc::new(AtomicBool::new(stopping));
    let Some(ms) = job.timeout_ms.filter(|ms| *ms > 0) else {
        let ctx = JobContext::new(job, None, &cancelled);
        return std::panic::catch_unwind(AssertUnwindSafe(|| handler.run(&ctx)))
            .unwrap_or_else(|_| Err(JobError::retryable("handler panicked")));
    };
    let timeout = Duration::from_millis(ms as u64);
    let deadline = Instant::now() + timeout;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let job2 = job.clone();
    let flag = cancelled.clone();
    let spawned = std::thread::Builder::new()
        .name("levqor-job".into())
        .spawn(move || {
            let ctx = JobContext::new(&job2, Some(deadline), &flag);
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| handler.run(&ctx)))
                .unwrap_or_else(|_| Err(JobError::retryable("handler panicked")));
            let _ = tx.send(r);
        });
    if spawned.is_err() {
        return Err(JobError::retryable("could not start a thread for the job"));
    }
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => {
            cancelled.store(true, Ordering::SeqCst);
            Err(JobError::retryable(format!("timed out after {ms} ms")))
        }
    }
}
