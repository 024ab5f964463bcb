//! Printing results as text or JSON, and the exit-code mapping.

use levqor_core::{Error, ErrorKind};
use serde_json::Value;

/// Exit codes (documented in README.md).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The operation failed: not found, conflict, validation, credits.
    pub const FAILED: u8 = 1;
    /// Bad usage or configuration.
    pub const USAGE: u8 = 2;
    /// Storage unavailable or an internal error.
    pub const UNAVAILABLE: u8 = 3;
}

/// Maps an error to its exit code.
pub fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::Config => exit::USAGE,
        ErrorKind::Unavailable | ErrorKind::Internal => exit::UNAVAILABLE,
        _ => exit::FAILED,
    }
}

/// Prints an error to stderr (JSON when asked).
pub fn print_error(e: &Error, json: bool) {
    if json {
        let mut body =
            serde_json::json!({"error": {"code": e.kind().code(), "message": e.to_string()}});
        if !e.details().is_empty() {
            body["error"]["details"] = serde_json::json!(e.details());
        }
        eprintln!("{body}");
    } else {
        eprintln!("levqor: {e}");
    }
}

/// Prints a value: pretty JSON with `--json`, else the text rendering.
pub fn print(value: &Value, json: bool, text: impl FnOnce(&Value) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text(value));
    }
}

/// One line per job for listings.
pub fn job_line(j: &Value) -> String {
    format!(
        "{}  {:<9}  {:<14}  attempts {}/{}  {}",
        j["id"].as_str().unwrap_or(""),
        j["status"].as_str().unwrap_or(""),
        j["kind"].as_str().unwrap_or(""),
        j["attempts"],
        j["max_attempts"],
        j["created_at"].as_str().unwrap_or("")
    )
}
