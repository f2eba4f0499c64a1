//! The Prometheus text-format parser: every construct of 0.0.4, escaping edge cases, and
//! malformed input rejected with its line number (the negative controls).
use std::collections::BTreeMap;
use testrunner_actions::metrics::{parse, selector, series_key, Family, Sample};

/// The example from the Prometheus exposition-format documentation, plus a summary.
const REFERENCE: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;

fn family<'a>(fs: &'a [Family], name: &str) -> &'a Family {
    fs.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no family {name}"))
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn one(text: &str) -> Sample {
    let fs = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(fs.len(), 1, "{fs:?}");
    assert_eq!(fs[0].samples.len(), 1);
    fs[0].samples[0].clone()
}

#[test]
fn the_reference_exposition() {
    let fs = parse(REFERENCE).unwrap();
    let names: Vec<&str> = fs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "http_requests_total",
            "msdos_file_access_time_seconds",
            "metric_without_timestamp_and_labels",
            "something_weird",
            "http_request_duration_seconds",
            "rpc_duration_seconds"
        ]
    );
    let reqs = family(&fs, "http_requests_total");
    assert_eq!((reqs.kind.as_str(), reqs.help.as_str()), ("counter", "The total number of HTTP requests."));
    assert_eq!(reqs.samples[0].labels, labels(&[("method", "post"), ("code", "200")]));
    assert_eq!((reqs.samples[0].value, reqs.samples[0].timestamp), (1027.0, Some(1395066363000)));
    assert_eq!(reqs.samples[1].value, 3.0, "several blanks before the value");
    let ms = &family(&fs, "msdos_file_access_time_seconds").samples[0];
    assert_eq!(ms.labels["path"], r"C:\DIR\FILE.TXT");
    assert_eq!(ms.labels["error"], "Cannot find file:\n\"FILE.TXT\"");
    assert_eq!(ms.value, 1.458255915e9);
    assert_eq!(family(&fs, "metric_without_timestamp_and_labels").kind, "untyped");
    let weird = &family(&fs, "something_weird").samples[0];
    assert_eq!((weird.value, weird.timestamp), (f64::INFINITY, Some(-3982045)));
}

#[test]
fn histogram_buckets_sum_and_count_form_one_family() {
    let fs = parse(REFERENCE).unwrap();
    let h = family(&fs, "http_request_duration_seconds");
    assert_eq!(h.kind, "histogram");
    assert_eq!(h.help, "A histogram of the request duration.");
    let buckets: Vec<(&str, f64)> = h
        .samples
        .iter()
        .filter(|s| s.name == "http_request_duration_seconds_bucket")
        .map(|s| (s.labels["le"].as_str(), s.value))
        .collect();
    assert_eq!(
        buckets,
        [
            ("0.05", 24054.0),
            ("0.1", 33444.0),
            ("0.2", 100392.0),
            ("0.5", 129389.0),
            ("1", 133988.0),
            ("+Inf", 144320.0)
        ]
    );
    let get = |n: &str| h.samples.iter().find(|s| s.name == n).unwrap().value;
    assert_eq!(get("http_request_duration_seconds_sum"), 53423.0);
    assert_eq!(get("http_request_duration_seconds_count"), 144320.0);
}

#[test]
fn summary_quantiles() {
    let fs = parse(REFERENCE).unwrap();
    let s = family(&fs, "rpc_duration_seconds");
    assert_eq!((s.kind.as_str(), s.samples.len()), ("summary", 7));
    let q: Vec<&str> =
        s.samples.iter().filter_map(|x| x.labels.get("quantile").map(String::as_str)).collect();
    assert_eq!(q, ["0.01", "0.05", "0.5", "0.9", "0.99"]);
    assert_eq!(s.samples[5].value, 1.7560473e+07);
    // Without a TYPE line, `_sum` is a metric of its own.
    let fs = parse("x_sum 1\nx_count 2\n").unwrap();
    assert_eq!(fs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["x_sum", "x_count"]);
}

#[test]
fn values_nan_infinities_and_scientific_notation() {
    for (text, want) in [
        ("1", 1.0),
        ("-0", 0.0),
        ("+3.5", 3.5),
        ("1.7560473e+07", 1.7560473e7),
        ("1E-3", 0.001),
        ("-2.5e3", -2500.0),
        (".5", 0.5),
        ("+Inf", f64::INFINITY),
        ("-Inf", f64::NEG_INFINITY),
    ] {
        assert_eq!(one(&format!("m {text}\n")).value, want, "{text}");
    }
    assert!(one("m NaN").value.is_nan(), "no trailing newline needed");
    assert_eq!(one("m 1 -5").timestamp, Some(-5));
}

#[test]
fn label_escaping_edge_cases() {
    let cases: &[(&str, &str)] = &[
        (r#"m{a="\\"} 1"#, "\\"),
        (r#"m{a="\""} 1"#, "\""),
        (r#"m{a="\n"} 1"#, "\n"),
        (r#"m{a="x\\n"} 1"#, "x\\n"), // an escaped backslash, then a plain n
        (r#"m{a="\\\""} 1"#, "\\\""),
        (r#"m{a=""} 1"#, ""),
        (r#"m{a="},{=\" 2"} 1"#, "},{=\" 2"),
        (r#"m{a="grüße # not a comment"} 1"#, "grüße # not a comment"),
    ];
    for (text, want) in cases {
        assert_eq!(one(text).labels["a"], *want, "{text}");
    }
    // series_key escapes back, so it reads like the exposition.
    let s = one(r#"m{b="x\\n\"q\"",a="1"} 1"#);
    assert_eq!(series_key(&s.name, &s.labels), r#"m{a="1",b="x\\n\"q\""}"#);
    assert_eq!(series_key("up", &BTreeMap::new()), "up");
}

#[test]
fn blanks_tabs_comments_and_line_endings() {
    let text = "# just a comment\n#\n  \t\n# HELP m  two  spaces kept\n# TYPE m gauge\r\n\tm{ a = \"1\" , b=\"2\", }\t7\t123\r\nm{} 8\n";
    let fs = parse(text).unwrap();
    let m = family(&fs, "m");
    assert_eq!((m.kind.as_str(), m.help.as_str()), ("gauge", "two  spaces kept"));
    assert_eq!(m.samples[0].labels, labels(&[("a", "1"), ("b", "2")]));
    assert_eq!((m.samples[0].value, m.samples[0].timestamp), (7.0, Some(123)));
    assert!(m.samples[1].labels.is_empty());
    // HELP escapes: `\\` and `\n`.
    let fs = parse("# HELP h a\\\\b\\nc\nh 1\n").unwrap();
    assert_eq!(fs[0].help, "a\\b\nc");
    // Colons in metric names; a TYPE without samples still declares its family.
    let fs = parse("# TYPE job:rate5m gauge\njob:rate5m 0.5\n# TYPE lonely counter\n").unwrap();
    assert_eq!(fs[0].samples[0].name, "job:rate5m");
    assert_eq!((fs[1].name.as_str(), fs[1].kind.as_str(), fs[1].samples.len()), ("lonely", "counter", 0));
    assert!(parse("").unwrap().is_empty());
}

#[test]
fn malformed_input_is_an_error_with_its_line_number() {
    let cases: &[(&str, usize, &str)] = &[
        ("ok 1\nm{a=\"1\" 2\n", 2, "expected `,` or `}`"),
        ("ok 1\n\nm notanumber\n", 3, "`notanumber` is not a sample value"),
        ("m\n", 1, "has no value"),
        ("m{a=\"\\q\"} 1\n", 1, "invalid escape `\\q`"),
        ("m{a=\"1} 1\n", 1, "unterminated value of label `a`"),
        ("m{a=\"1\" b=\"2\"} 1\n", 1, "expected `,` or `}`"),
        ("m{a 1} 1\n", 1, "expected `=` after label name `a`"),
        ("m{a=1} 1\n", 1, "expected `\"`"),
        ("m{a=\"1\",a=\"2\"} 1\n", 1, "label `a` appears twice"),
        ("m{1a=\"1\"} 1\n", 1, "expected a label name"),
        ("1abc 1\n", 1, "expected a metric name"),
        ("{a=\"b\"} 1\n", 1, "expected a metric name"),
        ("foo-bar 1\n", 1, "expected a blank after `foo`"),
        ("m 1 2 3\n", 1, "unexpected `3`"),
        ("m 1 1.5\n", 1, "`1.5` is not a timestamp"),
        ("m 1,5\n", 1, "not a sample value"),
        ("# TYPE m bogus\n", 1, "unknown metric type `bogus`"),
        ("# TYPE m\n", 1, "unknown metric type ``"),
        ("# TYPE m gauge extra\n", 1, "unexpected `extra`"),
        ("# TYPE m gauge\n# TYPE m counter\n", 2, "second TYPE line for `m`"),
        ("m 1\n# TYPE m gauge\n", 2, "TYPE line for `m` after its samples"),
        ("# HELP m a\n# HELP m b\n", 2, "second HELP line"),
        ("# HELP m bad \\t escape\n", 1, "invalid escape"),
        ("# TYPE 9m gauge\n", 1, "expected a metric name"),
        ("# TYPE h histogram\nh_bucket 1\n", 2, "lacks the `le` label"),
        ("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", 2, "`le=\"x\"` is not a number"),
        ("# TYPE s summary\ns 1\n", 2, "lacks the `quantile` label"),
    ];
    for (text, line, msg) in cases {
        let e = parse(text).expect_err(text);
        assert_eq!(e.line, *line, "{text:?}: {e}");
        assert!(e.message.contains(msg), "{text:?}: got `{}`, want `{msg}`", e.message);
    }
    // The column points at the problem.
    let e = parse("m{a=\"1\" b=\"2\"} 1").unwrap_err();
    assert_eq!((e.line, e.column), (1, 9), "{e}");
    assert_eq!(e.to_string(), "line 1, column 9: expected `,` or `}` after label `a`, found `b`");
}

#[test]
fn selectors_use_the_same_grammar() {
    let (n, l) = selector(r#" http_requests_total{code="200", method="get"} "#).unwrap();
    assert_eq!(n, "http_requests_total");
    assert_eq!(l, labels(&[("code", "200"), ("method", "get")]));
    assert_eq!(selector("up").unwrap(), ("up".to_string(), BTreeMap::new()));
    for bad in [r#"up{code=200}"#, "up 1", r#"{code="200"}"#, ""] {
        assert!(selector(bad).is_err(), "{bad}");
    }
}
