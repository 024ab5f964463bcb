//! `/api/v1/signup`, `/api/v1/users`, `/api/v1/me`: thin mappings onto the
//! users service of levqor-core.

use levqor_core::Result;
use serde_json::{Value, json};

use crate::http::{Req, Resp};
use crate::server::Ctx;

/// POST /api/v1/signup (public; rate limited per IP and device)
pub fn signup(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let body = req.json()?;
    let ip = req.remote_ip.map(|i| i.to_string()).unwrap_or_default();
    let decision = ctx.levqor.signup_rate_check(&ip, Some(&body));
    decision.check()?;
    let out = ctx.levqor.signup(&body)?;
    Ok(Resp::json(201, &out.to_json()))
}

/// POST /api/v1/users (admin): upsert by email
pub fn upsert(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let (user, created) = ctx.levqor.upsert_user(req.principal()?, &req.json()?)?;
    Ok(Resp::json(if created { 201 } else { 200 }, &user.to_json()))
}

/// GET /api/v1/users?email=E (admin); without `email`, a page of users
pub fn lookup(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let who = req.principal()?;
    if let Some(email) = req.query("email") {
        return Ok(Resp::ok(&ctx.levqor.find_user(who, email)?.to_json()));
    }
    let page = ctx
        .levqor
        .list_users(who, req.query_int("limit")?, req.query("cursor"))?;
    let users: Vec<Value> = page.items.iter().map(|u| u.to_json()).collect();
    Ok(Resp::ok(
        &json!({"users": users, "next_cursor": page.next_cursor}),
    ))
}

/// GET /api/v1/users/{id} (admin)
pub fn get(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let user = ctx.levqor.user_by_id(req.principal()?, req.param("id"))?;
    Ok(Resp::ok(&user.to_json()))
}

/// PATCH /api/v1/users/{id} (admin)
pub fn patch(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let user = ctx
        .levqor
        .patch_user(req.principal()?, req.param("id"), &req.json()?)?;
    Ok(Resp::ok(&user.to_json()))
}

/// GET /api/v1/me
pub fn me(ctx: &Ctx, req: &Req) -> Result<Resp> {
    Ok(Resp::ok(&ctx.levqor.me(req.principal()?)?.to_json()))
}

/// PATCH /api/v1/me
pub fn patch_me(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let user = ctx.levqor.patch_me(req.principal()?, &req.json()?)?;
    Ok(Resp::ok(&user.to_json()))
}

/// GET /api/v1/me/export
pub fn export(ctx: &Ctx, req: &Req) -> Result<Resp> {
    Ok(Resp::ok(&ctx.levqor.export_me(req.principal()?)?))
}

/// DELETE /api/v1/me
pub fn erase(ctx: &Ctx, req: &Req) -> Result<Resp> {
    Ok(Resp::ok(&ctx.levqor.erase_me(req.principal()?)?))
}
