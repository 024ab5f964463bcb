//! Credits: an append-only ledger with the balance on the user row kept
//! consistent with it in the same transaction.
//!
//! Every change of a balance is a [`LedgerEntry`]; entries are never updated
//! or deleted. An entry with an idempotency key is applied at most once (a
//! Stripe event id, a run's reservation). Debits never take a balance below
//! zero: a debit the balance cannot cover fails with
//! [`crate::Error::InsufficientCredits`] and changes nothing.

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::error::{Error, Result};

/// Why credits moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// Free credits (sign-up, admin grant).
    Grant,
    /// Credits spent.
    Debit,
    /// Credits given back (unused reservation, failed run).
    Refund,
    /// Credits bought.
    Purchase,
    /// Referral reward.
    Referral,
    /// A run's maximum cost, held until it settles.
    Reserve,
    /// Manual correction by an operator.
    Adjustment,
}

impl EntryKind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Grant => "grant",
            EntryKind::Debit => "debit",
            EntryKind::Refund => "refund",
            EntryKind::Purchase => "purchase",
            EntryKind::Referral => "referral",
            EntryKind::Reserve => "reserve",
            EntryKind::Adjustment => "adjustment",
        }
    }
}

impl std::str::FromStr for EntryKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "grant" => EntryKind::Grant,
            "debit" => EntryKind::Debit,
            "refund" => EntryKind::Refund,
            "purchase" => EntryKind::Purchase,
            "referral" => EntryKind::Referral,
            "reserve" => EntryKind::Reserve,
            "adjustment" => EntryKind::Adjustment,
            _ => {
                return Err(Error::invalid(
                    "/kind",
                    format!("unknown ledger entry kind `{s}`"),
                ));
            }
        })
    }
}

/// A change to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Account.
    pub user_id: String,
    /// Why.
    pub kind: EntryKind,
    /// Signed change: negative for debits and reservations.
    pub amount: i64,
    /// What it refers to (run id, Stripe event id...).
    pub reference: Option<String>,
    /// Applied at most once per key.
    pub idempotency_key: Option<String>,
}

/// A recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Entry id (`led_…`).
    pub id: String,
    /// Account.
    pub user_id: String,
    /// Why.
    pub kind: EntryKind,
    /// Signed change.
    pub amount: i64,
    /// Balance after this entry.
    pub balance_after: i64,
    /// What it refers to.
    pub reference: Option<String>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
}

impl LedgerEntry {
    /// JSON form for exports and APIs.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "kind": self.kind.as_str(),
            "amount": self.amount,
            "balance_after": self.balance_after,
            "reference": self.reference,
            "created_at": rfc3339(self.created_at),
        })
    }
}

/// Durable ledger storage.
pub trait LedgerStore: Send + Sync {
    /// Applies entries atomically (all or none) and returns them as recorded.
    /// An entry whose idempotency key was already applied is not applied
    /// again; the earlier entry is returned in its place.
    ///
    /// # Errors
    /// [`Error::InsufficientCredits`] when a negative entry would take a
    /// balance below zero (nothing is applied); [`Error::NotFound`] for an
    /// unknown user; storage errors.
    fn apply(&self, entries: &[NewEntry], now_ms: i64) -> Result<Vec<LedgerEntry>>;

    /// A user's entries, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    fn entries(&self, user_id: &str) -> Result<Vec<LedgerEntry>>;

    /// A user's balance.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown user.
    fn balance(&self, user_id: &str) -> Result<i64>;
}
