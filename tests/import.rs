//! Loose inputs as users paste them (fixtures/inputs/pastes, see SOURCES.md there): the kind
//! told from the content, transcripts split at their prompts, devices and IOMMU groups rebuilt,
//! and `check`/`collect` on them from the command line.

mod support;

use std::io::Write;
use std::path::PathBuf;

use support::{binary, fixtures};
use vfio_doctor::bundle::{Bundle, SourceKind};
use vfio_doctor::import::{add_inputs, Input};

fn paste(name: &str) -> PathBuf {
    fixtures().join("inputs").join("pastes").join(name)
}

fn import(args: &[String]) -> Bundle {
    let mut b = Bundle::new();
    let inputs: Vec<Input> = args.iter().map(|a| Input::parse(a)).collect();
    let keep = vfio_doctor::rules::signatures(&vfio_doctor::rules::Catalog::builtin().expect("catalog"));
    add_inputs(&mut b, &inputs, &keep).expect("import");
    b
}

fn import_paste(name: &str) -> Bundle {
    import(&[paste(name).display().to_string()])
}

fn kinds(b: &Bundle) -> Vec<SourceKind> {
    b.sources.iter().map(|s| s.kind).collect()
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut cmd = binary();
    cmd.args(args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn vfio-doctor");
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or_default()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn seed_group_listing_rebuilds_22_groups_and_the_devices() {
    let b = import_paste("seed-iommu-groups.txt");
    assert_eq!(kinds(&b), vec![SourceKind::IommuScript]);
    assert_eq!(b.iommu_groups.len(), 22);
    let g15 = b.iommu_groups.iter().find(|g| g.id == "15").expect("group 15");
    assert_eq!(g15.devices.len(), 12);
    let rx560 = b.pci_devices.iter().find(|d| d.address == "0000:04:00.0").expect("04:00.0");
    assert_eq!(rx560.iommu_group.as_deref(), Some("15"));
    assert_eq!(rx560.driver.as_deref(), Some("amdgpu"));
    assert_eq!((rx560.vendor.as_deref(), rx560.device.as_deref()), (Some("0x1002"), Some("0x67ff")));
    assert_eq!((rx560.class.as_deref(), rx560.revision.as_deref()), (Some("0x030000"), Some("0xff")));
    let isa = b.pci_devices.iter().find(|d| d.address == "0000:00:14.3").expect("00:14.3");
    assert_eq!(isa.driver, None, "a row without `Driver:` has no driver");
    assert!(b.pci_devices.iter().all(|d| d.origin.as_deref() == Some(paste("seed-iommu-groups.txt").display().to_string().as_str())));
    // The parsed view sees them: the GTX 1060 alone with its audio in group 16, on vfio-pci.
    let sys = vfio_doctor::system::System::from_bundle(&b);
    assert!(sys.has(SourceKind::Pci) && sys.has(SourceKind::IommuGroups));
    let gtx = sys.device("08:00.0").expect("gtx");
    assert!(gtx.is_gpu() && gtx.driver_is("vfio-pci"));
    assert_eq!(sys.group("16").map(|g| g.members.len()), Some(2));
}

#[test]
fn lspci_nnk_paste_gives_the_gpu_on_vfio_pci() {
    let b = import_paste("lspci-nnk-quadro-t500.txt");
    assert_eq!(kinds(&b), vec![SourceKind::Lspci]);
    let d = &b.pci_devices[0];
    assert_eq!(d.address, "0000:01:00.0");
    assert_eq!((d.vendor.as_deref(), d.device.as_deref(), d.class.as_deref()), (Some("0x10de"), Some("0x1fbb"), Some("0x030200")));
    assert_eq!((d.subsystem_vendor.as_deref(), d.subsystem_device.as_deref()), (Some("0x1028"), Some("0x0a22")));
    assert_eq!((d.driver.as_deref(), d.revision.as_deref()), (Some("vfio-pci"), Some("0xa1")));
    assert!(b.iommu_groups.is_empty(), "lspci -nnk says nothing about groups");
}

#[test]
fn lspci_with_lost_indentation_and_lspci_vnn() {
    let b = import_paste("lspci-nnk-unindented-3080.txt");
    assert_eq!(kinds(&b), vec![SourceKind::Lspci]);
    let drivers: Vec<_> = b.pci_devices.iter().map(|d| (d.address.as_str(), d.driver.as_deref())).collect();
    assert_eq!(drivers, vec![("0000:3e:00.0", Some("nvidia")), ("0000:3e:00.1", Some("snd_hda_intel"))]);
    assert_eq!(b.pci_devices[0].subsystem_vendor.as_deref(), Some("0x1458"));

    let b = import_paste("lspci-vnn-gtx560.txt");
    assert_eq!(kinds(&b), vec![SourceKind::Lspci]);
    assert_eq!(b.pci_devices.len(), 3);
    let gpu = &b.pci_devices[2];
    assert_eq!((gpu.device.as_deref(), gpu.revision.as_deref(), gpu.class.as_deref()), (Some("0x1200"), Some("0xa1"), Some("0x030000")));
    assert_eq!(b.pci_devices[1].driver.as_deref(), Some("pcieport"));
}

#[test]
fn every_kernel_log_shape_is_a_kernel_log() {
    for name in ["dmesg-bar-reserve.txt", "dmesg-T-boot-vga.txt", "journal-vfio-reset.txt", "syslog-nvrm.txt", "dmesg-d3cold.txt"] {
        let b = import_paste(name);
        assert_eq!(kinds(&b), vec![SourceKind::KernelLog], "{name}");
        assert!(b.notes.is_empty(), "{name}: {:?}", b.notes);
    }
}

#[test]
fn qemu_xorg_cmdline_and_windows_kinds() {
    for (name, kind) in [
        ("seed-win10.log.0", SourceKind::QemuLog),
        ("libvirt-qemu-plain.log", SourceKind::QemuLog),
        ("xorg-stderr-no-screens.txt", SourceKind::XorgLog),
        ("xorg-probe.log", SourceKind::XorgLog),
        ("proc-cmdline-threadripper.txt", SourceKind::Cmdline),
        ("pnputil-problem.txt", SourceKind::Pnputil),
        ("win32-pnpentity.txt", SourceKind::Powershell),
        ("dxdiag-utf8.txt", SourceKind::Dxdiag),
    ] {
        let b = import_paste(name);
        assert_eq!(kinds(&b), vec![kind], "{name}");
    }
    let b = import_paste("libvirt-qemu-plain.log");
    assert_eq!(b.sources[0].vm.as_deref(), Some("plain"), "the VM comes from `-name guest=`");
}

#[test]
fn dxdiag_in_utf16_le_with_bom_is_decoded_and_odd_length_does_not_panic() {
    let text = std::fs::read_to_string(paste("dxdiag-utf8.txt")).expect("read");
    let mut utf16: Vec<u8> = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("DxDiag.txt");
    std::fs::write(&file, &utf16).expect("write");
    let b = import(&[file.display().to_string()]);
    assert_eq!(kinds(&b), vec![SourceKind::Dxdiag]);
    let decoded = b.sources[0].text.as_deref().expect("text");
    assert!(decoded.contains("Card name: NVIDIA GeForce GTX 650 Ti"), "{decoded}");
    assert!(decoded.contains("Device Key: Enum\\PCI\\VEN_10DE&DEV_11C6&SUBSYS_28071462&REV_A1"));
    assert!(!decoded.contains('\r') && !decoded.contains('\u{feff}'));

    utf16.push(b'X');
    std::fs::write(&file, &utf16).expect("write");
    let b = import(&[file.display().to_string()]);
    assert_eq!(kinds(&b), vec![SourceKind::Dxdiag]);
}

#[test]
fn seed_transcript_splits_at_the_zsh_prompt() {
    let b = import_paste("seed-virsh-start.txt");
    assert_eq!(b.sources.len(), 1);
    let s = &b.sources[0];
    assert_eq!(s.kind, SourceKind::QemuLog);
    assert!(s.path.ends_with("seed-virsh-start.txt#1 (sudo virsh start win10)"), "{}", s.path);
    assert_eq!(s.vm.as_deref(), Some("win10"));
}

#[test]
fn forum_transcript_with_xml_cmdline_grub_and_modprobe() {
    let b = import_paste("transcript-seed-host.txt");
    let dir = format!("{}/", paste("").display().to_string().trim_end_matches('/'));
    let parts: Vec<(String, SourceKind)> = b.sources.iter().map(|s| (s.path.trim_start_matches(&dir).to_string(), s.kind)).collect();
    assert_eq!(
        parts,
        vec![
            ("transcript-seed-host.txt#1 (sudo virsh edit win10)".to_string(), SourceKind::Text),
            ("transcript-seed-host.txt#2 (sudo virsh dumpxml win10)".to_string(), SourceKind::DomainXml),
            ("transcript-seed-host.txt#3 (cat /proc/cmdline)".to_string(), SourceKind::Cmdline),
            ("transcript-seed-host.txt#4 (cat /etc/default/grub)".to_string(), SourceKind::BootConfig),
            ("transcript-seed-host.txt#5 (cat /etc/modprobe.d/vfio.conf)".to_string(), SourceKind::Modprobe),
        ]
    );
    let xml = &b.sources[1];
    assert_eq!(xml.vm.as_deref(), Some("win10"));
    let text = xml.text.as_deref().expect("xml");
    assert!(text.starts_with("<domain type='kvm'>") && text.trim_end().ends_with("</domain>"), "{text}");
    // The one part that is not any known kind is said so, and still scanned.
    assert_eq!(b.notes.len(), 1, "{:?}", b.notes);
    assert!(b.notes[0].ends_with("transcript-seed-host.txt#1 (sudo virsh edit win10): kind not recognised, scanned for known messages"));
}

#[test]
fn markdown_notes_with_indented_fenced_transcripts() {
    let b = import_paste("transcript-osx-kvm.md");
    let kinds_by_cmd: Vec<(Option<&str>, SourceKind)> = b
        .sources
        .iter()
        .map(|s| (s.path.split_once(" (").map(|(_, c)| c.trim_end_matches(')')), s.kind))
        .collect();
    assert_eq!(
        kinds_by_cmd,
        vec![
            (None, SourceKind::Text),
            (Some("cat /etc/modprobe.d/vfio.conf"), SourceKind::Modprobe),
            (Some("dmesg | grep -i iommu"), SourceKind::KernelLog),
            (Some("dmesg | grep vfio"), SourceKind::KernelLog),
            (Some("lspci -nkk -d 1002:67df"), SourceKind::Lspci),
            (Some("./scripts/list_iommu_groups.sh"), SourceKind::IommuScript),
        ]
    );
    // `lspci -n` (numbers only) and the Arch-wiki listing both describe 01:00.0; merged.
    let gpu = b.pci_devices.iter().find(|d| d.address == "0000:01:00.0").expect("01:00.0");
    assert_eq!((gpu.vendor.as_deref(), gpu.device.as_deref(), gpu.class.as_deref()), (Some("0x1002"), Some("0x67df"), Some("0x030000")));
    assert_eq!((gpu.subsystem_vendor.as_deref(), gpu.driver.as_deref(), gpu.iommu_group.as_deref()), (Some("0x1da2"), Some("vfio-pci"), Some("1")));
    assert_eq!(gpu.revision.as_deref(), Some("0xef"), "the first paste's revision is kept");
    assert_eq!(b.iommu_groups.len(), 2);
    assert_eq!(b.pci_devices.iter().filter(|d| d.address == "0000:01:00.0").count(), 1);
    // The Arch-wiki script shows no drivers: 00:00.0's missing driver is "not known", said so.
    let host_bridge = b.pci_devices.iter().find(|d| d.address == "0000:00:00.0").expect("00:00.0");
    assert_eq!(host_bridge.driver, None);
    assert!(host_bridge.notes.iter().any(|n| n.starts_with("driver: not shown in")), "{:?}", host_bridge.notes);
    assert!(gpu.notes.is_empty(), "the lspci -k paste told 01:00.0's driver: {:?}", gpu.notes);
    assert!(b.notes.iter().any(|n| n.ends_with("this IOMMU group listing does not show drivers, so the drivers in use are not known from it")), "{:?}", b.notes);
    // The dmesg lines were indented in the notes; the kernel-log view reads them.
    let sys = vfio_doctor::system::System::from_bundle(&b);
    assert!(sys.lines(SourceKind::KernelLog).any(|l| l.message == "DMAR: IOMMU enabled"));
}

#[test]
fn zsh_percent_prompt_and_powershell_prompt() {
    let b = import_paste("transcript-zsh-group-not-viable.txt");
    let last = b.sources.last().expect("part");
    assert!(last.path.ends_with("#2 (cat logs)"), "{}", last.path);
    assert_eq!(last.kind, SourceKind::QemuLog);
    let b = import_paste("transcript-ps-wmic.txt");
    assert_eq!(kinds(&b), vec![SourceKind::Powershell]);
}

#[test]
fn quoted_reply_is_unquoted() {
    let dmesg = std::fs::read_to_string(paste("dmesg-d3cold.txt")).expect("read");
    let quoted: String = dmesg.lines().map(|l| format!("> {l}\n")).collect();
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("reply.txt");
    std::fs::write(&file, quoted).expect("write");
    let b = import(&[file.display().to_string()]);
    assert_eq!(kinds(&b), vec![SourceKind::KernelLog]);
    let sys = vfio_doctor::system::System::from_bundle(&b);
    let line = sys.lines(SourceKind::KernelLog).find(|l| l.message.contains("D3cold")).expect("D3cold line");
    assert_eq!(line.device.as_ref().map(|d| d.address.as_str()), Some("0000:01:00.0"));
}

#[test]
fn forced_kind_wins_over_the_content() {
    let p = paste("dmesg-bar-reserve.txt").display().to_string();
    let b = import(&[format!("qemu-log:{p}")]);
    assert_eq!(kinds(&b), vec![SourceKind::QemuLog]);
    let b = import(&[format!("iommu-groups:{}", paste("seed-iommu-groups.txt").display())]);
    assert_eq!((kinds(&b), b.iommu_groups.len()), (vec![SourceKind::IommuScript], 22));
    // A forced kind is not split at prompts: the user said what the whole file is.
    let b = import(&[format!("text:{}", paste("transcript-seed-host.txt").display())]);
    assert_eq!(kinds(&b), vec![SourceKind::Text]);
}

#[test]
fn roms_are_kept_as_base64() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut rom = vec![0u8; 1024];
    rom[..3].copy_from_slice(&[0x55, 0xAA, 0x02]);
    let file = dir.path().join("vbios.rom");
    std::fs::write(&file, &rom).expect("write");
    let b = import(&[file.display().to_string()]);
    assert_eq!(kinds(&b), vec![SourceKind::Rom]);
    assert!(b.sources[0].text.is_none());
    assert!(b.sources[0].base64.as_deref().is_some_and(|s| s.starts_with("VaoC")));
}

#[test]
fn cli_binary_that_is_not_a_rom_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let elf = dir.path().join("vfio-doctor.bin");
    std::fs::write(&elf, [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0x3e, 0]).expect("write");
    let (code, out, err) = run(&["check", &elf.display().to_string()], None);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("vfio-doctor.bin") && err.contains("option ROM"), "{err}");
}

#[test]
fn cli_unreadable_inputs_exit_2_naming_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("dmesg.txt");
    for (arg, needle) in [(missing.display().to_string(), "dmesg.txt: cannot read: no such file"), (format!("lspci:{}", dir.path().display()), "cannot read: is a directory")] {
        let (code, _, err) = run(&["check", &arg], None);
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn cli_empty_file_is_a_note_not_a_crash() {
    let dir = tempfile::tempdir().expect("tmp");
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n  \n").expect("write");
    let (code, out, err) = run(&["check", "--format", "json", &empty.display().to_string()], None);
    // Nothing else was given, so nothing was checked: a report that says so, and exit 2.
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("vfio-doctor: nothing was checked: "), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let notes = v.to_string();
    assert!(notes.contains("empty.txt: empty, nothing to analyse"), "{out}");
}

#[test]
fn cli_check_on_a_pasted_dmesg_from_stdin_fires_and_says_what_is_missing() {
    let dmesg = std::fs::read(paste("dmesg-bar-reserve.txt")).expect("read");
    let (code, out, err) = run(&["check", "--format", "json", "-"], Some(&dmesg));
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let finding = v["findings"].as_array().and_then(|f| f.iter().find(|f| f["name"] == "bar-reservation-failure")).expect("bar finding");
    assert!(finding["message"].as_str().unwrap_or("").contains("0000:05:00.0"), "{finding}");
    assert_eq!(finding["evidence"][0]["source"], "stdin");
    let nev = v["not_evaluated"].as_array().expect("not_evaluated");
    let iommu = nev.iter().find(|n| n["rule"] == "iommu-disabled").expect("iommu-disabled not evaluated");
    assert_eq!(iommu["reason"], "no IOMMU groups in the input");
}

#[test]
fn cli_forced_kind_on_stdin_and_collect_keeps_the_parts() {
    let listing = std::fs::read(paste("seed-iommu-groups.txt")).expect("read");
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("bundle.json");
    let (code, _, err) = run(&["collect", "iommu-groups:-", "-o", &out.display().to_string()], Some(&listing));
    assert_eq!(code, 0, "{err}");
    let b = vfio_doctor::bundle::load(&out).expect("bundle");
    assert_eq!(b.iommu_groups.len(), 22);
    assert_eq!(b.sources.iter().filter(|s| s.kind == SourceKind::IommuScript && s.path == "stdin").count(), 1);
}

#[test]
fn a_paste_fills_what_sysfs_lacks_but_never_overrides_it() {
    let host = fixtures().join("hosts").join("seed-b550").display().to_string();
    let (code, out, err) = run(
        &["collect", "--root", &host, paste("lspci-nnk-quadro-t500.txt").display().to_string().as_str(), paste("seed-iommu-groups.txt").display().to_string().as_str()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let b: Bundle = serde_json::from_str(&out).expect("bundle json");
    let gtx = b.pci_devices.iter().find(|d| d.address == "0000:08:00.0").expect("08:00.0");
    assert_eq!(gtx.origin.as_deref().unwrap_or("sysfs"), "sysfs");
    assert_eq!(gtx.driver.as_deref(), Some("vfio-pci"));
    // 01:00.0 is the NVMe drive in sysfs; the pasted Quadro (another machine) changes nothing.
    let nvme = b.pci_devices.iter().find(|d| d.address == "0000:01:00.0").expect("01:00.0");
    assert_eq!(nvme.vendor.as_deref(), Some("0x144d"));
    assert_eq!(nvme.driver.as_deref(), Some("nvme"));
    assert_eq!(b.pci_devices.iter().filter(|d| d.address == "0000:01:00.0").count(), 1);
}

#[test]
fn the_whole_seed_article_is_diagnosed_from_what_it_quotes() {
    // A blog post in Chinese with prompts, a group listing and QEMU lines between paragraphs.
    let article = paste("seed-article.txt");
    let b = import(&[article.display().to_string()]);
    assert_eq!(b.iommu_groups.len(), 22, "the quoted listing is lifted out of the prose");
    let listing = b.sources.iter().find(|s| s.kind == SourceKind::IommuScript).expect("listing source");
    assert!(listing.path.contains("[lines "), "{}", listing.path);
    assert!(b.sources.iter().any(|s| s.kind == SourceKind::QemuLog && s.path.contains("[line ")));
    assert!(
        b.notes.iter().any(|n| n.contains("found inside the text and read as such: IOMMU group listing (lines ")),
        "{:?}",
        b.notes
    );
    assert!(
        b.notes.iter().all(|n| n.ends_with("kind not recognised, scanned for known messages") || n.contains(": found inside the text and read as such: ")),
        "{:?}",
        b.notes
    );
    let (code, out, err) = run(&["check", "--format", "json", &article.display().to_string()], None);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let bar = v["findings"].as_array().and_then(|f| f.iter().find(|f| f["name"] == "bar-reservation-failure")).expect("bar finding");
    assert!(bar["message"].as_str().unwrap_or("").contains("0000:08:00.0"), "{bar}");
}

/// Acceptance of issue 10: the seed's two rom-parser reports, its `virsh start` error and its
/// IOMMU listing are each diagnosed from the paste alone.
#[test]
fn the_seeds_pastes_are_each_diagnosed_alone() {
    let findings = |name: &str| -> (Vec<String>, String) {
        let (code, out, err) = run(&["check", "--format", "json", &paste(name).display().to_string()], None);
        assert!(code == 0 || code == 1, "{name}: exit {code}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let names = v["findings"].as_array().expect("findings").iter().map(|f| f["name"].as_str().unwrap_or("").to_string()).collect();
        (names, v["notes"].to_string())
    };
    // The truncated dump: rom-parser ran off the end after the legacy image.
    let (names, _) = findings("seed-rom-parser-truncated.txt");
    assert_eq!(names, vec!["rom-invalid", "rom-no-uefi-image"]);
    // The complete one: nothing wrong, and the report says what the ROM is.
    let (names, notes) = findings("seed-rom-parser-complete.txt");
    assert!(names.is_empty(), "{names:?}");
    assert!(notes.contains("1002:743f") && notes.contains("the chain is complete, with the x86-64 UEFI image OVMF runs"), "{notes}");
    // The `virsh start` error: QEMU cannot find the ROM file.
    let (names, _) = findings("seed-virsh-start.txt");
    assert!(names.contains(&"romfile-unusable".to_string()), "{names:?}");
    // The group listing: the GTX 1060 (group 16) can be passed, the RX 550's group 15 cannot.
    let (code, out, err) = run(&["iommu", "--format", "json", &paste("seed-iommu-groups.txt").display().to_string()], None);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let verdict = |id: &str| v["groups"].as_array().expect("groups").iter().find(|g| g["id"] == id).map(|g| g["verdict"]["passable"].clone());
    assert_eq!(verdict("16"), Some(serde_json::Value::Bool(true)));
    assert_eq!(verdict("15"), Some(serde_json::Value::Bool(false)));
}

/// /proc/PID/limits, with and without the `cat` above it, is a limits paste; its memlock
/// reading (64 MiB, soft and hard) is what memlock-limit cites.
#[test]
fn proc_limits_is_read_as_limits() {
    assert_eq!(kinds(&import_paste("proc-limits-pid1.txt")), vec![SourceKind::Limits]);
    let text = std::fs::read_to_string(paste("proc-limits-pid1.txt")).expect("fixture");
    let body = text.split_once('\n').expect("prompt").1;
    assert_eq!(vfio_doctor::import::sniff(body), SourceKind::Limits);
    let b = import_paste("proc-limits-pid1.txt");
    let sys = vfio_doctor::system::System::from_bundle(&b);
    let m = &sys.memlock[0];
    assert_eq!((m.soft, m.hard), (vfio_doctor::system::limits::Limit::Bytes(64 << 20), Some(vfio_doctor::system::limits::Limit::Bytes(64 << 20))));
}

/// Plain `lspci` (names only): the IDs come back from pci.ids where the names are unambiguous
/// (else the device stays without IDs), and the drivers are marked as not known.
#[test]
fn plain_lspci_gets_ids_from_names() {
    let b = import_paste("lspci-plain-gtx770.txt");
    assert_eq!(kinds(&b), vec![SourceKind::Lspci]);
    let ids: Vec<String> = b
        .pci_devices
        .iter()
        .map(|d| format!("{} {:?} {:?} {:?}", d.address, d.vendor, d.device, d.class))
        .collect();
    assert_eq!(
        ids,
        vec![
            // pci.ids gives this Intel name to several device IDs: kept without IDs.
            r#"0000:00:02.0 None None Some("0x030000")"#,
            r#"0000:01:00.0 Some("0x10de") Some("0x1184") Some("0x030000")"#,
            r#"0000:01:00.1 Some("0x10de") Some("0x0e0a") Some("0x040300")"#,
        ]
    );
    assert!(b.notes.iter().any(|n| n.contains("run without -k")), "{:?}", b.notes);
}

/// r15ch13's iommu.sh (`Group 9:  [10de:1d01] [R] 01:00.0  VGA compatible controller …`), as a
/// Proxmox homelab post quotes it (SOURCES.md): told from its content alone (also inside prose),
/// its 18 groups rebuilt with IDs and classes, and judged — the GT 1030 can be passed with its
/// audio function, the chipset group 10 cannot.
#[test]
fn iommu_sh_listing_is_sniffed_and_judged() {
    let b = import_paste("iommu-sh-r15ch13-renoir.txt");
    assert_eq!(kinds(&b), vec![SourceKind::IommuScript]);
    assert_eq!(b.iommu_groups.len(), 18);
    let g10 = b.iommu_groups.iter().find(|g| g.id == "10").expect("group 10");
    assert_eq!(g10.devices.len(), 15, "USB lines are not devices: {:?}", g10.devices);
    let sata = b.pci_devices.iter().find(|d| d.address == "0000:02:00.1").expect("02:00.1");
    assert_eq!((sata.vendor.as_deref(), sata.device.as_deref(), sata.class.as_deref()), (Some("0x1022"), Some("0x43eb"), Some("0x010600")));
    assert!(b.notes.iter().any(|n| n.ends_with("this IOMMU group listing does not show drivers, so the drivers in use are not known from it")), "{:?}", b.notes);

    let (code, out, err) = run(&["iommu", "--format", "json", &paste("iommu-sh-r15ch13-renoir.txt").display().to_string()], None);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let verdict = |id: &str| v["groups"].as_array().expect("groups").iter().find(|g| g["id"] == id).map(|g| g["verdict"]["passable"].clone());
    assert_eq!((verdict("9"), verdict("10")), (Some(serde_json::Value::Bool(true)), Some(serde_json::Value::Bool(false))));

    // The same rows with a sentence before and after them are still a listing.
    let listing = std::fs::read_to_string(paste("iommu-sh-r15ch13-renoir.txt")).expect("fixture");
    let dir = tempfile::tempdir().expect("tmp");
    let post = dir.path().join("post.txt");
    std::fs::write(&post, format!("My SATA controller shares a group with lots of devices:\n\n{listing}\nSo I cannot pass it to TrueNAS yet.\n")).expect("write");
    let b = import(&[post.display().to_string()]);
    assert_eq!((kinds(&b), b.iommu_groups.len()), (vec![SourceKind::IommuScript], 18), "{:?}", b.notes);
}

/// The VM that post wanted (its SATA controller 02:00.1 for TrueNAS): with the listing,
/// partial-group-passthrough names the members of group 10 it leaves behind.
#[test]
fn iommu_sh_listing_judges_a_vm_that_passes_part_of_a_group() {
    let dir = tempfile::tempdir().expect("tmp");
    let conf = dir.path().join("100.conf");
    // Constructed for this test: the post names the wish, not its config.
    std::fs::write(&conf, "bios: ovmf\nhostpci0: 0000:02:00.1\nmachine: q35\nmemory: 16384\nname: truenas\n").expect("write");
    let (code, out, err) = run(&["check", "--format", "json", &paste("iommu-sh-r15ch13-renoir.txt").display().to_string(), &format!("qm-config:{}", conf.display())], None);
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let f = v["findings"].as_array().expect("findings").iter().find(|f| f["name"] == "partial-group-passthrough").expect("partial-group-passthrough");
    let msg = f["message"].as_str().unwrap_or("");
    assert!(msg.contains("0000:02:00.1") && msg.contains("0000:02:00.0"), "{msg}");
}
