//! `/api/v1/auth/token`, `/refresh`, `/revoke`: thin mappings onto
//! `levqor_core::auth::session`.

use levqor_core::Result;

use crate::http::{Req, Resp};
use crate::server::Ctx;

/// POST /api/v1/auth/token (API key): a new token pair
pub fn token(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let pair = ctx.levqor.issue_tokens(req.principal()?, &req.json()?)?;
    Ok(Resp::ok(&pair.to_json()))
}

/// POST /api/v1/auth/refresh (public): rotate a refresh token
pub fn refresh(ctx: &Ctx, req: &Req) -> Result<Resp> {
    let pair = ctx.levqor.refresh_tokens(&req.json()?)?;
    Ok(Resp::ok(&pair.to_json()))
}

/// POST /api/v1/auth/revoke (bearer or key): revoke one of the caller's tokens
pub fn revoke(ctx: &Ctx, req: &Req) -> Result<Resp> {
    Ok(Resp::ok(
        &ctx.levqor.revoke_token(req.principal()?, &req.json()?)?,
    ))
}
