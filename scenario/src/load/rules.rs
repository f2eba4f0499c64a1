//! Verdict rules: checks, metrics and their regression limits, outcome, exit codes, hard fails.
use super::*;

impl Loader<'_> {
    pub(super) fn checks(&mut self, node: &SNode, phase: &str) -> Vec<Check> {
        let Node::Seq(items) = &node.value else {
            self.err(Diagnostic::error("`checks` must be a list", node.span.clone()));
            return vec![];
        };
        let mut out = vec![];
        for item in items {
            let Some(f) =
                self.fields(item, "a check", &["id", "name", "expect", "metric", "unit", "threshold"])
            else {
                continue;
            };
            let id_span = f.get("id").map(|n| n.span.clone()).unwrap_or_else(|| item.span.clone());
            let Some(id_node) = f.get("id") else {
                self.err(
                    Diagnostic::error("a check needs an `id`", item.span.clone()).hint("e.g. `id: VAL17-01`"),
                );
                continue;
            };
            let Some(id) = self.id(id_node, "check id") else { continue };
            let name = f.get("name").and_then(|n| self.string(n, "check name")).unwrap_or_else(|| id.clone());
            let mut expect = vec![];
            match f.get("expect") {
                Some(Spanned { value: Node::Seq(es), span }) if es.is_empty() => self.err(
                    Diagnostic::error(format!("check `{id}` has an empty `expect`"), span.clone())
                        .label("nothing to check")
                        .hint("a check needs at least one expression, e.g. `expect: probe.ok`"),
                ),
                Some(Spanned { value: Node::Seq(es), .. }) => {
                    for e in es {
                        expect.extend(self.expr(e));
                    }
                }
                Some(e) => expect.extend(self.expr(e)),
                None => self.err(
                    Diagnostic::error(format!("check `{id}` has no `expect`"), id_span.clone())
                        .label("this check needs `expect`")
                        .hint("add `expect:` with an expression (or a list; all must hold), e.g. `expect: probe.ok`"),
                ),
            }
            let metric = f.get("metric").and_then(|n| {
                let m = self.string(n, "metric")?;
                self.metric_refs.push((m.clone(), n.span.clone()));
                Some(m)
            });
            let unit = f.get("unit").and_then(|n| self.string(n, "unit"));
            let threshold = f.get("threshold").map(|n| match &n.value {
                Node::Str(s) => s.clone(),
                other => other.to_json().to_string(),
            });
            out.push(Check {
                id,
                name,
                span: id_span,
                phase: phase.to_string(),
                expect,
                metric,
                unit,
                threshold,
            });
        }
        out
    }

    pub(super) fn metrics(&mut self, node: &SNode) -> Vec<MetricDef> {
        let Node::Map(entries) = &node.value else {
            self.err(Diagnostic::error("`metrics` must be a map of name → {value, unit}", node.span.clone()));
            return vec![];
        };
        let mut out = vec![];
        for (k, v) in entries {
            if !is_ident(&k.value) {
                self.err(Diagnostic::error(
                    format!("`{}` is not a valid metric name", k.value),
                    k.span.clone(),
                ));
                continue;
            }
            // Shorthand: `loss_ms: "a - b"`.
            let (value, unit, regression) = match &v.value {
                Node::Str(_) => (self.expr(v), None, None),
                Node::Map(_) => {
                    let Some(f) = self.fields(v, "a metric", &["value", "unit", "regression"]) else {
                        continue;
                    };
                    let value = match f.get("value") {
                        Some(n) => self.expr(n),
                        None => {
                            self.err(Diagnostic::error(
                                format!("metric `{}` has no `value`", k.value),
                                v.span.clone(),
                            ));
                            None
                        }
                    };
                    let unit = f.get("unit").and_then(|n| self.string(n, "unit"));
                    let regression = f.get("regression").and_then(|n| self.regression(n));
                    (value, unit, regression)
                }
                other => {
                    self.err(Diagnostic::error(
                        format!("metric `{}` must be an expression or a map, not {}", k.value, other.kind()),
                        v.span.clone(),
                    ));
                    continue;
                }
            };
            if let Some(value) = value {
                out.push(MetricDef { name: k.value.clone(), span: k.span.clone(), value, unit, regression });
            }
        }
        out
    }

    pub(super) fn regression(&mut self, node: &SNode) -> Option<Regression> {
        let f = self.fields(node, "`regression`", &["direction", "tolerance", "min_delta"])?;
        let direction = f.get("direction").and_then(|n| Some((self.string(n, "direction")?, n.span.clone())));
        let lower = match direction {
            Some((d, _)) if d == "lower_is_better" => true,
            None => true,
            Some((d, _)) if d == "higher_is_better" => false,
            Some((other, span)) => {
                self.err(
                    Diagnostic::error(format!("unknown direction `{other}`"), span)
                        .hint("use lower_is_better or higher_is_better"),
                );
                true
            }
        };
        let tolerance = match f.get("tolerance") {
            Some(n) => match &n.value {
                Node::Str(s) if s.trim().ends_with('%') => {
                    s.trim().trim_end_matches('%').trim().parse::<f64>().ok().map(|p| p / 100.0)
                }
                Node::Float(x) => Some(*x),
                Node::Int(i) => Some(*i as f64),
                _ => None,
            }
            .or_else(|| {
                self.err(Diagnostic::error(
                    "`tolerance` must be a percentage like `25%` or a fraction like 0.25",
                    n.span.clone(),
                ));
                None
            })?,
            None => 0.25,
        };
        let min_delta = match f.get("min_delta").map(|n| &n.value) {
            Some(Node::Int(i)) => *i as f64,
            Some(Node::Float(x)) => *x,
            _ => 0.0,
        };
        Some(Regression { lower_is_better: lower, tolerance, min_delta })
    }

    pub(super) fn outcome(&mut self, node: Option<&SNode>) -> OutcomeRule {
        let Some(node) = node else { return OutcomeRule::default() };
        let Some(f) = self.fields(node, "`outcome`", &["partial_if_passed"]) else {
            return OutcomeRule::default();
        };
        let ids = f.get("partial_if_passed").map(|n| self.id_list(n)).unwrap_or_default();
        OutcomeRule {
            partial_if_passed: ids.iter().map(|(i, _)| i.clone()).collect(),
            partial_spans: ids.into_iter().map(|(_, s)| s).collect(),
        }
    }

    pub(super) fn exit_codes(&mut self, node: &SNode) -> Vec<ExitRule> {
        let Node::Seq(items) = &node.value else {
            self.err(Diagnostic::error(
                "`exit_codes` must be a list of {when_failed, code}",
                node.span.clone(),
            ));
            return vec![];
        };
        let mut out = vec![];
        for item in items {
            let Some(f) = self.fields(item, "an exit code rule", &["when_failed", "code"]) else { continue };
            let ids = f.get("when_failed").map(|n| self.id_list(n)).unwrap_or_default();
            let when_failed: Vec<String> = ids.iter().map(|(i, _)| i.clone()).collect();
            let when_failed_spans: Vec<Span> = ids.into_iter().map(|(_, s)| s).collect();
            let code = match f.get("code").map(|n| (&n.value, n.span.clone())) {
                Some((Node::Int(c), _)) if (2..=125).contains(c) && *c != 3 => *c as i32,
                Some((_, span)) => {
                    self.err(
                        Diagnostic::error("a scenario exit code must be 2 or 4…125", span)
                            .hint("0, 1 and 3 are testrunner's own (pass, check failed, harness error); 126+ belong to the shell"),
                    );
                    continue;
                }
                None => {
                    self.err(Diagnostic::error("an exit code rule needs `code`", item.span.clone()));
                    continue;
                }
            };
            out.push(ExitRule { when_failed, when_failed_spans, code, span: item.span.clone() });
        }
        out
    }

    pub(super) fn hard_fail(&mut self, node: &SNode) -> Vec<HardFail> {
        let Node::Seq(items) = &node.value else {
            self.err(Diagnostic::error(
                "`hard_fail` must be a list of {id, when, message}",
                node.span.clone(),
            ));
            return vec![];
        };
        let mut out = vec![];
        for item in items {
            let Some(f) = self.fields(item, "a hard_fail rule", &["id", "when", "message"]) else { continue };
            let Some(expr) = f.get("when").and_then(|n| self.expr(n)) else {
                self.err(Diagnostic::error(
                    "a hard_fail rule needs `when` (an expression that is true when the run must fail)",
                    item.span.clone(),
                ));
                continue;
            };
            let id = f
                .get("id")
                .and_then(|n| self.id(n, "hard_fail id"))
                .unwrap_or_else(|| format!("HARD-FAIL-{}", out.len() + 1));
            let message = f
                .get("message")
                .and_then(|n| self.string(n, "message"))
                .unwrap_or_else(|| expr.source.clone());
            out.push(HardFail { id, expr, message });
        }
        out
    }

    // ---- scalar helpers ----
}
