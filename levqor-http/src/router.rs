//! The explicit route table and its matcher. Unknown paths are 404; a known
//! path with another method is 405 with `Allow`.

use levqor_core::Result;

use crate::http::{Req, Resp};
use crate::server::Ctx;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// Any authenticated user.
    User,
    /// Admins only.
    Admin,
    /// Admins, or anyone connecting from loopback (metrics scrapers).
    AdminOrLoopback,
}

/// A handler: plain function from context and request to response.
pub type Handler = fn(&Ctx, &Req) -> Result<Resp>;

/// One row of the route table.
#[derive(Clone, Copy)]
pub struct Route {
    /// Method.
    pub method: &'static str,
    /// Pattern with `{name}` segments, also the metrics label.
    pub pattern: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Whether it takes a JSON body (content type checked, 415 otherwise).
    pub json_body: bool,
    /// The handler.
    pub handler: Handler,
}

/// Result of matching a path.
pub enum Match<'r> {
    /// A route and its captured parameters.
    Found(&'r Route, Vec<(&'static str, String)>),
    /// Path known, method not: the allowed methods.
    MethodNotAllowed(Vec<&'static str>),
    /// Nothing matches.
    NotFound,
}

fn capture(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut p = pattern.split('/');
    let mut s = path.split('/');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return Some(params),
            (Some(pp), Some(ss)) => {
                if let Some(name) = pp.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                    if ss.is_empty() {
                        return None;
                    }
                    params.push((name, ss.to_string()));
                } else if pp != ss {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Finds the route for a method and path.
pub fn find<'r>(routes: &'r [Route], method: &str, path: &str) -> Match<'r> {
    let mut allowed = Vec::new();
    for r in routes {
        if let Some(params) = capture(r.pattern, path) {
            if r.method == method || (method == "HEAD" && r.method == "GET") {
                return Match::Found(r, params);
            }
            if !allowed.contains(&r.method) {
                allowed.push(r.method);
            }
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::MethodNotAllowed(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(_: &Ctx, _: &Req) -> Result<Resp> {
        Ok(Resp::ok(&serde_json::json!({})))
    }

    const ROUTES: &[Route] = &[
        Route {
            method: "GET",
            pattern: "/api/v1/jobs/{id}",
            access: Access::User,
            json_body: false,
            handler: h,
        },
        Route {
            method: "POST",
            pattern: "/api/v1/jobs/{id}/cancel",
            access: Access::User,
            json_body: false,
            handler: h,
        },
    ];

    #[test]
    fn matches_captures_and_405s() {
        match find(ROUTES, "GET", "/api/v1/jobs/job_1") {
            Match::Found(r, p) => {
                assert_eq!(r.pattern, "/api/v1/jobs/{id}");
                assert_eq!(p, vec![("id", "job_1".to_string())]);
            }
            _ => panic!("no match"),
        }
        assert!(
            matches!(find(ROUTES, "DELETE", "/api/v1/jobs/x"), Match::MethodNotAllowed(m) if m == ["GET"])
        );
        assert!(matches!(
            find(ROUTES, "GET", "/api/v1/jobs/"),
            Match::NotFound
        ));
        assert!(matches!(
            find(ROUTES, "GET", "/api/v1/jobs/a/b"),
            Match::NotFound
        ));
    }
}
