//! Medians, percentiles and Markdown tables.

use std::fmt::Write as _;

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The `q`-quantile (0..=1) of sorted values, nearest-rank; `None` when empty.
pub fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A Markdown table built row by row.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as GitHub Markdown, first column left-aligned, the others right-aligned.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        out.push_str(&line(&self.header));
        let align: Vec<String> = (0..self.header.len())
            .map(|i| if i == 0 { "---".into() } else { "---:".into() })
            .collect();
        out.push_str(&line(&align));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// `12,345` for a rate.
pub fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A rate and its ratio to a reference: `12,345 (0.87x)`.
pub fn rate_and_ratio(rate: Option<f64>, reference: Option<f64>) -> String {
    match (rate, reference) {
        (Some(r), Some(d)) if d > 0.0 => format!("{} ({:.2}x)", thousands(r), r / d),
        (Some(r), _) => thousands(r),
        (None, _) => "n/a".into(),
    }
}

/// `r / d` as `1.23x`, or `n/a`.
pub fn ratio(r: Option<f64>, d: Option<f64>) -> String {
    match (r, d) {
        (Some(r), Some(d)) if d > 0.0 => format!("{:.2}x", r / d),
        _ => "n/a".into(),
    }
}

/// A number with `decimals` places, or `n/a`.
pub fn fixed(x: Option<f64>, decimals: usize) -> String {
    match x {
        Some(x) => format!("{x:.decimals$}"),
        None => "n/a".into(),
    }
}

/// Microseconds from nanoseconds, e.g. `123` or `1,234`.
pub fn micros(ns: Option<u64>) -> String {
    match ns {
        Some(ns) => {
            let us = ns as f64 / 1000.0;
            if us < 100.0 {
                format!("{us:.0}")
            } else {
                thousands(us)
            }
        }
        None => "n/a".into(),
    }
}

/// A signed difference in microseconds, `+12` or `-3`.
pub fn added_micros(ns: Option<u64>, reference: Option<u64>) -> String {
    match (ns, reference) {
        (Some(a), Some(b)) => {
            let d = (a as f64 - b as f64) / 1000.0;
            let mut s = String::new();
            let _ = write!(s, "{d:+.0}");
            s
        }
        _ => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.5), Some(500));
        assert_eq!(percentile(&v, 0.99), Some(990));
        assert_eq!(percentile(&v, 0.999), Some(999));
        assert_eq!(percentile(&v, 1.0), Some(1000));
    }

    #[test]
    fn formats() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(rate_and_ratio(Some(500.0), Some(1000.0)), "500 (0.50x)");
        assert_eq!(added_micros(Some(150_000), Some(100_000)), "+50");
    }
}
