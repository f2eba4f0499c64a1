//! A YAML document as a tree of spanned nodes. Every scalar, key, list and map keeps its
//! `file:line:col`, so validation long after parsing still points at the right character.
use crate::span::{Span, Spanned};
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

pub type SNode = Spanned<Node>;

impl Node {
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "boolean",
            Node::Int(_) => "integer",
            Node::Float(_) => "number",
            Node::Str(_) => "string",
            Node::Seq(_) => "list",
            Node::Map(_) => "map",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&SNode> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Plain JSON, spans dropped (for values that need no further validation).
    pub fn to_json(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(items) => Value::Array(items.iter().map(|n| n.value.to_json()).collect()),
            Node::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.value.clone(), v.value.to_json())).collect())
            }
        }
    }

    /// The inverse of [`Node::to_json`], every span set to `span`.
    pub fn from_json(v: &Value, span: &Span) -> SNode {
        let node = match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Node::Int(i),
                None => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Node::Str(s.clone()),
            Value::Array(items) => Node::Seq(items.iter().map(|i| Node::from_json(i, span)).collect()),
            Value::Object(map) => Node::Map(
                map.iter()
                    .map(|(k, v)| (Spanned::new(k.clone(), span.clone()), Node::from_json(v, span)))
                    .collect(),
            ),
        };
        Spanned::new(node, span.clone())
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub message: String,
    pub span: Span,
}

/// Parses one YAML document into a spanned tree.
pub fn parse_yaml(file: &Arc<str>, text: &str) -> Result<SNode, YamlError> {
    let opts = serde_saphyr::options! { strict_booleans: true };
    let raw: serde_saphyr::Spanned<RawNode> =
        serde_saphyr::from_str_with_options(text, opts).map_err(|e| {
            let (line, col) = e.location().map(|l| (l.line() as u32, l.column() as u32)).unwrap_or((0, 0));
            let message = first_line(&e.to_string());
            YamlError { message, span: Span::new(file.clone(), line, col, 1) }
        })?;
    let starts = crate::span::line_starts(text);
    Ok(convert(raw, file, &Src { text, starts: &starts }))
}

/// The text being converted, with its line index (finding a node's line must not rescan
/// the file: that made loading quadratic).
struct Src<'t> {
    text: &'t str,
    starts: &'t [usize],
}

fn first_line(s: &str) -> String {
    // serde-saphyr appends a rendered snippet; we render our own.
    plain_message(s.lines().next().unwrap_or(s).trim())
}

/// serde-saphyr's internal wordings (resource budgets, API advice) in plain words.
fn plain_message(m: &str) -> String {
    if m.contains("multiple YAML documents") || m.contains("from_str_multiple") {
        return "the file holds more than one YAML document (a `---` line): a scenario is one document"
            .into();
    }
    if m.contains("recursion limit") {
        return "values are nested too deeply".into();
    }
    let Some(rest) = m.split("budget breached: ").nth(1) else { return m.to_string() };
    let what = rest.split([' ', '{']).next().unwrap_or("");
    match what {
        "Depth" => "values are nested too deeply (at most 64 levels of lists and maps)".into(),
        "Nodes" => "the file holds too many values (at most 250000)".into(),
        "Aliases" | "Anchors" | "AliasAnchorRatio" => {
            "the file uses too many anchors or aliases (`&x`, `*x`)".into()
        }
        "ScalarBytes" => "the file's text values are too large (at most 64 MiB in all)".into(),
        "Documents" => "the file holds too many YAML documents".into(),
        _ => "the file is too large or too complex to read".into(),
    }
}

fn span_of(loc: &serde_saphyr::Location, file: &Arc<str>, len: usize) -> Span {
    Span::new(file.clone(), loc.line() as u32, loc.column() as u32, len.max(1) as u32)
}

fn convert(raw: serde_saphyr::Spanned<RawNode>, file: &Arc<str>, text: &Src) -> SNode {
    let loc = raw.referenced;
    let len = raw.value.width(text, &loc);
    let span = span_of(&loc, file, len);
    let node = match raw.value {
        RawNode::Null => Node::Null,
        RawNode::Bool(b) => Node::Bool(b),
        RawNode::Int(i) => Node::Int(i),
        RawNode::Float(f) => Node::Float(f),
        RawNode::Str(s) => Node::Str(s),
        RawNode::Seq(items) => Node::Seq(items.into_iter().map(|i| convert(i, file, text)).collect()),
        RawNode::Map(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let klen = k.value.chars().count();
                    (Spanned::new(k.value, span_of(&k.referenced, file, klen)), convert(v, file, text))
                })
                .collect(),
        ),
    };
    Spanned::new(node, span)
}

/// The tree as serde-saphyr hands it over; converted to [`Node`] with our own spans.
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<serde_saphyr::Spanned<RawNode>>),
    Map(Vec<(serde_saphyr::Spanned<String>, serde_saphyr::Spanned<RawNode>)>),
}

impl RawNode {
    /// How many characters a caret under this node should cover.
    fn width(&self, text: &Src, loc: &serde_saphyr::Location) -> usize {
        match self {
            RawNode::Str(s) => {
                // Quoted scalars are two characters wider than their value.
                // By byte offset when known: counting characters along a long line for
                // each of its values would be quadratic.
                let at = match loc.span().byte_offset().and_then(|o| text.text.get(o as usize..)) {
                    Some(rest) => rest.chars().next(),
                    None => crate::span::line_at(text.text, text.starts, loc.line() as u32)
                        .unwrap_or("")
                        .chars()
                        .nth((loc.column() as usize).saturating_sub(1)),
                };
                s.chars().count().min(200) + if matches!(at, Some('"') | Some('\'')) { 2 } else { 0 }
            }
            RawNode::Int(i) => i.to_string().len(),
            RawNode::Float(f) => f.to_string().len(),
            RawNode::Bool(b) => b.to_string().len(),
            _ => 1,
        }
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawNode;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_none<E>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawNode, D::Error> {
        RawNode::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
        i64::try_from(v).map(RawNode::Int).or(Ok(RawNode::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_saphyr::Spanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value::<serde_saphyr::Spanned<RawNode>>()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

/// Map keys are read as strings whatever their YAML type (`200:` is the key "200").
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = serde_saphyr::Spanned<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let raw = serde_saphyr::Spanned::<RawNode>::deserialize(d)?;
        let text = match raw.value {
            RawNode::Str(s) => s,
            RawNode::Int(i) => i.to_string(),
            RawNode::Float(f) => f.to_string(),
            RawNode::Bool(b) => b.to_string(),
            RawNode::Null => "null".into(),
            RawNode::Seq(_) | RawNode::Map(_) => return Err(de::Error::custom("a map key must be a scalar")),
        };
        Ok(serde_saphyr::Spanned::new(text, raw.referenced, raw.defined))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> SNode {
        parse_yaml(&Arc::from("t.yaml"), t).unwrap()
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let n = parse("a: 1\nsteps:\n  - http.get: { url: \"x\" }\n    timeout: 5s\n");
        let Node::Map(top) = &n.value else { panic!() };
        assert_eq!((top[1].0.span.line, top[1].0.span.col), (2, 1));
        let Node::Seq(steps) = &top[1].1.value else { panic!() };
        let step = &steps[0];
        let (k, v) = &match &step.value {
            Node::Map(e) => e.clone(),
            _ => panic!(),
        }[1];
        assert_eq!(k.value, "timeout");
        assert_eq!((k.span.line, k.span.col, k.span.len), (4, 5, 7));
        assert_eq!((v.span.line, v.span.col), (4, 14));
        let url = step.value.get("http.get").unwrap().value.get("url").unwrap();
        assert_eq!((url.span.line, url.span.col, url.span.len), (3, 22, 3));
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse_yaml(&Arc::from("t.yaml"), "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.span.line >= 1, "{e:?}");
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        assert!(parse_yaml(&Arc::from("t.yaml"), "a: 1\na: 2\n").is_err());
    }
}
