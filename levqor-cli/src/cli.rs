//! The command-line grammar (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Levqor: durable job orchestration for AI automation.
#[derive(Debug, Parser)]
#[command(name = "levqor", version, about, propagate_version = true)]
pub struct Cli {
    /// SQLite database file (also LEVQOR_DB).
    #[arg(long, global = true, env = "LEVQOR_DB")]
    pub db: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data folder, secrets and database schema.
    Init,
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(ApikeyCmd),
    /// Submit and inspect jobs.
    #[command(subcommand)]
    Job(JobCmd),
    /// The dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCmd),
    /// Queue state.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Run a worker process on the database until SIGINT/SIGTERM.
    Worker(WorkerArgs),
    /// Measure queue throughput and latency; prints `RESULT {json}` lines.
    BenchQueue(BenchQueueArgs),
    /// Try connectors.
    #[command(subcommand)]
    Connector(ConnectorCmd),
    /// Manage users (as an operator).
    #[command(subcommand)]
    User(UserCmd),
    /// Encryption keys of personal data.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Feature flags.
    #[command(subcommand)]
    Flags(FlagsCmd),
    /// Turn a description into a stored pipeline (offline rules planner, or
    /// the LLM planner when LEVQOR_OPENAI_API_KEY is set).
    Plan {
        /// What the automation should do, in plain words.
        description: String,
        /// Owner's email (created as a user if new).
        #[arg(long, default_value = "operator@levqor.local")]
        email: String,
    },
    /// Run a pipeline from a JSON file and print the run.
    Run {
        /// Pipeline file: `{"name", "steps": [...]}`.
        pipeline: PathBuf,
        /// Input file (JSON object) for `{{input.…}}` templates.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Queue it as a `pipeline.run` job instead of running it here.
        #[arg(long = "async")]
        is_async: bool,
        /// Owner's email (created as a user if new); credits are charged to it.
        #[arg(long, default_value = "operator@levqor.local")]
        email: String,
    },
    /// Measure the pipeline executor: N runs of M echo steps, with and
    /// without persistence; prints `RESULT {json}` lines.
    Bench {
        /// Runs.
        #[arg(long, default_value_t = 2000)]
        runs: usize,
        /// Steps per run.
        #[arg(long, default_value_t = 3)]
        steps: usize,
    },
}

/// `levqor user ...`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user, or update the named fields of an existing one (by email).
    Create {
        /// Email.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Role: user, partner or admin.
        #[arg(long)]
        role: Option<String>,
    },
    /// Show a user by id or by `--email`.
    Get {
        /// User id (`usr_…`).
        id: Option<String>,
        /// Look up by email instead.
        #[arg(long)]
        email: Option<String>,
    },
    /// List users, newest first.
    List {
        /// Page size (1 to 200).
        #[arg(long)]
        limit: Option<i64>,
        /// Cursor from a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Change a user's name, locale, marketing consent or role.
    Patch {
        /// User id.
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Locale (`en`, `pt-BR`).
        #[arg(long)]
        locale: Option<String>,
        /// Marketing consent: true or false.
        #[arg(long)]
        marketing_opt_in: Option<bool>,
        /// Role: user, partner or admin.
        #[arg(long)]
        role: Option<String>,
    },
}

/// `levqor keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Re-encrypt every stored email and name under LEVQOR_ENCRYPTION_KEY
    /// (keep the previous key in LEVQOR_OLD_ENCRYPTION_KEYS until this ran).
    Rotate,
}

/// `levqor audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List audit events, newest first.
    List {
        /// Page size (1 to 200).
        #[arg(long)]
        limit: Option<i64>,
        /// Cursor from a previous page.
        #[arg(long)]
        cursor: Option<String>,
        /// Only this action (`token.reuse_detected`, `user.erased`, ...).
        #[arg(long)]
        action: Option<String>,
        /// Only events about this subject (user id or flag name).
        #[arg(long)]
        subject: Option<String>,
    },
}

/// `levqor flags ...`
#[derive(Debug, Subcommand)]
pub enum FlagsCmd {
    /// Every flag and its state.
    List,
    /// Create or change a flag.
    Set {
        /// Flag name.
        name: String,
        /// Master switch: true or false.
        #[arg(long)]
        enabled: Option<bool>,
        /// Share of users, 0 to 100.
        #[arg(long)]
        rollout: Option<i64>,
    },
    /// Undo the newest flag change.
    Rollback,
}

/// `levqor apikey ...`
#[derive(Debug, Subcommand)]
pub enum ApikeyCmd {
    /// Create a key (and the user, if new); the key is the last line printed.
    Create {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// Role of a new user: user, partner or admin.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// Revoke a key by id (`key_…`).
    Revoke {
        /// Key id.
        key_id: String,
    },
}

/// `levqor job ...`
#[derive(Debug, Subcommand)]
pub enum JobCmd {
    /// Enqueue a job.
    Submit(SubmitArgs),
    /// Show one job.
    Status {
        /// Job id.
        job_id: String,
    },
    /// List jobs, newest first.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Page size (1 to 200).
        #[arg(long)]
        limit: Option<i64>,
        /// Cursor from a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Cancel a queued job.
    Cancel {
        /// Job id.
        job_id: String,
    },
}

/// Arguments of `levqor job submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Job kind (`echo`, `pipeline.run`, ...).
    #[arg(long)]
    pub kind: String,
    /// Payload as JSON text.
    #[arg(long, default_value = "{}")]
    pub payload: String,
    /// Priority 0 (first) to 9.
    #[arg(long)]
    pub priority: Option<i64>,
    /// RFC 3339 time before which the job does not run.
    #[arg(long)]
    pub run_at: Option<String>,
    /// Attempts before the job goes dead (1 to 20).
    #[arg(long)]
    pub max_attempts: Option<i64>,
    /// Per-attempt timeout in ms.
    #[arg(long)]
    pub timeout_ms: Option<i64>,
    /// Idempotency key.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Owner's email (created as a user if new).
    #[arg(long, default_value = "operator@levqor.local")]
    pub email: String,
}

/// `levqor dlq ...`
#[derive(Debug, Subcommand)]
pub enum DlqCmd {
    /// List dead jobs.
    List {
        /// Page size (1 to 200).
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Requeue dead jobs (all, or the ids given) with attempts reset.
    Retry {
        /// Job ids; none means every dead job.
        job_ids: Vec<String>,
    },
}

/// `levqor queue ...`
#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// Counts by status, oldest waiting age, live workers.
    Health,
}

/// Arguments of `levqor worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Worker threads (default LEVQOR_WORKERS or 2).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Arguments of `levqor bench-queue`.
#[derive(Debug, Args)]
pub struct BenchQueueArgs {
    /// Jobs in the throughput run.
    #[arg(long, default_value_t = 10_000)]
    pub n: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Jobs in the latency run (0 skips it).
    #[arg(long, default_value_t = 2_000)]
    pub n_latency: usize,
    /// Offered rate of the latency run, jobs/s.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
}

/// `levqor connector ...`
#[derive(Debug, Subcommand)]
pub enum ConnectorCmd {
    /// Run one task of connector NAME with the params in a JSON file and
    /// print its output (credentials come from the LEVQOR_* settings).
    Test {
        /// Connector name (slack, telegram, email, notion, sheets, http, echo...).
        name: String,
        /// JSON file holding the params object (`-` for standard input).
        #[arg(long)]
        params: PathBuf,
    },
}
