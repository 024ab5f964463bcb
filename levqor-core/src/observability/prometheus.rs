//! Pieces of the Prometheus text exposition format shared by every metrics
//! family: label escaping and histogram series.

use std::fmt::Write;

/// Escapes a label value (`\`, `"` and newlines).
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One histogram's series for one label: cumulative counts per upper bound.
#[derive(Debug, Clone, Copy)]
pub struct HistogramSeries<'a> {
    /// Metric name without the `_bucket`/`_sum`/`_count` suffix.
    pub metric: &'a str,
    /// Label name (`route`, `connector`).
    pub label: &'a str,
    /// Label value, unescaped.
    pub value: &'a str,
    /// Bucket upper bounds, seconds.
    pub bounds: &'a [f64],
    /// Cumulative count of observations at or below each bound.
    pub cumulative: &'a [u64],
    /// All observations.
    pub count: u64,
    /// Sum of the observations, seconds.
    pub sum: f64,
}

impl HistogramSeries<'_> {
    /// Appends the `_bucket` lines (with `+Inf`), `_sum` and `_count`.
    pub fn write(&self, out: &mut String) {
        let (m, l, v) = (self.metric, self.label, escape_label(self.value));
        for (le, n) in self.bounds.iter().zip(self.cumulative) {
            let _ = writeln!(out, "{m}_bucket{{{l}=\"{v}\",le=\"{le}\"}} {n}");
        }
        let _ = writeln!(out, "{m}_bucket{{{l}=\"{v}\",le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{m}_sum{{{l}=\"{v}\"}} {}", self.sum);
        let _ = writeln!(out, "{m}_count{{{l}=\"{v}\"}} {}", self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_buckets_sum_and_count() {
        let mut out = String::new();
        HistogramSeries {
            metric: "m",
            label: "route",
            value: "/a\"b",
            bounds: &[0.1, 1.0],
            cumulative: &[1, 2],
            count: 3,
            sum: 4.5,
        }
        .write(&mut out);
        assert_eq!(
            out,
            "m_bucket{route=\"/a\\\"b\",le=\"0.1\"} 1\nm_bucket{route=\"/a\\\"b\",le=\"1\"} 2\n\
             m_bucket{route=\"/a\\\"b\",le=\"+Inf\"} 3\nm_sum{route=\"/a\\\"b\"} 4.5\n\
             m_count{route=\"/a\\\"b\"} 3\n"
        );
    }
}
