//! Flakiness of a scenario run N times: how often each check passed, and how much every
//! metric moved, set against the spread the baseline's own runs showed.
use crate::{CheckStatus, RunReport};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use testrunner_scenario::stats::percentile;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Flakiness {
    pub scenario: String,
    pub repeats: usize,
    pub passed_runs: usize,
    pub checks: Vec<CheckRate>,
    pub metrics: Vec<MetricSpread>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckRate {
    pub id: String,
    pub name: String,
    pub passed: usize,
    /// Runs that judged it (a check missing from a run, e.g. one that died, is not counted).
    pub judged: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetricSpread {
    pub name: String,
    pub unit: Option<String>,
    /// Runs that computed it.
    pub count: usize,
    pub min: f64,
    pub median: f64,
    pub p95: f64,
    pub max: f64,
    /// max - min over the repeats.
    pub spread: f64,
    pub baseline: Option<BaselineSpread>,
    /// The repeats moved more than the baseline's own runs did.
    pub wider_than_baseline: bool,
}

/// What a recorded baseline says about one metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineSpread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub spread: f64,
    pub samples: usize,
}

/// `baselines` maps a scenario to its metrics' baseline spread (absent: no baseline).
pub fn flakiness(
    scenario: &str,
    reports: &[&RunReport],
    baselines: &BTreeMap<String, BaselineSpread>,
) -> Flakiness {
    let mut checks: Vec<CheckRate> = vec![];
    let mut values: BTreeMap<String, (Option<String>, Vec<f64>)> = BTreeMap::new();
    let mut order: Vec<String> = vec![];
    for r in reports {
        for c in &r.checks {
            let i = match checks.iter().position(|x| x.id == c.decl.id) {
                Some(i) => i,
                None => {
                    checks.push(CheckRate {
                        id: c.decl.id.clone(),
                        name: c.decl.name.clone(),
                        ..Default::default()
                    });
                    checks.len() - 1
                }
            };
            checks[i].judged += 1;
            checks[i].passed += usize::from(c.status == CheckStatus::Pass);
        }
        for m in &r.metrics {
            if !values.contains_key(&m.name) {
                order.push(m.name.clone());
            }
            let e = values.entry(m.name.clone()).or_insert_with(|| (m.unit.clone(), vec![]));
            if let (None, Some(v)) = (&m.error, m.value.as_f64()) {
                e.1.push(v);
            }
        }
    }
    let metrics = order
        .into_iter()
        .filter_map(|name| {
            let (unit, v) = values.remove(&name)?;
            if v.is_empty() {
                return Some(MetricSpread { name, unit, ..Default::default() });
            }
            let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let baseline = baselines.get(&name).cloned();
            let spread = max - min;
            Some(MetricSpread {
                wider_than_baseline: baseline.as_ref().is_some_and(|b| spread > b.spread),
                name,
                unit,
                count: v.len(),
                min,
                median: percentile(&v, 50.0),
                p95: percentile(&v, 95.0),
                max,
                spread,
                baseline,
            })
        })
        .collect();
    Flakiness {
        scenario: scenario.to_string(),
        repeats: reports.len(),
        passed_runs: reports.iter().filter(|r| r.verdict() == crate::Verdict::Pass).count(),
        checks,
        metrics,
    }
}

fn num(x: f64) -> String {
    crate::model::display_value(&serde_json::json!(x))
}

impl CheckRate {
    /// A check that passed in some runs and not in others.
    pub fn flaky(&self) -> bool {
        self.passed > 0 && self.passed < self.judged
    }
}

impl MetricSpread {
    pub fn baseline_text(&self) -> String {
        match &self.baseline {
            None => "no baseline".into(),
            Some(b) => format!(
                "baseline median {} [{}, {}], spread {} over {} run(s){}",
                num(b.median),
                num(b.min),
                num(b.max),
                num(b.spread),
                b.samples,
                if self.wider_than_baseline { " · WIDER than the baseline" } else { "" }
            ),
        }
    }
}

impl Flakiness {
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut t = format!(
            "\nFlakiness of {} over {} runs: {} passed\n  checks:\n",
            self.scenario, self.repeats, self.passed_runs
        );
        for c in &self.checks {
            let pct = if c.judged == 0 { 0.0 } else { 100.0 * c.passed as f64 / c.judged as f64 };
            let flag = if c.flaky() { "  FLAKY" } else { "" };
            let _ =
                writeln!(t, "    {:<12} {:<32} {}/{} ({pct:.0}%){flag}", c.id, c.name, c.passed, c.judged);
        }
        if !self.metrics.is_empty() {
            t.push_str("  metrics (min / median / p95 / max):\n");
        }
        for m in &self.metrics {
            let unit = m.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
            if m.count == 0 {
                let _ = writeln!(t, "    {:<24} not computed in any run", m.name);
                continue;
            }
            let _ = writeln!(
                t,
                "    {:<24} {} / {} / {} / {}{unit} (n={}, spread {}) · {}",
                m.name,
                num(m.min),
                num(m.median),
                num(m.p95),
                num(m.max),
                m.count,
                num(m.spread),
                m.baseline_text()
            );
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pass: bool, ms: f64) -> RunReport {
        crate::fixtures::one_check_run("s", "C-1", "fast", pass, ms)
    }

    #[test]
    fn pass_rate_and_spread_against_the_baseline() {
        let runs = [run(true, 100.0), run(false, 300.0), run(true, 200.0)];
        let refs: Vec<&RunReport> = runs.iter().collect();
        let mut b = BTreeMap::new();
        b.insert(
            "loss_ms".to_string(),
            BaselineSpread { median: 150.0, min: 140.0, max: 160.0, spread: 20.0, samples: 3 },
        );
        let f = flakiness("s", &refs, &b);
        assert_eq!((f.checks[0].passed, f.checks[0].judged), (2, 3));
        assert!(f.checks[0].flaky());
        let m = &f.metrics[0];
        assert_eq!((m.min, m.median, m.max, m.spread), (100.0, 200.0, 300.0, 200.0));
        assert!(m.wider_than_baseline, "200 ms of spread against 20 ms in the baseline");
        // Negative control: repeats as tight as the baseline are not flagged.
        let steady = [run(true, 150.0), run(true, 155.0)];
        let f = flakiness("s", &steady.iter().collect::<Vec<_>>(), &b);
        assert!(!f.metrics[0].wider_than_baseline);
        assert!(!f.checks[0].flaky());
        assert!(f.text().contains("2/2 (100%)"), "{}", f.text());
    }
}
