//! Series statistics shared by metrics of repeated phases and sampler outputs.
use serde_json::{json, Value};

/// Linear-interpolated percentile (p in 0..=100) of unsorted values; 0 for an empty list.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

/// `{count, min, median, p95, max, mean, all}` of a series.
pub fn summary(values: &[f64]) -> Value {
    let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mean = if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 };
    json!({
        "count": values.len(),
        "min": if values.is_empty() { 0.0 } else { min },
        "median": percentile(values, 50.0),
        "p95": percentile(values, 95.0),
        "p99": percentile(values, 99.0),
        "max": if values.is_empty() { 0.0 } else { max },
        "mean": mean,
        "all": values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn percentiles() {
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
        assert_eq!(percentile(&[], 95.0), 0.0);
        assert_eq!(summary(&[1.0, 5.0])["max"], 5.0);
    }
}
