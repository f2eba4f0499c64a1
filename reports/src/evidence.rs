//! The verdict inside `evidence/`: `<scenario>-report.txt` (the terminal summary) and
//! `<scenario>-report.json` (checks, metrics and counts). An auditor handed only the
//! evidence directory still has the verdict, under the names the seed harnesses used
//! (`val17-report.txt`, `val17-report.json`).
use crate::model::RunReport;
use serde_json::{json, Map, Value};
use testrunner_events::CheckStatus;

pub const SCHEMA: &str = "testrunner.evidence-report/v1";

/// `(file name, contents)` of the two evidence reports.
pub fn render(report: &RunReport) -> [(String, String); 2] {
    // The id names a file: keep it one plain path component, whatever the scenario said.
    let id: String = report
        .scenario
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    let id = if id.is_empty() { "run".to_string() } else { id };
    [
        (format!("{id}-report.txt"), crate::summary::render(report)),
        (format!("{id}-report.json"), json(report)),
    ]
}

fn json(report: &RunReport) -> String {
    let metrics: Map<String, Value> =
        report.metrics.iter().map(|m| (m.name.clone(), m.value.clone())).collect();
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| json!({"id": c.decl.id, "name": c.decl.name, "status": c.status.as_str(), "message": c.message}))
        .collect();
    let doc = json!({
        "schema": SCHEMA,
        "scenario": report.scenario,
        "run_id": report.run_id,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "verdict": report.verdict().as_str(),
        "interrupted": report.interrupted,
        "pass_count": report.count(CheckStatus::Pass),
        "fail_count": report.count(CheckStatus::Fail),
        "error_count": report.count(CheckStatus::Error),
        "total": report.checks.len(),
        "metrics": metrics,
        "checks": checks,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_scenario_and_stay_inside_evidence() {
        let mut r = RunReport { scenario: "val17".into(), ..Default::default() };
        let [(txt, _), (json, body)] = render(&r);
        assert_eq!((txt.as_str(), json.as_str()), ("val17-report.txt", "val17-report.json"));
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((v["schema"].as_str(), v["pass_count"].as_u64()), (Some(SCHEMA), Some(0)));
        r.scenario = "../../etc/x".into();
        assert_eq!(render(&r)[0].0, "______etc_x-report.txt");
    }
}
