//! `transform`: reshapes JSON offline, without templates.
//!
//! Params (all optional, applied in this order):
//! 1. `from` (any value) or `merge` (array of objects, shallow-merged left to
//!    right): the starting value, `{}` when neither is given;
//! 2. `pick`: array of member names to keep;
//! 3. `omit`: array of member names to drop;
//! 4. `rename`: object of old name → new name;
//! 5. `set`: object of members to add or overwrite;
//! 6. `strings`: object of member name → array of string ops (`trim`,
//!    `lower`, `upper`), applied to that string member.
//!
//! Steps 2 to 6 need the value to be an object. Unknown params are refused.

use serde_json::{Map, Value};

use super::{Connector, ConnectorError, ConnectorErrorKind, ParamSpec, ParamType, TaskContext};

const PARAMS: &[ParamSpec] = &[
    ParamSpec::optional("from", ParamType::Any, "Starting value"),
    ParamSpec::optional(
        "merge",
        ParamType::Array,
        "Objects merged left to right (instead of from)",
    ),
    ParamSpec::optional("pick", ParamType::Array, "Member names to keep"),
    ParamSpec::optional("omit", ParamType::Array, "Member names to drop"),
    ParamSpec::optional("rename", ParamType::Object, "Old name to new name"),
    ParamSpec::optional("set", ParamType::Object, "Members to add or overwrite"),
    ParamSpec::optional(
        "strings",
        ParamType::Object,
        "Member name to string ops (trim, lower, upper)",
    ),
];

fn invalid(m: impl Into<String>) -> ConnectorError {
    ConnectorError::new("transform", ConnectorErrorKind::InvalidPayload, m)
}

fn names(v: &Value, what: &str) -> Result<Vec<String>, ConnectorError> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| invalid(format!("`{what}` must be an array of strings")))
}

/// Applies the transform described by `params`.
///
/// # Errors
/// `InvalidPayload` for unknown params, wrong shapes or unknown string ops.
pub fn apply(params: &Value) -> Result<Value, ConnectorError> {
    let p = params
        .as_object()
        .ok_or_else(|| invalid("params must be an object"))?;
    if let Some(k) = p
        .keys()
        .find(|k| !PARAMS.iter().any(|s| s.name == k.as_str()))
    {
        return Err(invalid(format!("unknown transform param `{k}`")));
    }
    let mut value = match (p.get("from"), p.get("merge")) {
        (Some(_), Some(_)) => return Err(invalid("give `from` or `merge`, not both")),
        (Some(v), None) => v.clone(),
        (None, Some(m)) => {
            let mut out = Map::new();
            for item in m.as_array().into_iter().flatten() {
                let obj = item
                    .as_object()
                    .ok_or_else(|| invalid("`merge` takes objects only"))?;
                out.extend(obj.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Value::Object(out)
        }
        (None, None) => Value::Object(Map::new()),
    };
    let shaping = ["pick", "omit", "rename", "set", "strings"];
    if !shaping.iter().any(|k| p.contains_key(*k)) {
        return Ok(value);
    }
    let obj = value
        .as_object_mut()
        .ok_or_else(|| invalid("the value to reshape is not an object"))?;
    if let Some(pick) = p.get("pick") {
        let keep = names(pick, "pick")?;
        obj.retain(|k, _| keep.contains(k));
    }
    if let Some(omit) = p.get("omit") {
        for k in names(omit, "omit")? {
            obj.remove(&k);
        }
    }
    if let Some(rename) = p.get("rename").and_then(Value::as_object) {
        for (old, new) in rename {
            let new = new
                .as_str()
                .ok_or_else(|| invalid("`rename` values must be strings"))?;
            if let Some(v) = obj.remove(old) {
                obj.insert(new.to_string(), v);
            }
        }
    }
    if let Some(set) = p.get("set").and_then(Value::as_object) {
        obj.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(strings) = p.get("strings").and_then(Value::as_object) {
        for (member, ops) in strings {
            let ops = names(ops, "strings")?;
            let Some(Value::String(s)) = obj.get_mut(member) else {
                return Err(invalid(format!(
                    "`strings`: member `{member}` is not a string"
                )));
            };
            for op in ops {
                *s = match op.as_str() {
                    "trim" => s.trim().to_string(),
                    "lower" => s.to_lowercase(),
                    "upper" => s.to_uppercase(),
                    other => return Err(invalid(format!("unknown string op `{other}`"))),
                };
            }
        }
    }
    Ok(value)
}

/// The `transform` connector; see the module docs for its params.
#[derive(Debug, Default)]
pub struct Transform;

impl Connector for Transform {
    fn name(&self) -> &str {
        "transform"
    }
    fn params(&self) -> &[ParamSpec] {
        PARAMS
    }
    fn run_task(&self, _ctx: &TaskContext, params: &Value) -> Result<Value, ConnectorError> {
        apply(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pick_omit_rename_set_strings() {
        let out = apply(&json!({
            "from": {"a": 1, "b": " Hi ", "c": 3, "d": 4},
            "pick": ["a", "b", "c"],
            "omit": ["c"],
            "rename": {"a": "alpha"},
            "set": {"z": true},
            "strings": {"b": ["trim", "upper"]}
        }))
        .unwrap();
        assert_eq!(out, json!({"alpha": 1, "b": "HI", "z": true}));
    }

    #[test]
    fn merge_and_passthrough() {
        let out = apply(&json!({"merge": [{"a": 1, "b": 1}, {"b": 2}]})).unwrap();
        assert_eq!(out, json!({"a": 1, "b": 2}));
        assert_eq!(apply(&json!({"from": [1, 2]})).unwrap(), json!([1, 2]));
        assert_eq!(apply(&json!({})).unwrap(), json!({}));
    }

    #[test]
    fn refuses_bad_input() {
        assert!(apply(&json!({"bogus": 1})).is_err());
        assert!(apply(&json!({"from": {}, "merge": []})).is_err());
        assert!(apply(&json!({"merge": [1]})).is_err());
        assert!(apply(&json!({"from": [1], "pick": ["a"]})).is_err());
        assert!(apply(&json!({"from": {"a": 1}, "strings": {"a": ["trim"]}})).is_err());
        assert!(apply(&json!({"from": {"a": "x"}, "strings": {"a": ["reverse"]}})).is_err());
        let e = apply(&json!({"pick": "a"})).unwrap_err();
        assert_eq!(e.kind, ConnectorErrorKind::InvalidPayload);
    }
}
