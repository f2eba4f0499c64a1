//! Cross-references: every name an expression reads, every function it calls, every check
//! id a rule names, every `stop:` target must exist; a name must have its value where it is
//! read (no step read before it runs), and a step's field must be one its action outputs.
//! Typos become errors with a did-you-mean, never silence.
mod background;
mod timeline;
mod validator;

use background::background_lifetimes;
use timeline::Timeline;
use validator::{point_at, scope_names, Validator};

use crate::catalog::{Catalog, BUILTIN_NAMES};
use crate::diag::{did_you_mean, Diagnostic};
use crate::expr::lex::lex;
use crate::expr::Expr;
use crate::expr::FUNCTIONS;
use crate::kind::StepKind;
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
        if s.kind == StepKind::Set {
            if let Param::Map(entries) = &s.params {
                known.extend(entries.iter().map(|(k, _)| k.clone()));
            }
        }
    }
    known.extend(sc.phases.iter().flat_map(|p| p.metrics.iter().map(|m| m.name.clone())));
    known.extend(sc.final_metrics.iter().map(|m| m.name.clone()));

    for s in all_steps.iter().filter(|s| s.kind == StepKind::Set) {
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
