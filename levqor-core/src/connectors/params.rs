//! Checking a step's `params` against a connector's [`ParamSpec`] list, and
//! small typed accessors used by the connectors.

use serde_json::{Map, Value};

use super::{ConnectorError, ConnectorErrorKind, ParamSpec, ParamType};

/// Whether `value` has the JSON type `ty`.
pub fn type_matches(ty: ParamType, value: &Value) -> bool {
    match ty {
        ParamType::String => value.is_string(),
        ParamType::Integer => value.is_i64() || value.is_u64(),
        ParamType::StringOrInteger => value.is_string() || value.is_i64() || value.is_u64(),
        ParamType::Object => value.is_object(),
        ParamType::Array => value.is_array(),
        ParamType::Any => true,
    }
}

/// Checks that `params` is an object with every required member present and
/// every known member of the declared type (unknown members are allowed).
///
/// # Errors
/// `InvalidPayload` naming the first offending member.
pub fn check(connector: &str, specs: &[ParamSpec], params: &Value) -> Result<(), ConnectorError> {
    let invalid = |m: String| ConnectorError::new(connector, ConnectorErrorKind::InvalidPayload, m);
    let Some(obj) = params.as_object() else {
        return Err(invalid("params must be a JSON object".into()));
    };
    for spec in specs {
        match obj.get(spec.name) {
            None | Some(Value::Null) if spec.required => {
                return Err(invalid(format!("missing required param `{}`", spec.name)));
            }
            None | Some(Value::Null) => {}
            Some(v) if !type_matches(spec.ty, v) => {
                let ty = serde_json::to_value(spec.ty).unwrap_or(Value::Null);
                return Err(invalid(format!(
                    "param `{}` must be of type {}",
                    spec.name,
                    ty.as_str().unwrap_or("?")
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Typed access to a checked params object.
pub(crate) struct Params<'a> {
    connector: &'a str,
    obj: &'a Map<String, Value>,
}

impl<'a> Params<'a> {
    /// Checks `params` against `specs` and wraps it.
    pub fn new(
        connector: &'a str,
        specs: &[ParamSpec],
        params: &'a Value,
    ) -> Result<Self, ConnectorError> {
        check(connector, specs, params)?;
        let obj = params.as_object().ok_or_else(|| {
            ConnectorError::new(
                connector,
                ConnectorErrorKind::InvalidPayload,
                "params must be an object",
            )
        })?;
        Ok(Params { connector, obj })
    }

    /// An `InvalidPayload` error of this connector.
    pub fn invalid(&self, message: impl Into<String>) -> ConnectorError {
        ConnectorError::new(self.connector, ConnectorErrorKind::InvalidPayload, message)
    }

    /// A member, `None` when absent or null.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    /// An optional string member.
    pub fn opt_str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(Value::as_str)
    }

    /// A required, non-empty string member.
    pub fn str(&self, name: &str) -> Result<&'a str, ConnectorError> {
        match self.opt_str(name) {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(self.invalid(format!("param `{name}` must be a non-empty string"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPECS: &[ParamSpec] = &[
        ParamSpec::required("channel", ParamType::String, ""),
        ParamSpec::optional("blocks", ParamType::Array, ""),
        ParamSpec::required("chat_id", ParamType::StringOrInteger, ""),
    ];

    #[test]
    fn checks_presence_and_types() {
        assert!(check("x", SPECS, &json!({"channel": "c", "chat_id": 5})).is_ok());
        assert!(check("x", SPECS, &json!({"channel": "c", "chat_id": "@x"})).is_ok());
        let e = check("x", SPECS, &json!({"chat_id": 5})).unwrap_err();
        assert!(e.message.contains("channel"));
        let e = check(
            "x",
            SPECS,
            &json!({"channel": "c", "chat_id": 5, "blocks": {}}),
        )
        .unwrap_err();
        assert!(
            e.message.contains("blocks") && e.message.contains("array"),
            "{}",
            e.message
        );
        assert!(check("x", SPECS, &json!([1])).is_err());
        let v = json!({"channel": " ", "chat_id": 1});
        let p = Params::new("x", SPECS, &v).unwrap();
        assert!(p.str("channel").is_err());
    }
}
