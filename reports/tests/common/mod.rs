//! Fixed event lists (deterministic times) for the renderer tests: a passing run, a failing
//! run with a skipped phase and errored checks, an interrupted run, and a journal cut mid-run.
#![allow(dead_code)]
use serde_json::{json, Map, Value};
use testrunner_events::{ActionTraits, Chart};
use testrunner_reports::{CheckDecl, CheckStatus, Event, RunReport, Verdict};

pub const AT: &str = "2025-03-01T10:00:00Z";

fn decl(id: &str, name: &str, phase: &str, expect: &[&str]) -> CheckDecl {
    CheckDecl {
        id: id.into(),
        name: name.into(),
        phase: phase.into(),
        expect: expect.iter().map(|s| s.to_string()).collect(),
        metric: None,
        unit: None,
        threshold: None,
    }
}

fn timed(mut d: CheckDecl, metric: &str) -> CheckDecl {
    d.metric = Some(metric.into());
    d.unit = Some("ms".into());
    d.threshold = Some("30000".into());
    d
}

pub fn run_started(title: &str, phases: &[&str], checks: Vec<CheckDecl>) -> Event {
    let mut vars = Map::new();
    vars.insert("ha_url".into(), json!("http://127.0.0.1:19003"));
    vars.insert("pg_password".into(), json!("********"));
    vars.insert("threshold_ms".into(), json!(30000));
    Event::RunStarted {
        run_id: "val17-20250301T100000Z".into(),
        scenario: "val17".into(),
        title: title.into(),
        description: "Stop the primary, measure loss detection.".into(),
        file: "scenarios/val17.yaml".into(),
        fingerprint: "sha256:3f2a9c".into(),
        at: AT.into(),
        tool_version: "0.1.0".into(),
        host: "ci-runner-1".into(),
        command: vec!["testrunner".into(), "run".into(), "scenarios/val17.yaml".into()],
        git_revision: Some("e2d9591".into()),
        vars,
        phases: phases.iter().map(|s| s.to_string()).collect(),
        checks,
    }
}

pub fn val17_checks() -> Vec<CheckDecl> {
    vec![
        decl(
            "VAL17-01",
            "baseline_quorum_healthy",
            "baseline",
            &["baseline.json.quorum_health == \"healthy\""],
        ),
        decl("VAL17-02", "loss_detected", "loss", &["lost.ok"]),
        timed(
            decl("VAL17-03", "loss_detection_timing_bound", "loss", &["loss_ms <= threshold_ms"]),
            "loss_ms",
        ),
        decl("VAL17-06", "recovery_detected", "recovery", &["recovered.ok"]),
    ]
}

pub fn phase_started(phase: &str, t_ms: u64) -> Event {
    Event::PhaseStarted { phase: phase.into(), iteration: None, t_ms }
}

pub fn phase_finished(phase: &str, ok: bool, failed_step: Option<&str>, t_ms: u64) -> Event {
    Event::PhaseFinished { phase: phase.into(), ok, failed_step: failed_step.map(Into::into), t_ms }
}

pub fn step_started(step: &str, phase: &str, action: &str, t_ms: u64) -> Event {
    Event::StepStarted {
        step: step.into(),
        phase: phase.into(),
        action: action.into(),
        t_ms,
        at: format!("2025-03-01T10:00:{:02}.{:03}Z", t_ms / 1000, t_ms % 1000),
        background: false,
        traits: traits_of(action),
    }
}

/// What the engine records for the fixtures' actions (their specs declare it).
pub fn traits_of(action: &str) -> ActionTraits {
    match action {
        "docker.stop" | "docker.kill" | "net.partition" => ActionTraits::FAULT,
        "net.heal" => ActionTraits::HEAL,
        "http.sample" => ActionTraits { chart: Some(Chart::Availability), ..ActionTraits::NONE },
        "sql.promote" => ActionTraits::FAILOVER,
        "sql.writers" => ActionTraits { chart: Some(Chart::WriteRate), ..ActionTraits::NONE },
        _ => ActionTraits::NONE,
    }
}

pub fn step_finished(step: &str, phase: &str, action: &str, span: (u64, u64), attempts: u32) -> Event {
    Event::StepFinished {
        step: step.into(),
        phase: phase.into(),
        action: action.into(),
        ok: true,
        error: None,
        hint: None,
        allowed_failure: false,
        skipped: false,
        started_ms: span.0,
        finished_ms: span.1,
        attempts,
        last_miss_ms: None,
        first_match_ms: None,
        result: json!({"ok": true}),
        at: None,
    }
}

pub fn failed(ev: Event, err: &str) -> Event {
    match ev {
        Event::StepFinished { step, phase, action, started_ms, finished_ms, attempts, .. } => {
            Event::StepFinished {
                step,
                phase,
                action,
                ok: false,
                error: Some(err.into()),
                hint: Some("is the HA server running?".into()),
                allowed_failure: false,
                skipped: false,
                started_ms,
                finished_ms,
                attempts,
                last_miss_ms: None,
                first_match_ms: None,
                result: json!({"ok": false, "error": err}),
                at: None,
            }
        }
        other => other,
    }
}

pub fn poll(step: &str, attempt: u32, started_ms: u64, matched: bool) -> Event {
    Event::Poll { step: step.into(), attempt, started_ms, finished_ms: started_ms + 15, matched, error: None }
}

pub fn check(
    id: &str,
    status: CheckStatus,
    message: &str,
    details: &[&str],
    value: Option<Value>,
    t_ms: u64,
) -> Event {
    Event::Check {
        id: id.into(),
        status,
        message: message.into(),
        details: details.iter().map(|s| s.to_string()).collect(),
        value,
        failed_iterations: vec![],
        t_ms,
        at: None,
    }
}

pub fn undo(key: &str, description: &str, error: Option<&str>, t_ms: u64) -> Event {
    Event::Undo {
        key: key.into(),
        description: description.into(),
        ok: error.is_none(),
        error: error.map(Into::into),
        t_ms,
    }
}

pub fn finished(verdict: Verdict, exit_code: i32, duration_ms: u64) -> Event {
    Event::RunFinished { verdict, exit_code, at: "2025-03-01T10:00:05Z".into(), duration_ms }
}

/// baseline ok; loss: stop the container, poll until quorum is lost (3 polls).
fn common_start(title: &str, checks: Vec<CheckDecl>) -> Vec<Event> {
    vec![
        run_started(title, &["baseline", "loss", "recovery"], checks),
        phase_started("baseline", 10),
        step_started("baseline", "baseline", "http.get", 12),
        step_finished("baseline", "baseline", "http.get", (12, 40), 1),
        Event::Evidence { path: "evidence/val17-01-baseline.json".into(), step: Some("baseline".into()) },
        phase_finished("baseline", true, None, 41),
        check("VAL17-01", CheckStatus::Pass, "all expectations hold", &[], None, 42),
        phase_started("loss", 50),
        step_started("stop_pg", "loss", "docker.stop", 51),
        step_finished("stop_pg", "loss", "docker.stop", (51, 400), 1),
        step_started("lost", "loss", "http.get", 401),
        Event::Log {
            step: Some("lost".into()),
            t_ms: 402,
            message: "waiting for quorum_health == lost".into(),
        },
        poll("lost", 1, 401, false),
        poll("lost", 2, 601, false),
    ]
}

pub fn passing() -> Vec<Event> {
    let mut ev = common_start("VAL17 — Quorum Loss Validation", val17_checks());
    ev.extend([
        poll("lost", 3, 801, true),
        Event::StepFinished {
            step: "lost".into(),
            phase: "loss".into(),
            action: "http.get".into(),
            ok: true,
            error: None,
            hint: None,
            allowed_failure: false,
            skipped: false,
            started_ms: 401,
            finished_ms: 816,
            attempts: 3,
            last_miss_ms: Some(616),
            first_match_ms: Some(816),
            result: json!({"ok": true, "json": {"quorum_health": "lost"}}),
            at: None,
        },
        Event::Evidence { path: "evidence/val17-02-quorum-lost.json".into(), step: Some("lost".into()) },
        phase_finished("loss", true, None, 820),
        Event::Metric { name: "loss_ms".into(), phase: "loss".into(), value: json!(765), unit: Some("ms".into()), series: None, interval: Some([565.0, 765.0]), error: None },
        check("VAL17-02", CheckStatus::Pass, "all expectations hold", &[], None, 821),
        check("VAL17-03", CheckStatus::Pass, "all expectations hold", &[], Some(json!(765)), 822),
        phase_started("recovery", 830),
        step_started("start_pg", "recovery", "docker.start", 831),
        step_finished("start_pg", "recovery", "docker.start", (831, 1200), 1),
        step_started("recovered", "recovery", "http.get", 1201),
        step_finished("recovered", "recovery", "http.get", (1201, 1500), 2),
        phase_finished("recovery", true, None, 1501),
        Event::Metric {
            name: "recovery_ms".into(),
            phase: "recovery".into(),
            value: json!(300.0),
            unit: Some("ms".into()),
            series: Some(json!({"count": 2, "min": 250.0, "median": 300.0, "p95": 345.0, "p99": 349.0, "max": 350.0, "mean": 300.0, "all": [250.0, 350.0]})),
            interval: None,
            error: None,
        },
        check("VAL17-06", CheckStatus::Pass, "all expectations hold", &[], None, 1502),
        finished(Verdict::Pass, 0, 1510),
    ]);
    ev
}

/// `lost` never matches: the loss phase fails, recovery is skipped, its check errors, and
/// the undo (`docker.start`) fails: a harness error.
pub fn failing() -> Vec<Event> {
    let mut ev = common_start("VAL17 — Quorum Loss Validation", val17_checks());
    let reason = "not run: phase `loss` failed at step `lost`: until not satisfied within 30s";
    ev.extend([
        failed(
            step_finished("lost", "loss", "http.get", (401, 30401), 2),
            "until `lost.json.quorum_health == \"lost\"` not satisfied within 30s (2 attempts)",
        ),
        phase_finished("loss", false, Some("lost"), 30402),
        check(
            "VAL17-02",
            CheckStatus::Fail,
            "expected `lost.ok`",
            &["`lost.ok` is false: lost.ok = false"],
            None,
            30403,
        ),
        check(
            "VAL17-03",
            CheckStatus::Error,
            "not run: phase `loss` failed at step `lost`: until not satisfied within 30s",
            &["undeclared reference to 'loss_ms'"],
            None,
            30404,
        ),
        Event::PhaseSkipped { phase: "recovery".into(), reason: reason.into() },
        check("VAL17-06", CheckStatus::Error, reason, &[], None, 30405),
        Event::HarnessError {
            stage: "undo".into(),
            message: "could not start container val17-pg: no such container".into(),
            t_ms: 30500,
        },
        undo("docker.stopped:val17-pg", "start container val17-pg", Some("no such container"), 30500),
        Event::HarnessError {
            stage: "teardown".into(),
            message: "step `rm_pg` failed: connection refused".into(),
            t_ms: 30600,
        },
        finished(Verdict::Error, 3, 30610),
    ]);
    ev
}

/// SIGINT while `lost` polls: the step is cancelled, the rest is not run, undo restores.
pub fn interrupted() -> Vec<Event> {
    let mut ev = common_start("VAL17 — Quorum Loss Validation", val17_checks());
    ev.extend([
        failed(step_finished("lost", "loss", "http.get", (401, 700), 2), "cancelled: interrupted"),
        phase_finished("loss", false, None, 701),
        check("VAL17-02", CheckStatus::Error, "not run: interrupted", &[], None, 702),
        check("VAL17-03", CheckStatus::Error, "not run: interrupted", &[], None, 703),
        Event::Interrupted { signal: "SIGINT".into(), t_ms: 705 },
        undo("docker.stopped:val17-pg", "start container val17-pg", None, 900),
        finished(Verdict::Interrupted, 130, 910),
    ]);
    ev
}

/// The passing run's journal as JSONL, cut after the second poll of `lost` in the middle
/// of the next line (the runner was SIGKILLed while writing).
pub fn truncated_journal() -> String {
    let events = common_start("VAL17 — Quorum Loss Validation", val17_checks());
    let mut text: String = events.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
    let next = serde_json::to_string(&poll("lost", 3, 801, true)).unwrap();
    text.push_str(&next[..next.len() / 2]);
    text
}

pub fn report(events: &[Event]) -> RunReport {
    RunReport::from_events(events)
}

pub fn incomplete() -> RunReport {
    let events = RunReport::parse_journal(&truncated_journal()).expect("torn last line is ignored");
    RunReport::from_events(&events)
}
