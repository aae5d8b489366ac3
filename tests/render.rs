//! Rendering as users see it: remediation Markdown in the HTML page and on the terminal
//! (emphasis, nested steps, code blocks, hostile text escaped); forum Markdown rendered back to
//! HTML with pulldown-cmark (no italics from globs, no hard wraps, GitHub's and Reddit's size
//! limits on every fixture host, no HTML in the Reddit form); the terminal's width; `iommu`'s
//! one-line form, its filters, and one group order in every format.

mod support;

use pulldown_cmark::{Event, Options, Parser};

/// GitHub's and Reddit's Markdown both have tables.
fn gfm(md: &str) -> Parser<'_> {
    Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH)
}
use support::{binary, fixtures};
use vfio_doctor::commands::{obtain_bundle, Origin};
use vfio_doctor::report::{self, Report};

fn host(name: &str) -> std::path::PathBuf {
    fixtures().join("hosts").join(name)
}

fn report_of(name: &str) -> Report {
    support::diagnose(&obtain_bundle(&Origin { root: Some(host(name)), redact: true, ..Default::default() }).expect("collect fixture root"))
}

/// Every fixture host (the committed trees under fixtures/hosts/).
fn hosts() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixtures().join("hosts"))
        .expect("fixtures/hosts")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    assert!(v.len() >= 5, "{v:?}");
    v
}

/// Run the binary from the checkout (so paths in notes are the relative ones a user sees).
fn run(args: &[&str], columns: Option<&str>) -> (Option<i32>, String, String) {
    let mut c = binary();
    c.current_dir(env!("CARGO_MANIFEST_DIR")).args(args).env_remove("NO_COLOR").env_remove("COLUMNS");
    if let Some(w) = columns {
        c.env("COLUMNS", w);
    }
    let out = c.output().expect("run vfio-doctor");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn md_to_html(md: &str) -> String {
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, gfm(md));
    html
}

/// The text between `from` and the next `to` after it.
fn between<'a>(s: &'a str, from: &str, to: &str) -> &'a str {
    let start = s.find(from).unwrap_or_else(|| panic!("{from:?} not in:\n{s}"));
    let rest = &s[start..];
    &rest[..rest.find(to).unwrap_or(rest.len())]
}

#[test]
fn html_renders_remediation_markdown() {
    let (_, html, _) = run(&["check", "--root", "fixtures/hosts/seed-b550-bsod", "--format", "html"], None);
    assert!(html.contains("<strong>Make the host boot on another GPU</strong>"), "bold rendered");
    let vd303 = between(&html, "<article class=\"finding error\" id=\"VD303", "</article>");
    let fix = between(vd303, "<div class=\"fix\">", "</div>");
    assert!(!fix.contains("**"), "no literal Markdown: {fix}");
    assert!(fix.contains("<ol>"), "numbered steps are a list: {fix}");
    // Step 3's shell and XML blocks sit inside its <li>, as code.
    let step3 = between(fix, "<strong>Give the guest a clean copy", "</li>");
    assert!(step3.contains("<pre><code class=\"language-sh\">sudo mkdir -p /var/lib/libvirt/vbios"), "{step3}");
    assert!(step3.contains("<pre><code class=\"language-xml\">&lt;hostdev mode='subsystem'"), "{step3}");
}

#[test]
fn guest_code43_step_two_nests_its_xml_and_names_the_driver_release() {
    // The paste alone: no VM is known, so step 2 shows the elements to add.
    let input = "pnputil:fixtures/inputs/guest/pnputil-code43.txt";
    let (_, html, err) = run(&["check", input, "--format", "html"], None);
    let code43 = between(&html, "guest-code43:", "</article>");
    assert!(code43.contains("supported since R465 (April 2021)."), "{err}\n{code43}");
    let step2 = between(code43, "With an older driver", "</li>");
    assert!(step2.contains("<pre><code class=\"language-xml\">&lt;hyperv mode='custom'&gt;"), "the XML is under step 2: {code43}");
    let (_, text, _) = run(&["check", input], None);
    assert!(text.contains("add the inner line to that element instead of a second one:\n\n         <hyperv mode='custom'>\n"), "{text}");
}

#[test]
fn hostile_remediation_stays_text_in_html() {
    let mut report = report_of("seed-b550-bsod");
    report.findings[0].remediation = "1. **Do** this <script>alert(1)</script>\n\n<details open><summary>x</summary>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3)) [ok](https://example.org/)\n".into();
    report.findings[0].message = "check `grep <b> /x` then *not* <i>this</i>".into();
    let html = report::html::render(&report);
    assert!(html.contains("<p>check <code>grep &lt;b&gt; &#x2F;x</code> then *not* &lt;i&gt;this&lt;&#x2F;i&gt;</p>"), "message: inline code only");
    let fix = between(&html, "<div class=\"fix\">", "</div>");
    assert!(fix.contains("<strong>Do</strong> this &lt;script&gt;alert(1)&lt;/script&gt;"), "{fix}");
    assert!(fix.contains("&lt;details open&gt;") && fix.contains("&lt;img src=x onerror=alert(2)&gt;"), "{fix}");
    assert!(!fix.contains("<script") && !fix.contains("<img") && !fix.contains("<details") && !fix.contains("javascript:"), "{fix}");
    assert!(fix.contains("<a href=\"https://example.org/\">ok</a>"), "{fix}");
}

#[test]
fn hostile_remediation_stays_text_in_forum_markdown() {
    let mut report = report_of("seed-b550-bsod");
    report.findings[0].remediation = "1. Bind <img src=x onerror=alert(1)> now.\n\n<details open>\n<summary>x</summary>\n\n```xml\n<hostdev/>\n```\n".into();
    for md in [report::markdown::render(&report), report::markdown::render_compact(&report)] {
        let raw: Vec<String> = gfm(&md)
            .filter_map(|e| match e {
                Event::Html(h) | Event::InlineHtml(h) => Some(h.to_string()),
                _ => None,
            })
            .filter(|h| !h.starts_with("<details>") && !h.starts_with("</details>") && !h.starts_with("<sub>") && !h.starts_with("</sub>"))
            .collect();
        assert!(raw.is_empty(), "raw HTML from a fix reaches the post: {raw:?}");
        let html = md_to_html(&md);
        assert!(html.contains("Bind &lt;img src=x onerror=alert(1)&gt; now."), "{html}");
        assert!(html.contains("&lt;hostdev/&gt;"), "the XML is still code: {html}");
    }
}

#[test]
fn terminal_shows_emphasis_as_emphasis() {
    let report = report_of("seed-b550-bsod");
    let plain = report::text::render(&report, report::text::Style { color: false, width: 100 });
    assert!(!plain.contains("**"), "no literal asterisks:\n{plain}");
    assert!(plain.contains("    1. Make the host boot on another GPU (the robust fix): in the firmware"), "{plain}");
    // Step 3's commands are indented under the step, without Markdown fences.
    assert!(plain.contains("\n         sudo mkdir -p /var/lib/libvirt/vbios\n"), "{plain}");
    assert!(!plain.contains("```"), "{plain}");
    let colour = report::text::render(&report, report::text::Style { color: true, width: 100 });
    assert!(colour.contains("\x1b[1mMake\x1b[0m \x1b[1mthe\x1b[0m \x1b[1mhost\x1b[0m"), "bold on a terminal");
}

#[test]
fn forum_markdown_renders_cleanly_and_fits_on_every_host() {
    for name in hosts() {
        let report = report_of(&name);
        let remediations: String = report.findings.iter().map(|f| f.remediation.as_str()).collect();
        for (form, md, limit) in [
            ("markdown", report::markdown::render(&report), report::markdown::MAX_CHARS),
            ("markdown-compact", report::markdown::render_compact(&report), report::markdown::MAX_CHARS_COMPACT),
        ] {
            let chars = md.chars().count();
            assert!(chars <= limit, "{name} {form}: {chars} characters");
            // No paragraph is hard-wrapped: GitHub comments would break the line there.
            if let Some((_, at)) = gfm(&md).into_offset_iter().find(|(e, _)| matches!(e, Event::SoftBreak)) {
                let from = md[..at.start].rfind('\n').map_or(0, |i| i + 1);
                panic!("{name} {form}: a hard-wrapped line: {:?}", &md[from..(at.end + 60).min(md.len())]);
            }
            let html = md_to_html(&md);
            // Italics only where a rule asked for them, never from a glob or a name.
            for em in html.split("<em>").skip(1) {
                let text = &em[..em.find("</em>").expect("closed")];
                assert!(remediations.contains(&format!("*{text}*")), "{name} {form}: stray <em>{text}</em>");
            }
            for f in &report.findings {
                assert!(md.contains(&format!("vfio-doctor explain {}", f.name)), "{name} {form}: {} left out", f.code);
            }
            if form == "markdown-compact" {
                let raw: Vec<String> = gfm(&md)
                    .filter_map(|e| match e {
                        Event::Html(h) | Event::InlineHtml(h) => Some(h.to_string()),
                        _ => None,
                    })
                    .collect();
                assert!(raw.is_empty(), "{name}: Reddit shows HTML as text: {raw:?}");
                assert!(!md.contains("```"), "{name}: old Reddit has no fences");
            }
        }
    }
    // The notes of the seed host name globs: they stay text.
    let html = md_to_html(&report::markdown::render(&report_of("seed-b550-bsod")));
    assert!(html.contains("var/log/Xorg.*.log, "), "{html}");
}

#[test]
fn compact_markdown_trims_with_a_note_and_keeps_whole_fixes() {
    let mut report = report_of("seed-b550-bsod");
    let template = report.findings[1].clone();
    for i in 0..12 {
        let mut f = template.clone();
        f.subject = format!("0000:{i:02x}:00.0 synthetic device {i}");
        report.findings.push(f);
    }
    let md = report::markdown::render_compact(&report);
    assert!(md.chars().count() <= report::markdown::MAX_CHARS_COMPACT);
    assert!(md.contains("more finding(s) left out to fit the 10,000 character limit"), "{md}");
    // Every finding is still in the summary table.
    for i in 0..12 {
        assert!(md.contains(&format!("0000:{i:02x}:00.0 synthetic device {i} |")), "{md}");
    }
    // Each fix shown is whole: its last step is there.
    let shown = md.matches("#### 🔴 VD303").count();
    assert!(shown >= 1);
    assert_eq!(md.matches("virsh start win10").count(), shown, "{md}");
    let (_, out, _) = run(&["check", "--root", "fixtures/hosts/seed-b550-bsod", "--format", "reddit"], None);
    assert!(out.starts_with("### vfio-doctor") && !out.contains("<details>"), "{out}");
}

#[test]
fn terminal_follows_its_width() {
    let args = ["check", "--root", "fixtures/hosts/seed-b550-bsod"];
    let report = report_of("seed-b550-bsod");
    let code: Vec<String> = report
        .findings
        .iter()
        .flat_map(|f| f.remediation.lines().map(|l| l.trim().to_string()))
        .filter(|l| l.len() > 20)
        .collect();
    let evidence = "[   61.590114] vfio-pci 0000:08:00.0: BAR 1: can't reserve [mem 0xd0000000-0xdfffffff 64bit pref]";
    for width in [60usize, 132] {
        let (_, out, _) = run(&args, Some(&width.to_string()));
        for line in out.lines() {
            // Copyable code lines are kept whole; everything else fits.
            let is_code = code.iter().any(|c| line.trim() == c);
            assert!(is_code || line.chars().count() <= width, "{width} columns: {line:?}");
        }
        let table = out.lines().find(|l| l.starts_with('┌')).expect("summary table");
        assert!(table.chars().count() <= width, "{table}");
        let (_, iommu, _) = run(&["iommu", "--long", "--root", "fixtures/hosts/seed-b550"], Some(&width.to_string()));
        assert!(iommu.lines().all(|l| l.chars().count() <= width), "{width}: {iommu}");
        let (_, rules, _) = run(&["rules"], Some(&width.to_string()));
        assert!(rules.lines().all(|l| l.chars().count() <= width), "{width}: {rules}");
        if width == 132 {
            assert!(out.contains(evidence), "evidence not cut at 132 columns:\n{out}");
        } else {
            assert!(!out.contains(evidence) && out.contains("[   61.590114] vfio-pci 0000:08:00.0: BAR 1:"), "{out}");
        }
    }
    // Not a terminal and no COLUMNS: 80.
    let (_, out, _) = run(&args, None);
    assert!(out.lines().filter(|l| l.starts_with('┌')).all(|l| l.chars().count() == 80), "{out}");
}

#[test]
fn iommu_compact_lines_and_filters() {
    let (code, out, err) = run(&["iommu", "--root", "fixtures/hosts/seed-b550"], None);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("IOMMU Group ")).collect();
    assert_eq!(lines.len(), 42, "one line per device when piped:\n{out}");
    assert!(lines.contains(&"IOMMU Group 16 08:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP106 [GeForce GTX 1060 3GB] [10de:1c02] Driver: vfio-pci"), "{out}");
    assert!(out.contains("22 group(s): 5 can be passed"), "{out}");
    // GPU groups first, bridge-only groups last.
    assert!(lines[0].starts_with("IOMMU Group 15 "), "{out}");
    assert!(lines.last().is_some_and(|l| l.contains("bridge")), "{out}");

    // What it prints is what the guides' loop prints: `check` reads it back as a listing.
    let dir = tempfile::tempdir().expect("tempdir");
    let pasted = dir.path().join("groups.txt");
    std::fs::write(&pasted, &out).expect("write");
    let (_, again, err) = run(&["iommu", pasted.to_str().expect("utf-8")], None);
    let again: Vec<&str> = again.lines().filter(|l| l.starts_with("IOMMU Group ")).collect();
    assert_eq!(again.len(), 42, "{err}");
    assert!(again.iter().any(|l| l.starts_with("IOMMU Group 16 08:00.0 ") && l.ends_with("[10de:1c02] Driver: vfio-pci")), "{again:?}");

    let (_, gpu, _) = run(&["iommu", "--gpu", "--root", "fixtures/hosts/seed-b550"], None);
    let groups: std::collections::BTreeSet<&str> = gpu.lines().filter_map(|l| l.strip_prefix("IOMMU Group ")).filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(groups.into_iter().collect::<Vec<_>>(), ["15", "16"], "{gpu}");
    let (_, one, _) = run(&["iommu", "--group", "16", "--root", "fixtures/hosts/seed-b550"], None);
    assert_eq!(one.lines().filter(|l| l.starts_with("IOMMU Group 16 ")).count(), 2, "{one}");
    assert_eq!(one.lines().filter(|l| l.starts_with("IOMMU Group ")).count(), 2, "{one}");
    let (code, _, err) = run(&["iommu", "--group", "99", "--root", "fixtures/hosts/seed-b550"], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("no IOMMU group 99") && err.contains("the groups are 0, 1, 2,"), "{err}");
    let (_, long, _) = run(&["iommu", "--long", "--gpu", "--root", "fixtures/hosts/seed-b550"], None);
    assert!(long.contains("┌") && long.contains("IOMMU group 16 — ✔"), "{long}");
}

#[test]
fn groups_come_in_one_order_in_every_format() {
    let (_, text, _) = run(&["iommu", "--long", "--root", "fixtures/hosts/seed-b550"], None);
    let pos = |s: &str, needle: &str| s.find(needle).unwrap_or_else(|| panic!("{needle:?} not in:\n{s}"));
    assert!(pos(&text, "IOMMU group 15 ") < pos(&text, "IOMMU group 12 "), "{text}");
    assert!(pos(&text, "IOMMU group 16 ") < pos(&text, "IOMMU group 0 "), "{text}");
    let (_, md, _) = run(&["iommu", "--format", "markdown", "--root", "fixtures/hosts/seed-b550"], None);
    assert!(pos(&md, "| 16 |") < pos(&md, "| 12 |"), "{md}");
    let (_, html, _) = run(&["check", "--root", "fixtures/hosts/seed-b550", "--format", "html"], None);
    assert!(pos(&html, "id=\"group-16\"") < pos(&html, "id=\"group-12\""));
}

/// On a terminal (a pseudo-terminal from util-linux `script`): the width is the terminal's
/// (no COLUMNS), and `iommu` shows its tables.
#[test]
fn on_a_terminal_the_width_is_the_terminals() {
    let missing: Vec<&str> = ["script", "stty"].into_iter().filter(|p| !support::on_path(p)).collect();
    if !support::tools_present("on_a_terminal_the_width_is_the_terminals", &missing, "`script` is in Debian's bsdutils, `stty` in coreutils; .ci/run installs them") {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_vfio-doctor");
    let on_tty = |cols: u16, args: &str| {
        let cmd = format!("stty rows 40 cols {cols}; {bin} {args}");
        let out = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("COLUMNS")
            .env("NO_COLOR", "1")
            .output()
            .expect("script");
        String::from_utf8_lossy(&out.stdout).replace('\r', "")
    };
    let wide = on_tty(132, "check --root fixtures/hosts/seed-b550-bsod");
    assert!(wide.contains("[   61.590114] vfio-pci 0000:08:00.0: BAR 1: can't reserve [mem 0xd0000000-0xdfffffff 64bit pref]"), "{wide}");
    assert!(wide.lines().any(|l| l.starts_with('┌') && l.chars().count() > 80), "{wide}");
    let narrow = on_tty(60, "check --root fixtures/hosts/seed-b550-bsod");
    let table = narrow.lines().find(|l| l.starts_with('┌')).expect("table");
    assert!(table.chars().count() <= 60, "{narrow}");
    let iommu = on_tty(100, "iommu --root fixtures/hosts/seed-b550");
    assert!(iommu.contains("IOMMU group 16 — ✔") && iommu.contains('┌'), "a terminal gets the tables: {iommu}");
}
