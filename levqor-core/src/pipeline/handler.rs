//! The `pipeline.run` job kind.
//!
//! Payloads:
//! - `{"run_id": "run_…"}`: a run created (and paid for) by
//!   [`super::PipelineService::run`] with `"async": true`;
//! - `{"pipeline_id": "pl_…" | "pipeline": {...}, "input"?: {...}}` (API.md),
//!   for jobs submitted through intake: the first attempt creates the run,
//!   tied to the job, and reserves its credits; later attempts find it.
//!
//! Every attempt resumes the run from its last finished step. A run that
//! ends `failed`, or cannot be paid for, fails the job permanently; storage
//! failures are retried.

use std::sync::Arc;

use serde_json::Value;

use super::engine::{Engine, NewRun};
use super::model::{Run, RunStatus};
use super::validate::parse_pipeline;
use crate::error::{Error, ErrorKind, FieldError};
use crate::json::Fields;
use crate::queue::{JobContext, JobError, JobHandler};

/// Runs `pipeline.run` jobs.
#[derive(Debug)]
pub struct PipelineRunHandler {
    engine: Arc<Engine>,
}

impl PipelineRunHandler {
    /// A handler over the engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        PipelineRunHandler { engine }
    }
}

fn job_error(e: Error) -> JobError {
    match e.kind() {
        ErrorKind::Unavailable | ErrorKind::Internal => JobError::retryable(e.public_message()),
        _ => JobError::permanent(e.to_string()),
    }
}

/// What the job will run.
enum Target {
    Run(String),
    Define {
        pipeline_id: Option<String>,
        inline: Option<Value>,
        input: Value,
    },
}

fn read_payload(p: &Value) -> Result<Target, Vec<FieldError>> {
    let mut f = Fields::nested(p, "/payload").map_err(|e| vec![e])?;
    let run_id = f.string("run_id", false, 64);
    let pipeline_id = f.string("pipeline_id", false, 64);
    let inline = f.value("pipeline", false).cloned();
    let input = f
        .value("input", false)
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    let given = [run_id.is_some(), pipeline_id.is_some(), inline.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        f.error(
            "pipeline_id",
            "give exactly one of `pipeline_id`, `pipeline` or `run_id`",
        );
    }
    let errors = f.finish_errors();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(match run_id {
        Some(id) => Target::Run(id),
        None => Target::Define {
            pipeline_id,
            inline,
            input,
        },
    })
}

impl JobHandler for PipelineRunHandler {
    fn validate(&self, payload: &Value) -> Vec<FieldError> {
        match read_payload(payload) {
            Err(e) => e,
            Ok(Target::Define {
                inline: Some(p), ..
            }) => {
                let s = &self.engine.settings;
                match parse_pipeline(&p, "/payload/pipeline", &s.limits, &self.engine.connectors) {
                    Ok(_) => vec![],
                    Err(e) => e.details().to_vec(),
                }
            }
            Ok(_) => vec![],
        }
    }

    fn run(&self, ctx: &JobContext<'_>) -> Result<Value, JobError> {
        let job = ctx.job;
        let target = read_payload(&job.payload)
            .map_err(|e| JobError::permanent(format!("bad payload: {}", Error::Validation(e))))?;
        let store = &self.engine.store;
        let mut run: Run = match target {
            Target::Run(id) => match store.get_run(&id).map_err(job_error)? {
                Some(r) if r.user_id == job.user_id => r,
                _ => return Err(JobError::permanent(format!("run {id} not found"))),
            },
            Target::Define {
                pipeline_id,
                inline,
                input,
            } => match store.run_for_job(&job.id).map_err(job_error)? {
                Some(r) => r,
                None => {
                    let def = match (&pipeline_id, inline) {
                        (Some(id), _) => match store.get_pipeline(id).map_err(job_error)? {
                            Some(p) if p.user_id == job.user_id => p.def,
                            _ => {
                                return Err(JobError::permanent(format!(
                                    "pipeline {id} not found"
                                )));
                            }
                        },
                        (None, Some(p)) => {
                            let s = &self.engine.settings;
                            parse_pipeline(
                                &p,
                                "/payload/pipeline",
                                &s.limits,
                                &self.engine.connectors,
                            )
                            .map_err(job_error)?
                        }
                        (None, None) => return Err(JobError::permanent("no pipeline given")),
                    };
                    self.engine
                        .create_run(NewRun {
                            user_id: job.user_id.clone(),
                            pipeline_id,
                            def,
                            input,
                            job_id: Some(job.id.clone()),
                            status: RunStatus::Running,
                        })
                        .map_err(job_error)?
                }
            },
        };
        self.engine.execute(&mut run).map_err(job_error)?;
        match run.status {
            RunStatus::Succeeded => Ok(run.to_json()),
            _ => {
                let why = run
                    .steps
                    .iter()
                    .find(|s| s.error.is_some() && s.status == super::model::StepStatus::Failed)
                    .map(|s| format!("step `{}`: {}", s.id, s.error.as_deref().unwrap_or("")))
                    .unwrap_or_default();
                Err(JobError::permanent(format!(
                    "run {} {}: {why}",
                    run.id,
                    run.status.as_str()
                )))
            }
        }
    }
}
