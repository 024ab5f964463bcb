//! The pipeline service: what the HTTP handlers and CLI commands call.
//! Bodies come in as parsed JSON and are validated strictly here; answers
//! are domain values with `to_json` forms matching API.md.

use std::sync::Arc;

use serde_json::{Value, json};

use super::engine::{Engine, NewRun};
use super::model::{Pipeline, PipelineDef, Run, RunStatus};
use super::planner::{LlmPlanner, PlanContext, PlanDraft, Planner, RulesPlanner};
use super::validate::parse_pipeline;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::json::Fields;
use crate::queue::service::{check_limit, paginate};
use crate::queue::{IntakeRequest, Page, Queue};

/// The answer of `plan`.
#[derive(Debug, Clone)]
pub struct PlanResult {
    /// The stored pipeline.
    pub pipeline: Pipeline,
    /// The planner's draft (planner name, cost, usage).
    pub draft: PlanDraft,
    /// Credits a run would reserve (the sum of its steps' costs).
    pub credits_estimate: i64,
}

impl PlanResult {
    /// `{"pipeline","planner","cost_usd","credits_estimate","usage"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "pipeline": self.pipeline.to_json(),
            "planner": self.draft.planner,
            "cost_usd": self.draft.cost_usd,
            "credits_estimate": self.credits_estimate,
            "model": self.draft.model,
            "usage": {
                "prompt_tokens": self.draft.usage.prompt_tokens,
                "completion_tokens": self.draft.usage.completion_tokens,
            },
        })
    }
}

/// The answer of `run`.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    /// A sync run, ended (HTTP 200 with the run object).
    Finished(Box<Run>),
    /// An async run, queued (HTTP 202).
    Queued {
        /// The run.
        run_id: String,
        /// The `pipeline.run` job executing it.
        job_id: String,
    },
}

impl RunOutcome {
    /// The run object, or `{"run_id","job_id"}`.
    pub fn to_json(&self) -> Value {
        match self {
            RunOutcome::Finished(r) => r.to_json(),
            RunOutcome::Queued { run_id, job_id } => json!({"run_id": run_id, "job_id": job_id}),
        }
    }
}

/// Pipelines for front ends.
#[derive(Clone)]
pub struct PipelineService {
    engine: Arc<Engine>,
    queue: Queue,
    llm: Option<Arc<LlmPlanner>>,
}

impl std::fmt::Debug for PipelineService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineService")
            .field("llm", &self.llm.is_some())
            .finish()
    }
}

impl PipelineService {
    /// A service over the engine; async runs go through `queue`.
    pub fn new(engine: Arc<Engine>, queue: Queue) -> Self {
        let llm = engine
            .settings
            .llm
            .clone()
            .map(|s| Arc::new(LlmPlanner::new(s)));
        PipelineService { engine, queue, llm }
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    fn store_pipeline(&self, who: &Principal, def: PipelineDef) -> Result<Pipeline> {
        let now = self.engine.clock.now_ms();
        let p = Pipeline {
            id: crate::ids::new_id("pl", now),
            user_id: who.user_id.clone(),
            def,
            created_at: now,
        };
        self.engine.store.insert_pipeline(&p)?;
        Ok(p)
    }

    /// `POST /api/v1/plan`: body `{"description"}`. Plans with the LLM
    /// planner when a key is configured, else the rules planner; stores the
    /// pipeline.
    ///
    /// # Errors
    /// Validation errors for a bad body or a description no pipeline can be
    /// made of; [`Error::Unavailable`] when the LLM service cannot be reached.
    pub fn plan(&self, who: &Principal, body: &Value) -> Result<PlanResult> {
        let mut f = Fields::body(body)?;
        let description = f.string("description", true, 4000);
        f.finish()?;
        self.plan_description(who, &description.unwrap_or_default())
    }

    /// Plans from a description string (the CLI's `levqor plan "..."`).
    ///
    /// # Errors
    /// As [`PipelineService::plan`].
    pub fn plan_description(&self, who: &Principal, description: &str) -> Result<PlanResult> {
        if description.trim().is_empty() {
            return Err(Error::invalid("/description", "must not be empty"));
        }
        let ctx = PlanContext {
            connectors: &self.engine.connectors,
            limits: &self.engine.settings.limits,
        };
        let draft = match &self.llm {
            Some(llm) => llm.plan(description, &ctx)?,
            None => RulesPlanner.plan(description, &ctx)?,
        };
        let credits_estimate = self.engine.settings.costs.estimate(&draft.def.steps);
        let pipeline = self.store_pipeline(who, draft.def.clone())?;
        Ok(PlanResult {
            pipeline,
            draft,
            credits_estimate,
        })
    }

    /// `POST /api/v1/pipelines`: body a pipeline without `id`.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] for a non-object, [`Error::Validation`] with
    /// every problem's pointer; storage errors.
    pub fn create_pipeline(&self, who: &Principal, body: &Value) -> Result<Pipeline> {
        let s = &self.engine.settings;
        let def = parse_pipeline(body, "", &s.limits, &self.engine.connectors)?;
        self.store_pipeline(who, def)
    }

    /// `GET /api/v1/pipelines/{id}`: the owner's pipeline.
    ///
    /// # Errors
    /// [`Error::NotFound`] for unknown ids and other users' pipelines.
    pub fn get_pipeline(&self, who: &Principal, id: &str) -> Result<Pipeline> {
        if !crate::ids::is_valid("pl", id) {
            return Err(Error::NotFound("pipeline"));
        }
        match self.engine.store.get_pipeline(id)? {
            Some(p) if p.user_id == who.user_id => Ok(p),
            _ => Err(Error::NotFound("pipeline")),
        }
    }

    /// `GET /api/v1/pipelines?limit=&cursor=`: the caller's pipelines,
    /// newest first.
    ///
    /// # Errors
    /// Validation errors for a bad limit or cursor.
    pub fn list_pipelines(
        &self,
        who: &Principal,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Page<Pipeline>> {
        let limit = check_limit(limit)?;
        if let Some(c) = cursor
            && !crate::ids::is_valid("pl", c)
        {
            return Err(Error::invalid(
                "/cursor",
                "not a cursor returned by this endpoint",
            ));
        }
        let items = self
            .engine
            .store
            .list_pipelines(&who.user_id, cursor, limit + 1)?;
        Ok(paginate(items, limit, |p| p.id.clone()))
    }

    /// `POST /api/v1/run`: body `{"pipeline_id"|"pipeline","input"?,"async"?}`.
    /// The run's maximum cost is reserved first; sync runs answer the ended
    /// run (status `failed` when a step failed), async runs are queued as a
    /// `pipeline.run` job.
    ///
    /// # Errors
    /// Validation errors; [`Error::NotFound`] for another user's or an
    /// unknown pipeline; [`Error::InsufficientCredits`] (nothing charged);
    /// storage errors.
    pub fn run(&self, who: &Principal, body: &Value) -> Result<RunOutcome> {
        let mut f = Fields::body(body)?;
        let pipeline_id = f.string("pipeline_id", false, 64);
        let inline = f.value("pipeline", false);
        let input = f
            .value("input", false)
            .cloned()
            .unwrap_or_else(|| json!({}));
        let is_async = f.bool("async", false).unwrap_or(false);
        if pipeline_id.is_some() == inline.is_some() {
            f.error(
                "pipeline_id",
                "give exactly one of `pipeline_id` or `pipeline`",
            );
        }
        let inline_def = match inline {
            Some(v) => {
                let s = &self.engine.settings;
                match parse_pipeline(v, "/pipeline", &s.limits, &self.engine.connectors) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        for d in e.details() {
                            f.push(d.clone());
                        }
                        None
                    }
                }
            }
            None => None,
        };
        f.finish()?;
        let def = match (&pipeline_id, inline_def) {
            (Some(id), _) => self.get_pipeline(who, id)?.def,
            (None, Some(d)) => d,
            (None, None) => return Err(Error::invalid("/pipeline", "is required")),
        };
        self.run_def(who, pipeline_id, def, input, is_async)
    }

    /// Runs a definition for `who` (what `run` does once the body is read;
    /// the CLI's `levqor run pipeline.json` calls it directly).
    ///
    /// # Errors
    /// As [`PipelineService::run`].
    pub fn run_def(
        &self,
        who: &Principal,
        pipeline_id: Option<String>,
        def: PipelineDef,
        input: Value,
        is_async: bool,
    ) -> Result<RunOutcome> {
        let status = if is_async {
            RunStatus::Queued
        } else {
            RunStatus::Running
        };
        let mut run = self.engine.create_run(NewRun {
            user_id: who.user_id.clone(),
            pipeline_id,
            def,
            input,
            job_id: None,
            status,
        })?;
        if !is_async {
            self.engine.execute(&mut run)?;
            return Ok(RunOutcome::Finished(Box::new(run)));
        }
        let req = IntakeRequest {
            kind: "pipeline.run".into(),
            payload: json!({"run_id": run.id}),
            priority: 5,
            run_at: None,
            max_attempts: 3,
            timeout_ms: None,
            idempotency_key: Some(format!("{}:job", run.id)),
        };
        match self.queue.submit(&who.user_id, req) {
            Ok(enq) => {
                self.engine.store.set_run_job(&run.id, &enq.job_id)?;
                Ok(RunOutcome::Queued {
                    run_id: run.id,
                    job_id: enq.job_id,
                })
            }
            Err(e) => {
                // Give the reservation back: the run will never execute.
                self.engine.cancel(&mut run)?;
                Err(e)
            }
        }
    }

    /// `GET /api/v1/runs/{id}`: a run its owner or an admin may see.
    ///
    /// # Errors
    /// [`Error::NotFound`] for unknown ids and other users' runs.
    pub fn get_run(&self, who: &Principal, id: &str) -> Result<Run> {
        if !crate::ids::is_valid("run", id) {
            return Err(Error::NotFound("run"));
        }
        match self.engine.store.get_run(id)? {
            Some(r) if who.can_access(&r.user_id) => Ok(r),
            _ => Err(Error::NotFound("run")),
        }
    }
}
