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
        let outer = schema;
        // A template can produce any type; its type is checked when it is evaluated. One
        // without expressions (`$${…}` only) is a literal and is checked like one.
        if let Node::Str(s) = &node.value {
            if s.contains("${") {
                let p = compile_template(s, &node.span, self.sources, &mut self.diags);
                if let Param::Tmpl(t) = &p {
                    if t.is_literal() {
                        if let Ok(Value::String(text)) = t.eval(&crate::Scope::new()) {
                            let lit = crate::Spanned::new(Node::Str(text), node.span.clone());
                            self.check_value(&lit, outer, path);
                        }
                    }
                }
                return p;
            }
        }
        self.check_value(node, outer, path)
    }

    /// [`Self::check`] for a value that is not a template.
    fn check_value(&mut self, node: &SNode, outer: &Value, path: &str) -> Param {
        let schema = self.resolve(outer);
        if let Some(options) = self.options(schema) {
            return self.check_options(node, schema, &options, path);
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
                .hint_opt(doc_hint(outer).or_else(|| doc_hint(schema))),
            );
            return Param::Lit(node.value.to_json());
        }
        if schema.get("format").and_then(Value::as_str) == Some("duration") {
            let problem = match &node.value {
                Node::Str(s) => crate::parse_duration(s).err(),
                Node::Int(i) if *i < 0 => Some(format!("`{i}` is not a duration: it is negative")),
                _ => None,
            };
            if let Some(e) = problem {
                self.diags.push(
                    Diagnostic::error(
                        format!("`{}` parameter `{path}`: {e}", self.action),
                        node.span.clone(),
                    )
                    .label("not a duration")
                    .hint("e.g. 250ms, 30s, 2m, or integer milliseconds"),
                );
            }
        }
        // Names that go into an API URL or a command line (docker-name, kube-name, ...).
        if let (Some(f), Node::Str(v)) = (schema.get("format").and_then(Value::as_str), &node.value) {
            if let Some(problem) = crate::names::check_format(f, v) {
                self.diags.push(
                    Diagnostic::error(
                        format!("`{}` parameter `{path}`: {problem}", self.action),
                        node.span.clone(),
                    )
                    .label("not a valid name"),
                );
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
                    let hint = did_you_mean(&k.value, known.iter().copied()).unwrap_or_else(|| {
                        let owner = if path.is_empty() { self.action.to_string() } else { path.to_string() };
                        format!(
                            "`{owner}` takes: {} (see `testrunner explain {}`)",
                            known.join(", "),
                            self.action
                        )
                    });
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

    /// The allowed values when `schema` is an enumeration: `enum`, `const`, or a `oneOf`/`anyOf`
    /// whose every branch is one (schemars writes documented enum variants that way). A
    /// `null` branch (an optional parameter) is left out.
    fn options(&self, schema: &Value) -> Option<Vec<Value>> {
        let schema = self.resolve(schema);
        if let Some(e) = schema.get("enum").and_then(Value::as_array) {
            return Some(e.clone());
        }
        if let Some(c) = schema.get("const") {
            return Some(vec![c.clone()]);
        }
        let branches = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array)?;
        let mut out = vec![];
        for b in branches {
            let b = self.resolve(b);
            if b.get("type").and_then(Value::as_str) == Some("null")
                && b.as_object().is_some_and(|o| o.len() == 1)
            {
                continue;
            }
            out.extend(self.options(b)?);
        }
        (!out.is_empty()).then_some(out)
    }

    fn check_options(&mut self, node: &SNode, schema: &Value, options: &[Value], path: &str) -> Param {
        let v = node.value.to_json();
        if v.is_null() && self.nullable(schema) {
            return Param::Lit(v);
        }
        if !options.contains(&v) {
            let names: Vec<String> =
                options.iter().map(|o| o.as_str().map(String::from).unwrap_or(o.to_string())).collect();
            let exact_case = v.as_str().and_then(|s| names.iter().find(|n| n.eq_ignore_ascii_case(s)));
            let hint = match exact_case {
                Some(n) => format!("did you mean `{n}`? (values are case-sensitive)"),
                None => v
                    .as_str()
                    .and_then(|s| did_you_mean(s, names.iter().map(String::as_str)))
                    .unwrap_or_else(|| format!("one of: {}", list(&names))),
            };
            let shown = match &v {
                Value::String(s) => format!("`{s}`"),
                other => format!("`{other}`"),
            };
            self.diags.push(
                Diagnostic::error(
                    format!("`{}` parameter `{path}` cannot be {shown}", self.action),
                    node.span.clone(),
                )
                .label("not an allowed value")
                .hint(hint),
            );
        }
        Param::Lit(v)
    }

    /// Whether `null` is accepted (an optional parameter written as `~`).
    fn nullable(&self, schema: &Value) -> bool {
        let schema = self.resolve(schema);
        if self.type_ok(&Node::Null, schema) && schema.get("type").is_some() {
            return true;
        }
        schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array).is_some_and(|bs| {
            bs.iter().any(|b| self.resolve(b).get("type").and_then(Value::as_str) == Some("null"))
        })
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
        resolve_in(schema, self.root)
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

/// Follows `$ref`s (and the single-branch `allOf` schemars wraps a documented `$ref` in)
/// to the schema that says what a value must be.
pub fn resolve_in<'s>(schema: &'s Value, root: &'s Value) -> &'s Value {
    let mut s = schema;
    for _ in 0..16 {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match root.pointer(r.trim_start_matches('#')) {
                Some(t) => s = t,
                None => return s,
            }
            continue;
        }
        match s.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
            Some([only]) if s.get("type").is_none() => s = only,
            _ => return s,
        }
    }
    s
}

fn list(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
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
    let schema = resolve_in(schema, root);
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
