//! Proxmox VE hosts end to end: the fixture nodes' VMs are listed by VMID and name; the healthy
//! node has no error; and every Proxmox finding's fix is a `qm set` that, applied to the VM's
//! configuration the way qm writes it, parses back through vfio-doctor's own parser and clears
//! that finding.

mod support;

use std::path::Path;

use support::{diagnose, fakeroot, fixtures};
use vfio_doctor::commands::{obtain_bundle, Origin};
use vfio_doctor::report::Report;
use vfio_doctor::rules::Severity;

/// Findings whose `qm set` is not meant to make them go away by itself: memory-lock judges a
/// start that already failed (its task log stays), and a passed boot GPU is a host fault for which
/// a clean `romfile=` is one of four remedies.
const NOT_CLEARED_BY_CONFIG: &[&str] = &["memlock-limit", "boot-gpu-passed-through"];

fn build_host(name: &str) -> tempfile::TempDir {
    let spec = fakeroot::load_spec(&fixtures().join("hosts").join(format!("{name}.toml")));
    let tmp = tempfile::tempdir().expect("tmp");
    fakeroot::build(&spec, tmp.path());
    tmp
}

fn check_root(root: &Path) -> Report {
    let bundle = obtain_bundle(&Origin { root: Some(root.to_path_buf()), redact: true, ..Origin::default() }).expect("collect");
    diagnose(&bundle)
}

/// One setting `qm set` writes (`Some`) or deletes (`None`).
type Change = (String, Option<String>);

/// `qm set 100 --cpu 'host,hidden=1' --delete hostpci1` → ("100", [("cpu", Some(…)), ("hostpci1", None)]).
fn qm_sets(markdown: &str) -> Vec<(String, Vec<Change>)> {
    let mut out = Vec::new();
    for line in markdown.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("qm set ") else { continue };
        let words = shell_words(rest);
        let Some((vmid, args)) = words.split_first() else { continue };
        let mut changes = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let key = args[i].strip_prefix("--").unwrap_or_else(|| panic!("not an option: {} in {line}", args[i]));
            let value = args.get(i + 1).cloned().unwrap_or_else(|| panic!("--{key} without a value in {line}"));
            if key == "delete" {
                changes.extend(value.split(',').map(|k| (k.to_string(), None)));
            } else {
                changes.push((key.to_string(), Some(value)));
            }
            i += 2;
        }
        out.push((vmid.clone(), changes));
    }
    out
}

/// Split on blanks, honouring single quotes (what `fix::render_pve` writes).
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// What `qm set` does to the file: each key's line of the main section replaced (or added at its
/// end), deleted keys removed; snapshot sections untouched.
fn apply(conf: &str, changes: &[Change]) -> String {
    let (main, snapshots) = match conf.find("\n[") {
        Some(i) => (&conf[..=i], &conf[i + 1..]),
        None => (conf, ""),
    };
    let mut lines: Vec<String> = main.lines().map(str::to_string).collect();
    for (key, value) in changes {
        let at = lines.iter().position(|l| l.split_once(':').is_some_and(|(k, _)| k.trim() == key));
        match (at, value) {
            (Some(i), Some(v)) => lines[i] = format!("{key}: {v}"),
            (Some(i), None) => {
                lines.remove(i);
            }
            (None, Some(v)) => {
                let end = lines.iter().rposition(|l| !l.trim().is_empty()).map(|i| i + 1).unwrap_or(0);
                lines.insert(end, format!("{key}: {v}"));
            }
            (None, None) => {}
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out.push_str(snapshots);
    out
}

/// Apply every Proxmox finding's `qm set` to a fresh copy of the host, one finding at a time,
/// and check that the config parses back with the new values and the finding is gone. Returns
/// how many findings were checked.
fn fixes_clear_their_findings(root: &Path, what: &str) -> usize {
    let report = check_root(root);
    let mut checked = 0;
    for f in &report.findings {
        let sets = qm_sets(&f.remediation);
        let pve_finding = f.evidence.iter().any(|e| e.source.contains("etc/pve/") || e.source.contains("var/log/pve/"));
        if pve_finding {
            assert!(
                !f.remediation.contains("virsh edit") && !f.remediation.contains("```xml"),
                "{what}: {} ({}) gives libvirt advice on a Proxmox host:\n{}",
                f.name,
                f.subject,
                f.remediation
            );
        }
        if sets.is_empty() || NOT_CLEARED_BY_CONFIG.contains(&f.name.as_str()) {
            continue;
        }
        let mut saved = Vec::new();
        for (vmid, changes) in &sets {
            let path = root.join(format!("etc/pve/qemu-server/{vmid}.conf"));
            let before = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{what}: {}: {e}", path.display()));
            let after = apply(&before, changes);
            // The suggested lines parse back, with the values qm set would write.
            let vm = vfio_doctor::system::pve::parse_config(&after, "conf", Some(vmid), &[], &[], None).expect("parses back");
            let pve = vm.pve.as_ref().expect("a Proxmox VM");
            for (key, value) in changes {
                assert_eq!(pve.get(key).map(|s| s.value.clone()), value.clone(), "{what}: {key} after applying {}", f.name);
            }
            std::fs::write(&path, &after).expect("write conf");
            saved.push((path, before));
        }
        let again = check_root(root);
        let still: Vec<_> = again.findings.iter().filter(|g| g.name == f.name && g.subject == f.subject).collect();
        assert!(still.is_empty(), "{what}: `{}` for {} does not clear it:\n{:#?}", f.remediation, f.subject, still);
        for (path, before) in saved {
            std::fs::write(path, before).expect("restore conf");
        }
        checked += 1;
    }
    checked
}

#[test]
fn the_healthy_node_lists_its_vms_and_has_no_error() {
    let root = build_host("pve-healthy");
    let report = check_root(root.path());
    let names: Vec<&str> = report.vms.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, vec!["100 (win11-gaming)", "101 (debian-services)", "102 (opnsense)"]);
    assert!(report.vms.iter().all(|v| v.manager == "proxmox"));
    assert_eq!(report.vms[0].passes, vec!["0000:01:00.0", "0000:01:00.1"], "a bare 01:00 passes every function");
    assert_eq!(report.vms[2].passes, vec!["0000:04:00.0"], "mapping i226-wan resolves through pci.cfg");
    assert!(report.findings.iter().all(|f| f.severity < Severity::Error), "{:#?}", report.findings);
    // The failed start that a later good start superseded is not collected.
    let text = vfio_doctor::report::text::render(&report, vfio_doctor::report::text::Style { width: 100, color: false });
    assert!(text.contains("100 (win11-gaming) — Proxmox VE, OVMF, pc-q35-8.1"), "{text}");
    // Markdown and HTML list the same VMs, one line each.
    let md = vfio_doctor::report::markdown::render(&report);
    assert!(md.contains("#### VMs\n\n- **100 (win11-gaming)** — Proxmox VE, OVMF, pc-q35-8.1, `etc/pve/qemu-server/100.conf`: passes 0000:01:00.0, 0000:01:00.1\n"), "{md}");
    assert!(md.contains("- **102 (opnsense)** — Proxmox VE,"), "{md}");
    let html = vfio_doctor::report::html::render(&report);
    assert!(html.contains("<h2>VMs (3)</h2>"), "{html}");
    assert!(html.contains("<li><b>101 (debian-services)</b> — Proxmox VE,"), "{html}");
    assert!(!report.findings.iter().any(|f| f.evidence.iter().any(|e| e.source.contains("var/log/pve/tasks"))));
}

#[test]
fn the_broken_node_shows_each_fault_in_proxmox_terms() {
    let root = build_host("pve-broken");
    let report = check_root(root.path());
    let found: Vec<(&str, &str)> = report.findings.iter().map(|f| (f.name.as_str(), f.subject.as_str())).collect();
    for (rule, subject) in [
        ("legacy-bios-firmware", "VM 100 (win11-gaming)"),
        ("partial-group-passthrough", "0000:01:00.0 (VM 100 (win11-gaming))"),
        ("pve-xvga-without-pcie", "VM 100 (win11-gaming) / hostpci0"),
        ("cpu-not-host-passthrough", "VM 100 (win11-gaming)"),
        ("memlock-limit", "VM 100 (win11-gaming)"),
        ("pve-mapping-device-missing", "VM 102 (opnsense) / hostpci0 (mapping i226-wan)"),
        ("pve-igd-vga-conflict", "VM 103 (htpc)"),
        ("cmdline-not-applied", "kernel command line"),
    ] {
        assert!(found.contains(&(rule, subject)), "{rule} for {subject} missing; found {found:#?}");
    }
    // Legacy IGD runs on SeaBIOS by design.
    assert!(!found.contains(&("legacy-bios-firmware", "VM 103 (htpc)")));
    let cmdline = report.findings.iter().find(|f| f.name == "cmdline-not-applied").expect("cmdline finding");
    assert!(cmdline.remediation.contains("proxmox-boot-tool refresh"), "{}", cmdline.remediation);
}

#[test]
fn every_proxmox_fix_is_a_qm_set_that_clears_its_finding() {
    let root = build_host("pve-broken");
    let checked = fixes_clear_their_findings(root.path(), "pve-broken");
    assert!(checked >= 6, "only {checked} findings had a qm set fix");
    // The rule cases of the Proxmox faults too.
    let mut cases = 0;
    for rule in std::fs::read_dir(fixtures().join("rules")).expect("rules dir") {
        let rule = rule.expect("entry").path();
        for case in std::fs::read_dir(&rule).expect("cases") {
            let case = case.expect("entry").path();
            let name = case.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let rule_name = rule.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if !name.starts_with("fires") || !(rule_name.starts_with("pve-") || name.contains("pve")) {
                continue;
            }
            let built = support::build_case(&case);
            if let Some(root) = &built.root {
                cases += 1;
                fixes_clear_their_findings(root.path(), &format!("{rule_name}/{name}"));
            }
        }
    }
    assert!(cases >= 6, "only {cases} Proxmox rule cases");
}

#[test]
fn qm_set_commands_are_read_back() {
    assert_eq!(
        qm_sets("```sh\nqm set 100 --cpu 'host,flags=+pcid;+topoext' --delete hostpci1,args\n```"),
        vec![(
            "100".to_string(),
            vec![("cpu".to_string(), Some("host,flags=+pcid;+topoext".to_string())), ("hostpci1".to_string(), None), ("args".to_string(), None)]
        )]
    );
    let conf = "bios: seabios\nname: x\n\n[snap]\nbios: seabios\n";
    assert_eq!(apply(conf, &[("bios".into(), Some("ovmf".into())), ("vga".into(), Some("none".into()))]), "bios: ovmf\nname: x\nvga: none\n\n[snap]\nbios: seabios\n");
}

#[test]
fn proxmox_pastes_are_told_apart_and_diagnosed() {
    let dir = fixtures().join("inputs/pve");
    let input = |f: &str| dir.join(f).display().to_string();
    let origin = Origin {
        inputs: vec![input("q35-win10-hostpci.conf"), input("q35-win10-hostpci.showcmd.txt"), input("igd-slot2-task.log")],
        redact: true,
        ..Origin::default()
    };
    let bundle = obtain_bundle(&origin).expect("import");
    let kinds: Vec<(&str, Option<&str>)> = bundle.sources.iter().map(|s| (s.kind.name(), s.vm.as_deref())).collect();
    assert_eq!(kinds, vec![("qm-config", None), ("qm-showcmd", Some("8006")), ("pve-task-log", Some("100"))]);
    let report = diagnose(&bundle);
    let vm = report.vms.iter().find(|v| v.manager == "proxmox").expect("the pasted config is a Proxmox VM");
    assert_eq!(vm.passes, vec!["0000:00:12.0"], "a bare 00:12 without PCI data is function 0");
    assert_eq!(vm.firmware.as_deref(), Some("uefi"));
    let shown = report.vms.iter().find(|v| v.name == "8006").expect("the showcmd's VM");
    assert_eq!(shown.passes, vec!["0000:f0:42.0", "0000:f0:43.0", "0000:00:43.1"]);
    let igd = report.findings.iter().find(|f| f.name == "pve-igd-vga-conflict").expect("the task log's slot-2 clash");
    assert!(igd.remediation.contains("qm set 100 --vga none"), "{}", igd.remediation);
}

#[test]
fn a_copied_tree_without_the_qemu_server_link_reads_this_nodes_directory_only() {
    let root = build_host("pve-healthy");
    let pve = root.path().join("etc/pve");
    // pmxcfs shows etc/pve/qemu-server as a link to nodes/THIS-NODE/qemu-server; a copy may lose it.
    std::fs::create_dir_all(pve.join("nodes/pve")).expect("mkdir");
    std::fs::rename(pve.join("qemu-server"), pve.join("nodes/pve/qemu-server")).expect("move");
    std::fs::create_dir_all(pve.join("nodes/pve2/qemu-server")).expect("mkdir");
    std::fs::write(pve.join("nodes/pve2/qemu-server/200.conf"), "name: elsewhere\nhostpci0: 0000:01:00,pcie=1\nmachine: q35\n").expect("write");
    let report = check_root(root.path());
    let names: Vec<&str> = report.vms.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, vec!["100 (win11-gaming)", "101 (debian-services)", "102 (opnsense)"], "another node's VM runs on other hardware");
}
