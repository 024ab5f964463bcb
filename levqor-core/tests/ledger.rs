//! Credits ledger: balances follow entries, debits never overdraw, idempotency.

use std::sync::Arc;

use levqor_core::billing::{EntryKind, LedgerStore, NewEntry};
use levqor_core::storage::SqliteStore;
use levqor_core::users::{NewUser, Role, UserStore};

fn entry(user: &str, kind: EntryKind, amount: i64, key: Option<&str>) -> NewEntry {
    NewEntry {
        user_id: user.into(),
        kind,
        amount,
        reference: None,
        idempotency_key: key.map(str::to_string),
    }
}

#[test]
fn signup_grant_is_an_entry_and_debits_cannot_overdraw() {
    let s = SqliteStore::open_temp().unwrap();
    let new = NewUser {
        email: "a@b.co".into(),
        name: None,
        role: Role::User,
        credits: 100,
    };
    let (u, created) = s.upsert_by_email(&new, 1).unwrap();
    assert!(created);
    assert_eq!(u.credits, 100);
    assert_eq!(s.entries(&u.id).unwrap().len(), 1);
    let e = s
        .apply(&[entry(&u.id, EntryKind::Debit, -150, None)], 2)
        .unwrap_err();
    assert!(matches!(
        e,
        levqor_core::Error::InsufficientCredits {
            needed: 150,
            available: 100
        }
    ));
    assert_eq!(s.balance(&u.id).unwrap(), 100);
    s.apply(&[entry(&u.id, EntryKind::Purchase, 50, Some("evt_1"))], 3)
        .unwrap();
    s.apply(&[entry(&u.id, EntryKind::Purchase, 50, Some("evt_1"))], 4)
        .unwrap();
    assert_eq!(s.balance(&u.id).unwrap(), 150);
    let sum: i64 = s.entries(&u.id).unwrap().iter().map(|e| e.amount).sum();
    assert_eq!(sum, 150);
}

#[test]
fn parallel_reservations_never_overdraw() {
    let s = Arc::new(SqliteStore::open_temp().unwrap());
    let new = NewUser {
        email: "p@b.co".into(),
        name: None,
        role: Role::User,
        credits: 10,
    };
    let (u, _) = s.upsert_by_email(&new, 1).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            let id = u.id.clone();
            std::thread::spawn(move || {
                s.apply(&[entry(&id, EntryKind::Reserve, -3, None)], 2)
                    .is_ok()
            })
        })
        .collect();
    let ok = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|b| *b)
        .count();
    assert_eq!(ok, 3);
    assert_eq!(s.balance(&u.id).unwrap(), 1);
}
