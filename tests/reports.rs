//! Reports as users read them: the broken seed host in text, Markdown, HTML and JSON; the
//! forum size cap; hostile bundles rendered harmless; `iommu` on the seed host and on a host
//! without an IOMMU; `-o FILE` picking the format from the extension; colour only on a TTY.

mod support;

use support::{binary, fixtures};
use vfio_doctor::bundle::Bundle;
use vfio_doctor::commands::{iommu, obtain_bundle, Origin};
use vfio_doctor::report::{self, Report};
use vfio_doctor::rules::Evidence;

fn host(name: &str) -> std::path::PathBuf {
    fixtures().join("hosts").join(name)
}

fn bundle_of(name: &str) -> Bundle {
    obtain_bundle(&Origin { root: Some(host(name)), redact: true, ..Default::default() }).expect("collect fixture root")
}

/// The broken seed host's report, with the checkout's path in notes and not-evaluated reasons
/// replaced before rendering
/// (the text report wraps notes, so the path's length would otherwise move line breaks).
fn bsod_report() -> Report {
    let mut report = support::diagnose(&bundle_of("seed-b550-bsod"));
    let dir = fixtures().display().to_string();
    report.notes = report.notes.iter().map(|n| n.replace(&dir, "{FIXTURES}")).collect();
    for n in &mut report.not_evaluated {
        n.reason = n.reason.replace(&dir, "{FIXTURES}");
    }
    report
}

#[test]
fn text_report_of_the_broken_host_fits_80_columns() {
    let report = bsod_report();
    let text = report::text::render(&report, report::text::Style::plain());
    // Lines of the fixes' code blocks (the copyable commands, kept intact) are exempt;
    // everything else must fit.
    let code: Vec<&str> = report.findings.iter().flat_map(|f| f.remediation.lines().map(str::trim)).filter(|l| l.len() > 20).collect();
    for line in text.lines() {
        if code.contains(&line.trim()) {
            continue;
        }
        assert!(line.chars().count() <= 80, "wider than 80 columns: {line:?}");
    }
    assert!(!text.contains("```"), "no Markdown fences in the text report");
    assert!(!text.contains('\x1b'), "plain style must not colour");
    insta::assert_snapshot!("text-seed-b550-bsod", support::normalise(text, None));
}

#[test]
fn markdown_report_of_the_broken_host() {
    let md = report::markdown::render(&bsod_report());
    assert!(md.starts_with("### vfio-doctor"), "{md}");
    let table = md.find("| severity | code | rule | subject |").expect("summary table");
    let finding = md.find("#### 🔴 VD301").expect("finding heading");
    assert!(table < finding, "the summary table comes first");
    assert!(md.contains("```\n[   61.590114] vfio-pci 0000:08:00.0: BAR 1: can't reserve"), "evidence fenced: {md}");
    assert!(md.contains("<details><summary>IOMMU groups (22)</summary>"));
    insta::assert_snapshot!("markdown-seed-b550-bsod", support::normalise(md, None));
}

#[test]
fn html_report_is_self_contained_and_draws_the_groups() {
    let html = report::html::render(&bsod_report());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(
        r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';"#
    ));
    assert_self_contained(&html);
    assert!(html.contains("@media print") && html.contains(r#"name="viewport""#));
    // The finding, its evidence and its fix.
    assert!(html.contains("bar-reservation-failure") && html.contains("BAR 1: can&#x27;t reserve"), "{html}");
    // Group 15: the chipset group with the RX 550, marked not passable; group 16 taken for the VM.
    let g15 = group_box(&html, "15");
    assert!(g15.contains(r#"class="group critical""#), "{g15}");
    assert!(g15.contains("Baffin") && g15.contains("host needs: USB controller"), "{g15}");
    let g16 = group_box(&html, "16");
    assert!(g16.contains(r#"class="group passable taken""#), "{g16}");
    assert!(g16.contains("GP106 [GeForce GTX 1060 3GB]") && g16.contains("boot VGA") && g16.contains("→ VM"), "{g16}");
    assert!(g16.contains("[10de:1c02]") && g16.contains("<code>vfio-pci</code>"), "{g16}");
    assert_eq!(html.matches(r#"" id="group-"#).count(), 9, "22 groups, 13 of them bridges only");
    assert!(html.contains("Groups with only bridges (nothing to pass): 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13."));
}

#[test]
fn html_marks_a_group_whose_isolation_is_broken() {
    // The GTX 1060 goes to the VM, but its HDMI audio function is not in the VM and stays on
    // the host's driver.
    let mut b = bundle_of("seed-b550");
    for s in &mut b.sources {
        if s.kind == vfio_doctor::bundle::SourceKind::DomainXml {
            if let Some(text) = &mut s.text {
                *text = text.replace("bus='0x08' slot='0x00' function='0x1'", "bus='0x0a' slot='0x00' function='0x4'");
            }
        }
    }
    for d in &mut b.pci_devices {
        if d.address.ends_with("08:00.1") {
            d.driver = Some("snd_hda_intel".into());
        }
    }
    let report = support::diagnose(&b);
    let html = report::html::render(&report);
    let g16 = group_box(&html, "16");
    assert!(g16.contains(" breach"), "{g16}");
    assert!(g16.contains("Isolation broken: a device here is taken for a VM, but 08:00.1 stays with the host."), "{g16}");
    let text = report::text::render(&report, report::text::Style::plain());
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("Isolation broken in group(s) 16."), "{text}");
}

fn group_box<'a>(html: &'a str, id: &str) -> &'a str {
    let marker = format!(r#"id="group-{id}""#);
    let at = html.find(&marker).unwrap_or_else(|| panic!("no box for group {id}"));
    let start = html[..at].rfind("<div class=\"group").expect("box start");
    let end = html[at..].find("<div class=\"group").map(|e| at + e).unwrap_or(html.len());
    &html[start..end]
}

/// Nothing that a browser would fetch or run: no script, stylesheet link, image, CSS url(),
/// and absolute URLs only as the href of a plain `<a>` (a link the reader may click).
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in ["<script", "<link", "<img", "url(", "<iframe", "<object", "<embed", "@import", "http://"] {
        assert!(!lower.contains(bad), "HTML contains {bad}");
    }
    for (i, _) in lower.match_indices("https://") {
        let before = &lower[..i];
        let ok = before.ends_with("<a href=\"") || before.ends_with("rel=\"noreferrer noopener\">");
        assert!(ok, "https:// outside a plain link: {}", &html[i.saturating_sub(60)..(i + 40).min(html.len())]);
    }
}

#[test]
fn json_report_carries_the_host_picture() {
    let json = report::json::render(&bsod_report());
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(v["format"], "vfio-doctor-report");
    // The cause first, the finding it explains after it, citing it.
    assert_eq!(v["findings"][0]["code"], "VD303");
    assert_eq!(v["findings"][1]["code"], "VD301");
    assert_eq!(v["findings"][1]["related"][0], "VD303");
    let groups = v["host_picture"]["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 22);
    let g16 = groups.iter().find(|g| g["id"] == "16").expect("group 16");
    assert_eq!(g16["verdict"]["kind"], "together");
    assert_eq!(g16["devices"][0]["address"], "0000:08:00.0");
    assert_eq!(g16["devices"][0]["taken_for_vm"]["how"], "hostdev of win10, bound to vfio-pci");
    assert_eq!(g16["devices"][0]["taken_for_vm"]["vms"][0], "win10");
    assert_eq!(g16["devices"][0]["boot_vga"], true);
}

#[test]
fn markdown_stays_under_the_forum_limit_without_dropping_findings() {
    let mut report = bsod_report();
    let template = report.findings[0].clone();
    report.findings.clear();
    for i in 0..60 {
        let mut f = template.clone();
        f.subject = format!("0000:{i:02x}:00.0 synthetic device {i}");
        f.message = format!("finding number {i}: {}", "a long message ".repeat(20));
        f.evidence = (0..40)
            .map(|j| Evidence::new(format!("var/log/syslog.{j}"), format!("line {j}"), "x".repeat(4_000) + "```" + &"y".repeat(500)))
            .collect();
        report.findings.push(f);
    }
    let md = report::markdown::render(&report);
    let chars = md.chars().count();
    assert!(chars <= report::markdown::MAX_CHARS, "{chars} characters");
    for i in 0..60 {
        assert!(md.contains(&format!("0000:{i:02x}:00.0 synthetic device {i} |")), "finding {i} dropped from the table");
        assert!(md.contains(&format!("finding number {i}:")), "finding {i} dropped");
    }
    assert!(md.contains("shortened"), "says that evidence was shortened");
    // An excerpt's backticks never close its fence: every fence opened is closed.
    let fences = md.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(fences % 2, 0);

    // A few findings with much evidence: the evidence stays, shortened and folded.
    report.findings.truncate(3);
    let md = report::markdown::render(&report);
    assert!(md.chars().count() <= report::markdown::MAX_CHARS);
    assert!(md.contains("<details><summary>Evidence ("), "long evidence is folded");
    assert!(md.contains("`var/log/syslog.0` line 0") && md.contains("more characters]"), "evidence kept, shortened");
}

const PAYLOADS: [&str; 3] = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "\"><svg onload=alert(3)>"];

/// A bundle whose log lines, source paths, VM names, notes and device facts carry HTML payloads.
fn hostile_bundle() -> Bundle {
    let mut b = bundle_of("seed-b550-bsod");
    let all = PAYLOADS.join(" ");
    for s in &mut b.sources {
        if s.kind == vfio_doctor::bundle::SourceKind::DomainXml {
            // Still valid XML: the parsed VM name is the payload itself.
            if let Some(text) = &mut s.text {
                *text = text.replace("<name>win10</name>", "<name>win10&lt;script&gt;alert(1)&lt;/script&gt;</name>");
            }
            continue;
        }
        if let Some(text) = &mut s.text {
            // Appended to every line, so whichever line a rule quotes carries them.
            *text = text.lines().map(|l| format!("{l} {all}")).collect::<Vec<_>>().join("\n");
        }
        if s.vm.is_some() {
            s.vm = Some(format!("win10{}", PAYLOADS[0]));
            s.path = format!("{}{}", s.path, PAYLOADS[1]);
        }
    }
    b.notes.push(format!("note {all}"));
    b.host.distro = Some(format!("Ubuntu {}", PAYLOADS[2]));
    for d in &mut b.pci_devices {
        if d.address.ends_with("08:00.1") {
            d.driver = Some(PAYLOADS[1].into());
        }
    }
    b
}

#[test]
fn hostile_bundle_is_escaped_in_html_and_markdown() {
    let mut report = support::diagnose(&hostile_bundle());
    assert!(!report.findings.is_empty(), "the payloads must reach a finding's evidence");
    let vm_names: Vec<&str> = report.host_picture.taken().flat_map(|d| d.taken_for_vm.iter().flat_map(|t| t.vms.iter())).map(String::as_str).collect();
    assert!(vm_names.contains(&"win10<script>alert(1)</script>"), "the hostile VM name must reach the picture: {vm_names:?}");
    report.findings[0].references.push("javascript:alert(4)".into());
    report.findings[0].remediation.push_str(&format!("\n\n{}\n", PAYLOADS[1]));
    let html = report::html::render(&report);
    assert_self_contained(&html);
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<svg") && !lower.contains("onerror=alert(2)>"), "raw payload in HTML");
    assert!(!lower.contains("href=\"javascript:"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"), "escaped payload shown");
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(html.contains("→ VM win10&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"), "VM name shown, escaped");
    // Every "onerror=" is inside escaped text: directly preceded by an escaped tag opening.
    for (i, _) in html.match_indices("onerror=") {
        assert!(html[..i].ends_with("&lt;img src=x "), "unescaped onerror at {}", &html[i.saturating_sub(40)..i + 20]);
    }

    let md = report::markdown::render(&report);
    // In Markdown, raw HTML outside code is rendered by forums: it must appear only inside
    // fenced evidence blocks or inline code, never in prose.
    let mut in_fence = false;
    for line in md.lines() {
        // Fences inside list items are indented; they are code all the same.
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let prose: String = line.split('`').step_by(2).collect();
        let remediation_payload = line == PAYLOADS[1];
        assert!(remediation_payload || !prose.contains("<script") && !prose.contains("<img") && !prose.contains("<svg"), "raw HTML in Markdown prose: {line}");
    }
}

fn iommu_text(name: &str) -> String {
    let p = iommu::picture(&Origin { root: Some(host(name)), redact: true, ..Default::default() }).expect("picture");
    iommu::render(&p, iommu::IommuFormat::Text, report::text::Style::plain())
}

#[test]
fn iommu_of_the_seed_host() {
    let text = iommu_text("seed-b550");
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "wider than 80 columns: {line:?}");
    }
    assert!(text.contains("IOMMU group 15 — ✘ not passable: contains host-critical devices: 02:00.0 (USB\n    controller), 02:00.1 (storage controller)"), "{text}");
    assert!(text.contains("07:00.0 (network in use by r8169)"));
    assert!(text.contains("IOMMU group 16 — ✔ can be passed, only together with its other functions:\n    08:00.0, 08:00.1"), "{text}");
    assert!(text.contains("22 group(s): 5 can be passed, 4 hold devices the host needs, 13 bridges only."));
    insta::assert_snapshot!("iommu-seed-b550", text);

    let p = iommu::picture(&Origin { root: Some(host("seed-b550")), redact: true, ..Default::default() }).expect("picture");
    let json: serde_json::Value = serde_json::from_str(&iommu::render(&p, iommu::IommuFormat::Json, report::text::Style::plain())).expect("json");
    let g15 = &json["groups"][15];
    assert_eq!(g15["id"], "15");
    assert_eq!(g15["verdict"]["passable"], false);
    let critical: Vec<&str> = g15["verdict"]["devices"].as_array().expect("devices").iter().filter_map(|d| d.as_str()).collect();
    // The RX 550 is the host's boot display while the GTX 1060 is taken for the VM.
    assert_eq!(critical, ["0000:02:00.0", "0000:02:00.1", "0000:04:00.0", "0000:05:00.0", "0000:06:00.0", "0000:07:00.0"]);
    assert_eq!(json["groups"][16]["verdict"]["kind"], "together");
    assert_eq!(json["groups"][16]["verdict"]["passable"], true);
}

/// Every string of `iommu --format json` on every fixture host names devices by full
/// `DDDD:BB:DD.F` address (what sysfs, libvirt, QEMU and the bundle use), prose included.
#[test]
fn iommu_json_speaks_full_addresses_on_every_fixture_host() {
    let full = regex::Regex::new(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$").expect("regex");
    // A bus:slot.function not preceded by a domain.
    let short = regex::Regex::new(r"(?:^|[^0-9a-f:])([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\b").expect("regex");
    fn strings<'a>(v: &'a serde_json::Value, key: &str, out: &mut Vec<(String, &'a str)>) {
        match v {
            serde_json::Value::String(s) => out.push((key.to_string(), s)),
            serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, key, out)),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| strings(x, k, out)),
            _ => {}
        }
    }
    let mut hosts = 0;
    for entry in std::fs::read_dir(fixtures().join("hosts")).expect("fixtures/hosts") {
        let dir = entry.expect("entry").path();
        if !dir.join("sys").is_dir() {
            continue;
        }
        hosts += 1;
        let out = binary().args(["iommu", "--format", "json", "--root"]).arg(&dir).output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("iommu JSON");
        let mut all = Vec::new();
        strings(&json, "", &mut all);
        let addresses: Vec<&str> = all.iter().filter(|(k, _)| matches!(k.as_str(), "address" | "devices" | "breaks_isolation")).map(|(_, s)| *s).collect();
        assert!(!addresses.is_empty(), "{}: no device in the picture", dir.display());
        for a in addresses {
            assert!(full.is_match(a), "{}: {a:?} is not a full DDDD:BB:DD.F address", dir.display());
        }
        for (key, s) in &all {
            assert!(!short.is_match(s), "{}: {key} holds a short address: {s:?}", dir.display());
        }
    }
    assert!(hosts >= 4, "only {hosts} fixture hosts found");
}

#[test]
fn iommu_without_groups_says_so_and_why() {
    let text = iommu_text("firmware-off");
    assert!(text.starts_with("No IOMMU groups"), "{text}");
    assert!(text.contains("passthrough is impossible"), "{text}");
    assert!(!text.contains("Group ."));
    let out = binary().args(["iommu", "--format", "markdown", "--root"]).arg(host("firmware-off")).output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("### IOMMU groups\n\n**No IOMMU groups"));
}

#[test]
fn output_format_follows_the_file_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (file, start) in [("x.html", "<!DOCTYPE html>"), ("x.md", "### vfio-doctor"), ("x.json", "{"), ("x.txt", "vfio-doctor")] {
        let path = dir.path().join(file);
        let out = binary().args(["check", "--root"]).arg(host("seed-b550-bsod")).arg("-o").arg(&path).output().expect("run");
        assert_eq!(out.status.code(), Some(1), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty(), "{file}: the report goes to the file");
        let written = std::fs::read_to_string(&path).expect("written");
        assert!(written.starts_with(start), "{file}: {}", &written[..written.len().min(80)]);
        assert!(!written.contains('\x1b'), "{file}: no colour in a file");
    }
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    // `script` gives the child a pseudo-terminal; without it this cannot be tested.
    let missing: Vec<&str> = ["script"].into_iter().filter(|t| !support::on_path(t)).collect();
    if !support::tools_present("colour_only_on_a_terminal_and_never_with_no_color", &missing, "`script` is in Debian's bsdutils; .ci/run installs it") {
        return;
    }
    let cmd = format!("{} --root {}", env!("CARGO_BIN_EXE_vfio-doctor"), host("seed-b550-bsod").display());
    let on_tty = |no_color: Option<&str>| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        String::from_utf8_lossy(&c.output().expect("script").stdout).into_owned()
    };
    let coloured = on_tty(None);
    assert!(coloured.contains("\x1b[1;31merror[VD301]"), "{coloured}");
    let plain = on_tty(Some("1"));
    assert!(plain.contains("error[VD301]") && !plain.contains("\x1b["), "{plain}");
    let piped = binary().args(["--root"]).arg(host("seed-b550-bsod")).env_remove("NO_COLOR").output().expect("run");
    assert!(!String::from_utf8_lossy(&piped.stdout).contains('\x1b'));
}

/// A domain XML and a dmesg excerpt, no sysfs: the NVIDIA finding is `likely`, and every format
/// says so and says what was assumed; the same rule on the full seed host is `confirmed`.
#[test]
fn a_finding_from_a_paste_is_likely_in_every_format() {
    let case = fixtures().join("rules/nvidia-vm-detection/fires-paste-dmesg");
    let inputs = [format!("domain-xml:{}", case.join("win10.xml").display()), format!("kernel-log:{}", case.join("dmesg.txt").display())];
    let run = |format: &str| {
        let out = binary().args(["check", "--format", format]).args(&inputs).output().expect("run");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let json: serde_json::Value = serde_json::from_str(&run("json")).expect("json report");
    let f = json["findings"].as_array().expect("findings").iter().find(|f| f["name"] == "nvidia-vm-detection").expect("finding");
    assert_eq!(f["confidence"], "likely");
    let assumed = f["assumed"][0].as_str().expect("assumed");
    assert!(assumed.contains("0000:01:00.0") && assumed.contains("kernel log line that enumerated it"), "{assumed}");
    // What would confirm it is asked for first.
    let first = &json["to_check_more"][0];
    assert_eq!(first["command"], "lspci -nnk", "{}", json["to_check_more"]);
    assert!(first["rules"].as_array().expect("rules").iter().any(|r| r == "VD402"), "{first}");
    let text = run("text");
    assert!(text.contains("Likely, assuming: no sysfs or lspci for 0000:01:00.0"), "{text}");
    let markdown = run("markdown");
    assert!(markdown.contains("\nLikely, assuming: no sysfs or lspci for 0000:01:00.0"), "{markdown}");
    let html = run("html");
    assert!(html.contains("<p class=\"likely\"><b>Likely</b>, assuming: no sysfs or lspci for 0000:01:00.0"), "{html}");

    let seed = report::json::render(&bsod_report());
    let seed: serde_json::Value = serde_json::from_str(&seed).expect("json");
    for f in seed["findings"].as_array().expect("findings") {
        assert_eq!(f["confidence"], "confirmed", "{} on the full seed host", f["name"]);
        assert!(f.get("assumed").is_none());
    }
}
