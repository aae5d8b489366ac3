//! Option ROMs: the synthetic ROMs in fixtures/roms (built by tests/support/rom_builder.rs, never
//! downloaded) are current; `vfio-doctor rom` reports each chain (text and JSON snapshots) with
//! the ROM rules' findings, and the CLI exits as documented.

mod support;

use std::path::Path;

use base64::Engine as _;
use support::rom_builder;
use vfio_doctor::bundle::{Bundle, PciDevice, Source, SourceKind, Status};
use vfio_doctor::commands::rom::inspect;

/// A domain that loads `/usr/share/vgabios/gtx1060.rom` for the seed's GTX 1060 (08:00.0).
const DOMAIN: &str = "<domain type='kvm'>
  <name>win10</name>
  <os>
    <type arch='x86_64' machine='pc-q35-6.2'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
  </os>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x0000' bus='0x08' slot='0x00' function='0x0'/>
      </source>
      <rom file='/usr/share/vgabios/gtx1060.rom'/>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0' multifunction='on'/>
    </hostdev>
  </devices>
</domain>
";

/// A bundle as collection writes it for a domain with `<rom file=…>`: the XML, the ROM as
/// base64 with the domain's name, and the GPU it is attached to.
fn domain_bundle(rom: &[u8]) -> String {
    let mut b = Bundle::new();
    b.collected_at = "2023-05-26T12:00:00Z".into();
    b.pci_devices.push(PciDevice {
        address: "0000:08:00.0".into(),
        vendor: Some("0x10de".into()),
        device: Some("0x1c02".into()),
        class: Some("0x030000".into()),
        driver: Some("vfio-pci".into()),
        iommu_group: Some("16".into()),
        ..PciDevice::default()
    });
    let mut xml = Source::ok(SourceKind::DomainXml, "etc/libvirt/qemu/win10.xml", "file", DOMAIN.to_string());
    xml.vm = Some("win10".into());
    b.sources.push(xml);
    b.sources.push(Source {
        kind: SourceKind::Rom,
        path: "/usr/share/vgabios/gtx1060.rom".into(),
        origin: "file".into(),
        status: Status::Ok,
        reason: None,
        vm: Some("win10".into()),
        text: None,
        base64: Some(base64::engine::general_purpose::STANDARD.encode(rom)),
        cut: None,
    });
    vfio_doctor::bundle::to_json(&b)
}

/// Every generated fixture: (path under fixtures/, bytes).
fn generated() -> Vec<(String, Vec<u8>)> {
    let roms = rom_builder::all();
    let mut out: Vec<(String, Vec<u8>)> = roms.iter().map(|(n, b)| (format!("roms/{n}"), b.clone())).collect();
    let get = |name: &str| roms.iter().find(|(n, _)| *n == name).map(|(_, b)| b.clone()).expect("built rom");
    out.push(("rules/rom-device-mismatch/fires-domain/bundle.json".into(), domain_bundle(&get("wrong-device.rom")).into_bytes()));
    out.push(("rules/rom-device-mismatch/quiet-domain/bundle.json".into(), domain_bundle(&get("good.rom")).into_bytes()));
    out
}

/// The committed ROMs and bundles are what the builder makes; `UPDATE_ROMS=1` rewrites them.
#[test]
fn committed_fixtures_match_the_builder() {
    let fixtures = support::fixtures();
    let update = std::env::var_os("UPDATE_ROMS").is_some();
    for (rel, bytes) in generated() {
        let path = fixtures.join(&rel);
        if update {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &bytes).expect("write fixture");
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_ROMS=1)", path.display()));
        assert!(committed == bytes, "{rel} differs from the builder's output; run UPDATE_ROMS=1 cargo test --test rom");
    }
}

fn rom(name: &str) -> Vec<u8> {
    std::fs::read(support::fixtures().join("roms").join(name)).expect("fixture rom")
}

fn names(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).expect("json");
    v["findings"].as_array().expect("findings").iter().map(|f| f["name"].as_str().unwrap_or_default().to_string()).collect()
}

#[test]
fn good_chain_has_legacy_and_efi_x64_with_a_parsed_pe() {
    let out = inspect("good.rom", &rom("good.rom"), Some(rom_builder::GTX1060)).expect("inspect");
    assert_eq!(out.errors, 0);
    assert!(names(&out.json).is_empty(), "{}", out.text);
    let v: serde_json::Value = serde_json::from_str(&out.json).expect("json");
    assert_eq!(v["images"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["images"][1]["efi"]["pe"]["machine"], "X64");
    assert_eq!(v["images"][1]["efi"]["pe"]["sections"][0], ".text");
    insta::assert_snapshot!("rom_good_text", out.text);
    insta::assert_snapshot!("rom_good_json", out.json);
}

/// A ROM fixture, the `--device` given with it, and the findings expected.
type RomCase<'a> = (&'a str, Option<(u16, u16)>, &'a [&'a str]);

#[test]
fn each_broken_rom_gets_its_finding() {
    let cases: &[RomCase] = &[
        ("truncated.rom", None, &["rom-invalid", "rom-no-uefi-image"]),
        ("nvflash.rom", None, &["rom-has-nvflash-header"]),
        ("wrong-device.rom", Some(rom_builder::GTX1060), &["rom-device-mismatch"]),
        ("legacy-only.rom", None, &["rom-no-uefi-image"]),
        ("arm64-only.rom", None, &["rom-no-uefi-image"]),
        ("not-a-rom.rom", None, &["rom-invalid"]),
    ];
    for (file, device, want) in cases {
        let out = inspect(file, &rom(file), *device).expect("inspect");
        let mut got = names(&out.json);
        got.sort();
        assert_eq!(&got, want, "{file}:\n{}", out.text);
        let stem = file.trim_end_matches(".rom");
        insta::assert_snapshot!(format!("rom_{stem}_text"), out.text);
        insta::assert_snapshot!(format!("rom_{stem}_json"), out.json);
    }
}

#[test]
fn nvflash_remediation_says_how_many_bytes_to_strip() {
    let out = inspect("nvflash.rom", &rom("nvflash.rom"), None).expect("inspect");
    assert!(out.text.contains("dd if='nvflash.rom' of='nvflash-stripped.rom' bs=1 skip=896"), "{}", out.text);
    // Stripping as told gives the good chain.
    let stripped = &rom("nvflash.rom")[896..];
    assert_eq!(stripped, &rom("good.rom")[..]);
}

#[test]
fn cli_exit_codes_and_formats() {
    let dir = support::fixtures().join("roms");
    let run = |args: &[&str]| support::binary().args(args).output().expect("run vfio-doctor");
    let good = run(&["rom", dir.join("good.rom").to_str().expect("utf8"), "--device", "10de:1c02"]);
    assert_eq!(good.status.code(), Some(0), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(String::from_utf8_lossy(&good.stdout).contains("Machine: X64"));
    let bad = run(&["rom", dir.join("nvflash.rom").to_str().expect("utf8"), "--format", "json"]);
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("json on stdout");
    assert_eq!(v["findings"][0]["code"], "VD804");
    let missing = run(&["rom", "/nonexistent/vbios.rom"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("/nonexistent/vbios.rom") && err.lines().count() == 1, "{err}");
    let bad_id = run(&["rom", dir.join("good.rom").to_str().expect("utf8"), "--device", "nvidia"]);
    assert_eq!(bad_id.status.code(), Some(2));
    let explain = run(&["explain", "rom-has-nvflash-header"]);
    assert!(String::from_utf8_lossy(&explain.stdout).contains("VD804"));
}

/// `check` finds the same problems in a bundle's ROM, against the hostdev that loads it.
#[test]
fn check_judges_a_domain_rom_against_its_hostdev() {
    let path = support::fixtures().join("rules/rom-device-mismatch/fires-domain/bundle.json");
    let bundle = vfio_doctor::bundle::load(Path::new(&path)).expect("bundle");
    let report = support::diagnose(&bundle);
    let f = report.findings.iter().find(|f| f.name == "rom-device-mismatch").expect("mismatch finding");
    assert!(f.message.contains("0000:08:00.0") && f.message.contains("1002:743f"), "{}", f.message);
    // The hostdev of win10.xml that loads the ROM (System.vms) is the evidence of the intent.
    assert!(
        f.evidence.iter().any(|e| e.source.ends_with("win10.xml") && e.location == "line 8" && e.excerpt.contains("bus='0x08'")),
        "{:#?}",
        f.evidence
    );
}
