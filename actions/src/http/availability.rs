//! The arithmetic of `http.sample`: availability, latency percentiles, the longest
//! unavailable window with its bounds, and a capped series for the chart. Pure, so every
//! number in the report has a unit test.
use serde_json::{json, Map, Value};

/// One probe: when it was sent (run-clock ms), how long it took, and whether it was accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub t_ms: u64,
    pub latency_ms: f64,
    pub ok: bool,
}

/// The longest run of failed probes. The true outage began between the last accepted probe
/// before it (`start_lo_ms`) and its first failed probe (`start_ms`), and ended between its
/// last failed probe and the first accepted one after it (`end_ms`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outage {
    /// First failed probe.
    pub start_ms: u64,
    /// Last accepted probe before it (the sampler's start when there was none).
    pub start_lo_ms: u64,
    /// Last failed probe.
    pub last_fail_ms: u64,
    /// First accepted probe after it; None while the window is still open at the end.
    pub end_ms: Option<u64>,
    /// Client-observed: first failure to first success (to the sampler's end when open).
    pub ms: u64,
    /// It lasted at least this long (first to last failed probe).
    pub lo_ms: u64,
    /// At most this long (last success before to first success after); None when open.
    pub hi_ms: Option<u64>,
}

/// Windows of consecutive failed probes: how many, and the longest (None without a failure).
pub fn outages(probes: &[Probe], start_ms: u64, end_ms: u64) -> (usize, Option<Outage>) {
    let mut count = 0;
    let mut best: Option<Outage> = None;
    let mut i = 0;
    while i < probes.len() {
        if probes[i].ok {
            i += 1;
            continue;
        }
        let first = i;
        while i < probes.len() && !probes[i].ok {
            i += 1;
        }
        count += 1;
        let start_lo_ms = if first == 0 { start_ms } else { probes[first - 1].t_ms };
        let (start, last) = (probes[first].t_ms, probes[i - 1].t_ms);
        let end = probes.get(i).map(|p| p.t_ms);
        let o = Outage {
            start_ms: start,
            start_lo_ms,
            last_fail_ms: last,
            end_ms: end,
            ms: end.unwrap_or(end_ms.max(last)).saturating_sub(start),
            lo_ms: last - start,
            hi_ms: end.map(|e| e.saturating_sub(start_lo_ms)),
        };
        if best.as_ref().is_none_or(|b| o.ms > b.ms) {
            best = Some(o);
        }
    }
    (count, best)
}

/// Linear-interpolated percentile of sorted values (as `sql.sample`).
pub fn pct(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

/// The series for the chart, at most `cap` points: `[t_ms, latency_ms, ok]`. Past the cap,
/// neighbours merge two by two keeping the worse one (a failure, else the slower), so a
/// short outage on a long run is never thinned away.
pub fn series(probes: &[Probe], cap: usize) -> Vec<Value> {
    let mut pts: Vec<Probe> = probes.to_vec();
    while pts.len() > cap.max(1) {
        pts = pts
            .chunks(2)
            .map(|c| match c {
                [a, _] if !a.ok => *a,
                [a, b] if !b.ok || b.latency_ms > a.latency_ms => *b,
                [a, ..] => *a,
                _ => unreachable!("chunks(2) yields one or two"),
            })
            .collect();
    }
    pts.iter().map(|p| json!([p.t_ms, (p.latency_ms * 10.0).round() / 10.0, p.ok])).collect()
}

/// Every statistic `http.sample` outputs, from its probes.
pub fn summarize(probes: &[Probe], start_ms: u64, end_ms: u64, cap: usize) -> Map<String, Value> {
    let ok: Vec<f64> = probes.iter().filter(|p| p.ok).map(|p| p.latency_ms).collect();
    let mut sorted = ok.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let num = |v: Option<f64>| v.map(|x| json!((x * 10.0).round() / 10.0)).unwrap_or(Value::Null);
    let availability =
        (!probes.is_empty()).then(|| (ok.len() as f64 * 100.0 / probes.len() as f64 * 100.0).round() / 100.0);
    let (count, longest) = outages(probes, start_ms, end_ms);
    let mut m = Map::new();
    m.insert("samples".into(), json!(probes.len()));
    m.insert("up".into(), json!(ok.len()));
    m.insert("down".into(), json!(probes.len() - ok.len()));
    m.insert("availability".into(), availability.map(|a| json!(a)).unwrap_or(Value::Null));
    for (k, p) in [("latency_p50_ms", 50.0), ("latency_p95_ms", 95.0), ("latency_p99_ms", 99.0)] {
        m.insert(k.into(), num(pct(&sorted, p)));
    }
    m.insert("latency_max_ms".into(), num(sorted.last().copied()));
    m.insert("outages".into(), json!(count));
    let o = longest.unwrap_or_default();
    let opt = |v: Option<u64>| v.map(Value::from).unwrap_or(Value::Null);
    let any = count > 0;
    m.insert("outage_ms".into(), json!(o.ms));
    m.insert("outage_start_ms".into(), opt(any.then_some(o.start_ms)));
    m.insert("outage_start_lo_ms".into(), opt(any.then_some(o.start_lo_ms)));
    m.insert("outage_end_lo_ms".into(), opt(any.then_some(o.last_fail_ms)));
    m.insert("outage_end_ms".into(), opt(o.end_ms.filter(|_| any)));
    m.insert("outage_lo_ms".into(), json!(o.lo_ms));
    m.insert("outage_hi_ms".into(), if any { opt(o.hi_ms) } else { json!(0) });
    m.insert("recovered".into(), json!(probes.last().is_none_or(|p| p.ok)));
    m.insert("series".into(), Value::Array(series(probes, cap)));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t_ms: u64, ok: bool) -> Probe {
        Probe { t_ms, latency_ms: if ok { 2.0 } else { 1000.0 }, ok }
    }

    #[test]
    fn the_longest_window_has_its_bounds() {
        // ok at 0,100; fail 200..500; ok 600; fail 700; ok 800.
        let probes: Vec<Probe> =
            [(0, true), (100, true), (200, false), (300, false), (400, false), (500, false), (600, true)]
                .iter()
                .chain(&[(700, false), (800, true)])
                .map(|&(t, ok)| p(t, ok))
                .collect();
        let (n, o) = outages(&probes, 0, 900);
        let o = o.unwrap();
        assert_eq!(n, 2);
        assert_eq!((o.start_ms, o.start_lo_ms, o.last_fail_ms, o.end_ms), (200, 100, 500, Some(600)));
        assert_eq!((o.ms, o.lo_ms, o.hi_ms), (400, 300, Some(500)));
        let m = summarize(&probes, 0, 900, 100);
        assert_eq!(m["availability"], json!(44.44));
        assert_eq!(m["outages"], 2);
        assert_eq!(m["recovered"], true);
        assert_eq!(m["latency_p50_ms"], json!(2.0));
    }

    #[test]
    fn an_open_window_runs_to_the_end_and_has_no_upper_bound() {
        let probes = [p(0, true), p(100, false), p(200, false)];
        let (_, o) = outages(&probes, 0, 350);
        let o = o.unwrap();
        assert_eq!((o.ms, o.lo_ms, o.hi_ms, o.end_ms), (250, 100, None, None));
        let m = summarize(&probes, 0, 350, 100);
        assert_eq!(m["recovered"], false);
        assert_eq!(m["outage_end_ms"], Value::Null);
        assert_eq!(m["outage_hi_ms"], Value::Null);
        // Failing from the first probe: the start's lower bound is the sampler's start.
        let (_, o) = outages(&[p(40, false), p(90, true)], 10, 100);
        assert_eq!(o.unwrap().start_lo_ms, 10);
    }

    #[test]
    fn all_up_has_no_window_and_nothing_sampled_has_no_availability() {
        let m = summarize(&[p(0, true), p(10, true)], 0, 20, 100);
        assert_eq!((m["availability"].clone(), m["outage_ms"].clone()), (json!(100.0), json!(0)));
        assert_eq!(m["outage_start_ms"], Value::Null);
        assert_eq!(m["outage_hi_ms"], json!(0));
        let m = summarize(&[], 0, 20, 100);
        assert_eq!(m["availability"], Value::Null);
        assert_eq!(m["latency_p99_ms"], Value::Null);
    }

    #[test]
    fn thinning_keeps_every_failure_visible() {
        let mut probes: Vec<Probe> = (0..10_000).map(|i| p(i, true)).collect();
        probes[7_777].ok = false;
        let s = series(&probes, 1000);
        assert!(s.len() <= 1000, "{}", s.len());
        assert_eq!(s.iter().filter(|v| v[2] == false).count(), 1);
    }
}
