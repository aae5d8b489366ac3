//! The one-file HTML report: findings plus a drawing of the host's IOMMU groups. Inline CSS
//! only, a Content-Security-Policy that forbids every fetch, and tera autoescape on every value,
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
}

#[derive(Serialize)]
struct GpuLine<'a> {
    device: &'a super::picture::PictureDevice,
    group: &'a super::picture::PictureGroup,
}

#[derive(Serialize)]
struct FindingView<'a> {
    f: &'a crate::rules::Finding,
    fix: Vec<Block>,
    /// Only https links become `<a href>`; anything else is shown as text.
    links: Vec<Link>,
    see_also: Option<String>,
}

#[derive(Serialize)]
struct Link {
    href: Option<String>,
    text: String,
}

/// A piece of Markdown remediation, rendered by the template (escaped, never as raw HTML).
#[derive(Serialize, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Block {
    Para { spans: Vec<Span> },
    Item { marker: String, spans: Vec<Span> },
    Code { lang: String, text: String },
}

#[derive(Serialize, Debug, PartialEq)]
struct Span {
    code: bool,
    text: String,
}

fn spans(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    for (i, part) in text.split('`').enumerate() {
        if !part.is_empty() {
            out.push(Span { code: i % 2 == 1, text: part.to_string() });
        }
    }
    out
}

/// The small Markdown subset rule remediations use: paragraphs, `1.`/`-` items, fenced code,
/// inline code. Everything stays text; the template escapes it.
fn blocks(md: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let mut marker: Option<String> = None;
    let mut code: Option<(String, String, Vec<&str>)> = None;
    let flush = |out: &mut Vec<Block>, para: &mut Vec<&str>, marker: &mut Option<String>| {
        if !para.is_empty() {
            let s = spans(&para.join(" "));
            out.push(match marker.take() {
                Some(m) => Block::Item { marker: m, spans: s },
                None => Block::Para { spans: s },
            });
            para.clear();
        }
    };
    for line in md.lines() {
        let t = line.trim_start();
        if let Some((fence, lang, lines)) = &mut code {
            if t.starts_with(fence.as_str()) && t.trim_end().chars().all(|c| c == '`' || c == '~') {
                out.push(Block::Code { lang: lang.clone(), text: dedent(lines) });
                code = None;
            } else {
                lines.push(line);
            }
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            flush(&mut out, &mut para, &mut marker);
            let fence: String = t.chars().take_while(|c| *c == '`' || *c == '~').collect();
            let lang = t[fence.len()..].trim().to_string();
            code = Some((fence, lang, Vec::new()));
            continue;
        }
        if t.is_empty() {
            flush(&mut out, &mut para, &mut marker);
            continue;
        }
        let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
        let item = if t.starts_with("- ") || t.starts_with("* ") {
            Some(("•".to_string(), &t[2..]))
        } else if digits > 0 && t[digits..].starts_with(". ") {
            Some((t[..digits + 1].to_string(), &t[digits + 2..]))
        } else {
            None
        };
        match item {
            Some((m, rest)) => {
                flush(&mut out, &mut para, &mut marker);
                marker = Some(m);
                para.push(rest);
            }
            None => para.push(t),
        }
    }
    if let Some((_, lang, lines)) = code {
        out.push(Block::Code { lang, text: dedent(&lines) });
    }
    flush(&mut out, &mut para, &mut marker);
    out
}

/// Code lines without the indentation they had under a list item.
fn dedent(lines: &[&str]) -> String {
    let cut = lines.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    lines.iter().map(|l| l.get(cut..).unwrap_or("").trim_end()).collect::<Vec<_>>().join("\n")
}

fn link(r: &str) -> Link {
    let ok = r.starts_with("https://") && !r.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '<' || c == '>');
    Link { href: ok.then(|| r.to_string()), text: r.to_string() }
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
            .map(|f| FindingView { f, fix: blocks(&f.remediation), links: f.references.iter().map(|r| link(r)).collect(), see_also: report.see_also(f) })
            .collect(),
        groups: {
            // The groups a reader looks for first: those with a GPU or a device taken for a VM.
            let mut g: Vec<_> = pic.groups.iter().filter(|g| g.verdict.kind != "bridges-only").collect();
            g.sort_by_key(|g| !(g.taken || g.devices.iter().any(|d| d.role == "gpu")));
            g
        },
        ungrouped: &pic.ungrouped,
        bridge_groups: pic.groups.iter().filter(|g| g.verdict.kind == "bridges-only").map(|g| g.id.as_str()).collect(),
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
    fn remediation_blocks() {
        let b = blocks("Do this:\n\n1. Set `x`\n   then y.\n2. Or\n\n```sh\necho <b>\n```\nDone.");
        assert_eq!(b.len(), 5, "{b:?}");
        assert_eq!(
            b[1],
            Block::Item {
                marker: "1.".into(),
                spans: vec![
                    Span { code: false, text: "Set ".into() },
                    Span { code: true, text: "x".into() },
                    Span { code: false, text: " then y.".into() }
                ]
            }
        );
        assert_eq!(b[3], Block::Code { lang: "sh".into(), text: "echo <b>".into() });
    }

    #[test]
    fn only_https_links_are_links() {
        assert!(link("https://wiki.archlinux.org/x").href.is_some());
        assert!(link("javascript:alert(1)").href.is_none());
        assert!(link("http://example.com").href.is_none());
    }
}
