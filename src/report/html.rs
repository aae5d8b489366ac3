//! The one-file HTML report: findings plus a drawing of the host's IOMMU groups. Inline CSS
//! only, a Content-Security-Policy that forbids every fetch, and tera autoescape on every value
//! but the remediation, which `prose::to_html` renders with every raw HTML tag escaped,
//! because everything in a bundle is untrusted.

use serde::Serialize;

use super::Report;

const TEMPLATE: &str = include_str!("../../report-templates/report.html");

#[derive(Serialize)]
struct View<'a> {
    report: &'a Report,
    host: String,
    findings: Vec<FindingView<'a>>,
    /// Groups worth a box (any endpoint), and the ids of groups holding only bridges.
    groups: Vec<&'a super::picture::PictureGroup>,
    bridge_groups: Vec<&'a str>,
    /// Devices in no IOMMU group (a paste without groups).
    ungrouped: &'a [super::picture::PictureDevice],
    /// One line per GPU: where it sits and whether its group can go to a VM.
    gpus: Vec<GpuLine<'a>>,
    /// `--all-not-evaluated`: list every rule not evaluated, not the short list.
    all_not_evaluated: bool,
    /// How many asks are shown (a root ask counts as one).
    asks_shown: usize,
    /// The VMs the input defines, one line each (as the text report lists them).
    vms: Vec<VmLine>,
}

#[derive(Serialize)]
struct VmLine {
    name: String,
    facts: String,
    source: String,
    passes: String,
}

#[derive(Serialize)]
struct GpuLine<'a> {
    device: &'a super::picture::PictureDevice,
    group: &'a super::picture::PictureGroup,
}

#[derive(Serialize)]
struct FindingView<'a> {
    f: &'a crate::rules::Finding,
    /// The remediation Markdown as HTML (pulldown-cmark; raw HTML in it shown as text).
    fix: String,
    /// The message, its `inline code` spans apart (the rest is plain text, never Markdown).
    message: Vec<Span>,
    /// Only https links become `<a href>`; anything else is shown as text.
    links: Vec<Link>,
    see_also: Option<String>,
}

#[derive(Serialize, Debug, PartialEq)]
struct Span {
    code: bool,
    text: String,
}

/// Text split at balanced backticks: odd pieces are inline code. A lone backtick stays text.
fn spans(text: &str) -> Vec<Span> {
    let mut parts: Vec<&str> = text.split('`').collect();
    let mut tail = None;
    if parts.len() % 2 == 0 {
        // An odd number of backticks: the last one opens nothing.
        let last = parts.pop().unwrap_or_default();
        let before = parts.pop().unwrap_or_default();
        tail = Some(format!("{before}`{last}"));
    }
    let mut out: Vec<Span> = parts.iter().enumerate().filter(|(_, p)| !p.is_empty()).map(|(i, p)| Span { code: i % 2 == 1, text: p.to_string() }).collect();
    if let Some(t) = tail {
        out.push(Span { code: false, text: t });
    }
    out
}

#[derive(Serialize)]
struct Link {
    href: Option<String>,
    text: String,
}

fn link(r: &str) -> Link {
    Link { href: super::prose::is_safe_link(r).then(|| r.to_string()), text: r.to_string() }
}

pub fn render(report: &Report) -> String {
    let host = [report.host.distro.as_deref(), report.host.kernel.as_deref(), report.host.cpu.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    // Addresses as lspci prints them (the JSON report keeps them full).
    let shown = report.host_picture.for_display();
    let pic = &shown;
    let view = View {
        report,
        all_not_evaluated: report.all_not_evaluated,
        asks_shown: super::asks::SHOWN + report.to_check_more.iter().filter(|a| a.how == "root").count(),
        host,
        findings: report
            .findings
            .iter()
            .map(|f| FindingView { f, fix: super::prose::to_html(&f.remediation), message: spans(&f.message), links: f.references.iter().map(|r| link(r)).collect(), see_also: report.see_also(f) })
            .collect(),
        // The groups a reader looks for first (a GPU, a device taken for a VM) lead, as in
        // every format.
        groups: pic.ordered().into_iter().filter(|g| g.verdict.kind != "bridges-only").collect(),
        ungrouped: &pic.ungrouped,
        bridge_groups: pic.groups.iter().filter(|g| g.verdict.kind == "bridges-only").map(|g| g.id.as_str()).collect(),
        vms: report.vms.iter().map(|v| VmLine { name: v.name.clone(), facts: v.facts(), source: v.source.clone(), passes: v.passes_text() }).collect(),
        gpus: pic
            .groups
            .iter()
            .flat_map(|g| g.devices.iter().filter(|d| d.role == "gpu").map(move |d| GpuLine { device: d, group: g }))
            .collect(),
    };
    let ctx = match tera::Context::from_serialize(&view) {
        Ok(c) => c,
        Err(e) => return fallback(&e.to_string()),
    };
    let mut tera = tera::Tera::default();
    // Autoescape is on for templates whose name ends in .html (tera's default).
    if let Err(e) = tera.add_raw_template("report.html", TEMPLATE) {
        return fallback(&e.to_string());
    }
    match tera.render("report.html", &ctx) {
        Ok(s) => s,
        Err(e) => {
            // tera nests the real cause ("Variable `x` not found") in the source chain.
            let mut why = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                why.push_str(": ");
                why.push_str(&s.to_string());
                src = s.source();
            }
            fallback(&why)
        }
    }
}

fn fallback(why: &str) -> String {
    let why = why.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<!doctype html><meta charset=utf-8><title>vfio-doctor</title><p>vfio-doctor could not render this report: {why}</p>\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_code_spans() {
        let s = spans("confirm with `pnputil /enum-devices` in the guest, `x");
        assert_eq!(s[1], Span { code: true, text: "pnputil /enum-devices".into() });
        assert_eq!(s[2], Span { code: false, text: " in the guest, `x".into() });
    }

    #[test]
    fn only_https_links_are_links() {
        assert!(link("https://wiki.archlinux.org/x").href.is_some());
        assert!(link("javascript:alert(1)").href.is_none());
        assert!(link("http://example.com").href.is_none());
    }
}
