//! Property tests: random bytes and strings into the token verifier, the
//! JSON body reader and every header parser of the identity code. Nothing
//! may panic, and whatever is accepted must be well formed.

mod identity_support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use levqor_core::auth::parse_bearer;
use levqor_core::auth::tokens::{TokenSigner, refresh_hash, valid_device_id};
use levqor_core::flags::FlagUpdate;
use levqor_core::json::{Fields, parse_body};
use levqor_core::users::normalize_email;
use levqor_core::users::service::{is_disposable, valid_locale};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestRunner};
use serde_json::{Map, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("email"),
            Just("name"),
            Just("role"),
            Just("device_id"),
            Just("x@y.io")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("email".to_string()),
                    Just("name".to_string()),
                    Just("role".to_string()),
                    Just("locale".to_string()),
                    Just("marketing_opt_in".to_string()),
                    Just("device_id".to_string()),
                    Just("referral_code".to_string()),
                    Just("overrides".to_string()),
                    Just("rollout_pct".to_string()),
                    "[a-z/~]{1,8}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(PtConfig::with_cases(512))]

    #[test]
    fn verifier_never_panics_on_strings(s in ".{0,300}") {
        let signer = TokenSigner::new(&[7u8; 32]);
        prop_assert!(signer.verify(&s, 1_800_000_000_000).is_err());
        prop_assert!(signer.verify_signature(&s).is_err());
    }

    #[test]
    fn verifier_never_panics_on_jwt_shaped_input(
        h in prop::collection::vec(any::<u8>(), 0..80),
        c in prop::collection::vec(any::<u8>(), 0..200),
        sig in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let t = format!("{}.{}.{}", B64.encode(&h), B64.encode(&c), B64.encode(&sig));
        prop_assert!(TokenSigner::new(&[7u8; 32]).verify(&t, 0).is_err());
    }

    #[test]
    fn correctly_signed_random_claims_are_checked_not_trusted(claims in arb_json(), now in any::<i64>()) {
        // A valid HS256 signature over arbitrary claims: the claim checks must
        // refuse whatever is not a complete, current access token.
        let key = [7u8; 32];
        let header = B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let body = B64.encode(claims.to_string());
        let signing = format!("{header}.{body}");
        use hmac::Mac;
        let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
        m.update(signing.as_bytes());
        let t = format!("{signing}.{}", B64.encode(m.finalize().into_bytes()));
        if let Ok(c) = TokenSigner::new(&key).verify(&t, now) {
            prop_assert_eq!((c.iss.as_str(), c.aud.as_str(), c.typ.as_str()), ("levqor", "levqor-api", "access"));
        }
    }

    #[test]
    fn body_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(v) = parse_body(&bytes)
            && let Ok(mut f) = Fields::body(&v)
        {
            let _ = f.string("email", true, 254);
            let _ = f.int("n", false, 0, 9);
            let _ = f.bool("b", false);
            let _ = f.value("v", false);
            let _ = f.finish();
        }
    }

    #[test]
    fn body_readers_never_panic_on_json(v in arb_json()) {
        let _ = FlagUpdate::from_json(&v);
        let text = v.to_string();
        prop_assert!(parse_body(text.as_bytes()).is_ok());
        if let Ok(f) = Fields::body(&v) {
            // Every unknown member is reported with a pointer that starts with '/'.
            for e in f.finish_errors() {
                prop_assert!(e.path.starts_with('/'));
            }
        }
    }

    #[test]
    fn header_and_field_parsers_never_panic(s in ".{0,200}") {
        if let Some(t) = parse_bearer(&s) {
            prop_assert!(!t.is_empty() && !t.contains(' '));
        }
        if valid_device_id(&s) {
            prop_assert!(s.len() <= 128 && !s.contains(' '));
        }
        let _ = refresh_hash(&s);
        let _ = valid_locale(&s);
        if let Ok(e) = normalize_email(&s) {
            prop_assert!(e.contains('@') && e == e.trim().to_lowercase());
            let _ = is_disposable(&e, &["mailinator.com".to_string()]);
        }
        let _ = parse_bearer(&format!("Bearer {s}"));
    }
}

#[test]
fn service_functions_never_panic_on_random_bodies() {
    let s = identity_support::open("fuzz-svc");
    let (admin, _) = s.user("root@example.com", levqor_core::users::Role::Admin);
    let (me, _) = s.user("me@example.com", levqor_core::users::Role::User);
    let mut runner = TestRunner::new(PtConfig::with_cases(96));
    runner
        .run(&arb_json(), |v| {
            let _ = s.lv.signup(&v);
            let _ = s.lv.upsert_user(&admin, &v);
            let _ = s.lv.patch_me(&me, &v);
            let _ = s.lv.patch_user(&admin, &admin.user_id, &v);
            let _ = s.lv.issue_tokens(&me, &v);
            let _ = s.lv.refresh_tokens(&v);
            let _ = s.lv.revoke_token(&me, &v);
            let _ = s.lv.set_flag(&admin, &v);
            // Whatever happened, the caller is still a plain user with their credits.
            let u = s.lv.me(&me).unwrap();
            prop_assert_eq!((u.role, u.credits), (levqor_core::users::Role::User, 100));
            Ok(())
        })
        .unwrap();
}
