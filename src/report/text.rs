//! The terminal report: a comfy-table summary, then each finding with its evidence and fix,
//! then what was not evaluated and why. Colour only on a terminal and never with NO_COLOR.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};

use super::Report;
use crate::rules::Severity;

#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    pub width: u16,
}

impl Style {
    /// Colour when stdout is a terminal and NO_COLOR is unset (https://no-color.org).
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Style { color, width: 80 }
    }
    pub fn plain() -> Style {
        Style { color: false, width: 80 }
    }
}

fn paint(style: Style, sev: Severity, text: &str) -> String {
    if !style.color {
        return text.to_string();
    }
    let code = match sev {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
        Severity::Info => "1;36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn bold(style: Style, text: &str) -> String {
    if style.color {
        format!("\x1b[1m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub fn render(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let host = [report.host.distro.as_deref(), report.host.kernel.as_deref(), report.host.cpu.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    out.push_str(&bold(style, "vfio-doctor"));
    out.push_str(&format!(" {}", report.tool.version));
    if !host.is_empty() {
        out.push_str(&format!(" — {host}"));
    }
    out.push_str("\n\n");

    if report.findings.is_empty() {
        out.push_str("No problems found by the rules that could run.\n");
    } else {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(style.width)
            .set_header(vec!["severity", "code", "rule", "subject"]);
        for f in &report.findings {
            let mut sev = Cell::new(f.severity.as_str());
            if style.color {
                sev = sev.fg(match f.severity {
                    Severity::Error => Color::Red,
                    Severity::Warning => Color::Yellow,
                    Severity::Info => Color::Cyan,
                });
            }
            table.add_row(vec![sev, Cell::new(&f.code), Cell::new(&f.name), Cell::new(&f.subject)]);
        }
        if !style.color {
            table.force_no_tty();
        }
        out.push_str(&table.to_string());
        out.push_str("\n\n");
        for f in &report.findings {
            out.push_str(&paint(style, f.severity, &format!("{}[{}]", f.severity, f.code)));
            out.push_str(&format!(" {}: {}\n", bold(style, &f.name), f.title));
            out.push_str(&wrap(&f.message, "  ", style.width as usize));
            if !f.evidence.is_empty() {
                out.push_str("  evidence:\n");
                for e in &f.evidence {
                    let count = e.count.map(|c| format!(" (×{c})")).unwrap_or_default();
                    out.push_str(&format!("    {} {}{}\n", e.source, e.location, count));
                    out.push_str(&format!("      │ {}\n", shorten(&e.excerpt, style.width as usize - 8)));
                }
            }
            if !f.remediation.is_empty() {
                out.push_str("  fix:\n");
                for line in f.remediation.lines() {
                    out.push_str(&format!("    {line}\n").replace("    \n", "\n"));
                }
            }
            out.push_str(&format!("  more: vfio-doctor explain {}\n\n", f.name));
        }
    }
    if !report.not_evaluated.is_empty() {
        out.push_str(&bold(style, "Not evaluated"));
        out.push('\n');
        for n in &report.not_evaluated {
            out.push_str(&wrap(&format!("{} ({}): {}", n.rule, n.code, n.reason), "  ", style.width as usize));
        }
        out.push('\n');
    }
    if !report.notes.is_empty() {
        out.push_str(&bold(style, "Notes"));
        out.push('\n');
        for n in &report.notes {
            out.push_str(&wrap(n, "  ", style.width as usize));
        }
        out.push('\n');
    }
    let s = &report.summary;
    out.push_str(&format!(
        "{} error(s), {} warning(s), {} info; {} rule(s) run, {} not evaluated{}\n",
        s.errors,
        s.warnings,
        s.infos,
        s.rules_run,
        s.not_evaluated,
        if report.redacted { "; redacted" } else { "" }
    ));
    out
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Word-wrap `text` to `width` columns with `indent` on every line.
fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.len() > indent.len() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
