//! Validates a step's parameters (a spanned YAML tree) against its action's JSON schema and
//! compiles `${…}` templates in place. Errors point at the offending key or value.
use crate::diag::{did_you_mean, Diagnostic};
use crate::expr::Template;
use crate::model::Param;
use crate::node::{Node, SNode};
use crate::span::{Sources, Span};
use serde_json::Value;

pub struct ParamCheck<'a> {
    pub action: &'a str,
    pub root: &'a Value,
    pub sources: &'a Sources,
    pub diags: Vec<Diagnostic>,
}

impl<'a> ParamCheck<'a> {
    pub fn new(action: &'a str, root: &'a Value, sources: &'a Sources) -> Self {
        ParamCheck { action, root, sources, diags: vec![] }
    }

    /// Validates `node` against `schema` (a sub-schema of `root`), returning the compiled tree.
    pub fn check(&mut self, node: &SNode, schema: &Value, path: &str) -> Param {
        let schema = self.resolve(schema);
        // A template can produce any type; its type is checked when it is evaluated.
        if let Node::Str(s) = &node.value {
            if s.contains("${") {
                return compile_template(s, &node.span, self.sources, &mut self.diags);
            }
        }
        if let Some(branches) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array)
        {
            return self.check_any(node, branches, path);
        }
        if !self.type_ok(&node.value, schema) {
            let want = describe(schema, self.root);
            self.diags.push(
                Diagnostic::error(
                    format!("`{}` parameter `{path}` must be {want}, not {}", self.action, node.value.kind()),
                    node.span.clone(),
                )
                .label(format!("expected {want}"))
                .hint_opt(doc_hint(schema)),
            );
            return Param::Lit(node.value.to_json());
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            let v = node.value.to_json();
            if !options.contains(&v) {
                let names: Vec<String> =
                    options.iter().map(|o| o.as_str().map(String::from).unwrap_or(o.to_string())).collect();
                let hint = v
                    .as_str()
                    .and_then(|s| did_you_mean(s, names.iter().map(String::as_str)))
                    .unwrap_or_else(|| format!("one of: {}", names.join(", ")));
                self.diags.push(
                    Diagnostic::error(
                        format!("`{}` parameter `{path}` has no option {v}", self.action),
                        node.span.clone(),
                    )
                    .label("not an allowed value")
                    .hint(hint),
                );
            }
        }
        if schema.get("format").and_then(Value::as_str) == Some("duration") {
            if let Node::Str(s) = &node.value {
                if let Err(e) = crate::parse_duration(s) {
                    self.diags.push(
                        Diagnostic::error(e, node.span.clone())
                            .label("not a duration")
                            .hint("e.g. 250ms, 30s, 2m"),
                    );
                }
            }
        }
        match &node.value {
            Node::Map(entries) => self.check_map(node, entries, schema, path),
            Node::Seq(items) => {
                let item_schema = schema.get("items").cloned().unwrap_or(Value::Bool(true));
                Param::Seq(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, it)| self.check(it, &item_schema, &format!("{path}[{i}]")))
                        .collect(),
                )
            }
            _ => Param::Lit(node.value.to_json()),
        }
    }

    fn check_map(
        &mut self,
        node: &SNode,
        entries: &[(crate::Spanned<String>, SNode)],
        schema: &Value,
        path: &str,
    ) -> Param {
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties").cloned().unwrap_or(Value::Bool(true));
        let mut out = Vec::new();
        for (k, v) in entries {
            let child_path = if path.is_empty() { k.value.clone() } else { format!("{path}.{}", k.value) };
            let sub = props.and_then(|p| p.get(&k.value)).cloned();
            match (sub, &additional) {
                (Some(s), _) => out.push((k.value.clone(), self.check(v, &s, &child_path))),
                (None, Value::Bool(false)) => {
                    let known: Vec<&str> =
                        props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                    let hint = did_you_mean(&k.value, known.iter().copied())
                        .unwrap_or_else(|| format!("`{}` takes: {}", self.action, known.join(", ")));
                    let place = if path.is_empty() { String::new() } else { format!(" in `{path}`") };
                    self.diags.push(
                        Diagnostic::error(
                            format!("unknown parameter `{}`{place} for `{}`", k.value, self.action),
                            k.span.clone(),
                        )
                        .label("unknown parameter")
                        .hint(hint),
                    );
                }
                (None, Value::Bool(true)) => {
                    out.push((k.value.clone(), self.check(v, &Value::Bool(true), &child_path)))
                }
                (None, s) => {
                    let s = s.clone();
                    out.push((k.value.clone(), self.check(v, &s, &child_path)))
                }
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                // A typo of this very name was already reported with a did-you-mean.
                let misspelt = entries.iter().any(|(k, _)| {
                    props.is_some_and(|p| !p.contains_key(&k.value)) && did_you_mean(&k.value, [r]).is_some()
                });
                if !misspelt && !entries.iter().any(|(k, _)| k.value == r) {
                    let place =
                        if path.is_empty() { format!("`{}`", self.action) } else { format!("`{path}`") };
                    self.diags.push(
                        Diagnostic::error(format!("missing parameter `{r}` for {place}"), node.span.clone())
                            .label(format!("`{r}` is required here"))
                            .hint_opt(props.and_then(|p| p.get(r)).and_then(doc_hint)),
                    );
                }
            }
        }
        Param::Map(out)
    }

    fn check_any(&mut self, node: &SNode, branches: &[Value], path: &str) -> Param {
        // Try each branch quietly; keep the first that fits.
        for b in branches {
            let mut trial = ParamCheck::new(self.action, self.root, self.sources);
            let p = trial.check(node, b, path);
            if trial.diags.is_empty() {
                return p;
            }
        }
        // None fits: if exactly one branch has the node's type, report its (precise) errors.
        let fitting: Vec<&Value> =
            branches.iter().filter(|b| self.type_ok(&node.value, self.resolve(b))).collect();
        if fitting.len() == 1 {
            let b = fitting[0].clone();
            return self.check(node, &b, path);
        }
        let want: Vec<String> = branches.iter().map(|b| describe(self.resolve(b), self.root)).collect();
        self.diags.push(
            Diagnostic::error(
                format!(
                    "`{}` parameter `{path}` must be {}, not {}",
                    self.action,
                    want.join(" or "),
                    node.value.kind()
                ),
                node.span.clone(),
            )
            .label("unexpected value"),
        );
        Param::Lit(node.value.to_json())
    }

    fn resolve<'s>(&self, schema: &'s Value) -> &'s Value
    where
        'a: 's,
    {
        let mut s = schema;
        for _ in 0..16 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let ptr = r.trim_start_matches('#');
                    match self.root.pointer(ptr) {
                        Some(t) => s = t,
                        None => return s,
                    }
                }
                None => return s,
            }
        }
        s
    }

    fn type_ok(&self, node: &Node, schema: &Value) -> bool {
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        types.iter().any(|t| {
            matches!(
                (*t, node),
                ("null", Node::Null)
                    | ("boolean", Node::Bool(_))
                    | ("integer", Node::Int(_))
                    | ("number", Node::Int(_) | Node::Float(_))
                    | ("string", Node::Str(_))
                    | ("array", Node::Seq(_))
                    | ("object", Node::Map(_))
            )
        })
    }
}

/// Compiles a string with `${…}` into a template, reporting errors at their column.
pub fn compile_template(s: &str, span: &Span, sources: &Sources, diags: &mut Vec<Diagnostic>) -> Param {
    let quoted = sources
        .line(span)
        .and_then(|l| l.chars().nth(span.col.saturating_sub(1) as usize))
        .is_some_and(|c| c == '"' || c == '\'');
    let mut base = span.clone();
    if quoted {
        base.col += 1;
    }
    match Template::parse(s, &base) {
        Ok(t) => Param::Tmpl(t),
        Err((msg, offset)) => {
            let mut at = base.clone();
            if !s.contains('\n') {
                at.col += offset as u32;
            }
            at.len = 1;
            diags.push(
                Diagnostic::error(format!("invalid expression: {msg}"), at)
                    .label("here")
                    .hint(cel_hint(&msg)),
            );
            Param::Lit(Value::String(s.to_string()))
        }
    }
}

fn describe(schema: &Value, root: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(t) = root.pointer(r.trim_start_matches('#')) {
            return describe(t, root);
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("duration") {
        return "a duration".into();
    }
    let one = |t: &str| match t {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "a list",
        "object" => "a map",
        "null" => "null",
        _ => "a value",
    };
    match schema.get("type") {
        Some(Value::String(t)) => one(t).to_string(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .map(one)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "a value".into(),
    }
}

fn doc_hint(schema: &Value) -> Option<String> {
    schema.get("description").and_then(Value::as_str).map(|d| d.lines().next().unwrap_or(d).to_string())
}

/// The hint for a CEL compile error.
pub fn cel_hint(message: &str) -> String {
    if message.contains("reserved identifier") {
        "CEL reserves some words (namespace, package, loop, in, as, ...): rename the var, e.g. `kube_namespace`".into()
    } else {
        "expressions are CEL: `a.b == \"x\"`, `x <= 30000`, `size(list) > 0`, `a && b`".into()
    }
}
