-- Identity and security: signup facts on users, token families with
-- single-use refresh tokens, issued access tokens (the revocation table),
-- the audit log and feature flags with their change history.
ALTER TABLE users ADD COLUMN referred_by TEXT;          -- referrer's user id, if any
ALTER TABLE users ADD COLUMN signup_device TEXT;        -- SHA-256 of the device id given at signup

-- One family per login (POST /auth/token); every refresh stays in it.
CREATE TABLE token_families (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_hash TEXT,                                   -- SHA-256 of the bound device id, if any
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    revoked_why TEXT
);
CREATE INDEX token_families_user ON token_families(user_id);

-- Refresh tokens: only the SHA-256 of the token is kept. Single use:
-- spent_at is set by one guarded UPDATE.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    spent_at    INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);

-- Every issued access token by jti, kept until it expires: a bearer token
-- is accepted only while its row exists and neither it nor its family is
-- revoked. Pruned by `prune_tokens`.
CREATE TABLE access_tokens (
    jti         TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX access_tokens_family ON access_tokens(family_id);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);

-- Audit log: who did what to whom. No PII: ids and facts only.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    actor_id    TEXT,
    subject_id  TEXT,
    action      TEXT NOT NULL,
    details     TEXT NOT NULL,                          -- JSON object
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_subject ON audit_events(subject_id, id);
CREATE INDEX audit_actor ON audit_events(actor_id, id);

CREATE TABLE feature_flags (
    name        TEXT PRIMARY KEY,
    state       TEXT NOT NULL,                          -- JSON: enabled, rollout_pct, overrides
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT
);

CREATE TABLE flag_changes (
    id          TEXT PRIMARY KEY,
    flag        TEXT NOT NULL,
    actor_id    TEXT,
    before      TEXT,                                   -- JSON state, NULL when the flag was new
    after       TEXT NOT NULL,                          -- JSON state
    created_at  INTEGER NOT NULL,
    rolled_back INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX flag_changes_flag ON flag_changes(flag, id);
