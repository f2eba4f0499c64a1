//! Shared parameter types and the decoder every action uses.
use crate::ActionError;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Decode the evaluated parameters into the action's typed struct.
/// Load-time validation already rejected unknown keys and wrong types; what can still fail
/// here is a `${…}` expression that evaluated to the wrong type.
pub fn decode<P: DeserializeOwned + JsonSchema + 'static>(params: Value) -> Result<P, ActionError> {
    let root = cached_schema::<P>();
    check_formats(&params, root, root).map_err(|e| ActionError::new(format!("invalid parameter {e}")))?;
    serde_json::from_value(params).map_err(|e| ActionError::new(format!("invalid parameters: {e}")))
}

/// [`schema`], generated once per parameter type: generating it took 12 % of the CPU of a
/// run of 10,000 probes when every step did it (docs/performance.md).
fn cached_schema<P: JsonSchema + 'static>() -> &'static Value {
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    // One leaked value per parameter type: bounded by the number of actions.
    static CACHE: LazyLock<Mutex<HashMap<TypeId, &'static Value>>> = LazyLock::new(Mutex::default);
    let mut cache = crate::sync::lock(&CACHE);
    if let Some(v) = cache.get(&TypeId::of::<P>()).copied() {
        return v;
    }
    let v: &'static Value = Box::leak(Box::new(schema::<P>()));
    cache.insert(TypeId::of::<P>(), v);
    v
}

/// The JSON schema of a parameter struct, as the registry publishes it.
pub fn schema<P: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07();
    let generator = settings.into_generator();
    generator.into_root_schema_for::<P>().to_value()
}

/// A duration parameter: `"250ms"`, `"30s"`, `"2m"`, `"1h"`, or an integer number of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn ms(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Ms(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Ms(ms) => Ok(Dur::ms(ms)),
            Raw::Text(s) => {
                testrunner_scenario::parse_duration(&s).map(Dur).map_err(serde::de::Error::custom)
            }
        }
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a duration: \"250ms\", \"30s\", \"2m\", \"1h\", or integer milliseconds",
            "type": ["string", "integer"],
            "format": "duration"
        })
    }
}

/// Signal names a parameter of type [`SignalName`] accepts (each also with a `SIG` prefix).
pub const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE",
    "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ",
    "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// The schema of a signal-name parameter: `SIGKILL` or `KILL`, ... . Use it on a `String`
/// field with `#[schemars(with = "crate::params::SignalName")]` (or
/// `Option<crate::params::SignalName>`), so `check` refuses `SIGFOO` with a did-you-mean.
pub struct SignalName;

impl JsonSchema for SignalName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SignalName".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<String> = SIGNALS.iter().flat_map(|s| [format!("SIG{s}"), s.to_string()]).collect();
        schemars::json_schema!({
            "description": "a signal name: SIGTERM or TERM, SIGKILL or KILL, ...",
            "type": "string",
            "format": "signal",
            "enum": names
        })
    }
}

/// A signal for the Docker Engine, which takes names (`SIGINT`, `INT`) and numbers (`"9"`):
/// [`SignalName`]'s names plus 1–64 as text. `#[schemars(with = "Option<crate::params::DockerSignal>")]`.
pub struct DockerSignal;

impl JsonSchema for DockerSignal {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DockerSignal".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<String> = SIGNALS
            .iter()
            .flat_map(|s| [format!("SIG{s}"), s.to_string()])
            .chain((1..=64).map(|n: u32| n.to_string()))
            .collect();
        schemars::json_schema!({
            "description": "a signal name (SIGTERM or TERM, ...) or number (\"9\")",
            "type": "string",
            "format": "signal",
            "enum": names
        })
    }
}

/// The schema of a regular-expression parameter (Rust `regex` syntax): `check` compiles it,
/// so a bad pattern is refused with its place before anything runs. Use
/// `#[schemars(with = "crate::params::RegexText")]` (or `Option<…>`) on a `String` field.
pub struct RegexText;

impl JsonSchema for RegexText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Regex".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a regular expression (Rust regex syntax), e.g. \"ready to accept connections\"",
            "type": "string",
            "format": "regex"
        })
    }
}

/// Schemas of names checked against their pattern (`testrunner_scenario::names`): at load
/// when literal, by [`decode`] when templated. Use with `#[schemars(with = "...")]`.
macro_rules! name_schema {
    ($ty:ident, $format:literal, $desc:literal) => {
        pub struct $ty;
        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "description": $desc, "type": "string", "format": $format })
            }
        }
    };
}
name_schema!(DockerName, "docker-name", "a Docker container name or id");
name_schema!(DockerImage, "docker-image", "a Docker image reference");
name_schema!(KubeName, "kube-name", "a Kubernetes object name (RFC 1123)");
name_schema!(KubeKind, "kube-kind", "a Kubernetes resource kind");
name_schema!(KubeNamespace, "kube-namespace", "a Kubernetes namespace (RFC 1123 label)");

/// Checks every string that has a name `format` in `schema` (run time: templated values).
fn check_formats(v: &Value, schema: &Value, root: &Value) -> Result<(), String> {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r.rsplit('/').next().and_then(|n| root.get("definitions")?.get(n)).unwrap_or(schema),
        None => schema,
    };
    if let (Some(f), Value::String(s)) = (schema.get("format").and_then(Value::as_str), v) {
        if let Some(p) = testrunner_scenario::names::check_format(f, s) {
            return Err(p);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for b in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            check_formats(v, b, root)?;
        }
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let Some(s) = schema.get("properties").and_then(|p| p.get(k)) {
                    check_formats(x, s, root).map_err(|e| format!("`{k}`: {e}"))?;
                }
            }
        }
        Value::Array(a) => {
            if let Some(s) = schema.get("items") {
                a.iter().try_for_each(|x| check_formats(x, s, root))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// HTTP methods a parameter of type [`HttpMethod`] accepts.
pub const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The schema of an HTTP method parameter; use it with
/// `#[schemars(with = "crate::params::HttpMethod")]` on a `String` field.
pub struct HttpMethod;

impl JsonSchema for HttpMethod {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HttpMethod".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "an HTTP method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS",
            "type": "string",
            "enum": HTTP_METHODS
        })
    }
}

#[cfg(test)]
mod tests {
    //! Load-time validation with the real parameter schemas: what `testrunner check` says.
    use super::*;
    use crate::RegistryCatalog as Registry;
    use testrunner_scenario::{load, Overrides};

    /// (title, line, col, hint) of every error for one step's text.
    fn errors(step: &str) -> Vec<(String, u32, u32, Option<String>)> {
        let text = format!("phases:\n  - name: p\n    steps:\n      - {step}\n");
        let read = move |_: &str| Ok(text.clone());
        match load("s.yaml", &read, &Registry, &Overrides::default()) {
            Ok(_) => vec![],
            Err(f) => f
                .diagnostics
                .iter()
                .map(|d| (d.title.clone(), d.span.line, d.span.col, d.hint.clone()))
                .collect(),
        }
    }

    #[test]
    fn sleep_duration_is_a_typed_duration() {
        for bad in ["10 sec", "banana", "-5s"] {
            let e = errors(&format!("sleep: {{ duration: {bad} }}"));
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
            assert!(e[0].0.starts_with("`sleep` parameter `duration`: "), "{e:?}");
            assert_eq!((e[0].1, e[0].2), (4, 28), "{bad}");
            assert_eq!(e[0].3.as_deref(), Some("e.g. 250ms, 30s, 2m, or integer milliseconds"));
        }
        let e = errors("sleep: { duration: -5 }");
        assert!(e[0].0.contains("negative"), "{e:?}");
        let e = errors("sleep: { duration: [1] }");
        assert!(e[0].0.contains("must be a duration, not list"), "{e:?}");
        for good in ["250ms", "1.5s", "2m30s", "100", "\"${string(1)}s\""] {
            assert_eq!(errors(&format!("sleep: {{ duration: {good} }}")), vec![], "{good}");
        }
    }

    #[test]
    fn every_core_parameter_has_a_type() {
        for name in ["sleep", "log", "assert", "fail", "exec", "net.free_port"] {
            let params = crate::find(name).unwrap().spec().params;
            for (k, v) in params["properties"].as_object().unwrap() {
                let resolved = match v.get("allOf").and_then(|a| a[0]["$ref"].as_str()) {
                    Some(r) => params.pointer(r.trim_start_matches('#')).unwrap().clone(),
                    None => v.clone(),
                };
                let typed =
                    ["type", "anyOf", "oneOf", "enum", "$ref"].iter().any(|t| resolved.get(t).is_some());
                assert!(typed, "{name}.{k} has no type: {v}");
            }
        }
    }

    #[test]
    fn enumerated_values_are_checked_with_a_suggestion() {
        let e = errors("sql.writers: { url: \"postgres://x\", mode: bogus }");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "`sql.writers` parameter `mode` cannot be `bogus`");
        assert_eq!((e[0].1, e[0].2), (4, 51));
        assert_eq!(e[0].3.as_deref(), Some("one of: `insert`, `copy`"));
        let e = errors("sql.writers: { url: \"postgres://x\", mode: cpy }");
        assert_eq!(e[0].3.as_deref(), Some("did you mean `copy`?"));
        assert_eq!(errors("sql.writers: { url: \"postgres://x\", mode: copy }"), vec![]);
        assert_eq!(errors("sql.writers: { url: \"postgres://x\", mode: ~ }"), vec![]);
        // A template is checked when it is evaluated, unless it is only text.
        assert_eq!(errors("sql.writers: { url: \"postgres://x\", mode: \"${'co' + 'py'}\" }"), vec![]);
        let e = errors("docker.wait: { container: x, state: \"$${x}\" }");
        assert!(e[0].0.contains("cannot be `${x}`"), "{e:?}");
        let e = errors("docker.wait: { container: x, state: runing }");
        assert_eq!(e[0].3.as_deref(), Some("did you mean `running`?"));
    }

    #[test]
    fn regular_expression_parameters_are_compiled_at_load_time() {
        for step in [
            "process.spawn: { name: s, argv: [x], ready: { log_regex: \"ready (to\" } }",
            "docker.run: { image: i, name: n, ready: { log_regex: \"[a-\" } }",
            "file.grep: { path: f, pattern: \"*x\" }",
        ] {
            let e = errors(step);
            assert_eq!(e.len(), 1, "{step}: {e:?}");
            assert!(e[0].0.contains("is not a valid regular expression: "), "{e:?}");
            assert_eq!(e[0].1, 4, "{e:?}");
        }
        let e = errors("file.grep: { path: f, pattern: \"*x\" }");
        assert_eq!(e[0].0, "`file.grep` parameter `pattern` is not a valid regular expression: repetition operator missing expression");
        assert_eq!(e[0].2, 40);
        assert_eq!(errors("file.grep: { path: f, pattern: \"^ready (to|for)\\\\b\" }"), vec![]);
    }

    #[test]
    fn text_around_a_template_is_a_string_an_integer_slot_refuses() {
        let e = errors("process.spawn: { name: s, argv: [x], ready: { port: \"80${1}\" } }");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "`process.spawn` parameter `ready.port` must be an integer, not a string");
        assert_eq!(errors("process.spawn: { name: s, argv: [x], ready: { port: \"${80}\" } }"), vec![]);
    }

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct WithEnums {
        #[schemars(with = "SignalName")]
        signal: String,
        #[schemars(with = "Option<SignalName>")]
        stop_signal: Option<String>,
        #[schemars(with = "HttpMethod")]
        method: String,
        #[schemars(with = "Option<DockerSignal>")]
        docker_signal: Option<String>,
    }

    #[test]
    fn templated_names_are_checked_when_decoded() {
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)] // only decoded
        struct P {
            /// Container.
            #[schemars(with = "DockerName")]
            container: String,
            #[schemars(with = "Option<KubeNamespace>")]
            namespace: Option<String>,
        }
        let e = decode::<P>(serde_json::json!({"container": "x/../../info#"})).err().unwrap();
        assert!(
            e.message.contains("`container`: `x/../../info#` is not a Docker container name"),
            "{}",
            e.message
        );
        let e = decode::<P>(serde_json::json!({"container": "pg", "namespace": "--all"})).err().unwrap();
        assert!(e.message.contains("not a Kubernetes namespace"), "{}", e.message);
        assert!(decode::<P>(serde_json::json!({"container": "pg", "namespace": "ha"})).is_ok());
        assert!(decode::<P>(serde_json::json!({"container": "pg"})).is_ok());
    }

    #[test]
    fn signal_and_method_schemas_enumerate_their_values() {
        let s = schema::<WithEnums>();
        let root = &s;
        let names = |field: &str| -> Vec<String> {
            let mut v = &root["properties"][field];
            if let Some(b) = v.get("anyOf") {
                v = &b[0];
            }
            let r = v["$ref"].as_str().unwrap();
            root.pointer(r.trim_start_matches('#')).unwrap()["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        };
        assert!(names("signal").contains(&"SIGKILL".to_string()));
        assert!(names("signal").contains(&"TERM".to_string()));
        assert!(names("stop_signal").contains(&"SIGINT".to_string()));
        assert_eq!(names("method"), HTTP_METHODS);
        // The Engine also takes numbers; never a made-up name.
        let docker = names("docker_signal");
        assert!(docker.contains(&"SIGINT".to_string()) && docker.contains(&"9".to_string()));
        assert!(!docker.contains(&"SIGFOO".to_string()) && !docker.contains(&"65".to_string()));
        // Every listed signal is one the process actions can send.
        for s in SIGNALS {
            assert!(format!("SIG{s}").parse::<nix::sys::signal::Signal>().is_ok(), "{s}");
        }
    }
}
