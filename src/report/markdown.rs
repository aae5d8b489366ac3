//! The Markdown report, paste-ready for GitHub, Reddit and forums: summary table first, each
//! finding with fenced evidence (long evidence folded in `<details>`), under 65,536 characters
//! (GitHub's comment limit) by shortening evidence, never by dropping a finding.

use serde::Serialize;

use super::picture::HostPicture;
use super::Report;
use crate::rules::Severity;

/// GitHub rejects issue bodies and comments longer than this (characters).
pub const MAX_CHARS: usize = 65_536;

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
    tool_version: &'a str,
    host: String,
    summary: String,
    findings: Vec<FindingView>,
    not_evaluated: Vec<NotEvaluatedView>,
    all_not_evaluated: bool,
    nothing_checked: String,
    asks_heading: String,
    asks: Vec<AskView>,
    asks_more: usize,
    notes: Vec<String>,
    iommu: String,
    iommu_count: usize,
    redacted: bool,
}

#[derive(Serialize)]
struct FindingView {
    severity: &'static str,
    severity_icon: &'static str,
    code: String,
    name: String,
    title: String,
    subject_cell: String,
    message: String,
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
    fence: String,
    excerpt: String,
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

/// Escape text for Markdown prose: no raw HTML from a bundle reaches the page.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Escape text for a table cell: one line, no `|`, no HTML.
pub fn cell(s: &str) -> String {
    escape(&s.split_whitespace().collect::<Vec<_>>().join(" ")).replace('|', "\\|")
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
    for g in p.groups.iter().filter(|g| g.verdict.kind != "bridges-only") {
        for (i, d) in g.devices.iter().enumerate() {
            let mut name = format!("{} {}", d.address, d.class_name.as_deref().unwrap_or(""));
            name.push_str(&format!(": {}", d.name));
            if d.boot_vga {
                name.push_str(" **(boot VGA)**");
            }
            if let Some(t) = &d.taken_for_vm {
                name.push_str(" **→ VM");
                if !t.vms.is_empty() {
                    name.push(' ');
                    name.push_str(&t.vms.join(", "));
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
                cell(&name),
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
            g.breaks_isolation.join(", ")
        ));
    }
    out
}

fn view(report: &Report, budget: Budget, with_picture: bool) -> View<'_> {
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
        .map(|f| {
            let mut shortened = f.evidence.len() > max_items;
            let evidence: Vec<EvidenceView> = f
                .evidence
                .iter()
                .take(max_items)
                .map(|e| {
                    let (excerpt, cut) = shorten(&e.excerpt, max_excerpt);
                    shortened |= cut;
                    EvidenceView {
                        source: e.source.replace('`', "'"),
                        location: escape(&e.location),
                        count: e.count,
                        fence: fence_for(&excerpt),
                        excerpt,
                    }
                })
                .collect();
            let lines: usize = evidence.iter().map(|e| e.excerpt.lines().count().max(1)).sum();
            let remediation = if keep_fix {
                f.remediation.clone()
            } else {
                let first = f.remediation.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                let (first, _) = shorten(first, max_message.min(200));
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
                subject_cell: cell(&f.subject),
                message: escape(&shorten(&f.message, max_message).0),
                fold: lines > 6 || evidence.len() > 3,
                evidence_left_out: f.evidence.len().saturating_sub(max_items),
                evidence,
                shortened,
                remediation,
                references: if keep_fix { f.references.iter().map(|r| r.replace(['<', '>', ' '], "")).collect() } else { Vec::new() },
                see_also: report.see_also(f).map(|s| escape(&s)),
            }
        })
        .collect();
    View {
        tool_version: &report.tool.version,
        host,
        summary: summary_line(report),
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
        notes: report.notes.iter().map(|n| escape(n)).collect(),
        iommu: if with_picture { picture(&report.host_picture) } else { String::new() },
        iommu_count: report.host_picture.groups.len(),
        redacted: report.redacted,
    }
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

/// Render the report, shortening evidence step by step until it fits [`MAX_CHARS`].
pub fn render(report: &Report) -> String {
    // Shorten evidence a little first; then drop the IOMMU table (it is in `iommu` and the
    // HTML report) before squeezing evidence and fixes harder.
    let attempts = BUDGETS.iter().take(3).map(|b| (b, true)).chain(BUDGETS.iter().map(|b| (b, false)));
    let mut last = String::new();
    for (budget, with_picture) in attempts {
        last = render_view(&view(report, *budget, with_picture));
        if last.chars().count() <= MAX_CHARS {
            break;
        }
    }
    last
}
