//! `notion`: creates a page in a database (`POST /v1/pages`), with the text of
//! `content` as paragraph blocks. Notion takes at most 100 children per
//! request, so further blocks are appended with
//! `PATCH /v1/blocks/{page_id}/children`, 100 at a time.
//!
//! Every request carries `Notion-Version: 2022-06-28`. Notion has no
//! idempotency key: the context's key is not sent, and a retry after a
//! failure past page creation may create a second page (the error says so).

use serde_json::{Map, Value, json};

use super::http_client::{HttpClient, Reply, ReqBody, encode_component, str_at};
use super::params::Params;
use super::settings::{ConnectorSettings, Secret};
use super::{Connector, ConnectorError, ConnectorErrorKind, ParamSpec, ParamType, TaskContext};

/// The Notion API version this connector speaks.
pub const NOTION_VERSION: &str = "2022-06-28";
/// Most children Notion accepts in one request.
pub const MAX_CHILDREN: usize = 100;
/// Most characters in one rich-text object.
const MAX_TEXT: usize = 2000;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::required("database_id", ParamType::String, "Parent database id"),
    ParamSpec::required("title", ParamType::String, "Page title"),
    ParamSpec::optional(
        "properties",
        ParamType::Object,
        "More page properties, Notion's shape",
    ),
    ParamSpec::optional(
        "content",
        ParamType::Any,
        "Text (or array of texts): one paragraph per line",
    ),
    ParamSpec::optional(
        "title_property",
        ParamType::String,
        "Name of the title property (Name)",
    ),
];

/// The Notion connector.
#[derive(Debug, Clone)]
pub struct Notion {
    token: Option<Secret>,
    base_url: String,
    client: HttpClient,
}

impl Notion {
    /// Builds it from settings (`LEVQOR_NOTION_TOKEN`, `LEVQOR_NOTION_BASE_URL`).
    pub fn new(settings: &ConnectorSettings) -> Self {
        let token = settings.notion_token.clone();
        let client = HttpClient::new("notion", settings.limits).scrub_secret(token.as_ref());
        Notion {
            token,
            base_url: settings.notion_base_url.clone(),
            client,
        }
    }

    fn call(
        &self,
        ctx: &TaskContext,
        token: &Secret,
        method: &str,
        path: &str,
        body: Value,
    ) -> Result<Value, ConnectorError> {
        let headers = [
            (
                "authorization".to_string(),
                format!("Bearer {}", token.expose()),
            ),
            ("notion-version".to_string(), NOTION_VERSION.to_string()),
        ];
        let url = format!("{}{}", self.base_url, path);
        let reply = self
            .client
            .send(ctx, method, &url, &headers, ReqBody::Json(body))?;
        if !reply.is_success() {
            return Err(self.error(&reply));
        }
        self.client.json(&reply)
    }

    fn error(&self, reply: &Reply) -> ConnectorError {
        let v = serde_json::from_slice::<Value>(&reply.body).ok();
        let code = v.as_ref().and_then(|v| str_at(v, "/code")).unwrap_or("");
        let msg = v.as_ref().and_then(|v| str_at(v, "/message")).unwrap_or("");
        let detail = if code.is_empty() {
            String::new()
        } else {
            format!("{code}: {msg}")
        };
        self.client.status_error(reply, &detail, None)
    }
}

/// Splits `content` into Notion paragraph blocks: one per non-empty line,
/// lines longer than 2000 characters split further.
pub fn paragraphs(content: &Value) -> Option<Vec<Value>> {
    let texts: Vec<&str> = match content {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().map(Value::as_str).collect::<Option<_>>()?,
        _ => return None,
    };
    let mut blocks = Vec::new();
    for line in texts
        .iter()
        .flat_map(|t| t.lines())
        .filter(|l| !l.trim().is_empty())
    {
        let chars: Vec<char> = line.chars().collect();
        for chunk in chars.chunks(MAX_TEXT) {
            let text: String = chunk.iter().collect();
            blocks.push(json!({
                "object": "block",
                "type": "paragraph",
                "paragraph": {"rich_text": [{"type": "text", "text": {"content": text}}]}
            }));
        }
    }
    Some(blocks)
}

impl Connector for Notion {
    fn name(&self) -> &str {
        "notion"
    }

    fn params(&self) -> &[ParamSpec] {
        PARAMS
    }

    fn run_task(&self, ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        let p = Params::new("notion", PARAMS, params)?;
        let Some(token) = &self.token else {
            return Err(self.client.err(
                ConnectorErrorKind::NotConfigured {
                    setting: "LEVQOR_NOTION_TOKEN".into(),
                },
                "not configured: set LEVQOR_NOTION_TOKEN",
            ));
        };
        let title_prop = p.opt_str("title_property").unwrap_or("Name");
        let mut properties: Map<String, Value> = p
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        properties.insert(
            title_prop.to_string(),
            json!({"title": [{"type": "text", "text": {"content": p.str("title")?}}]}),
        );
        let blocks = paragraphs(p.get("content").unwrap_or(&Value::Null))
            .ok_or_else(|| p.invalid("param `content` must be a string or an array of strings"))?;
        let mut chunks = blocks.chunks(MAX_CHILDREN);
        let mut body = json!({
            "parent": {"database_id": p.str("database_id")?},
            "properties": properties,
        });
        if let Some(first) = chunks.next() {
            body["children"] = Value::Array(first.to_vec());
        }
        let page = self.call(ctx, token, "POST", "/v1/pages", body)?;
        let (Some(id), Some(url)) = (str_at(&page, "/id"), str_at(&page, "/url")) else {
            return Err(self.client.err(
                ConnectorErrorKind::BadResponse,
                "answer lacks `id` or `url`",
            ));
        };
        if str_at(&page, "/object") != Some("page") {
            return Err(self
                .client
                .err(ConnectorErrorKind::BadResponse, "answer is not a page"));
        }
        let path = format!("/v1/blocks/{}/children", encode_component(id));
        for chunk in chunks {
            let body = json!({"children": chunk});
            self.call(ctx, token, "PATCH", &path, body).map_err(|e| {
                let msg = format!("page {id} created, appending content failed: {}", e.message);
                self.client.err(e.kind.clone(), msg)
            })?;
        }
        Ok(json!({"id": id, "url": url}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_content_into_paragraphs() {
        let b = paragraphs(&json!("one\n\ntwo\n")).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[1]["paragraph"]["rich_text"][0]["text"]["content"], "two");
        let long = "x".repeat(4500);
        assert_eq!(paragraphs(&json!([long, "y"])).unwrap().len(), 4);
        assert!(paragraphs(&json!(5)).is_none());
        assert!(paragraphs(&Value::Null).unwrap().is_empty());
    }
}
