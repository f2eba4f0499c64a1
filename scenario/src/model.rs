//! The typed scenario: what the loader produces and the engine runs.
use crate::expr::{Expr, Scope, Template};
use crate::kind::StepKind;
use crate::span::{Sources, Span};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub file: Arc<str>,
    /// Deadline for setup + phases (teardown has its own budget).
    pub timeout: Duration,
    pub defaults: Defaults,
    /// In declaration order; a var's value may use earlier vars.
    pub vars: Vec<VarDef>,
    pub secrets: Vec<String>,
    pub setup: Vec<Step>,
    pub phases: Vec<Phase>,
    pub teardown: Vec<Step>,
    /// Checks and metrics declared at the top level, evaluated after the last phase.
    pub final_checks: Vec<Check>,
    pub final_metrics: Vec<MetricDef>,
    pub outcome: OutcomeRule,
    pub exit_codes: Vec<ExitRule>,
    pub hard_fail: Vec<HardFail>,
    /// The text of every file read (the scenario and its includes), which spans point into.
    pub sources: Sources,
}

#[derive(Debug, Clone)]
pub struct Defaults {
    pub step_timeout: Duration,
    pub interval: Duration,
    pub teardown_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct VarDef {
    pub name: String,
    pub value: Param,
    pub span: Span,
    /// Set from `--var`, a vars file or the environment rather than the file.
    pub overridden: bool,
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub span: Span,
    pub steps: Vec<Step>,
    pub checks: Vec<Check>,
    pub metrics: Vec<MetricDef>,
    /// A count, or a `${…}` giving one (evaluated when the phase starts).
    pub repeat: Option<Param>,
    pub for_each: Option<Param>,
    pub when: Option<Expr>,
}

impl Phase {
    pub fn is_repeated(&self) -> bool {
        self.repeat.is_some() || self.for_each.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub name: Option<String>,
    /// The step's whole map, for errors about the step as a whole.
    pub span: Span,
    /// The action key as written (`http.get`, `stop`); what reports show.
    pub action: String,
    /// What the step is, decided from `action` once by the loader.
    pub kind: StepKind,
    pub action_span: Span,
    pub params: Param,
    pub timeout: Option<Duration>,
    pub until: Option<Expr>,
    pub interval: Option<Duration>,
    pub retries: u32,
    pub save: Option<Template>,
    pub background: bool,
    pub when: Option<Expr>,
    pub allow_failure: bool,
    /// For `assert` steps: the compiled `expect` expressions.
    pub assertions: Vec<Expr>,
    /// Set when the step came from a fragment (`use:`): its parameters and local ids.
    pub scope: Option<Arc<FragmentScope>>,
}

impl Step {
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// The background steps this `stop:` or `wait:` step ends (none for other steps).
    pub fn ends(&self) -> Vec<&str> {
        match (self.kind, &self.params) {
            (StepKind::Stop, Param::Lit(Value::String(id))) => vec![id.as_str()],
            (StepKind::Wait, Param::Lit(Value::Object(m))) => {
                m.values().filter_map(Value::as_array).flatten().filter_map(Value::as_str).collect()
            }
            _ => vec![],
        }
    }
}

/// The bindings a fragment's steps see: its parameters (evaluated in the caller's scope)
/// and short aliases for its own step ids (`ready` → `node1_ready`).
#[derive(Debug, Clone)]
pub struct FragmentScope {
    pub fragment: String,
    pub params: Vec<(String, Param)>,
    pub aliases: Arc<Vec<(String, String)>>,
    pub parent: Option<Arc<FragmentScope>>,
}

impl FragmentScope {
    /// Adds this fragment's bindings to `scope` (outermost first).
    pub fn bind(&self, scope: &mut Scope) -> Result<(), String> {
        if let Some(p) = &self.parent {
            p.bind(scope)?;
        }
        let caller = scope.clone();
        for (name, param) in &self.params {
            let v = param
                .eval(&caller)
                .map_err(|e| format!("fragment `{}` parameter `{name}`: {e}", self.fragment))?;
            scope.set(name.clone(), v);
        }
        for (short, full) in self.aliases.iter() {
            if let Some(v) = scope.get(full).cloned() {
                scope.set(short.clone(), v);
            }
        }
        Ok(())
    }
}

/// A parameter tree with `${…}` templates compiled in place.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Lit(Value),
    Tmpl(Template),
    Seq(Vec<Param>),
    Map(Vec<(String, Param)>),
}

impl Param {
    pub fn eval(&self, scope: &Scope) -> Result<Value, String> {
        Ok(match self {
            Param::Lit(v) => v.clone(),
            Param::Tmpl(t) => t.eval(scope)?,
            Param::Seq(items) => Value::Array(items.iter().map(|p| p.eval(scope)).collect::<Result<_, _>>()?),
            Param::Map(entries) => {
                Value::Object(entries.iter().map(|(k, p)| Ok((k.clone(), p.eval(scope)?))).collect::<Result<
                    _,
                    String,
                >>(
                )?)
            }
        })
    }

    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Param::Lit(_) => vec![],
            Param::Tmpl(t) => t.exprs().collect(),
            Param::Seq(items) => items.iter().flat_map(|p| p.exprs()).collect(),
            Param::Map(entries) => entries.iter().flat_map(|(_, p)| p.exprs()).collect(),
        }
    }

    /// Whether any part is a `${…}` template (else it is what the loader already checked).
    pub fn has_templates(&self) -> bool {
        match self {
            Param::Lit(_) => false,
            Param::Tmpl(_) => true,
            Param::Seq(items) => items.iter().any(Param::has_templates),
            Param::Map(entries) => entries.iter().any(|(_, p)| p.has_templates()),
        }
    }

    /// The parameter as written, `${…}` kept as text (for plans and the resolved scenario).
    pub fn as_written(&self) -> Value {
        match self {
            Param::Lit(v) => v.clone(),
            Param::Tmpl(t) => Value::String(t.source()),
            Param::Seq(items) => Value::Array(items.iter().map(|p| p.as_written()).collect()),
            Param::Map(entries) => {
                Value::Object(entries.iter().map(|(k, p)| (k.clone(), p.as_written())).collect())
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Param> {
        match self {
            Param::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub id: String,
    pub name: String,
    pub span: Span,
    pub phase: String,
    pub expect: Vec<Expr>,
    pub metric: Option<String>,
    pub unit: Option<String>,
    pub threshold: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MetricDef {
    pub name: String,
    pub span: Span,
    pub value: Expr,
    pub unit: Option<String>,
    pub regression: Option<Regression>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    pub lower_is_better: bool,
    /// Allowed relative change, e.g. 0.25 for 25%.
    pub tolerance: f64,
    /// Allowed absolute change in the metric's unit, added to the relative one (noise floor).
    pub min_delta: f64,
}

#[derive(Debug, Clone, Default)]
pub struct OutcomeRule {
    /// When not every check passed but all of these did, the verdict is PARTIAL.
    pub partial_if_passed: Vec<String>,
    /// Where each of `partial_if_passed` is written.
    pub partial_spans: Vec<Span>,
}

#[derive(Debug, Clone)]
pub struct ExitRule {
    pub when_failed: Vec<String>,
    /// Where each of `when_failed` is written.
    pub when_failed_spans: Vec<Span>,
    pub code: i32,
    pub span: Span,
}

/// An invariant that fails the run whenever it holds (`lost_rows > 0`).
#[derive(Debug, Clone)]
pub struct HardFail {
    pub id: String,
    pub expr: Expr,
    pub message: String,
}
