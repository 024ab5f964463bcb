//! Request and response types the handlers see: plain data, no sockets, so
//! handlers can be tested with fake requests.

use std::net::IpAddr;

use levqor_core::auth::Principal;
use levqor_core::{Error, Result};
use serde_json::Value;

/// A parsed request after routing and authentication.
#[derive(Debug, Clone)]
pub struct Req {
    /// Upper-case method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
    /// Path parameters captured by the route pattern (`{id}`).
    pub params: Vec<(&'static str, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes (already size-checked).
    pub body: Vec<u8>,
    /// The authenticated caller, for routes that require one.
    pub principal: Option<Principal>,
    /// The request id echoed in `X-Request-Id`.
    pub request_id: String,
    /// The peer address.
    pub remote_ip: Option<IpAddr>,
}

impl Req {
    /// A header value by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A path parameter.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// A query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An integer query parameter; a non-integer is a 422 at `/name`.
    ///
    /// # Errors
    /// Validation error naming the parameter.
    pub fn query_int(&self, name: &str) -> Result<Option<i64>> {
        match self.query(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| Error::invalid(format!("/{name}"), "must be an integer")),
        }
    }

    /// The caller; routes marked as authenticated always have one.
    ///
    /// # Errors
    /// Unauthorized if the route table let an anonymous request through.
    pub fn principal(&self) -> Result<&Principal> {
        self.principal
            .as_ref()
            .ok_or_else(|| Error::Unauthorized("authentication required".into()))
    }

    /// The body parsed as JSON (content type already checked).
    ///
    /// # Errors
    /// 400 `invalid_json` for malformed JSON.
    pub fn json(&self) -> Result<Value> {
        levqor_core::json::parse_body(&self.body)
    }
}

/// A response before the server adds the common headers.
#[derive(Debug, Clone)]
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// A JSON response.
    pub fn json(status: u16, value: &Value) -> Resp {
        Resp {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// 200 with a JSON body.
    pub fn ok(value: &Value) -> Resp {
        Resp::json(200, value)
    }

    /// A plain-text response.
    pub fn text(status: u16, content_type: &'static str, body: String) -> Resp {
        Resp {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}
