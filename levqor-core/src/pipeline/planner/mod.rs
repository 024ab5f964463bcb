//! Planners turn a description in plain language into a validated pipeline.
//!
//! - [`RulesPlanner`]: offline and deterministic; reads intents and
//!   parameters (Slack `#channels`, emails, URLs, Telegram chat ids, Notion
//!   database ids, Google Sheets names and ranges, "summarise"/"transform").
//! - [`LlmPlanner`]: an OpenAI-compatible chat-completions client that asks
//!   for the pipeline object itself, validates it, and retries once with the
//!   validation errors. Its token usage is priced in USD.
//!
//! Whatever the planner, its answer passes the same validation as a
//! pipeline a client posts.

use crate::connectors::ConnectorRegistry;
use crate::error::Result;

use super::model::PipelineDef;
use super::validate::Limits;

pub mod llm;
pub mod rules;

pub use llm::{LlmPlanner, LlmSettings};
pub use rules::RulesPlanner;

/// Tokens an LLM reported using.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt (input) tokens.
    pub prompt_tokens: u64,
    /// Completion (output) tokens.
    pub completion_tokens: u64,
}

/// What a planner produced.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanDraft {
    /// The validated definition.
    pub def: PipelineDef,
    /// `"rules"` or `"llm"`.
    pub planner: &'static str,
    /// What planning cost, USD (0 for the rules planner).
    pub cost_usd: f64,
    /// Tokens used (zero for the rules planner).
    pub usage: Usage,
    /// Model that answered, for the LLM planner.
    pub model: Option<String>,
}

/// What a planner validates against.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    /// Connectors a step may name.
    pub connectors: &'a ConnectorRegistry,
    /// Size limits.
    pub limits: &'a Limits,
}

/// Turns descriptions into pipelines.
pub trait Planner: Send + Sync {
    /// `"rules"` or `"llm"`.
    fn name(&self) -> &'static str;

    /// Plans a pipeline for `description`.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] when the description cannot be turned
    /// into a valid pipeline (the details say what was understood);
    /// [`crate::Error::Unavailable`] when a remote planner cannot be reached.
    fn plan(&self, description: &str, ctx: &PlanContext<'_>) -> Result<PlanDraft>;
}
