//! The engine: a run's life from reservation to settlement, with every
//! finished step persisted, so any run can be resumed where it stopped.
//!
//! 1. `create_run` stores the run and reserves its maximum cost in one
//!    transaction (402 and nothing stored when the balance is too low).
//! 2. `execute` marks it running and hands the records to the executor;
//!    each finished step is saved before the next starts.
//! 3. It settles in one transaction: the steps that reached their connector
//!    are charged, the rest of the reservation is refunded (idempotency key
//!    `RUN:settle`), and the end state is recorded.
//!
//! Executing a run again (a job retried after a crash) skips finished steps
//! and never settles twice: a terminal run is returned as it is.

use std::sync::Arc;

use serde_json::Value;

use super::cost::CostTable;
use super::executor::{CompiledPipeline, ExecOptions, Executor};
use super::model::{PipelineDef, Run, RunStatus, StepRecord};
use super::planner::LlmSettings;
use super::store::PipelineStore;
use super::validate::Limits;
use crate::billing::{EntryKind, NewEntry};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::connectors::ConnectorRegistry;
use crate::error::Result;

/// Everything configurable about pipelines.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Size limits.
    pub limits: Limits,
    /// Credits per step.
    pub costs: CostTable,
    /// Retry pacing of steps.
    pub exec: ExecOptions,
    /// The LLM planner, when a key is configured.
    pub llm: Option<LlmSettings>,
}

impl PipelineSettings {
    /// Settings from the process configuration.
    pub fn from_config(c: &Config) -> Self {
        PipelineSettings {
            limits: Limits {
                max_steps: c.max_steps,
                max_params_bytes: c.max_params_bytes,
            },
            costs: c.step_costs.clone(),
            exec: ExecOptions::default(),
            llm: c.openai_api_key.as_ref().map(|key| LlmSettings {
                api_key: key.clone(),
                base_url: c.openai_base_url.clone(),
                model: c.openai_model.clone(),
                prices: c.llm_prices.clone(),
                timeout: std::time::Duration::from_secs(60),
            }),
        }
    }
}

/// What a new run is made of.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Owner (pays for it).
    pub user_id: String,
    /// The stored pipeline, if it is one.
    pub pipeline_id: Option<String>,
    /// The definition to run.
    pub def: PipelineDef,
    /// The input.
    pub input: Value,
    /// The job that will execute it, if known.
    pub job_id: Option<String>,
    /// `Queued` for async runs, `Running` for sync ones.
    pub status: RunStatus,
}

/// Runs pipelines durably.
pub struct Engine {
    /// Storage of pipelines and runs.
    pub store: Arc<dyn PipelineStore>,
    /// Connectors.
    pub connectors: Arc<ConnectorRegistry>,
    /// Time.
    pub clock: SharedClock,
    /// Settings.
    pub settings: PipelineSettings,
    /// Per-connector call metrics, if recorded.
    pub metrics: Option<Arc<crate::connectors::ConnectorMetrics>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over these parts.
    pub fn new(
        store: Arc<dyn PipelineStore>,
        connectors: Arc<ConnectorRegistry>,
        clock: SharedClock,
        settings: PipelineSettings,
    ) -> Self {
        Engine {
            store,
            connectors,
            clock,
            settings,
            metrics: None,
        }
    }

    /// Records every connector call of every run into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::connectors::ConnectorMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Stores a run and reserves its maximum cost, atomically.
    ///
    /// # Errors
    /// [`crate::Error::InsufficientCredits`] (nothing stored or charged);
    /// [`crate::Error::NotFound`] for an unknown user when the run costs
    /// something; storage errors.
    pub fn create_run(&self, new: NewRun) -> Result<Run> {
        let now = self.clock.now_ms();
        let id = crate::ids::new_id("run", now);
        let reserved = self.settings.costs.estimate(&new.def.steps);
        let reserve = (reserved > 0).then(|| NewEntry {
            user_id: new.user_id.clone(),
            kind: EntryKind::Reserve,
            amount: -reserved,
            reference: Some(id.clone()),
            idempotency_key: Some(format!("{id}:reserve")),
        });
        let run = Run {
            steps: new
                .def
                .steps
                .iter()
                .map(|s| StepRecord::pending(&s.id))
                .collect(),
            id,
            user_id: new.user_id,
            pipeline_id: new.pipeline_id,
            job_id: new.job_id,
            status: new.status,
            def: new.def,
            input: new.input,
            credits_reserved: reserved,
            credits_charged: 0,
            credits_remaining: None,
            created_at: now,
            started_at: (new.status == RunStatus::Running).then_some(now),
            finished_at: None,
        };
        self.store.create_run(&run, reserve.as_ref(), now)?;
        Ok(run)
    }

    /// Executes (or resumes) a run to its end and settles its credits.
    /// A run already ended is left as it is.
    ///
    /// # Errors
    /// Storage errors; the run stays resumable.
    pub fn execute(&self, run: &mut Run) -> Result<()> {
        if run.status.is_terminal() {
            return Ok(());
        }
        if run.status != RunStatus::Running {
            let now = self.clock.now_ms();
            self.store.start_run(&run.id, now)?;
            run.status = RunStatus::Running;
            run.started_at.get_or_insert(now);
        }
        let plan = CompiledPipeline::compile(&run.def, &self.connectors)?;
        let store = &*self.store;
        let run_id = run.id.as_str();
        // A run driven by a job is resumable: each finished step is committed
        // before the next starts, so a resumed run never repeats it. A sync
        // run has no job to resume it, so its steps are committed together
        // with its end (one commit instead of one per step).
        let resumable = run.job_id.is_some();
        let status = Executor::new(self.settings.exec)
            .with_metrics(self.metrics.clone())
            .run(&plan, run_id, &run.input, &mut run.steps, &mut |i, rec| {
                if resumable {
                    store.save_step(run_id, i, rec)
                } else {
                    Ok(())
                }
            })?;
        self.settle(run, status)
    }

    /// Ends a run that never started, refunding its whole reservation.
    ///
    /// # Errors
    /// Storage errors.
    pub fn cancel(&self, run: &mut Run) -> Result<()> {
        if run.status.is_terminal() {
            return Ok(());
        }
        self.settle(run, RunStatus::Cancelled)
    }

    fn settle(&self, run: &mut Run, status: RunStatus) -> Result<()> {
        let charged = self
            .settings
            .costs
            .charge(&run.def.steps, &run.steps)
            .min(run.credits_reserved);
        let refund = run.credits_reserved - charged;
        let settle = (refund > 0).then(|| NewEntry {
            user_id: run.user_id.clone(),
            kind: EntryKind::Refund,
            amount: refund,
            reference: Some(run.id.clone()),
            idempotency_key: Some(format!("{}:settle", run.id)),
        });
        let now = self.clock.now_ms();
        let remaining = self
            .store
            .finish_run(run, status, charged, settle.as_ref(), now)?;
        run.status = status;
        run.credits_charged = charged;
        run.credits_remaining = remaining;
        run.finished_at = Some(now);
        Ok(())
    }
}
