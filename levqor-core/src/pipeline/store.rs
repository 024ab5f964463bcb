//! The pipeline store contract. Backends implement it; it names no backend type.

use super::model::{Pipeline, Run, RunStatus, StepRecord};
use crate::billing::NewEntry;
use crate::error::Result;

/// Durable storage of pipelines and runs.
///
/// Invariants every implementation keeps:
/// - `create_run` stores the run and applies its credit reservation in one
///   transaction: both or neither (a run never exists unpaid, credits are
///   never held for a run that does not exist).
/// - `finish_run` records the end state and applies the settlement entry in
///   one transaction.
/// - `save_step` is durable when it returns: a resumed run never repeats a
///   step recorded as finished.
pub trait PipelineStore: Send + Sync {
    /// Stores a new pipeline.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_pipeline(&self, p: &Pipeline) -> Result<()>;

    /// One pipeline by id.
    ///
    /// # Errors
    /// Storage errors.
    fn get_pipeline(&self, id: &str) -> Result<Option<Pipeline>>;

    /// A user's pipelines, newest first, ids below `cursor`, at most `limit`.
    ///
    /// # Errors
    /// Storage errors.
    fn list_pipelines(
        &self,
        user_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Pipeline>>;

    /// Stores a new run and applies `reserve` (if any) atomically.
    ///
    /// # Errors
    /// [`crate::Error::InsufficientCredits`] (nothing stored, nothing
    /// charged); storage errors.
    fn create_run(&self, run: &Run, reserve: Option<&NewEntry>, now_ms: i64) -> Result<()>;

    /// One run by id, with its step records (pending for steps not recorded).
    ///
    /// # Errors
    /// Storage errors.
    fn get_run(&self, id: &str) -> Result<Option<Run>>;

    /// The run created for a job (runs submitted as `pipeline.run` jobs).
    ///
    /// # Errors
    /// Storage errors.
    fn run_for_job(&self, job_id: &str) -> Result<Option<Run>>;

    /// Marks a run as started (running) at `at`, if it was not already.
    ///
    /// # Errors
    /// Storage errors.
    fn start_run(&self, id: &str, at: i64) -> Result<()>;

    /// Records the job executing a run.
    ///
    /// # Errors
    /// Storage errors.
    fn set_run_job(&self, id: &str, job_id: &str) -> Result<()>;

    /// Persists the record of step `index`.
    ///
    /// # Errors
    /// Storage errors.
    fn save_step(&self, run_id: &str, index: usize, rec: &StepRecord) -> Result<()>;

    /// Records the end of a run, every one of its step records, and applies
    /// `settle` (if any), atomically.
    /// Returns the owner's balance afterwards, when the owner is a known user.
    ///
    /// # Errors
    /// Storage errors.
    fn finish_run(
        &self,
        run: &Run,
        status: RunStatus,
        credits_charged: i64,
        settle: Option<&NewEntry>,
        finished_at: i64,
    ) -> Result<Option<i64>>;
}
