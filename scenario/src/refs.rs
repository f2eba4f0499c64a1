//! Cross-references: every name an expression reads, every check id a rule names, every
//! `stop:` target must exist. Typos become errors with a did-you-mean, never silence.
use crate::diag::{did_you_mean, Diagnostic};
use crate::expr::Expr;
use crate::load::BUILTIN_NAMES;
use crate::model::{FragmentScope, Param, Scenario, Step};
use std::collections::BTreeSet;

/// `reserved` are step ids seen while loading, including those of steps that were invalid
/// (so one bad step does not cascade into unknown-name errors).
pub fn validate(sc: &Scenario, reserved: &[String], diags: &mut Vec<Diagnostic>) {
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
    let mut check = |e: &Expr, extra: &BTreeSet<String>| {
        for root in e.roots() {
            if known.contains(&root) || extra.contains(&root) {
                continue;
            }
            let candidates: Vec<&str> = known.iter().chain(extra.iter()).map(String::as_str).collect();
            diags.push(
                Diagnostic::error(format!("unknown name `{root}` in `{}`", e.source), point_at(e, &root))
                    .label("not a var, step id or metric")
                    .hint(did_you_mean(&root, candidates.iter().copied()).unwrap_or_else(|| {
                        "expressions can read vars, step ids (`<id>.ok`, `<id>.json`...), metrics, `loop` and `run`".into()
                    })),
            );
        }
    };

    let none = BTreeSet::new();
    let mut later: Vec<Diagnostic> = vec![];
    for v in &sc.vars {
        for e in v.value.exprs() {
            check(e, &none);
        }
    }
    for s in &all_steps {
        let extra = scope_names(s.scope.as_deref());
        for e in s.params.exprs() {
            check(e, &extra);
        }
        for e in s.until.iter().chain(&s.when).chain(&s.assertions) {
            check(e, &extra);
        }
        for e in s.save.iter().flat_map(|t| t.exprs()) {
            check(e, &extra);
        }
        if let Some(sc) = &s.scope {
            for (_, p) in &sc.params {
                for e in p.exprs() {
                    // Parameters are evaluated in the caller's scope.
                    check(e, &scope_names(sc.parent.as_deref()));
                }
            }
        }
        if s.action == "stop" {
            if let Param::Lit(serde_json::Value::String(target)) = &s.params {
                let diags = &mut later;
                let bg: Vec<&str> =
                    all_steps.iter().filter(|t| t.background).map(|t| t.id.as_str()).collect();
                if !bg.contains(&target.as_str()) {
                    diags.push(
                        Diagnostic::error(
                            format!("`stop: {target}` names no background step"),
                            s.action_span.clone(),
                        )
                        .hint(
                            did_you_mean(target, bg.iter().copied())
                                .unwrap_or_else(|| "`stop` ends a step that has `background: true`".into()),
                        ),
                    );
                }
            }
        }
    }
    for p in &sc.phases {
        for e in p
            .when
            .iter()
            .chain(p.metrics.iter().map(|m| &m.value))
            .chain(p.checks.iter().flat_map(|c| &c.expect))
        {
            check(e, &none);
        }
        if let Some(fe) = &p.for_each {
            for e in fe.exprs() {
                check(e, &none);
            }
        }
    }
    for e in sc.final_metrics.iter().map(|m| &m.value).chain(sc.final_checks.iter().flat_map(|c| &c.expect)) {
        check(e, &none);
    }
    for h in &sc.hard_fail {
        check(&h.expr, &none);
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
    for id in &sc.outcome.partial_if_passed {
        named(id, "`outcome.partial_if_passed`", &crate::Span::new(sc.file.clone(), 0, 0, 0));
    }
    for r in &sc.exit_codes {
        for id in &r.when_failed {
            named(id, "`exit_codes`", &r.span);
        }
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
