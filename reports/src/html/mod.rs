//! `report.html`: one self-contained page for people (inline CSS, no network, no JS).
//! Rust computes a plain view (strings and numbers); the askama template lays it out and
//! escapes every value, SVG text included, because `.html` templates auto-escape.
mod availability;
mod axis;
mod chart;
mod page;
mod steps;
mod timeline;

use crate::model::RunReport;

/// The style every page of the tool shares (the readiness report inlines it too).
pub const BASE_CSS: &str = include_str!("../../templates/base.css");
use askama::Template;
use page::Page;

pub fn render(report: &RunReport, resolved_scenario_yaml: &str) -> String {
    let page = Page::new(report, resolved_scenario_yaml);
    let html = page.render().unwrap_or_else(|e| {
        // Rendering only fails on a template bug; still produce a (escaped) page.
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        format!(
            "<!DOCTYPE html><html><body><h1>report rendering failed</h1><pre>{}</pre></body></html>\n",
            esc(&e.to_string())
        )
    });
    // Escaping stops markup, not control characters (an ESC from stderr): make them visible.
    crate::text::xml_chars(&html).into_owned()
}
