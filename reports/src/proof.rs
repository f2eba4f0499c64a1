//! The readiness (proof) report, VAL26: the latest run of each named scenario, checks
//! written as CEL over those runs' checks and metrics, readiness levels, the evidence-window
//! rule, risks, and a verdict — as text, JSON and HTML. A missing run or one whose report
//! does not match the expected schema is MISSING, never a crash.
use crate::{json as json_report, CheckStatus, RunReport};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use testrunner_scenario::{parse_duration, Expr, Scope, Span, Template};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub readiness: String,
    pub title: String,
    /// All runs must fall within this window (e.g. `6h`).
    pub window: String,
    #[serde(default)]
    pub topology: String,
    #[serde(default)]
    pub note: String,
    pub slices: Vec<Slice>,
    #[serde(default)]
    pub sections: Vec<Section>,
    pub checks: Vec<SpecCheck>,
    pub levels: Vec<Level>,
    #[serde(default)]
    pub risks: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slice {
    pub id: String,
    pub scenario: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub title: String,
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecCheck {
    pub id: String,
    pub when: String,
    pub description: String,
    /// A CEL expression over the slices (`val13.failed == 0`), `window` and `failed`.
    pub expect: String,
    /// A `${…}` template for the detail line.
    #[serde(default)]
    pub detail: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub name: String,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub criteria: Vec<String>,
    /// Requirements this suite cannot meet; a level with any is not reached.
    #[serde(default)]
    pub unmet: Vec<String>,
}

/// One slice as found (or not) under the runs directory.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub id: String,
    pub name: String,
    pub scenario: String,
    pub status: String,
    pub detail: String,
    pub run_dir: Option<String>,
    pub passed: usize,
    pub total: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub id: String,
    pub when: String,
    pub description: String,
    pub pass: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelOutcome {
    pub name: String,
    pub reached: bool,
    pub criteria: Vec<String>,
    pub unmet: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Proof {
    pub readiness: String,
    pub title: String,
    pub generated: String,
    pub runs_dir: String,
    pub topology: String,
    pub note: String,
    pub coverage: Vec<Coverage>,
    pub sections: Vec<(String, Vec<String>)>,
    pub checks: Vec<CheckOutcome>,
    pub window: Value,
    pub levels: Vec<LevelOutcome>,
    pub risks: Vec<String>,
    pub verdict: String,
}

impl Proof {
    /// True when the first level is reached.
    pub fn ready(&self) -> bool {
        self.levels.first().is_some_and(|l| l.reached)
    }
}

pub fn parse_spec(text: &str) -> Result<Spec, (String, u32, u32)> {
    serde_saphyr::from_str::<Spec>(text).map_err(|e| {
        let (l, c) = e.location().map(|l| (l.line() as u32, l.column() as u32)).unwrap_or((0, 0));
        (e.to_string().lines().next().unwrap_or("").to_string(), l, c)
    })
}

/// The latest run directory of a scenario (greatest timestamp name holding report.json).
fn latest(runs: &Path, scenario: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs.join(scenario))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("report.json").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn slice_value(found: Option<&RunReport>, cov: &Coverage) -> Value {
    let Some(r) = found else {
        return json!({"found": false, "status": cov.status, "detail": cov.detail, "passed": 0, "failed": 0, "total": 0,
                      "checks": {}, "values": {}, "metrics": {}});
    };
    let mut checks = Map::new();
    let mut values = Map::new();
    for c in &r.checks {
        checks.insert(c.decl.id.clone(), json!(c.status.as_str()));
        values.insert(c.decl.id.clone(), c.value.clone().unwrap_or(Value::Null));
    }
    let mut metrics = Map::new();
    for m in &r.metrics {
        metrics.insert(m.name.clone(), m.series.clone().unwrap_or_else(|| m.value.clone()));
    }
    json!({
        "found": true, "status": cov.status, "detail": cov.detail, "run_id": r.run_id, "run_dir": cov.run_dir,
        "started_at": r.started_at, "finished_at": r.finished_at, "verdict": r.verdict().as_str(),
        "passed": cov.passed, "failed": cov.total - cov.passed, "total": cov.total,
        "checks": checks, "values": values, "metrics": metrics,
    })
}

fn var_name(scenario: &str) -> String {
    scenario.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

pub fn build(spec: &Spec, runs: &Path) -> Proof {
    let mut scope = Scope::new();
    let mut coverage = vec![];
    let mut times: Vec<(chrono::DateTime<chrono::FixedOffset>, chrono::DateTime<chrono::FixedOffset>)> =
        vec![];
    for s in &spec.slices {
        let mut cov = Coverage {
            id: s.id.clone(),
            name: s.name.clone(),
            scenario: s.scenario.clone(),
            status: "MISSING".into(),
            detail: "no run found".into(),
            run_dir: None,
            passed: 0,
            total: 0,
        };
        let mut found = None;
        if let Some(dir) = latest(runs, &s.scenario) {
            cov.run_dir = Some(dir.to_string_lossy().to_string());
            match std::fs::read_to_string(dir.join("report.json"))
                .map_err(|e| e.to_string())
                .and_then(|t| json_report::parse(&t))
            {
                Err(e) => cov.detail = format!("schema mismatch: {e}"),
                Ok(r) => {
                    cov.total = r.checks.len();
                    cov.passed = r.count(CheckStatus::Pass);
                    cov.status =
                        if cov.passed == cov.total && cov.total > 0 { "PASS" } else { "FAIL" }.into();
                    cov.detail = format!("{}/{} checks", cov.passed, cov.total);
                    let start = chrono::DateTime::parse_from_rfc3339(&r.started_at).ok();
                    let end =
                        r.finished_at.as_deref().and_then(|f| chrono::DateTime::parse_from_rfc3339(f).ok());
                    if let (Some(a), Some(b)) = (start, end) {
                        times.push((a, b));
                    }
                    found = Some(r);
                }
            }
        }
        scope.set(var_name(&s.scenario), slice_value(found.as_ref(), &cov));
        coverage.push(cov);
    }
    let limit = parse_duration(&spec.window).unwrap_or(std::time::Duration::from_secs(6 * 3600));
    let span_h = match (times.iter().map(|t| t.0).min(), times.iter().map(|t| t.1).max()) {
        (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 3.6e6,
        _ => 0.0,
    };
    let all_found = coverage.iter().all(|c| c.status != "MISSING");
    let window = json!({"ok": all_found && span_h <= limit.as_secs_f64() / 3600.0, "span_hours": (span_h * 100.0).round() / 100.0,
                        "limit_hours": limit.as_secs_f64() / 3600.0});
    scope.set("window", window.clone());

    let render = |t: &str, scope: &Scope| -> String {
        match Template::parse(t, &Span::none()) {
            Ok(tpl) => tpl
                .parts
                .iter()
                .map(|p| match p {
                    testrunner_scenario::expr::Part::Lit(s) => s.clone(),
                    testrunner_scenario::expr::Part::Expr(e) => match e.eval(scope) {
                        Ok(Value::String(s)) => s,
                        Ok(Value::Null) | Err(_) => "n/a".into(),
                        Ok(Value::Number(n)) => match n.as_f64() {
                            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
                            Some(f) => format!("{}", (f * 1000.0).round() / 1000.0),
                            None => n.to_string(),
                        },
                        Ok(v) => v.to_string(),
                    },
                })
                .collect(),
            Err(_) => t.to_string(),
        }
    };
    let sections: Vec<(String, Vec<String>)> = spec
        .sections
        .iter()
        .map(|s| (s.title.clone(), s.lines.iter().map(|l| render(l, &scope)).collect()))
        .collect();

    let mut failed: Vec<String> = vec![];
    let mut checks = vec![];
    for c in &spec.checks {
        scope.set("failed", json!(failed));
        let pass = Expr::compile(&c.expect, Span::none())
            .ok()
            .and_then(|e| e.eval_bool(&scope).ok())
            .unwrap_or(false);
        if !pass {
            failed.push(c.id.clone());
        }
        checks.push(CheckOutcome {
            id: c.id.clone(),
            when: c.when.clone(),
            description: c.description.clone(),
            pass,
            detail: render(&c.detail, &scope),
        });
    }
    let mut levels = vec![];
    let mut previous = true;
    for l in &spec.levels {
        let reached = previous
            && l.unmet.is_empty()
            && l.requires.iter().all(|r| checks.iter().any(|c| c.id == *r && c.pass));
        previous = reached;
        levels.push(LevelOutcome {
            name: l.name.clone(),
            reached,
            criteria: l.criteria.clone(),
            unmet: l.unmet.clone(),
        });
    }
    let verdict =
        levels.iter().rev().find(|l| l.reached).map(|l| l.name.clone()).unwrap_or_else(|| "NOT READY".into());
    Proof {
        readiness: spec.readiness.clone(),
        title: spec.title.clone(),
        generated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        runs_dir: runs.to_string_lossy().to_string(),
        topology: spec.topology.clone(),
        note: spec.note.clone(),
        coverage,
        sections,
        checks,
        window,
        levels,
        risks: spec.risks.clone(),
        verdict,
    }
}

pub fn text(p: &Proof) -> String {
    let mut o = format!("{}\nGenerated: {}\nEvidence dir: {}\n\n", p.title, p.generated, p.runs_dir);
    if !p.topology.is_empty() {
        o.push_str("Tested Topology:\n");
        for l in p.topology.lines() {
            o.push_str(&format!("  {l}\n"));
        }
        o.push('\n');
    }
    if !p.note.is_empty() {
        for l in p.note.lines() {
            o.push_str(&format!("Note: {l}\n"));
        }
        o.push('\n');
    }
    o.push_str("Scenario Coverage:\n");
    let w = p.coverage.iter().map(|c| c.name.len()).max().unwrap_or(10);
    for c in &p.coverage {
        o.push_str(&format!("  {:<6} {:<w$}  {} ({})\n", c.id, c.name, c.status, c.detail));
    }
    for (title, lines) in &p.sections {
        o.push_str(&format!("\n{title}:\n"));
        for l in lines {
            o.push_str(&format!("  {l}\n"));
        }
    }
    o.push_str("\n10-Check Matrix:\n");
    for c in &p.checks {
        o.push_str(&format!("  {} {}  {}\n", c.id, if c.pass { "PASS" } else { "FAIL" }, c.description));
        if !c.detail.is_empty() {
            o.push_str(&format!("      {}\n", c.detail));
        }
    }
    let pass = p.checks.iter().filter(|c| c.pass).count();
    o.push_str(&format!("\nOverall: PASS={pass} FAIL={}\n", p.checks.len() - pass));
    o.push_str(&format!(
        "Evidence window: {} h across the runs [limit {} h] {}\n",
        p.window["span_hours"],
        p.window["limit_hours"],
        if p.window["ok"] == true { "OK" } else { "NOT COHERENT" }
    ));
    if !p.risks.is_empty() {
        o.push_str("\nRisks and Open Gaps:\n");
        for r in &p.risks {
            o.push_str(&format!("  - {r}\n"));
        }
    }
    o.push_str("\nReadiness Conclusion:\n");
    for l in &p.levels {
        o.push_str(&format!("  {} {}\n", l.name, if l.reached { "✓" } else { "✗ (NOT YET)" }));
        for c in &l.criteria {
            o.push_str(&format!("      - {c}\n"));
        }
        for u in &l.unmet {
            o.push_str(&format!("      - missing: {u}\n"));
        }
    }
    o.push_str(&format!("\nVerdict: {}\n", p.verdict));
    o
}

pub fn to_json(p: &Proof) -> String {
    let mut v = serde_json::to_value(p).unwrap_or_default();
    v["schema"] = json!("testrunner.readiness/v1");
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub fn html(p: &Proof) -> String {
    let mut o = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}.PASS,.ok{{color:#176f2c;font-weight:bold}}.FAIL,.MISSING,.no{{color:#b3261e;font-weight:bold}}pre{{background:#f6f6f6;padding:1em}}</style></head><body>",
        esc(&p.title)
    );
    o.push_str(&format!(
        "<h1>{}</h1><p>Generated {} from <code>{}</code></p>",
        esc(&p.title),
        esc(&p.generated),
        esc(&p.runs_dir)
    ));
    o.push_str(&format!(
        "<h2>Verdict: <span class=\"{}\">{}</span></h2>",
        if p.ready() { "ok" } else { "no" },
        esc(&p.verdict)
    ));
    if !p.topology.is_empty() {
        o.push_str(&format!("<h2>Tested topology</h2><pre>{}</pre>", esc(&p.topology)));
    }
    o.push_str(
        "<h2>Scenario coverage</h2><table><tr><th>Slice</th><th>Name</th><th>Status</th><th>Detail</th></tr>",
    );
    for c in &p.coverage {
        o.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            esc(&c.id),
            esc(&c.name),
            esc(&c.status),
            esc(&c.status),
            esc(&c.detail)
        ));
    }
    o.push_str("</table>");
    for (title, lines) in &p.sections {
        o.push_str(&format!("<h2>{}</h2><pre>{}</pre>", esc(title), esc(&lines.join("\n"))));
    }
    o.push_str("<h2>Check matrix</h2><table><tr><th>ID</th><th>When</th><th>Description</th><th>Result</th><th>Detail</th></tr>");
    for c in &p.checks {
        let r = if c.pass { "PASS" } else { "FAIL" };
        o.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{r}\">{r}</td><td>{}</td></tr>",
            esc(&c.id),
            esc(&c.when),
            esc(&c.description),
            esc(&c.detail)
        ));
    }
    o.push_str("</table>");
    o.push_str(&format!(
        "<p>Evidence window: {} h (limit {} h): {}</p>",
        p.window["span_hours"],
        p.window["limit_hours"],
        if p.window["ok"] == true { "coherent" } else { "NOT coherent" }
    ));
    o.push_str("<h2>Readiness levels</h2><ul>");
    for l in &p.levels {
        o.push_str(&format!(
            "<li class=\"{}\">{} {}<ul>",
            if l.reached { "ok" } else { "no" },
            esc(&l.name),
            if l.reached { "✓" } else { "✗" }
        ));
        for c in &l.criteria {
            o.push_str(&format!("<li>{}</li>", esc(c)));
        }
        for u in &l.unmet {
            o.push_str(&format!("<li>missing: {}</li>", esc(u)));
        }
        o.push_str("</ul></li>");
    }
    o.push_str("</ul><h2>Risks and open gaps</h2><ul>");
    for r in &p.risks {
        o.push_str(&format!("<li>{}</li>", esc(r)));
    }
    o.push_str("</ul></body></html>\n");
    o
}
