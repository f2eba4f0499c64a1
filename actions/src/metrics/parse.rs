//! A parser for the Prometheus text exposition format 0.0.4: `# HELP` / `# TYPE`, label
//! sets with escapes (`\\`, `\"`, `\n`), optional timestamps, NaN / ±Inf, histograms and
//! summaries. Malformed input is an error with its line number, never a silent skip.
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The family a sample belongs to: `x_bucket`, `x_sum`, `x_count` belong to histogram /
/// summary `x` when `x` was declared so.
fn family_of(name: &str, kinds: &BTreeMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count", "_created"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if matches!(kinds.get(base).map(String::as_str), Some("histogram") | Some("summary")) {
                return base.to_string();
            }
        }
    }
    name.to_string()
}

pub fn parse(text: &str) -> Result<Vec<Family>, ParseError> {
    let mut families: Vec<Family> = vec![];
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix("TYPE ") {
                let mut it = r.split_whitespace();
                let (name, kind) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
                if !matches!(kind, "counter" | "gauge" | "histogram" | "summary" | "untyped") {
                    return Err(ParseError { line: n, message: format!("unknown metric type `{kind}`") });
                }
                kinds.insert(name.to_string(), kind.to_string());
            } else if let Some(r) = rest.strip_prefix("HELP ") {
                let (name, help) = r.split_once(' ').unwrap_or((r, ""));
                helps.insert(name.to_string(), help.replace("\\n", "\n").replace("\\\\", "\\"));
            }
            continue; // other comments
        }
        let sample = parse_sample(line).map_err(|m| ParseError { line: n, message: m })?;
        let fam = family_of(&sample.name, &kinds);
        match families.iter_mut().find(|f| f.name == fam) {
            Some(f) => f.samples.push(sample),
            None => families.push(Family {
                kind: kinds.get(&fam).cloned().unwrap_or_else(|| "untyped".into()),
                help: helps.get(&fam).cloned().unwrap_or_default(),
                name: fam,
                samples: vec![sample],
            }),
        }
    }
    // A TYPE seen after the first sample still names the family's type.
    for f in &mut families {
        if let Some(k) = kinds.get(&f.name) {
            f.kind = k.clone();
        }
        if let Some(h) = helps.get(&f.name) {
            f.help = h.clone();
        }
    }
    Ok(families)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    if !chars.first().is_some_and(|c| is_name_start(*c)) {
        return Err(format!("expected a metric name at `{line}`"));
    }
    while i < chars.len() && is_name_char(chars[i]) {
        i += 1;
    }
    let name: String = chars[..i].iter().collect();
    let mut labels = BTreeMap::new();
    if chars.get(i) == Some(&'{') {
        i += 1;
        loop {
            while chars.get(i).is_some_and(|c| c.is_whitespace()) {
                i += 1;
            }
            match chars.get(i) {
                Some('}') => {
                    i += 1;
                    break;
                }
                None => return Err("unterminated label set".into()),
                _ => {}
            }
            let start = i;
            if !chars.get(i).is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') {
                return Err(format!("bad label name at column {}", i + 1));
            }
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let lname: String = chars[start..i].iter().collect();
            if chars.get(i) != Some(&'=') || chars.get(i + 1) != Some(&'"') {
                return Err(format!("expected =\" after label `{lname}`"));
            }
            i += 2;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated value of label `{lname}`")),
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => {
                                return Err(format!(
                                    "bad escape \\{} in label `{lname}`",
                                    other.map(|c| c.to_string()).unwrap_or_default()
                                ))
                            }
                        }
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
            labels.insert(lname, value);
            while chars.get(i).is_some_and(|c| c.is_whitespace()) {
                i += 1;
            }
            if chars.get(i) == Some(&',') {
                i += 1;
            }
        }
    }
    let rest: String = chars[i..].iter().collect();
    let mut parts = rest.split_whitespace();
    let v = parts.next().ok_or_else(|| format!("sample `{name}` has no value"))?;
    let value = match v {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse::<f64>().map_err(|_| format!("`{other}` is not a number"))?,
    };
    let timestamp = match parts.next() {
        Some(t) => Some(t.parse::<i64>().map_err(|_| format!("`{t}` is not a timestamp"))?),
        None => None,
    };
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected `{extra}` after the sample"));
    }
    Ok(Sample { name, labels, value, timestamp })
}

/// `name{a="b"}` → (name, labels) for `select`.
pub fn selector(s: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let with_value = format!("{} 0", s.trim());
    parse_sample(&with_value).map(|x| (x.name, x.labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# A comment
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.99"} NaN
rpc_duration_seconds_sum 1.7560473e+07
"#;

    #[test]
    fn parses_the_reference_example() {
        let f = parse(TEXT).unwrap();
        let http = f.iter().find(|f| f.name == "http_requests_total").unwrap();
        assert_eq!((http.kind.as_str(), http.samples.len()), ("counter", 2));
        assert_eq!(http.samples[0].timestamp, Some(1395066363000));
        let ms = f.iter().find(|f| f.name == "msdos_file_access_time_seconds").unwrap();
        assert_eq!(ms.samples[0].labels["path"], "C:\\DIR\\FILE.TXT");
        assert_eq!(ms.samples[0].labels["error"], "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(ms.samples[0].value, 1.458255915e9);
        let weird = f.iter().find(|f| f.name == "something_weird").unwrap();
        assert!(weird.samples[0].value.is_infinite() && weird.samples[0].timestamp == Some(-3982045));
        let h = f.iter().find(|f| f.name == "http_request_duration_seconds").unwrap();
        assert_eq!((h.kind.as_str(), h.samples.len()), ("histogram", 4));
        let s = f.iter().find(|f| f.name == "rpc_duration_seconds").unwrap();
        assert!(s.samples[0].value.is_nan());
        assert_eq!(s.kind, "summary");
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        for (text, line) in [
            ("ok 1\nbad{x=\"1\" 2\n", 2),
            ("a 1\nb notanumber\n", 2),
            ("x{a=\"\\q\"} 1\n", 1),
            ("# TYPE x bogus\n", 1),
            ("x 1 2 3\n", 1),
            ("{a=\"b\"} 1\n", 1),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e:?}");
        }
    }

    #[test]
    fn selectors() {
        let (n, l) = selector(r#"http_requests_total{code="200"}"#).unwrap();
        assert_eq!(n, "http_requests_total");
        assert_eq!(l["code"], "200");
    }
}
