//! The fully resolved scenario (includes inlined, fragments expanded, overrides applied,
//! secrets masked) as YAML, and its fingerprint: what `scenario.yaml` in a run directory
//! holds and what `plan` prints.
use crate::format_duration;
use crate::kind::StepKind;
use crate::mask::MASK;
use crate::model::{Scenario, Step};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The resolved scenario as YAML and its fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The fully resolved scenario (includes inlined, fragments expanded) as YAML.
    pub yaml: String,
    /// sha256 of `yaml`, hex.
    pub fingerprint: String,
}

impl Scenario {
    /// Rendered on demand: `check` never needs it, a run needs it once.
    pub fn resolved(&self) -> Resolved {
        let yaml =
            serde_saphyr::to_string(&to_json(self)).unwrap_or_else(|e| format!("# could not render: {e}\n"));
        let fingerprint = hex::encode(Sha256::digest(yaml.as_bytes()));
        Resolved { yaml, fingerprint }
    }
}

fn to_json(sc: &Scenario) -> Value {
    let vars: Map<String, Value> = sc
        .vars
        .iter()
        .map(|v| {
            let value =
                if sc.secrets.contains(&v.name) { Value::String(MASK.into()) } else { v.value.as_written() };
            (v.name.clone(), value)
        })
        .collect();
    let phases: Vec<Value> = sc
        .phases
        .iter()
        .map(|p| {
            let mut m = Map::new();
            m.insert("name".into(), json!(p.name));
            if let Some(r) = &p.repeat {
                m.insert("repeat".into(), r.as_written());
            }
            if let Some(f) = &p.for_each {
                m.insert("for_each".into(), f.as_written());
            }
            if let Some(w) = &p.when {
                m.insert("when".into(), json!(w.source));
            }
            m.insert("steps".into(), steps(&p.steps));
            if !p.metrics.is_empty() {
                m.insert(
                    "metrics".into(),
                    Value::Object(
                        p.metrics
                            .iter()
                            .map(|x| (x.name.clone(), json!({"value": x.value.source, "unit": x.unit})))
                            .collect(),
                    ),
                );
            }
            if !p.checks.is_empty() {
                m.insert("checks".into(), checks(&p.checks));
            }
            Value::Object(m)
        })
        .collect();
    let mut doc = Map::new();
    doc.insert("scenario".into(), json!(sc.id));
    doc.insert("title".into(), json!(sc.title));
    doc.insert("timeout".into(), json!(format_duration(sc.timeout)));
    doc.insert(
        "defaults".into(),
        json!({
            "step_timeout": format_duration(sc.defaults.step_timeout),
            "interval": format_duration(sc.defaults.interval),
            "teardown_timeout": format_duration(sc.defaults.teardown_timeout),
        }),
    );
    doc.insert("vars".into(), Value::Object(vars));
    if !sc.secrets.is_empty() {
        doc.insert("secrets".into(), json!(sc.secrets));
    }
    doc.insert("setup".into(), steps(&sc.setup));
    doc.insert("phases".into(), Value::Array(phases));
    if !sc.final_checks.is_empty() {
        doc.insert("checks".into(), checks(&sc.final_checks));
    }
    doc.insert("teardown".into(), steps(&sc.teardown));
    if !sc.outcome.partial_if_passed.is_empty() {
        doc.insert("outcome".into(), json!({"partial_if_passed": sc.outcome.partial_if_passed}));
    }
    if !sc.exit_codes.is_empty() {
        doc.insert(
            "exit_codes".into(),
            Value::Array(
                sc.exit_codes.iter().map(|r| json!({"when_failed": r.when_failed, "code": r.code})).collect(),
            ),
        );
    }
    if !sc.hard_fail.is_empty() {
        doc.insert(
            "hard_fail".into(),
            Value::Array(
                sc.hard_fail
                    .iter()
                    .map(|h| json!({"id": h.id, "when": h.expr.source, "message": h.message}))
                    .collect(),
            ),
        );
    }
    Value::Object(doc)
}

fn checks(cs: &[crate::model::Check]) -> Value {
    Value::Array(
        cs.iter()
            .map(|c| {
                let mut m = Map::new();
                m.insert("id".into(), json!(c.id));
                m.insert("name".into(), json!(c.name));
                m.insert(
                    "expect".into(),
                    json!(c.expect.iter().map(|e| e.source.clone()).collect::<Vec<_>>()),
                );
                if let Some(t) = &c.threshold {
                    m.insert("threshold".into(), json!(t));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

pub fn step_json(s: &Step) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(s.id));
    if let Some(n) = &s.name {
        m.insert("name".into(), json!(n));
    }
    let params = if s.kind == StepKind::Assert {
        json!({"expect": s.assertions.iter().map(|e| e.source.clone()).collect::<Vec<_>>()})
    } else {
        s.params.as_written()
    };
    m.insert(s.action.clone(), params);
    if let Some(sc) = &s.scope {
        let with: Map<String, Value> = sc.params.iter().map(|(k, p)| (k.clone(), p.as_written())).collect();
        m.insert("from_fragment".into(), json!({"use": sc.fragment, "with": with}));
    }
    if let Some(t) = s.timeout {
        m.insert("timeout".into(), json!(format_duration(t)));
    }
    if let Some(u) = &s.until {
        m.insert("until".into(), json!(u.source));
    }
    if let Some(i) = s.interval {
        m.insert("interval".into(), json!(format_duration(i)));
    }
    if s.retries > 0 {
        m.insert("retries".into(), json!(s.retries));
    }
    if let Some(sv) = &s.save {
        m.insert("save".into(), json!(sv.source()));
    }
    if s.background {
        m.insert("background".into(), json!(true));
    }
    if let Some(w) = &s.when {
        m.insert("when".into(), json!(w.source));
    }
    if s.allow_failure {
        m.insert("allow_failure".into(), json!(true));
    }
    Value::Object(m)
}

fn steps(ss: &[Step]) -> Value {
    Value::Array(ss.iter().map(step_json).collect())
}
