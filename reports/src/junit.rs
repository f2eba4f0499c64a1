//! JUnit XML for CI: one `<testsuite>` per scenario, one `<testcase>` per check, and an
//! errored test case for anything outside the checks that went wrong (harness errors,
//! changes not restored, an interrupted or incomplete run) so that it never vanishes.
//! The output validates against the Jenkins xUnit `junit-10.xsd`.
use crate::model::{display_value, secs, CheckResult, RunReport};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;
use testrunner_events::{CheckStatus, Verdict};

pub fn render(report: &RunReport) -> String {
    let suite_name = if report.scenario.is_empty() { "unnamed" } else { report.scenario.as_str() };
    let mut out = Report::new(suite_name);
    out.set_time(Duration::from_millis(report.duration_ms));
    out.add_test_suite(test_suite(report, suite_name));
    finish(out, suite_name)
}

/// One run as a `<testsuite>` named `suite_name` (a suite of runs names each run).
pub fn test_suite(report: &RunReport, suite_name: &str) -> TestSuite {
    let mut suite = TestSuite::new(suite_name);
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&report.started_at) {
        suite.set_timestamp(t);
    }
    suite.set_time(Duration::from_millis(report.duration_ms));
    if !report.host.is_empty() {
        suite.extra.insert("hostname".into(), report.host.as_str().into());
    }
    if !report.file.is_empty() {
        suite.extra.insert("file".into(), report.file.as_str().into());
    }
    suite.add_properties(properties(report));

    let mut names = UniqueNames::default();
    for c in &report.checks {
        suite.add_test_case(check_case(report, c, names.take(format!("{} {}", c.decl.id, c.decl.name))));
    }
    for case in step_cases(report).into_iter().chain(harness_cases(report)) {
        let name = names.take(case.name.to_string());
        let mut case = case;
        case.name = name.into();
        suite.add_test_case(case);
    }
    suite
}

/// The document as text, valid against junit-10.xsd whatever the texts hold.
pub fn finish(report: Report, name: &str) -> String {
    let xml = report.to_string().unwrap_or_else(|e| fallback(name, &e.to_string()));
    // Any text may hold characters XML 1.0 forbids (a title, a program's stderr).
    crate::text::xml_chars(&strip_unschematic_attrs(xml)).into_owned()
}

fn properties(r: &RunReport) -> Vec<Property> {
    let mut p = vec![
        Property::new("run_id", &r.run_id),
        Property::new("title", &r.title),
        Property::new("fingerprint", &r.fingerprint),
        Property::new("tool_version", &r.tool_version),
        Property::new("verdict", r.verdict().as_str()),
    ];
    if let Some(rev) = &r.git_revision {
        p.push(Property::new("git_revision", rev));
    }
    if !r.command.is_empty() {
        p.push(Property::new("command", r.command.join(" ")));
    }
    p
}

fn check_case(r: &RunReport, c: &CheckResult, name: String) -> TestCase {
    let status = match c.status {
        CheckStatus::Pass => TestCaseStatus::success(),
        CheckStatus::Fail => {
            non_success(NonSuccessKind::Failure, "check failed", &c.message, failure_text(r, c))
        }
        CheckStatus::Error => {
            let message = if c.message.is_empty() { "not evaluated" } else { c.message.as_str() };
            non_success(NonSuccessKind::Error, "not evaluated", message, failure_text(r, c))
        }
    };
    let mut case = TestCase::new(name, status);
    case.set_classname(&r.scenario);
    if let Some(ms) = r.phase(&c.decl.phase).and_then(|p| p.elapsed_ms()) {
        case.set_time(Duration::from_millis(ms));
    }
    let mut log = String::new();
    if let Some(m) = &c.decl.metric {
        let v = match r.metric(m).filter(|x| x.error.is_some() || x.interval.is_some()) {
            Some(x) => x.text(),
            None => {
                let v = r.check_metric_value(c).map(|v| display_value(&v)).unwrap_or_else(|| "?".into());
                let unit = c.decl.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
                format!("{v}{unit}")
            }
        };
        let th = c.decl.threshold.as_deref().map(|t| format!(" (threshold {t})")).unwrap_or_default();
        let _ = writeln!(log, "{m} = {v}{th}");
    }
    if !c.failed_iterations.is_empty() {
        let list: Vec<String> = c.failed_iterations.iter().map(u32::to_string).collect();
        let _ = writeln!(log, "failed in iterations (loop.index): {}", list.join(", "));
    }
    log.push_str(&step_log(r, &c.decl.phase));
    if !log.is_empty() {
        case.set_system_out(log);
    }
    case
}

fn non_success(kind: NonSuccessKind, ty: &str, message: &str, text: String) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    s.set_type(ty).set_message(message).set_description(text);
    s
}

/// Expected vs actual: the expressions as written, then what they saw.
fn failure_text(r: &RunReport, c: &CheckResult) -> String {
    let mut t = c.at.as_deref().map(|a| format!("at {a}\n")).unwrap_or_default();
    t.push_str("expected (all must hold):\n");
    for e in &c.decl.expect {
        let _ = writeln!(t, "  {e}");
    }
    if let Some(th) = &c.decl.threshold {
        let _ = writeln!(t, "threshold: {th}");
    }
    if let (Some(m), Some(v)) = (&c.decl.metric, r.check_metric_value(c)) {
        let unit = c.decl.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
        let _ = writeln!(t, "{m} = {}{unit}", display_value(&v));
    }
    if !c.details.is_empty() {
        t.push_str("actual:\n");
        for d in &c.details {
            let _ = writeln!(t, "  {d}");
        }
    }
    t
}

/// The steps of a phase, one line each, plus the progress messages they logged.
fn step_log(r: &RunReport, phase: &str) -> String {
    let mut t = String::new();
    for s in r.steps_of(phase) {
        let elapsed = s.elapsed_ms().map(secs).unwrap_or_else(|| "-".into());
        let _ = write!(
            t,
            "[{}] {}{} ({}) {} elapsed={} attempts={}",
            secs(s.started_ms),
            s.step,
            s.iteration.map(|i| format!(" #{i}")).unwrap_or_default(),
            s.action,
            s.status_word(),
            elapsed,
            s.attempts
        );
        if let (Some(miss), Some(hit)) = (s.last_miss_ms, s.first_match_ms) {
            let _ = write!(t, " last_miss={} first_match={}", secs(miss), secs(hit));
        }
        t.push('\n');
        if let Some(e) = &s.error {
            let _ = writeln!(t, "    error: {e}");
        }
        if let Some(h) = &s.hint {
            let _ = writeln!(t, "    hint: {h}");
        }
        for l in r.logs.iter().filter(|l| l.step.as_deref() == Some(s.step.as_str())) {
            if l.t_ms >= s.started_ms && s.finished_ms.is_none_or(|f| l.t_ms <= f) {
                let _ = writeln!(t, "    [{}] {}", secs(l.t_ms), l.message);
            }
        }
    }
    t
}

/// Errored test cases for a failed step no check reported (`<phase> step <id>`) and for a
/// metric that could not be computed (`metric <name>`): a run failed by them is never green.
fn step_cases(r: &RunReport) -> Vec<TestCase> {
    let steps = r.step_errors.iter().map(|s| {
        let it = s.iteration.map(|i| format!(" iteration {i}")).unwrap_or_default();
        let at = s.at.as_deref().map(|a| format!("at {a}")).unwrap_or_default();
        let mut case = errored(r, format!("{} step {}{it}", s.phase, s.step), "step failed", &s.error, at);
        case.set_system_out(step_log(r, &s.phase));
        case
    });
    let metrics = r.metrics.iter().filter_map(|m| {
        let e = m.error.as_deref()?;
        Some(errored(r, format!("metric {}", m.name), "metric not computed", e, String::new()))
    });
    steps.chain(metrics).collect()
}

/// Errored test cases for what went wrong outside the checks.
fn harness_cases(r: &RunReport) -> Vec<TestCase> {
    let mut stages: Vec<(String, Vec<String>)> = vec![];
    let mut push = |stage: &str, msg: String| match stages.iter_mut().find(|(s, _)| s == stage) {
        Some((_, v)) => v.push(msg),
        None => stages.push((stage.to_string(), vec![msg])),
    };
    for h in &r.harness_errors {
        push(&h.stage, format!("[{}] {}", secs(h.t_ms), h.message));
    }
    for u in r.unrestored() {
        let err = u.error.as_deref().unwrap_or("failed");
        push("undo", format!("NOT RESTORED {}: {} ({err})", u.key, u.description));
    }
    let mut cases: Vec<TestCase> = stages
        .into_iter()
        .map(|(stage, msgs)| {
            errored(r, format!("harness {stage}"), "harness error", &msgs[0], msgs.join("\n") + "\n")
        })
        .collect();
    if let Some(sig) = &r.interrupted {
        let msg = format!("run interrupted by {sig}: later steps and checks did not run");
        cases.push(errored(r, "run interrupted".into(), "interrupted", &msg, String::new()));
    }
    if r.verdict() == Verdict::Incomplete {
        let msg = "the journal ends before the run finished (runner killed?)";
        let unfinished: String = r
            .steps
            .iter()
            .filter(|s| s.finished_ms.is_none())
            .map(|s| {
                format!("step {} ({}) started at {} never finished\n", s.step, s.action, secs(s.started_ms))
            })
            .collect();
        cases.push(errored(r, "run incomplete".into(), "incomplete", msg, unfinished));
    }
    cases
}

fn errored(r: &RunReport, name: String, ty: &str, message: &str, text: String) -> TestCase {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status.set_type(ty).set_message(message);
    if !text.is_empty() {
        status.set_description(text);
    }
    let mut case = TestCase::new(name, status);
    case.set_classname(&r.scenario);
    case
}

/// Test case names must be unique; a repeated name gets ` (2)`, ` (3)`, ….
#[derive(Default)]
struct UniqueNames(HashSet<String>);

impl UniqueNames {
    fn take(&mut self, name: String) -> String {
        let mut candidate = name.clone();
        let mut n = 2;
        while !self.0.insert(candidate.clone()) {
            candidate = format!("{name} ({n})");
            n += 1;
        }
        candidate
    }
}

/// quick-junit writes `skipped` on `<testsuites>`, which junit-10.xsd does not allow there
/// (each `<testsuite>` keeps its own count, so nothing is lost).
fn strip_unschematic_attrs(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else { return xml };
    let end = start + xml[start..].find('>').unwrap_or(0);
    let mut tag = xml[start..end].to_string();
    if let Some(at) = tag.find(" skipped=\"") {
        let close = tag[at + 10..].find('"').map_or(tag.len(), |i| at + 11 + i);
        tag.replace_range(at..close, "");
    }
    format!("{}{}{}", &xml[..start], tag, &xml[end..])
}

/// Serialization cannot really fail on a String; if it ever does, CI must still see an error.
fn fallback(suite: &str, err: &str) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;");
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"{}\" tests=\"1\" failures=\"0\" \
         errors=\"1\"><testcase name=\"junit serialization\"><error message=\"{}\"/></testcase></testsuite>\n",
        esc(suite),
        esc(err)
    )
}
