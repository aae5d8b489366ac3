//! Redaction end to end: the `secrets` host (fixtures/hosts/secrets.toml) and the loose inputs
//! beside it (fixtures/hosts/secrets-inputs/) plant an identifying value of every kind in every
//! kind of source. Whatever the user writes or prints — `collect`'s bundle, `check`'s text,
//! Markdown, HTML and JSON reports, `iommu` — holds none of them unless `--no-redact`, and the
//! diagnosis is the same: the same findings naming the same PCI devices.

mod support;

use std::path::PathBuf;
use std::process::Output;

/// Every planted value, as it is written in the fixtures.
const PLANTED: &[(&str, &str)] = &[
    ("host name (etc/hostname, journal, QEMU and Xorg logs, prompts)", "quasar-lab"),
    ("user name (/home paths, prompts, USER=)", "alice"),
    ("host MAC (kernel log, ip addr)", "04:42:1a:0b:2c:3d"),
    ("peer MAC (netfilter MAC= header)", "9c:53:22:7e:41:08"),
    ("guest MAC (domain XML, QEMU -device)", "52:54:00:a1:b2:c3"),
    ("IPv4 (VNC listen, netfilter SRC/DST, ip addr, RBD monitor)", "192.168.50."),
    ("IPv6 (SPICE listen, ip addr)", "2001:db8:50::10"),
    ("IPv6 link-local (netfilter SRC)", "fe80:0000:0000:0000:9e53:22ff:fe7e:4108"),
    ("IPv6 link-local (ip addr)", "fe80::642:1aff:fe0b:2c3d"),
    ("root UUID (cmdline, kernel log, Xorg log, by-uuid)", "9d3e5c71-4b2a-4f6e-8c1d-7a9b0e2f4c63"),
    ("resume UUID (cmdline, grub, by-uuid)", "5e8f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b"),
    ("domain UUID (<uuid>, SMBIOS, -uuid)", "a7c3e9f1-5b2d-4c8e-9f1a-3b5d7e9f1c2a"),
    ("libvirt secret UUID", "b2d4f6a8-1c3e-4a5b-8d7f-9e0a1b2c3d4e"),
    ("DxDiag machine id", "8E2F4A6C-1B3D-4E5F-9A7B-C1D3E5F7A9B2"),
    ("disk serial (<serial>, serial=, DxDiag Serial Number)", "WD-WX11A95K2L7P"),
    ("SMBIOS serial", "SYS-7Q4K2M9X"),
    ("VNC password", "Vnc-Hunter2"),
    ("SPICE password (XML and -spice password=)", "Sp1ce-Hunter3"),
    ("RBD auth user name", "rbd-quasar"),
    ("libvirt secret usage", "ceph-quasar-key"),
    ("Windows machine name (DxDiag, PowerShell SystemName)", "QUASAR-GAMING"),
];

fn host() -> PathBuf {
    support::fixtures().join("hosts/secrets")
}

fn inputs() -> Vec<String> {
    ["dxdiag.txt", "powershell.txt", "transcript.txt"]
        .iter()
        .map(|f| support::fixtures().join("hosts/secrets-inputs").join(f).display().to_string())
        .collect()
}

fn run(args: &[&str]) -> String {
    let out: Output = support::binary().args(args).output().expect("run vfio-doctor");
    assert!(out.status.code().is_some_and(|c| c <= 1), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `check --root secrets INPUTS… --format F` (plus `extra`).
fn check(format: &str, extra: &[&str]) -> String {
    let root = host().display().to_string();
    let inputs = inputs();
    let mut args = vec!["check", "--root", root.as_str(), "--format", format, "--fail-on", "never"];
    args.extend(extra);
    args.extend(inputs.iter().map(String::as_str));
    run(&args)
}

#[track_caller]
fn assert_clean(what: &str, output: &str) {
    let lower = output.to_lowercase();
    let left: Vec<&(&str, &str)> = PLANTED.iter().filter(|(_, v)| lower.contains(&v.to_lowercase())).collect();
    assert!(left.is_empty(), "{what} still holds {left:?}");
}

/// (code, subject) of every finding of a JSON report.
fn findings(json: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).expect("json report");
    let mut out: Vec<(String, String)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (f["code"].as_str().unwrap_or("").to_string(), f["subject"].as_str().unwrap_or("").to_string()))
        .collect();
    out.sort();
    out
}

fn collect(extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bundle.json");
    let root = host().display().to_string();
    let out = path.display().to_string();
    let inputs = inputs();
    let mut args = vec!["collect", "--root", root.as_str(), "-o", out.as_str()];
    args.extend(extra);
    args.extend(inputs.iter().map(String::as_str));
    run(&args);
    (dir, path)
}

#[test]
fn the_planted_values_are_really_there() {
    // Without this, a fixture that lost its secrets would make every other test pass.
    let (_dir, path) = collect(&["--no-redact"]);
    let bundle = std::fs::read_to_string(&path).expect("bundle");
    let v: serde_json::Value = serde_json::from_str(&bundle).expect("json");
    assert_eq!(v["redacted"], false);
    let lower = bundle.to_lowercase();
    let missing: Vec<&str> = PLANTED.iter().filter(|(_, v)| !lower.contains(&v.to_lowercase())).map(|(k, _)| *k).collect();
    assert!(missing.is_empty(), "--no-redact lost {missing:?}");
    // And the reports show them too (evidence excerpts, paths).
    assert!(check("json", &["--no-redact"]).contains("quasar-lab"));
}

#[test]
fn collected_bundle_holds_none_of_them() {
    let (_dir, path) = collect(&[]);
    let bundle = std::fs::read_to_string(&path).expect("bundle");
    assert_clean("collect -o bundle.json", &bundle);
    let v: serde_json::Value = serde_json::from_str(&bundle).expect("json");
    assert_eq!(v["redacted"], true);
    assert_eq!(v["host"]["hostname"], "host-1");
    // The diagnosis material is intact.
    for kept in ["0000:08:00.0", "10de:1c02", "vfio-pci.ids=10de:1c02,10de:10f1", "5.15.0-72-generic", "Driver Version: 31.0.15.3623", "X.Org X Server 1.21.1.4"] {
        assert!(bundle.contains(kept), "{kept} was redacted");
    }
    // One value, one placeholder, across sources.
    assert!(bundle.contains("<uuid>uuid-") && bundle.contains("Jul 21 08:49:02 host-1 kernel:") && bundle.contains("hostname: host-"));
}

#[test]
fn every_report_format_holds_none_of_them_and_finds_the_same() {
    let plain = findings(&check("json", &["--no-redact"]));
    assert!(plain.iter().any(|(code, subject)| code == "VD301" && subject.starts_with("0000:08:00.0")), "{plain:?}");
    for format in ["text", "markdown", "html", "json"] {
        let report = check(format, &[]);
        assert_clean(&format!("check --format {format}"), &report);
        assert!(report.contains("0000:08:00.0") && report.contains("10de:1c02"), "{format} report lost the device");
    }
    assert_eq!(findings(&check("json", &[])), plain, "redaction changed the diagnosis");
}

#[test]
fn a_bundle_collected_with_no_redact_is_redacted_when_checked() {
    let (_dir, path) = collect(&["--no-redact"]);
    let b = path.display().to_string();
    let report = run(&["check", "--bundle", &b, "--format", "json", "--fail-on", "never"]);
    assert_clean("check --bundle (unredacted bundle)", &report);
    let plain = run(&["check", "--bundle", &b, "--format", "json", "--fail-on", "never", "--no-redact"]);
    assert!(plain.contains("quasar-lab"));
    assert_eq!(findings(&report), findings(&plain));
}

#[test]
fn a_paste_added_to_a_redacted_bundle_is_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bundle.json");
    let (root, out) = (host().display().to_string(), path.display().to_string());
    run(&["collect", "--root", &root, "-o", &out]);
    let inputs = inputs();
    let mut args = vec!["check", "--bundle", out.as_str(), "--format", "markdown", "--fail-on", "never"];
    args.extend(inputs.iter().map(String::as_str));
    let report = run(&args);
    assert_clean("check --bundle redacted.json dxdiag.txt …", &report);
    // The pasted Windows machine name gets a placeholder of its own, numbered after the
    // bundle's, not the collected host's `host-1`.
    let origin = vfio_doctor::commands::Origin { bundle: Some(path.clone()), inputs: inputs.clone(), redact: true, ..Default::default() };
    let b = vfio_doctor::commands::obtain_bundle(&origin).expect("bundle and pastes");
    assert_eq!(b.host.hostname.as_deref(), Some("host-1"));
    let dxdiag = b.sources.iter().find(|s| s.kind == vfio_doctor::bundle::SourceKind::Dxdiag).and_then(|s| s.text.as_deref()).expect("dxdiag");
    let machine = dxdiag.lines().find_map(|l| l.trim().strip_prefix("Machine name: ")).expect("machine name line");
    assert!(machine.starts_with("host-") && machine != "host-1", "machine name became {machine}");
}

#[test]
fn loose_pastes_alone_hold_none_of_them() {
    let inputs = inputs();
    for format in ["text", "json"] {
        let mut args = vec!["check", "--format", format, "--fail-on", "never"];
        args.extend(inputs.iter().map(String::as_str));
        let report = run(&args);
        assert_clean(&format!("check PASTES --format {format}"), &report);
        assert!(report.contains("10de:1c02") || report.contains("10DE&DEV_1C02"), "{format}: the GPU is gone");
    }
}

#[test]
fn iommu_listing_holds_none_of_them() {
    let root = host().display().to_string();
    for format in ["text", "json", "markdown"] {
        let out = run(&["iommu", "--root", &root, "--format", format]);
        assert_clean(&format!("iommu --format {format}"), &out);
        assert!(out.contains("0000:08:00.0") || out.contains("08:00.0"), "{format}: the GPU is gone");
    }
}
