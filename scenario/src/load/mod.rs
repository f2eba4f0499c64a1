//! Loads a scenario file: YAML → spanned tree → typed [`Scenario`], with includes,
//! fragments, variable overrides and full validation. Every problem becomes a
//! [`Diagnostic`]; nothing half-valid is returned.
mod files;
mod fragments;
mod phase;
mod rules;
mod step;
mod vars;

pub use crate::catalog::{Catalog, Output};
pub use files::read_source;
pub use phase::valid_scenario_id;
pub use step::is_ident;

use crate::diag::{did_you_mean, Diagnostic};
use crate::expr::{Expr, Template};
use crate::kind::StepKind;
use crate::model::*;
use crate::node::{parse_yaml, Node, SNode};
use crate::read::NodeReader;
use crate::schema::{compile_template, ParamCheck};
use crate::span::{Sources, Span, Spanned};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
#[allow(unused_imports)] // each file of the loader uses a part of these
use {files::*, fragments::*, phase::*, rules::*, step::*, vars::*};

pub use crate::refs::RESULT_FIELDS;

/// Reads an included file; the CLI passes `std::fs::read_to_string`.
pub type ReadFile<'a> = &'a dyn Fn(&str) -> Result<String, String>;
/// Reads a file's bytes (the loader decodes them, so a bad byte gets its line and column);
/// the CLI passes [`read_source`].
pub type ReadBytes<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, String>;

/// Largest file the loader reads (the scenario or one include).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest total of all files read for one scenario.
pub const MAX_TOTAL_BYTES: usize = 32 * 1024 * 1024;
/// Most steps and fragment uses one scenario may expand to (fragments using fragments
/// multiply; this stops an exponential expansion early).
pub const MAX_EXPANDED: usize = 50_000;
/// How deep includes may nest (each level is a recursion of the loader).
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// Options beyond the defaults of [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Directories includes may come from besides the scenario's own directory tree
    /// (`--include-root`).
    pub include_roots: Vec<String>,
}

/// Variable values from outside the file. Later sources win: vars file, env, `--var`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// (name, raw text, where it came from — e.g. "--var" or "TESTRUNNER_VAR_x").
    pub values: Vec<(String, String, String)>,
    /// Unknown names from the environment are only warned about (the environment is shared).
    pub lenient: Vec<String>,
}

/// A loaded, valid scenario with the problems that do not stop it (an unknown
/// `TESTRUNNER_VAR_` name, say), to be shown before it runs.
#[derive(Debug)]
pub struct Loaded {
    pub scenario: Scenario,
    pub warnings: Vec<Diagnostic>,
}

#[derive(Debug)]
pub struct LoadFailure {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: Sources,
}

impl LoadFailure {
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.render(&self.sources, color));
            out.push('\n');
        }
        let n = self.diagnostics.iter().filter(|d| d.severity == crate::Severity::Error).count();
        out.push_str(&format!("{n} error{} found; nothing was run\n", if n == 1 { "" } else { "s" }));
        out
    }
}

/// Keys a step may carry besides its one action.
pub const STEP_KEYS: &[&str] =
    &["id", "name", "timeout", "until", "interval", "retries", "save", "background", "when", "allow_failure"];
pub(crate) const TOP_KEYS: &[&str] = &[
    "scenario",
    "title",
    "description",
    "tags",
    "timeout",
    "defaults",
    "include",
    "vars",
    "secrets",
    "fragments",
    "setup",
    "phases",
    "teardown",
    "checks",
    "metrics",
    "outcome",
    "exit_codes",
    "hard_fail",
];
const INCLUDE_KEYS: &[&str] = &["description", "include", "vars", "secrets", "fragments"];

pub fn load(
    path: &str,
    read: ReadFile,
    catalog: &dyn Catalog,
    overrides: &Overrides,
) -> Result<Loaded, LoadFailure> {
    let bytes = |p: &str| read(p).map(String::into_bytes);
    load_with(path, &bytes, catalog, overrides, &LoadOptions::default())
}

/// [`load`] with a byte reader and options (the CLI's entry: bounded reads, include roots).
pub fn load_with(
    path: &str,
    read: ReadBytes,
    catalog: &dyn Catalog,
    overrides: &Overrides,
    opts: &LoadOptions,
) -> Result<Loaded, LoadFailure> {
    let main_dir = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut roots = vec![real_path(main_dir)];
    roots.extend(opts.include_roots.iter().map(|r| real_path(Path::new(r))));
    let mut l = Loader {
        read,
        roots,
        included: std::collections::HashSet::new(),
        total_bytes: 0,
        expanded: 0,
        catalog,
        sources: Sources::default(),
        diags: vec![],
        fragments: HashMap::new(),
        vars: vec![],
        secrets: vec![],
        step_ids: HashMap::new(),
        include_stack: vec![],
        // The engine's own step kinds are not in the registry, but are step keys all the same.
        action_names: catalog
            .names()
            .into_iter()
            .chain(StepKind::ENGINE_ONLY.iter().map(|s| s.to_string()))
            .collect(),
        used_fragments: vec![],
        metric_refs: vec![],
        schemas: HashMap::new(),
    };
    let scenario = l.load_main(path, overrides);
    match scenario {
        Some(scenario) if !l.diags.iter().any(|d| d.severity == crate::Severity::Error) => {
            Ok(Loaded { scenario, warnings: l.diags })
        }
        Some(sc) => Err(LoadFailure { diagnostics: l.diags, sources: sc.sources }),
        None => {
            // Every way to give up reports why; should one not, the run still stops here.
            if !l.diags.iter().any(|d| d.severity == crate::Severity::Error) {
                l.diags.push(
                    Diagnostic::error(format!("`{path}` could not be loaded"), Span::none())
                        .hint("this is a bug in testrunner: please report it with the file"),
                );
            }
            Err(LoadFailure { diagnostics: l.diags, sources: l.sources })
        }
    }
}

struct Fragment {
    span: Span,
    params: Vec<(String, Option<SNode>)>,
    steps: SNode,
}

struct Loader<'a> {
    read: ReadBytes<'a>,
    /// Directories (resolved) includes may come from.
    roots: Vec<std::path::PathBuf>,
    /// Files (resolved) already included: each is read and parsed once.
    included: std::collections::HashSet<std::path::PathBuf>,
    total_bytes: usize,
    /// Steps and fragment uses expanded so far (see [`MAX_EXPANDED`]).
    expanded: usize,
    catalog: &'a dyn Catalog,
    sources: Sources,
    diags: Vec<Diagnostic>,
    fragments: HashMap<String, Fragment>,
    /// (name, value, defined in the main file?)
    vars: Vec<(Spanned<String>, SNode, bool)>,
    secrets: Vec<String>,
    step_ids: HashMap<String, Span>,
    include_stack: Vec<String>,
    action_names: Vec<String>,
    /// Fragments some `use:` expanded; the others are validated on their own at the end.
    used_fragments: Vec<String>,
    /// (metric name, where a check's `metric:` names it), checked once all metrics are known.
    metric_refs: Vec<(String, Span)>,
    /// Parameter schemas by action name, asked of the catalog once each.
    schemas: HashMap<String, Arc<Value>>,
}

/// The keys of one YAML map, with unknown keys reported once.
struct Fields<'n> {
    node: &'n SNode,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n SNode> {
        self.node.value.get(key)
    }
}

struct StepCtx {
    phase: String,
    prefix: Option<String>,
    scope: Option<Arc<FragmentScope>>,
    fragment_stack: Vec<String>,
}

impl NodeReader for Loader<'_> {
    fn sources(&self) -> &Sources {
        &self.sources
    }
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

impl<'a> Loader<'a> {
    fn fields<'n>(&mut self, node: &'n SNode, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        self.map(node, what, allowed).map(|_| Fields { node })
    }

    fn load_main(&mut self, path: &str, overrides: &Overrides) -> Option<Scenario> {
        let root = self.parse_file(path, &Span::new(Arc::from(path), 0, 0, 0), false)?;
        if !self.not_empty(&root, path, "a scenario") {
            return None;
        }
        let top = self.fields(&root, "a scenario", TOP_KEYS)?;
        self.include_stack.push(path.to_string());
        self.included.insert(real_path(Path::new(path)));
        if let Some(inc) = top.get("include") {
            self.includes(path, inc);
        }
        if let Some(frags) = top.get("fragments") {
            self.fragments_of(frags);
        }
        if let Some(v) = top.get("vars") {
            self.vars_of(v, true);
        }
        if let Some(s) = top.get("secrets") {
            self.secrets_of(s);
        }
        self.apply_overrides(overrides);

        let id = match top.get("scenario") {
            Some(n) => {
                let id = self.id(n, "scenario id").unwrap_or_default();
                // An empty id was refused by `id` already.
                if !id.is_empty() && !valid_scenario_id(&id) {
                    self.err(
                        Diagnostic::error("the scenario id must be a plain name", n.span.clone())
                            .label("names the run directory runs/<id>/")
                            .hint("use letters, digits, `-`, `_` and `.` (starting with a letter or digit; no `/`, no `..`), e.g. `scenario: val17`"),
                    );
                }
                id
            }
            None => {
                let stem = Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
                // A file name is the user's own choice; only make it safe as a directory name.
                let id: String = stem
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '_' })
                    .collect();
                if valid_scenario_id(&id) {
                    id
                } else {
                    format!("s_{}", id.replace("..", "_"))
                }
            }
        };
        let title = top.get("title").and_then(|n| self.string(n, "title")).unwrap_or_else(|| id.clone());
        let description =
            top.get("description").and_then(|n| self.string(n, "description")).unwrap_or_default();
        let tags = top.get("tags").map(|n| self.string_list(n, "tags")).unwrap_or_default();
        let timeout =
            top.get("timeout").and_then(|n| self.duration(n)).unwrap_or(Duration::from_secs(30 * 60));
        let defaults = self.defaults(top.get("defaults"));

        let setup = top.get("setup").map(|n| self.steps(n, &self.ctx("setup"))).unwrap_or_default();
        let mut phases = vec![];
        if let Some(pn) = top.get("phases") {
            match &pn.value {
                Node::Seq(items) => {
                    for p in items {
                        if let Some(ph) = self.phase(p) {
                            phases.push(ph);
                        }
                    }
                }
                other => self.err(Diagnostic::error(
                    format!("`phases` must be a list, not {}", other.kind()),
                    pn.span.clone(),
                )),
            }
        }
        let mut seen_phase: HashMap<String, Span> = HashMap::new();
        for p in &phases {
            if let Some(first) = seen_phase.insert(p.name.clone(), p.span.clone()) {
                self.err(
                    Diagnostic::error(format!("duplicate phase name `{}`", p.name), p.span.clone())
                        .note(format!("first defined at {first}")),
                );
            }
        }
        let teardown = top.get("teardown").map(|n| self.steps(n, &self.ctx("teardown"))).unwrap_or_default();
        let final_checks = top.get("checks").map(|n| self.checks(n, "final")).unwrap_or_default();
        let final_metrics = top.get("metrics").map(|n| self.metrics(n)).unwrap_or_default();
        let outcome = self.outcome(top.get("outcome"));
        let exit_codes = top.get("exit_codes").map(|n| self.exit_codes(n)).unwrap_or_default();
        let hard_fail = top.get("hard_fail").map(|n| self.hard_fail(n)).unwrap_or_default();
        let metric_names: Vec<&str> =
            phases.iter().flat_map(|p| &p.metrics).chain(&final_metrics).map(|m| m.name.as_str()).collect();
        for (name, span) in std::mem::take(&mut self.metric_refs) {
            if !metric_names.contains(&name.as_str()) {
                let hint = did_you_mean(&name, metric_names.iter().copied()).unwrap_or_else(|| {
                    if metric_names.is_empty() {
                        "declare it under `metrics:` (of a phase or the scenario)".into()
                    } else {
                        format!("metrics: {}", metric_names.join(", "))
                    }
                });
                self.err(
                    Diagnostic::error(format!("`metric: {name}` names no metric"), span)
                        .label("not a metric")
                        .hint(hint),
                );
            }
        }
        self.unused_fragments();

        let vars: Vec<VarDef> = std::mem::take(&mut self.vars)
            .into_iter()
            .map(|(name, node, _)| {
                let overridden = !node.span.is_known() || node.span.file.as_ref() != path;
                let value = self.value_param(&node);
                VarDef { name: name.value, value, span: name.span, overridden }
            })
            .collect();
        let sc = Scenario {
            id,
            title,
            description,
            tags,
            file: Arc::from(path),
            timeout,
            defaults,
            vars,
            secrets: std::mem::take(&mut self.secrets),
            setup,
            phases,
            teardown,
            final_checks,
            final_metrics,
            outcome,
            exit_codes,
            hard_fail,
            sources: std::mem::take(&mut self.sources),
        };
        let reserved: Vec<String> = self.step_ids.keys().cloned().collect();
        // Past the expansion cap the steps are cut short: checking their references would
        // only add noise (and time).
        if self.expanded <= MAX_EXPANDED {
            crate::refs::validate(&sc, &reserved, self.catalog, &mut self.diags);
        }
        Some(sc)
    }

    fn ctx(&self, phase: &str) -> StepCtx {
        StepCtx { phase: phase.to_string(), prefix: None, scope: None, fragment_stack: vec![] }
    }
}
