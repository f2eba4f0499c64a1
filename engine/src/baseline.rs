//! Baselines: metric values recorded from earlier runs (with their spread, so noise is
//! judged, not a single number), and the regression checks a new run is held to.
use crate::EngineError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use testrunner_events::{CheckDecl, CheckStatus, Verdict};
use testrunner_scenario::{stats, Scenario};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub scenario: String,
    pub recorded_at: String,
    #[serde(default)]
    pub git_revision: Option<String>,
    pub host: String,
    pub runs: Vec<String>,
    pub metrics: BTreeMap<String, BaselineMetric>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineMetric {
    #[serde(default)]
    pub unit: Option<String>,
    pub samples: Vec<f64>,
    pub median: f64,
    /// max - min of the samples: how much the metric moved between identical runs.
    pub spread: f64,
}

/// What a baseline reads of one earlier run (from its report).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRun {
    pub run_id: String,
    pub scenario: String,
    pub verdict: Verdict,
    /// Each metric's name, value (none when it is not a number) and unit.
    pub metrics: Vec<(String, Option<f64>, Option<String>)>,
}

impl Baseline {
    /// Builds a baseline from one or more runs of the same scenario. Runs that did not
    /// pass are refused: a baseline must describe a healthy system.
    pub fn record(
        reports: &[RecordedRun],
        git_revision: Option<String>,
        host: String,
    ) -> Result<Baseline, EngineError> {
        let first = reports.first().ok_or_else(|| EngineError::Baseline("no runs given".into()))?;
        let mut metrics: BTreeMap<String, Vec<(f64, Option<String>)>> = BTreeMap::new();
        for r in reports {
            if r.scenario != first.scenario {
                return Err(EngineError::Baseline(format!(
                    "runs of different scenarios: `{}` and `{}`",
                    first.scenario, r.scenario
                )));
            }
            if r.verdict != Verdict::Pass {
                return Err(EngineError::Baseline(format!(
                    "run {} did not pass ({}); record baselines from passing runs",
                    r.run_id,
                    r.verdict.as_str()
                )));
            }
            for (name, value, unit) in &r.metrics {
                if let Some(v) = value {
                    metrics.entry(name.clone()).or_default().push((*v, unit.clone()));
                }
            }
        }
        let metrics = metrics
            .into_iter()
            .map(|(name, vals)| {
                let samples: Vec<f64> = vals.iter().map(|(v, _)| *v).collect();
                let s = stats::summary(&samples);
                let m = BaselineMetric {
                    unit: vals.iter().find_map(|(_, u)| u.clone()),
                    median: s["median"].as_f64().unwrap_or(0.0),
                    spread: s["max"].as_f64().unwrap_or(0.0) - s["min"].as_f64().unwrap_or(0.0),
                    samples,
                };
                (name, m)
            })
            .collect();
        Ok(Baseline {
            scenario: first.scenario.clone(),
            recorded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            git_revision,
            host,
            runs: reports.iter().map(|r| r.run_id.clone()).collect(),
            metrics,
        })
    }

    pub fn to_yaml(&self) -> String {
        let header = "# Recorded by `testrunner baseline record`. `testrunner run` compares against it.\n";
        format!("{header}{}", serde_saphyr::to_string(self).unwrap_or_default())
    }

    pub fn from_yaml(text: &str) -> Result<Baseline, EngineError> {
        serde_saphyr::from_str(text).map_err(|e| EngineError::Baseline(e.to_string()))
    }
}

/// The regression checks a scenario declares against this baseline: one per metric with
/// a `regression:` rule (one the baseline has no value for is an error, not skipped).
pub fn declared(sc: &Scenario) -> Vec<CheckDecl> {
    rules(sc)
        .map(|(name, unit, r)| CheckDecl {
            id: format!("BASELINE-{name}"),
            name: format!("no regression in {name}"),
            phase: "final".into(),
            expect: vec![format!(
                "{name} {} baseline {} {:.0}%",
                if r.lower_is_better { "<=" } else { ">=" },
                if r.lower_is_better { "+" } else { "-" },
                r.tolerance * 100.0
            )],
            metric: Some(name.to_string()),
            unit: unit.clone(),
            threshold: Some(format!(
                "{}{:.0}% of baseline",
                if r.lower_is_better { "+" } else { "-" },
                r.tolerance * 100.0
            )),
        })
        .collect()
}

fn rules(sc: &Scenario) -> impl Iterator<Item = (&str, &Option<String>, &testrunner_scenario::Regression)> {
    sc.phases
        .iter()
        .flat_map(|p| &p.metrics)
        .chain(&sc.final_metrics)
        .filter_map(|m| m.regression.as_ref().map(|r| (m.name.as_str(), &m.unit, r)))
}

/// Judges `value` against the baseline: the allowed move is the larger of the relative
/// tolerance, the spread seen between the baseline's own runs, and `min_delta`.
pub fn judge(
    name: &str,
    value: Option<f64>,
    b: &BaselineMetric,
    r: &testrunner_scenario::Regression,
) -> (CheckStatus, String) {
    let unit = b.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
    let Some(v) = value else {
        return (
            CheckStatus::Error,
            format!("{name}: no value in this run to compare with baseline {}{unit}", fmt(b.median)),
        );
    };
    let allowed = (r.tolerance * b.median.abs()).max(b.spread).max(r.min_delta);
    let delta = v - b.median;
    let pct = if b.median != 0.0 { delta / b.median * 100.0 } else { 0.0 };
    let limit_pct = if b.median != 0.0 { allowed / b.median.abs() * 100.0 } else { 0.0 };
    let worse = if r.lower_is_better { delta > allowed } else { -delta > allowed };
    let sign = if r.lower_is_better { "+" } else { "-" };
    let text = format!(
        "{name}: {}{unit} vs baseline {}{unit} ({:+.1}%, limit {sign}{:.1}%)",
        fmt(v),
        fmt(b.median),
        pct,
        limit_pct
    );
    if worse {
        (CheckStatus::Fail, format!("REGRESSION {text}"))
    } else {
        (CheckStatus::Pass, text)
    }
}

/// Evaluates every declared regression check from the run's metric values.
pub fn evaluate(
    sc: &Scenario,
    b: &Baseline,
    values: &BTreeMap<String, f64>,
) -> Vec<(String, CheckStatus, String)> {
    rules(sc)
        .map(|(name, _, r)| {
            let (status, msg) = match b.metrics.get(name) {
                Some(bm) => judge(name, values.get(name).copied(), bm, r),
                // Skipping it would be a regression gate that cannot fail.
                None => (
                    CheckStatus::Error,
                    format!("{name}: the baseline has no value for it (recorded before the metric had a `regression:` rule?); record the baseline again"),
                ),
            };
            (format!("BASELINE-{name}"), status, msg)
        })
        .collect()
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrunner_scenario::Regression;

    fn bm(samples: &[f64]) -> BaselineMetric {
        let s = stats::summary(samples);
        BaselineMetric {
            unit: Some("ms".into()),
            samples: samples.to_vec(),
            median: s["median"].as_f64().unwrap(),
            spread: s["max"].as_f64().unwrap() - s["min"].as_f64().unwrap(),
        }
    }

    #[test]
    fn slower_beyond_tolerance_is_a_regression() {
        let r = Regression { lower_is_better: true, tolerance: 0.25, min_delta: 0.0 };
        let (s, msg) = judge("loss_ms", Some(1900.0), &bm(&[1200.0, 1190.0, 1210.0]), &r);
        assert_eq!(s, CheckStatus::Fail);
        assert_eq!(msg, "REGRESSION loss_ms: 1900 ms vs baseline 1200 ms (+58.3%, limit +25.0%)");
        let (s, _) = judge("loss_ms", Some(1400.0), &bm(&[1200.0, 1190.0, 1210.0]), &r);
        assert_eq!(s, CheckStatus::Pass);
    }

    #[test]
    fn noise_in_the_baseline_widens_the_limit() {
        let r = Regression { lower_is_better: true, tolerance: 0.10, min_delta: 0.0 };
        // Spread 100 around a median of 200: a run at 290 is within what the baseline itself showed.
        assert_eq!(judge("x", Some(290.0), &bm(&[150.0, 200.0, 250.0]), &r).0, CheckStatus::Pass);
        assert_eq!(judge("x", Some(301.0), &bm(&[150.0, 200.0, 250.0]), &r).0, CheckStatus::Fail);
    }

    #[test]
    fn higher_is_better_and_missing_values() {
        let r = Regression { lower_is_better: false, tolerance: 0.2, min_delta: 0.0 };
        assert_eq!(judge("rate", Some(70.0), &bm(&[100.0]), &r).0, CheckStatus::Fail);
        assert_eq!(judge("rate", Some(130.0), &bm(&[100.0]), &r).0, CheckStatus::Pass);
        assert_eq!(judge("rate", None, &bm(&[100.0]), &r).0, CheckStatus::Error);
    }

    #[test]
    fn yaml_round_trip() {
        let b = Baseline {
            scenario: "s".into(),
            recorded_at: "2026-01-01T00:00:00Z".into(),
            git_revision: Some("abc".into()),
            host: "h".into(),
            runs: vec!["r1".into()],
            metrics: [("loss_ms".to_string(), bm(&[1.0, 3.0]))].into_iter().collect(),
        };
        assert_eq!(Baseline::from_yaml(&b.to_yaml()).unwrap(), b);
    }
}
