//! `readiness.html`: one self-contained page (inline CSS, no network, no JS). Rust prepares
//! plain rows; the askama template lays them out and escapes every value.
use crate::Readiness;
use askama::Template;

pub fn html(r: &Readiness) -> String {
    Page::new(r).render().unwrap_or_else(|e| {
        // Rendering only fails on a template bug; still produce an (escaped) page.
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        format!(
            "<!DOCTYPE html><html><body><h1>readiness rendering failed</h1><pre>{}</pre></body></html>\n",
            esc(&e.to_string())
        )
    })
}

#[derive(Template)]
#[template(path = "readiness.html")]
struct Page<'a> {
    r: &'a Readiness,
    base_css: &'static str,
    verdict_class: &'static str,
    coverage: Vec<Row>,
    checks: Vec<Row>,
    window_class: &'static str,
    window_text: String,
    window_range: String,
    levels: Vec<LevelRow>,
}

/// One table row: id, label, status word, its CSS class, detail text.
struct Row {
    id: String,
    label: String,
    when: String,
    status: &'static str,
    class: &'static str,
    detail: String,
    extra: String,
}

struct LevelRow {
    name: String,
    class: &'static str,
    mark: &'static str,
    criteria: Vec<String>,
    meaning: String,
    gaps: Vec<String>,
}

impl<'a> Page<'a> {
    fn new(r: &'a Readiness) -> Self {
        let class = |s: &str| match s {
            "PASS" => "pass",
            "FAIL" => "fail",
            _ => "missing",
        };
        let coverage = r
            .coverage
            .iter()
            .map(|c| Row {
                id: c.id.clone(),
                label: c.name.clone(),
                when: c.scenario.clone(),
                status: c.status.as_str(),
                class: class(c.status.as_str()),
                detail: c.detail.clone(),
                extra: c.run_dir.clone().unwrap_or_default(),
            })
            .collect();
        let checks = r
            .checks
            .iter()
            .map(|c| Row {
                id: c.id.clone(),
                label: c.summary.clone(),
                when: c.when.clone(),
                status: c.status(),
                class: class(c.status()),
                detail: c.detail.clone(),
                extra: c.description.clone(),
            })
            .collect();
        let mut previous: Option<&str> = None;
        let mut levels = vec![];
        for l in &r.levels {
            let mut gaps: Vec<String> = l.unmet.iter().map(|u| format!("not met: {u}")).collect();
            if !l.failed_checks.is_empty() {
                gaps.push(format!("failed: {}", l.failed_checks.join(", ")));
            }
            if let (true, Some(p)) = (l.blocked_by_previous, previous) {
                gaps.push(format!("requires {p}"));
            }
            levels.push(LevelRow {
                name: l.name.clone(),
                class: if l.reached { "pass" } else { "fail" },
                mark: if l.reached { "✓" } else { "✗ (NOT YET)" },
                criteria: l.criteria.clone(),
                meaning: l.meaning.clone().unwrap_or_default(),
                gaps,
            });
            previous = Some(&l.name);
        }
        let w = &r.window;
        Page {
            r,
            base_css: testrunner_reports::html::BASE_CSS,
            verdict_class: if r.ready { "pass" } else { "fail" },
            coverage,
            checks,
            window_class: if w.ok { "pass" } else { "fail" },
            window_text: if w.ok { "COHERENT".into() } else { format!("NOT COHERENT ({})", w.note) },
            window_range: match (&w.earliest, &w.latest) {
                (Some(a), Some(b)) => format!("{a} → {b}, {} runs", w.runs),
                _ => "no runs found".into(),
            },
            levels,
        }
    }
}
