//! The queue service: what the HTTP handlers and CLI commands call.

use std::sync::Arc;

use serde_json::Value;

use super::batcher::EnqueueBatcher;
use super::handlers::HandlerRegistry;
use super::job::{Enqueued, Job, JobFilter, JobStatus, NewJob, QueueCounts};
use super::notify::Notifier;
use super::store::{CancelOutcome, JobStore};
use crate::auth::Principal;
use crate::clock::{SharedClock, parse_rfc3339};
use crate::error::{Error, Result};
use crate::json::Fields;

/// Limits and defaults of the queue.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Lease length, ms (also the liveness window of workers).
    pub lease_ms: i64,
}

/// A validated intake request.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeRequest {
    /// Job kind.
    pub kind: String,
    /// Payload (`{}` when absent).
    pub payload: Value,
    /// 0..=9, default 5.
    pub priority: i64,
    /// Earliest run time, epoch ms.
    pub run_at: Option<i64>,
    /// 1..=20, default 3.
    pub max_attempts: i64,
    /// Per-attempt timeout, ms.
    pub timeout_ms: Option<i64>,
    /// Per-user idempotency key.
    pub idempotency_key: Option<String>,
}

impl IntakeRequest {
    /// Parses and checks an intake body. `header_key` is the
    /// `Idempotency-Key` header, used when the body names none.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] for a non-object body, [`Error::Validation`]
    /// listing every bad or unknown member.
    pub fn from_json(body: &Value, header_key: Option<&str>) -> Result<IntakeRequest> {
        let mut f = Fields::body(body)?;
        let kind = f.string("kind", true, 100);
        let payload = f
            .value("payload", false)
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let priority = f.int("priority", false, 0, 9).unwrap_or(5);
        let run_at = match f.value("run_at", false) {
            None => None,
            Some(Value::String(s)) => match parse_rfc3339(s) {
                Some(ms) => Some(ms),
                None => {
                    f.error("run_at", "must be an RFC 3339 timestamp");
                    None
                }
            },
            Some(_) => {
                f.error("run_at", "must be an RFC 3339 timestamp string");
                None
            }
        };
        let max_attempts = f.int("max_attempts", false, 1, 20).unwrap_or(3);
        let timeout_ms = f.int("timeout_ms", false, 1, 86_400_000);
        let mut idempotency_key = f.string("idempotency_key", false, 255);
        if idempotency_key.is_none()
            && let Some(h) = header_key
        {
            if h.is_empty() || h.len() > 255 {
                f.push(crate::error::FieldError::new(
                    "/idempotency_key",
                    "Idempotency-Key header must be 1 to 255 characters",
                ));
            } else {
                idempotency_key = Some(h.to_string());
            }
        }
        if !payload.is_object() && f.has("payload") {
            f.error("payload", "must be an object");
        }
        f.finish()?;
        Ok(IntakeRequest {
            kind: kind.unwrap_or_default(),
            payload,
            priority,
            run_at,
            max_attempts,
            timeout_ms,
            idempotency_key,
        })
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Items.
    pub items: Vec<T>,
    /// Cursor of the next page, `None` on the last.
    pub next_cursor: Option<String>,
}

/// The queue service.
#[derive(Clone)]
pub struct Queue {
    store: Arc<dyn JobStore>,
    handlers: Arc<HandlerRegistry>,
    clock: SharedClock,
    batcher: Option<EnqueueBatcher>,
    notifier: Arc<Notifier>,
    settings: QueueSettings,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("handlers", &self.handlers)
            .finish()
    }
}

/// Checks a list `limit` (1..=200, default 50).
///
/// # Errors
/// A validation error at `/limit`.
pub fn check_limit(limit: Option<i64>) -> Result<usize> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n as usize),
        Some(_) => Err(Error::invalid("/limit", "must be an integer from 1 to 200")),
    }
}

impl Queue {
    /// A queue over `store`. With `group_commit`, enqueues from many threads
    /// share transactions through a writer thread (servers); without it each
    /// enqueue commits on the caller's thread (CLI, tests).
    pub fn new(
        store: Arc<dyn JobStore>,
        handlers: Arc<HandlerRegistry>,
        clock: SharedClock,
        notifier: Arc<Notifier>,
        settings: QueueSettings,
        group_commit: bool,
    ) -> Queue {
        let batcher = group_commit
            .then(|| EnqueueBatcher::start(store.clone(), notifier.clone(), clock.clone()).0);
        Queue {
            store,
            handlers,
            clock,
            batcher,
            notifier,
            settings,
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.store
    }

    /// The group-commit writer, when this queue has one (servers).
    pub fn writer(&self) -> Option<&EnqueueBatcher> {
        self.batcher.as_ref()
    }

    /// The handler registry.
    pub fn handlers(&self) -> &Arc<HandlerRegistry> {
        &self.handlers
    }

    /// The wake-up signal workers wait on.
    pub fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }

    /// Accepts a job for `user_id`. The job is committed when this returns.
    ///
    /// # Errors
    /// 422-class errors for an unknown kind or a payload its handler refuses;
    /// storage errors.
    pub fn submit(&self, user_id: &str, req: IntakeRequest) -> Result<Enqueued> {
        let handler = self.handlers.get(&req.kind).ok_or_else(|| {
            let known: Vec<&str> = self.handlers.kinds().collect();
            Error::invalid(
                "/kind",
                format!("unknown job kind; known kinds: {}", known.join(", ")),
            )
        })?;
        let problems = handler.validate(&req.payload);
        if !problems.is_empty() {
            return Err(Error::Validation(problems));
        }
        let now = self.clock.now_ms();
        let job = NewJob {
            id: crate::ids::new_id("job", now),
            user_id: user_id.to_string(),
            kind: req.kind,
            payload: req.payload,
            priority: req.priority,
            run_at: req.run_at.unwrap_or(now),
            max_attempts: req.max_attempts,
            timeout_ms: req.timeout_ms,
            idempotency_key: req.idempotency_key,
            created_at: now,
        };
        match &self.batcher {
            Some(b) => b.enqueue(job),
            None => {
                let mut out = self.store.enqueue_batch(std::slice::from_ref(&job))?;
                self.notifier.notify_one();
                out.pop()
                    .ok_or_else(|| Error::Internal("enqueue returned nothing".into()))
            }
        }
    }

    /// A job the principal may see.
    ///
    /// # Errors
    /// [`Error::NotFound`] for unknown ids and other users' jobs.
    pub fn get(&self, who: &Principal, id: &str) -> Result<Job> {
        if !crate::ids::is_valid("job", id) {
            return Err(Error::NotFound("job"));
        }
        match self.store.get(id)? {
            Some(j) if who.can_access(&j.user_id) => Ok(j),
            _ => Err(Error::NotFound("job")),
        }
    }

    /// The principal's own jobs, newest first.
    ///
    /// # Errors
    /// Validation errors for a bad status, limit or cursor.
    pub fn list(
        &self,
        who: &Principal,
        status: Option<&str>,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Page<Job>> {
        let status = status.map(str::parse::<JobStatus>).transpose()?;
        self.page(Some(who.user_id.clone()), status, limit, cursor)
    }

    /// Every user's jobs, newest first (operators and admins).
    ///
    /// # Errors
    /// Validation errors for a bad status, limit or cursor.
    pub fn list_all(
        &self,
        status: Option<&str>,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Page<Job>> {
        let status = status.map(str::parse::<JobStatus>).transpose()?;
        self.page(None, status, limit, cursor)
    }

    /// One page of jobs matching the filter; cursors are job ids.
    fn page(
        &self,
        user_id: Option<String>,
        status: Option<JobStatus>,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Page<Job>> {
        let limit = check_limit(limit)?;
        if let Some(c) = cursor
            && !crate::ids::is_valid("job", c)
        {
            return Err(Error::invalid(
                "/cursor",
                "not a cursor returned by this endpoint",
            ));
        }
        let filter = JobFilter {
            user_id,
            status,
            cursor: cursor.map(str::to_string),
            limit: limit + 1,
        };
        Ok(paginate(self.store.list(&filter)?, limit, |j| j.id.clone()))
    }

    /// Cancels a waiting job.
    ///
    /// # Errors
    /// Not found (unknown or not the principal's), or conflict when running or finished.
    pub fn cancel(&self, who: &Principal, id: &str) -> Result<Job> {
        self.get(who, id)?;
        match self.store.cancel(id, self.clock.now_ms())? {
            CancelOutcome::Cancelled => self.store.get(id)?.ok_or(Error::NotFound("job")),
            CancelOutcome::NotFound => Err(Error::NotFound("job")),
            CancelOutcome::NotCancellable => {
                let status = self
                    .store
                    .get(id)?
                    .map(|j| j.status.as_str())
                    .unwrap_or("gone");
                Err(Error::Conflict(format!(
                    "job is {status}; only queued jobs can be cancelled"
                )))
            }
        }
    }

    /// Queue counts for operators.
    ///
    /// # Errors
    /// Storage errors.
    pub fn health(&self) -> Result<QueueCounts> {
        self.store
            .counts(self.clock.now_ms(), self.settings.lease_ms)
    }

    /// Dead jobs (the dead-letter queue), newest first.
    ///
    /// # Errors
    /// Validation errors for a bad limit or cursor; storage errors.
    pub fn dead_letters(&self, limit: Option<i64>, cursor: Option<&str>) -> Result<Page<Job>> {
        self.page(None, Some(JobStatus::Dead), limit, cursor)
    }

    /// Requeues dead jobs (all when `ids` is `None`) with attempts reset.
    ///
    /// # Errors
    /// Storage errors.
    pub fn retry_dead(&self, ids: Option<&[String]>) -> Result<usize> {
        let n = self.store.retry_dead(ids, self.clock.now_ms())?;
        self.notifier.notify();
        Ok(n)
    }
}

/// Cuts a `limit + 1` fetch into a page and its next cursor.
pub fn paginate<T>(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(key)
    } else {
        None
    };
    Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intake_defaults_and_errors() {
        let r = IntakeRequest::from_json(&json!({"kind": "echo"}), None).unwrap();
        assert_eq!((r.priority, r.max_attempts), (5, 3));
        assert_eq!(r.payload, json!({}));
        let e = IntakeRequest::from_json(
            &json!({"kind": 3, "priority": 10, "max_attempts": 0, "run_at": "soon", "bogus": 1}),
            None,
        )
        .unwrap_err();
        let paths: Vec<_> = e.details().iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/kind", "/priority", "/run_at", "/max_attempts", "/bogus"]
        );
        let r = IntakeRequest::from_json(&json!({"kind": "echo"}), Some("k1")).unwrap();
        assert_eq!(r.idempotency_key.as_deref(), Some("k1"));
        assert!(IntakeRequest::from_json(&json!({"payload": [1]}), None).is_err());
    }
}
