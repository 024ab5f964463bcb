//! Pipeline and run domain types and their API (JSON) forms.

use serde_json::{Map, Value, json};

use crate::clock::rfc3339;
use crate::error::{Error, Result};

/// One step of a pipeline: a connector call with its params.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Step {
    /// Unique within the pipeline; templates name it (`{{steps.ID.output}}`).
    pub id: String,
    /// Registry name of the connector.
    pub connector: String,
    /// Optional label of what the step does; stored and returned, not
    /// interpreted by the executor.
    pub action: Option<String>,
    /// Params handed to the connector after template rendering.
    pub params: Value,
    /// Attempts allowed for this step (default 1).
    #[serde(default = "one")]
    pub max_attempts: u32,
    /// Per-attempt timeout, ms.
    pub timeout_ms: Option<u64>,
}

impl Step {
    /// The API form of the step.
    pub fn to_json(&self) -> Value {
        let mut m = Map::with_capacity(6);
        m.insert("id".into(), Value::String(self.id.clone()));
        m.insert("connector".into(), Value::String(self.connector.clone()));
        if let Some(a) = &self.action {
            m.insert("action".into(), Value::String(a.clone()));
        }
        m.insert("params".into(), self.params.clone());
        m.insert("max_attempts".into(), json!(self.max_attempts));
        if let Some(t) = self.timeout_ms {
            m.insert("timeout_ms".into(), json!(t));
        }
        Value::Object(m)
    }
}

fn one() -> u32 {
    1
}

/// A validated pipeline definition: a name and its steps.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct PipelineDef {
    /// Human name.
    pub name: String,
    /// Steps in execution order.
    pub steps: Vec<Step>,
}

impl PipelineDef {
    /// `{"name","steps"}`: the body form, accepted again by validation.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "steps": self.steps.iter().map(Step::to_json).collect::<Vec<_>>(),
        })
    }

    /// Reads a definition stored by this crate (already validated when it
    /// was stored, so only its shape is checked).
    ///
    /// # Errors
    /// [`Error::Internal`] for a stored text that is not a definition.
    pub fn from_stored(text: &str) -> Result<PipelineDef> {
        serde_json::from_str(text)
            .map_err(|e| Error::Internal(format!("stored pipeline is unreadable: {e}")))
    }
}

/// A stored pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// `pl_…` id.
    pub id: String,
    /// Owner's user id.
    pub user_id: String,
    /// The definition.
    pub def: PipelineDef,
    /// Epoch ms.
    pub created_at: i64,
}

impl Pipeline {
    /// API.md's pipeline object.
    pub fn to_json(&self) -> Value {
        let mut v = self.def.to_json();
        if let Value::Object(m) = &mut v {
            m.insert("id".into(), Value::String(self.id.clone()));
            m.insert("created_at".into(), Value::String(rfc3339(self.created_at)));
        }
        v
    }
}

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $var),+
        }
        impl $name {
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
        }
        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(Error::invalid("/status", format!(concat!("unknown ", $what, " `{}`"), s))),
                }
            }
        }
    };
}

status_enum!(
    /// State of one step within a run.
    StepStatus, "step status", {
        /// Not started.
        Pending = "pending",
        /// Being executed.
        Running = "running",
        /// Finished with an output.
        Succeeded = "succeeded",
        /// Finished with an error (attempts spent or not retryable).
        Failed = "failed",
        /// Not run because an earlier step failed.
        Skipped = "skipped",
    }
);

status_enum!(
    /// State of a run.
    RunStatus, "run status", {
        /// Accepted, waiting for a worker.
        Queued = "queued",
        /// Steps executing.
        Running = "running",
        /// Every step succeeded.
        Succeeded = "succeeded",
        /// A step failed.
        Failed = "failed",
        /// Cancelled before it ran.
        Cancelled = "cancelled",
    }
);

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

/// The record of one step in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// The step's id.
    pub id: String,
    /// Its state.
    pub status: StepStatus,
    /// Output once succeeded.
    pub output: Option<Value>,
    /// Error message once failed.
    pub error: Option<String>,
    /// Connector calls made (0 if it never reached the connector).
    pub attempts: u32,
    /// Wall time spent on the step, ms.
    pub duration_ms: u64,
}

impl StepRecord {
    /// A pending record for step `id`.
    pub fn pending(id: &str) -> Self {
        StepRecord {
            id: id.to_string(),
            status: StepStatus::Pending,
            output: None,
            error: None,
            attempts: 0,
            duration_ms: 0,
        }
    }

    /// Whether the step has reached a final state.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status,
            StepStatus::Succeeded | StepStatus::Failed | StepStatus::Skipped
        )
    }

    /// API form.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status.as_str(),
            "output": self.output,
            "error": self.error,
            "attempts": self.attempts,
            "duration_ms": self.duration_ms,
        })
    }
}

/// A run of a pipeline: the definition it runs (a snapshot, so that a run
/// can always be resumed), its input and its step records.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// `run_…` id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// The stored pipeline run, `None` for an inline pipeline.
    pub pipeline_id: Option<String>,
    /// The job executing it asynchronously, if any.
    pub job_id: Option<String>,
    /// State.
    pub status: RunStatus,
    /// The definition being run.
    pub def: PipelineDef,
    /// The run's input (`{{input...}}`).
    pub input: Value,
    /// One record per step, in order.
    pub steps: Vec<StepRecord>,
    /// Credits held at the start (the maximum cost).
    pub credits_reserved: i64,
    /// Credits charged once settled.
    pub credits_charged: i64,
    /// The owner's balance after settlement, when known.
    pub credits_remaining: Option<i64>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms when execution began.
    pub started_at: Option<i64>,
    /// Epoch ms when it ended.
    pub finished_at: Option<i64>,
}

impl Run {
    /// API.md's run object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "pipeline_id": self.pipeline_id,
            "job_id": self.job_id,
            "status": self.status.as_str(),
            "steps": self.steps.iter().map(StepRecord::to_json).collect::<Vec<_>>(),
            "credits_reserved": self.credits_reserved,
            "credits_charged": self.credits_charged,
            "credits_remaining": self.credits_remaining,
            "created_at": rfc3339(self.created_at),
            "started_at": self.started_at.map(rfc3339),
            "finished_at": self.finished_at.map(rfc3339),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_is_an_error() {
        for s in ["pending", "running", "succeeded", "failed", "skipped"] {
            assert_eq!(s.parse::<StepStatus>().unwrap().as_str(), s);
        }
        assert!("done".parse::<StepStatus>().is_err());
        assert!("queued".parse::<RunStatus>().is_ok());
        assert!(RunStatus::Failed.is_terminal() && !RunStatus::Running.is_terminal());
    }

    #[test]
    fn step_json_omits_absent_optionals() {
        let s = Step {
            id: "a".into(),
            connector: "echo".into(),
            action: None,
            params: json!({}),
            max_attempts: 1,
            timeout_ms: None,
        };
        let v = s.to_json();
        assert!(v.get("action").is_none() && v.get("timeout_ms").is_none());
        assert_eq!(v["max_attempts"], 1);
    }
}
