//! Access and refresh tokens end to end through `Levqor`: pinned algorithm,
//! every claim checked, rotation, reuse detection, device binding,
//! revocation and pruning.

mod identity_support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use levqor_core::audit::AuditQuery;
use levqor_core::auth::Credentials;
use levqor_core::users::Role;
use levqor_core::{Error, ErrorKind};
use serde_json::{Value, json};

use identity_support::{T0, open};

fn craft(header: Value, claims: Value, key: &[u8], sha384: bool) -> String {
    let signing = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = if sha384 {
        let mut m = <Hmac<sha2::Sha384> as Mac>::new_from_slice(key).unwrap();
        m.update(signing.as_bytes());
        m.finalize().into_bytes().to_vec()
    } else {
        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
        m.update(signing.as_bytes());
        m.finalize().into_bytes().to_vec()
    };
    format!("{signing}.{}", B64.encode(sig))
}

fn claims_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
}

fn bearer(t: &str) -> Credentials<'_> {
    Credentials {
        bearer: Some(t),
        ..Credentials::default()
    }
}

#[test]
fn issued_access_token_has_the_contract_claims_and_authenticates() {
    let s = open("tok-claims");
    let (p, _) = s.user("ada@example.com", Role::Partner);
    let pair = s.lv.issue_tokens(&p, &json!({})).unwrap();
    let body = pair.to_json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_expires_in"], 604_800);
    let c = claims_of(&pair.access_token);
    assert_eq!(c["sub"], p.user_id.as_str());
    assert_eq!(c["role"], "partner");
    assert_eq!(
        (c["iss"].as_str(), c["aud"].as_str(), c["typ"].as_str()),
        (Some("levqor"), Some("levqor-api"), Some("access"))
    );
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    assert!(c["jti"].is_string() && c.get("did").is_none());
    let who = s.lv.authenticate(&bearer(&pair.access_token)).unwrap();
    assert_eq!(
        (who.user_id.as_str(), who.role, who.key_id.as_deref()),
        (p.user_id.as_str(), Role::Partner, None)
    );
    // Tokens come only from API keys.
    let e = s.lv.issue_tokens(&who, &json!({})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    // Strict body.
    let e =
        s.lv.issue_tokens(&p, &json!({"device_id": "ok", "scope": "all"}))
            .unwrap_err();
    assert_eq!(e.details()[0].path, "/scope");
}

#[test]
fn forged_and_malformed_tokens_are_refused() {
    let s = open("tok-forged");
    let (p, _) = s.user("bob@example.com", Role::Admin);
    let pair = s.lv.issue_tokens(&p, &json!({})).unwrap();
    let good = claims_of(&pair.access_token);
    let secret = s.lv.secrets.jwt_secret.clone();
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
                B64.encode(good.to_string())
            ),
        ),
        (
            "alg None signed",
            craft(json!({"alg": "None"}), good.clone(), &secret, false),
        ),
        (
            "HS384 same key",
            craft(json!({"alg": "HS384"}), good.clone(), &secret, true),
        ),
        (
            "RS256 header",
            craft(json!({"alg": "RS256"}), good.clone(), &secret, false),
        ),
        (
            "another key",
            craft(
                hs256.clone(),
                good.clone(),
                b"another-secret-another-secret-xx",
                false,
            ),
        ),
        (
            "expired",
            craft(
                hs256.clone(),
                with("exp", json!(T0 / 1000 - 120)),
                &secret,
                false,
            ),
        ),
        (
            "wrong aud",
            craft(hs256.clone(), with("aud", json!("other")), &secret, false),
        ),
        (
            "wrong iss",
            craft(hs256.clone(), with("iss", json!("evil")), &secret, false),
        ),
        (
            "wrong typ",
            craft(hs256.clone(), with("typ", json!("refresh")), &secret, false),
        ),
        ("no exp", craft(hs256.clone(), no_exp, &secret, false)),
        (
            "unknown jti",
            craft(hs256.clone(), with("jti", json!("nope")), &secret, false),
        ),
        (
            "other sub",
            craft(
                hs256.clone(),
                with("sub", json!("usr_01ARZ3NDEKTSV4RRFFQ69G5FAV")),
                &secret,
                false,
            ),
        ),
        ("refresh as access", pair.refresh_token.clone()),
        ("garbage", "a.b.c".into()),
        ("empty", String::new()),
    ];
    // The unmodified token signed by us is fine: the harness is right.
    assert!(
        s.lv.authenticate(&bearer(&craft(hs256, good.clone(), &secret, false)))
            .is_ok()
    );
    for (name, t) in cases {
        let e = s.lv.authenticate(&bearer(&t)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized, "{name}: {e}");
    }
    assert!(s.lv.authenticate(&Credentials::default()).is_err());
}

#[test]
fn tokens_expire_with_sixty_seconds_leeway() {
    let s = open("tok-exp");
    let (p, _) = s.user("exp@example.com", Role::User);
    let pair = s.lv.issue_tokens(&p, &json!({})).unwrap();
    s.clock.advance((900 + 60) * 1000);
    assert!(s.lv.authenticate(&bearer(&pair.access_token)).is_ok());
    s.clock.advance(1000);
    assert!(s.lv.authenticate(&bearer(&pair.access_token)).is_err());
    // Refresh tokens live 7 days.
    assert!(
        s.lv.refresh_tokens(&json!({"refresh_token": pair.refresh_token}))
            .is_ok()
    );
}

#[test]
fn refresh_rotates_and_reuse_revokes_only_that_family() {
    let s = open("tok-reuse");
    let (p, key) = s.user("eve@example.com", Role::User);
    let a = s.lv.issue_tokens(&p, &json!({})).unwrap();
    let other = s.lv.issue_tokens(&p, &json!({})).unwrap();
    let b =
        s.lv.refresh_tokens(&json!({"refresh_token": a.refresh_token}))
            .unwrap();
    assert_eq!(a.family_id, b.family_id);
    assert_ne!(a.refresh_token, b.refresh_token);
    assert!(s.lv.authenticate(&bearer(&b.access_token)).is_ok());
    // The spent token again: 401, and the whole family is revoked.
    let e =
        s.lv.refresh_tokens(&json!({"refresh_token": a.refresh_token}))
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(
        s.lv.authenticate(&bearer(&b.access_token)).is_err(),
        "access token of the family"
    );
    assert!(s.lv.authenticate(&bearer(&a.access_token)).is_err());
    assert!(
        s.lv.refresh_tokens(&json!({"refresh_token": b.refresh_token}))
            .is_err()
    );
    // Other sessions and the API key keep working.
    assert!(s.lv.authenticate(&bearer(&other.access_token)).is_ok());
    assert!(
        s.lv.refresh_tokens(&json!({"refresh_token": other.refresh_token}))
            .is_ok()
    );
    assert!(s.lv.authenticate_key(&key).is_ok());
    let admin = s.user("root@example.com", Role::Admin).0;
    let q = AuditQuery {
        action: Some("token.reuse_detected".into()),
        ..AuditQuery::default()
    };
    let page = s.lv.list_audit(&admin, &q).unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        page.items[0].subject_id.as_deref(),
        Some(p.user_id.as_str())
    );
    // Malformed bodies and tokens.
    assert_eq!(
        s.lv.refresh_tokens(&json!({})).unwrap_err().kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        s.lv.refresh_tokens(&json!({"refresh_token": "lvr_x"}))
            .unwrap_err()
            .kind(),
        ErrorKind::Unauthorized
    );
}

#[test]
fn parallel_refreshes_of_one_token_let_at_most_one_through() {
    let s = open("tok-race");
    let (p, _) = s.user("race@example.com", Role::User);
    let a = s.lv.issue_tokens(&p, &json!({})).unwrap();
    let wins = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                sc.spawn(|| {
                    s.lv.refresh_tokens(&json!({"refresh_token": a.refresh_token}))
                        .is_ok()
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count()
    });
    assert_eq!(wins, 1, "{wins} refreshes succeeded");
}

#[test]
fn device_binding_on_access_and_refresh() {
    let s = open("tok-device");
    let (p, _) = s.user("dev@example.com", Role::User);
    let pair =
        s.lv.issue_tokens(&p, &json!({"device_id": "phone-1"}))
            .unwrap();
    assert_eq!(claims_of(&pair.access_token)["did"], "phone-1");
    let t = pair.access_token.as_str();
    let with_dev = |d| Credentials {
        bearer: Some(t),
        device_id: d,
        ..Credentials::default()
    };
    assert!(s.lv.authenticate(&with_dev(None)).is_err());
    assert!(s.lv.authenticate(&with_dev(Some("phone-2"))).is_err());
    assert!(s.lv.authenticate(&with_dev(Some("phone-1"))).is_ok());
    // Another device: refused and not spent.
    for body in [
        json!({"refresh_token": pair.refresh_token, "device_id": "phone-2"}),
        json!({"refresh_token": pair.refresh_token}),
    ] {
        assert_eq!(
            s.lv.refresh_tokens(&body).unwrap_err().kind(),
            ErrorKind::Unauthorized
        );
    }
    let next =
        s.lv.refresh_tokens(&json!({"refresh_token": pair.refresh_token, "device_id": "phone-1"}))
            .unwrap();
    assert_eq!(claims_of(&next.access_token)["did"], "phone-1");
    assert!(
        s.lv.issue_tokens(&p, &json!({"device_id": "has space"}))
            .is_err()
    );
    // The device id is kept only as a digest.
    let mut raw = Vec::new();
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", s.lv.config.db.display());
        raw.extend(std::fs::read(path).unwrap_or_default());
    }
    assert!(raw.len() > 1000);
    assert!(!String::from_utf8_lossy(&raw).contains("phone-1"));
}

#[test]
fn revoke_own_tokens_idempotently_never_others() {
    let s = open("tok-revoke");
    let (p, _) = s.user("own@example.com", Role::User);
    let (q, _) = s.user("other@example.com", Role::User);
    let mine = s.lv.issue_tokens(&p, &json!({})).unwrap();
    let theirs = s.lv.issue_tokens(&q, &json!({})).unwrap();
    for t in [
        &theirs.access_token,
        &theirs.refresh_token,
        &"nope".to_string(),
        &format!("lvr_{}", "0".repeat(64)),
    ] {
        assert!(
            matches!(
                s.lv.revoke_token(&p, &json!({"token": t})),
                Err(Error::NotFound(_))
            ),
            "{t}"
        );
    }
    assert!(s.lv.authenticate(&bearer(&theirs.access_token)).is_ok());
    for _ in 0..2 {
        assert_eq!(
            s.lv.revoke_token(&p, &json!({"token": mine.access_token}))
                .unwrap(),
            json!({"revoked": true})
        );
    }
    assert!(s.lv.authenticate(&bearer(&mine.access_token)).is_err());
    assert!(
        s.lv.refresh_tokens(&json!({"refresh_token": mine.refresh_token}))
            .is_ok(),
        "access revoke keeps the session"
    );
    // Revoking a refresh token ends the session.
    let s2 = s.lv.issue_tokens(&p, &json!({})).unwrap();
    for _ in 0..2 {
        s.lv.revoke_token(&p, &json!({"token": s2.refresh_token}))
            .unwrap();
    }
    assert!(
        s.lv.refresh_tokens(&json!({"refresh_token": s2.refresh_token}))
            .is_err()
    );
    assert!(s.lv.authenticate(&bearer(&s2.access_token)).is_err());
}

#[test]
fn prune_removes_expired_rows_only() {
    let s = open("tok-prune");
    let (p, _) = s.user("prune@example.com", Role::User);
    let old = s.lv.issue_tokens(&p, &json!({})).unwrap();
    s.clock.advance(8 * 24 * 3600 * 1000);
    let fresh = s.lv.issue_tokens(&p, &json!({})).unwrap();
    let n = s.lv.prune_tokens().unwrap();
    assert_eq!(n, 3, "old access row, old refresh row, empty family");
    assert!(s.lv.authenticate(&bearer(&old.access_token)).is_err());
    assert!(s.lv.authenticate(&bearer(&fresh.access_token)).is_ok());
    assert_eq!(s.lv.prune_tokens().unwrap(), 0);
}
