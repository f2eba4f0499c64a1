//! `testrunner diff RUN_A RUN_B`: what changed between two runs — each check's status and
//! each metric's value, with the delta and its percentage; as text and as one HTML page.
use crate::model::{display_value, secs};
use crate::RunReport;
use askama::Template;
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub dir: String,
    pub scenario: String,
    pub run_id: String,
    pub verdict: String,
    pub started_at: String,
    pub duration: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckDelta {
    pub id: String,
    pub name: String,
    /// `PASS`, `FAIL`, `ERROR`, or `-` when the run has no such check.
    pub a: String,
    pub b: String,
}

impl CheckDelta {
    pub fn changed(&self) -> bool {
        self.a != self.b
    }
    /// Passed in A and not in B.
    pub fn worse(&self) -> bool {
        self.a == "PASS" && self.b != "PASS"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricDelta {
    pub name: String,
    pub unit: String,
    pub a: String,
    pub b: String,
    /// `+2302`, `-15.5`, empty when either side has no number.
    pub delta: String,
    /// `+283.5%`, empty when A is 0 or missing.
    pub pct: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub a: Side,
    pub b: Side,
    pub checks: Vec<CheckDelta>,
    pub metrics: Vec<MetricDelta>,
}

fn side(dir: &str, r: &RunReport) -> Side {
    Side {
        dir: dir.into(),
        scenario: r.scenario.clone(),
        run_id: r.run_id.clone(),
        verdict: r.verdict().as_str().into(),
        started_at: r.started_at.clone(),
        duration: secs(r.duration_ms),
        fingerprint: r.fingerprint.chars().take(16).collect(),
    }
}

pub fn diff(dir_a: &str, a: &RunReport, dir_b: &str, b: &RunReport) -> Diff {
    let mut ids: Vec<(String, String)> = vec![];
    for c in a.checks.iter().chain(&b.checks) {
        if !ids.iter().any(|(id, _)| *id == c.decl.id) {
            ids.push((c.decl.id.clone(), c.decl.name.clone()));
        }
    }
    let status = |r: &RunReport, id: &str| {
        r.checks.iter().find(|c| c.decl.id == id).map_or("-".to_string(), |c| c.status.as_str().into())
    };
    let checks = ids
        .into_iter()
        .map(|(id, name)| CheckDelta { a: status(a, &id), b: status(b, &id), id, name })
        .collect();
    let mut names: Vec<String> = vec![];
    for m in a.metrics.iter().chain(&b.metrics) {
        if !names.contains(&m.name) {
            names.push(m.name.clone());
        }
    }
    let metrics = names
        .into_iter()
        .map(|name| {
            let (ma, mb) = (a.metric(&name), b.metric(&name));
            let text = |m: Option<&crate::MetricResult>| match m {
                None => "-".to_string(),
                Some(m) if m.error.is_some() => "ERROR".into(),
                Some(m) => display_value(&m.value),
            };
            let num = |m: Option<&crate::MetricResult>| {
                m.filter(|m| m.error.is_none()).and_then(|m| m.value.as_f64())
            };
            let (delta, pct) = match (num(ma), num(mb)) {
                (Some(x), Some(y)) => {
                    let d = y - x;
                    let sign = if d > 0.0 { "+" } else { "" };
                    let pct =
                        if x != 0.0 { format!("{sign}{:.1}%", 100.0 * d / x.abs()) } else { String::new() };
                    (format!("{sign}{}", display_value(&serde_json::json!(d))), pct)
                }
                _ => (String::new(), String::new()),
            };
            MetricDelta {
                unit: ma.or(mb).and_then(|m| m.unit.clone()).unwrap_or_default(),
                a: text(ma),
                b: text(mb),
                delta,
                pct,
                name,
            }
        })
        .collect();
    Diff { a: side(dir_a, a), b: side(dir_b, b), checks, metrics }
}

impl Diff {
    pub fn text(&self) -> String {
        let mut t = String::new();
        for (label, s) in [("A", &self.a), ("B", &self.b)] {
            let _ = writeln!(
                t,
                "{label}: {}  {} {}  {}  started {}  fingerprint {}",
                s.dir, s.scenario, s.verdict, s.duration, s.started_at, s.fingerprint
            );
        }
        if self.a.scenario != self.b.scenario {
            let _ = writeln!(t, "note: runs of different scenarios");
        } else if self.a.fingerprint != self.b.fingerprint {
            let _ =
                writeln!(t, "note: the scenario or its vars changed between the runs (fingerprints differ)");
        }
        t.push_str("\nChecks (A -> B)\n");
        for c in &self.checks {
            let mark = if c.worse() {
                "  WORSE"
            } else if c.changed() {
                "  changed"
            } else {
                ""
            };
            let _ = writeln!(t, "  {:<12} {:<34} {:>5} -> {:<5}{mark}", c.id, c.name, c.a, c.b);
        }
        t.push_str("\nMetrics (A -> B, delta)\n");
        for m in &self.metrics {
            let unit = if m.unit.is_empty() { String::new() } else { format!(" {}", m.unit) };
            let pct = if m.pct.is_empty() { String::new() } else { format!(" ({})", m.pct) };
            let delta = if m.delta.is_empty() { String::new() } else { format!("  {}{unit}{pct}", m.delta) };
            let _ = writeln!(t, "  {:<28} {} -> {}{unit}{delta}", m.name, m.a, m.b);
        }
        let worse = self.checks.iter().filter(|c| c.worse()).count();
        let changed = self.checks.iter().filter(|c| c.changed()).count();
        let _ = writeln!(t, "\n{changed} check(s) changed, {worse} passed in A and not in B");
        crate::text::escape_controls(&t).into_owned()
    }

    pub fn html(&self) -> String {
        DiffPage { d: self }.render().unwrap_or_else(|e| {
            let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            format!("<!DOCTYPE html><html><body><pre>{}</pre></body></html>\n", esc(&e.to_string()))
        })
    }
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage<'a> {
    d: &'a Diff,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pass: bool, loss: f64) -> RunReport {
        crate::fixtures::one_check_run("val17", "VAL17-03", "timing <bound>", pass, loss)
    }

    #[test]
    fn check_and_metric_deltas() {
        let d = diff("a", &run(true, 800.0), "b", &run(false, 1000.0));
        assert!(d.checks[0].worse());
        assert_eq!((d.metrics[0].delta.as_str(), d.metrics[0].pct.as_str()), ("+200", "+25.0%"));
        let t = d.text();
        assert!(t.lines().any(|l| l.contains("PASS -> FAIL") && l.ends_with("WORSE")), "{t}");
        assert!(t.contains("800 -> 1000 ms  +200 ms (+25.0%)"), "{t}");
        assert!(d.html().contains("timing &#60;bound&#62;"));
        // Negative control: the same run twice changes nothing.
        let same = diff("a", &run(true, 800.0), "b", &run(true, 800.0));
        assert!(!same.checks[0].changed());
        assert!(same.text().contains("0 check(s) changed"));
    }
}
