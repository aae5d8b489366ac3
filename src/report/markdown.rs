//! The Markdown report, paste-ready for forums, in two forms. [`render`] is for GitHub (and
//! Discourse forums): summary table first, each finding with fenced evidence (long evidence
//! folded in `<details>`), under 65,536 characters (GitHub's comment limit) by shortening
//! evidence, never by dropping a finding. [`render_compact`] is for Reddit: no `<details>` (Reddit
//! shows no HTML), code as indented blocks (old Reddit has no fences), short evidence, every fix
//! kept, under 10,000 characters (Reddit's limit), with a note where something was left out.
//! Both escape prose (a glob like `Xorg.*.log` stays text, not italics) and never hard-wrap a
//! paragraph (GitHub comments turn every newline into a line break).

use serde::Serialize;

use super::picture::HostPicture;
use super::Report;
use crate::rules::Severity;

/// GitHub rejects issue bodies and comments longer than this (characters).
pub const MAX_CHARS: usize = 65_536;
/// Reddit rejects posts and comments longer than this (characters).
pub const MAX_CHARS_COMPACT: usize = 10_000;

const TEMPLATE: &str = include_str!("../../report-templates/report.md");

/// How hard a report is squeezed: max excerpt chars, max evidence items per finding, whether
/// the full remediation stays, and the longest message (the last step is for hundreds of findings).
#[derive(Clone, Copy)]
struct Budget {
    excerpt: usize,
    items: usize,
    full_fix: bool,
    message: usize,
}

/// The compact form's steps: the fix is always kept in full.
const COMPACT_BUDGETS: &[Budget] = &[
    Budget { excerpt: 200, items: 2, full_fix: true, message: usize::MAX },
    Budget { excerpt: 120, items: 1, full_fix: true, message: usize::MAX },
    Budget { excerpt: 0, items: 0, full_fix: true, message: 400 },
];

const BUDGETS: &[Budget] = &[
    Budget { excerpt: usize::MAX, items: usize::MAX, full_fix: true, message: usize::MAX },
    Budget { excerpt: 1_500, items: 12, full_fix: true, message: usize::MAX },
    Budget { excerpt: 400, items: 6, full_fix: true, message: usize::MAX },
    Budget { excerpt: 160, items: 3, full_fix: true, message: usize::MAX },
    Budget { excerpt: 100, items: 1, full_fix: true, message: usize::MAX },
    Budget { excerpt: 60, items: 1, full_fix: false, message: 400 },
    Budget { excerpt: 0, items: 0, full_fix: false, message: 120 },
];

#[derive(Serialize)]
struct View<'a> {
    /// The compact (Reddit) form: no HTML, indented code, one-line lists.
    compact: bool,
    /// Findings left out at the end to fit (compact form only), and the limit that forced it.
    left_out: usize,
    limit: &'static str,
    tool_version: &'a str,
    host: String,
    summary: String,
    /// The summary table: every finding, also those left out below.
    table: Vec<Row>,
    findings: Vec<FindingView>,
    not_evaluated: Vec<NotEvaluatedView>,
    all_not_evaluated: bool,
    nothing_checked: String,
    asks_heading: String,
    asks: Vec<AskView>,
    asks_more: usize,
    notes: Vec<String>,
    /// One line per VM the input defines (already escaped).
    vms: Vec<String>,
    iommu: String,
    iommu_count: usize,
    redacted: bool,
}

#[derive(Serialize)]
struct Row {
    severity: &'static str,
    severity_icon: &'static str,
    code: String,
    name: String,
    subject_cell: String,
}

#[derive(Serialize)]
struct FindingView {
    severity: &'static str,
    severity_icon: &'static str,
    code: String,
    name: String,
    title: String,
    message: String,
    /// "Likely, assuming: …" for a `likely` finding; empty when confirmed.
    likely: String,
    evidence: Vec<EvidenceView>,
    evidence_left_out: usize,
    fold: bool,
    shortened: bool,
    remediation: String,
    references: Vec<String>,
    see_also: Option<String>,
}

#[derive(Serialize)]
struct EvidenceView {
    source: String,
    location: String,
    count: Option<u64>,
    /// The excerpt as a code block (fenced, or indented in the compact form).
    block: String,
}

#[derive(Serialize)]
struct AskView {
    command: String,
    about: String,
}

#[derive(Serialize)]
struct NotEvaluatedView {
    code: String,
    rule: String,
    reason: String,
}

/// Escape text for Markdown prose, on one line: no raw HTML from a bundle reaches the page,
/// and no character of the text (`*` of a glob, `_` of a name, `[`, `#`, `|`) is read as
/// Markdown. Spans in backticks stay inline code (messages quote commands that way); a lone
/// backtick is escaped.
pub fn escape(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s.as_str();
    while let Some(open) = rest.find('`') {
        out.push_str(&escape_text(&rest[..open]));
        let after = &rest[open + 1..];
        match after.find('`') {
            Some(close) if close > 0 => {
                out.push_str(&code(&after[..close]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str("\\`");
                rest = after;
            }
        }
    }
    out.push_str(&escape_text(rest));
    out
}

/// Every character Markdown could read as syntax, escaped (`&`, `<`, `>` as entities, the
/// others with a backslash, which GitHub, Reddit and CommonMark all honour).
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '*' | '_' | '[' | ']' | '#' | '|' | '~' | '`' | '^' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Escape text for a table cell: one line, no `|`, no HTML, no Markdown.
pub fn cell(s: &str) -> String {
    escape(s)
}

/// Inline code that survives backticks in `s`.
fn code(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// A code fence longer than any backtick run inside `s`, so the excerpt cannot close it.
fn fence_for(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

fn shorten(s: &str, max: usize) -> (String, bool) {
    let n = s.chars().count();
    if n <= max {
        return (s.to_string(), false);
    }
    let head: String = s.chars().take(max).collect();
    (format!("{head}… [{} more characters]", n - max), true)
}

fn icon(s: Severity) -> &'static str {
    match s {
        Severity::Error => "🔴",
        Severity::Warning => "🟠",
        Severity::Info => "🔵",
    }
}

fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    format!(
        "{} error(s), {} warning(s), {} info — {} rule(s) run, {} not evaluated",
        s.errors, s.warnings, s.infos, s.rules_run, s.not_evaluated
    )
}

/// The IOMMU groups as one Markdown table (also `vfio-doctor iommu --format markdown`).
pub fn picture(p: &HostPicture) -> String {
    let p = &p.for_display();
    let mut out = String::new();
    if let Some(why) = &p.no_groups {
        out.push_str(&format!("**{}**\n\n", escape(why)));
    }
    if p.groups.is_empty() {
        return out;
    }
    out.push_str("| group | device | IDs | driver | verdict |\n|---|---|---|---|---|\n");
    for g in p.ordered().into_iter().filter(|g| g.verdict.kind != "bridges-only") {
        for (i, d) in g.devices.iter().enumerate() {
            let mut name = cell(&format!("{} {}: {}", d.address, d.class_name.as_deref().unwrap_or(""), d.name));
            if d.boot_vga {
                name.push_str(" **(boot VGA)**");
            }
            if let Some(t) = &d.taken_for_vm {
                name.push_str(" **→ VM");
                if !t.vms.is_empty() {
                    name.push(' ');
                    name.push_str(&cell(&t.vms.join(", ")));
                }
                name.push_str("**");
            }
            let verdict = if i == 0 {
                let mark = if !g.breaks_isolation.is_empty() {
                    "⛔"
                } else if g.verdict.passable {
                    "✅"
                } else {
                    "❌"
                };
                format!("{mark} {}", cell(&g.verdict.text))
            } else {
                String::new()
            };
            out.push_str(&format!(
                "| {} | {} | `{}` | {} | {} |\n",
                if i == 0 { g.id.as_str() } else { "" },
                name,
                d.ids,
                d.driver.as_deref().map(code).unwrap_or_default(),
                verdict
            ));
        }
    }
    let bridges: Vec<&str> = p.groups.iter().filter(|g| g.verdict.kind == "bridges-only").map(|g| g.id.as_str()).collect();
    if !bridges.is_empty() {
        out.push_str(&format!("\nGroups with only bridges (nothing to pass): {}.\n", bridges.join(", ")));
    }
    for g in p.groups.iter().filter(|g| !g.breaks_isolation.is_empty()) {
        out.push_str(&format!(
            "\n⛔ Group {}: a device is taken for a VM while {} stay with the host — isolation is broken.\n",
            g.id,
            escape(&g.breaks_isolation.join(", "))
        ));
    }
    out
}

/// How a form is laid out: compact (Reddit) or full (GitHub), and how many findings it keeps.
#[derive(Clone, Copy)]
struct Form {
    compact: bool,
    with_picture: bool,
    keep_findings: usize,
}

/// A word-boundary cut: at most `max` characters, ending at a space where there is one.
fn shorten_words(s: &str, max: usize) -> (String, bool) {
    if s.chars().count() <= max {
        return (s.to_string(), false);
    }
    let head: String = s.chars().take(max).collect();
    let head = match head.rfind(' ') {
        Some(i) if i > max / 2 => head[..i].to_string(),
        _ => head,
    };
    (format!("{}…", head.trim_end()), true)
}

fn view(report: &Report, budget: Budget, form: Form) -> View<'_> {
    let Budget { excerpt: max_excerpt, items: max_items, full_fix: keep_fix, message: max_message } = budget;
    let host = [report.host.distro.as_deref(), report.host.kernel.as_deref(), report.host.cpu.as_deref()]
        .into_iter()
        .flatten()
        .map(escape)
        .collect::<Vec<_>>()
        .join(" · ");
    let findings = report
        .findings
        .iter()
        .take(form.keep_findings)
        .map(|f| {
            let mut shortened = f.evidence.len() > max_items;
            let evidence: Vec<EvidenceView> = f
                .evidence
                .iter()
                .take(max_items)
                .map(|e| {
                    let (excerpt, cut) = shorten(&e.excerpt, max_excerpt);
                    shortened |= cut;
                    let block = if form.compact {
                        format!("\n{}\n", indent_code(&excerpt, "    "))
                    } else {
                        let fence = fence_for(&excerpt);
                        format!("{fence}\n{excerpt}\n{fence}")
                    };
                    EvidenceView { source: e.source.replace('`', "'"), location: escape(&e.location), count: e.count, block }
                })
                .collect();
            let lines: usize = evidence.iter().map(|e| e.block.lines().count().saturating_sub(2).max(1)).sum();
            let remediation = if keep_fix {
                forum_markdown(&f.remediation, form.compact)
            } else {
                let first = f.remediation.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                let (first, _) = shorten_words(first, max_message.min(200));
                if first.is_empty() {
                    String::new()
                } else {
                    format!("{first}\n\n(shortened to fit; `vfio-doctor explain {}` has the full fix)", f.name)
                }
            };
            FindingView {
                severity: f.severity.as_str(),
                severity_icon: icon(f.severity),
                code: f.code.clone(),
                name: f.name.clone(),
                title: escape(&f.title),
                message: escape(&shorten_words(&f.message, max_message).0),
                likely: f.confidence_note().map(|n| escape(&shorten_words(&n, max_message).0)).unwrap_or_default(),
                fold: !form.compact && (lines > 6 || evidence.len() > 3),
                evidence_left_out: f.evidence.len().saturating_sub(max_items),
                evidence,
                shortened,
                remediation,
                references: if keep_fix && !form.compact { f.references.iter().map(|r| r.replace(['<', '>', ' '], "")).collect() } else { Vec::new() },
                see_also: report.see_also(f).map(|s| escape(&s)),
            }
        })
        .collect();
    View {
        compact: form.compact,
        left_out: report.findings.len().saturating_sub(form.keep_findings),
        limit: if form.compact { "10,000" } else { "65,536" },
        tool_version: &report.tool.version,
        host,
        summary: summary_line(report),
        table: report
            .findings
            .iter()
            .map(|f| Row { severity: f.severity.as_str(), severity_icon: icon(f.severity), code: f.code.clone(), name: f.name.clone(), subject_cell: cell(&f.subject) })
            .collect(),
        findings,
        not_evaluated: report
            .not_evaluated
            .iter()
            .map(|n| NotEvaluatedView { code: n.code.clone(), rule: n.rule.clone(), reason: escape(&n.reason) })
            .collect(),
        all_not_evaluated: report.all_not_evaluated,
        nothing_checked: report.nothing_checked.as_deref().map(escape).unwrap_or_default(),
        asks_heading: if report.pasted_only { "To check more, paste the output of:" } else { "To check more, give vfio-doctor the output of:" }.into(),
        asks_more: report.to_check_more.iter().filter(|a| a.how != "root").count().saturating_sub(super::asks::SHOWN),
        asks: report
            .to_check_more
            .iter()
            .filter(|a| a.how == "root")
            .chain(report.to_check_more.iter().filter(|a| a.how != "root").take(super::asks::SHOWN))
            .map(|a| AskView {
                command: code(&a.command),
                about: escape(&format!(
                    "{}{}{} · {} rule(s)",
                    if a.how == "root" { "run as root to read " } else { "" },
                    a.gives.join(", "),
                    a.as_kind.as_ref().map(|k| format!(" (give it as {k}:FILE)")).unwrap_or_default(),
                    a.rules.len()
                )),
            })
            .collect(),
        notes: report.notes.iter().map(|n| escape(&if form.compact { shorten_words(n, 200).0 } else { n.clone() })).collect(),
        iommu: if form.with_picture { picture(&report.host_picture) } else { String::new() },
        iommu_count: report.host_picture.groups.len(),
        vms: report.vms.iter().map(|v| format!("**{}** — {}, {}: {}", escape(&v.name), escape(&v.facts()), code(&v.source), escape(&v.passes_text()))).collect(),
        redacted: report.redacted,
    }
}

/// `text` as an indented code block: each line after `indent` (blank lines kept blank).
fn indent_code(text: &str, indent: &str) -> String {
    text.lines().map(|l| if l.trim().is_empty() { String::new() } else { format!("{indent}{l}") }).collect::<Vec<_>>().join("\n")
}

/// Remediation Markdown made safe to post: each paragraph on one line (a soft line break
/// becomes a space; GitHub comments would show it as a break), raw HTML escaped into text,
/// code untouched; in the compact
/// form, fenced code blocks become indented ones, which old Reddit also shows as code.
pub fn forum_markdown(md: &str, compact: bool) -> String {
    use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut fenced: Option<(std::ops::Range<usize>, String)> = None;
    for (ev, range) in Parser::new_ext(md, Options::ENABLE_TABLES).into_offset_iter() {
        match ev {
            Event::SoftBreak => {
                // The break, the spaces before it and the next line's indentation.
                let start = md[..range.start].trim_end_matches([' ', '\t']).len();
                let end = range.end + md[range.end..].len() - md[range.end..].trim_start_matches([' ', '\t']).len();
                edits.push((start..end, " ".to_string()));
            }
            // Raw HTML (from a device name in a paste, a `--rules DIR` document) is shown as text.
            Event::Html(_) | Event::InlineHtml(_) => {
                edits.push((range.clone(), md[range].replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")));
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) if compact => fenced = Some((range, String::new())),
            Event::Text(t) => {
                if let Some((_, code)) = &mut fenced {
                    code.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((range, code)) = fenced.take() {
                    // The fence's own indentation (under a list item) plus four spaces.
                    let line_start = md[..range.start].rfind('\n').map_or(0, |i| i + 1);
                    let lead = &md[line_start..range.start];
                    let lead = if lead.trim().is_empty() { lead.to_string() } else { " ".repeat(lead.chars().count()) };
                    let mut block = indent_code(code.trim_end_matches('\n'), "    ");
                    block = block.lines().enumerate().map(|(i, l)| if i == 0 || l.is_empty() { l.to_string() } else { format!("{lead}{l}") }).collect::<Vec<_>>().join("\n");
                    let end = if md[..range.end].ends_with('\n') { range.end - 1 } else { range.end };
                    edits.push((range.start..end, block));
                }
            }
            _ => {}
        }
    }
    let mut out = md.to_string();
    for (range, with) in edits.into_iter().rev() {
        out.replace_range(range, &with);
    }
    // An indented block reads differently from a fence in some places (four spaces right after
    // a list continue the list's item): if the rewrite changed what is code, keep the fences.
    if compact {
        let blocks = |s: &str| Parser::new_ext(s, Options::ENABLE_TABLES).filter(|e| matches!(e, Event::Start(Tag::CodeBlock(_)))).count();
        let soft = Parser::new_ext(&out, Options::ENABLE_TABLES).any(|e| matches!(e, Event::SoftBreak));
        if soft || blocks(&out) != blocks(md) {
            return forum_markdown(md, false);
        }
    }
    out
}

fn render_view(v: &View<'_>) -> String {
    let ctx = match tera::Context::from_serialize(v) {
        Ok(c) => c,
        Err(e) => return format!("vfio-doctor: cannot render the Markdown report: {e}\n"),
    };
    match tera::Tera::one_off(TEMPLATE, &ctx, false) {
        Ok(s) => tidy(&s),
        Err(e) => format!("vfio-doctor: cannot render the Markdown report: {e}\n"),
    }
}

/// Collapse runs of blank lines the template's conditionals leave behind.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    let mut in_fence = false;
    for line in s.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
        }
        if line.trim().is_empty() && !in_fence {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end_matches(' '));
        out.push('\n');
    }
    out.trim_start().to_string()
}

/// Render the report for GitHub, shortening evidence step by step until it fits [`MAX_CHARS`].
pub fn render(report: &Report) -> String {
    // Shorten evidence a little first; then drop the IOMMU table (it is in `iommu` and the
    // HTML report) before squeezing evidence and fixes harder.
    let all = report.findings.len();
    let attempts = BUDGETS.iter().take(3).map(|b| (b, true)).chain(BUDGETS.iter().map(|b| (b, false)));
    let mut last = String::new();
    for (budget, with_picture) in attempts {
        last = render_view(&view(report, *budget, Form { compact: false, with_picture, keep_findings: all }));
        if last.chars().count() <= MAX_CHARS {
            break;
        }
    }
    last
}

/// Render the compact report for Reddit, under [`MAX_CHARS_COMPACT`]: evidence shortened,
/// then left out; if the fixes alone are too long, the last findings are left out whole (the
/// summary table still lists them) with a note saying so.
pub fn render_compact(report: &Report) -> String {
    let all = report.findings.len();
    let mut last = String::new();
    for keep in (0..=all).rev() {
        for budget in COMPACT_BUDGETS {
            last = render_view(&view(report, *budget, Form { compact: true, with_picture: false, keep_findings: keep }));
            if last.chars().count() <= MAX_CHARS_COMPACT {
                return last;
            }
        }
    }
    last
}
