//! The scenario format as a JSON Schema (draft-07) for editors: completion, hover docs and
//! squiggles through the YAML language server. Built from the same key lists the loader
//! enforces and the same parameter schemas the actions validate with, so it cannot drift.
//! The loader stays the authority: it also checks names, expressions and references,
//! which a schema cannot.
use crate::load::{STEP_KEYS, TOP_KEYS};
use serde_json::{json, Map, Value};

/// `${…}` anywhere in a string: a template, whose type is only known when it is evaluated.
const TEMPLATE_PATTERN: &str = r"\$\{";
/// What `parse_duration` accepts: integer milliseconds, or `250ms`, `1.5s`, `2m30s`, `1h`.
const DURATION_PATTERN: &str = r"^\s*(\d+|(\d+(\.\d*)?\s*(ms|s|min|m|h)\s*)+)$";

/// The schema of a scenario (or included) file. `actions` holds each action's name,
/// summary and parameter schema (draft-07, as the action registry produces it).
pub fn scenario_schema(actions: &[(String, String, Value)]) -> Value {
    let mut defs = Map::new();
    defs.insert("template".into(), json!({ "type": "string", "pattern": TEMPLATE_PATTERN }));
    defs.insert(
        "duration".into(),
        json!({
            "description": "a duration: 250ms, 30s, 2m30s, 1h, integer milliseconds, or a `${var}` holding one",
            "anyOf": [
                { "type": "string", "pattern": DURATION_PATTERN },
                { "type": "integer", "minimum": 0 },
                { "$ref": "#/definitions/template" }
            ]
        }),
    );
    defs.insert(
        "expr".into(),
        json!({ "description": "a CEL expression over vars, step results (`<id>.<field>`) and metrics", "type": ["string", "boolean"] }),
    );
    defs.insert(
        "strings".into(),
        json!({ "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }] }),
    );
    defs.insert("steps".into(), json!({ "type": "array", "items": { "$ref": "#/definitions/step" } }));

    // A step is discriminated by its action key (`if` it has `docker.stop`, `then` it is a
    // docker.stop step), so a validator reports the misspelt parameter itself rather than
    // "not valid under any of the given schemas"; `properties` lists every key with its own
    // description, for completion and hover.
    let mut kinds: Vec<(String, String)> =
        ["use", "stop", "wait"].iter().map(|k| (k.to_string(), format!("{k}_step"))).collect();
    let mut keys = engine_keys();
    for (k, d) in [
        ("use", "expand a fragment: `- { use: <fragment>, id: <prefix>, with: {…} }`"),
        ("with", "the parameters of a `use` step's fragment"),
        ("stop", "end a background step: `- stop: <id>`"),
        ("wait", "wait for background polls: `- { id: w, wait: { any: [a, b] } }`"),
    ] {
        keys.insert(k.into(), json!({ "description": d }));
    }
    for (name, summary, params) in actions {
        let (params, action_defs) = templatable_params(name, params);
        defs.extend(action_defs);
        let mut props = engine_keys();
        props.insert(name.clone(), with_description(params, summary));
        let key = format!("action.{name}");
        defs.insert(
            key.clone(),
            json!({ "type": "object", "required": [name], "properties": props, "additionalProperties": false }),
        );
        keys.insert(name.clone(), json!({ "description": summary }));
        kinds.push((name.clone(), key));
    }
    let discriminate: Vec<Value> = kinds
        .iter()
        .map(|(k, d)| json!({ "if": { "required": [k] }, "then": { "$ref": format!("#/definitions/{d}") } }))
        .collect();
    let one_key: Vec<Value> = kinds.iter().map(|(k, _)| json!({ "required": [k] })).collect();
    defs.insert(
        "step".into(),
        json!({
            "type": "object",
            "description": "one action key (`testrunner actions`), `use:`, `stop:` or `wait:`, plus the engine's keys",
            "properties": keys,
            "additionalProperties": false,
            "allOf": discriminate,
            "anyOf": one_key
        }),
    );
    defs.insert(
        "use_step".into(),
        strict(
            json!({
                "use": { "type": "string", "description": "a fragment defined under `fragments:` here or in an included file" },
                "with": { "type": "object", "description": "the fragment's params" },
                "id": { "type": "string", "description": "prefix of the fragment's step ids" },
                "when": { "$ref": "#/definitions/expr" }
            }),
            &["use"],
        ),
    );
    defs.insert(
        "stop_step".into(),
        strict(
            json!({
                "stop": { "type": "string", "description": "the id of a background step to end" },
                "name": { "type": "string" }
            }),
            &["stop"],
        ),
    );
    let ids = json!({ "type": "array", "items": { "type": "string" }, "minItems": 1 });
    defs.insert(
        "wait_step".into(),
        strict(
            json!({
                "wait": {
                    "description": "waits for the first (`any`) or every (`all`) named background poll (`background: true` with `until`) to match; result: `winner`, `matched`",
                    "oneOf": [strict(json!({ "any": ids }), &["any"]), strict(json!({ "all": ids }), &["all"])]
                },
                "id": { "type": "string" },
                "name": { "type": "string" },
                "timeout": { "type": ["string", "integer"], "description": "how long to wait (default `defaults.step_timeout`)" }
            }),
            &["wait"],
        ),
    );
    defs.insert(
        "check".into(),
        strict(
            json!({
                "id": { "type": "string", "description": "unique, e.g. VAL17-04" },
                "name": { "type": "string" },
                "expect": { "anyOf": [{ "$ref": "#/definitions/expr" }, { "type": "array", "items": { "$ref": "#/definitions/expr" } }] },
                "metric": { "type": "string" },
                "unit": { "type": "string" },
                "threshold": { "type": ["string", "number", "integer", "boolean"] }
            }),
            &["id", "expect"],
        ),
    );
    defs.insert("checks".into(), json!({ "type": "array", "items": { "$ref": "#/definitions/check" } }));
    defs.insert(
        "metrics".into(),
        json!({
            "type": "object",
            "additionalProperties": { "anyOf": [
                { "type": "string" },
                strict(json!({
                    "value": { "$ref": "#/definitions/expr" },
                    "unit": { "type": "string" },
                    "regression": strict(json!({
                        "direction": { "enum": ["lower_is_better", "higher_is_better"] },
                        "tolerance": { "anyOf": [{ "type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$" }, { "type": "number" }] },
                        "min_delta": { "type": "number" }
                    }), &[])
                }), &["value"])
            ] }
        }),
    );
    defs.insert(
        "phase".into(),
        strict(
            json!({
                "name": { "type": "string" },
                "steps": { "$ref": "#/definitions/steps" },
                "checks": { "$ref": "#/definitions/checks" },
                "metrics": { "$ref": "#/definitions/metrics" },
                "repeat": { "anyOf": [{ "type": "integer", "minimum": 0 }, { "type": "string", "pattern": "^\\s*\\$\\{.*\\}\\s*$" }], "description": "a count, or a `${…}` giving one, e.g. `\"${cycles}\"`" },
                "for_each": { "description": "a list, or a `${…}` expression giving one" },
                "when": { "$ref": "#/definitions/expr" }
            }),
            &["name"],
        ),
    );

    let mut top = Map::new();
    for key in TOP_KEYS {
        let s = match *key {
            "scenario" => {
                json!({ "type": "string", "description": "the scenario id (default: the file name)" })
            }
            "title" | "description" => json!({ "type": "string" }),
            "tags" | "include" | "secrets" => json!({ "$ref": "#/definitions/strings" }),
            "timeout" => json!({ "$ref": "#/definitions/duration" }),
            "defaults" => strict(
                json!({
                    "step_timeout": { "$ref": "#/definitions/duration" },
                    "interval": { "$ref": "#/definitions/duration" },
                    "teardown_timeout": { "$ref": "#/definitions/duration" }
                }),
                &[],
            ),
            "vars" => {
                json!({ "type": "object", "description": "name: value; override with --var name=value" })
            }
            "fragments" => json!({
                "type": "object",
                "additionalProperties": strict(json!({
                    "description": { "type": "string" },
                    "params": { "type": ["object", "null"], "description": "name: default (null = required)" },
                    "steps": { "$ref": "#/definitions/steps" }
                }), &["steps"])
            }),
            "setup" | "teardown" => json!({ "$ref": "#/definitions/steps" }),
            "phases" => json!({ "type": "array", "items": { "$ref": "#/definitions/phase" } }),
            "checks" => json!({ "$ref": "#/definitions/checks" }),
            "metrics" => json!({ "$ref": "#/definitions/metrics" }),
            "outcome" => strict(json!({ "partial_if_passed": { "$ref": "#/definitions/strings" } }), &[]),
            "exit_codes" => json!({ "type": "array", "items": strict(json!({
                "when_failed": { "$ref": "#/definitions/strings" },
                "code": { "type": "integer", "minimum": 2, "maximum": 125, "not": { "const": 3 } }
            }), &["when_failed", "code"]) }),
            "hard_fail" => json!({ "type": "array", "items": strict(json!({
                "id": { "type": "string" },
                "when": { "$ref": "#/definitions/expr" },
                "message": { "type": "string" }
            }), &["when"]) }),
            other => unreachable!("TOP_KEYS has `{other}`, which the schema does not describe"),
        };
        top.insert(key.to_string(), s);
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "testrunner scenario",
        "description": "A testrunner scenario or included fragment file. Generated by `testrunner schema`.",
        "type": "object",
        "properties": top,
        "additionalProperties": false,
        "definitions": defs
    })
}

/// The engine's keys, valid on every action step.
fn engine_keys() -> Map<String, Value> {
    let mut m = Map::new();
    for key in STEP_KEYS {
        let s = match *key {
            "id" => json!({ "type": "string", "description": "read the step's outputs as <id>.<field>" }),
            "name" => json!({ "type": "string" }),
            "timeout" | "interval" => json!({ "$ref": "#/definitions/duration" }),
            "until" | "when" => json!({ "$ref": "#/definitions/expr" }),
            "retries" => json!({ "type": "integer", "minimum": 0 }),
            "save" => json!({ "type": "string", "description": "evidence file for the step's result" }),
            "background" | "allow_failure" => json!({ "type": "boolean" }),
            other => unreachable!("STEP_KEYS has `{other}`, which the schema does not describe"),
        };
        m.insert(key.to_string(), s);
    }
    m
}

fn strict(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

fn with_description(mut s: Value, text: &str) -> Value {
    if let Some(o) = s.as_object_mut() {
        o.entry("description").or_insert_with(|| json!(text));
    }
    s
}

/// An action's parameter schema with its definitions renamed under the action (so several
/// can live in one document), every value position also accepting a `${…}` template (as
/// the loader does), and durations checked by the duration pattern.
fn templatable_params(action: &str, params: &Value) -> (Value, Map<String, Value>) {
    let prefix = format!("{action}.");
    let mut defs = Map::new();
    if let Some(d) = params.get("definitions").and_then(Value::as_object) {
        for (k, v) in d {
            defs.insert(format!("{prefix}{k}"), rewrite(v, &prefix, true));
        }
    }
    let mut root = rewrite(params, &prefix, false);
    if let Some(o) = root.as_object_mut() {
        for k in ["$schema", "definitions", "title"] {
            o.remove(k);
        }
    }
    (root, defs)
}

/// Rewrites `$ref`s to the renamed definitions; `value` says whether `s` sits where a
/// parameter's value is validated (and so may also be a template).
fn rewrite(s: &Value, prefix: &str, value: bool) -> Value {
    let Some(o) = s.as_object() else { return s.clone() };
    let mut out = Map::new();
    for (k, v) in o {
        let v = match k.as_str() {
            "$ref" => json!(v
                .as_str()
                .unwrap_or_default()
                .replace("#/definitions/", &format!("#/definitions/{prefix}"))),
            "properties" | "patternProperties" => Value::Object(
                v.as_object()
                    .map(|m| m.iter().map(|(n, p)| (n.clone(), rewrite(p, prefix, true))).collect())
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" if v.is_object() => rewrite(v, prefix, true),
            "anyOf" | "oneOf" | "allOf" => Value::Array(
                v.as_array()
                    .map(|a| a.iter().map(|b| rewrite(b, prefix, false)).collect())
                    .unwrap_or_default(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    if out.get("format").and_then(Value::as_str) == Some("duration") {
        let mut d = Map::new();
        if let Some(desc) = out.get("description") {
            d.insert("description".into(), desc.clone());
        }
        d.insert("$ref".into(), json!("#/definitions/duration"));
        return Value::Object(d);
    }
    let plain_string = out.get("type") == Some(&json!("string")) && !out.contains_key("enum");
    if value && !plain_string {
        let description = out.get("description").cloned();
        let mut wrapped = Map::new();
        if let Some(d) = description {
            wrapped.insert("description".into(), d);
        }
        wrapped.insert("anyOf".into(), json!([Value::Object(out), { "$ref": "#/definitions/template" }]));
        return Value::Object(wrapped);
    }
    Value::Object(out)
}
