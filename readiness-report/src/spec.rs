//! The readiness spec file (e.g. `readiness/ha.yaml`): slices to collect, derived values,
//! report sections with `${…}` templates, cross-slice checks in CEL, readiness levels and
//! risks. Loaded from the spanned YAML tree so that every mistake — an unknown key, a bad
//! expression, a typo in a slice name — is reported at its `file:line:col`.
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use testrunner_scenario::read::{get, Entries, NodeReader};
use testrunner_scenario::{did_you_mean, parse_duration, Diagnostic, Expr, Node, SNode, Sources, Template};

/// Names every expression may read besides the slice variables.
pub const BUILTIN_NAMES: &[&str] = &["window", "failed", "derived"];

#[derive(Debug, Clone)]
pub struct Spec {
    pub file: String,
    /// `readiness:` — the report id (names the default output directory).
    pub id: String,
    pub title: String,
    /// The evidence window as written (`6h`) and parsed.
    pub window_text: String,
    pub window: Duration,
    pub topology: String,
    pub note: String,
    pub slices: Vec<SliceSpec>,
    /// Named expressions evaluated in order; each is readable as `derived.<name>`.
    pub derived: Vec<(String, Expr)>,
    pub sections: Vec<SectionSpec>,
    pub checks: Vec<CheckSpec>,
    pub levels: Vec<LevelSpec>,
    pub risks: Vec<String>,
    /// `notes:` — extra lines (templates) shown after the verdict, outside the report
    /// template proper (what the project adds to the seed's layout goes here).
    pub notes: Vec<Template>,
}

#[derive(Debug, Clone)]
pub struct SliceSpec {
    /// As shown in the coverage table (`VAL13`).
    pub id: String,
    /// The scenario id: runs are looked up under `<runs>/<scenario>/`.
    pub scenario: String,
    pub name: String,
    /// The expression variable (`val13`): the scenario id lowercased, other characters `_`.
    pub var: String,
}

#[derive(Debug, Clone)]
pub struct SectionSpec {
    pub title: String,
    pub lines: Vec<Template>,
}

#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub id: String,
    pub when: String,
    pub description: String,
    pub expect: Expr,
    /// The matrix line (defaults to the description).
    pub summary: Option<Template>,
    /// The indented line under it.
    pub detail: Option<Template>,
}

#[derive(Debug, Clone)]
pub struct LevelSpec {
    pub name: String,
    /// Readiness checks that must all pass.
    pub requires: Vec<String>,
    pub criteria: Vec<String>,
    /// Requirements this suite cannot meet; a level with any is not reached.
    pub unmet: Vec<String>,
    /// What reaching the level means (shown as `Meaning: …`).
    pub meaning: Option<String>,
}

/// The diagnostics of a spec that did not load, with the source for rendering them.
#[derive(Debug)]
pub struct SpecError {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: Sources,
}

impl SpecError {
    pub fn render(&self, color: bool) -> String {
        self.diagnostics.iter().map(|d| d.render(&self.sources, color)).collect()
    }
}

/// The expression variable for a scenario id.
pub fn var_name(scenario: &str) -> String {
    scenario.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

const TOP_KEYS: &[&str] = &[
    "readiness",
    "title",
    "window",
    "topology",
    "note",
    "slices",
    "derived",
    "sections",
    "checks",
    "levels",
    "risks",
    "notes",
];

/// Parses and validates a spec. `file` names it in diagnostics.
pub fn load_spec(file: &str, text: &str) -> Result<Spec, SpecError> {
    let path: Arc<str> = Arc::from(file);
    let mut sources = Sources::default();
    sources.add(path.clone(), Arc::from(text));
    let root = match testrunner_scenario::parse_yaml(&path, text) {
        Ok(n) => n,
        Err(e) => {
            let d = Diagnostic::error(format!("invalid YAML: {}", e.message), e.span)
                .hint("check indentation, quotes and brackets near here");
            return Err(SpecError { diagnostics: vec![d], sources });
        }
    };
    let mut l = Loader { sources, diags: vec![] };
    let spec = l.spec(file, &root);
    match spec {
        Some(s) if l.diags.is_empty() => Ok(s),
        _ => {
            if l.diags.is_empty() {
                l.diags.push(Diagnostic::error("invalid readiness spec", root.span.clone()));
            }
            Err(SpecError { diagnostics: l.diags, sources: l.sources })
        }
    }
}

struct Loader {
    sources: Sources,
    diags: Vec<Diagnostic>,
}

impl NodeReader for Loader {
    fn sources(&self) -> &Sources {
        &self.sources
    }
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

impl Loader {
    fn spec(&mut self, file: &str, root: &SNode) -> Option<Spec> {
        let entries = self.map(root, "the readiness spec", TOP_KEYS)?;
        let id = self.req_string(root, entries, "readiness");
        let title = self.req_string(root, entries, "title");
        let window_text = self.req_string(root, entries, "window");
        let window = window_text.as_ref().and_then(|w| match parse_duration(w) {
            Ok(d) => Some(d),
            Err(e) => {
                let span = get(entries, "window").map(|n| n.span.clone()).unwrap_or_default();
                self.err(Diagnostic::error(format!("invalid window `{w}`: {e}"), span).hint("e.g. `6h`"));
                None
            }
        });
        let topology = self.opt_string(entries, "topology");
        let note = self.opt_string(entries, "note");
        let slices = self.slices(root, entries);
        let mut names: BTreeSet<String> = slices.iter().map(|s| s.var.clone()).collect();
        names.extend(BUILTIN_NAMES.iter().map(|s| s.to_string()));
        let derived = self.derived(entries, &names);
        let sections = self.sections(entries, &names);
        let checks = self.checks(root, entries, &names);
        let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
        let levels = self.levels(root, entries, &ids);
        let risks = get(entries, "risks").map(|n| self.string_list(n, "a risk")).unwrap_or_default();
        let notes = match get(entries, "notes") {
            Some(n) => match self.list(n, "notes") {
                Some(ls) => ls.iter().filter_map(|l| self.template(l, &names)).collect(),
                None => vec![],
            },
            None => vec![],
        };
        Some(Spec {
            file: file.to_string(),
            id: id?,
            title: title?,
            window_text: window_text?,
            window: window?,
            topology,
            note,
            slices,
            derived,
            sections,
            checks,
            levels,
            risks,
            notes,
        })
    }

    fn slices(&mut self, root: &SNode, entries: &Entries) -> Vec<SliceSpec> {
        let Some(list) = self.req_list(root, entries, "slices") else { return vec![] };
        let mut out: Vec<SliceSpec> = vec![];
        for item in list {
            let Some(e) = self.map(item, "a slice", &["id", "scenario", "name"]) else { continue };
            let (Some(id), Some(scenario), Some(name)) = (
                self.req_string(item, e, "id"),
                self.req_string(item, e, "scenario"),
                self.req_string(item, e, "name"),
            ) else {
                continue;
            };
            let var = var_name(&scenario);
            let span = get(e, "scenario").map(|n| n.span.clone()).unwrap_or_default();
            if var.is_empty() || var.starts_with(|c: char| c.is_ascii_digit()) {
                self.err(
                    Diagnostic::error(
                        format!("scenario `{scenario}` cannot name an expression variable"),
                        span,
                    )
                    .hint("start the scenario id with a letter"),
                );
            } else if BUILTIN_NAMES.contains(&var.as_str()) || out.iter().any(|s| s.var == var) {
                self.err(Diagnostic::error(format!("slice variable `{var}` is defined twice"), span));
            } else {
                out.push(SliceSpec { id, scenario, name, var });
            }
        }
        if out.is_empty() && self.diags.is_empty() {
            self.err(Diagnostic::error("`slices` must list at least one slice", root.span.clone()));
        }
        out
    }

    fn derived(&mut self, entries: &Entries, names: &BTreeSet<String>) -> Vec<(String, Expr)> {
        let Some(node) = get(entries, "derived") else { return vec![] };
        let Node::Map(items) = &node.value else {
            self.err(Diagnostic::error(
                format!("`derived` must be a map of name: expression, not {}", node.value.kind()),
                node.span.clone(),
            ));
            return vec![];
        };
        let mut out = vec![];
        for (k, v) in items {
            if let Some(e) = self.checked_expr(v, names) {
                out.push((k.value.clone(), e));
            }
        }
        out
    }

    fn sections(&mut self, entries: &Entries, names: &BTreeSet<String>) -> Vec<SectionSpec> {
        let Some(node) = get(entries, "sections") else { return vec![] };
        let Some(list) = self.list(node, "sections") else { return vec![] };
        let mut out = vec![];
        for item in list {
            let Some(e) = self.map(item, "a section", &["title", "lines"]) else { continue };
            let Some(title) = self.req_string(item, e, "title") else { continue };
            let lines = match get(e, "lines") {
                Some(n) => match self.list(n, "lines") {
                    Some(ls) => ls.iter().filter_map(|l| self.template(l, names)).collect(),
                    None => vec![],
                },
                None => vec![],
            };
            out.push(SectionSpec { title, lines });
        }
        out
    }

    fn checks(&mut self, root: &SNode, entries: &Entries, names: &BTreeSet<String>) -> Vec<CheckSpec> {
        let Some(list) = self.req_list(root, entries, "checks") else { return vec![] };
        let keys = ["id", "when", "description", "expect", "summary", "detail"];
        let mut out: Vec<CheckSpec> = vec![];
        for item in list {
            let Some(e) = self.map(item, "a check", &keys) else { continue };
            let id = self.req_string(item, e, "id");
            let description = self.req_string(item, e, "description");
            let when = self.opt_string(e, "when");
            let expect = match get(e, "expect") {
                Some(n) => self.checked_expr(n, names),
                None => {
                    self.err(Diagnostic::error("a check needs `expect:`", item.span.clone()));
                    None
                }
            };
            let summary = get(e, "summary").and_then(|n| self.template(n, names));
            let detail = get(e, "detail").and_then(|n| self.template(n, names));
            let (Some(id), Some(description), Some(expect)) = (id, description, expect) else { continue };
            if out.iter().any(|c| c.id == id) {
                let span = get(e, "id").map(|n| n.span.clone()).unwrap_or_default();
                self.err(Diagnostic::error(format!("check `{id}` is defined twice"), span));
                continue;
            }
            out.push(CheckSpec { id, when, description, expect, summary, detail });
        }
        out
    }

    fn levels(&mut self, root: &SNode, entries: &Entries, ids: &[&str]) -> Vec<LevelSpec> {
        let Some(list) = self.req_list(root, entries, "levels") else { return vec![] };
        let mut out = vec![];
        for item in list {
            let Some(e) = self.map(item, "a level", &["name", "requires", "criteria", "unmet", "meaning"])
            else {
                continue;
            };
            let Some(name) = self.req_string(item, e, "name") else { continue };
            let mut requires = vec![];
            if let Some(Node::Seq(rs)) = get(e, "requires").map(|n| &n.value) {
                for r in rs {
                    let Some(id) = self.string(r, "a required check id") else { continue };
                    if !ids.contains(&id.as_str()) {
                        self.err(
                            Diagnostic::error(
                                format!("level `{name}` requires unknown check `{id}`"),
                                r.span.clone(),
                            )
                            .hint_opt(did_you_mean(&id, ids.iter().copied())),
                        );
                    }
                    requires.push(id);
                }
            } else if let Some(n) = get(e, "requires") {
                self.err(Diagnostic::error("`requires` must be a list of check ids", n.span.clone()));
            }
            let criteria = get(e, "criteria").map(|n| self.string_list(n, "a criterion")).unwrap_or_default();
            let unmet =
                get(e, "unmet").map(|n| self.string_list(n, "an unmet requirement")).unwrap_or_default();
            let meaning = get(e, "meaning").and_then(|n| self.string(n, "`meaning`"));
            out.push(LevelSpec { name, requires, criteria, unmet, meaning });
        }
        if out.is_empty() && self.diags.is_empty() {
            self.err(Diagnostic::error("`levels` must list at least one level", root.span.clone()));
        }
        out
    }

    // ---- node helpers ----

    fn req_list<'n>(&mut self, parent: &SNode, entries: &'n Entries, key: &str) -> Option<&'n [SNode]> {
        match get(entries, key) {
            Some(n) => self.list(n, key),
            None => {
                self.err(Diagnostic::error(format!("missing `{key}:`"), parent.span.clone()));
                None
            }
        }
    }

    fn req_string(&mut self, parent: &SNode, entries: &Entries, key: &str) -> Option<String> {
        match get(entries, key) {
            Some(n) => self.string(n, &format!("`{key}`")),
            None => {
                self.err(Diagnostic::error(format!("missing `{key}:`"), parent.span.clone()));
                None
            }
        }
    }

    fn opt_string(&mut self, entries: &Entries, key: &str) -> String {
        get(entries, key).and_then(|n| self.string(n, &format!("`{key}`"))).unwrap_or_default()
    }

    /// An expression that may read only slice variables and built-in names.
    fn checked_expr(&mut self, node: &SNode, names: &BTreeSet<String>) -> Option<Expr> {
        let e = NodeReader::expr(self, node)?;
        self.check_roots(&e, names, &e.span.clone());
        Some(e)
    }

    fn template(&mut self, node: &SNode, names: &BTreeSet<String>) -> Option<Template> {
        let text = self.string(node, "a template line")?;
        let span = self.text_span(node);
        match Template::parse(&text, &span) {
            Ok(t) => {
                for e in t.exprs() {
                    self.check_roots(e, names, &e.span.clone());
                }
                Some(t)
            }
            Err((msg, offset)) => {
                let mut at = span;
                if !text.contains('\n') {
                    at.col += offset as u32;
                    at.len = 1;
                }
                self.err(Diagnostic::error(format!("invalid `${{…}}` expression: {msg}"), at).label("here"));
                None
            }
        }
    }

    /// Every name an expression reads must be a slice variable or a built-in name.
    fn check_roots(&mut self, e: &Expr, names: &BTreeSet<String>, span: &testrunner_scenario::Span) {
        let bound = macro_vars(&e.source);
        for root in e.roots() {
            if !names.contains(&root) && !bound.contains(&root) {
                self.err(
                    Diagnostic::error(format!("unknown name `{root}` in `{}`", e.source), span.clone())
                        .hint_opt(did_you_mean(&root, names.iter().map(|s| s.as_str())))
                        .note(format!("names: {}", names.iter().cloned().collect::<Vec<_>>().join(", "))),
                );
            }
        }
    }
}

/// Variables bound by CEL macros (`xs.map(x, …)`, `.all`, `.exists`, `.exists_one`, `.filter`):
/// they are roots of the expression but not names the scope must provide.
fn macro_vars(src: &str) -> Vec<String> {
    let mut out = vec![];
    for m in [".map(", ".all(", ".exists(", ".exists_one(", ".filter("] {
        for (at, _) in src.match_indices(m) {
            let rest = src[at + m.len()..].trim_start();
            let ident: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !ident.is_empty() && rest[ident.len()..].trim_start().starts_with(',') {
                out.push(ident);
            }
        }
    }
    out
}
