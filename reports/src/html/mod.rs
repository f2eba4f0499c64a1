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
    let mut out = Vec::new();
    // Writing to memory cannot fail.
    let _ = write(report, resolved_scenario_yaml, &mut out);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes the page as it is rendered (a run of many steps makes a page of megabytes: it is
/// never held whole in memory).
pub fn write(
    report: &RunReport,
    resolved_scenario_yaml: &str,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let page = Page::new(report, resolved_scenario_yaml);
    let mut w = Visible { out, error: None };
    if let Err(e) = page.render_into(&mut w) {
        if let Some(io) = w.error {
            return Err(io);
        }
        // Rendering only fails on a template bug; still say so, escaped.
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        writeln!(
            w.out,
            "<!DOCTYPE html><html><body><h1>report rendering failed</h1><pre>{}</pre></body></html>",
            esc(&e.to_string())
        )?;
    }
    Ok(())
}

/// Escaping stops markup, not control characters (an ESC from stderr): this writer makes
/// them visible on the way out, chunk by chunk (a chunk always holds whole characters).
struct Visible<'a> {
    out: &'a mut dyn std::io::Write,
    error: Option<std::io::Error>,
}

impl std::fmt::Write for Visible<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let r = self.out.write_all(crate::text::xml_chars(s).as_bytes());
        r.map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}
