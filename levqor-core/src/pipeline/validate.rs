//! Validation of pipeline definitions: the schema of API.md, connectors
//! known to the registry with their required params, templates that only
//! look back (at `input` or earlier steps), size limits. Every problem is
//! reported with its JSON pointer (`/steps/2/params/text`).

use serde_json::Value;

use super::model::{PipelineDef, Step};
use super::template::{self, Root};
use crate::connectors::{ConnectorRegistry, ParamType};
use crate::error::{Error, FieldError, Result};
use crate::json::{Fields, pointer_escape};

/// Size limits of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most steps (`LEVQOR_MAX_STEPS`, default 50).
    pub max_steps: usize,
    /// Largest serialized `params` of one step (`LEVQOR_MAX_PARAMS_BYTES`, default 65536).
    pub max_params_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 50,
            max_params_bytes: 64 * 1024,
        }
    }
}

/// Highest `max_attempts` of a step.
pub const MAX_STEP_ATTEMPTS: i64 = 10;
/// Highest `timeout_ms` of a step (one hour).
pub const MAX_STEP_TIMEOUT_MS: i64 = 3_600_000;

fn valid_step_id(id: &str) -> bool {
    id.len() <= 64
        && !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Validates a pipeline body (`{"name","steps"}`) found at pointer `base`
/// (`""` for a request body, `"/pipeline"` when nested).
///
/// # Errors
/// [`Error::InvalidJson`] when a top-level body is not an object;
/// [`Error::Validation`] listing every problem.
pub fn parse_pipeline(
    v: &Value,
    base: &str,
    limits: &Limits,
    connectors: &ConnectorRegistry,
) -> Result<PipelineDef> {
    if base.is_empty() && !v.is_object() {
        return Err(Error::InvalidJson(
            "request body must be a JSON object".into(),
        ));
    }
    let (def, errors) = check_pipeline(v, base, limits, connectors);
    match def {
        Some(def) if errors.is_empty() => Ok(def),
        _ => Err(Error::Validation(errors)),
    }
}

/// Like [`parse_pipeline`] but returns the problems (planners retry with them).
pub fn check_pipeline(
    v: &Value,
    base: &str,
    limits: &Limits,
    connectors: &ConnectorRegistry,
) -> (Option<PipelineDef>, Vec<FieldError>) {
    let mut f = match Fields::nested(v, base) {
        Ok(f) => f,
        Err(e) => return (None, vec![e]),
    };
    let name = f.string("name", true, 200);
    let steps_v = f.value("steps", true);
    let mut steps = Vec::new();
    let steps_path = f.path("steps");
    match steps_v {
        None => {}
        Some(Value::Array(items)) if items.is_empty() => {
            f.error("steps", "must have at least 1 step")
        }
        Some(Value::Array(items)) if items.len() > limits.max_steps => f.error(
            "steps",
            format!("must have at most {} steps", limits.max_steps),
        ),
        Some(Value::Array(items)) => {
            let mut seen: Vec<String> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let at = format!("{steps_path}/{i}");
                let (step, errs) = check_step(item, &at, &mut seen, limits, connectors);
                for e in errs {
                    f.push(e);
                }
                if let Some(s) = step {
                    steps.push(s);
                }
            }
        }
        Some(_) => f.error("steps", "must be an array of steps"),
    }
    let errors = f.finish_errors();
    match name {
        Some(name) if errors.is_empty() => (Some(PipelineDef { name, steps }), errors),
        _ => (None, errors),
    }
}

fn check_step(
    v: &Value,
    at: &str,
    earlier: &mut Vec<String>,
    limits: &Limits,
    connectors: &ConnectorRegistry,
) -> (Option<Step>, Vec<FieldError>) {
    let mut f = match Fields::nested(v, at) {
        Ok(f) => f,
        Err(e) => return (None, vec![e]),
    };
    let id = f.string("id", true, 64);
    if let Some(id) = &id {
        if !valid_step_id(id) {
            f.error("id", "may only hold letters, digits, `_` and `-`");
        } else if earlier.iter().any(|s| s == id) {
            f.error("id", format!("duplicate step id `{id}`"));
        }
    }
    let connector = f.string("connector", true, 100);
    let action = f.string("action", false, 100);
    let params = f.value("params", true);
    let max_attempts = f
        .int("max_attempts", false, 1, MAX_STEP_ATTEMPTS)
        .unwrap_or(1);
    let timeout_ms = f.int("timeout_ms", false, 1, MAX_STEP_TIMEOUT_MS);
    let params_path = f.path("params");
    let spec = connector.as_deref().and_then(|c| connectors.get(c));
    if let (Some(c), None) = (&connector, spec) {
        let known: Vec<&str> = connectors.names().collect();
        f.error(
            "connector",
            format!("unknown connector `{c}`; known: {}", known.join(", ")),
        );
    }
    match params {
        Some(Value::Object(m)) => {
            let size = serde_json::to_string(m)
                .map(|s| s.len())
                .unwrap_or(usize::MAX);
            if size > limits.max_params_bytes {
                f.error(
                    "params",
                    format!(
                        "must be at most {} bytes of JSON, got {size}",
                        limits.max_params_bytes
                    ),
                );
            }
            if let Some(c) = spec {
                for p in c.params() {
                    match m.get(p.name) {
                        None | Some(Value::Null) if p.required => f.push(FieldError::new(
                            format!("{params_path}/{}", pointer_escape(p.name)),
                            format!("is required by connector `{}`", c.name()),
                        )),
                        Some(val) if !type_ok(p.ty, val) => f.push(FieldError::new(
                            format!("{params_path}/{}", pointer_escape(p.name)),
                            format!("must be {}", type_name(p.ty)),
                        )),
                        _ => {}
                    }
                }
            }
            for (k, child) in m {
                let at = format!("{params_path}/{}", pointer_escape(k));
                check_templates(child, &at, earlier, &mut f);
            }
        }
        Some(_) => f.error("params", "must be an object"),
        None => {}
    }
    let errors = f.finish_errors();
    if let Some(id) = &id {
        earlier.push(id.clone());
    }
    match (id, connector, params) {
        (Some(id), Some(connector), Some(params)) if errors.is_empty() => (
            Some(Step {
                id,
                connector,
                action,
                params: params.clone(),
                max_attempts: max_attempts as u32,
                timeout_ms: timeout_ms.map(|t| t as u64),
            }),
            errors,
        ),
        _ => (None, errors),
    }
}

/// A literal value matches the type; template strings are checked at run time.
fn type_ok(ty: ParamType, v: &Value) -> bool {
    if let Value::String(s) = v
        && template::has_template(s)
    {
        return true;
    }
    match ty {
        ParamType::String => v.is_string(),
        ParamType::Integer => v.is_i64() || v.is_u64(),
        ParamType::StringOrInteger => v.is_string() || v.is_i64() || v.is_u64(),
        ParamType::Object => v.is_object(),
        ParamType::Array => v.is_array(),
        ParamType::Any => true,
    }
}

fn type_name(ty: ParamType) -> &'static str {
    match ty {
        ParamType::String => "a string",
        ParamType::Integer => "an integer",
        ParamType::StringOrInteger => "a string or an integer",
        ParamType::Object => "an object",
        ParamType::Array => "an array",
        ParamType::Any => "any value",
    }
}

fn check_templates(v: &Value, at: &str, earlier: &[String], f: &mut Fields<'_>) {
    match v {
        Value::String(s) if template::has_template(s) => match template::references(s) {
            Err(msg) => f.push(FieldError::new(at, msg)),
            Ok(refs) => {
                for r in refs {
                    if let Root::Step(id) = &r.root
                        && !earlier.iter().any(|s| s == id)
                    {
                        f.push(FieldError::new(
                            at,
                            format!(
                                "`{{{{{}}}}}` refers to step `{id}`, which is not an earlier step",
                                r.text
                            ),
                        ));
                    }
                }
            }
        },
        Value::Object(m) => {
            for (k, child) in m {
                check_templates(child, &format!("{at}/{}", pointer_escape(k)), earlier, f);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                check_templates(child, &format!("{at}/{i}"), earlier, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(v: Value) -> Vec<String> {
        let reg = ConnectorRegistry::with_builtins();
        match parse_pipeline(
            &v,
            "",
            &Limits {
                max_steps: 3,
                max_params_bytes: 100,
            },
            &reg,
        ) {
            Ok(_) => vec![],
            Err(e) => e.details().iter().map(|d| d.path.clone()).collect(),
        }
    }

    #[test]
    fn a_good_pipeline_parses() {
        let reg = ConnectorRegistry::with_builtins();
        let v = json!({"name": "p", "steps": [
            {"id": "a", "connector": "echo", "params": {"x": "{{input.x}}"}},
            {"id": "b", "connector": "echo", "action": "say", "params": {"y": "{{steps.a.output.x}}"},
             "max_attempts": 3, "timeout_ms": 500}]});
        let def = parse_pipeline(&v, "", &Limits::default(), &reg).unwrap();
        assert_eq!(def.steps[1].max_attempts, 3);
        assert_eq!(def.steps[1].timeout_ms, Some(500));
        // The JSON form validates again to the same definition.
        assert_eq!(
            parse_pipeline(&def.to_json(), "", &Limits::default(), &reg).unwrap(),
            def
        );
    }

    #[test]
    fn every_problem_has_its_pointer() {
        assert_eq!(paths(json!({"steps": []})), ["/name", "/steps"]);
        assert_eq!(
            paths(json!({"name": "p", "bogus": 1, "steps": [
                {"id": "a", "connector": "nope", "params": {}},
                {"id": "a", "connector": "echo", "params": {"t": "{{steps.c.output}}"}, "extra": 1},
                {"id": "c", "connector": "echo", "params": {"big": "x".repeat(200)}, "max_attempts": 0}]})),
            [
                "/steps/0/connector",
                "/steps/1/id",
                "/steps/1/params/t",
                "/steps/1/extra",
                "/steps/2/max_attempts",
                "/steps/2/params",
                "/bogus"
            ]
        );
        assert_eq!(
            paths(
                json!({"name": "p", "steps": [{"id": "a", "connector": "echo", "params": {"a": "{{ input. }}"}}]})
            ),
            ["/steps/0/params/a"]
        );
        assert_eq!(
            paths(json!({"name": "p", "steps": [{"id": "a.b", "connector": "echo"}]})),
            ["/steps/0/id", "/steps/0/params"]
        );
        let four = json!({"id": "a", "connector": "echo", "params": {}});
        assert_eq!(
            paths(json!({"name": "p", "steps": [four.clone(), four.clone(), four.clone(), four]})),
            ["/steps"]
        );
        let reg = ConnectorRegistry::with_builtins();
        assert!(matches!(
            parse_pipeline(&json!([]), "", &Limits::default(), &reg),
            Err(Error::InvalidJson(_))
        ));
        let nested = parse_pipeline(&json!(3), "/pipeline", &Limits::default(), &reg).unwrap_err();
        assert_eq!(nested.details()[0].path, "/pipeline");
    }
}
