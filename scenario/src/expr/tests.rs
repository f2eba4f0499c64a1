//! The expression language end to end: compile, evaluate, explain.
use super::*;
use serde_json::json;

fn scope() -> Scope {
    let mut s = Scope::new();
    s.set("lost", json!({"ok": true, "json": {"quorum_health": "lost", "count": 2}, "finished_ms": 1500}));
    s.set("stop_pg", json!({"started_ms": 1000}));
    s.set("threshold_ms", json!(30000));
    s.set("ratio", json!(0.5));
    s
}

#[test]
fn evaluates_and_compares_mixed_numbers() {
    let s = scope();
    let e = Expr::compile("lost.finished_ms - stop_pg.started_ms", Span::none()).unwrap();
    assert_eq!(e.eval(&s).unwrap(), json!(500));
    let e = Expr::compile("lost.json.quorum_health == \"lost\" && ratio < 1", Span::none()).unwrap();
    assert_eq!(e.eval(&s).unwrap(), json!(true));
    assert_eq!(e.roots(), vec!["lost", "ratio"]);
}

#[test]
fn explains_failed_comparison() {
    let s = scope();
    let e = Expr::compile("lost.json.count >= threshold_ms", Span::none()).unwrap();
    assert!(!e.eval_bool(&s).unwrap());
    assert_eq!(e.explain(&s), vec!["lost.json.count = 2", "threshold_ms = 30000", "wanted >="]);
    // A number against a string is never equal: the explanation says so.
    let e = Expr::compile("lost.json.count == '2'", Span::none()).unwrap();
    assert!(!e.eval_bool(&s).unwrap());
    let lines = e.explain(&s);
    assert_eq!(lines[..2], ["lost.json.count = 2".to_string(), "wanted == '2'".to_string()]);
    assert!(lines[2].starts_with("lost.json.count is a number and '2' is a string"), "{lines:?}");
}

#[test]
fn string_functions_users_reach_for() {
    let s = scope();
    let ev = |src: &str| Expr::compile(src, Span::none()).unwrap().eval(&s).unwrap();
    assert_eq!(ev("'a-b-c'.replace('-', '+')"), json!("a+b+c"));
    assert_eq!(ev("'a,b,c'.split(',')"), json!(["a", "b", "c"]));
    assert_eq!(ev("['a', 'b'].join('/')"), json!("a/b"));
    assert_eq!(ev("'Ünïcode PG'.lower()"), json!("ünïcode pg"));
    assert_eq!(ev("'primary'.upper()"), json!("PRIMARY"));
    assert_eq!(ev("' x\\t'.trim()"), json!("x"));
    assert_eq!(ev("lost.json.quorum_health.upper() == 'LOST'"), json!(true));
    for f in ["replace", "split", "join", "lower", "upper", "trim"] {
        assert!(function_exists(f), "{f}");
        assert!(FUNCTIONS.contains(&f), "{f}");
    }
    assert!(!function_exists("lowercase"));
}

#[test]
fn template_keeps_type_or_joins() {
    let s = scope();
    let t = Template::parse("${threshold_ms}", &Span::none()).unwrap();
    assert_eq!(t.eval(&s).unwrap(), json!(30000));
    let t = Template::parse("http://x:${threshold_ms}/q $${lit}", &Span::none()).unwrap();
    assert_eq!(t.eval(&s).unwrap(), json!("http://x:30000/q ${lit}"));
    let t = Template::parse("${ {'a': 1}.a }", &Span::none()).unwrap();
    assert_eq!(t.eval(&s).unwrap(), json!(1));
}

#[test]
fn compile_errors_have_offsets() {
    let err = Template::parse("x ${a +} y", &Span::none()).unwrap_err();
    assert!(err.1 >= 4, "{err:?}");
    assert!(Template::parse("x ${a", &Span::none()).is_err());
}

#[test]
fn syntax_errors_point_at_the_offending_token_in_plain_words() {
    let err = |src: &str| Expr::compile(src, Span::none()).unwrap_err();
    let e = err("first.exit_code == == 0");
    assert_eq!((e.message.as_str(), e.offset), ("unexpected `==`", 19));
    let e = err("a ==");
    assert_eq!((e.message.as_str(), e.offset), ("the expression ends too early", 4));
    let e = err("(a");
    assert_eq!((e.message.as_str(), e.offset), ("missing `)` before the end of the expression", 2));
    let e = err("a b");
    assert_eq!((e.message.as_str(), e.offset), ("unexpected `b`", 2));
    let e = err("\"abc");
    assert_eq!((e.message.as_str(), e.offset), ("unclosed string: add the closing quote", 0));
    // `loop` is renamed before compiling; positions are still those of the text as written.
    let e = err("loop.index == == 1");
    assert_eq!(e.offset, 14);
    let t = Template::parse("x ${a == == 1} y", &Span::none()).unwrap_err();
    assert_eq!(t, ("unexpected `==`".to_string(), 9));
}

#[test]
fn paths_and_functions_leave_out_macro_variables() {
    let e = Expr::compile(
        "b.json.x.y > 1 && xs.all(x, x.ok) && has(c.d) && size(b.stdout) > 0 && foo(1) && m[\"k\"] == 1",
        Span::none(),
    )
    .unwrap();
    assert_eq!(e.roots(), vec!["b", "c", "m", "xs"]);
    let paths = e.paths();
    assert!(paths.contains(&("b".into(), vec!["json".into(), "x".into(), "y".into()])), "{paths:?}");
    assert!(paths.contains(&("c".into(), vec!["d".into()])), "{paths:?}");
    assert!(paths.contains(&("m".into(), vec![])), "{paths:?}");
    assert_eq!(e.functions(), vec!["size", "foo"]);
    assert_eq!(e.unknown_functions(), vec!["foo"]);
}

#[test]
fn every_listed_function_exists() {
    let macros = ["has", "all", "exists", "exists_one", "map", "filter"];
    for f in FUNCTIONS.iter().filter(|f| !macros.contains(f)) {
        assert!(function_exists(f), "{f} is listed but does not exist");
    }
    assert!(!function_exists("foo"));
    // The strings extension is registered (`lowerAscii`); made-up names are not functions.
    assert!(function_exists("lowerAscii"));
    assert!(!function_exists("toLower"));
}

#[test]
fn first_ack_after_reads_a_writer_pools_acks() {
    let mut s = Scope::new();
    // [COMMIT sent, returned]: the one in flight at 1000 (sent 990) does not count.
    s.set("pool", json!({"acks": [[100, 120], [990, 1500], [1200, 1250], [1100, 1300]], "ok": true}));
    s.set("kill", json!({"started_ms": 1000}));
    let e = Expr::compile("pool.first_ack_after(kill.started_ms)", Span::none()).unwrap();
    assert_eq!(e.eval(&s).unwrap(), json!(1250));
    let e = Expr::compile("pool.first_ack_after(1201) == null", Span::none()).unwrap();
    assert_eq!(e.eval(&s).unwrap(), json!(true));
}

#[test]
fn missing_name_is_explained() {
    let e = Expr::compile("nope.ok", Span::none()).unwrap();
    let err = e.eval(&Scope::new()).unwrap_err();
    assert!(err.contains("`nope` has no value yet"), "{err}");
}

#[test]
fn runtime_errors_name_the_null_and_the_operator() {
    let mut s = Scope::new();
    s.set("kill", json!({"first_match_ms": null, "started_ms": 245}));
    let e = Expr::compile("kill.first_match_ms - kill.started_ms", Span::none()).unwrap();
    let err = e.eval(&s).unwrap_err();
    assert_eq!(
        err,
        "cannot subtract: `kill.first_match_ms` is null (the step never matched), in `kill.first_match_ms - kill.started_ms`"
    );
    assert!(!err.contains("Int(") && !err.contains("Null"), "{err}");
    let e = Expr::compile("kill.first_match_ms < 5", Span::none()).unwrap();
    let err = e.eval(&s).unwrap_err();
    assert!(err.starts_with("cannot compare: `kill.first_match_ms` is null"), "{err}");
    s.set("name", json!("x"));
    let e = Expr::compile("name * 2", Span::none()).unwrap();
    assert_eq!(e.eval(&s).unwrap_err(), "cannot multiply a string (\"x\") and a number (2), in `name * 2`");
}

#[test]
fn lo_and_hi_read_hidden_bounds_and_the_value_stays_a_number() {
    let mut s = Scope::new();
    s.set("loss_ms", json!(9900));
    s.set(bound_name("loss_ms", "lo"), json!(9820));
    s.set(bound_name("loss_ms", "hi"), json!(9900));
    let e = Expr::compile(
        "loss_ms <= 10000 && loss_ms.lo == 9820 && loss_ms.hi - loss_ms.lo == 80",
        Span::none(),
    )
    .unwrap();
    assert_eq!(e.eval(&s).unwrap(), json!(true));
    assert!(e.paths().contains(&("loss_ms".into(), vec!["lo".into()])), "{:?}", e.paths());
    assert_eq!(e.roots(), vec!["loss_ms"]);
    // A step output named `lo`, a macro variable's `lo` and a string are left alone.
    s.set("p", json!({"lo": 3}));
    s.set("xs", json!([{"lo": 1}]));
    let e = Expr::compile("p.lo == 3 && xs.all(x, x.lo == 1) && 'a.lo' == \"a.lo\"", Span::none()).unwrap();
    assert_eq!(e.eval(&s).unwrap(), json!(true));
    // A metric without an interval: said in words.
    s.set("plain", json!(1));
    let err = Expr::compile("plain.hi > 0", Span::none()).unwrap().eval(&s).unwrap_err();
    assert!(err.contains("`plain.hi` has no value: `plain` carries no uncertainty interval"), "{err}");
}

#[test]
fn loop_is_usable_despite_being_reserved() {
    let mut s = Scope::new();
    s.set("loop", json!({"index": 2}));
    let e = Expr::compile("loop.index + 1 == 3 && 'loop' == \"loop\"", Span::none()).unwrap();
    assert_eq!(e.roots(), vec!["loop"]);
    assert_eq!(e.eval(&s).unwrap(), json!(true));
}

#[test]
fn aggregates() {
    let mut s = Scope::new();
    s.set("xs", json!([1, 2, 3, 4]));
    let e = Expr::compile("sum(xs) == 10.0 && max(xs) == 4 && percentile(xs, 50.0) == 2.5", Span::none())
        .unwrap();
    assert_eq!(e.eval(&s).unwrap(), json!(true));
}

#[test]
fn a_source_is_compiled_once() {
    let a = Expr::compile("memo_probe.ok && memo_n > 1", Span::none()).unwrap();
    let b = Expr::compile("memo_probe.ok && memo_n > 1", Span::new(Arc::from("x.yaml"), 3, 4, 5)).unwrap();
    assert!(Arc::ptr_eq(&a.program, &b.program));
    assert_eq!((b.span.line, b.span.col), (3, 4), "the place is the caller's, not the memo's");
    // Negative control: another text is another program.
    let c = Expr::compile("memo_probe.ok && memo_n > 2", Span::none()).unwrap();
    assert!(!Arc::ptr_eq(&a.program, &c.program));
    // An error is the same error the second time.
    let e1 = Expr::compile("memo_n >", Span::none()).unwrap_err();
    let e2 = Expr::compile("memo_n >", Span::none()).unwrap_err();
    assert_eq!((e1.message, e1.offset), (e2.message, e2.offset));
}
