//! Vars and secrets: declarations, overrides from outside the file, literal values.
use super::*;

impl Loader<'_> {
    pub(super) fn vars_of(&mut self, node: &SNode, main: bool) {
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

    pub(super) fn secrets_of(&mut self, node: &SNode) {
        for s in self.string_list(node, "secrets") {
            if !self.secrets.contains(&s) {
                self.secrets.push(s);
            }
        }
    }

    pub(super) fn apply_overrides(&mut self, o: &Overrides) {
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

    /// Vars whose value is a literal, as a step sees them (a fragment's parameters hide
    /// vars of the same name).
    pub(super) fn known_vars(&self, scope: Option<&FragmentScope>) -> Vec<(String, Value)> {
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

    /// The var a value names when it is exactly `${name}` and the var's value (after
    /// overrides) is a literal, so it can be checked before the run.
    pub(super) fn literal_var(&self, node: &SNode) -> Option<(String, SNode)> {
        let Node::Str(s) = &node.value else { return None };
        let name = s.trim().strip_prefix("${")?.strip_suffix('}')?.trim();
        let (_, v, _) = self.vars.iter().find(|(n, _, _)| n.value == name)?;
        let templated = |n: &Node| matches!(n, Node::Str(x) if x.contains("${"));
        let nested = matches!(&v.value, Node::Seq(items) if items.iter().any(|i| templated(&i.value)));
        (!templated(&v.value) && !nested).then(|| (name.to_string(), v.clone()))
    }

    pub(super) fn value_param(&mut self, node: &SNode) -> Param {
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
}

/// The value an override's text gives a var declared as `declared`; Err names the type
/// the text does not fit.
pub(super) fn override_value(declared: &Node, raw: &str) -> Result<Node, &'static str> {
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

/// `30000` → integer, `0.5` → number, `true` → boolean, anything else → string.
pub(super) fn parse_scalar(raw: &str) -> Node {
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
