//! Advice a user can trust, checked over every fixture — each whole host (fixtures/hosts) and
//! each rule case (fixtures/rules/*/*): no fix takes a storage, network or USB controller the host
//! uses; a finding's severity is its rule's or one the rule documents (`severity_when`, shown by
//! `vfio-doctor rules`); findings do not contradict each other (an option one calls unknown is
//! not one another asks for; one Hyper-V vendor id); no user-visible text speaks of "the seed".

mod support;

use std::collections::BTreeSet;

use regex::Regex;
use vfio_doctor::bundle::{Bundle, PciDevice};
use vfio_doctor::report::Report;
use vfio_doctor::rules::Catalog;

struct Diagnosed {
    name: String,
    bundle: Bundle,
    report: Report,
}

/// Every fixture host and every rule case, diagnosed as `check` would.
fn every_fixture() -> Vec<Diagnosed> {
    let mut out = Vec::new();
    let hosts = support::fixtures().join("hosts");
    let mut names: Vec<String> = std::fs::read_dir(&hosts)
        .expect("fixtures/hosts")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.with_extension("").is_dir())
        .map(|p| p.file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let origin = vfio_doctor::commands::Origin { root: Some(hosts.join(&name)), redact: true, ..Default::default() };
        let bundle = vfio_doctor::commands::obtain_bundle(&origin).expect("collect fixture root");
        let report = support::diagnose(&bundle);
        out.push(Diagnosed { name: format!("host {name}"), bundle, report });
    }
    let mut cases: Vec<_> = std::fs::read_dir(support::fixtures().join("rules"))
        .expect("fixtures/rules")
        .filter_map(|e| e.ok())
        .flat_map(|rule| std::fs::read_dir(rule.path()).into_iter().flatten().filter_map(|e| e.ok()).map(|e| e.path()))
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    cases.sort();
    for dir in cases {
        let built = support::build_case(&dir);
        let report = support::diagnose(&built.bundle);
        let name = dir.strip_prefix(support::fixtures().join("rules")).unwrap_or(&dir).display().to_string();
        out.push(Diagnosed { name, bundle: built.bundle, report });
    }
    out
}

fn hex(s: Option<&str>) -> Option<u32> {
    u32::from_str_radix(s?.trim().trim_start_matches("0x"), 16).ok()
}

fn slot(address: &str) -> &str {
    address.rsplit_once('.').map(|(s, _)| s).unwrap_or(address)
}

/// The controllers the host itself uses, judged here from class and driver alone: storage
/// (class 01) and network (class 02) on a host driver, and USB controllers (class 0c03) on a host
/// driver unless they are a function of a graphics card. Returns (address, ids, driver, what).
fn host_uses(devices: &[PciDevice]) -> Vec<(String, String, String, &'static str)> {
    let on_host = |d: &PciDevice| d.driver.as_deref().is_some_and(|drv| drv != "vfio-pci" && drv != "pci-stub");
    let gpu_slots: BTreeSet<&str> =
        devices.iter().filter(|d| hex(d.class.as_deref()).is_some_and(|c| c >> 16 == 0x03)).map(|d| slot(&d.address)).collect();
    devices
        .iter()
        .filter(|d| on_host(d))
        .filter_map(|d| {
            let class = hex(d.class.as_deref())?;
            let what = match (class >> 16, (class >> 8) & 0xff) {
                (0x01, _) => "storage",
                (0x02, _) => "network",
                (0x0c, 0x03) if !gpu_slots.contains(slot(&d.address)) => "USB",
                _ => return None,
            };
            let ids = format!("{:04x}:{:04x}", hex(d.vendor.as_deref())?, hex(d.device.as_deref())?);
            Some((d.address.to_ascii_lowercase(), ids, d.driver.clone().unwrap_or_default(), what))
        })
        .collect()
}

/// The fenced blocks of a Markdown text whose info string starts with `lang`.
fn blocks<'a>(markdown: &'a str, lang: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        let t = line.trim_start();
        match &mut current {
            None if t.starts_with("```") && t[3..].starts_with(lang) => current = Some(Vec::new()),
            Some(body) if t.starts_with("```") => {
                out.push(std::mem::take(body));
                current = None;
            }
            Some(body) => body.push(line),
            None => {}
        }
    }
    out
}

/// What a remediation binds to vfio-pci or gives to a VM: device addresses (driver_override,
/// driverctl, unbind loops, `<hostdev>`), slots bound by glob (`/sys/bus/pci/devices/0000:04:00.*`),
/// vendor:device ids (`ids=`), and drivers vfio-pci is loaded before (`softdep X pre: vfio-pci`).
#[derive(Default, Debug)]
struct Takes {
    addresses: BTreeSet<String>,
    slots: BTreeSet<String>,
    ids: BTreeSet<String>,
    softdeps: BTreeSet<String>,
}

fn takes(remediation: &str) -> Takes {
    let address = Regex::new(r"(?i)\b([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\b").unwrap();
    let glob = Regex::new(r"(?i)\b([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2})\.\*").unwrap();
    let ids = Regex::new(r"(?i)ids=((?:[0-9a-f]{4}:[0-9a-f]{4},?)+)").unwrap();
    let softdep = Regex::new(r"softdep (\S+) pre:[^\n`]*vfio").unwrap();
    let hostdev = Regex::new(r"(?is)<hostdev[^>]*>\s*<source>\s*<address domain='0x([0-9a-f]+)' bus='0x([0-9a-f]+)' slot='0x([0-9a-f]+)' function='0x([0-9a-f]+)'").unwrap();
    let mut t = Takes::default();
    for c in ids.captures_iter(remediation) {
        t.ids.extend(c[1].split(',').filter(|x| !x.is_empty()).map(|x| x.to_ascii_lowercase()));
    }
    for c in softdep.captures_iter(remediation) {
        t.softdeps.insert(c[1].to_string());
    }
    for block in blocks(remediation, "sh") {
        let text = block.join("\n");
        if !(text.contains("driver_override") || text.contains("driverctl") || text.contains("drivers_probe")) {
            continue;
        }
        t.addresses.extend(address.captures_iter(&text).map(|c| c[1].to_ascii_lowercase()));
        t.slots.extend(glob.captures_iter(&text).map(|c| c[1].to_ascii_lowercase()));
    }
    for block in blocks(remediation, "xml") {
        let text = block.join("\n");
        for c in hostdev.captures_iter(&text) {
            let n = |i: usize| u32::from_str_radix(&c[i], 16).unwrap_or(0);
            t.addresses.insert(format!("{:04x}:{:02x}:{:02x}.{:x}", n(1), n(2), n(3), n(4)));
        }
    }
    t
}

#[test]
fn advice_over_every_fixture() {
    let catalog = Catalog::builtin().expect("catalog");
    let fixtures = every_fixture();
    assert!(fixtures.len() > 150, "expected every host and rule case, found {}", fixtures.len());
    let not_an_option = Regex::new(r"`([^`]+)` is not an option").unwrap();
    let vendor_id = Regex::new(r"<vendor_id state='on' value='([^']*)'").unwrap();
    // A word, not a fixture path (`fires-seed-paste/`).
    let seed = Regex::new(r"(?i)(?:^|[^-/\w])seed(?:[^-/\w]|$)").unwrap();
    let mut problems: Vec<String> = Vec::new();
    let mut bindings_seen = 0;
    for fx in &fixtures {
        let needed = host_uses(&fx.bundle.pci_devices);
        let unknown: Vec<String> = fx.report.findings.iter().flat_map(|f| not_an_option.captures_iter(&f.remediation).map(|c| c[1].to_string())).collect();
        let mut vendor_ids: BTreeSet<String> = BTreeSet::new();
        for f in &fx.report.findings {
            let at = format!("{} ({}): {}", fx.name, f.code, f.name);
            // 1. Nothing the host uses is taken.
            let t = takes(&f.remediation);
            bindings_seen += t.addresses.len() + t.ids.len() + t.softdeps.len() + t.slots.len();
            for (addr, ids, driver, what) in &needed {
                if t.addresses.contains(addr) || t.slots.contains(slot(addr)) {
                    problems.push(format!("{at}: the fix binds or passes {addr}, the host's {what} controller ({driver})"));
                }
                if t.ids.contains(ids) {
                    problems.push(format!("{at}: the fix puts {ids} in vfio-pci's ids, the host's {what} controller {addr} ({driver})"));
                }
                // A softdep only orders module loading; for xhci_hcd it is the usual advice for a
                // GPU's own USB-C function (its ids alone go to vfio-pci). No function of a graphics
                // card needs ahci, nvme or a network driver.
                if t.softdeps.contains(driver) && *what != "USB" {
                    problems.push(format!("{at}: the fix loads vfio-pci before {driver}, the driver of the host's {what} controller {addr}"));
                }
            }
            // 2. The severity is the rule's, or one it documents.
            let rule = catalog.find(&f.name).expect("finding of a catalog rule");
            if f.severity != rule.severity && !rule.severity_when.iter().any(|(s, _)| *s == f.severity) {
                problems.push(format!("{at}: emitted as {} while `vfio-doctor rules` says {}", f.severity, rule.severity_text()));
            }
            // 3. Words a user understands.
            for (field, text) in [("title", &f.title), ("message", &f.message), ("fix", &f.remediation)] {
                if seed.is_match(text) {
                    problems.push(format!("{at}: its {field} speaks of \"the seed\": {text}"));
                }
            }
            // 4. No contradiction: an option another finding calls unknown is not asked for.
            for opt in &unknown {
                if f.remediation.contains(&format!("shows `{opt}")) || f.remediation.contains(&format!(" {opt}`")) && f.remediation.contains("/proc/cmdline") {
                    problems.push(format!("{at}: asks `/proc/cmdline` to show `{opt}`, which another finding says is not an option"));
                }
            }
            vendor_ids.extend(vendor_id.captures_iter(&f.remediation).map(|c| c[1].to_string()));
            // 5. Related codes name findings of this report.
            for code in &f.related {
                if !fx.report.findings.iter().any(|o| &o.code == code) {
                    problems.push(format!("{at}: cites {code}, which is not in the report"));
                }
            }
        }
        if vendor_ids.len() > 1 {
            problems.push(format!("{}: the fixes propose different Hyper-V vendor ids: {vendor_ids:?}", fx.name));
        }
    }
    assert!(bindings_seen > 20, "the extraction of bindings found almost nothing ({bindings_seen}): it is broken");
    assert!(problems.is_empty(), "{} problem(s) in the advice:\n{}", problems.len(), problems.join("\n"));
}

/// The check of point 1 can fail: the advice group-member-not-bound used to give for the seed's
/// slot-2 card (`softdep ahci pre: vfio-pci`, the chipset's ids, driver_override on the NVMe).
#[test]
fn binding_the_hosts_disks_is_caught() {
    let old = "1. Bind the whole card to vfio-pci at boot:\n\n   ```text\n   options vfio-pci ids=1022:43eb,1002:67ff,1e0f:0009\n   softdep ahci pre: vfio-pci\n   ```\n\n\
               2. Or move them now:\n\n   ```sh\n   echo vfio-pci | sudo tee /sys/bus/pci/devices/0000:05:00.0/driver_override\n   echo 0000:05:00.0 | sudo tee /sys/bus/pci/drivers_probe\n   ```";
    let t = takes(old);
    assert!(t.ids.contains("1022:43eb") && t.ids.contains("1e0f:0009"));
    assert!(t.softdeps.contains("ahci"));
    assert!(t.addresses.contains("0000:05:00.0"));
    let dev = |address: &str, ids: &str, class: &str, driver: &str| PciDevice {
        address: address.into(),
        vendor: Some(format!("0x{}", &ids[..4])),
        device: Some(format!("0x{}", &ids[5..])),
        class: Some(class.into()),
        driver: Some(driver.into()),
        ..PciDevice::default()
    };
    let needed = host_uses(&[
        dev("0000:02:00.1", "1022:43eb", "0x010601", "ahci"),
        dev("0000:05:00.0", "1e0f:0009", "0x010802", "nvme"),
        dev("0000:0b:00.0", "10de:1e87", "0x030000", "vfio-pci"),
        dev("0000:0b:00.2", "10de:10f8", "0x0c0330", "xhci_hcd"),
    ]);
    let names: Vec<&str> = needed.iter().map(|(a, _, _, _)| a.as_str()).collect();
    assert_eq!(names, ["0000:02:00.1", "0000:05:00.0"], "a GPU's own USB-C controller is not the host's");
}

/// The seed's slot-2 card in the chipset's group: the fix names the host's controllers as staying
/// with it, and offers the safe ways out — another slot, the ACS override with its risk.
#[test]
fn chipset_group_fix_keeps_the_hosts_controllers() {
    let built = support::build_case(&support::fixtures().join("rules/group-member-not-bound/fires-chipset-group"));
    let report = support::diagnose(&built.bundle);
    let isolation = report.findings.iter().find(|f| f.name == "iommu-group-not-isolated").expect("VD201 fires");
    let member = report.findings.iter().find(|f| f.name == "group-member-not-bound").expect("VD206 fires");
    for needle in ["SATA Controller", "NVMe SSD", "Wi-Fi 6 AX200", "RTL8125", "Do not bind", "CPU-attached slot", "pcie_acs_override", "Risk:"] {
        assert!(isolation.remediation.contains(needle), "VD201's fix lacks {needle:?}:\n{}", isolation.remediation);
    }
    assert!(!isolation.remediation.contains("Pass the whole group"), "{}", isolation.remediation);
    assert_eq!(member.related, ["VD201"]);
    assert!(member.remediation.starts_with("Same cause as VD201"), "{}", member.remediation);
}

/// Every rule document (what `explain` prints and reports embed) says what it means instead of
/// "the seed host", and shows the one Hyper-V vendor id the fixes use.
#[test]
fn rule_documents_speak_plainly() {
    let catalog = Catalog::builtin().expect("catalog");
    // A word, not a fixture path (`fires-seed-paste/`).
    let seed = Regex::new(r"(?i)(?:^|[^-/\w])seed(?:[^-/\w]|$)").unwrap();
    let vendor_id = Regex::new(r"<vendor_id state='on' value='([^']*)'").unwrap();
    for r in catalog.rules() {
        if let Some(m) = seed.find(&r.body) {
            let line = r.body[..m.start()].matches('\n').count() + 1;
            panic!("rules/{} body line {line} speaks of \"the seed\"", r.file);
        }
        for c in vendor_id.captures_iter(&r.body).filter(|c| &c[1] != "…") {
            assert_eq!(&c[1], vfio_doctor::rules::fix::HV_VENDOR_ID, "rules/{}", r.file);
        }
    }
}

/// `vfio-doctor rules` says when a rule's findings take another severity, and `explain` too.
#[test]
fn rules_list_shows_severity_changes() {
    let out = support::binary().args(["rules", "--json"]).output().expect("run");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("rules --json");
    let vd303 = json.as_array().expect("list").iter().find(|r| r["code"] == "VD303").expect("VD303").clone();
    assert_eq!(vd303["severity"], "warning");
    assert_eq!(vd303["severity_when"][0]["severity"], "error");
    // Wide enough that the severity cell is one line (a pipe is 80 columns otherwise).
    let out = support::binary().args(["rules"]).env("COLUMNS", "200").output().expect("run");
    let table = String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(table.contains("warning (error when"), "{table}");
    let out = support::binary().args(["explain", "VD402"]).output().expect("run");
    let first = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").to_string();
    assert_eq!(first, "nvidia-vm-detection (VD402), warning (error when the guest reports Code 43 for the GPU)");
    // Each side of a relation says so on its page.
    let out = support::binary().args(["explain", "bar-reservation-failure"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("explained by: boot-gpu-passed-through on the same device"));
    let out = support::binary().args(["explain", "VD102"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("see also: cmdline-not-applied on the same host"));
}

/// One cause, one finding, as the terminal shows it: on the seed host's blue-screen state the BAR
/// failure cites the boot-GPU finding and carries no steps of its own.
#[test]
fn bar_failure_on_the_boot_gpu_cites_its_cause() {
    let out = support::binary()
        .args(["check", "--root"])
        .arg(support::fixtures().join("hosts/seed-b550-bsod"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    let vd301 = text.split("error[VD301]").nth(1).and_then(|s| s.split("more: vfio-doctor explain").next()).expect("VD301 block");
    let flat = vd301.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("see also: VD303 boot-gpu-passed-through"), "{flat}");
    assert!(flat.contains("Same cause as VD303"), "{flat}");
    assert!(!flat.contains("initcall_blacklist") && !flat.contains("rescan"), "VD301 repeats VD303's steps: {flat}");
    let vd303 = text.find("error[VD303]").expect("VD303");
    assert!(vd303 < text.find("error[VD301]").expect("VD301"), "the cause comes first");
    // The forum post and the HTML page say it as well.
    for (format, needle) in [("markdown", "**See also:** VD303 boot-gpu-passed-through"), ("html", "See also: VD303 boot-gpu-passed-through")] {
        let out = support::binary().args(["check", "--format", format, "--root"]).arg(support::fixtures().join("hosts/seed-b550-bsod")).output().expect("run");
        assert!(String::from_utf8_lossy(&out.stdout).contains(needle), "{format} lacks {needle:?}");
    }
}

/// The IOMMU-off AMD host: iommu-disabled says `amd_iommu=on` is not an option, and
/// cmdline-not-applied no longer asks for it; the two cite each other.
#[test]
fn iommu_off_findings_agree() {
    let built = support::build_case(&support::fixtures().join("rules/iommu-disabled/fires-amd-cmdline-not-applied"));
    let report = support::diagnose(&built.bundle);
    let off = report.findings.iter().find(|f| f.code == "VD102").expect("VD102");
    let cmd = report.findings.iter().find(|f| f.code == "VD103").expect("VD103");
    assert!(off.remediation.contains("`amd_iommu=on` is not an option"));
    assert!(cmd.remediation.contains("shows `iommu=pt`") && !cmd.remediation.contains("amd_iommu=on"), "{}", cmd.remediation);
    assert!(cmd.message.contains("`amd_iommu=on` is left out"), "{}", cmd.message);
    assert_eq!((off.related.as_slice(), cmd.related.as_slice()), (&["VD103".to_string()][..], &["VD102".to_string()][..]));
}
