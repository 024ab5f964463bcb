//! The executor: runs a pipeline's steps in order through the connector
//! registry, with per-step retries, backoff and timeouts, and reports each
//! finished step to a callback (which persists it).
//!
//! The executor keeps no state of its own: the caller hands it the step
//! records (all `pending` for a new run, reloaded from storage for a resumed
//! one). Steps already `succeeded` are not run again, their outputs feed
//! later templates; once a step fails, every later step is `skipped`.
//!
//! Cost per step without persistence is one params render (none at all when
//! the params hold no template: the stored params are passed by reference),
//! one idempotency key and two clock reads.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::model::{PipelineDef, RunStatus, Step, StepRecord, StepStatus};
use super::template::{self, Node, Scope};
use crate::connectors::{
    Connector, ConnectorError, ConnectorErrorKind, ConnectorMetrics, ConnectorRegistry, TaskContext,
};
use crate::error::{Error, Result};

/// Retry pacing of steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecOptions {
    /// Wait before the second attempt, ms; doubles each attempt.
    pub backoff_base_ms: u64,
    /// Longest wait between attempts, ms (a service's Retry-After may exceed it).
    pub backoff_max_ms: u64,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            backoff_base_ms: 200,
            backoff_max_ms: 30_000,
        }
    }
}

impl ExecOptions {
    /// The wait after failed attempt `attempt` (1-based), at least `retry_after`.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .backoff_base_ms
            .saturating_mul(1u64 << (attempt.saturating_sub(1)).min(30));
        let wait = Duration::from_millis(exp.min(self.backoff_max_ms));
        retry_after.map_or(wait, |r| wait.max(r))
    }
}

struct CompiledStep {
    tpl: Option<Node>,
    connector: Arc<dyn Connector>,
}

/// A definition bound to its connectors, with its templates compiled.
/// Compile once, run many times.
pub struct CompiledPipeline<'d> {
    def: &'d PipelineDef,
    steps: Vec<CompiledStep>,
}

impl std::fmt::Debug for CompiledPipeline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPipeline")
            .field("name", &self.def.name)
            .finish()
    }
}

impl<'d> CompiledPipeline<'d> {
    /// Binds `def` to `connectors`.
    ///
    /// # Errors
    /// A validation error for an unknown connector or a malformed template
    /// (a definition that passed validation has neither).
    pub fn compile(def: &'d PipelineDef, connectors: &ConnectorRegistry) -> Result<Self> {
        let mut steps = Vec::with_capacity(def.steps.len());
        for (i, s) in def.steps.iter().enumerate() {
            let connector = connectors.get(&s.connector).cloned().ok_or_else(|| {
                Error::invalid(
                    format!("/steps/{i}/connector"),
                    format!("unknown connector `{}`", s.connector),
                )
            })?;
            let tpl = template::compile(&s.params)
                .map_err(|m| Error::invalid(format!("/steps/{i}/params"), m))?;
            steps.push(CompiledStep { tpl, connector });
        }
        Ok(CompiledPipeline { def, steps })
    }

    /// The definition.
    pub fn def(&self) -> &PipelineDef {
        self.def
    }
}

struct RunScope<'a> {
    input: &'a Value,
    steps: &'a [Step],
    done: &'a [StepRecord],
}

impl Scope for RunScope<'_> {
    fn input(&self) -> &Value {
        self.input
    }
    fn step_output(&self, id: &str) -> Option<&Value> {
        let i = self.steps.iter().position(|s| s.id == id)?;
        self.done.get(i)?.output.as_ref()
    }
}

/// Runs steps.
#[derive(Debug, Clone, Default)]
pub struct Executor {
    /// Retry pacing.
    pub opts: ExecOptions,
    /// Where each connector call is counted (calls, errors by class,
    /// latency), if anywhere.
    pub metrics: Option<Arc<ConnectorMetrics>>,
}

impl Executor {
    /// An executor with these options.
    pub fn new(opts: ExecOptions) -> Self {
        Executor {
            opts,
            metrics: None,
        }
    }

    /// Records every connector call into `metrics`.
    pub fn with_metrics(mut self, metrics: Option<Arc<ConnectorMetrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Runs the steps of `plan` whose records are not finished, in order,
    /// calling `on_step` with each record as it finishes. `records` must
    /// hold one record per step. Returns `Succeeded` when every step
    /// succeeded, else `Failed`.
    ///
    /// # Errors
    /// Only what `on_step` returns (storage failures): the run stops there
    /// and can be resumed from its persisted records.
    pub fn run(
        &self,
        plan: &CompiledPipeline<'_>,
        run_id: &str,
        input: &Value,
        records: &mut [StepRecord],
        on_step: &mut dyn FnMut(usize, &StepRecord) -> Result<()>,
    ) -> Result<RunStatus> {
        if records.len() != plan.steps.len() {
            return Err(Error::Internal(
                "step records do not match the pipeline".into(),
            ));
        }
        let mut failed = false;
        for i in 0..records.len() {
            let (done, rest) = records.split_at_mut(i);
            let rec = &mut rest[0];
            match rec.status {
                StepStatus::Succeeded => continue,
                StepStatus::Failed | StepStatus::Skipped => {
                    failed = true;
                    continue;
                }
                StepStatus::Pending | StepStatus::Running => {}
            }
            if failed {
                rec.status = StepStatus::Skipped;
                on_step(i, rec)?;
                continue;
            }
            let step = &plan.def.steps[i];
            let scope = RunScope {
                input,
                steps: &plan.def.steps,
                done,
            };
            self.run_step(&plan.steps[i], step, &scope, run_id, rec);
            failed = rec.status == StepStatus::Failed;
            on_step(i, rec)?;
        }
        Ok(if failed {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        })
    }

    fn run_step(
        &self,
        compiled: &CompiledStep,
        step: &Step,
        scope: &RunScope<'_>,
        run_id: &str,
        rec: &mut StepRecord,
    ) {
        let started = Instant::now();
        let rendered;
        let params = match &compiled.tpl {
            None => &step.params,
            Some(node) => match template::render(node, scope) {
                Ok(v) => {
                    rendered = v;
                    &rendered
                }
                Err(e) => {
                    rec.status = StepStatus::Failed;
                    rec.error = Some(e.to_string());
                    rec.duration_ms = started.elapsed().as_millis() as u64;
                    return;
                }
            },
        };
        let mut key = String::with_capacity(run_id.len() + 1 + step.id.len());
        key.push_str(run_id);
        key.push(':');
        key.push_str(&step.id);
        let ctx = TaskContext {
            idempotency_key: key,
            timeout: step.timeout_ms.map(Duration::from_millis),
        };
        let max = step.max_attempts.max(1);
        loop {
            rec.attempts += 1;
            let call_started = self.metrics.as_ref().map(|_| Instant::now());
            let result = match ctx.timeout {
                None => compiled.connector.run_task(&ctx, params),
                Some(t) => call_with_timeout(&compiled.connector, &ctx, params, t),
            };
            if let (Some(m), Some(t)) = (&self.metrics, call_started) {
                m.record(&step.connector, t.elapsed(), result.as_ref().map(|_| ()));
            }
            match result {
                Ok(out) => {
                    rec.status = StepStatus::Succeeded;
                    rec.output = Some(out);
                    rec.error = None;
                    break;
                }
                Err(e) => {
                    let retry = e.is_retryable() && rec.attempts < max;
                    rec.error = Some(e.to_string());
                    if !retry {
                        rec.status = StepStatus::Failed;
                        break;
                    }
                    std::thread::sleep(self.opts.backoff(rec.attempts, e.retry_after()));
                }
            }
        }
        rec.duration_ms = started.elapsed().as_millis() as u64;
    }
}

/// Runs a call on its own thread and stops waiting at the timeout. The
/// connector also gets the deadline in its context; a call that ignores it
/// is abandoned (its thread finishes on its own) and the attempt counts as
/// timed out.
fn call_with_timeout(
    connector: &Arc<dyn Connector>,
    ctx: &TaskContext,
    params: &Value,
    timeout: Duration,
) -> std::result::Result<Value, ConnectorError> {
    let (tx, rx) = mpsc::sync_channel(1);
    let c = connector.clone();
    let ctx2 = ctx.clone();
    let p = params.clone();
    let spawned = std::thread::Builder::new()
        .name("levqor-step".into())
        .spawn(move || {
            let _ = tx.send(c.run_task(&ctx2, &p));
        });
    if spawned.is_err() {
        return connector.run_task(ctx, params);
    }
    rx.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(ConnectorError::new(
            connector.name(),
            ConnectorErrorKind::Timeout,
            format!("step timed out after {} ms", timeout.as_millis()),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let o = ExecOptions {
            backoff_base_ms: 100,
            backoff_max_ms: 1000,
        };
        assert_eq!(o.backoff(1, None), Duration::from_millis(100));
        assert_eq!(o.backoff(3, None), Duration::from_millis(400));
        assert_eq!(o.backoff(9, None), Duration::from_millis(1000));
        assert_eq!(
            o.backoff(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(o.backoff(200, None), Duration::from_millis(1000));
    }
}
