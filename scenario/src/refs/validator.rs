//! One expression checked where it is read: known names and functions, order, fields.
use super::*;

pub(super) struct Validator<'a> {
    pub(super) known: &'a BTreeSet<String>,
    pub(super) timeline: &'a Timeline,
    pub(super) catalog: &'a dyn Catalog,
    pub(super) steps: &'a [&'a Step],
    pub(super) metrics: &'a HashMap<String, bool>,
}

impl Validator<'_> {
    pub(super) fn expr(&self, e: &Expr, extra: &BTreeSet<String>, r: &Reader, out: &mut Vec<Diagnostic>) {
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

    pub(super) fn unknown(&self, e: &Expr, extra: &BTreeSet<String>, out: &mut Vec<Diagnostic>) {
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

    pub(super) fn functions(&self, e: &Expr, out: &mut Vec<Diagnostic>) {
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
    pub(super) fn order(&self, e: &Expr, root: &str, name: &str, r: &Reader, out: &mut Vec<Diagnostic>) {
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
    pub(super) fn bound(&self, e: &Expr, name: &str, field: &str, out: &mut Vec<Diagnostic>) {
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
    pub(super) fn field(&self, e: &Expr, root: &str, name: &str, field: &str, out: &mut Vec<Diagnostic>) {
        let Some(step) = self.steps.iter().find(|s| s.id == name) else { return };
        if RESULT_FIELDS.contains(&field) {
            return;
        }
        let declared: Vec<String> = match step.kind {
            StepKind::Set => match &step.params {
                Param::Map(entries) => entries.iter().map(|(k, _)| k.clone()).collect(),
                _ => return,
            },
            StepKind::Stop => vec![],
            StepKind::Wait => vec!["winner".into(), "matched".into()],
            StepKind::Action | StepKind::Assert | StepKind::Log => match self.catalog.outputs(&step.action) {
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
pub(super) fn scope_names(scope: Option<&FragmentScope>) -> BTreeSet<String> {
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
pub(super) fn point_at(e: &Expr, name: &str) -> crate::Span {
    let mut span = e.span.clone();
    if e.source.contains('\n') {
        return span;
    }
    let lexed = lex(&e.source);
    let word: Vec<char> = name.chars().collect();
    if let Some(i) = (0..lexed.chars.len()).find(|i| lexed.name_at(*i, &word)) {
        span.col += i as u32;
        span.len = word.len() as u32;
    }
    span
}

/// The span of `field` in the first `root.field` of the expression (outside string
/// literals), else of `root`.
pub(super) fn point_at_field(e: &Expr, root: &str, field: &str) -> crate::Span {
    if e.source.contains('\n') {
        return e.span.clone();
    }
    let lexed = lex(&e.source);
    let chars = &lexed.chars;
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let (r, f): (Vec<char>, Vec<char>) = (root.chars().collect(), field.chars().collect());
    for i in 0..chars.len() {
        if !(lexed.code[i]
            && chars[i..].starts_with(&r)
            && (i == 0 || !(is_word(chars[i - 1]) || chars[i - 1] == '.')))
        {
            continue;
        }
        let mut j = i + r.len();
        while chars.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        if chars.get(j) != Some(&'.') {
            continue;
        }
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
    point_at(e, root)
}
