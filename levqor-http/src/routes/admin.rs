//! `/api/v1/admin/audit` and `/api/v1/admin/flags`.

use levqor_core::Result;
use levqor_core::audit::AuditQuery;
use serde_json::{Value, json};

use crate::http::{Req, Resp};
use crate::server::Ctx;

/// GET /api/v1/admin/audit?limit=&cursor=&subject_id=&action=
pub fn audit(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let q = AuditQuery {
        limit: req.query_int("limit")?,
        cursor: req.query("cursor").map(str::to_string),
        subject_id: req.query("subject_id").map(str::to_string),
        action: req.query("action").map(str::to_string),
    };
    let page = ctx.levqor.list_audit(req.principal()?, &q)?;
    let events: Vec<Value> = page.items.iter().map(|e| e.to_json()).collect();
    Ok(Resp::ok(
        &json!({"events": events, "next_cursor": page.next_cursor}),
    ))
}

/// GET /api/v1/admin/flags
pub fn flags(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let flags: Vec<Value> = ctx
        .levqor
        .list_flags(req.principal()?)?
        .into_iter()
        .map(|(name, state)| {
            let mut v = state.to_json();
            v["name"] = json!(name);
            v
        })
        .collect();
    Ok(Resp::ok(&json!({"flags": flags})))
}

/// PUT /api/v1/admin/flags: body `{"name","enabled"?,"rollout_pct"?,"overrides"?}`
pub fn set_flag(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let change = ctx.levqor.set_flag(req.principal()?, &req.json()?)?;
    Ok(Resp::ok(&change.to_json()))
}

/// POST /api/v1/admin/flags/rollback: undo the newest flag change
pub fn rollback_flag(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let undone = ctx.levqor.rollback_flag_change(Some(req.principal()?))?;
    Ok(Resp::ok(
        &json!({"rolled_back": undone.as_ref().map(|c| c.to_json())}),
    ))
}
