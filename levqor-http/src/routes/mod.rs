//! The route table: every endpoint, its access rule and whether it takes a
//! JSON body. Handlers live in one file per area.

use crate::router::{Access, Route};

mod admin;
mod auth;
mod jobs;
mod ops;
mod pipelines;
mod users;

const fn route(
    method: &'static str,
    pattern: &'static str,
    access: Access,
    json_body: bool,
    handler: crate::router::Handler,
) -> Route {
    Route {
        method,
        pattern,
        access,
        json_body,
        handler,
    }
}

/// Every route the server answers.
pub fn table() -> Vec<Route> {
    use Access::*;
    vec![
        route("GET", "/health", Public, false, ops::health),
        route("GET", "/ready", Public, false, ops::ready),
        route("GET", "/ops/uptime", Public, false, ops::uptime),
        route("GET", "/ops/queue_health", Admin, false, ops::queue_health),
        route("GET", "/ops/dlq", Admin, false, ops::dlq),
        route("POST", "/ops/dlq/retry", Admin, true, ops::dlq_retry),
        route("GET", "/metrics", AdminOrLoopback, false, ops::metrics),
        route("POST", "/api/v1/intake", User, true, jobs::intake),
        route("GET", "/api/v1/jobs", User, false, jobs::list),
        route("GET", "/api/v1/jobs/{id}", User, false, jobs::get),
        route(
            "POST",
            "/api/v1/jobs/{id}/cancel",
            User,
            false,
            jobs::cancel,
        ),
        route("POST", "/api/v1/signup", Public, true, users::signup),
        route("POST", "/api/v1/users", Admin, true, users::upsert),
        route("GET", "/api/v1/users", Admin, false, users::lookup),
        route("GET", "/api/v1/users/{id}", Admin, false, users::get),
        route("PATCH", "/api/v1/users/{id}", Admin, true, users::patch),
        route("GET", "/api/v1/me", User, false, users::me),
        route("PATCH", "/api/v1/me", User, true, users::patch_me),
        route("DELETE", "/api/v1/me", User, false, users::erase),
        route("GET", "/api/v1/me/export", User, false, users::export),
        route("POST", "/api/v1/auth/token", User, true, auth::token),
        route("POST", "/api/v1/auth/refresh", Public, true, auth::refresh),
        route("POST", "/api/v1/auth/revoke", User, true, auth::revoke),
        route("GET", "/api/v1/admin/audit", Admin, false, admin::audit),
        route("GET", "/api/v1/admin/flags", Admin, false, admin::flags),
        route("PUT", "/api/v1/admin/flags", Admin, true, admin::set_flag),
        route(
            "POST",
            "/api/v1/admin/flags/rollback",
            Admin,
            false,
            admin::rollback_flag,
        ),
        route("POST", "/api/v1/plan", User, true, pipelines::plan),
        route("POST", "/api/v1/pipelines", User, true, pipelines::create),
        route("GET", "/api/v1/pipelines", User, false, pipelines::list),
        route("GET", "/api/v1/pipelines/{id}", User, false, pipelines::get),
        route("POST", "/api/v1/run", User, true, pipelines::run),
        route("GET", "/api/v1/runs/{id}", User, false, pipelines::get_run),
    ]
}
