//! The crate's error type.
//!
//! Every fallible operation in levqor-core returns [`Error`]. Front ends map
//! [`Error::kind`] onto their own vocabulary (HTTP status codes, CLI exit
//! codes) in exactly one place; the core never speaks HTTP.

use std::fmt;

/// A field-level validation problem: a JSON pointer and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// JSON pointer of the offending member (`/kind`, `/steps/2/id`).
    pub path: String,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The broad class of an error, which decides how front ends answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Input breaks a schema or a rule (HTTP 422).
    Validation,
    /// Input is not JSON or not the expected shape at the top level (HTTP 400).
    InvalidJson,
    /// Missing, bad, expired or revoked credentials (HTTP 401).
    Unauthorized,
    /// Authenticated but not allowed (HTTP 403).
    Forbidden,
    /// Unknown resource, or one owned by someone else (HTTP 404).
    NotFound,
    /// The resource's state does not allow the operation (HTTP 409).
    Conflict,
    /// The account cannot pay for the operation (HTTP 402).
    InsufficientCredits,
    /// Over a rate limit (HTTP 429).
    RateLimited,
    /// Storage unreachable or the process is shutting down (HTTP 503).
    Unavailable,
    /// Bad configuration.
    Config,
    /// A bug or an unexpected failure (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// The stable code used in API error bodies.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Validation => "validation_failed",
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::InsufficientCredits => "insufficient_credits",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Config => "config",
            ErrorKind::Internal => "internal",
        }
    }
}

/// A storage backend failure, free of any backend's own types.
#[derive(Debug, Clone, thiserror::Error)]
#[error("storage error: {message}")]
pub struct StorageError {
    /// Whether the store is unreachable/busy (retryable) or the call was wrong.
    pub unavailable: bool,
    /// Description for logs; never shown to API clients.
    pub message: String,
}

/// The error of every levqor-core operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input breaks the schema; each entry names a field.
    #[error("validation failed: {}", summary(.0))]
    Validation(Vec<FieldError>),
    /// Body is not JSON or not an object.
    #[error("{0}")]
    InvalidJson(String),
    /// Missing or bad credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Not allowed for this role.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown resource (the string names what: "job", "user"...).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// State conflict.
    #[error("{0}")]
    Conflict(String),
    /// Balance too low.
    #[error("insufficient credits: needs {needed}, has {available}")]
    InsufficientCredits {
        /// Credits the operation would reserve.
        needed: i64,
        /// Credits on the account.
        available: i64,
    },
    /// Rate limited; retry after this many seconds.
    #[error("rate limit exceeded, retry in {retry_after_s} s")]
    RateLimited {
        /// Whole seconds to wait, at least 1.
        retry_after_s: u64,
    },
    /// Shutting down or storage unreachable.
    #[error("{0}")]
    Unavailable(String),
    /// Configuration problem, found at start-up.
    #[error("configuration error: {0}")]
    Config(String),
    /// Storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else unexpected.
    #[error("internal error: {0}")]
    Internal(String),
}

fn summary(details: &[FieldError]) -> String {
    details
        .iter()
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Validation(_) => ErrorKind::Validation,
            Error::InvalidJson(_) => ErrorKind::InvalidJson,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::InsufficientCredits { .. } => ErrorKind::InsufficientCredits,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::Config(_) => ErrorKind::Config,
            Error::Storage(e) if e.unavailable => ErrorKind::Unavailable,
            Error::Storage(_) | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// A single-field validation error.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(path, message)])
    }

    /// Field details of a validation error (empty for other kinds).
    pub fn details(&self) -> &[FieldError] {
        match self {
            Error::Validation(d) => d,
            _ => &[],
        }
    }

    /// The message safe to show to API clients: internals are never leaked.
    pub fn public_message(&self) -> String {
        match self.kind() {
            ErrorKind::Internal => "internal error".to_string(),
            ErrorKind::Unavailable => "service unavailable".to_string(),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Shorthand for results of levqor-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
