//! `plan`: a read-only walk of a scenario — resolved steps, checks, worst-case duration,
//! fingerprint, and preconditions probed without changing anything. No action's `run` is
//! ever called here; only `probe`, which must be read-only.
use crate::cli::PlanArgs;
use crate::error::{CliError, CliResult};
use crate::load::load_scenario;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use testrunner_actions::{find, ActionCtx, Precondition};
use testrunner_engine::ExitCode;
use testrunner_scenario::{format_duration, Masker, Param, Scenario, Scope, Step, StepKind};

pub fn run(args: PlanArgs) -> CliResult {
    let sc = load_scenario(&args.scenario, &args.vars)?.scenario;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::msg(format!("cannot start the runtime: {e}"), None))?;
    let plan = rt.block_on(build(&sc));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan.to_json(&sc)).unwrap_or_default());
    } else {
        print!("{}", plan.render(&sc));
    }
    if plan.preconditions.iter().any(|(_, p)| p.blocker) {
        // The plan above names each blocker.
        Err(CliError::Reported)
    } else {
        Ok(ExitCode::Pass)
    }
}

pub struct Plan {
    steps: Vec<PlannedStep>,
    pub preconditions: Vec<(String, Precondition)>,
    /// How many steps were probed (a clean plan still says what it looked at).
    probed: usize,
    worst_case: Duration,
    masker: Masker,
}

struct PlannedStep {
    stage: String,
    id: String,
    action: String,
    params: Value,
    timeout: Option<Duration>,
    note: String,
}

pub async fn build(sc: &Scenario) -> Plan {
    let mut scope = Scope::new();
    scope.set("run", json!({"id": "<run-id>", "dir": "<run-dir>", "scenario": sc.id}));
    let mut secrets = vec![];
    for v in &sc.vars {
        let value = partial(&v.value, &scope);
        if sc.secrets.contains(&v.name) {
            secrets.push(value.as_str().map(String::from).unwrap_or_else(|| value.to_string()));
        }
        if let Some(s) = value.as_str() {
            secrets.extend(testrunner_scenario::embedded_credentials(s));
        }
        scope.set(v.name.clone(), value);
    }
    let masker = Masker::new(secrets);
    let probe_dir = std::env::temp_dir().join(format!("testrunner-plan-{}", std::process::id()));
    let mut steps = vec![];
    let mut preconditions = vec![];
    let mut probed = 0;
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mut worst = Duration::ZERO;
    let times = |p: &testrunner_scenario::Phase| match (&p.repeat, &p.for_each) {
        (Some(n), _) => partial(n, &scope).as_u64().map_or(1, |n| n as u32),
        (None, Some(items)) => partial(items, &scope).as_array().map_or(1, |a| a.len().max(1) as u32),
        (None, None) => 1,
    };
    let stages: Vec<(String, &[Step], u32)> = std::iter::once(("setup".to_string(), sc.setup.as_slice(), 1))
        .chain(sc.phases.iter().map(|p| (p.name.clone(), p.steps.as_slice(), times(p))))
        .collect();
    for (stage, list, times) in &stages {
        for s in list.iter() {
            let mut step_scope = scope.clone();
            if let Some(fs) = &s.scope {
                bind_partial(fs, &mut step_scope);
            }
            let params = partial(&s.params, &step_scope);
            // `set` changes nothing outside the run: its values (as far as they are known
            // before the run) are what later steps will see.
            if s.kind == StepKind::Set {
                if let Some(m) = params.as_object() {
                    for (k, v) in m {
                        scope.set(k.clone(), v.clone());
                    }
                }
            }
            let timeout =
                if s.background { None } else { Some(s.timeout.unwrap_or(sc.defaults.step_timeout)) };
            if let Some(t) = timeout {
                worst += t * *times;
            }
            let mut note = String::new();
            if let Some(u) = &s.until {
                note = format!("until {}", u.source);
            }
            if s.background {
                note = "background until stopped".into();
            }
            // A step acting on something an earlier step creates cannot be probed yet.
            let names = resource_names(&params);
            let acts_on_planned = names.iter().any(|n| created.contains(n));
            if s.action == "docker.run" || s.action == "process.spawn" {
                created.extend(names.iter().cloned());
            }
            // A parameter that reads an earlier step's result is only known during the run.
            let runtime_only = has_unresolved(&params);
            if runtime_only {
                note = if note.is_empty() {
                    "resolved at run time".into()
                } else {
                    format!("{note}; resolved at run time")
                };
            }
            if !acts_on_planned || s.action == "docker.run" {
                if let Some(action) = find(&s.action) {
                    probed += 1;
                    // Each probe gets its own 10 s, not what is left of one shared budget.
                    let ctx = ActionCtx::standalone(probe_dir.clone(), "plan", Duration::from_secs(10));
                    let probe =
                        tokio::time::timeout(Duration::from_secs(10), action.probe(params.clone(), &ctx))
                            .await;
                    match probe {
                        // What a probe says about a value still unknown (`${…}`) is noise.
                        Ok(found) => preconditions.extend(
                            found
                                .into_iter()
                                .filter(|p| !(runtime_only && p.message.contains("${")))
                                .map(|p| (s.id.clone(), p)),
                        ),
                        Err(_) => preconditions.push((
                            s.id.clone(),
                            Precondition::warning("precondition probe timed out after 10s"),
                        )),
                    }
                }
            }
            steps.push(PlannedStep {
                stage: stage.clone(),
                id: s.id.clone(),
                action: s.action.clone(),
                params,
                timeout,
                note,
            });
        }
    }
    // The run's own deadline bounds setup and phases; cleanup has its budget on top.
    let worst = worst.min(sc.timeout) + sc.defaults.teardown_timeout;
    for s in &sc.teardown {
        let params = partial(&s.params, &scope);
        steps.push(PlannedStep {
            stage: "teardown".into(),
            id: s.id.clone(),
            action: s.action.clone(),
            params,
            timeout: Some(s.timeout.unwrap_or(sc.defaults.step_timeout)),
            note: String::new(),
        });
    }
    Plan { steps, preconditions, probed, worst_case: worst, masker }
}

/// Evaluates what can be evaluated before the run; `${…}` that read step results stay as text.
fn partial(p: &Param, scope: &Scope) -> Value {
    match p {
        Param::Lit(v) => v.clone(),
        Param::Tmpl(t) => t.eval(scope).unwrap_or_else(|_| Value::String(t.source())),
        Param::Seq(items) => Value::Array(items.iter().map(|i| partial(i, scope)).collect()),
        Param::Map(entries) => {
            Value::Object(entries.iter().map(|(k, v)| (k.clone(), partial(v, scope))).collect())
        }
    }
}

/// [`FragmentScope::bind`], but a parameter that cannot be evaluated yet stays as its
/// `${…}` text instead of dropping every binding of the fragment.
fn bind_partial(fs: &testrunner_scenario::FragmentScope, scope: &mut Scope) {
    if let Some(p) = &fs.parent {
        bind_partial(p, scope);
    }
    let caller = scope.clone();
    for (name, param) in &fs.params {
        scope.set(name.clone(), partial(param, &caller));
    }
    for (short, full) in fs.aliases.iter() {
        if let Some(v) = scope.get(full).cloned() {
            scope.set(short.clone(), v);
        }
    }
}

fn has_unresolved(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("${"),
        Value::Array(a) => a.iter().any(has_unresolved),
        Value::Object(m) => m.values().any(has_unresolved),
        _ => false,
    }
}

fn resource_names(params: &Value) -> Vec<String> {
    ["container", "name"]
        .iter()
        .filter_map(|k| params.get(*k).and_then(Value::as_str).map(String::from))
        .collect()
}

impl Plan {
    /// `step: message` of every blocker, secrets masked.
    pub fn blockers(&self) -> Vec<String> {
        self.preconditions
            .iter()
            .filter(|(_, p)| p.blocker)
            .map(|(s, p)| format!("{s}: {}", self.masker.mask(&p.message)))
            .collect()
    }

    fn render(&self, sc: &Scenario) -> String {
        let mut out = format!("Plan: {} — {}\n", sc.id, sc.title);
        out.push_str(&format!("File:        {}\n", sc.file));
        out.push_str(&format!("Fingerprint: {}\n", &sc.resolved().fingerprint[..16]));
        out.push_str(&format!(
            "Worst case:  {} (steps' deadlines, capped by the run timeout {}, plus the teardown budget {})\n\n",
            format_duration(self.worst_case),
            format_duration(sc.timeout),
            format_duration(sc.defaults.teardown_timeout)
        ));
        out.push_str("Steps:\n");
        let mut stage = String::new();
        let idw = self.steps.iter().map(|s| s.id.len()).max().unwrap_or(4);
        let aw = self.steps.iter().map(|s| s.action.len()).max().unwrap_or(4);
        for s in &self.steps {
            if s.stage != stage {
                out.push_str(&format!("  [{}]\n", s.stage));
                stage = s.stage.clone();
            }
            let params = self.masker.mask(&s.params.to_string()).into_owned();
            let t = s.timeout.map(|t| format!("≤ {}", format_duration(t))).unwrap_or_else(|| "bg".into());
            let note = if s.note.is_empty() { String::new() } else { format!("  ({})", s.note) };
            out.push_str(&format!("    {:<idw$}  {:<aw$}  {:>8}  {params}{note}\n", s.id, s.action, t));
        }
        let checks: Vec<_> = sc.phases.iter().flat_map(|p| &p.checks).chain(&sc.final_checks).collect();
        out.push_str(&format!("\nChecks ({}):\n", checks.len()));
        for c in checks {
            let e: Vec<String> = c.expect.iter().map(|e| e.source.clone()).collect();
            let e = if e.len() == 1 { e } else { e.into_iter().map(|x| format!("({x})")).collect() };
            out.push_str(&format!("  {} {}: {}\n", c.id, c.name, e.join(" && ")));
        }
        let blockers = self.preconditions.iter().filter(|(_, p)| p.blocker).count();
        let warnings = self.preconditions.len() - blockers;
        out.push_str("\nPreconditions:\n");
        if self.preconditions.is_empty() {
            out.push_str(&format!("  none: {} steps probed, nothing blocks or warns\n", self.probed));
        }
        for (step, p) in &self.preconditions {
            let tag = if p.blocker { "BLOCKER" } else { "WARNING" };
            out.push_str(&format!("  {tag}  {step}: {}\n", self.masker.mask(&p.message)));
        }
        out.push_str(&format!(
            "\n{}: {blockers} blocker{}, {warnings} warning{}\n",
            if blockers == 0 { "Ready to run" } else { "Not ready" },
            if blockers == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        ));
        out
    }

    fn to_json(&self, sc: &Scenario) -> Value {
        let mut v = json!({
            "scenario": sc.id,
            "fingerprint": &sc.resolved().fingerprint[..16],
            "worst_case_ms": self.worst_case.as_millis() as u64,
            "steps": self.steps.iter().map(|s| json!({
                "stage": s.stage, "id": s.id, "action": s.action, "params": s.params,
                "timeout_ms": s.timeout.map(|t| t.as_millis() as u64), "note": s.note,
            })).collect::<Vec<_>>(),
            "blockers": self.preconditions.iter().filter(|(_, p)| p.blocker).map(|(s, p)| json!({"step": s, "message": p.message})).collect::<Vec<_>>(),
            "warnings": self.preconditions.iter().filter(|(_, p)| !p.blocker).map(|(s, p)| json!({"step": s, "message": p.message})).collect::<Vec<_>>(),
        });
        self.masker.mask_json(&mut v);
        v
    }
}
