//! Loads a scenario file: YAML → spanned tree → typed [`Scenario`], with includes,
//! fragments, variable overrides and full validation. Every problem becomes a
//! [`Diagnostic`]; nothing half-valid is returned.
use crate::diag::{did_you_mean, Diagnostic};
use crate::expr::Expr;
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

/// What the loader needs to know about actions: their parameter schemas and outputs.
pub trait Catalog {
    fn schema(&self, action: &str) -> Option<Value>;
    fn names(&self) -> Vec<String>;
    /// The output fields the action declares, when they are all known: a reference to any
    /// other field (besides the engine's, see [`RESULT_FIELDS`]) is an error. None when the
    /// action's outputs are open or unknown; nothing is checked then.
    fn outputs(&self, _action: &str) -> Option<Vec<Output>> {
        None
    }
}

/// One declared output field of an action. Any path beneath it is accepted (a `json`
/// output is whatever the server sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
}

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

/// Reads a scenario file from disk, bounded: only a regular file (not a device, pipe or
/// directory) of at most [`MAX_FILE_BYTES`]. Reads no more than the size the file reports,
/// so pseudo files (`/proc/kmsg`, size 0) never block.
pub fn read_source(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let plain = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(plain)?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    // O_NONBLOCK: should the path be swapped for a pipe after the check, opening it does not hang.
    const O_NONBLOCK: i32 = 0o4000;
    let mut f = std::fs::OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(path).map_err(plain)?;
    let meta = f.metadata().map_err(plain)?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("the file is too large ({} bytes; at most {MAX_FILE_BYTES})", meta.len()));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    f.by_ref().take(meta.len()).read_to_end(&mut buf).map_err(plain)?;
    Ok(buf)
}

fn not_regular(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_fifo() {
        "a pipe"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    format!("it is {what}; only regular files are read")
}

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
/// Names every expression may read besides vars, step ids and metrics.
pub const BUILTIN_NAMES: &[&str] = &["loop", "run"];

pub fn load(
    path: &str,
    read: ReadFile,
    catalog: &dyn Catalog,
    overrides: &Overrides,
) -> Result<Scenario, LoadFailure> {
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
) -> Result<Scenario, LoadFailure> {
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
        action_names: catalog.names(),
        used_fragments: vec![],
        metric_refs: vec![],
    };
    let scenario = l.load_main(path, overrides);
    if l.diags.iter().any(|d| d.severity == crate::Severity::Error) {
        return Err(LoadFailure { diagnostics: l.diags, sources: l.sources });
    }
    let mut sc = scenario.expect("no errors means a scenario");
    sc.warnings = l.diags;
    Ok(sc)
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

    fn parse_file(&mut self, path: &str, at: &Span) -> Option<SNode> {
        let bytes = match (self.read)(path) {
            Ok(t) => t,
            Err(e) => {
                self.err(
                    Diagnostic::error(format!("cannot read `{path}`: {e}"), at.clone())
                        .hint("check the path"),
                );
                return None;
            }
        };
        let file: Arc<str> = Arc::from(path);
        self.total_bytes += bytes.len();
        if bytes.len() as u64 > MAX_FILE_BYTES || self.total_bytes > MAX_TOTAL_BYTES {
            self.err(
                Diagnostic::error(format!("`{path}` is too large to load"), at.clone()).hint(format!(
                    "a file may hold at most {MAX_FILE_BYTES} bytes, and a scenario with its includes {MAX_TOTAL_BYTES}"
                )),
            );
            return None;
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                // Point at the bad byte: its line, and its column in characters.
                let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let good = std::str::from_utf8(good).unwrap_or_default();
                let line = good.matches('\n').count() as u32 + 1;
                let col = good.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
                self.err(
                    Diagnostic::error(
                        format!("`{path}` is not valid UTF-8 text"),
                        Span::new(file, line, col, 1),
                    )
                    .hint("save the file as UTF-8; a scenario is YAML text"),
                );
                return None;
            }
        };
        self.sources.add(file.clone(), Arc::from(text.as_str()));
        match parse_yaml(&file, &text) {
            Ok(n) => Some(n),
            Err(e) => {
                let (message, hint) = yaml_message(&e.message);
                self.err(
                    Diagnostic::error(format!("invalid YAML: {message}"), e.span).label("here").hint(hint),
                );
                None
            }
        }
    }

    /// An empty file (or one holding only comments) is not a map: say so with an example.
    fn not_empty(&mut self, root: &SNode, path: &str, what: &str) -> bool {
        if !matches!(root.value, Node::Null) {
            return true;
        }
        let example = if what == "a scenario" {
            "a scenario needs at least `phases:`, e.g. `phases: [{ name: main, steps: [{ log: { message: hello } }] }]`"
        } else {
            "an included file holds `vars:`, `fragments:`, `secrets:` or `include:`"
        };
        self.err(
            Diagnostic::error(
                format!("`{path}` is empty: expected {what}"),
                Span::new(Arc::from(path), 1, 1, 1),
            )
            .label(format!("{what} (a map of keys) goes here"))
            .hint(example),
        );
        false
    }

    fn load_main(&mut self, path: &str, overrides: &Overrides) -> Option<Scenario> {
        let root = self.parse_file(path, &Span::new(Arc::from(path), 0, 0, 0))?;
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
        let mut sc = Scenario {
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
            resolved_yaml: String::new(),
            fingerprint: String::new(),
            sources: Sources::default(),
            warnings: vec![],
        };
        let reserved: Vec<String> = self.step_ids.keys().cloned().collect();
        // Past the expansion cap the steps are cut short: checking their references would
        // only add noise (and time).
        if self.expanded <= MAX_EXPANDED {
            crate::refs::validate(&sc, &reserved, self.catalog, &mut self.diags);
        }
        crate::resolved::fill(&mut sc);
        sc.sources = self.sources.clone();
        Some(sc)
    }

    fn ctx(&self, phase: &str) -> StepCtx {
        StepCtx { phase: phase.to_string(), prefix: None, scope: None, fragment_stack: vec![] }
    }

    fn includes(&mut self, from: &str, node: &SNode) {
        let items: Vec<SNode> = match &node.value {
            Node::Seq(items) => items.clone(),
            Node::Str(_) => vec![node.clone()],
            other => {
                self.err(Diagnostic::error(
                    format!("`include` must be a list of files, not {}", other.kind()),
                    node.span.clone(),
                ));
                return;
            }
        };
        for item in items {
            let Some(rel) = item.value.as_str().map(String::from) else {
                self.err(Diagnostic::error("an include must be a file path", item.span.clone()));
                continue;
            };
            let path = Path::new(from).parent().unwrap_or(Path::new("")).join(&rel);
            let path = normalize(&path);
            // Checked before anything is read: a scenario from elsewhere must not make us
            // read (and echo) arbitrary files.
            if !(rel.ends_with(".yaml") || rel.ends_with(".yml")) {
                self.err(
                    Diagnostic::error(
                        format!("`{rel}` is not a YAML file: includes end in .yaml or .yml"),
                        item.span.clone(),
                    )
                    .label("not read")
                    .hint("an included file holds `vars:`, `fragments:`, `secrets:` or `include:`"),
                );
                continue;
            }
            let real = real_path(Path::new(&path));
            if !self.roots.iter().any(|r| real.starts_with(r)) {
                self.err(
                    Diagnostic::error(
                        format!("`{rel}` is outside the scenario's directory"),
                        item.span.clone(),
                    )
                    .label("not read")
                    .note(format!(
                        "includes are read from: {}",
                        self.roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
                    ))
                    .hint("to allow another directory, pass `--include-root DIR`"),
                );
                continue;
            }
            if let Some(pos) = self.include_stack.iter().position(|p| *p == path) {
                let mut chain: Vec<String> = self.include_stack[pos..].to_vec();
                chain.push(path.clone());
                self.err(
                    Diagnostic::error(
                        format!("include cycle: `{rel}` is already being included"),
                        item.span.clone(),
                    )
                    .label("cycle closes here")
                    .note(format!("chain: {}", chain.join(" → ")))
                    .hint("remove one of the includes; fragments can be shared without including each other"),
                );
                continue;
            }
            // Includes recurse: a chain of distinct files must end before the stack does.
            if self.include_stack.len() >= MAX_INCLUDE_DEPTH {
                self.err(
                    Diagnostic::error(
                        format!("includes nest more than {MAX_INCLUDE_DEPTH} files deep"),
                        item.span.clone(),
                    )
                    .label("not read")
                    .hint("include the shared files from the scenario itself rather than from each other"),
                );
                continue;
            }
            // Included once (a diamond or a repeated include adds nothing new).
            if !self.included.insert(real) {
                continue;
            }
            let Some(root) = self.parse_file(&path, &item.span) else { continue };
            if !self.not_empty(&root, &path, "an included file") {
                continue;
            }
            let Some(f) = self.fields(&root, "an included file", INCLUDE_KEYS) else { continue };
            self.include_stack.push(path.clone());
            if let Some(inc) = f.get("include") {
                self.includes(&path, inc);
            }
            if let Some(frags) = f.get("fragments") {
                self.fragments_of(frags);
            }
            if let Some(v) = f.get("vars") {
                self.vars_of(v, false);
            }
            if let Some(s) = f.get("secrets") {
                self.secrets_of(s);
            }
            self.include_stack.pop();
        }
    }

    fn fragments_of(&mut self, node: &SNode) {
        let Node::Map(entries) = &node.value else {
            self.err(Diagnostic::error(
                "`fragments` must be a map of name → {params, steps}",
                node.span.clone(),
            ));
            return;
        };
        for (name, def) in entries {
            let Some(f) = self.fields(def, "a fragment", &["description", "params", "steps"]) else {
                continue;
            };
            let mut params = vec![];
            match f.get("params").map(|p| &p.value) {
                Some(Node::Map(ps)) => {
                    for (k, v) in ps {
                        let default = if matches!(v.value, Node::Null) { None } else { Some(v.clone()) };
                        params.push((k.value.clone(), default));
                    }
                }
                Some(Node::Seq(ps)) => {
                    for p in ps {
                        if let Some(s) = p.value.as_str() {
                            params.push((s.to_string(), None));
                        }
                    }
                }
                Some(other) => self.err(Diagnostic::error(
                    format!(
                        "fragment `params` must be a map (name: default) or a list of names, not {}",
                        other.kind()
                    ),
                    f.get("params").unwrap().span.clone(),
                )),
                None => {}
            }
            let Some(steps) = f.get("steps").cloned() else {
                self.err(Diagnostic::error(
                    format!("fragment `{}` has no `steps`", name.value),
                    name.span.clone(),
                ));
                continue;
            };
            if let Some(prev) = self.fragments.get(&name.value) {
                self.err(
                    Diagnostic::error(
                        format!("fragment `{}` is defined twice", name.value),
                        name.span.clone(),
                    )
                    .note(format!("first defined at {}", prev.span)),
                );
                continue;
            }
            self.fragments.insert(name.value.clone(), Fragment { span: name.span.clone(), params, steps });
        }
    }

    fn vars_of(&mut self, node: &SNode, main: bool) {
        let Node::Map(entries) = &node.value else {
            self.err(Diagnostic::error("`vars` must be a map of name → value", node.span.clone()));
            return;
        };
        for (k, v) in entries {
            if !is_ident(&k.value) {
                self.err(
                    Diagnostic::error(format!("`{}` is not a valid variable name", k.value), k.span.clone())
                        .hint("use letters, digits and `_`, starting with a letter or `_` (expressions read vars by name)"),
                );
                continue;
            }
            match self.vars.iter_mut().find(|(n, _, _)| n.value == k.value) {
                // The scenario's own value wins over an included default.
                Some(existing) => {
                    if main || !existing.2 {
                        *existing = (k.clone(), v.clone(), main);
                    }
                }
                None => self.vars.push((k.clone(), v.clone(), main)),
            }
        }
    }

    fn secrets_of(&mut self, node: &SNode) {
        for s in self.string_list(node, "secrets") {
            if !self.secrets.contains(&s) {
                self.secrets.push(s);
            }
        }
    }

    fn apply_overrides(&mut self, o: &Overrides) {
        for (name, raw, source) in &o.values {
            let Some(idx) = self.vars.iter().position(|(n, _, _)| n.value == *name) else {
                let known: Vec<&str> = self.vars.iter().map(|(n, _, _)| n.value.as_str()).collect();
                let mut d = Diagnostic::error(
                    format!("{source} sets `{name}`, which the scenario does not declare"),
                    Span::none(),
                )
                .hint(
                    did_you_mean(name, known.iter().copied())
                        .unwrap_or_else(|| format!("declared vars: {}", known.join(", "))),
                );
                if o.lenient.contains(name) {
                    d.severity = crate::Severity::Warning;
                }
                self.err(d);
                continue;
            };
            // Keep the declared type: "30000" for an integer var is the integer 30000, and
            // "abc" for it is refused here rather than failing mid-run.
            let declared = self.vars[idx].1.clone();
            let value = match override_value(&declared.value, raw) {
                Ok(v) => v,
                Err(kind) => {
                    // A secret's value is never printed, not even the wrong one.
                    let secret = self.secrets.iter().any(|s| s == name);
                    let example = declared.value.to_json();
                    let example = match &example {
                        _ if secret => crate::mask::MASK.to_string(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let raw = if secret { crate::mask::MASK } else { raw.as_str() };
                    let how = if source == "--var" {
                        format!("--var {name}={example}")
                    } else if source.starts_with("TESTRUNNER_VAR_") {
                        format!("{source}={example}")
                    } else {
                        format!("{name}: {example}")
                    };
                    let span = if declared.span.is_known() { declared.span.clone() } else { Span::none() };
                    self.err(
                        Diagnostic::error(
                            format!("{source} sets `{name}` to `{raw}`, but `{name}` is {kind}"),
                            span,
                        )
                        .label(format!("`{name}` is declared as {kind} here"))
                        .hint(format!(
                            "pass {}, e.g. `{how}`; a var declared as a string (`{name}: \"{example}\"`) takes any text",
                            if kind == "a boolean" { "true or false" } else { kind }
                        )),
                    );
                    continue;
                }
            };
            let span = Span::new(Arc::from(source.as_str()), 0, 0, 0);
            self.vars[idx].1 = Spanned::new(value, span);
        }
    }

    fn defaults(&mut self, node: Option<&SNode>) -> Defaults {
        let mut d = Defaults {
            step_timeout: Duration::from_secs(30),
            interval: Duration::from_millis(200),
            teardown_timeout: Duration::from_secs(120),
        };
        let Some(node) = node else { return d };
        let Some(f) = self.fields(node, "`defaults`", &["step_timeout", "interval", "teardown_timeout"])
        else {
            return d;
        };
        if let Some(v) = f.get("step_timeout").and_then(|n| self.duration(n)) {
            d.step_timeout = v;
        }
        if let Some(v) = f.get("interval").and_then(|n| self.duration(n)) {
            d.interval = v;
        }
        if let Some(v) = f.get("teardown_timeout").and_then(|n| self.duration(n)) {
            d.teardown_timeout = v;
        }
        d
    }

    fn phase(&mut self, node: &SNode) -> Option<Phase> {
        let f = self.fields(
            node,
            "a phase",
            &["name", "steps", "checks", "metrics", "repeat", "for_each", "when"],
        )?;
        let name = match f.get("name") {
            Some(n) => self.string(n, "phase name")?,
            None => {
                self.err(
                    Diagnostic::error("a phase needs a `name`", node.span.clone())
                        .hint("e.g. `- name: loss`"),
                );
                return None;
            }
        };
        let steps = f.get("steps").map(|n| self.steps(n, &self.ctx(&name))).unwrap_or_default();
        let checks = f.get("checks").map(|n| self.checks(n, &name)).unwrap_or_default();
        let metrics = f.get("metrics").map(|n| self.metrics(n)).unwrap_or_default();
        let repeat = f.get("repeat").and_then(|n| self.repeat(n));
        let for_each = f.get("for_each").map(|n| {
            if let Some((name, v)) = self.literal_var(n) {
                if !matches!(v.value, Node::Seq(_)) {
                    self.err(
                        Diagnostic::error(
                            format!("`for_each` needs a list, but var `{name}` is {}", shown(&v.value)),
                            n.span.clone(),
                        )
                        .label("not a list")
                        .note(format!("`{name}` is set at {}", v.span))
                        .hint("e.g. `nodes: [n1, n2]` and `for_each: \"${nodes}\"`"),
                    );
                }
            }
            self.value_param(n)
        });
        if repeat.is_some() && for_each.is_some() {
            self.err(Diagnostic::error("a phase takes `repeat` or `for_each`, not both", node.span.clone()));
        }
        let when = f.get("when").and_then(|n| self.expr(n));
        Some(Phase { name, span: node.span.clone(), steps, checks, metrics, repeat, for_each, when })
    }

    fn steps(&mut self, node: &SNode, ctx: &StepCtx) -> Vec<Step> {
        let Node::Seq(items) = &node.value else {
            self.err(Diagnostic::error(
                format!("steps must be a list, not {}", node.value.kind()),
                node.span.clone(),
            ));
            return vec![];
        };
        let mut out = vec![];
        for (i, item) in items.iter().enumerate() {
            if !self.count_expansion(item) {
                break;
            }
            if item.value.get("use").is_some() {
                out.extend(self.use_fragment(item, ctx));
            } else if let Some(s) = self.step(item, ctx, i) {
                out.push(s);
            }
        }
        out
    }

    /// Counts one step or fragment use; false (reported once) past [`MAX_EXPANDED`].
    fn count_expansion(&mut self, at: &SNode) -> bool {
        self.expanded += 1;
        if self.expanded == MAX_EXPANDED + 1 {
            self.err(
                Diagnostic::error(
                    format!("the scenario expands to more than {MAX_EXPANDED} steps"),
                    at.span.clone(),
                )
                .label("expansion stopped here")
                .hint("fragments that use other fragments multiply: check for a fragment used many times at each level"),
            );
        }
        self.expanded <= MAX_EXPANDED
    }

    fn use_fragment(&mut self, node: &SNode, ctx: &StepCtx) -> Vec<Step> {
        let Some(f) = self.fields(node, "a `use` step", &["use", "with", "id", "when"]) else {
            return vec![];
        };
        let name_node = f.get("use").unwrap();
        let Some(name) = self.string(name_node, "fragment name") else { return vec![] };
        if ctx.fragment_stack.contains(&name) {
            self.err(
                Diagnostic::error(format!("fragment `{name}` uses itself"), name_node.span.clone())
                    .note(format!("chain: {} → {name}", ctx.fragment_stack.join(" → "))),
            );
            return vec![];
        }
        let Some(frag) = self.fragments.get(&name) else {
            let known: Vec<&str> = self.fragments.keys().map(String::as_str).collect();
            let hint = did_you_mean(&name, known.iter().copied()).unwrap_or_else(|| {
                if known.is_empty() {
                    "fragments come from `fragments:` in this file or an `include`d one".into()
                } else {
                    format!("known fragments: {}", known.join(", "))
                }
            });
            self.err(
                Diagnostic::error(format!("unknown fragment `{name}`"), name_node.span.clone())
                    .label("not defined")
                    .hint(hint),
            );
            return vec![];
        };
        let declared = frag.params.clone();
        let frag_steps = frag.steps.clone();
        if !self.used_fragments.contains(&name) {
            self.used_fragments.push(name.clone());
        }
        let mut params: Vec<(String, Param)> = vec![];
        if let Some(with) = f.get("with") {
            if let Node::Map(entries) = &with.value {
                for (k, v) in entries {
                    if !declared.iter().any(|(n, _)| *n == k.value) {
                        let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
                        self.err(
                            Diagnostic::error(
                                format!("fragment `{name}` has no parameter `{}`", k.value),
                                k.span.clone(),
                            )
                            .label("unknown parameter")
                            .hint(
                                did_you_mean(&k.value, names.iter().copied())
                                    .unwrap_or_else(|| format!("it takes: {}", names.join(", "))),
                            ),
                        );
                        continue;
                    }
                    params.push((k.value.clone(), self.value_param(v)));
                }
            } else {
                self.err(Diagnostic::error("`with` must be a map of parameter → value", with.span.clone()));
            }
        }
        for (p, default) in &declared {
            if params.iter().any(|(n, _)| n == p) {
                continue;
            }
            match default {
                Some(d) => {
                    let v = self.value_param(d);
                    params.push((p.clone(), v));
                }
                None => self.err(
                    Diagnostic::error(format!("fragment `{name}` needs parameter `{p}`"), node.span.clone())
                        .label(format!("add `with: {{ {p}: ... }}`")),
                ),
            }
        }
        let prefix = match f.get("id").and_then(|n| self.id(n, "`use` id")) {
            Some(id) => Some(match &ctx.prefix {
                Some(p) => format!("{p}_{id}"),
                None => id,
            }),
            None => ctx.prefix.clone(),
        };
        let scope = Arc::new(FragmentScope {
            fragment: name.clone(),
            params,
            aliases: Arc::default(),
            parent: ctx.scope.clone(),
        });
        let mut stack = ctx.fragment_stack.clone();
        stack.push(name.clone());
        let inner = StepCtx {
            phase: ctx.phase.clone(),
            prefix: prefix.clone(),
            scope: Some(scope.clone()),
            fragment_stack: stack,
        };
        let mut steps = self.steps(&frag_steps, &inner);
        // `when` on a `use` guards every step it expands to.
        if let Some(outer) = f.get("when").and_then(|n| self.expr(n)) {
            for s in &mut steps {
                s.when = Some(match &s.when {
                    None => outer.clone(),
                    Some(inner) => Expr::compile(
                        &format!("({}) && ({})", outer.source, inner.source),
                        outer.span.clone(),
                    )
                    .unwrap_or_else(|_| outer.clone()),
                });
            }
        }
        // Short ids inside the fragment refer to this expansion's steps.
        if let Some(pre) = &prefix {
            let aliases: Vec<(String, String)> = steps
                .iter()
                .filter_map(|s| {
                    s.id.strip_prefix(&format!("{pre}_")).map(|short| (short.to_string(), s.id.clone()))
                })
                .collect();
            for (short, _) in &aliases {
                if declared.iter().any(|(p, _)| p == short) {
                    self.err(
                        Diagnostic::error(
                            format!("fragment `{name}` has a step id and a parameter both named `{short}`"),
                            node.span.clone(),
                        )
                        .hint("rename the step: inside the fragment both would be read by that name"),
                    );
                }
            }
            let full = Arc::new(FragmentScope { aliases: Arc::new(aliases), ..(*scope).clone() });
            // Steps of nested fragments hang below this scope: point their chains at `full`.
            // Steps sharing a chain share its copy (copying per step was quadratic).
            let mut memo = HashMap::new();
            for s in &mut steps {
                if let Some(sc) = &s.scope {
                    s.scope = Some(rebase(sc, &scope, &full, &mut memo));
                }
            }
        }
        steps
    }

    fn step(&mut self, node: &SNode, ctx: &StepCtx, index: usize) -> Option<Step> {
        let Node::Map(entries) = &node.value else {
            self.err(
                Diagnostic::error(
                    format!("a step must be a map, not {}", node.value.kind()),
                    node.span.clone(),
                )
                .hint("e.g. `- http.get: { url: \"http://127.0.0.1:8080/\" }`"),
            );
            return None;
        };
        // `- stop: writers` ends a background step.
        if let Some(target) = node.value.get("stop") {
            let id = self.string(target, "stop target")?;
            let extra: Vec<&Spanned<String>> = entries
                .iter()
                .map(|(k, _)| k)
                .filter(|k| !["stop", "name"].contains(&k.value.as_str()))
                .collect();
            for k in extra {
                self.err(Diagnostic::error(
                    format!("unknown key `{}` in a `stop` step", k.value),
                    k.span.clone(),
                ));
            }
            let sid = self.step_id(None, ctx, index, &node.span)?;
            return Some(Step {
                id: sid,
                name: node.value.get("name").and_then(|n| n.value.as_str().map(String::from)),
                span: node.span.clone(),
                action: "stop".into(),
                action_span: target.span.clone(),
                params: Param::Lit(Value::String(id)),
                timeout: None,
                until: None,
                interval: None,
                retries: 0,
                save: None,
                background: false,
                when: None,
                allow_failure: false,
                assertions: vec![],
                scope: ctx.scope.clone(),
            });
        }
        if let Some(spec) = node.value.get("wait") {
            return self.wait_step(node, spec, ctx, index);
        }
        let mut action: Option<(&Spanned<String>, &SNode)> = None;
        for (k, v) in entries {
            if STEP_KEYS.contains(&k.value.as_str()) {
                continue;
            }
            if self.action_names.contains(&k.value) {
                if let Some((first, _)) = action {
                    self.err(
                        Diagnostic::error(
                            format!(
                                "a step runs one action, but this one has `{}` and `{}`",
                                first.value, k.value
                            ),
                            k.span.clone(),
                        )
                        .hint("split it into two steps"),
                    );
                    continue;
                }
                action = Some((k, v));
                continue;
            }
            let key_hint = did_you_mean(&k.value, STEP_KEYS.iter().copied());
            let action_hint = did_you_mean(&k.value, self.action_names.iter().map(String::as_str));
            let d = if let (Some(h), false) = (key_hint.clone(), k.value.contains('.')) {
                Diagnostic::error(format!("unknown step key `{}`", k.value), k.span.clone())
                    .label("unknown key")
                    .hint(h)
            } else {
                Diagnostic::error(format!("unknown action `{}`", k.value), k.span.clone())
                    .label("no such action")
                    .hint(
                        action_hint
                            .or(key_hint)
                            .unwrap_or_else(|| "`testrunner actions` lists every action".into()),
                    )
            };
            self.err(d);
        }
        let f = Fields { node };
        let explicit = f.get("id").and_then(|n| {
            let s = self.string(n, "step id")?;
            if !is_ident(&s) {
                self.err(
                    Diagnostic::error(format!("`{s}` is not a valid step id"), n.span.clone())
                        .hint("use letters, digits and `_` (expressions read results as `<id>.field`)"),
                );
                return None;
            }
            Some((s, n.span.clone()))
        });
        // The id is reserved even when the action is wrong, so later references to it
        // do not cascade into more errors.
        let id = self.step_id(explicit, ctx, index, &node.span)?;
        let Some((akey, aval)) = action else {
            if !entries.iter().any(|(k, _)| !STEP_KEYS.contains(&k.value.as_str())) {
                self.err(Diagnostic::error("this step has no action", node.span.clone()).hint(
                    "add one action key, e.g. `http.get: { url: ... }`; `testrunner actions` lists them",
                ));
            }
            return None;
        };
        let mut assertions = vec![];
        let params = match akey.value.as_str() {
            // `set` takes any names; `assert` takes bare expressions.
            "set" => self.value_param(aval),
            "assert" => {
                let schema = self.catalog.schema("assert").unwrap_or(Value::Bool(true));
                let mut pc = ParamCheck::new("assert", &schema, &self.sources);
                let p = pc.check(aval, &schema, "");
                self.diags.append(&mut pc.diags);
                match aval.value.get("expect") {
                    Some(Spanned { value: Node::Str(_), .. }) => {
                        assertions.extend(self.expr(aval.value.get("expect").unwrap()))
                    }
                    Some(Spanned { value: Node::Seq(items), span }) if items.is_empty() => self.err(
                        Diagnostic::error("`assert` has an empty `expect`", span.clone())
                            .label("nothing to assert")
                            .hint("give at least one expression, e.g. `expect: [probe.ok]`"),
                    ),
                    Some(Spanned { value: Node::Seq(items), .. }) => {
                        for it in items {
                            assertions.extend(self.expr(it));
                        }
                    }
                    _ => {}
                }
                p
            }
            name => {
                let schema = self.catalog.schema(name).unwrap_or(Value::Bool(true));
                let mut pc = ParamCheck::new(name, &schema, &self.sources);
                pc.known = self.known_vars(ctx.scope.as_deref());
                let p = pc.check(aval, &schema, "");
                self.diags.append(&mut pc.diags);
                p
            }
        };
        let until = f.get("until").and_then(|n| self.expr(n));
        let when = f.get("when").and_then(|n| self.expr(n));
        let timeout = f.get("timeout").and_then(|n| self.duration(n));
        let interval = f.get("interval").and_then(|n| self.duration(n));
        let retries = match f.get("retries") {
            Some(n) => match n.value {
                Node::Int(i) if (0..=10_000).contains(&i) => i as u32,
                _ => {
                    self.err(
                        Diagnostic::error("`retries` must be a whole number from 0 to 10000", n.span.clone())
                            .label(format!("not a whole number from 0 to 10000 ({})", n.value.kind()))
                            .hint("e.g. `retries: 3`: the action is run again after a failure, `interval` apart"),
                    );
                    0
                }
            },
            None => 0,
        };
        if let (Some(n), None, 0) = (f.get("interval"), &until, retries) {
            // The predecessor's "retry setting that did nothing": refuse it instead.
            self.err(
                Diagnostic::error("`interval` does nothing on a step without `until` or `retries`", n.span.clone())
                    .label("never used")
                    .hint("add `until: <condition>` to poll, or `retries: N` to re-run after a failure; or remove `interval`"),
            );
        }
        if retries > 0 && until.is_some() {
            self.err(
                Diagnostic::error("a step takes `until` or `retries`, not both", node.span.clone()).hint(
                    "`until` already re-runs the action until the condition holds or the step times out",
                ),
            );
        }
        let save = f.get("save").and_then(|n| match &n.value {
            // Evidence stays inside the run directory; a literal name that leaves it is
            // refused here (a templated one is checked again when it is written).
            Node::Str(s) if s.starts_with('/') || s.split('/').any(|c| c == "..") => {
                self.err(
                    Diagnostic::error(format!("`save: {s}` leaves the evidence directory"), n.span.clone())
                        .label("absolute, or climbs with `..`")
                        .hint("name a file inside evidence/, e.g. `save: val17-01-baseline.json` or `save: cycle1/lost.json`"),
                );
                None
            }
            Node::Str(s) => match compile_template(s, &n.span, &self.sources, &mut self.diags) {
                Param::Tmpl(t) => Some(t),
                _ => None,
            },
            other => {
                self.err(Diagnostic::error(
                    format!("`save` must be a file name, not {}", other.kind()),
                    n.span.clone(),
                ));
                None
            }
        });
        let background = f.get("background").map(|n| self.boolean(n)).unwrap_or(false);
        let allow_failure = f.get("allow_failure").map(|n| self.boolean(n)).unwrap_or(false);
        let name = f.get("name").and_then(|n| self.string(n, "step name"));
        let step = Step {
            id,
            name,
            span: node.span.clone(),
            action: akey.value.clone(),
            action_span: akey.span.clone(),
            params,
            timeout,
            until,
            interval,
            retries,
            save,
            background,
            when,
            allow_failure,
            assertions,
            scope: ctx.scope.clone(),
        };
        Some(step)
    }

    /// `- { id: primary, wait: { any: [n1, n2, n3] }, timeout: 30s }`: waits for the first
    /// (`any`) or every (`all`) of the named background polls.
    fn wait_step(&mut self, node: &SNode, spec: &SNode, ctx: &StepCtx, index: usize) -> Option<Step> {
        let f = self.fields(node, "a `wait` step", &["wait", "id", "name", "timeout"])?;
        let explicit = f.get("id").and_then(|n| {
            let s = self.string(n, "step id")?;
            if !is_ident(&s) {
                self.err(
                    Diagnostic::error(format!("`{s}` is not a valid step id"), n.span.clone())
                        .hint("use letters, digits and `_` (expressions read results as `<id>.field`)"),
                );
                return None;
            }
            Some((s, n.span.clone()))
        });
        let id = self.step_id(explicit, ctx, index, &node.span)?;
        let timeout = f.get("timeout").and_then(|n| self.duration(n));
        let name = f.get("name").and_then(|n| self.string(n, "step name"));
        let hint =
            "e.g. `wait: { any: [n1_primary, n2_primary] }` (the first to match) or `wait: { all: [...] }`";
        let entries = match &spec.value {
            Node::Map(e) if e.len() == 1 && ["any", "all"].contains(&e[0].0.value.as_str()) => e,
            _ => {
                self.err(
                    Diagnostic::error("`wait` takes `any: [ids]` or `all: [ids]`", spec.span.clone())
                        .label("neither `any` nor `all`")
                        .hint(hint),
                );
                return None;
            }
        };
        let (mode, list) = (&entries[0].0.value, &entries[0].1);
        let mut ids: Vec<Value> = vec![];
        match &list.value {
            Node::Seq(items) if !items.is_empty() => {
                for it in items {
                    match &it.value {
                        Node::Str(t) if is_ident(t) && !ids.contains(&Value::from(t.as_str())) => {
                            ids.push(Value::from(t.as_str()))
                        }
                        Node::Str(t) if is_ident(t) => self.err(
                            Diagnostic::error(format!("`{t}` is named twice"), it.span.clone())
                                .label("duplicate"),
                        ),
                        _ => self.err(
                            Diagnostic::error("`wait` names the ids of background steps", it.span.clone())
                                .label("not a step id")
                                .hint(hint),
                        ),
                    }
                }
            }
            _ => self.err(
                Diagnostic::error(
                    format!("`wait: {{ {mode}: … }}` needs a list of step ids"),
                    list.span.clone(),
                )
                .label("not a non-empty list")
                .hint(hint),
            ),
        }
        let mut params = serde_json::Map::new();
        params.insert(mode.clone(), Value::Array(ids));
        Some(Step {
            id,
            name,
            span: node.span.clone(),
            action: "wait".into(),
            action_span: spec.span.clone(),
            params: Param::Lit(Value::Object(params)),
            timeout,
            until: None,
            interval: None,
            retries: 0,
            save: None,
            background: false,
            when: None,
            allow_failure: false,
            assertions: vec![],
            scope: ctx.scope.clone(),
        })
    }

    /// Vars whose value is a literal, as a step sees them (a fragment's parameters hide
    /// vars of the same name).
    fn known_vars(&self, scope: Option<&FragmentScope>) -> Vec<(String, Value)> {
        let mut hidden: Vec<&str> = vec![];
        let mut s = scope;
        while let Some(f) = s {
            hidden.extend(f.params.iter().map(|(n, _)| n.as_str()));
            s = f.parent.as_deref();
        }
        self.vars
            .iter()
            .filter(|(n, v, _)| {
                !hidden.contains(&n.value.as_str()) && !v.value.to_json().to_string().contains("${")
            })
            .map(|(n, v, _)| (n.value.clone(), v.value.to_json()))
            .collect()
    }

    fn step_id(
        &mut self,
        explicit: Option<(String, Span)>,
        ctx: &StepCtx,
        index: usize,
        span: &Span,
    ) -> Option<String> {
        let (base, at) = match explicit {
            Some((s, at)) => (s, at),
            None => (format!("{}_{}", sanitize(&ctx.phase), index + 1), span.clone()),
        };
        let id = match &ctx.prefix {
            Some(p) => format!("{p}_{base}"),
            None => base,
        };
        if let Some(first) = self.step_ids.get(&id) {
            let mut d = Diagnostic::error(format!("duplicate step id `{id}`"), at.clone())
                .label("already used")
                .note(format!("first used at {first}"))
                .hint(format!(
                    "step ids name results (`{id}.ok`) and must be unique: rename one, e.g. `{id}_2`"
                ));
            if ctx.scope.is_some() {
                d = d.hint("this step comes from a fragment used twice: give each `use:` an `id:` to prefix its step ids");
            }
            self.err(d);
            return None;
        }
        self.step_ids.insert(id.clone(), at);
        Some(id)
    }

    fn checks(&mut self, node: &SNode, phase: &str) -> Vec<Check> {
        let Node::Seq(items) = &node.value else {
            self.err(Diagnostic::error("`checks` must be a list", node.span.clone()));
            return vec![];
        };
        let mut out = vec![];
        for item in items {
            let Some(f) =
                self.fields(item, "a check", &["id", "name", "expect", "metric", "unit", "threshold"])
            else {
                continue;
            };
            let id_span = f.get("id").map(|n| n.span.clone()).unwrap_or_else(|| item.span.clone());
            let Some(id_node) = f.get("id") else {
                self.err(
                    Diagnostic::error("a check needs an `id`", item.span.clone()).hint("e.g. `id: VAL17-01`"),
                );
                continue;
            };
            let Some(id) = self.id(id_node, "check id") else { continue };
            let name = f.get("name").and_then(|n| self.string(n, "check name")).unwrap_or_else(|| id.clone());
            let mut expect = vec![];
            match f.get("expect") {
                Some(Spanned { value: Node::Seq(es), span }) if es.is_empty() => self.err(
                    Diagnostic::error(format!("check `{id}` has an empty `expect`"), span.clone())
                        .label("nothing to check")
                        .hint("a check needs at least one expression, e.g. `expect: probe.ok`"),
                ),
                Some(Spanned { value: Node::Seq(es), .. }) => {
                    for e in es {
                        expect.extend(self.expr(e));
                    }
                }
                Some(e) => expect.extend(self.expr(e)),
                None => self.err(
                    Diagnostic::error(format!("check `{id}` has no `expect`"), id_span.clone())
                        .label("this check needs `expect`")
                        .hint("add `expect:` with an expression (or a list; all must hold), e.g. `expect: probe.ok`"),
                ),
            }
            let metric = f.get("metric").and_then(|n| {
                let m = self.string(n, "metric")?;
                self.metric_refs.push((m.clone(), n.span.clone()));
                Some(m)
            });
            let unit = f.get("unit").and_then(|n| self.string(n, "unit"));
            let threshold = f.get("threshold").map(|n| match &n.value {
                Node::Str(s) => s.clone(),
                other => other.to_json().to_string(),
            });
            out.push(Check {
                id,
                name,
                span: id_span,
                phase: phase.to_string(),
                expect,
                metric,
                unit,
                threshold,
            });
        }
        out
    }

    fn metrics(&mut self, node: &SNode) -> Vec<MetricDef> {
        let Node::Map(entries) = &node.value else {
            self.err(Diagnostic::error("`metrics` must be a map of name → {value, unit}", node.span.clone()));
            return vec![];
        };
        let mut out = vec![];
        for (k, v) in entries {
            if !is_ident(&k.value) {
                self.err(Diagnostic::error(
                    format!("`{}` is not a valid metric name", k.value),
                    k.span.clone(),
                ));
                continue;
            }
            // Shorthand: `loss_ms: "a - b"`.
            let (value, unit, regression) = match &v.value {
                Node::Str(_) => (self.expr(v), None, None),
                Node::Map(_) => {
                    let Some(f) = self.fields(v, "a metric", &["value", "unit", "regression"]) else {
                        continue;
                    };
                    let value = match f.get("value") {
                        Some(n) => self.expr(n),
                        None => {
                            self.err(Diagnostic::error(
                                format!("metric `{}` has no `value`", k.value),
                                v.span.clone(),
                            ));
                            None
                        }
                    };
                    let unit = f.get("unit").and_then(|n| self.string(n, "unit"));
                    let regression = f.get("regression").and_then(|n| self.regression(n));
                    (value, unit, regression)
                }
                other => {
                    self.err(Diagnostic::error(
                        format!("metric `{}` must be an expression or a map, not {}", k.value, other.kind()),
                        v.span.clone(),
                    ));
                    continue;
                }
            };
            if let Some(value) = value {
                out.push(MetricDef { name: k.value.clone(), span: k.span.clone(), value, unit, regression });
            }
        }
        out
    }

    fn regression(&mut self, node: &SNode) -> Option<Regression> {
        let f = self.fields(node, "`regression`", &["direction", "tolerance", "min_delta"])?;
        let lower = match f.get("direction").and_then(|n| self.string(n, "direction")).as_deref() {
            Some("lower_is_better") | None => true,
            Some("higher_is_better") => false,
            Some(other) => {
                self.err(
                    Diagnostic::error(
                        format!("unknown direction `{other}`"),
                        f.get("direction").unwrap().span.clone(),
                    )
                    .hint("use lower_is_better or higher_is_better"),
                );
                true
            }
        };
        let tolerance = match f.get("tolerance") {
            Some(n) => match &n.value {
                Node::Str(s) if s.trim().ends_with('%') => {
                    s.trim().trim_end_matches('%').trim().parse::<f64>().ok().map(|p| p / 100.0)
                }
                Node::Float(x) => Some(*x),
                Node::Int(i) => Some(*i as f64),
                _ => None,
            }
            .or_else(|| {
                self.err(Diagnostic::error(
                    "`tolerance` must be a percentage like `25%` or a fraction like 0.25",
                    n.span.clone(),
                ));
                None
            })?,
            None => 0.25,
        };
        let min_delta = match f.get("min_delta").map(|n| &n.value) {
            Some(Node::Int(i)) => *i as f64,
            Some(Node::Float(x)) => *x,
            _ => 0.0,
        };
        Some(Regression { lower_is_better: lower, tolerance, min_delta })
    }

    fn outcome(&mut self, node: Option<&SNode>) -> OutcomeRule {
        let Some(node) = node else { return OutcomeRule::default() };
        let Some(f) = self.fields(node, "`outcome`", &["partial_if_passed"]) else {
            return OutcomeRule::default();
        };
        let ids = f.get("partial_if_passed").map(|n| self.id_list(n)).unwrap_or_default();
        OutcomeRule {
            partial_if_passed: ids.iter().map(|(i, _)| i.clone()).collect(),
            partial_spans: ids.into_iter().map(|(_, s)| s).collect(),
        }
    }

    fn exit_codes(&mut self, node: &SNode) -> Vec<ExitRule> {
        let Node::Seq(items) = &node.value else {
            self.err(Diagnostic::error(
                "`exit_codes` must be a list of {when_failed, code}",
                node.span.clone(),
            ));
            return vec![];
        };
        let mut out = vec![];
        for item in items {
            let Some(f) = self.fields(item, "an exit code rule", &["when_failed", "code"]) else { continue };
            let ids = f.get("when_failed").map(|n| self.id_list(n)).unwrap_or_default();
            let when_failed: Vec<String> = ids.iter().map(|(i, _)| i.clone()).collect();
            let when_failed_spans: Vec<Span> = ids.into_iter().map(|(_, s)| s).collect();
            let code = match f.get("code").map(|n| (&n.value, n.span.clone())) {
                Some((Node::Int(c), _)) if (2..=125).contains(c) && *c != 3 => *c as i32,
                Some((_, span)) => {
                    self.err(
                        Diagnostic::error("a scenario exit code must be 2 or 4…125", span)
                            .hint("0, 1 and 3 are testrunner's own (pass, check failed, harness error); 126+ belong to the shell"),
                    );
                    continue;
                }
                None => {
                    self.err(Diagnostic::error("an exit code rule needs `code`", item.span.clone()));
                    continue;
                }
            };
            out.push(ExitRule { when_failed, when_failed_spans, code, span: item.span.clone() });
        }
        out
    }

    fn hard_fail(&mut self, node: &SNode) -> Vec<HardFail> {
        let Node::Seq(items) = &node.value else {
            self.err(Diagnostic::error(
                "`hard_fail` must be a list of {id, when, message}",
                node.span.clone(),
            ));
            return vec![];
        };
        let mut out = vec![];
        for item in items {
            let Some(f) = self.fields(item, "a hard_fail rule", &["id", "when", "message"]) else { continue };
            let Some(expr) = f.get("when").and_then(|n| self.expr(n)) else {
                self.err(Diagnostic::error(
                    "a hard_fail rule needs `when` (an expression that is true when the run must fail)",
                    item.span.clone(),
                ));
                continue;
            };
            let id = f
                .get("id")
                .and_then(|n| self.id(n, "hard_fail id"))
                .unwrap_or_else(|| format!("HARD-FAIL-{}", out.len() + 1));
            let message = f
                .get("message")
                .and_then(|n| self.string(n, "message"))
                .unwrap_or_else(|| expr.source.clone());
            out.push(HardFail { id, expr, message });
        }
        out
    }

    // ---- scalar helpers ----

    /// `repeat: 3` or `repeat: "${cycles}"`; a var with a literal value is checked here.
    fn repeat(&mut self, n: &SNode) -> Option<Param> {
        let hint = "e.g. `repeat: 3`, or `repeat: \"${cycles}\"` with a var (`--var cycles=5` overrides it)";
        match &n.value {
            Node::Int(i) if *i >= 0 => Some(Param::Lit(Value::from(*i))),
            Node::Str(s) if s.contains("${") => {
                if let Some((name, v)) = self.literal_var(n) {
                    if !matches!(v.value, Node::Int(i) if i >= 0) {
                        self.err(
                            Diagnostic::error(
                                format!(
                                    "`repeat` needs a whole number (0 or more), but var `{name}` is {}",
                                    shown(&v.value)
                                ),
                                n.span.clone(),
                            )
                            .label("not a count")
                            .note(format!("`{name}` is set at {}", v.span))
                            .hint(hint),
                        );
                        return None;
                    }
                }
                Some(self.value_param(n))
            }
            other => {
                self.err(
                    Diagnostic::error(
                        format!("`repeat` must be a whole number (0 or more), not {}", other.kind()),
                        n.span.clone(),
                    )
                    .label("not a count")
                    .hint(hint),
                );
                None
            }
        }
    }

    /// The var a value names when it is exactly `${name}` and the var's value (after
    /// overrides) is a literal, so it can be checked before the run.
    fn literal_var(&self, node: &SNode) -> Option<(String, SNode)> {
        let Node::Str(s) = &node.value else { return None };
        let name = s.trim().strip_prefix("${")?.strip_suffix('}')?.trim();
        let (_, v, _) = self.vars.iter().find(|(n, _, _)| n.value == name)?;
        let templated = |n: &Node| matches!(n, Node::Str(x) if x.contains("${"));
        let nested = matches!(&v.value, Node::Seq(items) if items.iter().any(|i| templated(&i.value)));
        (!templated(&v.value) && !nested).then(|| (name.to_string(), v.clone()))
    }

    /// An id (of the scenario, a check, a `use`, a hard_fail rule): a non-empty string.
    fn id(&mut self, node: &SNode, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        if s.trim().is_empty() {
            self.err(
                Diagnostic::error(format!("{what} is empty"), node.span.clone())
                    .label("empty")
                    .hint("ids name results and reports: give it a name, e.g. `VAL17-01`"),
            );
            return None;
        }
        Some(s)
    }

    /// Check ids with where each is written (a single string is a list of one).
    fn id_list(&mut self, node: &SNode) -> Vec<(String, Span)> {
        match &node.value {
            Node::Seq(items) => {
                items.iter().filter_map(|i| Some((self.string(i, "a check id")?, i.span.clone()))).collect()
            }
            _ => self.string_list(node, "check ids").into_iter().map(|s| (s, node.span.clone())).collect(),
        }
    }

    /// Validates the steps of fragments no `use:` expanded (as they would be when used),
    /// so a mistake there is found before someone uses the fragment.
    fn unused_fragments(&mut self) {
        let mut unused: Vec<(String, Span)> = self
            .fragments
            .iter()
            .filter(|(n, _)| !self.used_fragments.contains(n))
            .map(|(n, f)| (n.clone(), f.span.clone()))
            .collect();
        unused.sort_by(|a, b| {
            (a.1.file.as_ref(), a.1.line, a.1.col).cmp(&(b.1.file.as_ref(), b.1.line, b.1.col))
        });
        // Their step ids belong to no run: keep them out of the scenario's.
        let ids = std::mem::take(&mut self.step_ids);
        for (name, span) in unused {
            if self.used_fragments.contains(&name) {
                continue; // used by another unused fragment, validated there
            }
            let mut with: Vec<(Spanned<String>, SNode)> = vec![];
            for (p, _) in &self.fragments[&name].params {
                with.push((Spanned::new(p.clone(), span.clone()), Spanned::new(Node::Null, span.clone())));
            }
            let node = Spanned::new(
                Node::Map(vec![
                    (
                        Spanned::new("use".into(), span.clone()),
                        Spanned::new(Node::Str(name.clone()), span.clone()),
                    ),
                    (Spanned::new("with".into(), span.clone()), Spanned::new(Node::Map(with), span.clone())),
                ]),
                span.clone(),
            );
            let ctx = StepCtx {
                phase: format!("fragment_{name}"),
                prefix: None,
                scope: None,
                fragment_stack: vec![],
            };
            self.use_fragment(&node, &ctx);
            // Each is checked alone: two fragments may use the same step ids.
            self.step_ids.clear();
        }
        self.step_ids = ids;
    }

    fn value_param(&mut self, node: &SNode) -> Param {
        match &node.value {
            Node::Str(s) if s.contains("${") => {
                compile_template(s, &node.span, &self.sources, &mut self.diags)
            }
            Node::Seq(items) => Param::Seq(items.iter().map(|i| self.value_param(i)).collect()),
            Node::Map(entries) => {
                Param::Map(entries.iter().map(|(k, v)| (k.value.clone(), self.value_param(v))).collect())
            }
            other => Param::Lit(other.to_json()),
        }
    }

    fn duration(&mut self, node: &SNode) -> Option<Duration> {
        // `timeout: "${rto_deadline}"`: a var with a literal value, resolved at load time
        // (after overrides), so deadlines are known before the run starts.
        if let Node::Str(s) = &node.value {
            let t = s.trim();
            if let Some(name) = t.strip_prefix("${").and_then(|r| r.strip_suffix('}')).map(str::trim) {
                let value = self.vars.iter().find(|(n, _, _)| n.value == name).map(|(_, v, _)| v.clone());
                return match value {
                    Some(v)
                        if matches!(v.value, Node::Str(_) | Node::Int(_))
                            && !v.value.as_str().is_some_and(|x| x.contains("${")) =>
                    {
                        let resolved = Spanned::new(v.value.clone(), node.span.clone());
                        self.duration(&resolved)
                    }
                    _ => {
                        self.err(
                            Diagnostic::error(format!("`{t}` must name a var holding a duration"), node.span.clone())
                                .hint("durations of engine keys are fixed before the run: use a var like `rto_deadline: 90s`"),
                        );
                        None
                    }
                };
            }
        }
        match &node.value {
            Node::Int(ms) if *ms >= 0 => Some(Duration::from_millis(*ms as u64)),
            Node::Str(s) => match crate::parse_duration(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.err(
                        Diagnostic::error(e, node.span.clone())
                            .label("not a duration")
                            .hint("e.g. 250ms, 30s, 2m"),
                    );
                    None
                }
            },
            other => {
                self.err(
                    Diagnostic::error(
                        format!("expected a duration, not {}", other.kind()),
                        node.span.clone(),
                    )
                    .hint("e.g. 250ms, 30s, 2m"),
                );
                None
            }
        }
    }
}

/// A var's value for a message: scalars as written, lists and maps by kind.
fn shown(n: &Node) -> String {
    match n {
        Node::Seq(_) | Node::Map(_) => format!("a {}", n.kind()),
        other => other.to_json().to_string(),
    }
}

/// `chain` with every link that is `old` replaced by `new`.
fn rebase(
    chain: &Arc<FragmentScope>,
    old: &Arc<FragmentScope>,
    new: &Arc<FragmentScope>,
    memo: &mut HashMap<*const FragmentScope, Arc<FragmentScope>>,
) -> Arc<FragmentScope> {
    if Arc::ptr_eq(chain, old) {
        return new.clone();
    }
    if let Some(done) = memo.get(&Arc::as_ptr(chain)) {
        return done.clone();
    }
    let out = match &chain.parent {
        Some(p) => Arc::new(FragmentScope { parent: Some(rebase(p, old, new, memo)), ..(**chain).clone() }),
        None => chain.clone(),
    };
    memo.insert(Arc::as_ptr(chain), out.clone());
    out
}

pub fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn sanitize(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

/// `p` with symlinks resolved when it exists, else made absolute lexically (paths a test
/// reader serves need not exist on disk).
fn real_path(p: &Path) -> std::path::PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        let abs = std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf());
        std::path::PathBuf::from(normalize(&abs))
    })
}

/// A scenario id names the default run directory (`runs/<id>/…`): a plain name only.
pub fn valid_scenario_id(id: &str) -> bool {
    id.len() <= 100
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !id.contains("..")
}

fn normalize(p: &Path) -> String {
    let mut parts: Vec<&std::ffi::OsStr> = vec![];
    for c in p.components() {
        match c {
            std::path::Component::ParentDir if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            other => parts.push(other.as_os_str()),
        }
    }
    let pb: std::path::PathBuf = parts.iter().collect();
    pb.to_string_lossy().replace("//", "/")
}

/// The value an override's text gives a var declared as `declared`; Err names the type
/// the text does not fit.
fn override_value(declared: &Node, raw: &str) -> Result<Node, &'static str> {
    let t = raw.trim();
    match declared {
        Node::Str(_) => Ok(Node::Str(raw.to_string())),
        Node::Int(_) => t.parse::<i64>().map(Node::Int).map_err(|_| "an integer"),
        Node::Float(_) => t.parse::<f64>().ok().filter(|f| f.is_finite()).map(Node::Float).ok_or("a number"),
        Node::Bool(_) => match t {
            "true" => Ok(Node::Bool(true)),
            "false" => Ok(Node::Bool(false)),
            _ => Err("a boolean"),
        },
        Node::Seq(_) | Node::Map(_) => {
            let want = if matches!(declared, Node::Seq(_)) { "a list" } else { "a map" };
            match parse_yaml(&Arc::from("override"), raw) {
                Ok(n) if std::mem::discriminant(&n.value) == std::mem::discriminant(declared) => Ok(n.value),
                _ => Err(want),
            }
        }
        Node::Null => Ok(parse_scalar(raw)),
    }
}

/// A serde-saphyr message without its `error: line N column M:` prefix (the position is in
/// the diagnostic already), with a hint for the common mistakes.
fn yaml_message(raw: &str) -> (String, String) {
    let mut m = raw.trim();
    m = m.strip_prefix("error:").unwrap_or(m).trim_start();
    if let Some(rest) = m.strip_prefix("line ") {
        if let Some((_, after)) = rest.split_once(": ") {
            if rest.split(':').next().is_some_and(|pos| pos.contains("column")) {
                m = after;
            }
        }
    }
    let general = "check indentation, quotes and brackets on this line and the one before";
    if let Some(rest) = m.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(", set DuplicateKeyPolicy").next().unwrap_or(rest);
        return (
            format!("duplicate key `{key}`"),
            "a key may appear once per map: remove or rename one of them".into(),
        );
    }
    let hint = if m.contains("quote") || m.contains("quoted scalar") {
        "a quoted value must end with the same quote, and nothing but `,` `}` `]` or a comment may follow it"
    } else if m.contains("mapping values are not allowed") || m.contains("':' indicator") {
        "quote a value that contains `: ` (e.g. `message: \"a: b\"`), or close the `[` or `{` before it"
    } else if m.contains("did not find expected key") || m.contains("indentation") {
        "keys of one map must start in the same column: check the indentation"
    } else if m.contains("flow sequence") || m.contains("flow mapping") {
        "a `[` or `{` was not closed, or an item lacks its `,`"
    } else {
        general
    };
    (m.to_string(), hint.to_string())
}

/// `30000` → integer, `0.5` → number, `true` → boolean, anything else → string.
pub fn parse_scalar(raw: &str) -> Node {
    if let Ok(i) = raw.parse::<i64>() {
        Node::Int(i)
    } else if let Ok(f) = raw.parse::<f64>() {
        Node::Float(f)
    } else if raw == "true" || raw == "false" {
        Node::Bool(raw == "true")
    } else {
        Node::Str(raw.to_string())
    }
}
