//! Engine semantics with small test-only actions (registered in this test binary):
//! deadlines, until/retries, background + stop, repeat series, undo, allow_failure,
//! skipped phases, verdict rules and exit codes.
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testrunner_actions::{inventory, Action, ActionCtx, ActionEntry, ActionError, ActionSpec, Outcome, Undo};
use testrunner_engine::{run, Interrupt, Journal, RegistryCatalog, RunOptions, UndoStack};
use testrunner_events::{CheckStatus, Event, Verdict};
use testrunner_reports::{ReportFold, RunReport};
use testrunner_scenario::{load, Masker, Overrides};

static COUNTER: AtomicU32 = AtomicU32::new(0);
static UNDONE: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn spec(name: &'static str) -> ActionSpec {
    ActionSpec {
        name,
        summary: "test",
        params: json!({"type": "object"}),
        // Open outputs (`<…>`): the loader checks no field of these test actions.
        outputs: &[testrunner_actions::OutputField { name: "<any>", ty: "any", doc: "test action" }],
        example: "",
        background: name == "t.bg",
        // `t.break` changes something an undo restores: a fault, as far as reports go.
        traits: if name == "t.break" {
            testrunner_actions::ActionTraits::FAULT
        } else {
            testrunner_actions::ActionTraits::NONE
        },
    }
}

/// Counts calls; outputs `n`, the number of calls so far.
struct Count;
#[async_trait]
impl Action for Count {
    fn spec(&self) -> ActionSpec {
        spec("t.count")
    }
    async fn run(&self, _: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        Ok(Outcome::new().with("n", COUNTER.fetch_add(1, Ordering::SeqCst) + 1))
    }
}

/// Fails until called `ok_after` times (per step id).
struct Flaky;
static FLAKY: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());
#[async_trait]
impl Action for Flaky {
    fn spec(&self) -> ActionSpec {
        spec("t.flaky")
    }
    async fn run(&self, p: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let mut f = FLAKY.lock().unwrap();
        let n = match f.iter_mut().find(|(k, _)| *k == ctx.step_id) {
            Some(e) => {
                e.1 += 1;
                e.1
            }
            None => {
                f.push((ctx.step_id.clone(), 1));
                1
            }
        };
        if n < p["ok_after"].as_u64().unwrap_or(1) {
            return Err(ActionError::new(format!("not yet ({n})")));
        }
        Ok(Outcome::new().with("calls", n))
    }
}

/// Never returns: only the deadline ends it.
struct Hang;
#[async_trait]
impl Action for Hang {
    fn spec(&self) -> ActionSpec {
        spec("t.hang")
    }
    async fn run(&self, _: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        futures::future::pending::<()>().await;
        unreachable!()
    }
}

/// Changes "the world" and registers its inverse (t.restore).
struct Break;
#[async_trait]
impl Action for Break {
    fn spec(&self) -> ActionSpec {
        spec("t.break")
    }
    async fn run(&self, p: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        let what = p["what"].as_str().unwrap_or("x").to_string();
        Ok(Outcome::new().undo(Undo {
            key: format!("broken:{what}"),
            description: format!("restore {what}"),
            action: "t.restore",
            params: json!({"what": what}),
        }))
    }
}

struct Restore;
#[async_trait]
impl Action for Restore {
    fn spec(&self) -> ActionSpec {
        spec("t.restore")
    }
    async fn run(&self, p: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        let what = p["what"].as_str().unwrap_or("x").to_string();
        UNDONE.lock().unwrap().push(what.clone());
        Ok(Outcome::new().resolves(format!("broken:{what}")))
    }
}

/// Background: counts ticks until stopped.
struct Bg;
#[async_trait]
impl Action for Bg {
    fn spec(&self) -> ActionSpec {
        spec("t.bg")
    }
    async fn run(&self, _: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = ctx.stop.cancelled() => return Ok(Outcome::new().with("ticks", ticks)),
                _ = tokio::time::sleep(Duration::from_millis(5)) => ticks += 1,
            }
        }
    }
}

/// Outputs what it was given (after `${…}` evaluation).
struct Echo;
#[async_trait]
impl Action for Echo {
    fn spec(&self) -> ActionSpec {
        spec("t.echo")
    }
    async fn run(&self, p: Value, _: &ActionCtx) -> Result<Outcome, ActionError> {
        Ok(Outcome::new().with("json", p))
    }
}

inventory::submit!(ActionEntry(&Count));
inventory::submit!(ActionEntry(&Flaky));
inventory::submit!(ActionEntry(&Hang));
inventory::submit!(ActionEntry(&Break));
inventory::submit!(ActionEntry(&Restore));
inventory::submit!(ActionEntry(&Bg));
inventory::submit!(ActionEntry(&Echo));

async fn run_yaml(yaml: &str) -> (RunReport, i32, Vec<Event>) {
    run_with(yaml, Interrupt::default()).await
}

async fn run_with(yaml: &str, interrupt: Interrupt) -> (RunReport, i32, Vec<Event>) {
    run_full(yaml, &Overrides::default(), interrupt).await
}

/// As `run_yaml`, with `--var name=value` overrides applied by the loader.
async fn run_vars(yaml: &str, vars: &[(&str, &str)]) -> (RunReport, i32, Vec<Event>) {
    let o = Overrides {
        values: vars.iter().map(|(n, v)| (n.to_string(), v.to_string(), "--var".to_string())).collect(),
        lenient: vec![],
    };
    run_full(yaml, &o, Interrupt::default()).await
}

async fn run_full(yaml: &str, overrides: &Overrides, interrupt: Interrupt) -> (RunReport, i32, Vec<Event>) {
    let text = yaml.to_string();
    let read = move |_: &str| Ok(text.clone());
    let sc = load("t.yaml", &read, &RegistryCatalog, overrides)
        .unwrap_or_else(|f| panic!("{}", f.render(false)))
        .scenario;
    let dir = tempfile::tempdir().unwrap();
    let masker = Arc::new(Masker::new(vec!["s3cr3t-value".to_string()]));
    let fold = Arc::new(Mutex::new(ReportFold::default()));
    let journal =
        Journal::create(&dir.path().join("journal.jsonl"), masker.clone(), vec![Box::new(fold.clone())])
            .unwrap();
    let opts = RunOptions {
        run_dir: dir.path().to_path_buf(),
        run_id: "test".into(),
        command: vec![],
        tool_version: "0".into(),
        git_revision: None,
        host: "h".into(),
        baseline: None,
    };
    let out = run(&sc, &opts, masker, journal.clone(), UndoStack::default(), interrupt).await;
    let report = std::mem::take(&mut *fold.lock().unwrap()).finish();
    assert_eq!(report.verdict(), out.verdict);
    // The journal on disk folds to the same report as the live one.
    let disk = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    let events = RunReport::parse_journal(&disk).unwrap();
    let rebuilt = RunReport::from_events(&events);
    assert_eq!(rebuilt, report);
    (report, out.exit.code(), events)
}

fn check(r: &RunReport, id: &str) -> CheckStatus {
    r.checks.iter().find(|c| c.decl.id == id).unwrap_or_else(|| panic!("no check {id}")).status
}

#[tokio::test]
async fn hung_action_ends_at_its_deadline_and_run_goes_on_to_cleanup() {
    let t = std::time::Instant::now();
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: h, t.hang: {}, timeout: 300ms }\n    checks:\n      - { id: C, expect: h.ok }\n  - name: later\n    checks:\n      - { id: D, expect: \"true\" }\n",
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(3));
    let h = r.step("h").unwrap();
    assert_eq!(h.ok, Some(false));
    assert!(h.error.as_deref().unwrap().contains("deadline 300ms exceeded"));
    assert_eq!(check(&r, "C"), CheckStatus::Fail);
    assert_eq!(check(&r, "D"), CheckStatus::Error);
    assert!(r.checks[1].message.contains("phase `p` failed at step `h`"), "{}", r.checks[1].message);
    assert_eq!(r.verdict(), Verdict::Fail);
    assert_eq!(code, 1);
}

#[tokio::test]
async fn until_polls_and_records_uncertainty() {
    let (r, code, events) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - id: c\n        t.flaky: { ok_after: 3 }\n        until: c.calls >= 5\n        interval: 20ms\n        timeout: 5s\n",
    )
    .await;
    assert_eq!(code, 0);
    let c = r.step("c").unwrap();
    assert_eq!(c.attempts, 5);
    let (miss, hit) = (c.last_miss_ms.unwrap(), c.first_match_ms.unwrap());
    assert!(miss < hit && hit - miss < 1000, "{miss} {hit}");
    let polls = events.iter().filter(|e| matches!(e, Event::Poll { .. })).count();
    assert_eq!(polls, 5);
}

#[tokio::test]
async fn until_that_never_holds_fails_with_last_value() {
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - id: c\n        t.echo: { v: 1 }\n        until: c.json.v == 2\n        interval: 20ms\n        timeout: 200ms\n",
    )
    .await;
    assert_eq!(code, 1);
    let err = r.step("c").unwrap().error.clone().unwrap();
    assert!(err.contains("until `c.json.v == 2` did not hold within 200ms"), "{err}");
    assert!(err.contains("c.json.v = 1"), "{err}");
}

#[tokio::test]
async fn retries_really_retry_and_are_bounded() {
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: ok3, t.flaky: { ok_after: 3 }, retries: 2, interval: 10ms }\n      - { id: no, t.flaky: { ok_after: 9 }, retries: 2, interval: 10ms }\n",
    )
    .await;
    assert_eq!(r.step("ok3").unwrap().ok, Some(true));
    assert_eq!(r.step("ok3").unwrap().attempts, 3);
    assert_eq!(r.step("no").unwrap().ok, Some(false));
    assert_eq!(r.step("no").unwrap().attempts, 3);
    assert_eq!(code, 1);
}

#[tokio::test]
async fn undo_runs_lifo_unless_already_restored_and_after_failure() {
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - t.break: { what: a }\n      - t.break: { what: b }\n      - t.break: { what: c }\n      - t.restore: { what: b }\n      - { id: fail_here, t.hang: {}, timeout: 10ms }\n",
    )
    .await;
    let _ = (r, code);
    // `b` was restored by the scenario itself; a and c by the undo stack, c first.
    // Other tests share the log: keep this test's names only.
    let undone: Vec<String> =
        UNDONE.lock().unwrap().iter().filter(|w| ["a", "b", "c"].contains(&w.as_str())).cloned().collect();
    assert_eq!(undone, vec!["b", "c", "a"]);
}

#[tokio::test]
async fn the_journal_records_what_each_action_declares_about_itself() {
    let (r, _, events) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: brk, t.break: { what: traits } }\n      - { id: cnt, t.count: {} }\n      - { id: nap, sleep: { duration: 1ms } }\n",
    )
    .await;
    let traits = |id: &str| {
        events.iter().find_map(|e| match e {
            Event::StepStarted { step, traits, .. } if step == id => Some(*traits),
            _ => None,
        })
    };
    assert_eq!(traits("brk"), Some(testrunner_actions::ActionTraits::FAULT));
    // Negative controls: an action that declares nothing is no fault, test action or built-in.
    assert_eq!(traits("cnt"), Some(testrunner_actions::ActionTraits::NONE));
    assert_eq!(traits("nap"), Some(testrunner_actions::ActionTraits::NONE));
    assert!(r.step("brk").unwrap().is_fault() && !r.step("cnt").unwrap().is_fault());
}

#[tokio::test]
async fn background_steps_stop_and_report() {
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: load, t.bg: {}, background: true }\n      - t.flaky: { ok_after: 1 }\n      - stop: load\n    checks:\n      - { id: C, expect: load.ok && load.ticks >= 0 }\n",
    )
    .await;
    assert_eq!(code, 0, "{:?}", r.checks);
    assert_eq!(r.step("load").unwrap().ok, Some(true));
}

#[tokio::test]
async fn repeated_phase_metrics_become_series() {
    let (r, code, _) = run_yaml(
        "phases:\n  - name: cycles\n    repeat: 3\n    steps:\n      - { id: e, t.echo: { i: \"${loop.index}\" } }\n    metrics:\n      v: { value: \"e.json.i * 10\", unit: ms }\n    checks:\n      - { id: S, expect: [\"v.count == 3\", \"v.max == 20\", \"v.min == 0\"] }\n",
    )
    .await;
    assert_eq!(code, 0, "{:?}", r.checks);
    let m = r.metrics.iter().find(|m| m.name == "v").unwrap();
    assert_eq!(m.series.as_ref().unwrap()["all"], json!([0.0, 10.0, 20.0]));
}

#[tokio::test]
async fn allowed_failure_is_recorded_not_passed() {
    let (r, code, _) = run_yaml("phases:\n  - name: p\n    steps:\n      - { id: x, t.hang: {}, timeout: 10ms, allow_failure: true }\n      - t.echo: {}\n").await;
    let x = r.step("x").unwrap();
    assert_eq!((x.ok, x.allowed_failure), (Some(false), true));
    assert_eq!(code, 0);
}

#[tokio::test]
async fn setup_failure_is_a_harness_error_and_checks_error() {
    let (r, code, _) = run_yaml(
        "setup:\n  - { id: s, t.hang: {}, timeout: 10ms }\nphases:\n  - name: p\n    checks:\n      - { id: C, expect: \"true\" }\n",
    )
    .await;
    assert_eq!(code, 3);
    assert_eq!(r.verdict(), Verdict::Error);
    assert_eq!(check(&r, "C"), CheckStatus::Error);
    assert!(r.checks[0].message.contains("setup failed at step `s`"));
}

#[tokio::test]
async fn partial_and_scenario_exit_codes() {
    let base = "phases:\n  - name: p\n    checks:\n      - { id: A, expect: \"true\" }\n      - { id: B, expect: \"false\" }\n";
    let (r, code, _) = run_yaml(&format!("{base}outcome: {{ partial_if_passed: [A] }}\n")).await;
    assert_eq!((r.verdict(), code), (Verdict::Partial, 1));
    let (r, code, _) = run_yaml(&format!("{base}outcome: {{ partial_if_passed: [B] }}\n")).await;
    assert_eq!((r.verdict(), code), (Verdict::Fail, 1));
    let (_, code, _) = run_yaml(&format!(
        "{base}exit_codes:\n  - {{ when_failed: [A], code: 5 }}\n  - {{ when_failed: [B], code: 2 }}\n"
    ))
    .await;
    assert_eq!(code, 2);
}

#[tokio::test]
async fn hard_fail_invariants_fail_the_run() {
    let (r, code, _) = run_yaml("vars: { lost_rows: 1 }\nhard_fail:\n  - { id: HF-1, when: lost_rows > 0, message: rows lost }\nphases: []\n").await;
    assert_eq!(code, 1);
    assert_eq!(check(&r, "HF-1"), CheckStatus::Fail);
    let (_, code, _) =
        run_yaml("vars: { lost_rows: 0 }\nhard_fail:\n  - { id: HF-1, when: lost_rows > 0 }\nphases: []\n")
            .await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn interrupt_stops_scheduling_runs_undo_and_reports() {
    let interrupt = Interrupt::default();
    let i2 = interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        i2.fire("SIGINT");
    });
    let (r, code, _) = run_with(
        "phases:\n  - name: p\n    steps:\n      - t.break: { what: z }\n      - { id: h, t.hang: {}, timeout: 60s }\n    checks:\n      - { id: P, expect: \"true\" }\n  - name: q\n    checks:\n      - { id: C, expect: \"true\" }\n",
        interrupt,
    )
    .await;
    assert_eq!(code, 130);
    assert_eq!(r.verdict(), Verdict::Interrupted);
    assert_eq!(r.interrupted.as_deref(), Some("SIGINT"));
    assert_eq!(UNDONE.lock().unwrap().iter().filter(|w| *w == "z").count(), 1);
    assert_eq!(check(&r, "C"), CheckStatus::Error);
    // The interrupted phase's own check would evaluate (`true`), but is not judged.
    assert_eq!(check(&r, "P"), CheckStatus::Error);
}

#[tokio::test]
async fn secrets_are_masked_in_the_journal() {
    let (_, _, events) = run_yaml("vars: { pw: s3cr3t-value }\nphases:\n  - name: p\n    steps:\n      - { id: e, t.echo: { url: \"postgres://u:${pw}@h\" } }\n").await;
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("s3cr3t-value"));
    assert!(text.contains("postgres://u:****@h"));
}

#[tokio::test]
async fn when_false_skips_a_step() {
    let (r, code, _) = run_yaml(
        "vars: { go: false }\nphases:\n  - name: p\n    steps:\n      - { id: h, t.hang: {}, when: go }\n",
    )
    .await;
    assert_eq!(code, 0);
    assert!(r.step("h").unwrap().skipped);
}

/// The teardown step's record: it ran (not skipped), in the teardown stage, after `after`
/// finished, and did what its action does (echoed its marker back).
fn assert_teardown_ran(r: &RunReport, events: &[Event], after: &str, marker: &str) {
    let td = r.step("td").unwrap_or_else(|| panic!("no record of teardown step `td`: {:?}", r.steps));
    assert_eq!(td.phase, "teardown");
    assert_eq!((td.ok, td.skipped), (Some(true), false), "{td:?}");
    assert_eq!(td.result.value()["json"]["marker"], json!(marker), "{td:?}");
    let failed = r.step(after).unwrap();
    assert_eq!(failed.ok, Some(false), "{failed:?}");
    assert!(td.started_ms >= failed.finished_ms.unwrap(), "teardown ran before `{after}` failed");
    let started = events
        .iter()
        .filter(
            |e| matches!(e, Event::StepStarted { step, phase, .. } if step == "td" && phase == "teardown"),
        )
        .count();
    assert_eq!(started, 1, "teardown step started {started} times");
}

#[tokio::test]
async fn teardown_runs_after_a_failed_phase() {
    let (r, code, events) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: boom, t.hang: {}, timeout: 10ms }\n      - { id: never, t.echo: {} }\n  - name: q\n    steps:\n      - { id: never2, t.echo: {} }\nteardown:\n  - { id: td, t.echo: { marker: after-phase } }\n",
    )
    .await;
    // The phase really failed and stopped: the steps after `boom` and phase `q` did not run.
    assert!(r.step("never").is_none() && r.step("never2").is_none(), "{:?}", r.steps);
    assert_eq!(r.phases.iter().find(|p| p.name == "p").unwrap().status, "failed");
    assert_teardown_ran(&r, &events, "boom", "after-phase");
    assert!(r.harness_errors.is_empty(), "{:?}", r.harness_errors);
    assert_eq!((r.verdict(), code), (Verdict::Fail, 1));
}

#[tokio::test]
async fn teardown_runs_after_a_failed_setup_step() {
    let (r, code, events) = run_yaml(
        "setup:\n  - { id: s, t.hang: {}, timeout: 10ms }\n  - { id: s2, t.echo: {} }\nphases:\n  - name: p\n    steps:\n      - { id: never, t.echo: {} }\nteardown:\n  - { id: td, t.echo: { marker: after-setup } }\n",
    )
    .await;
    assert!(r.step("s2").is_none() && r.step("never").is_none(), "{:?}", r.steps);
    assert_teardown_ran(&r, &events, "s", "after-setup");
    assert_eq!((r.verdict(), code), (Verdict::Error, 3));
}

#[tokio::test]
async fn failing_teardown_is_a_harness_error_even_when_every_check_passed() {
    let scenario = |teardown_step: &str| {
        format!(
            "phases:\n  - name: p\n    steps:\n      - {{ id: e, t.echo: {{ v: 1 }} }}\n    checks:\n      - {{ id: C, expect: e.json.v == 1 }}\nteardown:\n  - {teardown_step}\n  - {{ id: td2, t.echo: {{ marker: still-cleaned }} }}\n"
        )
    };
    // Control: the same run with a teardown that succeeds passes, so the 3 below comes
    // from the teardown alone.
    let (r, code, _) = run_yaml(&scenario("{ id: td, t.echo: {} }")).await;
    assert_eq!((r.verdict(), code), (Verdict::Pass, 0), "{:?}", r.harness_errors);

    let (r, code, _) = run_yaml(&scenario("{ id: td, t.hang: {}, timeout: 20ms }")).await;
    assert_eq!(check(&r, "C"), CheckStatus::Pass);
    assert_eq!(r.count(CheckStatus::Pass), r.checks.len());
    assert_eq!(r.step("td").unwrap().ok, Some(false));
    let h = r.harness_errors.iter().find(|h| h.stage == "teardown").expect("no teardown harness error");
    assert!(h.message.contains("`td`"), "{}", h.message);
    // One failed cleanup step does not skip the rest of the cleanup.
    let td2 = r.step("td2").expect("teardown stopped at the first failure");
    assert_eq!((td2.ok, td2.result.value()["json"]["marker"].clone()), (Some(true), json!("still-cleaned")));
    assert_eq!((r.verdict(), code), (Verdict::Error, 3));

    // An allowed teardown failure is recorded, not a harness error.
    let (r, code, _) =
        run_yaml(&scenario("{ id: td, t.hang: {}, timeout: 20ms, allow_failure: true }")).await;
    assert!(r.step("td").unwrap().allowed_failure);
    assert_eq!((r.verdict(), code), (Verdict::Pass, 0), "{:?}", r.harness_errors);
}

#[tokio::test]
async fn thresholds_are_vars_and_an_override_flips_the_verdict() {
    // work_ms is a measurement (250); the limit is data in `vars`, not code.
    let yaml = "vars: { limit_ms: 1000 }\nphases:\n  - name: p\n    steps:\n      - { id: w, t.echo: { ms: 250 } }\n    metrics:\n      work_ms: { value: w.json.ms, unit: ms }\n    checks:\n      - { id: T, expect: work_ms <= limit_ms }\n";
    let (r, code, _) = run_vars(yaml, &[]).await;
    assert_eq!((check(&r, "T"), code), (CheckStatus::Pass, 0), "{:?}", r.checks);
    assert_eq!(r.vars["limit_ms"], json!(1000));
    // The boundary sits exactly at the measured value: the comparison reads the var.
    let (r, code, _) = run_vars(yaml, &[("limit_ms", "250")]).await;
    assert_eq!((check(&r, "T"), code), (CheckStatus::Pass, 0), "{:?}", r.checks);
    let (r, code, _) = run_vars(yaml, &[("limit_ms", "249")]).await;
    assert_eq!(r.vars["limit_ms"], json!(249));
    assert_eq!((check(&r, "T"), r.verdict(), code), (CheckStatus::Fail, Verdict::Fail, 1), "{:?}", r.checks);
    let c = r.checks.iter().find(|c| c.decl.id == "T").unwrap();
    assert!(c.details.iter().any(|d| d.contains("249") && d.contains("250")), "{:?}", c.details);
}

#[tokio::test]
async fn a_save_name_may_read_the_step_own_result_and_a_failed_save_fails_the_step() {
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - id: e\n        t.echo: { name: node1 }\n        save: \"${e.json.name}-status.json\"\n",
    )
    .await;
    assert_eq!(code, 0, "{:?}", r.step("e"));
    assert!(r.evidence.iter().any(|p| p.ends_with("evidence/node1-status.json")), "{:?}", r.evidence);
    // A name that leaves the run directory only known at run time: the step fails, and
    // so does a background step's `stop`.
    let (r, code, _) = run_yaml(
        "vars: { up: \"..\" }\nphases:\n  - name: p\n    steps:\n      - id: e\n        t.echo: {}\n        save: \"${up}/x.json\"\n",
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        r.step("e").unwrap().error.as_deref().unwrap().contains("leaves the run directory"),
        "{:?}",
        r.step("e")
    );
    let (r, code, _) = run_yaml(
        "vars: { up: \"..\" }\nphases:\n  - name: p\n    steps:\n      - id: b\n        t.echo: {}\n        background: true\n        save: \"${up}/x.json\"\n      - stop: b\n",
    )
    .await;
    assert_eq!(code, 1, "{:?}", r.steps);
    assert_eq!(r.step("b").unwrap().ok, Some(false));
}

#[tokio::test]
async fn a_background_step_cut_off_at_its_stop_keeps_its_start_time() {
    // `h` never returns, so the stop gives up on it after the step timeout (300ms): its
    // result must still carry the wall-clock time it started, not the time it was given up.
    let (r, _, _) = run_yaml(
        "defaults: { step_timeout: 300ms }\nphases:\n  - name: p\n    steps:\n      - { id: h, t.hang: {}, background: true, allow_failure: true }\n      - sleep: { duration: 200ms }\n      - stop: h\n",
    )
    .await;
    let h = r.step("h").unwrap();
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    let started = at(h.result.value()["started_at"].as_str().unwrap());
    let announced = at(&h.started_at);
    let gap = (started - announced).num_milliseconds().abs();
    assert!(gap < 100, "result started_at {started} vs step start {announced} ({gap} ms)");
    assert!(h.result.value()["elapsed_ms"].as_u64().unwrap() >= 450, "{:?}", h.result);
}

#[tokio::test]
async fn until_sees_failed_attempts() {
    // `until: !pc.ok` waits for the action to fail (pa service going down): the first attempt
    // fails, so it holds at once; the step succeeded.
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - id: down\n        t.flaky: { ok_after: 9 }\n        until: \"!down.ok && down.error.contains('not yet')\"\n        interval: 10ms\n        timeout: 2s\n",
    )
    .await;
    assert_eq!(code, 0, "{:?}", r.step("down"));
    let pc = r.step("down").unwrap();
    assert_eq!((pc.ok, pc.attempts), (Some(true), 1));
    assert!(pc.first_match_ms.is_some());
    assert_eq!(pc.polls[0].error.as_deref(), Some("not yet (1)"));
}

#[tokio::test]
async fn wait_any_names_the_first_background_poll_to_match() {
    // Three concurrent polls, each with its own deadline: `pb` matches at its 3rd attempt,
    // `pc` at its 30th, `pa` never (its deadline is short). `wait: any` names `pb`, stops `pc`.
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: pa, t.flaky: { ok_after: 999 }, until: pa.ok, interval: 10ms, timeout: 100ms, background: true }\n      - { id: pb, t.flaky: { ok_after: 3 }, until: pb.ok, interval: 10ms, timeout: 5s, background: true }\n      - { id: pc, t.flaky: { ok_after: 30 }, until: pc.ok, interval: 50ms, timeout: 5s, background: true }\n      - { id: first, wait: { any: [pa, pb, pc] }, timeout: 5s }\n    metrics:\n      b_ms: { value: \"first.first_match_ms - first.last_miss_ms\", unit: ms }\n    checks:\n      - { id: W, expect: [\"first.winner == 'pb'\", \"first.matched == ['pb']\", \"first.first_match_ms == pb.first_match_ms\", \"pb.attempts == 3\", \"!pc.ok\"] }\n",
    )
    .await;
    assert_eq!(code, 0, "{:?} {:?}", r.checks, r.steps);
    let pc = r.step("pc").unwrap();
    assert!(pc.allowed_failure, "{pc:?}");
    assert!(
        pc.error.as_deref().unwrap().starts_with("`pb` matched first; stopped before `pc.ok` held"),
        "{pc:?}"
    );
    assert!(r.step("pa").unwrap().allowed_failure);
    assert!(pc.attempts < 30);
}

#[tokio::test]
async fn wait_all_needs_every_poll_and_fails_naming_the_one_that_did_not_match() {
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: qa, t.flaky: { ok_after: 2 }, until: qa.ok, interval: 10ms, timeout: 2s, background: true }\n      - { id: qb, t.flaky: { ok_after: 4 }, until: qb.ok, interval: 10ms, timeout: 2s, background: true }\n      - { id: both, wait: { all: [qa, qb] } }\n    checks:\n      - { id: W, expect: [\"both.winner == 'qa'\", \"both.matched == ['qa', 'qb']\", \"both.first_match_ms == qb.first_match_ms\"] }\n  - name: q\n    steps:\n      - { id: qx, t.flaky: { ok_after: 2 }, until: qx.ok, interval: 10ms, timeout: 2s, background: true }\n      - { id: qy, t.flaky: { ok_after: 999 }, until: qy.ok, interval: 10ms, timeout: 100ms, background: true }\n      - { id: xy, wait: { all: [qx, qy] } }\n",
    )
    .await;
    assert_eq!(check(&r, "W"), CheckStatus::Pass, "{:?}", r.checks);
    let xy = r.step("xy").unwrap();
    assert_eq!(xy.ok, Some(false));
    assert!(
        xy.error.as_deref().unwrap().contains("not every poll matched: `qy`: until `qy.ok` did not hold"),
        "{xy:?}"
    );
    assert!(!r.step("qy").unwrap().allowed_failure);
    assert_eq!(code, 1);
}

#[tokio::test]
async fn a_background_step_lives_across_phases_and_iterations_until_its_stop() {
    let (r, code, _) = run_yaml(
        "phases:\n  - name: start\n    steps:\n      - { id: load, t.bg: {}, background: true }\n  - name: cycles\n    repeat: 3\n    steps:\n      - t.echo: {}\n  - name: drain\n    steps:\n      - stop: load\n    checks:\n      - { id: C, expect: \"load.ok && load.ticks >= 0\" }\n",
    )
    .await;
    assert_eq!(code, 0, "{:?} {:?}", r.checks, r.steps);
    let load = r.step("load").unwrap();
    assert_eq!(load.phase, "start");
    // It ended at the stop in `drain`, after every iteration of `cycles`.
    let cycles_end = r.phases.iter().find(|p| p.name == "cycles").unwrap().finished_ms.unwrap();
    assert!(load.finished_ms.unwrap() >= cycles_end);
}

#[tokio::test]
async fn a_background_step_whose_stop_never_runs_ends_with_the_run() {
    // The stop is in a phase that is skipped (an earlier step failed): the step runs until
    // the end of the run and is recorded there, before the undo stack.
    let (r, code, _) = run_yaml(
        "phases:\n  - name: start\n    steps:\n      - { id: load, t.bg: {}, background: true }\n      - { id: boom, t.hang: {}, timeout: 10ms }\n  - name: drain\n    steps:\n      - stop: load\n",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(r.step("load").unwrap().ok, Some(true));
}

#[tokio::test]
async fn repeat_takes_a_var_and_a_bad_value_is_a_clear_run_time_error() {
    let yaml = "vars: { cycles: 2, n: \"${cycles + 1}\" }\nphases:\n  - name: cycles\n    repeat: \"${n}\"\n    steps:\n      - { id: e, t.echo: { i: \"${loop.index}\" } }\n    metrics:\n      v: { value: \"e.json.i\", unit: ms }\n    checks:\n      - { id: S, expect: \"v.count == cycles + 1\" }\n";
    let (r, code, _) = run_yaml(yaml).await;
    assert_eq!(code, 0, "{:?}", r.checks);
    let (r, code, _) = run_vars(yaml, &[("cycles", "4")]).await;
    assert_eq!(code, 0, "{:?}", r.checks);
    assert_eq!(r.metrics.iter().find(|m| m.name == "v").unwrap().series.as_ref().unwrap()["count"], json!(5));
    let (r, code, _) = run_vars(yaml, &[("cycles", "-3")]).await;
    assert_eq!(code, 1);
    let msg = &r.checks[0].message;
    assert!(
        msg.contains("phase `cycles` (t.yaml:3:5): repeat: `${n}` is -2, not a whole number (0 or more)"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_check_in_a_repeated_phase_must_hold_in_every_iteration() {
    // Negative control: the check fails only in iteration 1 of 3 (the last one passes).
    let (r, code, _) = run_yaml(
        "phases:\n  - name: cycles\n    repeat: 3\n    steps:\n      - { id: e, t.echo: { i: \"${loop.index}\" } }\n    metrics:\n      v: { value: \"e.json.i * 10\", unit: ms }\n    checks:\n      - { id: EVERY, expect: \"e.json.i != 1\" }\n      - { id: EACH_V, expect: \"v <= 10\" }\n      - { id: SERIES, expect: \"v.count == 3\" }\n",
    )
    .await;
    assert_eq!(code, 1, "{:?}", r.checks);
    let c = r.checks.iter().find(|c| c.decl.id == "EVERY").unwrap();
    assert_eq!(c.status, CheckStatus::Fail);
    assert_eq!(c.failed_iterations, vec![1]);
    assert!(c.message.starts_with("failed in iteration 1 (loop.index) of 3"), "{}", c.message);
    assert!(
        c.details
            .iter()
            .any(|d| d.starts_with("iteration 1: `e.json.i != 1` is false") && d.contains("e.json.i = 1")),
        "{:?}",
        c.details
    );
    // A metric is judged per iteration too: v = 20 in iteration 2 only.
    let v = r.checks.iter().find(|c| c.decl.id == "EACH_V").unwrap();
    assert_eq!((v.status, v.failed_iterations.clone()), (CheckStatus::Fail, vec![2]));
    assert_eq!(check(&r, "SERIES"), CheckStatus::Pass);
    // Each step record knows its iteration.
    let its: Vec<Option<u32>> = r.steps.iter().filter(|s| s.step == "e").map(|s| s.iteration).collect();
    assert_eq!(its, vec![Some(0), Some(1), Some(2)]);
    let summary = testrunner_reports::summary::render(&r);
    assert!(summary.contains("iteration 1: `e.json.i != 1` is false"), "{summary}");
}

#[tokio::test]
async fn a_run_failed_only_by_a_step_is_an_error_in_every_count() {
    // Negative control: every check passes, a step failed.
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: x, t.hang: {}, timeout: 10ms }\n    checks:\n      - { id: C, expect: \"true\" }\n",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(r.verdict(), Verdict::Fail);
    assert_eq!(check(&r, "C"), CheckStatus::Pass);
    assert_eq!(r.step_errors.len(), 1, "{:?}", r.step_errors);
    assert_eq!((r.step_errors[0].phase.as_str(), r.step_errors[0].step.as_str()), ("p", "x"));
    let junit = testrunner_reports::junit::render(&r);
    assert!(junit.contains("errors=\"1\""), "{junit}");
    assert!(junit.contains("name=\"p step x\""), "{junit}");
    assert!(junit.contains("deadline 10ms exceeded"), "{junit}");
    let summary = testrunner_reports::summary::render(&r);
    assert!(summary.contains("pass=1 fail=0 error=1 total=2"), "{summary}");
    let html = testrunner_reports::html::render(&r, "");
    assert!(html.contains("1 of 2 checks could not be evaluated"), "banner");
    // A step failure a check already reports as ERROR is not counted twice.
    let (r, _, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: x, t.hang: {}, timeout: 10ms }\n      - { id: y, t.echo: {} }\n    checks:\n      - { id: C, expect: \"y.ok\" }\n",
    )
    .await;
    assert_eq!(check(&r, "C"), CheckStatus::Error);
    assert!(r.step_errors.is_empty(), "{:?}", r.step_errors);
    assert_eq!(r.totals().error, 1);
}

#[tokio::test]
async fn an_uncomputable_metric_is_an_error_and_so_is_a_check_reading_it() {
    // Negative control: before, the metric vanished (a log line) and the run passed.
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: c, t.echo: { v: null } }\n    metrics:\n      bad_ms: { value: \"c.json.v - c.started_ms\", unit: ms }\n    checks:\n      - { id: C, expect: \"true\" }\n      - { id: D, expect: \"bad_ms < 100\", metric: bad_ms }\n",
    )
    .await;
    assert_eq!(code, 1);
    let m = r.metric("bad_ms").expect("the metric is reported");
    let err = m.error.as_deref().unwrap();
    assert!(err.starts_with("cannot subtract: `c.json.v` is null"), "{err}");
    assert_eq!(check(&r, "D"), CheckStatus::Error);
    let d = r.checks.iter().find(|c| c.decl.id == "D").unwrap();
    assert!(d.message.contains("reads metric `bad_ms`, which could not be computed"), "{}", d.message);
    let junit = testrunner_reports::junit::render(&r);
    assert!(junit.contains("name=\"metric bad_ms\""), "{junit}");
    let summary = testrunner_reports::summary::render(&r);
    assert!(summary.contains("bad_ms: ERROR: cannot subtract"), "{summary}");
    assert!(summary.contains("pass=1 fail=0 error=2 total=3"), "{summary}");
    // In a repeated phase, an iteration whose metric fails is not judged with the value of
    // the iteration before.
    let (r, code, _) = run_yaml(
        "phases:\n  - name: cycles\n    repeat: 2\n    steps:\n      - { id: e, t.echo: { v: \"${loop.index == 0 ? 5 : null}\" } }\n    metrics:\n      v: { value: \"e.json.v + 1\" }\n    checks:\n      - { id: C, expect: \"v > 0\" }\n",
    )
    .await;
    assert_eq!(code, 1);
    let c = r.checks.iter().find(|c| c.decl.id == "C").unwrap();
    assert_eq!((c.status, c.failed_iterations.clone()), (CheckStatus::Error, vec![1]), "{c:?}");
    assert!(r.metric("v").unwrap().error.as_deref().unwrap().starts_with("iteration 1: cannot add"));
}

#[tokio::test]
async fn a_timing_read_from_a_poll_carries_its_interval() {
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: start, t.echo: {} }\n      - id: cpoll\n        t.flaky: { ok_after: 3 }\n        until: cpoll.calls >= 3\n        interval: 20ms\n        timeout: 5s\n    metrics:\n      t_ms: { value: \"cpoll.first_match_ms - start.started_ms\", unit: ms }\n      w_ms: { value: \"cpoll.first_match_started_ms - start.started_ms\", unit: ms }\n    checks:\n      - { id: I, expect: [\"t_ms.hi == t_ms\", \"t_ms.lo == cpoll.last_miss_ms - start.started_ms\", \"t_ms.lo < t_ms\", \"w_ms <= t_ms\", \"cpoll.first_match_started_ms >= cpoll.last_miss_ms\"] }\n",
    )
    .await;
    assert_eq!(code, 0, "{:?}", r.checks);
    let c = r.step("cpoll").unwrap();
    let m = r.metric("t_ms").unwrap();
    let start = r.step("start").unwrap().started_ms as f64;
    assert_eq!(m.value.as_f64(), Some(c.first_match_ms.unwrap() as f64 - start));
    assert_eq!(
        m.interval,
        Some([c.last_miss_ms.unwrap() as f64 - start, c.first_match_ms.unwrap() as f64 - start])
    );
    let text = m.text();
    assert!(text.contains(", true value in ["), "{text}");
    let summary = testrunner_reports::summary::render(&r);
    assert!(summary.contains("true value in ["), "{summary}");
}

/// A `${…}` number in a text slot is its text; what cannot be converted fails the step
/// with the place of the template, not the action decoder's bare message.
#[tokio::test]
async fn template_values_take_the_type_of_their_slot() {
    let (r, _, events) = run_yaml(
        "vars: { port: 28917 }\nphases:\n  - name: p\n    steps:\n      - { id: conv, exec: { argv: [sh, -c, 'test \"$1\" = 28917', sh, \"${port}\"] } }\n      - { id: items, set: { hosts: [a, b] } }\n      - { id: bad, exec: { argv: [echo, \"${hosts}\"] } }\n    checks:\n      - { id: C, expect: conv.ok }\n",
    )
    .await;
    assert_eq!(check(&r, "C"), CheckStatus::Pass, "{events:?}");
    let bad = events
        .iter()
        .find_map(|e| match e {
            Event::StepFinished { step, error, .. } if step == "bad" => error.clone(),
            _ => None,
        })
        .expect("bad step finished");
    assert_eq!(
        bad,
        "invalid parameters: `exec` parameter `argv[1]` must be a string, not list (at t.yaml:7:44)"
    );
}

#[tokio::test]
async fn a_save_through_a_link_planted_by_a_step_fails_and_writes_nothing_outside() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("outside.json");
    std::fs::write(&target, "untouched").unwrap();
    let yaml = format!(
        "phases:\n  - name: p\n    steps:\n      - id: plant\n        exec:\n          argv: [sh, -c, 'mkdir -p \"$D/evidence\" && ln -s \"$O\" \"$D/evidence/x\"']\n          env: {{ D: \"${{run.dir}}\", O: \"{}\" }}\n      - id: e\n        t.echo: {{}}\n        save: x\n",
        target.display()
    );
    let (r, code, _) = run_yaml(&yaml).await;
    assert_eq!(code, 1, "{:?}", r.steps);
    assert!(r.step("plant").unwrap().ok == Some(true), "{:?}", r.step("plant"));
    let err = r.step("e").unwrap().error.clone().unwrap();
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
}

#[tokio::test]
async fn docker_names_are_checked_at_load_and_when_templated_at_run_time() {
    let yaml = "phases:\n  - name: p\n    steps:\n      - id: i\n        docker.inspect: { container: \"x/../../info#\" }\n";
    let read = move |_: &str| Ok(yaml.to_string());
    let Err(f) = load("t.yaml", &read, &RegistryCatalog, &Overrides::default()) else {
        panic!("refused at load")
    };
    let text = f.render(false);
    assert!(text.contains("is not a Docker container name"), "{text}");
    assert!(text.contains("t.yaml:5:"), "{text}");
    // A var known at load time is checked there too.
    let yaml = "vars: { c: \"x/../../info#\" }\nphases:\n  - name: p\n    steps:\n      - id: i\n        docker.inspect: { container: \"${c}\" }\n";
    let read = move |_: &str| Ok(yaml.to_string());
    let text = load("t.yaml", &read, &RegistryCatalog, &Overrides::default()).err().unwrap().render(false);
    assert!(text.contains("is not a Docker container name"), "{text}");
    // Known only at run time: refused before anything reaches the Engine API (no daemon).
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: e, t.echo: { c: \"x/../../info#\" } }\n      - id: i\n        docker.inspect: { container: \"${e.json.c}\" }\n",
    )
    .await;
    assert_eq!(code, 1, "{:?}", r.steps);
    let err = r.step("i").unwrap().error.clone().unwrap();
    assert!(err.contains("is not a Docker container name"), "{err}");
    // Kubernetes names likewise (never a flag or a path for kubectl).
    let yaml = "phases:\n  - name: p\n    steps:\n      - id: k\n        kube.get: { kind: pod, name: \"--raw=/x\", namespace: \"a/b\" }\n";
    let read = move |_: &str| Ok(yaml.to_string());
    let text = load("t.yaml", &read, &RegistryCatalog, &Overrides::default()).err().unwrap().render(false);
    assert!(text.contains("is not a Kubernetes object name"), "{text}");
    assert!(text.contains("is not a Kubernetes namespace"), "{text}");
}

#[tokio::test]
async fn a_background_action_that_ignores_its_stop_is_cut_off_within_a_second_and_ok() {
    // `t.hang` never looks at `ctx.stop`. Before: the stop waited out step_timeout (20s)
    // and failed the step while the phase was reported ok.
    let (r, code, _) = run_yaml(
        "defaults: { step_timeout: 20s }\nphases:\n  - name: p\n    steps:\n      - { id: h, t.hang: {}, background: true }\n      - stop: h\n  - name: q\n    steps:\n      - { id: g, t.hang: {}, background: true }\n",
    )
    .await;
    assert_eq!(code, 0, "{:?}", r.steps);
    for id in ["h", "g"] {
        let h = r.step(id).unwrap();
        assert_eq!(h.ok, Some(true), "{h:?}");
        let ran = h.finished_ms.unwrap() - h.started_ms;
        assert!(ran < 2_500, "{id} ran {ran} ms after being stopped");
    }
    assert!(r.phases.iter().all(|p| p.status == "ok"), "{:?}", r.phases);
}

#[tokio::test]
async fn a_check_decided_without_an_uncomputable_metric_fails_rather_than_errors() {
    // `c.json.v != null && …` is false before the metric is read (a withheld promotion:
    // `rto.ok && rto_ms <= deadline`): a real FAIL, with the missing metric said beside it.
    let (r, code, _) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: c, t.echo: { v: null } }\n    metrics:\n      bad_ms: { value: \"c.json.v - c.started_ms\", unit: ms }\n    checks:\n      - { id: F, expect: \"c.json.v != null && bad_ms < 100\", metric: bad_ms }\n      - { id: E, expect: \"c.json.v == null || bad_ms < 100\" }\n",
    )
    .await;
    assert_eq!(code, 1);
    let f = r.checks.iter().find(|c| c.decl.id == "F").unwrap();
    assert_eq!(f.status, CheckStatus::Fail, "{f:?}");
    assert!(
        f.details.iter().any(|d| d.contains("reads metric `bad_ms`, which could not be computed")),
        "{f:?}"
    );
    // Held only because the metric was never read: still not a pass.
    assert_eq!(check(&r, "E"), CheckStatus::Error);
}

/// Step and check events say where their step or check is written, so reports can point
/// at it; a passing step's event says it too.
#[tokio::test]
async fn step_and_check_events_carry_their_place_in_the_file() {
    let (_, _, events) = run_yaml(
        "phases:\n  - name: p\n    steps:\n      - { id: good, t.echo: {} }\n      - { id: fault, t.break: {} }\n    checks:\n      - { id: C, expect: good.ok }\n",
    )
    .await;
    let at = |want: &str| {
        events.iter().find_map(|e| match e {
            Event::StepFinished { step, at, .. } if step == want => Some(at.clone()),
            Event::Check { id, at, .. } if id == want => Some(at.clone()),
            _ => None,
        })
    };
    assert_eq!(at("good"), Some(Some("t.yaml:4:9".into())), "{events:?}");
    assert_eq!(at("fault"), Some(Some("t.yaml:5:9".into())), "{events:?}");
    assert_eq!(at("C"), Some(Some("t.yaml:7:15".into())), "{events:?}");
}
