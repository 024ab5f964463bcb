//! Retry backoff: exponential with full jitter.

use rand::Rng;

/// Backoff settings.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay of the first retry's window, ms.
    pub base_ms: i64,
    /// Largest window, ms.
    pub max_ms: i64,
}

impl Backoff {
    /// The window for the retry after attempt `attempt` (1-based):
    /// `base × 2^(attempt-1)`, capped at `max`.
    pub fn window_ms(&self, attempt: i64) -> i64 {
        let exp = (attempt - 1).clamp(0, 40) as u32;
        self.base_ms
            .saturating_mul(1i64 << exp.min(62))
            .min(self.max_ms)
            .max(0)
    }

    /// A random delay in `[0, window]` ("full jitter"), never shorter than
    /// `at_least_ms` (a service's Retry-After).
    pub fn delay_ms(&self, attempt: i64, at_least_ms: i64) -> i64 {
        let w = self.window_ms(attempt);
        let d = if w == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=w)
        };
        d.max(at_least_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_double_and_cap() {
        let b = Backoff {
            base_ms: 1000,
            max_ms: 5000,
        };
        assert_eq!(b.window_ms(1), 1000);
        assert_eq!(b.window_ms(2), 2000);
        assert_eq!(b.window_ms(3), 4000);
        assert_eq!(b.window_ms(4), 5000);
        assert_eq!(b.window_ms(100), 5000);
        for _ in 0..100 {
            let d = b.delay_ms(2, 0);
            assert!((0..=2000).contains(&d));
        }
        assert_eq!(b.delay_ms(1, 7000), 7000);
    }
}
