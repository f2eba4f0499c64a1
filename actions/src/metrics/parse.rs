//! A parser for the Prometheus text exposition format, version 0.0.4: `# HELP` / `# TYPE`
//! lines, comments, metric names, label sets with escapes (`\\`, `\"`, `\n`), values
//! (floats, scientific notation, `NaN`, `+Inf`, `-Inf`), optional millisecond timestamps,
//! histograms (`_bucket{le=…}`, `_sum`, `_count`) and summaries (`{quantile=…}`).
//! It reads character by character; malformed input is an error with its line and column,
//! never a silently skipped line.
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's own name: `x_bucket`, `x_sum`, `x_count` for a histogram `x`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// Milliseconds since the epoch, when the exposition gives one.
    pub timestamp: Option<i64>,
}

/// One metric family: the samples sharing a base name and its `# TYPE` / `# HELP`.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    /// counter | gauge | histogram | summary | untyped
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) where the problem was found.
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

const TYPES: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];

/// A position in one line, with the grammar's small pieces.
struct Cursor {
    chars: Vec<char>,
    i: usize,
}

type Res<T> = Result<T, (usize, String)>;

impl Cursor {
    fn new(line: &str) -> Self {
        Cursor { chars: line.chars().collect(), i: 0 }
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }
    fn at_end(&self) -> bool {
        self.i >= self.chars.len()
    }
    fn err<T>(&self, msg: impl Into<String>) -> Res<T> {
        Err((self.i + 1, msg.into()))
    }
    /// Spaces and tabs: the only separators the format knows.
    fn blanks(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(' ') | Some('\t')) {
            self.i += 1;
        }
        self.i - start
    }
    /// Everything up to the next blank or the end.
    fn token(&mut self) -> String {
        let start = self.i;
        while self.peek().is_some_and(|c| c != ' ' && c != '\t') {
            self.i += 1;
        }
        self.chars[start..self.i].iter().collect()
    }
    fn rest(&self) -> String {
        self.chars[self.i..].iter().collect()
    }
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    fn metric_name(&mut self) -> Res<String> {
        let start = self.i;
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':') {
            return self.err(match self.peek() {
                Some(c) => format!("expected a metric name, found `{c}`"),
                None => "expected a metric name".into(),
            });
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            self.i += 1;
        }
        Ok(self.chars[start..self.i].iter().collect())
    }
    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    fn label_name(&mut self) -> Res<String> {
        let start = self.i;
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') {
            return self.err(match self.peek() {
                Some(c) => format!("expected a label name, found `{c}`"),
                None => "expected a label name, found the end of the line".into(),
            });
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.i += 1;
        }
        Ok(self.chars[start..self.i].iter().collect())
    }
    /// After the opening quote: the value up to the closing one, unescaping `\\ \" \n`.
    fn label_value(&mut self, label: &str) -> Res<String> {
        let mut v = String::new();
        loop {
            match self.peek() {
                None => return self.err(format!("unterminated value of label `{label}` (missing `\"`)")),
                Some('"') => {
                    self.i += 1;
                    return Ok(v);
                }
                Some('\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some('\\') => v.push('\\'),
                        Some('"') => v.push('"'),
                        Some('n') => v.push('\n'),
                        Some(c) => return self.err(format!("invalid escape `\\{c}` in label `{label}`")),
                        None => return self.err(format!("unterminated value of label `{label}`")),
                    }
                    self.i += 1;
                }
                Some(c) => {
                    v.push(c);
                    self.i += 1;
                }
            }
        }
    }
    /// After `{`: `name="value"` pairs separated by commas (a trailing comma is allowed), `}`.
    fn label_set(&mut self) -> Res<BTreeMap<String, String>> {
        let mut labels = BTreeMap::new();
        loop {
            self.blanks();
            if self.peek() == Some('}') {
                self.i += 1;
                return Ok(labels);
            }
            let at = self.i;
            let name = self.label_name()?;
            self.blanks();
            if self.peek() != Some('=') {
                return self.err(format!("expected `=` after label name `{name}`"));
            }
            self.i += 1;
            self.blanks();
            if self.peek() != Some('"') {
                return self.err(format!("expected `\"` to open the value of label `{name}`"));
            }
            self.i += 1;
            let value = self.label_value(&name)?;
            if labels.insert(name.clone(), value).is_some() {
                return Err((at + 1, format!("label `{name}` appears twice")));
            }
            self.blanks();
            match self.peek() {
                Some(',') => self.i += 1,
                Some('}') => {}
                Some(c) => {
                    return self.err(format!("expected `,` or `}}` after label `{name}`, found `{c}`"))
                }
                None => return self.err("unterminated label set (missing `}`)"),
            }
        }
    }
    /// A metric name and its optional label set: a series, as in a sample or a selector.
    fn series(&mut self) -> Res<(String, BTreeMap<String, String>)> {
        let name = self.metric_name()?;
        let after_name = self.i;
        self.blanks(); // `name {…}` is allowed
        let labels = if self.peek() == Some('{') {
            self.i += 1;
            self.label_set()?
        } else {
            self.i = after_name;
            BTreeMap::new()
        };
        Ok((name, labels))
    }
}

/// `NaN`, `+Inf`, `-Inf` and Go's float syntax (which Rust's matches for decimal input).
fn parse_value(t: &str) -> Option<f64> {
    match t {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if t.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => t.parse().ok(),
        _ => None,
    }
}

fn parse_sample(line: &str) -> Res<Sample> {
    let mut c = Cursor::new(line);
    c.blanks();
    let (name, labels) = c.series()?;
    if c.blanks() == 0 && !c.at_end() {
        let found = c.peek().map(String::from).unwrap_or_default();
        return c.err(format!("expected a blank after `{name}`, found `{found}`"));
    }
    let at = c.i;
    let v = c.token();
    if v.is_empty() {
        return c.err(format!("sample `{name}` has no value"));
    }
    let value = parse_value(&v).ok_or((at + 1, format!("`{v}` is not a sample value")))?;
    c.blanks();
    let at = c.i;
    let timestamp = match c.token() {
        t if t.is_empty() => None,
        t => Some(t.parse::<i64>().map_err(|_| (at + 1, format!("`{t}` is not a timestamp (integer ms)")))?),
    };
    c.blanks();
    if !c.at_end() {
        return c.err(format!("unexpected `{}` after the sample", c.rest()));
    }
    Ok(Sample { name, labels, value, timestamp })
}

/// `# HELP` text: `\\` and `\n` are the only escapes.
fn unescape_help(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(ch) = it.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some(o) => return Err(format!("invalid escape `\\{o}` in HELP text")),
            None => return Err("HELP text ends with a lone `\\`".into()),
        }
    }
    Ok(out)
}

/// Families being built, in order of first appearance.
#[derive(Default)]
struct Builder {
    families: Vec<Family>,
    index: BTreeMap<String, usize>,
}

impl Builder {
    fn family(&mut self, name: &str) -> &mut Family {
        let n = self.families.len();
        let i = *self.index.entry(name.to_string()).or_insert(n);
        if i == n {
            self.families.push(Family {
                name: name.into(),
                kind: "untyped".into(),
                help: String::new(),
                samples: vec![],
            });
        }
        &mut self.families[i]
    }
    fn typed(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|i| self.families[*i].kind.as_str())
    }
    /// `x_bucket` / `x_sum` / `x_count` (and `_created`) belong to a histogram or summary `x`.
    fn family_of(&self, sample: &str) -> String {
        for suffix in ["_bucket", "_sum", "_count", "_created"] {
            if let Some(base) = sample.strip_suffix(suffix) {
                let kind = self.typed(base);
                if kind == Some("histogram") || (kind == Some("summary") && suffix != "_bucket") {
                    return base.to_string();
                }
            }
        }
        sample.to_string()
    }
}

/// Names that already had their `# HELP` / `# TYPE` line: a second one is an error.
#[derive(Default)]
struct Seen {
    help: BTreeSet<String>,
    kind: BTreeSet<String>,
}

/// `# HELP` / `# TYPE` / a comment.
fn parse_meta(b: &mut Builder, line: &str, seen: &mut Seen) -> Res<()> {
    let mut c = Cursor::new(line);
    c.blanks();
    c.i += 1; // '#'
    c.blanks();
    let keyword = c.token();
    if (keyword != "HELP" && keyword != "TYPE") || (c.blanks() == 0 && !c.at_end()) {
        return Ok(()); // a comment
    }
    let name = c.metric_name()?;
    if c.blanks() == 0 && !c.at_end() {
        return c.err(format!("expected a blank after `{name}`"));
    }
    if keyword == "HELP" {
        if !seen.help.insert(name.clone()) {
            return Err((1, format!("second HELP line for `{name}`")));
        }
        let at = c.i;
        let help = unescape_help(&c.rest()).map_err(|m| (at + 1, m))?;
        b.family(&name).help = help;
        return Ok(());
    }
    let at = c.i;
    let kind = c.token();
    if !TYPES.contains(&kind.as_str()) {
        return Err((at + 1, format!("unknown metric type `{kind}` (expected one of {})", TYPES.join(", "))));
    }
    c.blanks();
    if !c.at_end() {
        return c.err(format!("unexpected `{}` after the type", c.rest()));
    }
    if !seen.kind.insert(name.clone()) {
        return Err((1, format!("second TYPE line for `{name}`")));
    }
    let fam = b.family(&name);
    if !fam.samples.is_empty() {
        return Err((1, format!("TYPE line for `{name}` after its samples")));
    }
    fam.kind = kind;
    Ok(())
}

/// The label a histogram bucket or a summary quantile must carry, as a number.
fn check_shape(fam: &Family, s: &Sample) -> Result<(), String> {
    let need = match (fam.kind.as_str(), s.name.strip_prefix(&fam.name)) {
        ("histogram", Some("_bucket")) => "le",
        ("summary", Some("")) => "quantile",
        _ => return Ok(()),
    };
    match s.labels.get(need) {
        None => Err(format!("`{}` of {} `{}` lacks the `{need}` label", s.name, fam.kind, fam.name)),
        Some(v) if parse_value(v).is_none() => Err(format!("`{need}=\"{v}\"` is not a number")),
        Some(_) => Ok(()),
    }
}

/// Parses a whole exposition into its families, in order of first appearance.
pub fn parse(text: &str) -> Result<Vec<Family>, ParseError> {
    let mut b = Builder::default();
    let mut seen = Seen::default();
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let err = |(column, message): (usize, String)| ParseError { line: n, column, message };
        let content = line.trim_start_matches([' ', '\t']);
        if content.is_empty() {
            continue;
        }
        if content.starts_with('#') {
            parse_meta(&mut b, line, &mut seen).map_err(err)?;
            continue;
        }
        let sample = parse_sample(line).map_err(err)?;
        let fam_name = b.family_of(&sample.name);
        let fam = b.family(&fam_name);
        check_shape(fam, &sample).map_err(|m| err((1, m)))?;
        fam.samples.push(sample);
    }
    Ok(b.families)
}

/// `name{a="b"}` → (name, labels), the syntax of `select`.
pub fn selector(s: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let mut c = Cursor::new(s);
    c.blanks();
    let r = c.series().and_then(|r| {
        c.blanks();
        if c.at_end() {
            Ok(r)
        } else {
            c.err(format!("unexpected `{}` after the selector", c.rest()))
        }
    });
    r.map_err(|(col, m)| format!("column {col}: {m}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_value("1e3"), Some(1000.0));
        assert_eq!(parse_value("-1.5E-3"), Some(-0.0015));
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("-Inf"), Some(f64::NEG_INFINITY));
        for bad in ["", "1,5", "0x10", "inf", "12abc", "--1"] {
            assert_eq!(parse_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn help_escapes() {
        assert_eq!(unescape_help(r"a\\nb\nc").unwrap(), "a\\nb\nc");
        assert!(unescape_help(r"a\t").is_err());
    }
}
