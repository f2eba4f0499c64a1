//! The names a scenario's expressions can read. A step's result is kept in the scope only
//! if one of them is its id: a run of many steps that nothing reads does not keep a copy
//! of every result (the journal and the report have them).
use std::collections::HashSet;
use testrunner_scenario::{Expr, FragmentScope, Param, Scenario, Step};

/// Every root name of every expression of `sc` (a superset of what is read: a name bound
/// inside a comprehension counts too), and every step id a fragment aliases.
pub(super) fn read_names(sc: &Scenario) -> HashSet<String> {
    let mut exprs: Vec<&Expr> = vec![];
    let mut aliased: Vec<String> = vec![];
    for v in &sc.vars {
        exprs.extend(v.value.exprs());
    }
    let steps = sc.setup.iter().chain(sc.phases.iter().flat_map(|p| &p.steps)).chain(&sc.teardown);
    for s in steps {
        step_exprs(s, &mut exprs, &mut aliased);
    }
    for p in &sc.phases {
        exprs.extend(p.repeat.iter().chain(&p.for_each).flat_map(Param::exprs));
        exprs.extend(&p.when);
        exprs.extend(p.checks.iter().flat_map(|c| &c.expect));
        exprs.extend(p.metrics.iter().map(|m| &m.value));
    }
    exprs.extend(sc.final_checks.iter().flat_map(|c| &c.expect));
    exprs.extend(sc.final_metrics.iter().map(|m| &m.value));
    exprs.extend(sc.hard_fail.iter().map(|h| &h.expr));
    let mut names: HashSet<String> = exprs.into_iter().flat_map(Expr::roots).collect();
    names.extend(aliased);
    names
}

fn step_exprs<'a>(s: &'a Step, exprs: &mut Vec<&'a Expr>, aliased: &mut Vec<String>) {
    exprs.extend(s.params.exprs());
    exprs.extend(&s.until);
    exprs.extend(&s.when);
    exprs.extend(&s.assertions);
    exprs.extend(s.save.iter().flat_map(|t| t.exprs()));
    let mut scope: Option<&'a FragmentScope> = s.scope.as_deref();
    while let Some(fs) = scope {
        exprs.extend(fs.params.iter().flat_map(|(_, p)| p.exprs()));
        // A fragment's steps read each other by short names: the full ids are what the
        // scope must hold for `bind` to alias them.
        aliased.extend(fs.aliases.iter().map(|(_, full)| full.clone()));
        scope = fs.parent.as_deref();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrunner_scenario::{load, Overrides};

    fn names(yaml: &str) -> HashSet<String> {
        let text = yaml.to_string();
        let read = move |_: &str| Ok(text.clone());
        let sc = load("t.yaml", &read, &crate::RegistryCatalog, &Overrides::default())
            .unwrap_or_else(|f| panic!("{}", f.render(false)));
        read_names(&sc.scenario)
    }

    #[test]
    fn the_ids_expressions_read_are_found_and_the_others_are_not() {
        let n = names(
            "vars: { n: 2 }\nphases:\n  - name: p\n    steps:\n      - { id: a, log: { message: hi } }\n      - { id: b, log: { message: \"${a.ok}\" } }\n      - { id: c, assert: { expect: [\"b.ok\"] } }\n      - { id: d, log: { message: x }, save: \"${d.message}.txt\" }\n      - { id: e, log: { message: y } }\n    checks:\n      - { id: C, expect: \"c.ok && n > 1\" }\n",
        );
        for read in ["a", "b", "c", "d", "n"] {
            assert!(n.contains(read), "{read} is read: {n:?}");
        }
        // Negative control: nothing reads `e`.
        assert!(!n.contains("e"), "{n:?}");
    }
}
