//! Configuration: one [`Config`] read from `LEVQOR_*` environment variables,
//! optionally layered over a TOML file (`LEVQOR_CONFIG`), plus the
//! [`Secrets`] that development mode generates and production mode demands.
//!
//! Precedence: environment variable, then the TOML file, then the default.
//! TOML keys are the variable names without the `LEVQOR_` prefix, lower-cased
//! (`workers = 4`, `max_body = 1048576`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Deployment mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Secrets are generated on first start and kept in the data folder.
    Development,
    /// Secrets must be given explicitly; start-up fails otherwise.
    Production,
}

/// SQLite `synchronous` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// fsync on every commit: a commit survives power loss.
    Full,
    /// fsync at WAL checkpoints: survives process crashes, not power loss.
    Normal,
}

impl SyncMode {
    /// The PRAGMA value.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        }
    }
}

/// Every setting of a Levqor process.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address (`LEVQOR_ADDR`, default `127.0.0.1:8080`).
    pub addr: String,
    /// SQLite database file (`LEVQOR_DB`, default `./levqor-data/levqor.db`).
    pub db: PathBuf,
    /// Folder holding generated secrets and backups (`LEVQOR_DATA_DIR`,
    /// default: the database's folder).
    pub data_dir: PathBuf,
    /// `LEVQOR_ENV`: `development` (default) or `production`.
    pub mode: Mode,
    /// In-process worker threads (`LEVQOR_WORKERS`, default 2; 0 disables).
    pub workers: usize,
    /// HTTP request threads (`LEVQOR_HTTP_THREADS`, default 16).
    pub http_threads: usize,
    /// Largest accepted request body in bytes (`LEVQOR_MAX_BODY`, default 1 MiB).
    pub max_body: usize,
    /// Job lease in ms (`LEVQOR_LEASE_MS`, default 30000).
    pub lease_ms: i64,
    /// Base of the retry backoff in ms (`LEVQOR_RETRY_BASE_MS`, default 1000).
    pub retry_base_ms: i64,
    /// Cap of the retry backoff in ms (`LEVQOR_RETRY_MAX_MS`, default 3600000).
    pub retry_max_ms: i64,
    /// How often an idle out-of-process worker looks for work, in ms
    /// (`LEVQOR_POLL_MS`, default 100). In-process workers are woken at once.
    pub poll_ms: u64,
    /// Jobs a worker claims per round trip (`LEVQOR_CLAIM_BATCH`, default 16).
    pub claim_batch: usize,
    /// SQLite synchronous mode (`LEVQOR_SQLITE_SYNC`, `FULL` default or `NORMAL`).
    pub sqlite_sync: SyncMode,
    /// Connections in the SQLite pool (`LEVQOR_DB_POOL`, default 16).
    pub db_pool: u32,
    /// Requests per minute per user (`LEVQOR_RATE_LIMIT`, default 60).
    pub rate_limit: u32,
    /// Unauthenticated requests per minute per IP (`LEVQOR_IP_RATE_LIMIT`, default 60).
    pub ip_rate_limit: u32,
    /// Signups per hour per IP (`LEVQOR_SIGNUP_RATE_LIMIT`, default 10).
    pub signup_rate_limit: u32,
    /// Credits granted to a new user (`LEVQOR_FREE_CREDITS`, default 100).
    pub free_credits: i64,
    /// Most steps in a pipeline (`LEVQOR_MAX_STEPS`, default 50).
    pub max_steps: usize,
    /// Largest serialized `params` of one pipeline step in bytes
    /// (`LEVQOR_MAX_PARAMS_BYTES`, default 65536).
    pub max_params_bytes: usize,
    /// Credits per pipeline step by connector (`LEVQOR_STEP_COSTS`, e.g.
    /// `slack=2,http=1,*=1`; default 1 each).
    pub step_costs: crate::pipeline::CostTable,
    /// Key of the OpenAI-compatible LLM planner (`LEVQOR_OPENAI_API_KEY`);
    /// without it planning uses the offline rules planner.
    pub openai_api_key: Option<String>,
    /// Base URL of the chat-completions API (`LEVQOR_OPENAI_BASE_URL`,
    /// default `https://api.openai.com/v1`).
    pub openai_base_url: String,
    /// Planner model (`LEVQOR_OPENAI_MODEL`, default `gpt-4o-mini`).
    pub openai_model: String,
    /// USD per million tokens by model (`LEVQOR_LLM_PRICES`,
    /// `model=input/output,...`, over built-in gpt-4o-mini and gpt-4o prices).
    pub llm_prices: crate::pipeline::LlmPrices,
    /// Explicit JWT secret (`LEVQOR_JWT_SECRET`).
    pub jwt_secret: Option<String>,
    /// Explicit encryption key, 32 hex chars = AES-128 (`LEVQOR_ENCRYPTION_KEY`).
    pub encryption_key: Option<String>,
    /// Explicit blind-index key (`LEVQOR_BLIND_INDEX_KEY`).
    pub blind_index_key: Option<String>,
    /// Connector credentials, base URLs and limits (see docs/connectors.md).
    pub connectors: crate::connectors::settings::ConnectorSettings,
    /// Retired encryption keys that still decrypt (`LEVQOR_OLD_ENCRYPTION_KEYS`,
    /// comma-separated hex), kept until `levqor keys rotate` has run.
    pub old_encryption_keys: Vec<String>,
    /// Email domains refused at signup (`LEVQOR_DISPOSABLE_DOMAINS`,
    /// comma-separated; default a short list of well-known throwaway services).
    pub disposable_domains: Vec<String>,
}

/// Default of `LEVQOR_DISPOSABLE_DOMAINS`.
pub const DISPOSABLE_DOMAINS: &str = "mailinator.com,guerrillamail.com,10minutemail.com,\
    tempmail.com,temp-mail.org,yopmail.com,trashmail.com,sharklasers.com,getnada.com,\
    dispostable.com,maildrop.cc,throwawaymail.com";

fn csv(s: &str) -> Vec<String> {
    s.split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: "127.0.0.1:8080".into(),
            db: PathBuf::from("levqor-data/levqor.db"),
            data_dir: PathBuf::from("levqor-data"),
            mode: Mode::Development,
            workers: 2,
            http_threads: 16,
            max_body: 1 << 20,
            lease_ms: 30_000,
            retry_base_ms: 1_000,
            retry_max_ms: 3_600_000,
            poll_ms: 100,
            claim_batch: 16,
            sqlite_sync: SyncMode::Full,
            db_pool: 16,
            rate_limit: 60,
            ip_rate_limit: 60,
            signup_rate_limit: 10,
            free_credits: 100,
            max_steps: 50,
            max_params_bytes: 64 * 1024,
            step_costs: crate::pipeline::CostTable::default(),
            openai_api_key: None,
            openai_base_url: "https://api.openai.com/v1".into(),
            openai_model: "gpt-4o-mini".into(),
            llm_prices: crate::pipeline::LlmPrices::default(),
            jwt_secret: None,
            encryption_key: None,
            blind_index_key: None,
            old_encryption_keys: Vec::new(),
            disposable_domains: csv(DISPOSABLE_DOMAINS),
            connectors: crate::connectors::settings::ConnectorSettings::default(),
        }
    }
}

/// A source of raw settings by variable name.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Reads the process environment (and `LEVQOR_CONFIG`, if set).
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable when a value is malformed or the
    /// TOML file cannot be read.
    pub fn from_env() -> Result<Config> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let file = match env("LEVQOR_CONFIG") {
            Some(path) => load_toml(Path::new(&path))?,
            None => BTreeMap::new(),
        };
        let lookup = |k: &str| {
            env(k).or_else(|| {
                let key = k.trim_start_matches("LEVQOR_").to_ascii_lowercase();
                file.get(&key).cloned()
            })
        };
        Config::from_lookup(&lookup)
    }

    /// Builds a config from any lookup function (tests use a map).
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable whose value is malformed.
    pub fn from_lookup(get: Lookup<'_>) -> Result<Config> {
        let d = Config::default();
        let db = get("LEVQOR_DB").map(PathBuf::from).unwrap_or(d.db);
        let data_dir = match get("LEVQOR_DATA_DIR") {
            Some(p) => PathBuf::from(p),
            None => db
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        let mode = match get("LEVQOR_ENV").as_deref() {
            None | Some("development") | Some("dev") => Mode::Development,
            Some("production") | Some("prod") => Mode::Production,
            Some(other) => {
                return Err(Error::Config(format!(
                    "LEVQOR_ENV must be `development` or `production`, got `{other}`"
                )));
            }
        };
        let sqlite_sync = match get("LEVQOR_SQLITE_SYNC")
            .map(|s| s.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("FULL") => SyncMode::Full,
            Some("NORMAL") => SyncMode::Normal,
            Some(other) => {
                return Err(Error::Config(format!(
                    "LEVQOR_SQLITE_SYNC must be FULL or NORMAL, got `{other}`"
                )));
            }
        };
        let addr = get("LEVQOR_ADDR").unwrap_or(d.addr);
        if addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(Error::Config(format!(
                "LEVQOR_ADDR must be IP:PORT (for example 127.0.0.1:8080), got `{addr}`"
            )));
        }
        let cfg = Config {
            addr,
            db,
            data_dir,
            mode,
            workers: num(get, "LEVQOR_WORKERS", d.workers, 0, 256)?,
            http_threads: num(get, "LEVQOR_HTTP_THREADS", d.http_threads, 1, 1024)?,
            max_body: num(get, "LEVQOR_MAX_BODY", d.max_body, 1, 1 << 30)?,
            lease_ms: num(get, "LEVQOR_LEASE_MS", d.lease_ms, 100, 86_400_000)?,
            retry_base_ms: num(get, "LEVQOR_RETRY_BASE_MS", d.retry_base_ms, 0, 86_400_000)?,
            retry_max_ms: num(get, "LEVQOR_RETRY_MAX_MS", d.retry_max_ms, 0, 604_800_000)?,
            poll_ms: num(get, "LEVQOR_POLL_MS", d.poll_ms, 1, 60_000)?,
            claim_batch: num(get, "LEVQOR_CLAIM_BATCH", d.claim_batch, 1, 1000)?,
            sqlite_sync,
            db_pool: num(get, "LEVQOR_DB_POOL", d.db_pool, 1, 512)?,
            rate_limit: num(get, "LEVQOR_RATE_LIMIT", d.rate_limit, 1, u32::MAX)?,
            ip_rate_limit: num(get, "LEVQOR_IP_RATE_LIMIT", d.ip_rate_limit, 1, u32::MAX)?,
            signup_rate_limit: num(
                get,
                "LEVQOR_SIGNUP_RATE_LIMIT",
                d.signup_rate_limit,
                1,
                u32::MAX,
            )?,
            free_credits: num(get, "LEVQOR_FREE_CREDITS", d.free_credits, 0, 1_000_000_000)?,
            max_steps: num(get, "LEVQOR_MAX_STEPS", d.max_steps, 1, 10_000)?,
            max_params_bytes: num(
                get,
                "LEVQOR_MAX_PARAMS_BYTES",
                d.max_params_bytes,
                64,
                1 << 24,
            )?,
            step_costs: match get("LEVQOR_STEP_COSTS") {
                Some(spec) => crate::pipeline::CostTable::parse(&spec)?,
                None => d.step_costs,
            },
            openai_api_key: get("LEVQOR_OPENAI_API_KEY"),
            openai_base_url: get("LEVQOR_OPENAI_BASE_URL").unwrap_or(d.openai_base_url),
            openai_model: get("LEVQOR_OPENAI_MODEL").unwrap_or(d.openai_model),
            llm_prices: match get("LEVQOR_LLM_PRICES") {
                Some(spec) => crate::pipeline::LlmPrices::parse(&spec)?,
                None => d.llm_prices,
            },
            jwt_secret: get("LEVQOR_JWT_SECRET"),
            encryption_key: get("LEVQOR_ENCRYPTION_KEY"),
            blind_index_key: get("LEVQOR_BLIND_INDEX_KEY"),
            old_encryption_keys: get("LEVQOR_OLD_ENCRYPTION_KEYS")
                .map(|s| csv(&s))
                .unwrap_or_default(),
            disposable_domains: get("LEVQOR_DISPOSABLE_DOMAINS")
                .map(|s| csv(&s))
                .unwrap_or(d.disposable_domains),
            connectors: crate::connectors::settings::ConnectorSettings::from_lookup(get)?,
        };
        Ok(cfg)
    }
}

fn num<T>(get: Lookup<'_>, key: &str, default: T, min: T, max: T) -> Result<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match get(key) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<T>() {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(Error::Config(format!(
                "{key} must be a whole number from {min} to {max}, got `{raw}`"
            ))),
        },
    }
}

fn load_toml(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read config file {}: {e}", path.display())))?;
    let table: toml::Table = text.parse().map_err(|e| {
        Error::Config(format!(
            "config file {} is not valid TOML: {e}",
            path.display()
        ))
    })?;
    let mut out = BTreeMap::new();
    for (k, v) in table {
        let s = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(Error::Config(format!(
                    "config key `{k}` must be a string, number or boolean, got {other}"
                )));
            }
        };
        out.insert(k.to_ascii_lowercase(), s);
    }
    Ok(out)
}

/// The process's secret material.
#[derive(Clone)]
pub struct Secrets {
    /// HS256 key for access tokens.
    pub jwt_secret: Vec<u8>,
    /// AES-128 key for PII at rest.
    pub encryption_key: [u8; 16],
    /// HMAC key of the email blind index.
    pub blind_index_key: Vec<u8>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SecretsFile {
    jwt_secret: String,
    encryption_key: String,
    blind_index_key: String,
}

const SECRETS_FILE: &str = "secrets.json";

impl Secrets {
    /// Loads secrets: explicit settings win; in development mode missing ones
    /// come from `DATA_DIR/secrets.json`, created (mode 0600) on first start.
    ///
    /// # Errors
    /// In production mode, [`Error::Config`] listing every missing setting;
    /// a malformed key or an unreadable secrets file is an error in any mode.
    pub fn load(cfg: &Config) -> Result<Secrets> {
        if cfg.mode == Mode::Production {
            let missing: Vec<&str> = [
                ("LEVQOR_JWT_SECRET", cfg.jwt_secret.is_none()),
                ("LEVQOR_ENCRYPTION_KEY", cfg.encryption_key.is_none()),
                ("LEVQOR_BLIND_INDEX_KEY", cfg.blind_index_key.is_none()),
            ]
            .into_iter()
            .filter_map(|(k, miss)| miss.then_some(k))
            .collect();
            if !missing.is_empty() {
                return Err(Error::Config(format!(
                    "production mode needs explicit secrets; missing: {}",
                    missing.join(", ")
                )));
            }
        }
        let stored = if cfg.mode == Mode::Development {
            Some(load_or_create_file(&cfg.data_dir)?)
        } else {
            None
        };
        let pick = |explicit: &Option<String>, stored: Option<&String>| -> String {
            explicit
                .clone()
                .or_else(|| stored.cloned())
                .unwrap_or_default()
        };
        let jwt = pick(&cfg.jwt_secret, stored.as_ref().map(|s| &s.jwt_secret));
        if jwt.len() < 32 {
            return Err(Error::Config(
                "LEVQOR_JWT_SECRET must be at least 32 characters".into(),
            ));
        }
        let enc = pick(
            &cfg.encryption_key,
            stored.as_ref().map(|s| &s.encryption_key),
        );
        let enc_bytes = hex::decode(enc.trim())
            .ok()
            .filter(|b| b.len() == 16)
            .ok_or_else(|| {
                Error::Config("LEVQOR_ENCRYPTION_KEY must be 32 hex characters (AES-128)".into())
            })?;
        let bidx = pick(
            &cfg.blind_index_key,
            stored.as_ref().map(|s| &s.blind_index_key),
        );
        if bidx.len() < 32 {
            return Err(Error::Config(
                "LEVQOR_BLIND_INDEX_KEY must be at least 32 characters".into(),
            ));
        }
        let mut encryption_key = [0u8; 16];
        encryption_key.copy_from_slice(&enc_bytes);
        Ok(Secrets {
            jwt_secret: jwt.into_bytes(),
            encryption_key,
            blind_index_key: bidx.into_bytes(),
        })
    }
}

fn load_or_create_file(dir: &Path) -> Result<SecretsFile> {
    let path = dir.join(SECRETS_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        return serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{} is corrupt: {e}", path.display())));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Config(format!("cannot create data folder {}: {e}", dir.display())))?;
    let file = SecretsFile {
        jwt_secret: crate::ids::random_token(32),
        encryption_key: crate::ids::random_token(16),
        blind_index_key: crate::ids::random_token(32),
    };
    let text = serde_json::to_string_pretty(&file).map_err(|e| Error::Internal(e.to_string()))?;
    write_private(&path, text.as_bytes())?;
    Ok(file)
}

/// Writes a file readable by its owner only (0600), atomically: another
/// process racing to create it either sees none or the whole file.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let err = |e: std::io::Error| Error::Config(format!("cannot write {}: {e}", path.display()));
    let mut f = opts.open(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    // hard_link fails if another process created the file first: keep theirs.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_data_dir_follow_db() {
        let c = cfg(&[("LEVQOR_DB", "/tmp/x/levqor.db")]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.addr, "127.0.0.1:8080");
        assert_eq!(c.max_body, 1 << 20);
        assert_eq!(c.mode, Mode::Development);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        let e = cfg(&[("LEVQOR_WORKERS", "many")]).unwrap_err().to_string();
        assert!(e.contains("LEVQOR_WORKERS"), "{e}");
        let e = cfg(&[("LEVQOR_ADDR", "nowhere")]).unwrap_err().to_string();
        assert!(e.contains("LEVQOR_ADDR"), "{e}");
        let e = cfg(&[("LEVQOR_ENV", "staging")]).unwrap_err().to_string();
        assert!(e.contains("LEVQOR_ENV"), "{e}");
    }

    #[test]
    fn production_lists_missing_secrets() {
        let c = cfg(&[
            ("LEVQOR_ENV", "production"),
            ("LEVQOR_JWT_SECRET", &"s".repeat(40)),
        ])
        .unwrap();
        let e = Secrets::load(&c).unwrap_err().to_string();
        assert!(
            e.contains("LEVQOR_ENCRYPTION_KEY") && e.contains("LEVQOR_BLIND_INDEX_KEY"),
            "{e}"
        );
        assert!(!e.contains("LEVQOR_JWT_SECRET"), "{e}");
    }

    #[test]
    fn development_secrets_are_generated_once_with_0600() {
        let dir =
            std::env::temp_dir().join(format!("levqor-secrets-{}", crate::ids::random_token(6)));
        let c = cfg(&[("LEVQOR_DATA_DIR", dir.to_str().unwrap())]).unwrap();
        let a = Secrets::load(&c).unwrap();
        let b = Secrets::load(&c).unwrap();
        assert_eq!(a.jwt_secret, b.jwt_secret);
        assert_eq!(a.encryption_key, b.encryption_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(SECRETS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn toml_file_is_read() {
        let dir = std::env::temp_dir().join(format!("levqor-toml-{}", crate::ids::random_token(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("levqor.toml");
        std::fs::write(&p, "workers = 5\naddr = \"127.0.0.1:9000\"\n").unwrap();
        let map = load_toml(&p).unwrap();
        let c = Config::from_lookup(&|k| {
            map.get(&k.trim_start_matches("LEVQOR_").to_ascii_lowercase())
                .cloned()
        })
        .unwrap();
        assert_eq!(c.workers, 5);
        assert_eq!(c.addr, "127.0.0.1:9000");
        let _ = std::fs::remove_dir_all(dir);
    }
}
