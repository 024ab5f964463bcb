//! Pipelines: JSON definitions of connector steps, planned from plain
//! language, validated strictly, executed durably and paid for in credits.
//!
//! Code map:
//! - [`model`]: `Pipeline`, `Step`, `Run`, `StepRecord` and their statuses;
//! - [`validate`]: the schema (JSON pointers on every problem);
//! - [`template`]: `{{input.x}}` / `{{steps.ID.output.x}}` compiled and rendered;
//! - [`executor`]: steps in order, retries, backoff, timeouts;
//! - [`engine`]: reservation, persistence of each step, settlement, resume;
//! - [`cost`]: credits per step and LLM token prices;
//! - [`planner`]: the rules planner and the LLM planner;
//! - [`handler`]: the `pipeline.run` job kind;
//! - [`service`]: what the HTTP and CLI front ends call;
//! - [`bench`]: the executor benchmark behind `levqor bench`;
//! - [`store`]: the storage contract (SQLite in `storage::sqlite`).
//!
//! **Invariants**: a run exists only with its reservation applied (one
//! transaction); a finished step is persisted before the next one starts;
//! settlement happens once (idempotency key `RUN:settle`); steps after a
//! failed step never run.

pub mod bench;
pub mod cost;
pub mod engine;
pub mod executor;
pub mod handler;
pub mod model;
pub mod planner;
pub mod service;
pub mod store;
pub mod template;
pub mod validate;

pub use cost::{CostTable, LlmPrices};
pub use engine::{Engine, NewRun, PipelineSettings};
pub use executor::{CompiledPipeline, ExecOptions, Executor};
pub use handler::PipelineRunHandler;
pub use model::{Pipeline, PipelineDef, Run, RunStatus, Step, StepRecord, StepStatus};
pub use service::{PipelineService, PlanResult, RunOutcome};
pub use store::PipelineStore;
pub use validate::Limits;
