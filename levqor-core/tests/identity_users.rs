//! Users: signup, admin upsert/lookup/patch, /me, export and erasure.

mod identity_support;

use levqor_core::auth::Credentials;
use levqor_core::queue::service::IntakeRequest;
use levqor_core::users::Role;
use levqor_core::{Error, ErrorKind};
use serde_json::json;

use identity_support::open;

fn paths(e: &Error) -> Vec<String> {
    e.details().iter().map(|d| d.path.clone()).collect()
}

#[test]
fn signup_creates_a_user_with_a_working_key_and_free_credits() {
    let s = open("usr-signup");
    let out =
        s.lv.signup(&json!({"email": "  Ada@Example.COM ", "name": "Ada"}))
            .unwrap();
    let body = out.to_json();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["credits"], 100);
    assert_eq!(body["user"]["role"], "user");
    for k in [
        "id",
        "email",
        "name",
        "role",
        "credits",
        "referral_code",
        "created_at",
        "updated_at",
    ] {
        assert!(body["user"].get(k).is_some(), "{k}");
    }
    assert!(body["api_key"].as_str().unwrap().starts_with("lvq_"));
    let who =
        s.lv.authenticate(&Credentials {
            api_key: Some(&out.api_key),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(who.user_id, out.user.id);
    // Taken, in any case or spacing.
    let e =
        s.lv.signup(&json!({"email": "ADA@example.com"}))
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    // Referral by code; unknown code, bad email, disposable domain, unknown member.
    let code = out.user.referral_code.to_lowercase();
    assert!(
        s.lv.signup(&json!({"email": "bo@example.com", "referral_code": code, "device_id": "d1"}))
            .is_ok()
    );
    let e =
        s.lv.signup(&json!({"email": "nope", "referral_code": "ZZZZZZ", "credits": 5}))
            .unwrap_err();
    assert_eq!(paths(&e), ["/email", "/referral_code", "/credits"]);
    let e =
        s.lv.signup(&json!({"email": "x@sub.mailinator.com"}))
            .unwrap_err();
    assert_eq!(paths(&e), ["/email"]);
    let e = s.lv.signup(&json!({})).unwrap_err();
    assert_eq!(paths(&e), ["/email"]);
    assert_eq!(
        s.lv.signup(&json!([1])).unwrap_err().kind(),
        ErrorKind::InvalidJson
    );
}

#[test]
fn signup_rate_limit_per_ip_and_device() {
    let s = open("usr-signup-rl");
    for i in 0..10 {
        let d =
            s.lv.signup_rate_check("10.0.0.1", Some(&json!({"device_id": format!("d{i}")})));
        assert!(d.allowed, "{i}");
    }
    let d = s.lv.signup_rate_check("10.0.0.1", None);
    assert!(!d.allowed);
    assert!(d.retry_after_s >= 1);
    assert_eq!(d.policy_header(), "\"signup\";q=10;w=3600");
    // Another IP but a device already used ten times from elsewhere.
    for i in 0..10 {
        assert!(
            s.lv.signup_rate_check(&format!("10.0.1.{i}"), Some(&json!({"device_id": "same"})))
                .allowed
        );
    }
    assert!(
        !s.lv
            .signup_rate_check("10.0.2.1", Some(&json!({"device_id": "same"})))
            .allowed
    );
    assert!(s.lv.signup_rate_check("10.0.2.1", None).allowed);
}

#[test]
fn admin_upsert_lookup_get_and_patch() {
    let s = open("usr-admin");
    let (admin, _) = s.user("root@example.com", Role::Admin);
    let (user, _) = s.user("joe@example.com", Role::User);
    let (a, created) =
        s.lv.upsert_user(&admin, &json!({"email": "Kim@Example.com"}))
            .unwrap();
    assert!(created);
    let (b, created) =
        s.lv.upsert_user(
            &admin,
            &json!({"email": "kim@example.com", "name": "Kim", "role": "partner"}),
        )
        .unwrap();
    assert!(!created);
    assert_eq!(a.id, b.id);
    assert_eq!((b.name.as_deref(), b.role), (Some("Kim"), Role::Partner));
    assert_eq!(s.lv.find_user(&admin, " KIM@example.com").unwrap().id, a.id);
    assert!(matches!(
        s.lv.find_user(&admin, "ghost@example.com"),
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        s.lv.find_user(&admin, "bad").unwrap_err().kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        s.lv.user_by_id(&admin, &a.id).unwrap().email,
        "kim@example.com"
    );
    assert!(matches!(
        s.lv.user_by_id(&admin, "usr_nope"),
        Err(Error::NotFound(_))
    ));
    // Patch: allowed fields; everything else is 422 with its path.
    let p =
        s.lv.patch_user(
            &admin,
            &a.id,
            &json!({"locale": "pt-BR", "marketing_opt_in": true, "role": "admin"}),
        )
        .unwrap();
    assert_eq!(
        (p.locale.as_deref(), p.marketing_opt_in, p.role),
        (Some("pt-BR"), true, Role::Admin)
    );
    let e =
        s.lv.patch_user(
            &admin,
            &a.id,
            &json!({"credits": 1e6, "id": "x", "email": "e@x.io", "role": "god"}),
        )
        .unwrap_err();
    assert_eq!(paths(&e), ["/role", "/credits", "/email", "/id"]);
    assert_eq!(s.lv.user_by_id(&admin, &a.id).unwrap().credits, 100);
    // Non-admins.
    for r in [
        s.lv.upsert_user(&user, &json!({"email": "z@example.com"}))
            .map(|_| ()),
        s.lv.find_user(&user, "kim@example.com").map(|_| ()),
        s.lv.user_by_id(&user, &a.id).map(|_| ()),
        s.lv.patch_user(&user, &a.id, &json!({})).map(|_| ()),
        s.lv.list_users(&user, None, None).map(|_| ()),
    ] {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Forbidden);
    }
    let page = s.lv.list_users(&admin, Some(2), None).unwrap();
    assert_eq!(page.items.len(), 2);
    let rest =
        s.lv.list_users(&admin, Some(2), page.next_cursor.as_deref())
            .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next_cursor.is_none());
    assert_eq!(
        s.lv.list_users(&admin, Some(0), None).unwrap_err().kind(),
        ErrorKind::Validation
    );
}

#[test]
fn me_and_patch_me_refuse_privileged_fields() {
    let s = open("usr-me");
    let (me, _) = s.user("me@example.com", Role::User);
    assert_eq!(s.lv.me(&me).unwrap().email, "me@example.com");
    let u =
        s.lv.patch_me(&me, &json!({"name": "Me", "locale": "en"}))
            .unwrap();
    assert_eq!(u.name.as_deref(), Some("Me"));
    let e =
        s.lv.patch_me(
            &me,
            &json!({"role": "admin", "credits": 9999, "locale": "english"}),
        )
        .unwrap_err();
    assert_eq!(paths(&e), ["/locale", "/credits", "/role"]);
    let u = s.lv.me(&me).unwrap();
    assert_eq!(
        (u.role, u.credits, u.locale.as_deref()),
        (Role::User, 100, Some("en"))
    );
}

#[test]
fn export_holds_everything_and_erasure_removes_the_person() {
    let s = open("usr-erase");
    let (admin, _) = s.user("root@example.com", Role::Admin);
    let out =
        s.lv.signup(&json!({"email": "gone@example.com", "name": "Gone Person"}))
            .unwrap();
    let me = s.lv.authenticate_key(&out.api_key).unwrap();
    let req =
        IntakeRequest::from_json(&json!({"kind": "echo", "payload": {"x": 1}}), None).unwrap();
    let job = s.lv.queue.submit(&me.user_id, req).unwrap();
    let pair = s.lv.issue_tokens(&me, &json!({})).unwrap();
    let steps = json!([{"id": "a", "connector": "echo", "params": {"x": 1}}]);
    let pl =
        s.lv.pipelines
            .create_pipeline(&me, &json!({"name": "p", "steps": steps}))
            .unwrap();
    s.lv.pipelines
        .run(&me, &json!({"pipeline_id": pl.id}))
        .unwrap();
    let export = s.lv.export_me(&me).unwrap();
    assert_eq!(export["pipelines"][0]["id"], pl.id.as_str());
    assert_eq!(export["runs"].as_array().unwrap().len(), 1);
    assert_eq!(export["user"]["email"], "gone@example.com");
    assert_eq!(export["jobs"][0]["id"], job.job_id.as_str());
    let amounts: Vec<i64> = export["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["amount"].as_i64())
        .collect();
    assert!(amounts.contains(&100), "{amounts:?}");
    assert_eq!(export["api_keys"].as_array().unwrap().len(), 1);
    assert!(export["api_keys"][0].get("key_hash").is_none());
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(export["signup"]["referred_by"], serde_json::Value::Null);
    let actions: Vec<&str> = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"user.created") && actions.contains(&"token.issued"),
        "{actions:?}"
    );

    let held_entries = export["ledger"].as_array().unwrap().len() as i64;
    let held_balance = s.lv.me(&me).unwrap().credits;
    assert!(
        held_entries >= 2 && held_balance < 100,
        "the run was charged"
    );
    assert_eq!(s.lv.erase_me(&me).unwrap(), json!({"erased": true}));
    assert!(matches!(s.lv.me(&me), Err(Error::NotFound(_))));
    assert!(matches!(
        s.lv.user_by_id(&admin, &me.user_id),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.lv.find_user(&admin, "gone@example.com"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(s.lv.erase_me(&me), Err(Error::NotFound(_))));
    assert_eq!(
        s.lv.authenticate_key(&out.api_key).unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    let bearer = Credentials {
        bearer: Some(&pair.access_token),
        ..Default::default()
    };
    assert_eq!(
        s.lv.authenticate(&bearer).unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    assert!(
        s.lv.refresh_tokens(&json!({"refresh_token": pair.refresh_token}))
            .is_err()
    );
    // The email can sign up again as a new person.
    let again = s.lv.signup(&json!({"email": "gone@example.com"})).unwrap();
    assert_ne!(again.user.id, me.user_id);

    // Ledger totals kept under a pseudonym; nothing names the old id.
    let db = rusqlite::Connection::open(&s.lv.config.db).unwrap();
    let (n, sum): (i64, i64) = db
        .query_row(
            "SELECT COUNT(*), SUM(amount) FROM ledger_entries WHERE user_id LIKE 'anon_%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((n, sum), (held_entries, held_balance));
    for (table, col) in [
        ("pipelines", "user_id"),
        ("runs", "user_id"),
        ("ledger_entries", "user_id"),
        ("audit_events", "actor_id"),
        ("audit_events", "subject_id"),
        ("jobs", "user_id"),
        ("api_keys", "user_id"),
    ] {
        let c: i64 = db
            .query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE {col} = ?1"),
                [&me.user_id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(c, 0, "{table}.{col}");
    }
    let erased: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'user.erased'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(erased, 1);
}
