//! Reports shared by the unit tests of several reporters.
use crate::{CheckDecl, CheckResult, CheckStatus, MetricResult, RunReport};

/// A run of `scenario` with one check (`id`, `name`) that passed or failed, and one metric,
/// `loss_ms`.
pub(crate) fn one_check_run(scenario: &str, id: &str, name: &str, pass: bool, loss_ms: f64) -> RunReport {
    RunReport {
        scenario: scenario.into(),
        checks: vec![CheckResult {
            decl: CheckDecl {
                id: id.into(),
                name: name.into(),
                phase: "p".into(),
                expect: vec![],
                metric: None,
                unit: None,
                threshold: None,
            },
            status: if pass { CheckStatus::Pass } else { CheckStatus::Fail },
            message: String::new(),
            details: vec![],
            value: None,
            failed_iterations: vec![],
            at: None,
        }],
        metrics: vec![MetricResult {
            name: "loss_ms".into(),
            phase: "p".into(),
            value: serde_json::json!(loss_ms),
            unit: Some("ms".into()),
            series: None,
            interval: None,
            error: None,
        }],
        ..Default::default()
    }
}
