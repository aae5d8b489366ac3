//! The JSON report: the findings contract of DESIGN.md §3 (each finding also has `confidence`,
//! `confirmed` or `likely`, and for a likely one `assumed`: what it took on trust), plus
//! `not_evaluated` and `summary`.

use super::Report;

pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
