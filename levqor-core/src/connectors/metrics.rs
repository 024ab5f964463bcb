//! Per-connector call metrics and their Prometheus rendering.
//!
//! [`ConnectorMetrics`] is shared by reference (or in an `Arc`) between the
//! workers that call connectors through
//! [`ConnectorRegistry::run`](super::ConnectorRegistry::run) and the
//! `/metrics` handler that renders it. One short mutex section per call.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use super::{ConnectorError, ConnectorErrorKind};
use crate::observability::prometheus::{HistogramSeries, escape_label};

/// Upper bounds (seconds) of the latency histogram buckets.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default, Clone)]
struct Stats {
    calls: u64,
    errors: BTreeMap<&'static str, u64>,
    upstream_5xx: u64,
    buckets: [u64; BUCKETS.len()],
    sum_seconds: f64,
}

/// A snapshot of one connector's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorStats {
    /// Calls made, successful or not.
    pub calls: u64,
    /// Failed calls by error class label.
    pub errors: BTreeMap<String, u64>,
    /// Failed calls that were upstream 5xx answers.
    pub upstream_5xx: u64,
    /// Sum of call durations.
    pub duration_sum: Duration,
}

/// Thread-safe connector metrics.
#[derive(Debug, Default)]
pub struct ConnectorMetrics {
    inner: Mutex<BTreeMap<String, Stats>>,
}

impl ConnectorMetrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one call of `connector` that took `elapsed`.
    pub fn record(&self, connector: &str, elapsed: Duration, result: Result<(), &ConnectorError>) {
        let secs = elapsed.as_secs_f64();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.entry(connector.to_string()).or_default();
        s.calls += 1;
        s.sum_seconds += secs;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                s.buckets[i] += 1;
            }
        }
        if let Err(e) = result {
            *s.errors.entry(e.kind.label()).or_default() += 1;
            if matches!(e.kind, ConnectorErrorKind::Upstream5xx { .. }) {
                s.upstream_5xx += 1;
            }
        }
    }

    /// A snapshot of one connector's counters, if it was ever called.
    pub fn stats(&self, connector: &str) -> Option<ConnectorStats> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(connector).map(|s| ConnectorStats {
            calls: s.calls,
            errors: s.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            upstream_5xx: s.upstream_5xx,
            duration_sum: Duration::from_secs_f64(s.sum_seconds),
        })
    }

    /// Appends the Prometheus text exposition of every metric to `out`:
    /// `levqor_connector_calls_total{connector}`,
    /// `levqor_connector_errors_total{connector,class}`,
    /// `levqor_connector_upstream_5xx_total{connector}` and the histogram
    /// `levqor_connector_duration_seconds{connector}`.
    pub fn render_prometheus(&self, out: &mut String) {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let _ = writeln!(
            out,
            "# HELP levqor_connector_calls_total Connector calls made."
        );
        let _ = writeln!(out, "# TYPE levqor_connector_calls_total counter");
        for (name, s) in &map {
            let _ = writeln!(
                out,
                "levqor_connector_calls_total{{connector=\"{}\"}} {}",
                escape_label(name),
                s.calls
            );
        }
        let _ = writeln!(
            out,
            "# HELP levqor_connector_errors_total Failed connector calls by class."
        );
        let _ = writeln!(out, "# TYPE levqor_connector_errors_total counter");
        for (name, s) in &map {
            for (class, n) in &s.errors {
                let _ = writeln!(
                    out,
                    "levqor_connector_errors_total{{connector=\"{}\",class=\"{class}\"}} {n}",
                    escape_label(name)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP levqor_connector_upstream_5xx_total Upstream 5xx answers."
        );
        let _ = writeln!(out, "# TYPE levqor_connector_upstream_5xx_total counter");
        for (name, s) in &map {
            let _ = writeln!(
                out,
                "levqor_connector_upstream_5xx_total{{connector=\"{}\"}} {}",
                escape_label(name),
                s.upstream_5xx
            );
        }
        let _ = writeln!(
            out,
            "# HELP levqor_connector_duration_seconds Connector call latency."
        );
        let _ = writeln!(out, "# TYPE levqor_connector_duration_seconds histogram");
        for (name, s) in &map {
            HistogramSeries {
                metric: "levqor_connector_duration_seconds",
                label: "connector",
                value: name,
                bounds: &BUCKETS,
                cumulative: &s.buckets,
                count: s.calls,
                sum: s.sum_seconds,
            }
            .write(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let m = ConnectorMetrics::new();
        m.record("slack", Duration::from_millis(20), Ok(()));
        let e = ConnectorError::new(
            "slack",
            ConnectorErrorKind::Upstream5xx { status: 503 },
            "x",
        );
        m.record("slack", Duration::from_millis(700), Err(&e));
        let s = m.stats("slack").unwrap();
        assert_eq!(s.calls, 2);
        assert_eq!(s.upstream_5xx, 1);
        assert_eq!(s.errors.get("upstream_5xx"), Some(&1));
        let mut out = String::new();
        m.render_prometheus(&mut out);
        assert!(out.contains("levqor_connector_calls_total{connector=\"slack\"} 2"));
        assert!(out.contains(
            "levqor_connector_errors_total{connector=\"slack\",class=\"upstream_5xx\"} 1"
        ));
        assert!(out.contains("levqor_connector_upstream_5xx_total{connector=\"slack\"} 1"));
        assert!(out.contains(
            "levqor_connector_duration_seconds_bucket{connector=\"slack\",le=\"0.025\"} 1"
        ));
        assert!(
            out.contains(
                "levqor_connector_duration_seconds_bucket{connector=\"slack\",le=\"1\"} 2"
            )
        );
        assert!(out.contains("levqor_connector_duration_seconds_count{connector=\"slack\"} 2"));
    }
}
