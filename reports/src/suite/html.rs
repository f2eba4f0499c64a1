//! The suite's `index.html`: every run with its verdict and a link to its own report, and
//! the flakiness tables. Self-contained; askama escapes every value.
use super::SuiteReport;
use askama::Template;

pub fn html(s: &SuiteReport) -> String {
    Page::new(s).render().unwrap_or_else(|e| {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        format!(
            "<!DOCTYPE html><html><body><h1>suite rendering failed</h1><pre>{}</pre></body></html>\n",
            esc(&e.to_string())
        )
    })
}

#[derive(Template)]
#[template(path = "suite.html")]
struct Page<'a> {
    s: &'a SuiteReport,
    title: String,
    banner_class: &'static str,
    passed: usize,
    command: String,
    shard: String,
    rows: Vec<Row>,
}

struct Row {
    verdict: String,
    class: &'static str,
    name: String,
    linked: bool,
    scenario: String,
    file: String,
    duration: String,
    counts: String,
    exit: String,
    note: String,
}

impl<'a> Page<'a> {
    fn new(s: &'a SuiteReport) -> Self {
        let passed = s.runs.iter().filter(|r| r.passed()).count();
        let rows = s
            .runs
            .iter()
            .map(|r| {
                let verdict = r.verdict();
                Row {
                    class: match verdict.as_str() {
                        "PASS" => "pass",
                        "NOT RUN" => "other",
                        _ => "fail",
                    },
                    verdict,
                    name: r.name.clone(),
                    linked: r.report.is_some(),
                    scenario: r.scenario.clone(),
                    file: r.file.clone(),
                    duration: crate::model::secs(r.duration_ms),
                    counts: r
                        .report
                        .as_ref()
                        .map(|x| {
                            let t = x.totals();
                            format!("{}/{} passed", t.pass, t.total)
                        })
                        .unwrap_or_default(),
                    exit: r.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                    note: r.not_run.clone().or_else(|| r.problem.clone()).unwrap_or_default(),
                }
            })
            .collect();
        Page {
            title: format!(
                "Suite of {} run(s): {}",
                s.runs.len(),
                if s.exit_code == 0 { "PASS" } else { "FAIL" }
            ),
            banner_class: if s.exit_code == 0 { "pass" } else { "fail" },
            passed,
            command: s.command.join(" "),
            shard: s.shard.clone().unwrap_or_else(|| "-".into()),
            rows,
            s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::SuiteRun;

    #[test]
    fn every_value_is_escaped_and_runs_are_linked() {
        let s = SuiteReport {
            command: vec!["testrunner".into(), "<script>".into()],
            runs: vec![
                SuiteRun {
                    name: "a".into(),
                    report: Some(crate::RunReport::default()),
                    exit_code: Some(3),
                    ..Default::default()
                },
                SuiteRun {
                    name: "b".into(),
                    not_run: Some("--fail-fast: <a> failed".into()),
                    ..Default::default()
                },
            ],
            exit_code: 3,
            ..Default::default()
        };
        let page = html(&s);
        assert!(page.contains("&#60;script&#62;") && !page.contains("<script>"), "{page}");
        assert!(page.contains(r#"<a href="a/report.html">a</a>"#));
        assert!(!page.contains("b/report.html"), "a run that never ran has no report to link");
    }
}
