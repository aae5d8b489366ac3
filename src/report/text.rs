//! The terminal report: a comfy-table summary, then each finding with its evidence and fix,
//! then what was not evaluated and why. Colour only on a terminal and never with NO_COLOR.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};

use super::Report;
use crate::rules::Severity;

/// Narrower than this, tables and wrapped text would be unreadable anyway.
pub const MIN_WIDTH: u16 = 40;
/// Prose wider than this is hard to read; tables and evidence stop growing here too.
pub const MAX_WIDTH: u16 = 240;

#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    pub width: u16,
}

impl Style {
    /// Colour when stdout is a terminal and NO_COLOR is unset (https://no-color.org); the
    /// width from `COLUMNS`, else the terminal's, else 80 (a pipe, a file).
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let tty = std::io::stdout().is_terminal();
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let columns = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok()).filter(|c| *c > 0);
        let size = || if tty { terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| w.0) } else { None };
        let width = columns.or_else(size).unwrap_or(80).clamp(MIN_WIDTH, MAX_WIDTH);
        Style { color, width }
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
    let head = if host.is_empty() { report.tool.version.to_string() } else { format!("{} — {host}", report.tool.version) };
    let head = fill(&words(&head), "vfio-doctor ", "  ", style.width as usize);
    out.push_str(&bold(style, "vfio-doctor"));
    out.push_str(&head["vfio-doctor".len()..]);
    out.push('\n');

    if let Some(why) = &report.nothing_checked {
        out.push_str(&bold(style, &wrap(&format!("Nothing was checked: {why}. This is not a clean result; see below what to give vfio-doctor."), "", style.width as usize)));
        out.push('\n');
    } else if report.findings.is_empty() {
        out.push_str("No problems found by the rules that could run.\n\n");
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
            table.add_row(vec![sev, Cell::new(clean(&f.code)), Cell::new(clean(&f.name)), Cell::new(clean(&f.subject))]);
        }
        if !style.color {
            table.force_no_tty();
        }
        out.push_str(&table.to_string());
        out.push_str("\n\n");
        for f in &report.findings {
            let tag = format!("{}[{}]", f.severity, f.code);
            let head = fill(&words(&format!("{tag} {}: {}", f.name, f.title)), "", "  ", style.width as usize);
            // Colour the tag and the rule name inside the wrapped heading.
            let head = head.replacen(&tag, &paint(style, f.severity, &tag), 1).replacen(&f.name, &bold(style, &f.name), 1);
            out.push_str(&head);
            out.push_str(&wrap(&f.message, "  ", style.width as usize));
            if let Some(note) = f.confidence_note() {
                out.push_str(&wrap(&note, "  ", style.width as usize));
            }
            if !f.evidence.is_empty() {
                out.push_str("  evidence:\n");
                for e in &f.evidence {
                    let count = e.count.map(|c| format!(" (×{c})")).unwrap_or_default();
                    out.push_str(&format!("    {} {}{}\n", clean(&e.source), clean(&e.location), count));
                    out.push_str(&format!("      │ {}\n", shorten(&e.excerpt, style.width as usize - 8)));
                }
            }
            if let Some(also) = report.see_also(f) {
                out.push_str(&wrap(&format!("see also: {also}"), "  ", style.width as usize));
            }
            if !f.remediation.is_empty() {
                out.push_str("  fix:\n");
                out.push_str(&super::prose::to_terminal(&f.remediation, "    ", super::prose::Term { color: style.color, width: style.width as usize }));
            }
            out.push_str(&format!("  more: vfio-doctor explain {}\n\n", f.name));
        }
    }
    if report.all_not_evaluated && !report.not_evaluated.is_empty() {
        out.push_str(&bold(style, "Not evaluated"));
        out.push('\n');
        for n in &report.not_evaluated {
            out.push_str(&wrap(&format!("{} ({}): {}", n.rule, n.code, n.reason), "  ", style.width as usize));
        }
        out.push('\n');
    } else if !report.not_evaluated.is_empty() {
        out.push_str(&to_check_more(report, style));
    }
    if !report.notes.is_empty() {
        out.push_str(&bold(style, "Notes"));
        out.push('\n');
        for n in &report.notes {
            out.push_str(&wrap(n, "  ", style.width as usize));
        }
        out.push('\n');
    }
    if !report.host_picture.groups.is_empty() || report.host_picture.no_groups.is_some() {
        out.push_str(&bold(style, "IOMMU groups"));
        out.push('\n');
        let mut line = picture_summary(&report.host_picture);
        if report.host_picture.no_groups.is_none() {
            line.push_str(&format!(" `{}` lists them.", report.iommu_command.as_deref().unwrap_or("vfio-doctor iommu")));
        }
        out.push_str(&wrap(&line, "  ", style.width as usize));
        out.push('\n');
    }
    if !report.vms.is_empty() {
        out.push_str(&bold(style, "VMs"));
        out.push('\n');
        for v in &report.vms {
            out.push_str(&wrap(&format!("{} — {}, {}: {}", clean(&v.name), v.facts(), clean(&v.source), v.passes_text()), "  ", style.width as usize));
        }
        out.push('\n');
    }
    let s = &report.summary;
    let summary = format!(
        "{} error(s), {} warning(s), {} info; {} rule(s) run, {} not evaluated{}",
        s.errors,
        s.warnings,
        s.infos,
        s.rules_run,
        s.not_evaluated,
        if report.redacted { "; redacted" } else { "" }
    );
    out.push_str(&wrap(&summary, "", style.width as usize));
    out
}

/// The short list of what to ask for next, instead of every not-evaluated rule.
fn to_check_more(report: &Report, style: Style) -> String {
    let width = style.width as usize;
    let mut out = String::new();
    let (root, paste): (Vec<_>, Vec<_>) = report.to_check_more.iter().partition(|a| a.how == "root");
    for a in root {
        out.push_str(&bold(style, "Run as root to read what was denied"));
        out.push('\n');
        out.push_str(&format!("  {}\n", clean(&a.command)));
        out.push_str(&wrap(&format!("{} · {} rule(s)", a.gives.join(", "), a.rules.len()), "      ", width));
    }
    if !paste.is_empty() {
        let head = if report.pasted_only { "To check more, paste the output of:" } else { "To check more, give vfio-doctor the output of:" };
        out.push_str(&bold(style, head));
        out.push('\n');
        let more = paste.len().saturating_sub(super::asks::SHOWN);
        for a in paste.into_iter().take(super::asks::SHOWN) {
            out.push_str(&format!("  {}\n", clean(&a.command)));
            let kind = a.as_kind.as_ref().map(|k| format!(" (give it as `{k}:FILE`)")).unwrap_or_default();
            out.push_str(&wrap(&format!("{}{kind} · {} rule(s)", a.gives.join(", "), a.rules.len()), "      ", width));
        }
        if more > 0 {
            out.push_str(&wrap(&format!("…and {more} more that each help fewer rules (`--format json` lists them in `to_check_more`)."), "  ", width));
        }
    }
    out.push_str(&wrap(
        &format!("{} rule(s) not evaluated; `--all-not-evaluated` lists each with the reason.", report.not_evaluated.len()),
        "",
        width,
    ));
    out.push('\n');
    out
}

/// Bundle text with terminal control characters (ESC, BEL, CR, …) made visible as `�`, so a
/// hostile log line cannot move the cursor, retitle the window or hide the text after it.
fn clean(s: &str) -> String {
    super::prose::clean(s)
}

fn shorten(s: &str, max: usize) -> String {
    let s = &clean(s);
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Word-wrap `text` to `width` columns with `indent` on every line.
fn wrap(text: &str, indent: &str, width: usize) -> String {
    fill(&words(text), indent, indent, width)
}

/// Words of prose, with each `inline code` span kept as one unbreakable word.
fn words(text: &str) -> Vec<String> {
    let text = &clean(text);
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_code = false;
    for c in text.chars() {
        if c == '`' {
            in_code = !in_code;
        }
        if c.is_whitespace() && !in_code {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Fill `words` into lines of at most `width` columns (a longer word gets a line of its own):
/// `first` prefixes the first line, `rest` the others.
fn fill(words: &[String], first: &str, rest: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::from(first);
    let mut empty = true;
    let room = width.saturating_sub(rest.chars().count()).max(20);
    let pieces: Vec<String> = words.iter().flat_map(|w| split_long(w, room)).collect();
    for word in &pieces {
        let len = line.chars().count();
        if !empty && len + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = String::from(rest);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    if !empty {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A word longer than `room` (a path in a note) split after a `/` (or hard, failing that) so
/// the line fits. Inline code stays whole: a user copies it.
fn split_long(word: &str, room: usize) -> Vec<String> {
    if word.chars().count() <= room || word.starts_with('`') {
        return vec![word.to_string()];
    }
    let mut out = Vec::new();
    let mut rest: Vec<char> = word.chars().collect();
    while rest.len() > room {
        let cut = rest[..room].iter().rposition(|c| *c == '/').map(|i| i + 1).filter(|i| *i > room / 3).unwrap_or(room);
        out.push(rest[..cut].iter().collect());
        rest = rest[cut..].to_vec();
    }
    out.push(rest.into_iter().collect());
    out
}

/// The IOMMU groups for a terminal (`vfio-doctor iommu`): per group its verdict and a table of
/// its devices (address, class, names and IDs, boot VGA, driver, link, reset methods).
pub fn picture(p: &super::HostPicture, style: Style) -> String {
    let p = &p.for_display();
    let mut out = String::new();
    if let Some(why) = &p.no_groups {
        out.push_str(&wrap(why, "", style.width as usize));
        if !p.ungrouped.is_empty() {
            out.push_str("\nPCI devices (in no IOMMU group):\n");
            out.push_str(&device_table(&p.ungrouped, style));
            out.push('\n');
        }
        return out;
    }
    for g in p.ordered() {
        let mark = if g.verdict.passable { "✔" } else if g.verdict.kind == "bridges-only" { "·" } else { "✘" };
        let head = format!("IOMMU group {} — {mark} {}", g.id, g.verdict.text);
        let sev = (!g.verdict.passable && g.verdict.kind != "bridges-only").then_some(Severity::Error);
        let wrapped = fill(&words(&head), "", "    ", style.width as usize);
        out.push_str(&match sev {
            Some(s) => paint(style, s, wrapped.trim_end()) + "\n",
            None if g.verdict.passable && style.color => format!("\x1b[1;32m{}\x1b[0m\n", wrapped.trim_end()),
            None => bold(style, wrapped.trim_end()) + "\n",
        });
        if !g.breaks_isolation.is_empty() {
            out.push_str(&paint(
                style,
                Severity::Error,
                &format!(
                    "  isolation broken: a device is taken for a VM, but {} stay with the host\n",
                    g.breaks_isolation.join(", ")
                ),
            ));
        }
        if g.verdict.kind == "bridges-only" {
            for d in &g.devices {
                out.push_str(&fill(&words(&format!("{} {} [{}]", d.address, d.name, d.ids)), "  ", "    ", style.width as usize));
            }
            out.push('\n');
            continue;
        }
        out.push_str(&device_table(&g.devices, style));
        out.push_str("\n\n");
    }
    out.push_str(&wrap(&picture_summary(p), "", style.width as usize));
    out
}

/// The groups one line per device, in the guides' loop format (`IOMMU Group 16 08:00.0 VGA
/// compatible controller [0300]: NVIDIA Corporation GP106 [GeForce GTX 1060 3GB] [10de:1c02]`)
/// with `Driver: NAME` after it: what users grep, and what `vfio-doctor check` reads back as an
/// IOMMU listing. Never wrapped; the summary sentence last.
pub fn picture_lines(p: &super::HostPicture) -> String {
    let p = &p.for_display();
    let mut out = String::new();
    let line = |group: Option<&str>, d: &super::picture::PictureDevice| {
        let class = match (&d.class_name, &d.class) {
            (Some(n), Some(c)) => format!("{n} [{c}]"),
            (None, Some(c)) => format!("Class [{c}]"),
            (Some(n), None) => n.clone(),
            (None, None) => "Device".to_string(),
        };
        let driver = d.driver.as_deref().map(|drv| format!(" Driver: {drv}")).unwrap_or_default();
        let head = group.map(|g| format!("IOMMU Group {g} ")).unwrap_or_default();
        clean(&format!("{head}{} {class}: {} [{}]{driver}\n", d.address, d.name, d.ids))
    };
    if let Some(why) = &p.no_groups {
        out.push_str(&clean(why));
        out.push('\n');
        for d in &p.ungrouped {
            out.push_str(&line(None, d));
        }
        return out;
    }
    for g in p.ordered() {
        for d in &g.devices {
            out.push_str(&line(Some(&g.id), d));
        }
    }
    out.push_str(&picture_summary(p));
    out
}

/// One sentence about the groups: how many, how many can be passed, what is taken for a VM.
fn picture_summary(p: &super::HostPicture) -> String {
    let p = &p.for_display();
    if let Some(why) = &p.no_groups {
        return why.clone();
    }
    let passable = p.groups.iter().filter(|g| g.verdict.passable).count();
    let taken: Vec<String> = p
        .taken()
        .map(|d| match d.taken_for_vm.as_ref().map(|t| t.vms.join(", ")).filter(|v| !v.is_empty()) {
            Some(vms) => format!("{} ({vms})", d.address),
            None => d.address.clone(),
        })
        .collect();
    let broken: Vec<&str> = p.groups.iter().filter(|g| !g.breaks_isolation.is_empty()).map(|g| g.id.as_str()).collect();
    let mut s = format!(
        "{} group(s): {} can be passed, {} hold devices the host needs, {} bridges only.{}\n",
        p.groups.len(),
        passable,
        p.groups.iter().filter(|g| g.verdict.kind == "host-critical").count(),
        p.groups.iter().filter(|g| g.verdict.kind == "bridges-only").count(),
        if taken.is_empty() { String::new() } else { format!(" Taken for a VM: {}.", taken.join(", ")) }
    );
    if !broken.is_empty() {
        s.push_str(&format!(" Isolation broken in group(s) {}.", broken.join(", ")));
    }
    s
}

fn device_table(devices: &[super::picture::PictureDevice], style: Style) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(style.width)
        .set_header(vec!["address", "device", "driver", "link, reset"]);
    for d in devices {
        let class = match (&d.class_name, &d.class) {
            (Some(n), Some(c)) => format!("{n} [{c}]"),
            (None, Some(c)) => format!("[{c}]"),
            (Some(n), None) => n.clone(),
            (None, None) => String::new(),
        };
        let mut device = format!("{}\n{class} [{}]", d.name, d.ids);
        if d.boot_vga {
            device.push_str(" ★ boot VGA");
        }
        if let Some(t) = &d.taken_for_vm {
            let vms = if t.vms.is_empty() { String::new() } else { format!(" {}", t.vms.join(", ")) };
            device.push_str(&format!(" → VM{vms}"));
        }
        let mut link = d.link.clone().unwrap_or_default();
        if let Some(r) = &d.reset_methods {
            if !link.is_empty() {
                link.push('\n');
            }
            link.push_str(&format!("reset: {}", r.join(" ")));
        }
        table.add_row(vec![
            Cell::new(clean(&d.address)),
            Cell::new(clean(&device)),
            Cell::new(clean(d.driver.as_deref().unwrap_or("—"))),
            Cell::new(clean(&link)),
        ]);
    }
    if !style.color {
        table.force_no_tty();
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_control_characters_from_a_bundle_are_neutralised() {
        assert!(!shorten("a\x1b[31mb", 80).contains('\x1b'));
    }
}
