//! Phases and the small typed values they are made of (ids, durations, counts).
use super::*;

impl Loader<'_> {
    pub(super) fn defaults(&mut self, node: Option<&SNode>) -> Defaults {
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

    pub(super) fn phase(&mut self, node: &SNode) -> Option<Phase> {
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

    /// `repeat: 3` or `repeat: "${cycles}"`; a var with a literal value is checked here.
    pub(super) fn repeat(&mut self, n: &SNode) -> Option<Param> {
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

    /// An id (of the scenario, a check, a `use`, a hard_fail rule): a non-empty string.
    pub(super) fn id(&mut self, node: &SNode, what: &str) -> Option<String> {
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
    pub(super) fn id_list(&mut self, node: &SNode) -> Vec<(String, Span)> {
        match &node.value {
            Node::Seq(items) => {
                items.iter().filter_map(|i| Some((self.string(i, "a check id")?, i.span.clone()))).collect()
            }
            _ => self.string_list(node, "check ids").into_iter().map(|s| (s, node.span.clone())).collect(),
        }
    }

    pub(super) fn duration(&mut self, node: &SNode) -> Option<Duration> {
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
pub(super) fn shown(n: &Node) -> String {
    match n {
        Node::Seq(_) | Node::Map(_) => format!("a {}", n.kind()),
        other => other.to_json().to_string(),
    }
}

/// A scenario id names the default run directory (`runs/<id>/…`): a plain name only.
pub fn valid_scenario_id(id: &str) -> bool {
    id.len() <= 100
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !id.contains("..")
}
