//! `/api/v1/intake` and `/api/v1/jobs`.

use levqor_core::Result;
use levqor_core::queue::IntakeRequest;
use serde_json::{Value, json};

use crate::http::{Req, Resp};
use crate::server::Ctx;

/// POST /api/v1/intake
pub fn intake(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let who = req.principal()?;
    let body = req.json()?;
    let intake = IntakeRequest::from_json(&body, req.header("idempotency-key"))?;
    let out = ctx.levqor.queue.submit(&who.user_id, intake)?;
    let status = if out.created { 202 } else { 200 };
    Ok(Resp::json(
        status,
        &json!({"job_id": out.job_id, "status": out.status.as_str()}),
    ))
}

/// GET /api/v1/jobs
pub fn list(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let page = ctx.levqor.queue.list(
        req.principal()?,
        req.query("status"),
        req.query_int("limit")?,
        req.query("cursor"),
    )?;
    let jobs: Vec<Value> = page.items.iter().map(|j| j.to_json()).collect();
    Ok(Resp::ok(
        &json!({"jobs": jobs, "next_cursor": page.next_cursor}),
    ))
}

/// GET /api/v1/jobs/{id}
pub fn get(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let job = ctx.levqor.queue.get(req.principal()?, req.param("id"))?;
    Ok(Resp::ok(&job.to_json()))
}

/// POST /api/v1/jobs/{id}/cancel
pub fn cancel(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let job = ctx.levqor.queue.cancel(req.principal()?, req.param("id"))?;
    Ok(Resp::ok(&job.to_json()))
}
