//! The one place where a core error becomes an HTTP status and the
//! contract's error body.

use levqor_core::{Error, ErrorKind};
use serde_json::json;

use crate::http::Resp;

/// The status code of an error kind.
pub fn status_of(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::InvalidJson => 400,
        ErrorKind::Unauthorized => 401,
        ErrorKind::InsufficientCredits => 402,
        ErrorKind::Forbidden => 403,
        ErrorKind::NotFound => 404,
        ErrorKind::Conflict => 409,
        ErrorKind::Validation => 422,
        ErrorKind::RateLimited => 429,
        ErrorKind::Unavailable => 503,
        _ => 500,
    }
}

/// An error body with an explicit code (for errors the server raises itself:
/// 404 route, 405, 413, 415).
pub fn error_body(status: u16, code: &str, message: &str, request_id: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message, "request_id": request_id}}),
    )
}

/// The response for a core error.
pub fn error_response(err: &Error, request_id: &str) -> Resp {
    let kind = err.kind();
    let status = status_of(kind);
    if status == 500 || status == 503 {
        eprintln!(
            "{{\"level\":\"error\",\"request_id\":\"{request_id}\",\"error\":{}}}",
            json!(err.to_string())
        );
    }
    let code = if status == 500 {
        "internal"
    } else {
        kind.code()
    };
    let mut body = json!({"error": {
        "code": code,
        "message": err.public_message(),
        "request_id": request_id,
    }});
    if !err.details().is_empty() {
        body["error"]["details"] = json!(err.details());
    }
    let mut resp = Resp::json(status, &body);
    if let Error::RateLimited { retry_after_s } = err {
        resp = resp.with_header("Retry-After", retry_after_s.max(&1).to_string());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_carry_details_and_internals_stay_hidden() {
        let r = error_response(&Error::invalid("/kind", "is required"), "rid");
        assert_eq!(r.status, 422);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["code"], "validation_failed");
        assert_eq!(v["error"]["details"][0]["path"], "/kind");
        assert_eq!(v["error"]["request_id"], "rid");
        let r = error_response(&Error::Internal("secret table xyz".into()), "rid");
        assert_eq!(r.status, 500);
        assert!(!String::from_utf8(r.body).unwrap().contains("xyz"));
    }
}
