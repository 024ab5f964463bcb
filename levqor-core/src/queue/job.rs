//! Job domain types.

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::error::{Error, Result};

/// Lifecycle state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for a worker (or for its `run_at`).
    Queued,
    /// Claimed by a worker under a lease.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Failed an attempt; will retry at its `run_at`.
    Failed,
    /// Attempts exhausted or failure not retryable: in the dead-letter queue.
    Dead,
    /// Cancelled before it ran.
    Cancelled,
}

impl JobStatus {
    /// Every status, in display order.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Dead,
        JobStatus::Cancelled,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for JobStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| Error::invalid("/status", format!("unknown job status `{s}`")))
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// `job_…` id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Handler kind (`echo`, `pipeline.run`...).
    pub kind: String,
    /// Current state.
    pub status: JobStatus,
    /// 0 (first) to 9.
    pub priority: i64,
    /// Handler input.
    pub payload: Value,
    /// Handler output once succeeded.
    pub result: Option<Value>,
    /// Last error message.
    pub error: Option<String>,
    /// Attempts started so far (incremented at claim).
    pub attempts: i64,
    /// Attempts allowed before the job goes dead.
    pub max_attempts: i64,
    /// Per-attempt timeout.
    pub timeout_ms: Option<i64>,
    /// Per-user idempotency key.
    pub idempotency_key: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
    /// Not claimed before this time (epoch ms).
    pub run_at: i64,
    /// Start of the latest attempt.
    pub started_at: Option<i64>,
    /// End of the job (succeeded, dead, cancelled).
    pub finished_at: Option<i64>,
    /// Worker holding the lease while running.
    pub lease_owner: Option<String>,
    /// Lease expiry while running.
    pub lease_expires_at: Option<i64>,
}

impl Job {
    /// The API representation (API.md's job object).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "kind": self.kind,
            "status": self.status.as_str(),
            "priority": self.priority,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "timeout_ms": self.timeout_ms,
            "idempotency_key": self.idempotency_key,
            "payload": self.payload,
            "result": self.result,
            "error": self.error,
            "created_at": rfc3339(self.created_at),
            "run_at": rfc3339(self.run_at),
            "started_at": self.started_at.map(rfc3339),
            "finished_at": self.finished_at.map(rfc3339),
        })
    }
}

/// A job to enqueue (already validated).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Pre-generated id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Handler kind.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// 0..=9.
    pub priority: i64,
    /// Epoch ms.
    pub run_at: i64,
    /// 1..=20.
    pub max_attempts: i64,
    /// Per-attempt timeout.
    pub timeout_ms: Option<i64>,
    /// Per-user idempotency key.
    pub idempotency_key: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
}

/// Result of an enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The job's id (the existing one when the idempotency key matched).
    pub job_id: String,
    /// False when an earlier job with the same idempotency key was found.
    pub created: bool,
    /// Status of that job.
    pub status: JobStatus,
}

/// How an attempt ended, as the worker reports it to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Finished; store the result.
    Succeeded(Value),
    /// Failed; retry at `retry_at`, or go dead when `None`.
    Failed {
        /// Error message.
        error: String,
        /// When to retry; `None` sends the job to the dead-letter queue.
        retry_at: Option<i64>,
    },
}

/// A completion report for one claimed job.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Job id.
    pub job_id: String,
    /// The worker that claimed it (the lease owner).
    pub worker_id: String,
    /// What happened.
    pub outcome: Outcome,
    /// Epoch ms.
    pub at: i64,
}

/// Counts for `/ops/queue_health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueCounts {
    /// Jobs waiting (status queued).
    pub queued: i64,
    /// Jobs running.
    pub running: i64,
    /// Jobs waiting for a retry.
    pub failed: i64,
    /// Jobs in the dead-letter queue.
    pub dead: i64,
    /// Finished jobs.
    pub succeeded: i64,
    /// Cancelled jobs.
    pub cancelled: i64,
    /// Age in seconds of the oldest job ready to run (0 when none).
    pub oldest_queued_age_s: i64,
    /// Workers seen within the lease time.
    pub workers: i64,
}

/// Filter for job listings.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this owner's jobs (`None`: all, for admins and ops).
    pub user_id: Option<String>,
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Return jobs older than this id (exclusive).
    pub cursor: Option<String>,
    /// Page size.
    pub limit: usize,
}

/// A worker process registered in storage.
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    /// Worker id.
    pub id: String,
    /// Host name.
    pub hostname: String,
    /// OS process id.
    pub pid: i64,
    /// Worker threads.
    pub threads: i64,
    /// Epoch ms.
    pub started_at: i64,
}
