//! `testrunner explain <key>` for the scenario-level keys: what each does, with an example.
//! A test holds the list to the keys the JSON schema (and so the loader) accepts.

/// (key, where it goes, what it does, example).
pub const SCENARIO_KEYS: &[(&str, &str, &str, &str)] = &[
    ("scenario", "top level", "the scenario id; names the run directory (`runs/<id>/…`) and the JUnit suite. A plain name (letters, digits, `-`, `_`, `.`); default: the file name", "scenario: val17"),
    ("title", "top level", "a one-line title for every report", "title: \"VAL17 — Quorum Loss Validation\""),
    ("description", "top level", "free text shown in the HTML report", "description: |\n  Stop the primary, measure detection."),
    ("tags", "top level", "labels that select scenarios in a suite: `testrunner run scenarios/ --tags ha --exclude-tags slow` runs those with any of the tags and none of the excluded", "tags: [ha, quorum, slow]"),
    ("timeout", "top level", "the deadline of setup + phases (default 30m); undo and teardown have their own budget (`defaults.teardown_timeout`)", "timeout: 10m"),
    ("defaults", "top level", "`step_timeout` (every step's deadline unless it sets `timeout:`, default 30s), `interval` (polling period, default 200ms) and `teardown_timeout` (undo stack + teardown, default 2m)", "defaults: { step_timeout: 20s, interval: 200ms, teardown_timeout: 2m }"),
    ("include", "top level", "YAML files (inside the scenario's directory tree, or under `--include-root`) whose `vars`, `secrets` and `fragments` are brought in; cycles are errors, a file included twice is read once", "include: [fragments/pg.yaml]"),
    ("vars", "top level", "variables with their defaults, read in expressions and `${…}`; override with `--var name=value`, `--vars-file f.yaml` or `TESTRUNNER_VAR_name` (the type must match the default's)", "vars:\n  threshold_ms: 30000\n  pg_container: \"val17-pg-${run.id}\""),
    ("secrets", "top level", "names of vars whose values are masked (`****`) in the terminal, the journal, every report and every evidence file", "secrets: [pg_password]"),
    ("fragments", "top level", "reusable step lists with parameters, expanded by `- { use: <name>, id: <prefix>, with: {…} }` (step ids are prefixed `<prefix>_`)", "fragments:\n  start_pg:\n    params: { port: 5432 }\n    steps:\n      - exec: { argv: [pg_ctl, start] }"),
    ("setup", "top level", "steps run before the phases; a failure there is a harness error (exit 3) and no phase runs", "setup:\n  - id: port\n    net.free_port: {}"),
    ("phases", "top level", "the measured part: named lists of steps, each with its own `metrics` and `checks`; a failed step skips the later phases (their checks are errors)", "phases:\n  - name: loss\n    steps: [...]\n    checks: [...]"),
    ("teardown", "top level", "steps of your own run after the undo stack (which already removed what the steps created), within `defaults.teardown_timeout`; a failure is a harness error", "teardown:\n  - exec: { argv: [rm, -rf, \"${run.dir}/data\"] }"),
    ("repeat", "phase", "run the phase N times (a number or `${…}`); `loop.index` counts from 0, metrics become series (`x.max`, `x.median`, `x.p95`, `x.all`) and a check must hold in every iteration", "- name: cycles\n  repeat: \"${cycles}\"\n  steps: [...]"),
    ("for_each", "phase", "run the phase once per item of a list (or a `${…}` giving one); `loop.item` is the item, `loop.index` its position", "- name: per_node\n  for_each: [n1, n2, n3]\n  steps:\n    - process.signal: { name: \"${loop.item}\", signal: TERM }"),
    ("loop", "expressions in a repeated phase", "`loop.index` (0, 1, …) and `loop.item` (the `for_each` item) of the current iteration", "until: probe.json.epoch > loop.index"),
    ("metrics", "phase or top level", "named numbers computed from step results after the phase: `{ value: <expr>, unit, regression }`; a timing read from a poll carries its interval `[lo, hi]`; `regression:` compares with the baseline", "metrics:\n  loss_ms: { value: \"lost.first_match_ms - stop_pg.started_ms\", unit: ms,\n             regression: { direction: lower_is_better, tolerance: 50% } }"),
    ("checks", "phase or top level", "the verdict: `{ id, name, expect: <expr> | [<expr>, …] }` (all must hold), optional `metric`, `unit`, `threshold`; one JUnit test case each", "checks:\n  - { id: VAL17-03, name: loss_detection_timing_bound, expect: \"loss_ms <= threshold_ms\", metric: loss_ms, unit: ms }"),
    ("outcome", "top level", "`partial_if_passed: [IDs]`: when some check failed but every listed one passed, the verdict is PARTIAL (exit 1) instead of FAIL", "outcome: { partial_if_passed: [VAL17-02, VAL17-04] }"),
    ("hard_fail", "top level", "invariants as expressions over metrics and results: when one holds, the run fails with its message whatever the checks say", "hard_fail:\n  - { id: NO-LOSS, when: \"verify.lost > 0\", message: \"acknowledged rows lost\" }"),
    ("exit_codes", "top level", "map failed checks to an exit code (2, 4–125): the first entry whose `when_failed` checks all failed decides; default 1", "exit_codes:\n  - { when_failed: [D31-RTO], code: 2 }"),
];

pub fn find(key: &str) -> Option<&'static (&'static str, &'static str, &'static str, &'static str)> {
    SCENARIO_KEYS.iter().find(|(k, ..)| *k == key)
}

pub fn explain(key: &str) -> Option<String> {
    let (k, place, doc, example) = find(key)?;
    let example: String = example.lines().map(|l| format!("  {l}\n")).collect();
    Some(format!(
        "`{k}` ({place}): {doc}.\n\nExample:\n{example}\nAll scenario keys: {}\n",
        names().join(", ")
    ))
}

pub fn names() -> Vec<&'static str> {
    SCENARIO_KEYS.iter().map(|(k, ..)| *k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the schema accepts at the top level and in a phase is explained.
    #[test]
    fn every_scenario_key_is_explained() {
        let schema = testrunner_scenario::scenario_schema(&[]);
        let top = schema["properties"].as_object().unwrap().keys();
        let phase = schema["definitions"]["phase"]["properties"].as_object().unwrap().keys();
        for k in top.chain(phase).filter(|k| !matches!(k.as_str(), "name" | "steps" | "when")) {
            assert!(find(k).is_some(), "`testrunner explain {k}` has no entry");
        }
        for k in [
            "repeat",
            "for_each",
            "metrics",
            "checks",
            "outcome",
            "hard_fail",
            "exit_codes",
            "include",
            "defaults",
            "vars",
            "secrets",
            "tags",
            "loop",
        ] {
            assert!(explain(k).unwrap().contains("Example:"), "{k}");
        }
    }
}
