//! `/api/v1/plan`, `/api/v1/pipelines`, `/api/v1/run`, `/api/v1/runs`.

use levqor_core::Result;
use levqor_core::pipeline::RunOutcome;
use serde_json::{Value, json};

use crate::http::{Req, Resp};
use crate::server::Ctx;

/// POST /api/v1/plan
pub fn plan(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let out = ctx.levqor.pipelines.plan(req.principal()?, &req.json()?)?;
    Ok(Resp::json(201, &out.to_json()))
}

/// POST /api/v1/pipelines
pub fn create(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let p = ctx
        .levqor
        .pipelines
        .create_pipeline(req.principal()?, &req.json()?)?;
    Ok(Resp::json(201, &p.to_json()))
}

/// GET /api/v1/pipelines
pub fn list(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let page = ctx.levqor.pipelines.list_pipelines(
        req.principal()?,
        req.query_int("limit")?,
        req.query("cursor"),
    )?;
    let items: Vec<Value> = page.items.iter().map(|p| p.to_json()).collect();
    Ok(Resp::ok(
        &json!({"pipelines": items, "next_cursor": page.next_cursor}),
    ))
}

/// GET /api/v1/pipelines/{id}
pub fn get(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let p = ctx
        .levqor
        .pipelines
        .get_pipeline(req.principal()?, req.param("id"))?;
    Ok(Resp::ok(&p.to_json()))
}

/// POST /api/v1/run
pub fn run(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let out = ctx.levqor.pipelines.run(req.principal()?, &req.json()?)?;
    let status = match out {
        RunOutcome::Finished(_) => 200,
        RunOutcome::Queued { .. } => 202,
    };
    Ok(Resp::json(status, &out.to_json()))
}

/// GET /api/v1/runs/{id}
pub fn get_run(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let run = ctx
        .levqor
        .pipelines
        .get_run(req.principal()?, req.param("id"))?;
    Ok(Resp::ok(&run.to_json()))
}
