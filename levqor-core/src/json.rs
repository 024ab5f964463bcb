//! Strict reading of JSON request objects: typed members, range checks,
//! unknown members refused, every problem reported with its JSON pointer.

use serde_json::{Map, Value};

use crate::error::{Error, FieldError, Result};

/// Reads the members of one JSON object, collecting field errors.
#[derive(Debug)]
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    base: String,
    seen: Vec<&'static str>,
    errors: Vec<FieldError>,
}

/// Escapes a member name for a JSON pointer (RFC 6901).
pub fn pointer_escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

impl<'a> Fields<'a> {
    /// Starts reading the top-level request body.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] when the body is not a JSON object.
    pub fn body(v: &'a Value) -> Result<Self> {
        match v {
            Value::Object(obj) => Ok(Fields {
                obj,
                base: String::new(),
                seen: vec![],
                errors: vec![],
            }),
            _ => Err(Error::InvalidJson(
                "request body must be a JSON object".into(),
            )),
        }
    }

    /// Starts reading a nested object found at pointer `base`; `None` (with an
    /// error recorded by the caller) when it is not an object.
    pub fn nested(v: &'a Value, base: &str) -> std::result::Result<Self, FieldError> {
        match v {
            Value::Object(obj) => Ok(Fields {
                obj,
                base: base.to_string(),
                seen: vec![],
                errors: vec![],
            }),
            _ => Err(FieldError::new(base, "must be an object")),
        }
    }

    /// Pointer of a member.
    pub fn path(&self, name: &str) -> String {
        format!("{}/{}", self.base, pointer_escape(name))
    }

    /// Records an error on a member.
    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        let path = self.path(name);
        self.errors.push(FieldError::new(path, message));
    }

    /// Records an already-built error (nested validation).
    pub fn push(&mut self, e: FieldError) {
        self.errors.push(e);
    }

    fn take(&mut self, name: &'static str, required: bool) -> Option<&'a Value> {
        self.seen.push(name);
        match self.obj.get(name) {
            None => {
                if required {
                    self.error(name, "is required");
                }
                None
            }
            Some(Value::Null) if !required => None,
            Some(v) => Some(v),
        }
    }

    /// Any JSON value (null counts as absent unless required).
    pub fn value(&mut self, name: &'static str, required: bool) -> Option<&'a Value> {
        self.take(name, required)
    }

    /// A string of 1..=max_len characters.
    pub fn string(&mut self, name: &'static str, required: bool, max_len: usize) -> Option<String> {
        let v = self.take(name, required)?;
        match v.as_str() {
            Some("") => {
                self.error(name, "must not be empty");
                None
            }
            Some(s) if s.chars().count() > max_len => {
                self.error(name, format!("must be at most {max_len} characters"));
                None
            }
            Some(s) => Some(s.to_string()),
            None => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    /// An integer within `min..=max`.
    pub fn int(&mut self, name: &'static str, required: bool, min: i64, max: i64) -> Option<i64> {
        let v = self.take(name, required)?;
        match v.as_i64() {
            Some(i) if (min..=max).contains(&i) => Some(i),
            Some(_) => {
                self.error(name, format!("must be an integer from {min} to {max}"));
                None
            }
            None => {
                self.error(name, "must be an integer");
                None
            }
        }
    }

    /// A boolean.
    pub fn bool(&mut self, name: &'static str, required: bool) -> Option<bool> {
        let v = self.take(name, required)?;
        match v.as_bool() {
            Some(b) => Some(b),
            None => {
                self.error(name, "must be a boolean");
                None
            }
        }
    }

    /// Whether the member is present (and not null).
    pub fn has(&self, name: &str) -> bool {
        self.obj.get(name).is_some_and(|v| !v.is_null())
    }

    /// Ends reading: unknown members become errors.
    ///
    /// # Errors
    /// [`Error::Validation`] with every collected problem.
    pub fn finish(self) -> Result<()> {
        let errors = self.finish_errors();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }

    /// Ends reading and returns the collected problems (for nesting).
    pub fn finish_errors(mut self) -> Vec<FieldError> {
        let unknown: Vec<String> = self
            .obj
            .keys()
            .filter(|k| !self.seen.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in unknown {
            self.error(&k, "unknown field");
        }
        self.errors
    }
}

/// Parses a request body as JSON.
///
/// # Errors
/// [`Error::InvalidJson`] for anything that is not JSON.
pub fn parse_body(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::InvalidJson(format!("body is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_paths_for_every_problem() {
        let v = json!({"a": "x", "n": "7", "extra": 1});
        let mut f = Fields::body(&v).unwrap();
        assert_eq!(f.string("a", true, 10).as_deref(), Some("x"));
        assert_eq!(f.int("n", true, 0, 9), None);
        assert_eq!(f.string("missing", true, 10), None);
        let errs = f.finish_errors();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/n", "/missing", "/extra"]);
    }

    #[test]
    fn non_objects_are_invalid_json() {
        assert!(matches!(
            Fields::body(&json!([1])),
            Err(Error::InvalidJson(_))
        ));
        assert!(parse_body(b"{nope").is_err());
    }
}
