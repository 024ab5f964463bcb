//! Rate limiting with the generic cell rate algorithm (GCRA).
//!
//! A [`Policy`] is a quota per window (`60` per `60` s). The limiter keeps
//! one number per key, the theoretical arrival time (TAT) of the next
//! request; a request is allowed when adding one emission interval
//! (`window / quota`) keeps the TAT within one window of now. This allows a
//! burst of `quota` requests and then one per interval, with O(1) state.
//!
//! [`RateLimiter`] is the storage seam (a shared store can back it when many
//! servers share one limit); [`MemoryLimiter`] is the in-process one.
//! [`RateLimits`] applies the configured policies: per user, per IP for
//! unauthenticated `/api/` requests, signups per IP and per device. Every
//! [`Decision`] carries the values of the IETF `RateLimit-Policy` and
//! `RateLimit` headers and, when refused, `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::{Error, Result};

/// A quota per window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Name in the headers (`default`, `ip`, `signup`).
    pub name: &'static str,
    /// Requests allowed per window (at least 1).
    pub quota: u32,
    /// Window in seconds (at least 1).
    pub window_s: u64,
}

impl Policy {
    /// `RateLimit-Policy` header value, e.g. `"default";q=60;w=60`.
    pub fn header_value(&self) -> String {
        format!("\"{}\";q={};w={}", self.name, self.quota, self.window_s)
    }

    /// Emission interval in microseconds: fine enough that quotas of more
    /// than 1,000 a second per key are honoured, not capped at one per ms.
    fn interval_us(&self) -> i64 {
        (self.window_us() / i64::from(self.quota.max(1))).max(1)
    }

    fn window_us(&self) -> i64 {
        (self.window_s.max(1) as i64).saturating_mul(1_000_000)
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the quota is whole again (refused: until the next
    /// request is allowed).
    pub reset_s: u64,
    /// Seconds to wait before retrying, at least 1 when refused, 0 when allowed.
    pub retry_after_s: u64,
    /// The policy that decided.
    pub policy: Policy,
}

impl Decision {
    /// `RateLimit-Policy` header value.
    pub fn policy_header(&self) -> String {
        self.policy.header_value()
    }

    /// `RateLimit` header value, e.g. `"default";r=0;t=12`.
    pub fn header(&self) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.policy.name, self.remaining, self.reset_s
        )
    }

    /// `Retry-After` header value when refused.
    pub fn retry_after(&self) -> Option<String> {
        (!self.allowed).then(|| self.retry_after_s.to_string())
    }

    /// The decision as a result.
    ///
    /// # Errors
    /// [`Error::RateLimited`] when refused.
    pub fn check(&self) -> Result<()> {
        if self.allowed {
            Ok(())
        } else {
            Err(Error::RateLimited {
                retry_after_s: self.retry_after_s.max(1),
            })
        }
    }
}

/// A store of GCRA state. Implementations must make `check` atomic per key.
pub trait RateLimiter: Send + Sync {
    /// Counts one request for `key` under `policy` at `now_ms` (a refused
    /// request does not count).
    fn check(&self, key: &str, policy: &Policy, now_ms: i64) -> Decision;
}

/// Pure GCRA step: the decision and the new TAT (theoretical arrival time,
/// in microseconds since the epoch) to store, if allowed.
pub fn gcra(tat: Option<i64>, policy: &Policy, now_ms: i64) -> (Decision, Option<i64>) {
    let t = policy.interval_us();
    let window = policy.window_us();
    let now = now_ms.saturating_mul(1000);
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(t);
    let ceil_s = |us: i64| (us.max(0) as u64).div_ceil(1_000_000);
    if new_tat - now <= window {
        let remaining = ((window - (new_tat - now)) / t).clamp(0, i64::from(u32::MAX)) as u32;
        let d = Decision {
            allowed: true,
            remaining,
            reset_s: ceil_s(new_tat - now),
            retry_after_s: 0,
            policy: policy.clone(),
        };
        (d, Some(new_tat))
    } else {
        let wait = ceil_s(new_tat - window - now).max(1);
        let d = Decision {
            allowed: false,
            remaining: 0,
            reset_s: wait,
            retry_after_s: wait,
            policy: policy.clone(),
        };
        (d, None)
    }
}

const SHARDS: usize = 16;
const SWEEP_AT: usize = 10_000;

/// In-memory GCRA limiter, sharded to keep lock contention low.
#[derive(Debug)]
pub struct MemoryLimiter {
    shards: Vec<Mutex<HashMap<String, i64>>>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        MemoryLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl MemoryLimiter {
    fn shard(&self, key: &str) -> &Mutex<HashMap<String, i64>> {
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        &self.shards[(h % SHARDS as u64) as usize]
    }
}

impl RateLimiter for MemoryLimiter {
    fn check(&self, key: &str, policy: &Policy, now_ms: i64) -> Decision {
        // A poisoned lock only means another thread panicked mid-update of a
        // number; the map is still usable.
        let mut map = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            // Entries whose TAT has passed are equivalent to absent ones.
            map.retain(|_, tat| *tat > now_ms.saturating_mul(1000));
        }
        let (decision, new_tat) = gcra(map.get(key).copied(), policy, now_ms);
        if let Some(t) = new_tat {
            map.insert(key.to_string(), t);
        }
        decision
    }
}

/// The configured policies over one limiter.
pub struct RateLimits {
    limiter: Arc<dyn RateLimiter>,
    clock: SharedClock,
    /// Per user, whatever key or token (`LEVQOR_RATE_LIMIT` a minute).
    pub user: Policy,
    /// Per IP for unauthenticated `/api/` requests (`LEVQOR_IP_RATE_LIMIT` a minute).
    pub ip: Policy,
    /// Signups per IP and per device (`LEVQOR_SIGNUP_RATE_LIMIT` an hour).
    pub signup: Policy,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("user", &self.user)
            .field("ip", &self.ip)
            .finish()
    }
}

impl RateLimits {
    /// Policies from `cfg` over `limiter`.
    pub fn new(cfg: &Config, limiter: Arc<dyn RateLimiter>, clock: SharedClock) -> Self {
        RateLimits {
            limiter,
            clock,
            user: Policy {
                name: "default",
                quota: cfg.rate_limit,
                window_s: 60,
            },
            ip: Policy {
                name: "ip",
                quota: cfg.ip_rate_limit,
                window_s: 60,
            },
            signup: Policy {
                name: "signup",
                quota: cfg.signup_rate_limit,
                window_s: 3600,
            },
        }
    }

    /// Policies from `cfg` over a fresh [`MemoryLimiter`].
    pub fn in_memory(cfg: &Config, clock: SharedClock) -> Self {
        RateLimits::new(cfg, Arc::new(MemoryLimiter::default()), clock)
    }

    /// Counts one request of an authenticated user.
    pub fn check_user(&self, user_id: &str) -> Decision {
        self.limiter
            .check(&format!("u:{user_id}"), &self.user, self.clock.now_ms())
    }

    /// Counts one unauthenticated `/api/` request from `ip`.
    pub fn check_ip(&self, ip: &str) -> Decision {
        self.limiter
            .check(&format!("ip:{ip}"), &self.ip, self.clock.now_ms())
    }

    /// Counts one signup from `ip` and, when given, `device_id`; refused
    /// when either is over the limit.
    pub fn check_signup(&self, ip: &str, device_id: Option<&str>) -> Decision {
        let now = self.clock.now_ms();
        let by_ip = self.limiter.check(&format!("su:{ip}"), &self.signup, now);
        match device_id {
            Some(d) if by_ip.allowed => self.limiter.check(&format!("sd:{d}"), &self.signup, now),
            _ => by_ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(quota: u32, window_s: u64) -> Policy {
        Policy {
            name: "default",
            quota,
            window_s,
        }
    }

    #[test]
    fn burst_then_refusal_with_retry_after_and_headers() {
        let l = MemoryLimiter::default();
        let pol = p(60, 60);
        for i in 0..60 {
            let d = l.check("k", &pol, 1_000);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 59 - i);
        }
        let d = l.check("k", &pol, 1_000);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_s, 1);
        assert_eq!(d.policy_header(), "\"default\";q=60;w=60");
        assert_eq!(d.header(), "\"default\";r=0;t=1");
        assert!(matches!(
            d.check(),
            Err(Error::RateLimited { retry_after_s: 1 })
        ));
        assert!(l.check("k", &pol, 2_000).allowed, "one interval later");
        assert!(
            l.check("other", &pol, 1_000).allowed,
            "keys are independent"
        );
    }

    #[test]
    fn quotas_above_one_per_millisecond_are_honoured() {
        let l = MemoryLimiter::default();
        let pol = p(6000, 1);
        let allowed = (0..7000).filter(|_| l.check("k", &pol, 0).allowed).count();
        // The burst is the quota (give or take the interval's rounding to µs).
        assert!((6000..=6030).contains(&allowed), "{allowed}");
        assert!(!l.check("k", &pol, 0).allowed);
        // One millisecond later about 6 more intervals (166 µs each) have
        // passed; a millisecond-grained limiter would allow only one.
        let more = (0..10).filter(|_| l.check("k", &pol, 1).allowed).count();
        assert!((5..=6).contains(&more), "{more}");
    }

    #[test]
    fn slow_policies_give_long_retry_after() {
        let pol = p(10, 3600);
        let mut tat = None;
        for _ in 0..10 {
            let (d, t) = gcra(tat, &pol, 0);
            assert!(d.allowed);
            tat = t;
        }
        let (d, t) = gcra(tat, &pol, 0);
        assert!(!d.allowed && t.is_none());
        assert_eq!(d.retry_after_s, 360);
        let (d, _) = gcra(tat, &pol, 359_500);
        assert_eq!(d.retry_after_s, 1, "rounded up, never 0");
    }
}
