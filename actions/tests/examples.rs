//! Every action's `example` (what `testrunner explain` prints) loads through the real loader
//! with the real registry: the action key, its parameters and their types, and the step
//! keys around it are all valid. Names the example takes from its surroundings (`leader`,
//! `primary_url`) are declared as vars; nothing else may be wrong.
use std::collections::BTreeSet;
use testrunner_actions::RegistryCatalog;
use testrunner_scenario::{load, LoadFailure, Overrides};

fn scenario(example: &str, context: &BTreeSet<String>) -> String {
    let mut text = String::new();
    if !context.is_empty() {
        text.push_str("vars:\n");
        for name in context {
            // Not a literal: its type is unknown before the run, so no slot refuses it.
            text.push_str(&format!("  {name}: \"${{run.id}}\"\n"));
        }
    }
    text.push_str("phases:\n  - name: p\n    steps:\n");
    for line in example.lines() {
        text.push_str(&format!("      {line}\n"));
    }
    text
}

fn try_load(text: String) -> Result<testrunner_scenario::Scenario, LoadFailure> {
    let read = move |_: &str| Ok(text.clone());
    load("example.yaml", &read, &RegistryCatalog, &Overrides::default()).map(|l| l.scenario)
}

/// The names an error calls unknown (`unknown name `leader` in ...`).
fn unknown_names(f: &LoadFailure) -> Option<BTreeSet<String>> {
    f.diagnostics
        .iter()
        .map(|d| Some(d.title.strip_prefix("unknown name `")?.split('`').next()?.to_string()))
        .collect()
}

#[test]
fn every_action_example_loads_with_the_real_registry() {
    let mut checked = 0;
    for action in testrunner_actions::all() {
        let spec = action.spec();
        assert!(!spec.example.trim().is_empty(), "{}: no example", spec.name);
        let mut context = BTreeSet::new();
        let sc = match try_load(scenario(spec.example, &context)) {
            Ok(sc) => sc,
            Err(f) => {
                let Some(names) = unknown_names(&f) else {
                    panic!("{}: its example does not load:\n{}", spec.name, f.render(false));
                };
                context.extend(names);
                try_load(scenario(spec.example, &context)).unwrap_or_else(|f| {
                    panic!("{}: its example does not load:\n{}", spec.name, f.render(false))
                })
            }
        };
        let steps = &sc.phases[0].steps;
        assert!(steps.iter().any(|s| s.action == spec.name), "{}: the example never uses it", spec.name);
        checked += 1;
    }
    assert!(checked > 30, "only {checked} actions registered");
}

#[test]
fn a_broken_example_is_refused() {
    // The negative control: a wrong parameter type and an unknown key are not forgiven.
    let bad = "- id: s\n  sleep: { duration: [1] }\n";
    let f = try_load(scenario(bad, &BTreeSet::new())).expect_err("a list is not a duration");
    assert!(unknown_names(&f).is_none(), "{}", f.render(false));
    let bad = "- docker.stop: { container: c, grace_period: 1s }\n";
    assert!(try_load(scenario(bad, &BTreeSet::new())).is_err(), "an unknown parameter is refused");
}

#[test]
fn faults_failovers_and_charts_are_declared_in_the_specs() {
    use testrunner_actions::{ActionTraits, Chart};
    let traits = |name: &str| testrunner_actions::find(name).map(|a| a.spec().traits);
    for fault in ["docker.stop", "docker.kill", "docker.restart", "docker.pause", "process.signal"] {
        assert_eq!(traits(fault), Some(ActionTraits::FAULT), "{fault}");
    }
    for fault in
        ["kube.patch", "kube.scale", "kube.delete", "net.partition", "net.netem", "docker.network_disconnect"]
    {
        assert_eq!(traits(fault), Some(ActionTraits::FAULT), "{fault}");
    }
    // What ends a fault is marked as a heal on the charts.
    for heal in ["docker.start", "docker.unpause", "net.heal", "net.netem_clear", "docker.network_connect"] {
        assert_eq!(traits(heal), Some(ActionTraits::HEAL), "{heal}");
    }
    assert_eq!(traits("http.sample").and_then(|t| t.chart), Some(Chart::Availability));
    assert_eq!(traits("sql.promote"), Some(ActionTraits::FAILOVER));
    assert_eq!(traits("sql.writers").and_then(|t| t.chart), Some(Chart::WriteRate));
    // Observers and setup declare nothing.
    for plain in ["http.get", "sql.query", "sleep", "exec", "docker.network_create"] {
        assert_eq!(traits(plain), Some(ActionTraits::NONE), "{plain}");
    }
}
