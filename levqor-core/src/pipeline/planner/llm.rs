//! The LLM planner: an OpenAI-compatible chat-completions client (ureq).
//!
//! It sends the description with a system prompt describing the pipeline
//! schema and the registered connectors, asks for `response_format`
//! `json_object`, and reads `choices[0].message.content` as the pipeline
//! (`{"name","steps"}`). An answer that is not JSON or fails validation is
//! sent back once with the problems; a second bad answer is a validation
//! error. A 429 or 5xx is retried once (honouring `Retry-After` up to 5 s),
//! then the planner is unavailable. Token usage of every call is summed and
//! priced with [`LlmPrices`].

use std::time::Duration;

use serde_json::{Value, json};

use super::{PlanContext, PlanDraft, Planner, Usage};
use crate::error::{Error, FieldError, Result};
use crate::pipeline::cost::LlmPrices;
use crate::pipeline::validate::check_pipeline;

/// Settings of the LLM planner.
#[derive(Clone)]
pub struct LlmSettings {
    /// Bearer key.
    pub api_key: String,
    /// Base URL, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// Token prices.
    pub prices: LlmPrices,
    /// Timeout of one HTTP call.
    pub timeout: Duration,
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// The OpenAI-compatible planner.
#[derive(Debug)]
pub struct LlmPlanner {
    settings: LlmSettings,
    agent: ureq::Agent,
}

const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

struct Answer {
    content: String,
    usage: Usage,
}

impl LlmPlanner {
    /// A planner with these settings.
    pub fn new(settings: LlmSettings) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(settings.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        LlmPlanner { settings, agent }
    }

    fn system_prompt(ctx: &PlanContext<'_>) -> String {
        let mut connectors = String::new();
        for name in ctx.connectors.names() {
            if let Some(c) = ctx.connectors.get(name) {
                let params: Vec<String> = c
                    .params()
                    .iter()
                    .map(|p| format!("{}{}", p.name, if p.required { "" } else { "?" }))
                    .collect();
                connectors.push_str(&format!("- {name}: params {{{}}}\n", params.join(", ")));
            }
        }
        format!(
            "You turn automation descriptions into Levqor pipelines. Answer with one JSON \
             object and nothing else: {{\"name\": string, \"steps\": [{{\"id\": string \
             (letters, digits, _ or -), \"connector\": string, \"params\": object, \
             \"max_attempts\"?: 1-10, \"timeout_ms\"?: integer}}]}}. 1 to {} steps, unique \
             ids. Strings in params may use {{{{input.path}}}} for the run input and \
             {{{{steps.ID.output.path}}}} for the output of an EARLIER step. Connectors:\n{connectors}",
            ctx.limits.max_steps
        )
    }

    fn chat(&self, messages: &[Value]) -> Result<Answer> {
        let url = format!(
            "{}/chat/completions",
            self.settings.base_url.trim_end_matches('/')
        );
        let body = json!({
            "model": self.settings.model,
            "messages": messages,
            "response_format": {"type": "json_object"},
            "temperature": 0,
        });
        let mut last = String::new();
        for attempt in 0..2 {
            let sent = self
                .agent
                .post(&url)
                .header(
                    "Authorization",
                    &format!("Bearer {}", self.settings.api_key),
                )
                .send_json(&body);
            let mut resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = format!("cannot reach the LLM planner: {e}");
                    continue;
                }
            };
            let status = resp.status().as_u16();
            if status == 429 || status >= 500 {
                last = format!("the LLM planner answered HTTP {status}");
                if attempt == 0 {
                    let wait = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map_or(Duration::from_millis(200), Duration::from_secs);
                    std::thread::sleep(wait.min(MAX_RETRY_AFTER));
                }
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(Error::Unavailable(format!(
                    "the LLM planner answered HTTP {status}"
                )));
            }
            let v: Value = resp
                .body_mut()
                .read_json()
                .map_err(|e| Error::Unavailable(format!("unreadable LLM planner answer: {e}")))?;
            let content = v["choices"][0]["message"]["content"]
                .as_str()
                .ok_or_else(|| {
                    Error::Unavailable("LLM planner answer has no message content".into())
                })?
                .to_string();
            let usage = Usage {
                prompt_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
                completion_tokens: v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
            };
            return Ok(Answer { content, usage });
        }
        Err(Error::Unavailable(last))
    }
}

impl Planner for LlmPlanner {
    fn name(&self) -> &'static str {
        "llm"
    }

    fn plan(&self, description: &str, ctx: &PlanContext<'_>) -> Result<PlanDraft> {
        let mut messages = vec![
            json!({"role": "system", "content": Self::system_prompt(ctx)}),
            json!({"role": "user", "content": description}),
        ];
        let mut usage = Usage::default();
        let mut problems: Vec<FieldError> = Vec::new();
        for _ in 0..2 {
            let answer = self.chat(&messages)?;
            usage.prompt_tokens += answer.usage.prompt_tokens;
            usage.completion_tokens += answer.usage.completion_tokens;
            problems = match serde_json::from_str::<Value>(&answer.content) {
                Err(e) => vec![FieldError::new("", format!("the answer is not JSON: {e}"))],
                Ok(v) => match check_pipeline(&v, "", ctx.limits, ctx.connectors) {
                    (Some(def), errs) if errs.is_empty() => {
                        let cost_usd = self.settings.prices.cost_usd(
                            &self.settings.model,
                            usage.prompt_tokens,
                            usage.completion_tokens,
                        );
                        return Ok(PlanDraft {
                            def,
                            planner: "llm",
                            cost_usd,
                            usage,
                            model: Some(self.settings.model.clone()),
                        });
                    }
                    (_, errs) => errs,
                },
            };
            let listed: Vec<String> = problems
                .iter()
                .map(|p| {
                    format!(
                        "{}: {}",
                        if p.path.is_empty() { "/" } else { &p.path },
                        p.message
                    )
                })
                .collect();
            messages.push(json!({"role": "assistant", "content": answer.content}));
            messages.push(json!({"role": "user", "content": format!(
                "That pipeline is invalid:\n{}\nAnswer again with the corrected JSON object only.",
                listed.join("\n")
            )}));
        }
        let mut details = vec![FieldError::new(
            "/description",
            "the LLM planner did not produce a valid pipeline; rephrase the description",
        )];
        details.extend(problems.into_iter().map(|p| {
            FieldError::new(
                "/description",
                format!(
                    "planner answer at {}: {}",
                    if p.path.is_empty() { "/" } else { &p.path },
                    p.message
                ),
            )
        }));
        Err(Error::Validation(details))
    }
}
