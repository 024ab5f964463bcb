//! The route table: every endpoint, its access rule and whether it takes a
//! JSON body. Handlers live in one file per area.

use crate::router::{Access, Route};

mod jobs;
mod ops;
mod pipelines;

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
        route("POST", "/api/v1/plan", User, true, pipelines::plan),
        route("POST", "/api/v1/pipelines", User, true, pipelines::create),
        route("GET", "/api/v1/pipelines", User, false, pipelines::list),
        route("GET", "/api/v1/pipelines/{id}", User, false, pipelines::get),
        route("POST", "/api/v1/run", User, true, pipelines::run),
        route("GET", "/api/v1/runs/{id}", User, false, pipelines::get_run),
    ]
}
