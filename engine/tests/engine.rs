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
use testrunner_reports::{CheckStatus, Event, RunReport, Verdict};
use testrunner_scenario::{load, Masker, Overrides};

static COUNTER: AtomicU32 = AtomicU32::new(0);
static UNDONE: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn spec(name: &'static str) -> ActionSpec {
    ActionSpec {
        name,
        summary: "test",
        params: json!({"type": "object"}),
        outputs: &[],
        example: "",
        background: name == "t.bg",
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
    let sc =
        load("t.yaml", &read, &RegistryCatalog, overrides).unwrap_or_else(|f| panic!("{}", f.render(false)));
    let dir = tempfile::tempdir().unwrap();
    let masker = Arc::new(Masker::new(vec!["s3cr3t-value".to_string()]));
    let journal =
        Journal::create(&dir.path().join("journal.jsonl"), masker.clone(), Box::new(|_| {})).unwrap();
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
    // The journal on disk folds to the same report as the live one.
    let disk = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    let rebuilt = RunReport::from_events(&RunReport::parse_journal(&disk).unwrap());
    assert_eq!(rebuilt, out.report);
    (out.report, out.exit.code(), journal.events())
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
    assert_eq!(td.result["json"]["marker"], json!(marker), "{td:?}");
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
    assert_eq!((td2.ok, td2.result["json"]["marker"].clone()), (Some(true), json!("still-cleaned")));
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
    // Templated: refused before anything reaches the Engine API (no daemon needed).
    let (r, code, _) = run_yaml(
        "vars: { c: \"x/../../info#\" }\nphases:\n  - name: p\n    steps:\n      - id: i\n        docker.inspect: { container: \"${c}\" }\n",
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
