-- Pipelines and runs. A run keeps a snapshot of the definition it runs, so it
-- can always be resumed; run_steps holds one row per finished step (a step
-- without a row is pending), written as each step finishes.
CREATE TABLE pipelines (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,                 -- {"name","steps"} JSON
    created_at  INTEGER NOT NULL
);
CREATE INDEX pipelines_user ON pipelines(user_id, id);

CREATE TABLE runs (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,
    pipeline_id       TEXT,                    -- NULL for an inline pipeline
    job_id            TEXT UNIQUE,
    status            TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','cancelled')),
    definition        TEXT NOT NULL,
    input             TEXT NOT NULL,
    credits_reserved  INTEGER NOT NULL DEFAULT 0,
    credits_charged   INTEGER NOT NULL DEFAULT 0,
    credits_remaining INTEGER,
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER
);
CREATE INDEX runs_user ON runs(user_id, id);

CREATE TABLE run_steps (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    step_id     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending','running','succeeded','failed','skipped')),
    attempts    INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    output      TEXT,
    error       TEXT,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
