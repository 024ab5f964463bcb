//! Request counters and latency histograms by route pattern and status.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use super::prometheus::{HistogramSeries, escape_label};
use crate::queue::QueueCounts;

/// Histogram bucket upper bounds in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    /// Upper-bound estimate of a quantile from the buckets.
    fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = (q * self.count as f64).ceil() as u64;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if self.buckets[i] >= rank {
                return *le;
            }
        }
        f64::INFINITY
    }
}

#[derive(Debug, Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    latency: Histogram,
}

#[derive(Debug, Default)]
struct Inner {
    routes: BTreeMap<String, RouteStats>,
}

/// Process-wide HTTP metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Records one request on `route` (its pattern) with `status` taking `secs`.
    pub fn observe_request(&self, route: &str, status: u16, secs: f64) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Look the route up before inserting: the hot path allocates nothing.
        let stats = match g.routes.get_mut(route) {
            Some(s) => s,
            None => g.routes.entry(route.to_string()).or_default(),
        };
        *stats.by_status.entry(status).or_default() += 1;
        stats.latency.observe(secs);
    }

    /// The P95 latency of a route in seconds (bucket upper bound), if seen.
    pub fn p95(&self, route: &str) -> Option<f64> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.routes.get(route).map(|s| s.latency.quantile(0.95))
    }

    /// Renders the Prometheus text exposition, with queue gauges if given.
    pub fn render(&self, queue: Option<&QueueCounts>, out: &mut String) {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str(
            "# HELP levqor_http_requests_total HTTP requests by route pattern and status.\n",
        );
        out.push_str("# TYPE levqor_http_requests_total counter\n");
        for (route, status, n) in g
            .routes
            .iter()
            .flat_map(|(r, s)| s.by_status.iter().map(move |(st, n)| (r, st, n)))
        {
            let _ = writeln!(
                out,
                "levqor_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape_label(route)
            );
        }
        out.push_str(
            "# HELP levqor_http_request_duration_seconds HTTP request latency by route pattern.\n",
        );
        out.push_str("# TYPE levqor_http_request_duration_seconds histogram\n");
        for (route, h) in g.routes.iter().map(|(r, s)| (r, &s.latency)) {
            HistogramSeries {
                metric: "levqor_http_request_duration_seconds",
                label: "route",
                value: route,
                bounds: &LATENCY_BUCKETS,
                cumulative: &h.buckets,
                count: h.count,
                sum: h.sum,
            }
            .write(out);
        }
        if let Some(q) = queue {
            out.push_str("# HELP levqor_queue_jobs Jobs in the queue by status.\n");
            out.push_str("# TYPE levqor_queue_jobs gauge\n");
            for (status, n) in [
                ("queued", q.queued),
                ("running", q.running),
                ("failed", q.failed),
                ("dead", q.dead),
                ("succeeded", q.succeeded),
                ("cancelled", q.cancelled),
            ] {
                let _ = writeln!(out, "levqor_queue_jobs{{status=\"{status}\"}} {n}");
            }
            out.push_str("# HELP levqor_queue_oldest_ready_age_seconds Age of the oldest job ready to run.\n");
            out.push_str("# TYPE levqor_queue_oldest_ready_age_seconds gauge\n");
            let _ = writeln!(
                out,
                "levqor_queue_oldest_ready_age_seconds {}",
                q.oldest_queued_age_s
            );
            out.push_str("# HELP levqor_workers Live worker pools.\n# TYPE levqor_workers gauge\n");
            let _ = writeln!(out, "levqor_workers {}", q.workers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.observe_request("/api/v1/jobs/{id}", 200, 0.0007);
        m.observe_request("/api/v1/jobs/{id}", 404, 0.02);
        let mut s = String::new();
        m.render(
            Some(&QueueCounts {
                queued: 3,
                ..Default::default()
            }),
            &mut s,
        );
        assert!(
            s.contains("levqor_http_requests_total{route=\"/api/v1/jobs/{id}\",status=\"404\"} 1")
        );
        assert!(s.contains("levqor_http_request_duration_seconds_bucket{route=\"/api/v1/jobs/{id}\",le=\"0.001\"} 1"));
        assert!(s.contains("levqor_queue_jobs{status=\"queued\"} 3"));
        assert_eq!(m.p95("/api/v1/jobs/{id}"), Some(0.025));
    }
}
