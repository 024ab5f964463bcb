-- Credits ledger: append-only; users.credits is kept equal to the sum of a
-- user's entries in the same transaction. user_id is not a foreign key so
-- that erasure can pseudonymise the person while keeping the totals.
CREATE TABLE ledger_entries (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    balance_after   INTEGER NOT NULL,
    reference       TEXT,
    idempotency_key TEXT UNIQUE,
    created_at      INTEGER NOT NULL
);
CREATE INDEX ledger_user ON ledger_entries(user_id, id);
