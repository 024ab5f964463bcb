//! PII at rest: no email or name in clear in the database files, tampered
//! ciphertexts fail cleanly, keys rotate.

mod identity_support;

use levqor_core::users::Role;
use levqor_core::{Config, ErrorKind};
use serde_json::json;

use identity_support::{config, open, open_with, temp_dir};

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    // Byte-exact search: a lossy UTF-8 view keeps ASCII runs intact.
    let hay = String::from_utf8_lossy(hay);
    hay.contains(std::str::from_utf8(needle).unwrap())
}

fn raw_files(cfg: &Config) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", cfg.db.display());
        if let Ok(b) = std::fs::read(&p) {
            all.extend(b);
        }
    }
    all
}

#[test]
fn no_email_or_name_in_clear_in_the_database_files() {
    let s = open("pii-scan");
    let (admin, _) = s.user("root-operator@example.com", Role::Admin);
    let mut secrets = Vec::new();
    for i in 0..20 {
        let email = format!("person.{i}.zqxj@pii-example.org");
        let name = format!("Zebedee Quixotic {i}");
        s.lv.signup(&json!({"email": email, "name": name})).unwrap();
        secrets.push(email);
        secrets.push(name);
    }
    let (u, _) =
        s.lv.upsert_user(
            &admin,
            &json!({"email": "upserted.zqxj@pii-example.org", "name": "Ulrike Upsert"}),
        )
        .unwrap();
    s.lv.patch_user(&admin, &u.id, &json!({"name": "Patched Paloma"}))
        .unwrap();
    secrets.extend(
        [
            "upserted.zqxj@pii-example.org",
            "Ulrike Upsert",
            "Patched Paloma",
            "root-operator@example.com",
        ]
        .map(String::from),
    );
    let bytes = raw_files(&s.lv.config);
    assert!(bytes.len() > 4096, "scanned the database files");
    for secret in &secrets {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "{secret} found in clear"
        );
        assert!(
            !contains(&bytes, secret.to_lowercase().as_bytes()),
            "{secret} found in clear"
        );
    }
    assert!(!contains(&bytes, b"pii-example.org"), "not even the domain");
    // The harness can see what it looks for: ids are stored in clear.
    assert!(contains(&bytes, u.id.as_bytes()));
}

#[test]
fn tampered_ciphertext_is_a_clean_error() {
    let s = open("pii-tamper");
    let (admin, _) = s.user("root@example.com", Role::Admin);
    let out =
        s.lv.signup(&json!({"email": "victim@example.com"}))
            .unwrap();
    let db = rusqlite::Connection::open(&s.lv.config.db).unwrap();
    let ct: String = db
        .query_row(
            "SELECT email_ct FROM users WHERE id = ?1",
            [&out.user.id],
            |r| r.get(0),
        )
        .unwrap();
    let mut bytes = ct.into_bytes();
    let i = bytes.len() - 3;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    db.execute(
        "UPDATE users SET email_ct = ?2 WHERE id = ?1",
        rusqlite::params![out.user.id, String::from_utf8(bytes).unwrap()],
    )
    .unwrap();
    let e = s.lv.user_by_id(&admin, &out.user.id).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert!(
        !e.public_message().contains("victim"),
        "{}",
        e.public_message()
    );
    db.execute(
        "UPDATE users SET name_ct = 'v1:zz:nonsense' WHERE id = ?1",
        [&out.user.id],
    )
    .unwrap();
    assert_eq!(
        s.lv.user_by_id(&admin, &out.user.id).unwrap_err().kind(),
        ErrorKind::Internal
    );
    // Other users are unaffected.
    assert!(s.lv.find_user(&admin, "root@example.com").is_ok());
}

fn keyed(dir: &std::path::Path, key: &str, old: &[&str]) -> Config {
    Config {
        jwt_secret: Some("j".repeat(40)),
        blind_index_key: Some("b".repeat(40)),
        encryption_key: Some(key.to_string()),
        old_encryption_keys: old.iter().map(|s| s.to_string()).collect(),
        ..config(dir)
    }
}

#[test]
fn keys_rotate_and_old_values_keep_decrypting_until_then() {
    let dir = temp_dir("pii-rotate");
    let key_a = "000102030405060708090a0b0c0d0e0f";
    let key_b = "f0e0d0c0b0a090807060504030201000";
    let ids: Vec<String> = {
        let s = open_with(keyed(&dir, key_a, &[]), dir.clone());
        let out: Vec<_> = (0..5)
            .map(|i| {
                s.lv.signup(
                    &json!({"email": format!("r{i}@example.com"), "name": format!("R {i}")}),
                )
                .unwrap()
                .user
                .id
            })
            .collect();
        std::mem::forget(s); // keep the directory
        out
    };
    // New key with the old one retired: everything still reads, then rotates.
    let s = open_with(keyed(&dir, key_b, &[key_a]), dir.clone());
    let (admin, _) = s.user("root@example.com", Role::Admin);
    assert_eq!(
        s.lv.user_by_id(&admin, &ids[0]).unwrap().email,
        "r0@example.com"
    );
    let (user, _) = s.user("plain@example.com", Role::User);
    assert_eq!(
        s.lv.rotate_pii_keys(Some(&user)).unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    let rot = s.lv.rotate_pii_keys(None).unwrap();
    assert_eq!(rot.rows, 5, "only rows under the old key");
    assert_eq!(s.lv.rotate_pii_keys(None).unwrap().rows, 0);
    std::mem::forget(s);
    // The old key is no longer needed.
    let s = open_with(keyed(&dir, key_b, &[]), dir.clone());
    let admin =
        s.lv.authenticate_key(
            &s.lv
                .create_api_key("root@example.com", Role::Admin)
                .unwrap()
                .1
                .secret,
        )
        .unwrap();
    for (i, id) in ids.iter().enumerate() {
        let u = s.lv.user_by_id(&admin, id).unwrap();
        assert_eq!(
            (u.email, u.name),
            (format!("r{i}@example.com"), Some(format!("R {i}")))
        );
    }
    // And the old key alone can no longer read them.
    let old_only = levqor_core::LevqorBuilder::new(keyed(&dir, key_a, &[]))
        .open()
        .unwrap();
    let admin_old = old_only
        .authenticate_key(
            &old_only
                .create_api_key("x@example.com", Role::Admin)
                .unwrap()
                .1
                .secret,
        )
        .unwrap();
    assert_eq!(
        old_only.user_by_id(&admin_old, &ids[0]).unwrap_err().kind(),
        ErrorKind::Internal
    );
    // A malformed old key is a configuration error.
    let e = levqor_core::LevqorBuilder::new(keyed(&dir, key_b, &["xyz"]))
        .open()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    drop(s);
}
