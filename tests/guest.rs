//! Guest (Windows) evidence: DxDiag in UTF-16 (as Windows writes it) and UTF-8 parses the same
//! and yields the scaling and basic-adapter findings; pnputil and PowerShell Code 43 is tied to
//! the seed host's GTX 1060 at 0000:08:00.0; the System API the lead's rules can use.

mod support;

use vfio_doctor::bundle::SourceKind;
use vfio_doctor::import::decode::{decode, Content};
use vfio_doctor::system::System;

/// The text the importer decodes from `bytes` (BOM, UTF-16 without BOM, UTF-8, 1252).
fn decode_text(bytes: &[u8]) -> String {
    match decode(bytes) {
        Content::Text(t) => t,
        _ => panic!("expected text"),
    }
}

fn guest_file(name: &str) -> std::path::PathBuf {
    support::fixtures().join("inputs/guest").join(name)
}

fn system_of(kind: &str, file: &str) -> System {
    let origin = vfio_doctor::commands::Origin {
        inputs: vec![format!("{kind}:{}", guest_file(file).display())],
        redact: true,
        ..Default::default()
    };
    let bundle = vfio_doctor::commands::obtain_bundle(&origin).expect("bundle");
    System::from_bundle(&bundle)
}

#[test]
fn dxdiag_utf16_and_utf8_parse_the_same() {
    let bytes = std::fs::read(guest_file("dxdiag-125-basic-utf16.txt")).expect("fixture");
    assert_eq!(&bytes[..2], &[0xFF, 0xFE], "the fixture is UTF-16 LE with a BOM");
    let utf16 = decode_text(&bytes);
    let utf8 = decode_text(&std::fs::read(guest_file("dxdiag-125-basic-utf8.txt")).expect("fixture"));
    assert_eq!(utf16, utf8);
    // Without the BOM too (some tools strip it).
    assert_eq!(decode_text(&bytes[2..]), utf8);

    for (file, sys) in [
        ("utf16", system_of("dxdiag", "dxdiag-125-basic-utf16.txt")),
        ("utf8", system_of("dxdiag", "dxdiag-125-basic-utf8.txt")),
    ] {
        let dx = sys.guest.dxdiag.first().unwrap_or_else(|| panic!("{file}: no DxDiag parsed"));
        let user = dx.user_dpi.as_ref().expect("user dpi");
        assert_eq!((user.dpi, user.percent), (Some(120), Some(125)), "{file}");
        // Read redacted, as `check` does: the machine name is a placeholder.
        assert_eq!(dx.machine_name.as_ref().map(|f| f.value.as_str()), Some("host-1"));
        assert!(dx.operating_system.as_ref().is_some_and(|f| f.value.starts_with("Windows 10 Pro 64-bit")));
        assert_eq!(dx.dwm_dpi_scaling.as_ref().map(|f| f.value.as_str()), Some("UnKnown"));
        assert_eq!(dx.displays.len(), 2, "{file}");
        let nv = &dx.displays[1];
        assert_eq!(nv.driver_version.as_ref().map(|f| f.value.as_str()), Some("31.0.15.3161"));
        assert_eq!(nv.current_mode.as_ref().map(|f| f.value.as_str()), Some("2560 x 1440 (32 bit) (60Hz)"));
        assert_eq!(sys.guest.devices[1].ids(), Some((0x10de, 0x1c02)));
        assert_eq!(sys.guest.basic_display_adapters().len(), 1);
        assert!(sys.guest.code43_devices().is_empty());
    }
}

#[test]
fn dxdiag_yields_scaling_and_basic_adapter_findings_from_the_cli() {
    for file in ["dxdiag-125-basic-utf16.txt", "dxdiag-125-basic-utf8.txt"] {
        let out = support::binary()
            .args(["check", "--format", "json", "--fail-on", "never", &format!("dxdiag:{}", guest_file(file).display())])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let names: Vec<&str> = v["findings"].as_array().expect("findings").iter().filter_map(|f| f["name"].as_str()).collect();
        assert!(names.contains(&"display-scaling-blur") && names.contains(&"basic-display-adapter"), "{file}: {names:?}");
    }
}

#[test]
fn code43_from_pnputil_and_powershell_is_tied_to_the_host_gpu() {
    for case in ["fires-pnputil", "fires-powershell", "fires-cim"] {
        let built = support::build_case(&support::fixtures().join("rules/guest-code43").join(case));
        let sys = System::from_bundle(&built.bundle);
        let c43 = sys.guest.code43_devices();
        assert_eq!(c43.len(), 1, "{case}");
        assert_eq!(c43[0].ids(), Some((0x10de, 0x1c02)), "{case}");
        assert!(sys.guest.has_code43(0x10de, 0x1c02));
        assert!(!c43[0].is_weak_evidence());
        let report = support::diagnose(&built.bundle);
        let f = report.findings.iter().find(|f| f.name == "guest-code43").expect("finding");
        assert_eq!(f.subject, "0000:08:00.0", "{case}");
        assert!(f.message.contains("GeForce GTX 1060 3GB") && f.message.contains("vfio-pci"), "{case}: {}", f.message);
    }
}

#[test]
fn a_started_gpu_is_no_code43() {
    let sys = system_of("pnputil", "pnputil-started.txt");
    assert_eq!(sys.guest.devices.len(), 2);
    assert!(sys.guest.code43_devices().is_empty());
    assert!(sys.guest.devices.iter().all(|d| d.kind == SourceKind::Pnputil));
}

/// No real DxDiag showing Code 43 was found (signatures.md §6.1 ⚠): this one is the UTF-8
/// fixture with the GPU's status flags and problem code changed the way dxdiagn prints them
/// (`DN_HAS_PROBLEM`, a numeric code). The finding must call DxDiag weak evidence.
#[test]
fn code43_seen_only_in_dxdiag_is_weak_evidence() {
    let text = std::fs::read_to_string(guest_file("dxdiag-125-basic-utf8.txt")).expect("fixture");
    let nv_at = text.find("Card name: NVIDIA").expect("nvidia block");
    let (head, tail) = text.split_at(nv_at);
    let tail = tail
        .replacen(
            "Device Status: 0180200A [DN_DRIVER_LOADED|DN_STARTED|DN_DISABLEABLE|DN_NT_ENUMERATOR|DN_NT_DRIVER]",
            "Device Status: 01802402 [DN_DRIVER_LOADED|DN_HAS_PROBLEM|DN_DISABLEABLE|DN_NT_ENUMERATOR|DN_NT_DRIVER]",
            1,
        )
        .replacen("Device Problem Code: No Problem", "Device Problem Code: 43", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("DxDiag.txt");
    std::fs::write(&path, format!("{head}{tail}")).expect("write");
    let root = support::fixtures().join("hosts/seed-b550");
    let origin = vfio_doctor::commands::Origin {
        root: Some(root),
        inputs: vec![format!("dxdiag:{}", path.display())],
        redact: true,
        ..Default::default()
    };
    let bundle = vfio_doctor::commands::obtain_bundle(&origin).expect("bundle");
    let sys = System::from_bundle(&bundle);
    let c43 = sys.guest.code43_devices();
    assert_eq!(c43.len(), 1);
    assert!(c43[0].is_weak_evidence() && c43[0].has_problem);
    let report = support::diagnose(&bundle);
    let f = report.findings.iter().find(|f| f.name == "guest-code43").expect("finding");
    assert_eq!(f.subject, "0000:08:00.0");
    assert!(f.message.contains("DxDiag is weak evidence"), "{}", f.message);
    assert!(f.remediation.contains("pnputil /enum-devices"), "{}", f.remediation);
}
