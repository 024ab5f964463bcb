//! The job store contract. Backends implement it; it names no backend type.

use super::job::{Completion, Enqueued, Job, JobFilter, NewJob, QueueCounts, WorkerInfo};
use crate::error::Result;

/// Outcome of a cancellation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was waiting and is now cancelled.
    Cancelled,
    /// The job exists but is running or finished.
    NotCancellable,
    /// No such job.
    NotFound,
}

/// A worker's round trip: record these outcomes, then claim up to `max`.
#[derive(Debug, Clone)]
pub struct WorkRequest {
    /// Outcomes of the worker's previous batch (may be empty).
    pub completions: Vec<Completion>,
    /// The worker (lease owner).
    pub worker_id: String,
    /// Most jobs to claim (0: claim none).
    pub max: usize,
    /// Lease of the claimed jobs, ms.
    pub lease_ms: i64,
}

/// Durable storage of jobs.
///
/// Invariants every implementation keeps:
/// - `enqueue_batch` commits all its jobs before returning.
/// - `claim` hands a job to one worker at a time: a job is `running` with a
///   lease owner and expiry; a job whose lease has expired is claimable again
///   (or dead once its attempts are spent). Each claim counts an attempt.
/// - `complete` applies only when the reporting worker still owns the lease.
pub trait JobStore: Send + Sync {
    /// Inserts jobs in one transaction. A job whose `(user_id,
    /// idempotency_key)` already exists is not inserted; its entry reports the
    /// existing job with `created: false`.
    ///
    /// # Errors
    /// Storage errors fail the whole batch.
    fn enqueue_batch(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>>;

    /// One job by id.
    ///
    /// # Errors
    /// Storage errors.
    fn get(&self, id: &str) -> Result<Option<Job>>;

    /// Jobs newest first, after the cursor.
    ///
    /// # Errors
    /// Storage errors.
    fn list(&self, filter: &JobFilter) -> Result<Vec<Job>>;

    /// Cancels a waiting (queued or retry-pending) job.
    ///
    /// # Errors
    /// Storage errors.
    fn cancel(&self, id: &str, now_ms: i64) -> Result<CancelOutcome>;

    /// Expires lost leases (implementations may do this at most every few
    /// hundred milliseconds), then claims up to `max` ready jobs for
    /// `worker_id` (highest priority first, then oldest `run_at`), counting
    /// an attempt.
    ///
    /// # Errors
    /// Storage errors.
    fn claim(&self, worker_id: &str, max: usize, now_ms: i64, lease_ms: i64) -> Result<Vec<Job>>;

    /// Extends the leases of these jobs if `worker_id` still owns them;
    /// returns how many were extended.
    ///
    /// # Errors
    /// Storage errors.
    fn heartbeat(
        &self,
        worker_id: &str,
        job_ids: &[String],
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<usize>;

    /// Records completions in one transaction; each entry says whether it was
    /// applied (false: the worker had lost its lease).
    ///
    /// # Errors
    /// Storage errors.
    fn complete(&self, completions: &[Completion]) -> Result<Vec<bool>>;

    /// Records completions and claims the next batch, in one transaction
    /// where the backend can (the default calls [`JobStore::complete`] then
    /// [`JobStore::claim`]). A busy worker thus pays one commit per batch
    /// instead of two.
    ///
    /// # Errors
    /// Storage errors; nothing is applied.
    fn complete_and_claim(
        &self,
        completions: &[Completion],
        worker_id: &str,
        max: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<(Vec<bool>, Vec<Job>)> {
        let applied = self.complete(completions)?;
        Ok((applied, self.claim(worker_id, max, now_ms, lease_ms)?))
    }

    /// Enqueues `jobs` and serves every worker round trip in `work`, in one
    /// transaction where the backend can (the default makes the calls one
    /// by one). Used by the in-process group-commit writer.
    ///
    /// # Errors
    /// Storage errors; nothing is applied.
    #[allow(clippy::type_complexity)]
    fn write_combined(
        &self,
        jobs: &[NewJob],
        work: &[WorkRequest],
        now_ms: i64,
    ) -> Result<(Vec<Enqueued>, Vec<(Vec<bool>, Vec<Job>)>)> {
        let enqueued = self.enqueue_batch(jobs)?;
        let mut claimed = Vec::with_capacity(work.len());
        for w in work {
            claimed.push(self.complete_and_claim(
                &w.completions,
                &w.worker_id,
                w.max,
                now_ms,
                w.lease_ms,
            )?);
        }
        Ok((enqueued, claimed))
    }

    /// Gives unfinished jobs back (worker shutting down): they return to
    /// `queued` and the attempt is not counted.
    ///
    /// # Errors
    /// Storage errors.
    fn release(&self, worker_id: &str, job_ids: &[String]) -> Result<usize>;

    /// Counts by status, oldest ready job age, live workers.
    ///
    /// # Errors
    /// Storage errors.
    fn counts(&self, now_ms: i64, worker_ttl_ms: i64) -> Result<QueueCounts>;

    /// Requeues dead jobs (all when `ids` is `None`) with attempts reset;
    /// ids that are not dead are ignored. Returns how many were requeued.
    ///
    /// # Errors
    /// Storage errors.
    fn retry_dead(&self, ids: Option<&[String]>, now_ms: i64) -> Result<usize>;

    /// The earliest `run_at` among waiting jobs, so an idle worker knows how
    /// long it may sleep.
    ///
    /// # Errors
    /// Storage errors.
    fn next_run_at(&self) -> Result<Option<i64>>;

    /// Records (or refreshes) a worker's presence.
    ///
    /// # Errors
    /// Storage errors.
    fn worker_seen(&self, info: &WorkerInfo, now_ms: i64) -> Result<()>;

    /// Removes a worker's presence record.
    ///
    /// # Errors
    /// Storage errors.
    fn worker_gone(&self, worker_id: &str) -> Result<()>;
}
