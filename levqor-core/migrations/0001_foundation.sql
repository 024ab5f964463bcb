-- Foundation: users (PII encrypted), API keys, the durable job queue, workers.
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email_bidx      TEXT NOT NULL UNIQUE,      -- HMAC-SHA256 blind index of the normalised email
    email_ct        TEXT NOT NULL,             -- AES-GCM ciphertext (key id, nonce, data)
    name_ct         TEXT,
    role            TEXT NOT NULL CHECK (role IN ('user', 'partner', 'admin')),
    credits         INTEGER NOT NULL DEFAULT 0,
    referral_code   TEXT NOT NULL UNIQUE,
    locale          TEXT,
    marketing_opt_in INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_hash     TEXT NOT NULL UNIQUE,         -- SHA-256 of the whole key, hex
    prefix       TEXT NOT NULL,                -- first characters, for display
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_user ON api_keys(user_id);

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','dead','cancelled')),
    priority         INTEGER NOT NULL,
    payload          TEXT NOT NULL,
    result           TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    timeout_ms       INTEGER,
    idempotency_key  TEXT,
    created_at       INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs(user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The claim walks jobs_ready in order; jobs_due answers "when is the next one due".
CREATE INDEX jobs_ready ON jobs(priority, run_at, id) WHERE status IN ('queued', 'failed');
CREATE INDEX jobs_due ON jobs(run_at) WHERE status IN ('queued', 'failed');
CREATE INDEX jobs_leases ON jobs(lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_user ON jobs(user_id, id);
CREATE INDEX jobs_status ON jobs(status, id);

CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    threads      INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
