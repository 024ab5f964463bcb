//! Feature flags (rollout, overrides, history, rollback), the audit log
//! listing, and the configured rate limits.

mod identity_support;

use levqor_core::audit::AuditQuery;
use levqor_core::users::Role;
use levqor_core::{Config, ErrorKind};
use serde_json::json;

use identity_support::{config, open, open_with, temp_dir};

#[test]
fn flags_change_with_history_and_roll_back_in_one_call() {
    let s = open("flags");
    let (admin, _) = s.user("root@example.com", Role::Admin);
    let (user, _) = s.user("u@example.com", Role::User);
    assert!(
        !s.lv.flag_enabled("new-ui", &user.user_id).unwrap(),
        "unknown flags are off"
    );
    s.lv.set_flag(
        &admin,
        &json!({"name": "new-ui", "enabled": true, "rollout_pct": 100}),
    )
    .unwrap();
    assert!(s.lv.flag_enabled("new-ui", &user.user_id).unwrap());
    s.clock.advance(1);
    let c = s.lv.set_flag(&admin, &json!({"name": "new-ui", "rollout_pct": 0, "overrides": {admin.user_id.clone(): true}})).unwrap();
    assert_eq!(c.before.as_ref().unwrap().rollout_pct, 100);
    assert_eq!(c.after.rollout_pct, 0);
    assert_eq!(c.actor_id.as_deref(), Some(admin.user_id.as_str()));
    assert!(!s.lv.flag_enabled("new-ui", &user.user_id).unwrap());
    assert!(
        s.lv.flag_enabled("new-ui", &admin.user_id).unwrap(),
        "override wins"
    );
    // Roll back the last change: 100 % again, override gone.
    s.clock.advance(1);
    let undone = s.lv.rollback_flag_change(Some(&admin)).unwrap().unwrap();
    assert_eq!(undone.id, c.id);
    assert!(s.lv.flag_enabled("new-ui", &user.user_id).unwrap());
    let flags = s.lv.list_flags(&admin).unwrap();
    assert_eq!(flags.len(), 1);
    assert!(flags[0].1.overrides.is_empty());
    // Rolling back the creation removes the flag; then nothing is left to undo.
    s.clock.advance(1);
    assert!(s.lv.rollback_flag_change(None).unwrap().is_some());
    assert!(s.lv.list_flags(&admin).unwrap().is_empty());
    assert!(s.lv.rollback_flag_change(None).unwrap().is_none());
    // Admins only; strict bodies.
    assert_eq!(
        s.lv.set_flag(&user, &json!({"name": "x"}))
            .unwrap_err()
            .kind(),
        ErrorKind::Forbidden
    );
    assert_eq!(
        s.lv.list_flags(&user).unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    assert_eq!(
        s.lv.rollback_flag_change(Some(&user)).unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    let e =
        s.lv.set_flag(&admin, &json!({"name": "x", "overrides": {"bob": true}}))
            .unwrap_err();
    assert_eq!(e.details()[0].path, "/overrides/bob");
    // The newest change is undone even when several share a millisecond.
    s.lv.set_flag(&admin, &json!({"name": "same-ms", "enabled": true}))
        .unwrap();
    let b =
        s.lv.set_flag(&admin, &json!({"name": "same-ms", "rollout_pct": 50}))
            .unwrap();
    assert_eq!(s.lv.rollback_flag_change(None).unwrap().unwrap().id, b.id);
    s.clock.advance(1);
    // Every change is audited.
    let q = AuditQuery {
        subject_id: Some("new-ui".into()),
        ..AuditQuery::default()
    };
    let actions: Vec<String> =
        s.lv.list_audit(&admin, &q)
            .unwrap()
            .items
            .into_iter()
            .map(|e| e.action)
            .collect();
    assert_eq!(
        actions,
        [
            "flag.rolled_back",
            "flag.rolled_back",
            "flag.changed",
            "flag.changed"
        ]
    );
}

#[test]
fn audit_listing_pages_newest_first_for_admins_only() {
    let s = open("audit");
    let (admin, _) = s.user("root@example.com", Role::Admin);
    for i in 0..7 {
        s.clock.advance(1);
        s.lv.signup(&json!({"email": format!("a{i}@example.com")}))
            .unwrap();
    }
    let q = AuditQuery {
        limit: Some(5),
        action: Some("user.created".into()),
        ..AuditQuery::default()
    };
    let p1 = s.lv.list_audit(&admin, &q).unwrap();
    assert_eq!(p1.items.len(), 5);
    assert!(
        p1.items.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
    let q2 = AuditQuery {
        cursor: p1.next_cursor.clone(),
        ..q.clone()
    };
    let p2 = s.lv.list_audit(&admin, &q2).unwrap();
    assert_eq!(p2.items.len(), 2);
    assert!(p2.next_cursor.is_none());
    let json = p2.items[0].to_json();
    for k in [
        "id",
        "actor_id",
        "subject_id",
        "action",
        "details",
        "created_at",
    ] {
        assert!(json.get(k).is_some(), "{k}");
    }
    let (user, _) = s.user("u@example.com", Role::User);
    assert_eq!(
        s.lv.list_audit(&user, &q).unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    let bad = AuditQuery {
        limit: Some(201),
        ..AuditQuery::default()
    };
    assert_eq!(
        s.lv.list_audit(&admin, &bad).unwrap_err().kind(),
        ErrorKind::Validation
    );
    let bad = AuditQuery {
        cursor: Some("nope".into()),
        ..AuditQuery::default()
    };
    assert_eq!(
        s.lv.list_audit(&admin, &bad).unwrap_err().kind(),
        ErrorKind::Validation
    );
    // Keys created by the operator are audited too.
    let q = AuditQuery {
        action: Some("key.created".into()),
        ..AuditQuery::default()
    };
    assert!(s.lv.list_audit(&admin, &q).unwrap().items.len() >= 9);
}

#[test]
fn configured_rate_limits_per_user_and_ip() {
    let dir = temp_dir("rl");
    let cfg = Config {
        rate_limit: 3,
        ip_rate_limit: 2,
        ..config(&dir)
    };
    let s = open_with(cfg, dir);
    for i in 0..3 {
        let d = s.lv.limits.check_user("usr_a");
        assert!(d.allowed, "{i}");
        assert_eq!(d.policy_header(), "\"default\";q=3;w=60");
        assert_eq!(
            d.header(),
            format!("\"default\";r={};t={}", 2 - i, 20 * (i + 1))
        );
    }
    let d = s.lv.limits.check_user("usr_a");
    assert!(!d.allowed);
    assert_eq!(
        (d.retry_after_s, d.retry_after()),
        (20, Some("20".to_string()))
    );
    assert_eq!(d.check().unwrap_err().kind(), ErrorKind::RateLimited);
    assert!(s.lv.limits.check_user("usr_b").allowed, "per user");
    assert!(s.lv.limits.check_ip("1.2.3.4").allowed && s.lv.limits.check_ip("1.2.3.4").allowed);
    assert!(!s.lv.limits.check_ip("1.2.3.4").allowed);
    s.clock.advance(20_000);
    assert!(
        s.lv.limits.check_user("usr_a").allowed,
        "refills one per interval"
    );
    assert!(!s.lv.limits.check_user("usr_a").allowed);
}
