//! `levqor apikey create|revoke`.

use levqor_core::{Levqor, Result};
use serde_json::json;

use crate::cli::ApikeyCmd;
use crate::output::print;

/// Runs an apikey subcommand.
pub fn run(l: &Levqor, cmd: ApikeyCmd, as_json: bool) -> Result<()> {
    match cmd {
        ApikeyCmd::Create { email, role } => {
            let (user, key) = l.create_api_key(&email, role.parse()?)?;
            let v = json!({
                "user_id": user.id, "email": user.email, "role": user.role.as_str(),
                "key_id": key.record.id, "api_key": key.secret,
            });
            // The key is always the last line, in both modes, for scripts.
            print(&v, as_json, |v| {
                format!(
                    "user {} ({}, {})\nkey id {}",
                    v["user_id"],
                    user.email,
                    user.role.as_str(),
                    v["key_id"]
                )
                .replace('"', "")
            });
            println!("{}", key.secret);
        }
        ApikeyCmd::Revoke { key_id } => {
            l.revoke_api_key(&key_id)?;
            print(&json!({"revoked": key_id}), as_json, |_| {
                format!("revoked {key_id}")
            });
        }
    }
    Ok(())
}
