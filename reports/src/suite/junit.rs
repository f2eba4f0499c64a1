//! The combined `junit.xml` of a suite: one `<testsuite>` per run, as the run's own
//! junit.xml has it (named by the run: `val17`, `val17.2` for a repeat), so CI shows
//! every run; a run that never ran is a skipped test case, one without a report an error.
use super::SuiteReport;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

pub fn junit(s: &SuiteReport) -> String {
    let mut out = Report::new("testrunner suite");
    out.set_time(Duration::from_millis(s.duration_ms));
    for r in &s.runs {
        let suite = match (&r.report, &r.not_run) {
            (Some(report), _) => crate::junit::test_suite(report, &r.name),
            (None, reason) => {
                let mut suite = TestSuite::new(r.name.as_str());
                let mut status = match reason {
                    Some(_) => TestCaseStatus::skipped(),
                    None => TestCaseStatus::non_success(NonSuccessKind::Error),
                };
                let (ty, msg) = match reason {
                    Some(why) => ("not run", why.clone()),
                    None => {
                        ("no report", r.problem.clone().unwrap_or_else(|| "the run left no report".into()))
                    }
                };
                status.set_type(ty).set_message(msg);
                let mut case = TestCase::new(format!("run {}", r.name), status);
                case.set_classname(r.scenario.as_str());
                suite.add_test_case(case);
                if !r.file.is_empty() {
                    suite.extra.insert("file".into(), r.file.as_str().into());
                }
                suite
            }
        };
        out.add_test_suite(suite);
    }
    crate::junit::finish(out, "testrunner suite")
}
