//! Health, readiness, uptime, queue health, the dead-letter queue, metrics.

use levqor_core::json::Fields;
use levqor_core::{Error, Result};
use serde_json::{Value, json};

use crate::http::{Req, Resp};
use crate::server::Ctx;

/// GET /health
pub fn health(_: &Ctx, _: &Req) -> Result<Resp> {
    Ok(Resp::ok(&json!({"status": "ok"})))
}

/// GET /ready
pub fn ready(ctx: &Ctx, _: &Req) -> Result<Resp> {
    if ctx.levqor.ready() {
        Ok(Resp::ok(&json!({"status": "ready"})))
    } else {
        Err(Error::Unavailable("storage does not answer".into()))
    }
}

/// GET /ops/uptime
pub fn uptime(ctx: &Ctx, _: &Req) -> Result<Resp> {
    let l = &ctx.levqor;
    let up = ((l.clock.now_ms() - l.started_at) / 1000).max(0);
    Ok(Resp::ok(&json!({
        "started_at": levqor_core::clock::rfc3339(l.started_at),
        "uptime_s": up,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

/// GET /ops/queue_health
pub fn queue_health(ctx: &Ctx, _: &Req) -> Result<Resp> {
    let c = ctx.levqor.queue.health()?;
    Ok(Resp::ok(&json!({
        "queued": c.queued,
        "running": c.running,
        "failed": c.failed,
        "dead": c.dead,
        "succeeded": c.succeeded,
        "cancelled": c.cancelled,
        "oldest_queued_age_s": c.oldest_queued_age_s,
        "workers": c.workers,
    })))
}

/// GET /ops/dlq
pub fn dlq(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let page = ctx
        .levqor
        .queue
        .dead_letters(req.query_int("limit")?, req.query("cursor"))?;
    let jobs: Vec<Value> = page.items.iter().map(|j| j.to_json()).collect();
    Ok(Resp::ok(
        &json!({"jobs": jobs, "next_cursor": page.next_cursor}),
    ))
}

/// POST /ops/dlq/retry
pub fn dlq_retry(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let body = if req.body.is_empty() {
        json!({})
    } else {
        req.json()?
    };
    let mut f = Fields::body(&body)?;
    let ids = match f.value("job_ids", false) {
        None => None,
        Some(Value::Array(items)) if items.len() <= 10_000 => {
            let mut ids = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                match v.as_str() {
                    Some(s) => ids.push(s.to_string()),
                    None => f.push(levqor_core::FieldError::new(
                        format!("/job_ids/{i}"),
                        "must be a string",
                    )),
                }
            }
            Some(ids)
        }
        Some(_) => {
            f.error("job_ids", "must be an array of at most 10000 job ids");
            None
        }
    };
    f.finish()?;
    let n = ctx.levqor.queue.retry_dead(ids.as_deref())?;
    Ok(Resp::ok(&json!({"requeued": n})))
}

/// GET /metrics
pub fn metrics(ctx: &Ctx, _: &Req) -> Result<Resp> {
    let counts = ctx.levqor.queue.health().ok();
    let mut out = String::with_capacity(8192);
    ctx.levqor.metrics.render(counts.as_ref(), &mut out);
    ctx.levqor.connector_metrics.render_prometheus(&mut out);
    Ok(Resp::text(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        out,
    ))
}
