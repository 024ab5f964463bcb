//! Templates in step params: `{{input.a.b}}` and `{{steps.ID.output.x}}`.
//!
//! Params are compiled once into a [`Node`] tree: subtrees without any
//! template stay literal and are never re-walked, so rendering costs only
//! what the templates need. A string that is exactly one template keeps the
//! referenced JSON type; any other string is interpolated as text (strings
//! as-is, objects and arrays as JSON text). Path segments that are digits
//! index arrays. A reference with no value fails with a [`RenderError`]
//! naming it.

use std::fmt::Write as _;

use serde_json::Value;

/// Where a reference starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// The run's input.
    Input,
    /// The output of the step with this id.
    Step(String),
}

/// One `{{...}}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Start of the path.
    pub root: Root,
    /// Members (or array indexes) below the root.
    pub path: Vec<String>,
    /// The reference as written, without braces (for messages).
    pub text: String,
}

/// A piece of an interpolated string.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Literal text.
    Lit(String),
    /// A reference rendered as text.
    Ref(Reference),
}

/// Compiled params.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A subtree without templates.
    Lit(Value),
    /// A string that is exactly one reference: keeps the value's JSON type.
    Whole(Reference),
    /// A string mixing text and references.
    Interp(Vec<Piece>),
    /// An object with at least one template below it.
    Object(Vec<(String, Node)>),
    /// An array with at least one template below it.
    Array(Vec<Node>),
}

/// Resolves the roots of references while rendering.
pub trait Scope {
    /// The run's input.
    fn input(&self) -> &Value;
    /// The output of an earlier step, if it has one.
    fn step_output(&self, id: &str) -> Option<&Value>;
}

/// A reference that had no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template `{{{{{reference}}}}}` has no value: {reason}")]
pub struct RenderError {
    /// The reference as written.
    pub reference: String,
    /// What was missing.
    pub reason: String,
}

/// Whether a string holds a template opening.
#[inline]
pub fn has_template(s: &str) -> bool {
    s.contains("{{")
}

fn parse_ref(inner: &str) -> Result<Reference, String> {
    let text = inner.trim();
    let mut parts = text.split('.');
    let root = match parts.next() {
        Some("input") => Root::Input,
        Some("steps") => {
            let id = parts.next().filter(|s| !s.is_empty()).ok_or_else(|| {
                format!("`{{{{{text}}}}}`: `steps` must be followed by a step id")
            })?;
            if parts.next() != Some("output") {
                return Err(format!("`{{{{{text}}}}}`: expected `steps.{id}.output...`"));
            }
            Root::Step(id.to_string())
        }
        _ => {
            return Err(format!(
                "`{{{{{text}}}}}`: a template must start with `input` or `steps`"
            ));
        }
    };
    let path: Vec<String> = parts.map(str::to_string).collect();
    if path.iter().any(String::is_empty) {
        return Err(format!("`{{{{{text}}}}}`: empty path segment"));
    }
    Ok(Reference {
        root,
        path,
        text: text.to_string(),
    })
}

/// Parses one string into pieces. Errors describe the bad template.
fn parse_str(s: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Lit(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| "unclosed `{{` in template".to_string())?;
        out.push(Piece::Ref(parse_ref(&after[..close])?));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Lit(rest.to_string()));
    }
    Ok(out)
}

/// Every reference in a string, for validation.
///
/// # Errors
/// A message describing a malformed template.
pub fn references(s: &str) -> Result<Vec<Reference>, String> {
    Ok(parse_str(s)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Ref(r) => Some(r),
            Piece::Lit(_) => None,
        })
        .collect())
}

/// Compiles params. `Ok(None)` means there is no template anywhere, so the
/// params can be handed to the connector as they are.
///
/// # Errors
/// A message describing the first malformed template.
pub fn compile(v: &Value) -> Result<Option<Node>, String> {
    match v {
        Value::String(s) if has_template(s) => {
            let mut pieces = parse_str(s)?;
            if pieces.len() == 1
                && let Some(Piece::Ref(r)) = pieces.pop()
            {
                return Ok(Some(Node::Whole(r)));
            }
            Ok(Some(Node::Interp(pieces)))
        }
        Value::Object(m) => {
            let mut any = false;
            let mut nodes = Vec::with_capacity(m.len());
            for (k, child) in m {
                match compile(child)? {
                    Some(n) => {
                        any = true;
                        nodes.push((k.clone(), n));
                    }
                    None => nodes.push((k.clone(), Node::Lit(child.clone()))),
                }
            }
            Ok(any.then_some(Node::Object(nodes)))
        }
        Value::Array(a) => {
            let mut any = false;
            let mut nodes = Vec::with_capacity(a.len());
            for child in a {
                match compile(child)? {
                    Some(n) => {
                        any = true;
                        nodes.push(n);
                    }
                    None => nodes.push(Node::Lit(child.clone())),
                }
            }
            Ok(any.then_some(Node::Array(nodes)))
        }
        _ => Ok(None),
    }
}

fn resolve<'s>(r: &Reference, scope: &'s dyn Scope) -> Result<&'s Value, RenderError> {
    let missing = |reason: String| RenderError {
        reference: r.text.clone(),
        reason,
    };
    let mut cur = match &r.root {
        Root::Input => scope.input(),
        Root::Step(id) => scope
            .step_output(id)
            .ok_or_else(|| missing(format!("step `{id}` has no output")))?,
    };
    for seg in &r.path {
        let next = match cur {
            Value::Object(m) => m.get(seg.as_str()),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        cur = next.ok_or_else(|| missing(format!("no member `{seg}`")))?;
    }
    Ok(cur)
}

/// Renders compiled params against a scope.
///
/// # Errors
/// [`RenderError`] for the first reference without a value.
pub fn render(node: &Node, scope: &dyn Scope) -> Result<Value, RenderError> {
    Ok(match node {
        Node::Lit(v) => v.clone(),
        Node::Whole(r) => resolve(r, scope)?.clone(),
        Node::Interp(pieces) => {
            let mut s = String::new();
            for p in pieces {
                match p {
                    Piece::Lit(t) => s.push_str(t),
                    Piece::Ref(r) => match resolve(r, scope)? {
                        Value::String(t) => s.push_str(t),
                        Value::Null => s.push_str("null"),
                        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
                        Value::Number(n) => {
                            let _ = write!(s, "{n}");
                        }
                        other => s.push_str(&other.to_string()),
                    },
                }
            }
            Value::String(s)
        }
        Node::Object(fields) => {
            let mut m = serde_json::Map::with_capacity(fields.len());
            for (k, n) in fields {
                m.insert(k.clone(), render(n, scope)?);
            }
            Value::Object(m)
        }
        Node::Array(items) => Value::Array(
            items
                .iter()
                .map(|n| render(n, scope))
                .collect::<Result<_, _>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct S(Value, Value);
    impl Scope for S {
        fn input(&self) -> &Value {
            &self.0
        }
        fn step_output(&self, id: &str) -> Option<&Value> {
            (id == "a").then_some(&self.1)
        }
    }

    fn r(v: Value) -> Result<Value, RenderError> {
        let s = S(
            json!({"lead": {"name": "Ana", "n": 3, "tags": ["x", "y"]}}),
            json!({"ts": 17}),
        );
        match compile(&v).unwrap() {
            Some(n) => render(&n, &s),
            None => Ok(v),
        }
    }

    #[test]
    fn whole_template_keeps_type_and_text_interpolates() {
        assert_eq!(r(json!("{{input.lead.n}}")).unwrap(), json!(3));
        assert_eq!(r(json!("{{ input.lead }}")).unwrap()["name"], "Ana");
        assert_eq!(
            r(json!("n={{input.lead.n}} {{input.lead.tags}}")).unwrap(),
            json!("n=3 [\"x\",\"y\"]")
        );
        assert_eq!(
            r(json!({"a": ["{{input.lead.tags.1}}", 1], "b": "k"})).unwrap(),
            json!({"a": ["y", 1], "b": "k"})
        );
        assert_eq!(
            r(json!("ts {{steps.a.output.ts}}")).unwrap(),
            json!("ts 17")
        );
    }

    #[test]
    fn missing_values_name_the_reference() {
        let e = r(json!("{{input.lead.email}}")).unwrap_err();
        assert_eq!(e.reference, "input.lead.email");
        assert!(e.to_string().contains("{{input.lead.email}}"), "{e}");
        assert!(r(json!("{{input.lead.tags.9}}")).is_err());
        assert!(r(json!("{{steps.zz.output}}")).is_err());
    }

    #[test]
    fn malformed_templates_are_refused_and_plain_values_untouched() {
        assert!(compile(&json!("{{input.a")).is_err());
        assert!(compile(&json!("{{env.HOME}}")).is_err());
        assert!(compile(&json!("{{steps.a.x}}")).is_err());
        assert!(compile(&json!("{{input..a}}")).is_err());
        assert_eq!(compile(&json!({"a": [1, "b"]})).unwrap(), None);
        let refs = references("{{input.x}} and {{steps.s1.output.y.0}}").unwrap();
        assert_eq!(refs[1].root, Root::Step("s1".into()));
        assert_eq!(refs[1].path, ["y", "0"]);
    }
}
