//! Cross-references: every name an expression reads, every function it calls, every check
//! id a rule names, every `stop:` target must exist; a name must have its value where it is
//! read (no step read before it runs), and a step's field must be one its action outputs.
//! Typos become errors with a did-you-mean, never silence.
use crate::diag::{did_you_mean, Diagnostic};
use crate::expr::Expr;
use crate::expr::FUNCTIONS;
use crate::load::{Catalog, BUILTIN_NAMES};
use crate::model::{FragmentScope, Param, Scenario, Step};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Fields the engine adds to every step result, whatever the action.
pub const RESULT_FIELDS: &[&str] = &[
    "ok",
    "error",
    "started_ms",
    "finished_ms",
    "elapsed_ms",
    "started_at",
    "attempts",
    "last_miss_ms",
    "first_match_ms",
    "first_match_started_ms",
    "skipped",
];

/// When a name gets its value, as an ordinal of the run's timeline: setup steps, then per
/// phase its `when`, its steps, its metrics and checks, then the final metrics and checks,
/// then teardown.
#[derive(Debug, Clone)]
struct Avail {
    at: usize,
    /// What it is, for messages: "step `x` in phase `p`", "metric `m` of phase `p`".
    what: String,
    span: crate::Span,
    background: bool,
}

/// Where an expression is evaluated: it can read names whose value exists before `limit`.
struct Reader<'s> {
    limit: usize,
    /// "the `when` of step `x`", "check `C-1`", for messages.
    place: String,
    /// The step whose parameters, `when` or `until` these are.
    step: Option<&'s str>,
    scope: Option<&'s FragmentScope>,
}

/// `reserved` are step ids seen while loading, including those of steps that were invalid
/// (so one bad step does not cascade into unknown-name errors).
pub fn validate(sc: &Scenario, reserved: &[String], catalog: &dyn Catalog, diags: &mut Vec<Diagnostic>) {
    let mut known: BTreeSet<String> = BUILTIN_NAMES.iter().map(|s| s.to_string()).collect();
    known.extend(reserved.iter().cloned());
    known.extend(sc.vars.iter().map(|v| v.name.clone()));
    let all_steps: Vec<&Step> =
        sc.setup.iter().chain(sc.phases.iter().flat_map(|p| &p.steps)).chain(&sc.teardown).collect();
    for s in &all_steps {
        known.insert(s.id.clone());
        if s.action == "set" {
            if let Param::Map(entries) = &s.params {
                known.extend(entries.iter().map(|(k, _)| k.clone()));
            }
        }
    }
    known.extend(sc.phases.iter().flat_map(|p| p.metrics.iter().map(|m| m.name.clone())));
    known.extend(sc.final_metrics.iter().map(|m| m.name.clone()));

    for s in all_steps.iter().filter(|s| s.action == "set") {
        if let Param::Map(entries) = &s.params {
            for (k, _) in entries {
                if let Some(other) = all_steps.iter().find(|o| o.id == *k) {
                    diags.push(
                        Diagnostic::error(
                            format!("`set` defines `{k}`, which is also a step id"),
                            s.span.clone(),
                        )
                        .note(format!("step `{k}` is at {}", other.span))
                        .hint("rename one of them: expressions read both by name"),
                    );
                }
            }
        }
    }
    for s in &all_steps {
        if let Some(v) = sc.vars.iter().find(|v| v.name == s.id) {
            diags.push(
                Diagnostic::error(format!("step id `{}` is also a var name", s.id), s.span.clone())
                    .note(format!("the var is declared at {}", v.span))
                    .hint("rename one of them: expressions read both by name"),
            );
        }
    }

    let timeline = Timeline::build(sc);
    // Metric → whether it carries an interval (it reads a polled step's transition).
    let metrics: HashMap<String, bool> = sc
        .phases
        .iter()
        .flat_map(|p| &p.metrics)
        .chain(&sc.final_metrics)
        .map(|m| {
            let polled = m.value.paths().into_iter().any(|(root, fields)| {
                matches!(fields.as_slice(), [f] if f == "first_match_ms" || f == "first_match_started_ms")
                    && all_steps.iter().any(|s| s.id == root && s.until.is_some())
            });
            (m.name.clone(), polled)
        })
        .collect();
    let v = Validator { known: &known, timeline: &timeline, catalog, steps: &all_steps, metrics: &metrics };
    let mut found: Vec<Diagnostic> = vec![];
    let mut later: Vec<Diagnostic> = vec![];

    // Vars are evaluated before anything runs, in declaration order.
    for (i, var) in sc.vars.iter().enumerate() {
        for e in var.value.exprs() {
            v.unknown(e, &BTreeSet::new(), &mut found);
            v.functions(e, &mut found);
            for root in e.roots() {
                if let Some(j) = sc.vars.iter().position(|w| w.name == root) {
                    if j >= i {
                        found.push(
                            Diagnostic::error(
                                format!("var `{}` reads `{root}`, which is declared after it", var.name),
                                point_at(e, &root),
                            )
                            .label("declared later")
                            .note(format!("`{root}` is declared at {}", sc.vars[j].span))
                            .hint("vars are evaluated in order: declare it first"),
                        );
                    }
                } else if let Some(a) = timeline.names.get(&root).filter(|a| a.at > 0) {
                    found.push(
                        Diagnostic::error(
                            format!("var `{}` reads `{root}`, which has no value before the run starts", var.name),
                            point_at(e, &root),
                        )
                        .label("not a var")
                        .note(format!("{} ({})", a.what, a.span))
                        .hint("vars are evaluated before any step runs: read results in steps, checks and metrics"),
                    );
                }
            }
        }
    }

    // Steps of one fragment expansion share a scope: collect its names once.
    let mut names_of: HashMap<*const FragmentScope, Arc<BTreeSet<String>>> = HashMap::new();
    let no_names = Arc::new(BTreeSet::new());
    for s in &all_steps {
        let at = timeline.step_at[&s.id];
        let extra = match &s.scope {
            Some(sc) => names_of
                .entry(Arc::as_ptr(sc))
                .or_insert_with(|| Arc::new(scope_names(Some(sc.as_ref()))))
                .clone(),
            None => no_names.clone(),
        };
        let place = format!("step `{}`", s.id);
        let (step, scope) = (Some(s.id.as_str()), s.scope.as_deref());
        let before = Reader { limit: at, place: place.clone(), step, scope };
        let after = Reader { limit: at + 1, place, step, scope };
        for e in s.params.exprs().into_iter().chain(&s.when).chain(&s.assertions) {
            v.expr(e, &extra, &before, &mut found);
        }
        // `until` and `save` see the step's own result.
        for e in s.until.iter().chain(s.save.iter().flat_map(|t| t.exprs())) {
            v.expr(e, &extra, &after, &mut found);
        }
        if let Some(fs) = &s.scope {
            for (_, p) in &fs.params {
                for e in p.exprs() {
                    // Parameters are evaluated in the caller's scope, before each of its steps.
                    let caller =
                        Reader { limit: at, place: before.place.clone(), step, scope: fs.parent.as_deref() };
                    v.expr(e, &scope_names(fs.parent.as_deref()), &caller, &mut found);
                }
            }
        }
    }
    background_lifetimes(sc, &mut later);
    let none = BTreeSet::new();
    for (pi, p) in sc.phases.iter().enumerate() {
        let pt = &timeline.phases[pi];
        let start = Reader { limit: pt.start, place: format!("phase `{}`", p.name), step: None, scope: None };
        for e in p.when.iter().chain(p.for_each.iter().flat_map(|f| f.exprs())) {
            v.expr(e, &none, &start, &mut found);
        }
        for (mi, m) in p.metrics.iter().enumerate() {
            let r = Reader {
                limit: pt.metrics + mi,
                place: format!("metric `{}`", m.name),
                step: None,
                scope: None,
            };
            v.expr(&m.value, &none, &r, &mut found);
        }
        for c in &p.checks {
            let r = Reader { limit: pt.checks, place: format!("check `{}`", c.id), step: None, scope: None };
            for e in &c.expect {
                v.expr(e, &none, &r, &mut found);
            }
        }
    }
    for (mi, m) in sc.final_metrics.iter().enumerate() {
        let r = Reader {
            limit: timeline.final_metrics + mi,
            place: format!("metric `{}`", m.name),
            step: None,
            scope: None,
        };
        v.expr(&m.value, &none, &r, &mut found);
    }
    for c in &sc.final_checks {
        let r = Reader {
            limit: timeline.final_checks,
            place: format!("check `{}`", c.id),
            step: None,
            scope: None,
        };
        for e in &c.expect {
            v.expr(e, &none, &r, &mut found);
        }
    }
    for h in &sc.hard_fail {
        let r = Reader {
            limit: timeline.final_checks,
            place: format!("hard_fail `{}`", h.id),
            step: None,
            scope: None,
        };
        v.expr(&h.expr, &none, &r, &mut found);
    }
    // A fragment's parameters are checked at each of its steps: report each problem once.
    for d in found {
        if !diags.contains(&d) {
            diags.push(d);
        }
    }

    diags.append(&mut later);
    // Check ids: unique, and every rule names real ones.
    let checks: Vec<&crate::model::Check> =
        sc.phases.iter().flat_map(|p| &p.checks).chain(&sc.final_checks).collect();
    let mut seen: Vec<&crate::model::Check> = vec![];
    for c in &checks {
        if let Some(first) = seen.iter().find(|f| f.id == c.id) {
            diags.push(
                Diagnostic::error(format!("duplicate check id `{}`", c.id), c.span.clone())
                    .note(format!("first defined at {}", first.span))
                    .hint("check ids name JUnit test cases and must be unique"),
            );
        }
        seen.push(c);
    }
    let ids: Vec<&str> =
        checks.iter().map(|c| c.id.as_str()).chain(sc.hard_fail.iter().map(|h| h.id.as_str())).collect();
    let mut named = |id: &str, what: &str, span: &crate::Span| {
        if !ids.contains(&id) {
            diags.push(
                Diagnostic::error(format!("{what} names check `{id}`, which does not exist"), span.clone())
                    .hint(
                        did_you_mean(id, ids.iter().copied())
                            .unwrap_or_else(|| format!("checks: {}", ids.join(", "))),
                    ),
            );
        }
    };
    for (i, id) in sc.outcome.partial_if_passed.iter().enumerate() {
        let at = sc.outcome.partial_spans.get(i).cloned();
        named(
            id,
            "`outcome.partial_if_passed`",
            &at.unwrap_or_else(|| crate::Span::new(sc.file.clone(), 0, 0, 0)),
        );
    }
    for r in &sc.exit_codes {
        for (i, id) in r.when_failed.iter().enumerate() {
            named(id, "`exit_codes`", r.when_failed_spans.get(i).unwrap_or(&r.span));
        }
    }
}

/// Every `stop:` / `wait:` names a background step (a `wait` one with `until`) that is
/// running where it stands: started before it, in the same block or an earlier one (a
/// background step lives until its `stop:` or `wait:`, across phases), not re-started by a
/// repeated phase while it runs, ended once, and not in `teardown` unless started there
/// (the others are ended before teardown runs).
fn background_lifetimes(sc: &Scenario, out: &mut Vec<Diagnostic>) {
    let mut blocks: Vec<(String, bool, &[Step])> = vec![("setup".into(), false, &sc.setup[..])];
    blocks.extend(sc.phases.iter().map(|p| (format!("phase `{}`", p.name), p.is_repeated(), &p.steps[..])));
    blocks.push(("teardown".into(), false, &sc.teardown[..]));
    let teardown = blocks.len() - 1;
    // id → (block, position, step)
    let mut at: HashMap<&str, (usize, usize, &Step)> = HashMap::new();
    for (b, (_, _, steps)) in blocks.iter().enumerate() {
        for (i, s) in steps.iter().enumerate() {
            at.insert(s.id.as_str(), (b, i, s));
        }
    }
    let bg: Vec<&str> = at.values().filter(|(_, _, s)| s.background).map(|(_, _, s)| s.id.as_str()).collect();
    let mut ended: HashMap<&str, &Step> = HashMap::new();
    for (eb, (ename, erep, steps)) in blocks.iter().enumerate() {
        for (ei, e) in steps.iter().enumerate() {
            let verb = if e.action == "wait" { "wait" } else { "stop" };
            for target in e.ends() {
                let here = e.action_span.clone();
                let Some(&(bb, bi, b)) = at.get(target).filter(|(_, _, t)| t.background) else {
                    out.push(
                        Diagnostic::error(format!("`{verb}: {target}` names no background step"), here).hint(
                            did_you_mean(target, bg.iter().copied()).unwrap_or_else(|| {
                                format!("`{verb}` ends a step that has `background: true`")
                            }),
                        ),
                    );
                    continue;
                };
                let (bname, brep, _) = &blocks[bb];
                let problem = if e.action == "wait" && b.until.is_none() {
                    Some((
                        format!("`wait` names `{target}`, which has no `until`"),
                        "`wait` waits for background polls (`background: true` with `until:`); end other background steps with `stop:`".to_string(),
                    ))
                } else if (bb, bi) >= (eb, ei) {
                    Some((
                        format!("`{verb}` names `{target}` before it starts"),
                        format!("move this step after `{target}`"),
                    ))
                } else if eb == teardown && bb != teardown {
                    Some((
                        format!("`{verb}: {target}` in teardown: `{target}` has already been stopped"),
                        "background steps still running are stopped at the end of the run, before the undo stack and teardown".into(),
                    ))
                } else if *brep && bb != eb {
                    Some((
                        format!("`{target}` is started again in every iteration of {bname}, but this step runs in {ename}"),
                        format!("end it in {bname}, or start it in a phase that is not repeated"),
                    ))
                } else if *erep && bb != eb {
                    Some((
                        format!("this step runs in every iteration of {ename}, but `{target}` is started once, in {bname}"),
                        format!("end `{target}` in a phase that is not repeated"),
                    ))
                } else {
                    ended.insert(target, e).map(|first| {
                        (
                            format!("`{target}` is already ended at {}", first.span),
                            "a background step is ended once: by one `stop:` or `wait:`".into(),
                        )
                    })
                };
                if let Some((title, hint)) = problem {
                    out.push(
                        Diagnostic::error(title, here)
                            .note(format!("`{target}` starts at {}", b.span))
                            .hint(hint),
                    );
                }
            }
        }
    }
}

/// The ordinals of everything that gets a value during a run.
struct Timeline {
    /// Step ids, `set` names and metrics → when their value exists (the first time).
    names: HashMap<String, Avail>,
    /// Step id → when the step starts.
    step_at: HashMap<String, usize>,
    phases: Vec<PhaseTimes>,
    final_metrics: usize,
    final_checks: usize,
    /// Background steps (id, end of their block, what, span) until their ender is known.
    pending_bg: Vec<(String, usize, String, crate::Span)>,
}

struct PhaseTimes {
    start: usize,
    metrics: usize,
    checks: usize,
}

impl Timeline {
    fn build(sc: &Scenario) -> Timeline {
        let mut t = Timeline {
            names: HashMap::new(),
            step_at: HashMap::new(),
            phases: vec![],
            final_metrics: 0,
            final_checks: 0,
            pending_bg: vec![],
        };
        // A var has its value from the start, also when a `set` step later changes it.
        for v in &sc.vars {
            t.define(&v.name, 0, format!("var `{}`", v.name), &v.span, false);
        }
        let mut now = 1;
        t.block(&sc.setup, "in `setup`", &mut now);
        for p in &sc.phases {
            let start = now;
            now += 1;
            t.block(&p.steps, &format!("in phase `{}`", p.name), &mut now);
            let metrics = now;
            for m in &p.metrics {
                t.define(
                    &m.name,
                    now,
                    format!("metric `{}` is computed at the end of phase `{}`", m.name, p.name),
                    &m.span,
                    false,
                );
                now += 1;
            }
            t.phases.push(PhaseTimes { start, metrics, checks: now });
            now += 1;
        }
        t.final_metrics = now;
        for m in &sc.final_metrics {
            t.define(
                &m.name,
                now,
                format!("metric `{}` is computed after the last phase", m.name),
                &m.span,
                false,
            );
            now += 1;
        }
        t.final_checks = now;
        now += 1;
        t.block(&sc.teardown, "in `teardown` (after every check)", &mut now);
        let all = sc.setup.iter().chain(sc.phases.iter().flat_map(|p| &p.steps)).chain(&sc.teardown);
        let enders: Vec<(usize, Vec<&str>)> = all.map(|s| (t.step_at[&s.id], s.ends())).collect();
        for (id, end, what, span) in std::mem::take(&mut t.pending_bg) {
            let start = t.step_at[&id];
            let at = enders
                .iter()
                .filter(|(at, ids)| *at > start && ids.contains(&id.as_str()))
                .map(|(at, _)| *at)
                .min()
                .unwrap_or(end);
            t.define(&id, at, what, &span, true);
        }
        t
    }

    fn block(&mut self, steps: &[Step], place: &str, now: &mut usize) {
        let end = *now + steps.len();
        for s in steps {
            self.step_at.insert(s.id.clone(), *now);
            let what = format!("step `{}` runs {place}", s.id);
            if s.background {
                // A background step's result exists once its `stop:` or `wait:` ends it
                // (placed by `Timeline::build`), else at the end of its block.
                let what = format!("{what} in the background; its result exists once it is stopped");
                self.pending_bg.push((s.id.clone(), end, what, s.span.clone()));
            } else {
                self.define(&s.id, *now, what.clone(), &s.span, false);
            }
            if s.action == "set" {
                if let Param::Map(entries) = &s.params {
                    for (k, _) in entries {
                        self.define(
                            k,
                            *now,
                            format!("`{k}` is set by step `{}`, which runs {place}", s.id),
                            &s.span,
                            false,
                        );
                    }
                }
            }
            *now += 1;
        }
    }

    fn define(&mut self, name: &str, at: usize, what: String, span: &crate::Span, background: bool) {
        let a = Avail { at, what, span: span.clone(), background };
        match self.names.get(name) {
            Some(prev) if prev.at <= at => {}
            _ => {
                self.names.insert(name.to_string(), a);
            }
        }
    }
}

struct Validator<'a> {
    known: &'a BTreeSet<String>,
    timeline: &'a Timeline,
    catalog: &'a dyn Catalog,
    steps: &'a [&'a Step],
    metrics: &'a HashMap<String, bool>,
}

impl Validator<'_> {
    fn expr(&self, e: &Expr, extra: &BTreeSet<String>, r: &Reader, out: &mut Vec<Diagnostic>) {
        self.unknown(e, extra, out);
        self.functions(e, out);
        for (root, fields) in e.paths() {
            // Inside a fragment a short step id names this expansion's step, and a
            // parameter shadows any global name.
            let mut name = root.clone();
            let mut cur = r.scope;
            let mut param = false;
            while let Some(s) = cur {
                if let Some((_, full)) = s.aliases.iter().find(|(short, _)| *short == root) {
                    name = full.clone();
                    break;
                }
                if s.params.iter().any(|(p, _)| *p == root) {
                    param = true;
                    break;
                }
                cur = s.parent.as_deref();
            }
            if param {
                continue;
            }
            self.order(e, &root, &name, r, out);
            if let Some(field) = fields.first() {
                self.field(e, &root, &name, field, out);
                self.bound(e, &name, field, out);
            }
        }
    }

    fn unknown(&self, e: &Expr, extra: &BTreeSet<String>, out: &mut Vec<Diagnostic>) {
        for root in e.roots() {
            if self.known.contains(&root) || extra.contains(&root) {
                continue;
            }
            let candidates: Vec<&str> = self.known.iter().chain(extra.iter()).map(String::as_str).collect();
            out.push(
                Diagnostic::error(format!("unknown name `{root}` in `{}`", e.source), point_at(e, &root))
                    .label("not a var, step id or metric")
                    .hint(did_you_mean(&root, candidates.iter().copied()).unwrap_or_else(|| {
                        "expressions can read vars, step ids (`<id>.ok`, `<id>.json`...), metrics, `loop` and `run`".into()
                    })),
            );
        }
    }

    fn functions(&self, e: &Expr, out: &mut Vec<Diagnostic>) {
        for f in e.unknown_functions() {
            let list = FUNCTIONS.join(", ");
            // Function names are short: only a close match is worth suggesting.
            let close = FUNCTIONS.iter().copied().filter(|k| strsim::jaro_winkler(&f, k) > 0.85);
            let hint = match did_you_mean(&f, close) {
                Some(d) => format!("{d} Known functions: {list}"),
                None => format!("known functions: {list}"),
            };
            out.push(
                Diagnostic::error(format!("unknown function `{f}` in `{}`", e.source), point_at(e, &f))
                    .label("no such function")
                    .hint(hint),
            );
        }
    }

    /// `name` (the step id `root` stands for) must have its value before `r` reads it.
    fn order(&self, e: &Expr, root: &str, name: &str, r: &Reader, out: &mut Vec<Diagnostic>) {
        let Some(a) = self.timeline.names.get(name) else { return };
        if a.at < r.limit {
            return;
        }
        let self_read = r.step == Some(name);
        if self_read && self.timeline.step_at.get(name).is_some_and(|at| r.limit > *at) {
            // `until` and `save` read the step's own result (also a background poll's).
            return;
        }
        let (label, hint) = if self_read && !a.background {
            (
                "the step has not run yet here",
                "a step's parameters and `when` are evaluated before it runs: use `until:` to test its own result".to_string(),
            )
        } else if a.background {
            (
                "no result yet here",
                format!("read it after `stop: {name}` (or in the phase's checks and metrics)"),
            )
        } else {
            ("no value yet here", "move the reading after it, or the step before the reading".to_string())
        };
        out.push(
            Diagnostic::error(format!("{} reads `{root}` before it has a value", r.place), point_at(e, root))
                .label(label)
                .note(format!("{} ({})", a.what, a.span))
                .hint(hint),
        );
    }

    /// `metric.lo` / `metric.hi` exist only for a metric that carries an interval.
    fn bound(&self, e: &Expr, name: &str, field: &str, out: &mut Vec<Diagnostic>) {
        if !matches!(field, "lo" | "hi") || self.steps.iter().any(|s| s.id == name) {
            return;
        }
        if let Some(false) = self.metrics.get(name) {
            out.push(
                Diagnostic::error(
                    format!("metric `{name}` has no uncertainty interval, so `{name}.{field}` has no value"),
                    point_at_field(e, name, field),
                )
                .label("no interval")
                .hint("`.lo` / `.hi` exist for a metric whose expression reads a polled step's `first_match_ms` (a step with `until:`)"),
            );
        }
    }

    /// `root.field`: the field must be one the step's action (or the engine) provides.
    fn field(&self, e: &Expr, root: &str, name: &str, field: &str, out: &mut Vec<Diagnostic>) {
        let Some(step) = self.steps.iter().find(|s| s.id == name) else { return };
        if RESULT_FIELDS.contains(&field) {
            return;
        }
        let declared: Vec<String> = match step.action.as_str() {
            "set" => match &step.params {
                Param::Map(entries) => entries.iter().map(|(k, _)| k.clone()).collect(),
                _ => return,
            },
            "stop" => vec![],
            "wait" => vec!["winner".into(), "matched".into()],
            action => match self.catalog.outputs(action) {
                Some(outs) => outs.into_iter().map(|o| o.name).collect(),
                None => return,
            },
        };
        if declared.iter().any(|d| d == field) {
            return;
        }
        let all: Vec<&str> =
            declared.iter().map(String::as_str).chain(RESULT_FIELDS.iter().copied()).collect();
        // `skipped` only appears on a step whose `when` was false: not worth listing.
        let engine = RESULT_FIELDS.iter().copied().filter(|f| *f != "skipped").collect::<Vec<_>>().join(", ");
        let hint = did_you_mean(field, all.iter().copied()).unwrap_or_else(|| {
            if declared.is_empty() {
                format!("`{}` has only the step fields: {engine}", step.action)
            } else {
                format!("`{}` outputs: {}; every step also has {engine}", step.action, declared.join(", "))
            }
        });
        out.push(
            Diagnostic::error(
                format!("step `{root}` (`{}`) has no output `{field}`", step.action),
                point_at_field(e, root, field),
            )
            .label("not an output of this step")
            .hint(hint),
        );
    }
}

/// Fragment parameters and local step aliases visible to a step (outermost first).
fn scope_names(scope: Option<&FragmentScope>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cur = scope;
    while let Some(s) = cur {
        out.extend(s.params.iter().map(|(n, _)| n.clone()));
        out.extend(s.aliases.iter().map(|(n, _)| n.clone()));
        cur = s.parent.as_deref();
    }
    out
}

/// The span of the first whole-word use of `name` inside the expression (outside string
/// literals), or the whole expression when it spans lines.
fn point_at(e: &Expr, name: &str) -> crate::Span {
    let mut span = e.span.clone();
    if e.source.contains('\n') {
        return span;
    }
    let chars: Vec<char> = e.source.chars().collect();
    let word: Vec<char> = name.chars().collect();
    let mut quote: Option<char> = None;
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    for i in 0..chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            continue;
        }
        if chars[i..].starts_with(&word)
            && (i == 0 || !(is_word(chars[i - 1]) || chars[i - 1] == '.'))
            && chars.get(i + word.len()).is_none_or(|n| !is_word(*n))
        {
            span.col += i as u32;
            span.len = word.len() as u32;
            return span;
        }
    }
    span
}

/// The span of `field` in the first `root.field` of the expression (outside string
/// literals), else of `root`.
fn point_at_field(e: &Expr, root: &str, field: &str) -> crate::Span {
    if e.source.contains('\n') {
        return e.span.clone();
    }
    let chars: Vec<char> = e.source.chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let (r, f): (Vec<char>, Vec<char>) = (root.chars().collect(), field.chars().collect());
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if chars[i..].starts_with(&r) && (i == 0 || !(is_word(chars[i - 1]) || chars[i - 1] == '.')) {
            let mut j = i + r.len();
            while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                j += 1;
            }
            if chars.get(j) == Some(&'.') {
                j += 1;
                while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                    j += 1;
                }
                if chars[j..].starts_with(&f) && chars.get(j + f.len()).is_none_or(|n| !is_word(*n)) {
                    let mut span = e.span.clone();
                    span.col += j as u32;
                    span.len = f.len() as u32;
                    return span;
                }
            }
        }
        i += 1;
    }
    point_at(e, root)
}
