//! Every XML snippet a remediation offers is valid libvirt domain XML where it belongs. The
//! snippets are the ```xml fenced blocks of the findings of every rule's `fires*` cases; each is
//! put into a copy of the healthy seed domain (a `<hostdev>` replaces the one with the same host
//! address or joins `<devices>`, `<kvm>`/`<hyperv>` go into `<features>`, `<cpu>`/`<os>`/`<memtune>` replace
//! theirs, …) and checked twice, because neither check alone catches everything
//! (../shared/reference/real-tools-here.md §2.2–2.3): the RNG schema (`virt-xml-validate FILE
//! domain`, from libvirt-clients + libxml2-utils) and libvirt's own parser without a daemon
//! (`virsh -c test:///default define FILE`).
//!
//! Snippets also merge rather than replace: each one, put into the domain of the case it came
//! from the way a user pasting it would (over the element of the same name), must leave every
//! element that domain had (`snippets_keep_what_the_domain_had`, no validator needed).

mod support;

use std::process::Command;

/// The healthy domain every snippet goes into: the seed host's win10.
fn healthy_domain() -> String {
    let spec = support::fakeroot::load_spec(&support::fixtures().join("hosts/seed-b550.toml"));
    spec.files.get("etc/libvirt/qemu/win10.xml").cloned().expect("seed-b550 defines win10.xml")
}

/// The bodies of the ```xml fenced blocks of a Markdown text.
fn xml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        let fence = line.trim_start();
        match &mut current {
            None if fence.starts_with("```xml") => current = Some(Vec::new()),
            Some(body) if fence.starts_with("```") => {
                blocks.push(body.join("\n"));
                current = None;
            }
            Some(body) => body.push(line),
            None => {}
        }
    }
    blocks
}

/// The byte range of the first child element of `parent` called `name`.
fn child_range(parent: roxmltree::Node<'_, '_>, name: &str) -> Option<std::ops::Range<usize>> {
    parent.children().find(|c| c.has_tag_name(name)).map(|c| c.range())
}

/// The byte offset of `parent`'s closing tag.
fn closing_tag(doc_text: &str, parent: roxmltree::Node<'_, '_>) -> usize {
    let r = parent.range();
    doc_text[..r.end].rfind("</").expect("element has a closing tag")
}

fn host_address(hostdev: roxmltree::Node<'_, '_>) -> Option<Vec<u32>> {
    let a = hostdev.children().find(|c| c.has_tag_name("source"))?.children().find(|c| c.has_tag_name("address"))?;
    let num = |n: &str| {
        let v = a.attribute(n).unwrap_or("0");
        v.strip_prefix("0x").map(|h| u32::from_str_radix(h, 16).ok()).unwrap_or_else(|| v.parse().ok())
    };
    ["domain", "bus", "slot", "function"].iter().map(|n| num(n)).collect()
}

/// Put one element (`element`, its XML text `text`) where it belongs in `domain`.
fn insert_one(domain: &str, element: roxmltree::Node<'_, '_>, text: &str) -> Result<String, String> {
    let doc = roxmltree::Document::parse(domain).map_err(|e| format!("domain: {e}"))?;
    let root = doc.root_element();
    let named = |n: &str| root.children().find(|c| c.has_tag_name(n));
    let splice = |range: std::ops::Range<usize>| format!("{}{text}{}", &domain[..range.start], &domain[range.end..]);
    let append_to = |parent: roxmltree::Node<'_, '_>| {
        let at = closing_tag(domain, parent);
        format!("{}{text}\n{}", &domain[..at], &domain[at..])
    };
    let name = element.tag_name().name();
    Ok(match name {
        "domain" => text.to_string(),
        "os" | "cpu" | "features" | "clock" | "memtune" => match named(name) {
            Some(old) => splice(old.range()),
            None => {
                let devices = named("devices").ok_or("domain has no <devices>")?;
                let at = devices.range().start;
                format!("{}{text}\n  {}", &domain[..at], &domain[at..])
            }
        },
        "kvm" | "hyperv" => match named("features") {
            Some(features) => match child_range(features, name) {
                Some(r) => splice(r),
                None => append_to(features),
            },
            // A domain without <features>: the user creates it, before <devices>.
            None => {
                let devices = named("devices").ok_or("domain has no <devices>")?;
                let at = devices.range().start;
                format!("{}<features>\n{text}\n</features>\n  {}", &domain[..at], &domain[at..])
            }
        },
        "hostdev" => {
            let devices = named("devices").ok_or("domain has no <devices>")?;
            let want = host_address(element);
            let same = devices.children().find(|c| c.has_tag_name("hostdev") && want.is_some() && host_address(*c) == want);
            match same {
                Some(old) => splice(old.range()),
                None => append_to(devices),
            }
        }
        "interface" => {
            let devices = named("devices").ok_or("domain has no <devices>")?;
            match child_range(devices, "interface") {
                Some(r) => splice(r),
                None => append_to(devices),
            }
        }
        "rom" => {
            let devices = named("devices").ok_or("domain has no <devices>")?;
            let hostdev = devices.children().find(|c| c.has_tag_name("hostdev")).ok_or("domain has no <hostdev> for a <rom>")?;
            match child_range(hostdev, "rom") {
                Some(r) => splice(r),
                None => append_to(hostdev),
            }
        }
        other => return Err(format!("no place known for <{other}>: teach tests/remediation_xml.rs where it goes")),
    })
}

/// `domain` with every top-level element of `snippet` put in its place.
fn insert(domain: &str, snippet: &str) -> Result<String, String> {
    let wrapped = format!("<snippet>{snippet}</snippet>");
    let doc = roxmltree::Document::parse(&wrapped).map_err(|e| format!("snippet is not XML: {e}"))?;
    let elements: Vec<_> = doc.root_element().children().filter(|c| c.is_element()).collect();
    if elements.is_empty() {
        return Err("snippet has no element".into());
    }
    let mut out = domain.to_string();
    for e in elements {
        out = insert_one(&out, e, &wrapped[e.range()])?;
    }
    Ok(out)
}

/// Run both validators on `xml`; `Err` is what they said.
fn validate(xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("domain.xml");
    std::fs::write(&file, xml).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    for (tool, args) in [("virt-xml-validate", vec![file.to_str().unwrap_or_default(), "domain"]), ("virsh", vec!["-c", "test:///default", "define", file.to_str().unwrap_or_default()])] {
        let out = Command::new(tool).args(&args).output().map_err(|e| format!("{tool}: {e}"))?;
        if !out.status.success() {
            problems.push(format!(
                "{tool} {} → {}\n{}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Whether the validators are installed. Missing is a failure under CI (.ci/run installs them)
/// and a skip elsewhere, with the command that installs them.
fn validators_present() -> bool {
    let missing: Vec<&str> = ["virt-xml-validate", "xmllint", "virsh"].into_iter().filter(|t| !support::on_path(t)).collect();
    support::tools_present(
        "remediation_xml (XML validity checks)",
        &missing,
        "apt-get install -y --no-install-recommends libvirt-clients libxml2-utils; .ci/run does",
    )
}

/// Every `fixtures/rules/<rule>/fires*` case directory, sorted.
fn fires_cases() -> Vec<std::path::PathBuf> {
    let mut cases: Vec<_> = std::fs::read_dir(support::fixtures().join("rules"))
        .expect("fixtures/rules")
        .filter_map(|e| e.ok())
        .flat_map(|rule| std::fs::read_dir(rule.path()).into_iter().flatten().filter_map(|e| e.ok()).map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("fires")) && p.join("case.toml").is_file())
        .collect();
    cases.sort();
    cases
}

/// (rule/case, snippet) for every ```xml block of every finding of every `fires*` case.
fn remediation_snippets() -> Vec<(String, String)> {
    let cases = fires_cases();
    let mut snippets: Vec<(String, String)> = Vec::new();
    for dir in cases {
        let built = support::build_case(&dir);
        let report = support::diagnose(&built.bundle);
        let case = dir.strip_prefix(support::fixtures().join("rules")).unwrap_or(&dir).display().to_string();
        for f in &report.findings {
            for block in xml_blocks(&f.remediation) {
                if !snippets.iter().any(|(_, s)| *s == block) {
                    snippets.push((format!("{} in {case}", f.name), block));
                }
            }
        }
    }
    snippets
}

#[test]
fn every_remediation_snippet_is_valid_domain_xml() {
    if !validators_present() {
        return;
    }
    let domain = healthy_domain();
    validate(&domain).unwrap_or_else(|e| panic!("the healthy seed domain itself does not validate:\n{e}"));
    let snippets = remediation_snippets();
    assert!(snippets.len() >= 8, "expected XML snippets from the rules' fires cases, found {}", snippets.len());
    let mut failures = Vec::new();
    for (origin, snippet) in &snippets {
        let result = insert(&domain, snippet).and_then(|xml| validate(&xml));
        if let Err(e) = result {
            failures.push(format!("── {origin}:\n{snippet}\n{e}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} remediation snippets are not valid domain XML:\n{}", failures.len(), snippets.len(), failures.join("\n"));
}

/// The check can fail: a snippet libvirt rejects (real-tools-here.md §2.2: `bar` must be on/off).
#[test]
fn an_invalid_snippet_is_caught() {
    if !validators_present() {
        return;
    }
    let bad = "<hostdev mode='subsystem' type='pci' managed='yes'>\n  <source>\n    <address domain='0x0000' bus='0x08' slot='0x00' function='0x0'/>\n  </source>\n  <rom bar='yes'/>\n</hostdev>";
    let xml = insert(&healthy_domain(), bad).expect("insertable");
    let err = validate(&xml).expect_err("rom bar='yes' must be rejected");
    assert!(err.contains("Invalid value for attribute 'bar'"), "{err}");
}

#[test]
fn snippets_go_where_they_belong() {
    let domain = healthy_domain();
    let with_os = insert(&domain, "<os firmware='efi'>\n  <type arch='x86_64' machine='q35'>hvm</type>\n</os>").expect("os");
    assert!(with_os.contains("<os firmware='efi'>") && !with_os.contains("OVMF_CODE_4M"), "<os> replaces <os>");
    let with_kvm = insert(&domain, "<kvm>\n  <hidden state='off'/>\n</kvm>").expect("kvm");
    assert_eq!(with_kvm.matches("<kvm>").count(), 1);
    assert!(with_kvm.contains("<hidden state='off'/>"));
    let hostdev = "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x08' slot='0x00' function='0x1'/></source></hostdev>";
    let with_hostdev = insert(&domain, hostdev).expect("hostdev");
    assert_eq!(with_hostdev.matches("<hostdev ").count(), 2, "a hostdev for a passed address replaces it");
    assert!(insert(&domain, "<bogus/>").is_err());
}

/// Each element of `xml` as `domain/features/hyperv/relaxed` (with `[name=…]` when it has a name
/// attribute, as `<feature>`s and `<timer>`s do), counted.
fn element_keys(xml: &str) -> Result<std::collections::BTreeMap<String, usize>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let mut keys = std::collections::BTreeMap::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        let mut path: Vec<String> = n
            .ancestors()
            .filter(|a| a.is_element())
            .map(|a| match a.attribute("name") {
                Some(name) => format!("{}[name={name}]", a.tag_name().name()),
                None => a.tag_name().name().to_string(),
            })
            .collect();
        path.reverse();
        *keys.entry(path.join("/")).or_insert(0) += 1;
    }
    Ok(keys)
}

/// What a snippet may take away on purpose: `host-passthrough` has no `<model>`/`<vendor>`.
const DROPPED_ON_PURPOSE: &[&str] = &["domain/cpu/model", "domain/cpu/vendor"];

#[test]
fn snippets_keep_what_the_domain_had() {
    let cases = fires_cases();
    let mut checked = 0;
    let mut failures = Vec::new();
    for dir in cases {
        let built = support::build_case(&dir);
        // The user's own domains: (name, text as the bundle holds it).
        let domains: Vec<(String, String)> = built
            .bundle
            .sources
            .iter()
            .filter(|s| s.kind == vfio_doctor::bundle::SourceKind::DomainXml && s.is_ok())
            .filter_map(|s| {
                let text = s.text.as_deref()?;
                let (start, end) = (text.find("<domain")?, text.rfind("</domain>")? + "</domain>".len());
                let xml = text.get(start..end)?.to_string();
                let name = roxmltree::Document::parse(&xml).ok()?.descendants().find(|n| n.has_tag_name("name"))?.text()?.trim().to_string();
                Some((name, xml))
            })
            .collect();
        if domains.is_empty() {
            continue;
        }
        let report = support::diagnose(&built.bundle);
        let case = dir.strip_prefix(support::fixtures().join("rules")).unwrap_or(&dir).display().to_string();
        for f in &report.findings {
            let named = |n: &str| f.subject.contains(&format!("VM {n}")) || f.message.contains(&format!("VM {n}")) || f.remediation.contains(&format!("virsh edit {n}"));
            let Some((_, domain)) = domains.iter().find(|(n, _)| named(n)).or(if domains.len() == 1 { domains.first() } else { None }) else { continue };
            let before = element_keys(domain).expect("the case's domain parses");
            for block in xml_blocks(&f.remediation) {
                checked += 1;
                let after = match insert(domain, &block).and_then(|x| element_keys(&x)) {
                    Ok(a) => a,
                    Err(e) => {
                        failures.push(format!("── {} in {case}: cannot put the snippet into the domain: {e}\n{block}", f.name));
                        continue;
                    }
                };
                // A line the text tells the user to keep ("keep its `<mac address=…/>` line") is kept.
                let told_to_keep = |k: &str| {
                    let tag = k.rsplit('/').next().unwrap_or(k);
                    f.remediation.contains(&format!("keep its `<{tag}")) || f.remediation.contains(&format!("`<{tag} address=…/>` line"))
                };
                let lost: Vec<String> = before
                    .iter()
                    .filter(|(k, n)| after.get(*k).copied().unwrap_or(0) < **n && !DROPPED_ON_PURPOSE.contains(&k.as_str()) && !told_to_keep(k))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !lost.is_empty() {
                    failures.push(format!("── {} in {case}: pasting this drops {}\n{block}", f.name, lost.join(", ")));
                }
            }
        }
    }
    assert!(checked >= 8, "expected snippets from cases with a domain, checked {checked}");
    assert!(failures.is_empty(), "{} remediation snippet(s) drop what the user's domain had:\n{}", failures.len(), failures.join("\n"));
}

/// The check can fail: the `<features>` block guest-code43 used to show drops `<acpi/>`.
#[test]
fn a_replacing_features_block_is_caught() {
    let domain = healthy_domain();
    let before = element_keys(&domain).expect("domain");
    let old = "<features>\n  <hyperv mode='custom'>\n    <vendor_id state='on' value='0123456789ab'/>\n  </hyperv>\n  <kvm>\n    <hidden state='on'/>\n  </kvm>\n</features>";
    let after = element_keys(&insert(&domain, old).expect("insertable")).expect("parses");
    assert!(before.keys().any(|k| k == "domain/features/acpi") && !after.contains_key("domain/features/acpi"));
}
