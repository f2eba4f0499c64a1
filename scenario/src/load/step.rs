//! Steps: one action (or built-in) with its keys, typed once into a [`Step`].
use super::*;

/// The keys a `stop` step may carry.
const STOP_KEYS: &[&str] = &["stop", "name"];
/// The keys a `wait` step may carry.
const WAIT_KEYS: &[&str] = &["wait", "id", "name", "timeout"];

/// What a step runs, found among its keys.
enum Head<'n> {
    /// `- stop: writers` ends a background step.
    Stop { target: String, span: Span },
    /// `- wait: { any: [n1, n2] }` waits for background polls.
    Wait(&'n SNode),
    /// A registered action (`http.get`, `set`, `assert`, ...) and its parameters.
    Action(&'n Spanned<String>, &'n SNode),
}

/// A step's keys besides its action; the keys its kind does not take read as absent
/// (they were reported as unknown already).
struct StepKeys<'n> {
    node: &'n SNode,
    allowed: &'static [&'static str],
}

impl<'n> StepKeys<'n> {
    fn get(&self, key: &str) -> Option<&'n SNode> {
        self.allowed.contains(&key).then(|| self.node.value.get(key)).flatten()
    }
}

/// The engine's keys of a step, read the same way whatever its kind.
struct Common {
    name: Option<String>,
    timeout: Option<Duration>,
    until: Option<Expr>,
    interval: Option<Duration>,
    retries: u32,
    save: Option<Template>,
    background: bool,
    when: Option<Expr>,
    allow_failure: bool,
}

impl Loader<'_> {
    pub(super) fn steps(&mut self, node: &SNode, ctx: &StepCtx) -> Vec<Step> {
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

    /// Every step, whatever it runs, is read here: its action, its id, its parameters,
    /// then the engine's keys its kind takes.
    pub(super) fn step(&mut self, node: &SNode, ctx: &StepCtx, index: usize) -> Option<Step> {
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
        let (head, allowed) = if let Some(target) = node.value.get("stop") {
            let id = self.string(target, "stop target")?;
            for (k, _) in entries.iter().filter(|(k, _)| !STOP_KEYS.contains(&k.value.as_str())) {
                self.err(Diagnostic::error(
                    format!("unknown key `{}` in a `stop` step", k.value),
                    k.span.clone(),
                ));
            }
            (Some(Head::Stop { target: id, span: target.span.clone() }), STOP_KEYS)
        } else if let Some(spec) = node.value.get("wait") {
            self.map(node, "a `wait` step", WAIT_KEYS);
            (Some(Head::Wait(spec)), WAIT_KEYS)
        } else {
            (self.action_key(entries).map(|(k, v)| Head::Action(k, v)), STEP_KEYS)
        };
        let keys = StepKeys { node, allowed };
        // A `stop` step's id is always generated: nothing reads its result.
        let explicit = keys.get("id").and_then(|n| {
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
        let Some(head) = head else {
            if !entries.iter().any(|(k, _)| !STEP_KEYS.contains(&k.value.as_str())) {
                self.err(Diagnostic::error("this step has no action", node.span.clone()).hint(
                    "add one action key, e.g. `http.get: { url: ... }`; `testrunner actions` lists them",
                ));
            }
            return None;
        };
        let mut assertions = vec![];
        let (action, kind, action_span, params, common) = match head {
            Head::Stop { target, span } => {
                let common = self.common_keys(&keys);
                ("stop".to_string(), StepKind::Stop, span, Param::Lit(Value::String(target)), common)
            }
            Head::Wait(spec) => {
                // A `wait` step's own keys are read before its list of ids.
                let common = self.common_keys(&keys);
                let params = self.wait_params(spec)?;
                ("wait".to_string(), StepKind::Wait, spec.span.clone(), params, common)
            }
            Head::Action(akey, aval) => {
                let kind = StepKind::of(&akey.value);
                let params = self.action_params(akey, aval, kind, ctx, &mut assertions);
                let common = self.common_keys(&keys);
                (akey.value.clone(), kind, akey.span.clone(), params, common)
            }
        };
        Some(Step {
            id,
            name: common.name,
            span: node.span.clone(),
            action,
            kind,
            action_span,
            params,
            timeout: common.timeout,
            until: common.until,
            interval: common.interval,
            retries: common.retries,
            save: common.save,
            background: common.background,
            when: common.when,
            allow_failure: common.allow_failure,
            assertions,
            scope: ctx.scope.clone(),
        })
    }

    /// The one action key among a step's keys; every other key that is not an engine key
    /// is reported (with a did-you-mean among keys or actions).
    fn action_key<'n>(
        &mut self,
        entries: &'n [(Spanned<String>, SNode)],
    ) -> Option<(&'n Spanned<String>, &'n SNode)> {
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
        action
    }

    /// An action's parameters, checked against its schema; `assert`'s expressions are
    /// compiled into `assertions`.
    fn action_params(
        &mut self,
        akey: &Spanned<String>,
        aval: &SNode,
        kind: StepKind,
        ctx: &StepCtx,
        assertions: &mut Vec<Expr>,
    ) -> Param {
        match kind {
            // `set` takes any names; `assert` takes bare expressions.
            StepKind::Set => self.value_param(aval),
            StepKind::Assert => {
                let schema = self.schema("assert");
                let mut pc = ParamCheck::new("assert", &schema, &self.sources);
                let p = pc.check(aval, &schema, "");
                self.diags.append(&mut pc.diags);
                match aval.value.get("expect") {
                    Some(one @ Spanned { value: Node::Str(_), .. }) => assertions.extend(self.expr(one)),
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
            _ => {
                let name = akey.value.as_str();
                let schema = self.schema(name);
                let mut pc = ParamCheck::new(name, &schema, &self.sources);
                pc.known = self.known_vars(ctx.scope.as_deref());
                let p = pc.check(aval, &schema, "");
                self.diags.append(&mut pc.diags);
                p
            }
        }
    }

    /// An action's parameter schema, asked of the catalog once per action: a scenario has
    /// many steps of few actions.
    fn schema(&mut self, action: &str) -> Arc<Value> {
        if let Some(s) = self.schemas.get(action) {
            return s.clone();
        }
        let s = Arc::new(self.catalog.schema(action).unwrap_or(Value::Bool(true)));
        self.schemas.insert(action.to_string(), s.clone());
        s
    }

    /// The engine's keys (`timeout`, `until`, `retries`, ...) as far as the step's kind
    /// takes them.
    fn common_keys(&mut self, f: &StepKeys) -> Common {
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
            // A setting that silently does nothing misleads: refuse it.
            self.err(
                Diagnostic::error("`interval` does nothing on a step without `until` or `retries`", n.span.clone())
                    .label("never used")
                    .hint("add `until: <condition>` to poll, or `retries: N` to re-run after a failure; or remove `interval`"),
            );
        }
        if retries > 0 && until.is_some() {
            self.err(
                Diagnostic::error("a step takes `until` or `retries`, not both", f.node.span.clone()).hint(
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
        Common { name, timeout, until, interval, retries, save, background, when, allow_failure }
    }

    /// `wait: { any: [n1, n2, n3] }`: the first (`any`) or every (`all`) of the named
    /// background polls.
    fn wait_params(&mut self, spec: &SNode) -> Option<Param> {
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
        Some(Param::Lit(Value::Object(params)))
    }

    pub(super) fn step_id(
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
}

pub(super) fn sanitize(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

pub fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}
