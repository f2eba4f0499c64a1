//! Fragments: declared step lists with parameters, expanded where `use:` names them.
use super::*;

impl Loader<'_> {
    pub(super) fn fragments_of(&mut self, node: &SNode) {
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
            let declared = f.get("params");
            match declared.map(|p| &p.value) {
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
                    declared.map(|p| p.span.clone()).unwrap_or_default(),
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

    pub(super) fn use_fragment(&mut self, node: &SNode, ctx: &StepCtx) -> Vec<Step> {
        let Some(f) = self.fields(node, "a `use` step", &["use", "with", "id", "when"]) else {
            return vec![];
        };
        // `use` is this step's key: how it was recognised as a fragment use.
        let Some(name_node) = f.get("use") else { return vec![] };
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

    /// Counts one step or fragment use; false (reported once) past [`MAX_EXPANDED`].
    pub(super) fn count_expansion(&mut self, at: &SNode) -> bool {
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

    /// Validates the steps of fragments no `use:` expanded (as they would be when used),
    /// so a mistake there is found before someone uses the fragment.
    pub(super) fn unused_fragments(&mut self) {
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
}

/// `chain` with every link that is `old` replaced by `new`.
pub(super) fn rebase(
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
