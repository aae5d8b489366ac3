//! Hostile inputs, as a forum paste or an attached bundle may be: each ends, within seconds,
//! either with exit 2 and one line naming the file and the problem, or with a normal report
//! that says what it made of the input — never a panic, never a hang.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::binary;

/// What a run of the binary ended with.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `vfio-doctor ARGS` in `dir`; killed (and the test failed) after `limit`. Output goes to
/// files, so a long report cannot block on a full pipe and read as a hang.
fn run_within(dir: &Path, args: &[&str], limit: Duration) -> Outcome {
    let out_dir = tempfile::tempdir().expect("tmp");
    let (out_path, err_path) = (out_dir.path().join("stdout"), out_dir.path().join("stderr"));
    let mut child = binary()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("start vfio-doctor");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > limit {
            child.kill().ok();
            panic!("vfio-doctor {args:?} still running after {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().expect("wait");
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Outcome { code: status.code().unwrap_or(-1), stdout: read(&out_path), stderr: read(&err_path) }
}

const LIMIT: Duration = Duration::from_secs(60);

/// Exit 2 with exactly one line on stderr that names `file` and contains `problem`.
fn assert_refused(o: &Outcome, file: &str, problem: &str) {
    assert_eq!(o.code, 2, "expected exit 2 for {file}, got {}: {}", o.code, o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "one line expected for {file}: {}", o.stderr);
    assert!(o.stderr.starts_with("vfio-doctor: "), "{}", o.stderr);
    assert!(o.stderr.contains(file), "the error must name {file}: {}", o.stderr);
    assert!(o.stderr.contains(problem), "expected `{problem}` for {file}: {}", o.stderr);
}

/// A JSON report (exit 0 or 1) whose notes say `note` about the input.
fn assert_reported(o: &Outcome, note: &str) -> serde_json::Value {
    assert!(o.code == 0 || o.code == 1, "expected a report, got exit {}: {}", o.code, o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("a JSON report");
    let notes = v["notes"].as_array().cloned().unwrap_or_default();
    assert!(notes.iter().any(|n| n.as_str().is_some_and(|n| n.contains(note))), "no note containing `{note}`: {notes:?}");
    v
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write input");
}

#[test]
fn empty_file_is_reported_as_empty() {
    let dir = tempfile::tempdir().expect("tmp");
    write(dir.path(), "empty.txt", b"");
    let o = run_within(dir.path(), &["check", "empty.txt", "--format", "json"], LIMIT);
    // Nothing else to look at: the report says so (its notes name the file), and exit 2.
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stderr.trim(), "vfio-doctor: nothing was checked: the input holds nothing vfio-doctor could read, so no rule had anything to look at");
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("a JSON report");
    assert!(v["notes"].as_array().is_some_and(|n| n.iter().any(|n| n.as_str().is_some_and(|n| n.contains("empty.txt: empty")))), "{v}");
    let o = run_within(dir.path(), &["check", "--bundle", "empty.txt"], LIMIT);
    assert_refused(&o, "empty.txt", "not a vfio-doctor bundle");
}

#[test]
fn binary_that_is_not_a_rom_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    // A deterministic stream of every byte value: not text, and no 0x55AA at the start.
    let bytes: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    write(dir.path(), "core.dump", &bytes);
    let o = run_within(dir.path(), &["check", "core.dump"], LIMIT);
    assert_refused(&o, "core.dump", "binary file");
}

#[test]
fn truncated_and_deeply_nested_bundles_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    write(dir.path(), "truncated.json", br#"{"format":"vfio-doctor-bundle","version":1,"sources":[{"kind":"#);
    let deep = format!(r#"{{"format":"vfio-doctor-bundle","version":1,"x":{}{}}}"#, "[".repeat(200_000), "]".repeat(200_000));
    write(dir.path(), "nested.json", deep.as_bytes());
    let o = run_within(dir.path(), &["check", "--bundle", "truncated.json"], LIMIT);
    assert_refused(&o, "truncated.json", "not a vfio-doctor bundle");
    let o = run_within(dir.path(), &["check", "--bundle", "nested.json"], LIMIT);
    assert_refused(&o, "nested.json", "recursion limit");
}

#[test]
fn bundle_from_the_future_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    write(dir.path(), "future.json", br#"{"format":"vfio-doctor-bundle","version":4000000000,"sources":[]}"#);
    let o = run_within(dir.path(), &["check", "--bundle", "future.json"], LIMIT);
    assert_refused(&o, "future.json", "newer than this vfio-doctor");
}

#[test]
fn a_50_mib_line_is_read_and_the_signature_after_it_still_found() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut f = std::fs::File::create(dir.path().join("dmesg.txt")).expect("create");
    f.write_all(b"[    0.000000] Linux version 6.8.0-31-generic (buildd@lcy02-amd64-080)\n[    1.000000] ").expect("write");
    let chunk = vec![b'A'; 1 << 20];
    for _ in 0..50 {
        f.write_all(&chunk).expect("write");
    }
    f.write_all(b"\n[   61.590114] vfio-pci 0000:08:00.0: BAR 1: can't reserve [mem 0xd0000000-0xdfffffff 64bit pref]\n").expect("write");
    drop(f);
    let o = run_within(dir.path(), &["check", "dmesg.txt", "--format", "json"], LIMIT);
    assert!(o.code == 0 || o.code == 1, "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("json report");
    // The report itself stays small: the giant line is not echoed back whole.
    assert!(o.stdout.len() < 2 * 1024 * 1024, "report of {} bytes", o.stdout.len());
    let names: Vec<&str> = v["findings"].as_array().expect("findings").iter().filter_map(|f| f["name"].as_str()).collect();
    assert!(names.contains(&"bar-reservation-failure"), "{names:?}");
}

#[test]
fn odd_length_utf16_is_decoded_not_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    // UTF-16 LE with a BOM, as `dxdiag /t` writes it, cut one byte short.
    let text = "------------------\nSystem Information\n------------------\n      Machine name: GAMING-PC\n";
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    bytes.push(b'x');
    write(dir.path(), "DxDiag.txt", &bytes);
    let o = run_within(dir.path(), &["check", "DxDiag.txt", "--format", "json"], LIMIT);
    assert!(o.code == 0 || o.code == 1, "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    serde_json::from_str::<serde_json::Value>(&o.stdout).expect("json report");
}

#[test]
fn xml_entity_bomb_is_not_expanded() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut dtd = String::from(r#"<!ENTITY l0 "lol">"#);
    for i in 1..10 {
        dtd.push_str(&format!(r#"<!ENTITY l{i} "{}">"#, format!("&l{};", i - 1).repeat(10)));
    }
    let bomb = format!("<?xml version=\"1.0\"?>\n<!DOCTYPE domain [{dtd}]>\n<domain type='kvm'><name>&l9;</name></domain>\n");
    write(dir.path(), "win10.xml", bomb.as_bytes());
    for input in ["win10.xml", "domain-xml:win10.xml"] {
        let o = run_within(dir.path(), &["check", input, "--format", "json"], Duration::from_secs(20));
        assert_reported(&o, "win10.xml: not valid XML");
        assert!(o.stdout.len() < 256 * 1024, "the entities were expanded: {} bytes", o.stdout.len());
    }
}

#[test]
fn dev_zero_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = run_within(dir.path(), &["check", "/dev/zero"], LIMIT);
    assert_refused(&o, "/dev/zero", "binary file");
    let o = run_within(dir.path(), &["check", "dmesg:/dev/zero"], LIMIT);
    assert_refused(&o, "/dev/zero", "");
    let o = run_within(dir.path(), &["check", "--bundle", "/dev/zero"], LIMIT);
    assert_refused(&o, "/dev/zero", "not a vfio-doctor bundle");
}

#[test]
fn directory_and_missing_file_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("logs")).expect("mkdir");
    let o = run_within(dir.path(), &["check", "logs"], LIMIT);
    assert_refused(&o, "logs", "is a directory");
    let o = run_within(dir.path(), &["check", "no-such-paste.txt"], LIMIT);
    assert_refused(&o, "no-such-paste.txt", "no such file");
    let o = run_within(dir.path(), &["collect", "no-such-paste.txt", "-o", "b.json"], LIMIT);
    assert_refused(&o, "no-such-paste.txt", "no such file");
    assert!(!dir.path().join("b.json").exists(), "a failed collect must not leave a bundle behind");
}

#[test]
fn root_with_symlink_loops_gives_a_report() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("root");
    let dev = root.join("sys/devices/pci0000:00/0000:00:01.1/0000:08:00.0");
    std::fs::create_dir_all(&dev).expect("mkdir");
    for (attr, value) in [("vendor", "0x10de"), ("device", "0x1c02"), ("class", "0x030000")] {
        std::fs::write(dev.join(attr), format!("{value}\n")).expect("attr");
    }
    let devices = root.join("sys/bus/pci/devices");
    std::fs::create_dir_all(&devices).expect("mkdir");
    std::os::unix::fs::symlink("../../../devices/pci0000:00/0000:00:01.1/0000:08:00.0", devices.join("0000:08:00.0")).expect("link");
    // A link to itself, a two-link cycle, and a driver link into the cycle.
    std::os::unix::fs::symlink("0000:09:00.0", devices.join("0000:09:00.0")).expect("link");
    std::os::unix::fs::symlink("0000:0b:00.0", devices.join("0000:0a:00.0")).expect("link");
    std::os::unix::fs::symlink("0000:0a:00.0", devices.join("0000:0b:00.0")).expect("link");
    std::os::unix::fs::symlink("../../../bus/pci/devices/0000:09:00.0", dev.join("driver")).expect("link");
    std::os::unix::fs::symlink("iommu_group", dev.join("iommu_group")).expect("link");
    std::fs::create_dir_all(root.join("proc")).expect("mkdir");
    std::fs::write(root.join("proc/cmdline"), "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro\n").expect("cmdline");
    let o = run_within(dir.path(), &["check", "--root", "root", "--format", "json"], Duration::from_secs(30));
    assert!(o.code == 0 || o.code == 1, "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("json report");
    let text = v.to_string();
    // The readable device is there; the loops are said, not followed.
    assert!(text.contains("0000:08:00.0"), "{text}");
    assert!(text.contains("loop") || text.contains("too many levels"), "the loops must be noted: {text}");
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    // `vfio-doctor … | head -1`: the reader goes away; the tool stops quietly.
    let root = support::fixtures().join("hosts/seed-b550-bsod");
    let root = root.to_str().expect("utf-8 path");
    let runs: Vec<Vec<&str>> = vec![
        vec!["completions", "bash"],
        vec!["rules"],
        vec!["explain", "VD301"],
        vec!["check", "--root", root],
        vec!["check", "--root", root, "--format", "html"],
        vec!["iommu", "--root", root],
    ];
    for args in runs {
        let mut child = binary().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}: {:?} {err}", out.status);
    }
}

/// Each new paste kind cut at every line and forced onto the others' parsers: read, never a
/// panic; a domain XML cut in a tag is analysed as far as it goes, with a note saying where.
#[test]
fn cut_pastes_of_the_new_kinds_are_read_not_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let pastes = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/inputs/pastes");
    let mut args: Vec<String> = vec!["check".into(), "--format".into(), "json".into()];
    for (i, name) in ["seed-rom-parser-complete.txt", "lsmod-kvm-only.txt", "ulimit-a-memlock-64.txt", "hook-trace-start-sh.txt", "lsof-nvidia0.txt"]
        .iter()
        .enumerate()
    {
        let text = std::fs::read_to_string(pastes.join(name)).expect("fixture");
        // Cut in the middle of a line, as a paste limit cuts.
        let cut = &text[..text.len() * 2 / 3];
        write(dir.path(), &format!("cut{i}.txt"), cut.as_bytes());
        args.push(format!("cut{i}.txt"));
        for kind in ["rom-parser", "lsmod", "ulimit", "fuser", "hook", "xml"] {
            write(dir.path(), &format!("{kind}{i}.txt"), cut.as_bytes());
            args.push(format!("{kind}:{kind}{i}.txt"));
        }
    }
    let xml = std::fs::read_to_string(pastes.join("domain-xml-cut-host-model.txt")).expect("fixture");
    write(dir.path(), "win10.xml", xml.as_bytes());
    args.push("win10.xml".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run_within(dir.path(), &args, LIMIT);
    let v = assert_reported(&o, "win10.xml: the XML stops at line 43, inside <domain> <devices>");
    assert!(v["notes"].to_string().contains("last complete element is <emulator> (line 42)"), "{}", v["notes"]);
}

/// One real paste per parser a paste reaches: each `KIND:` word with a fixture of that kind, the
/// IOMMU listing formats and lspci forms each once (fixtures/inputs/*/SOURCES.md).
const PASTE_PER_PARSER: &[(&str, &str)] = &[
    ("kernel-log", "pastes/dmesg-bar-reserve.txt"),
    ("journal", "pastes/journal-vfio-reset.txt"),
    ("qemu-log", "pastes/libvirt-qemu-plain.log"),
    ("xorg-log", "pastes/xorg-probe.log"),
    ("xml", "pastes/domain-xml-cut-host-model.txt"),
    ("cmdline", "pastes/proc-cmdline-threadripper.txt"),
    ("grub", "pastes/transcript-seed-host.txt"),
    ("modprobe", "pastes/transcript-seed-host.txt"),
    ("lspci", "pastes/lspci-nnk-quadro-t500.txt"),
    ("lspci", "pastes/lspci-plain-gtx770.txt"),
    ("lspci", "pastes/lspci-vnn-gtx560.txt"),
    ("iommu-groups", "pastes/seed-iommu-groups.txt"),
    ("iommu-groups", "pastes/iommu-tree-dmar.txt"),
    ("iommu-groups", "pastes/iommu-sh-r15ch13-renoir.txt"),
    ("iommu-groups", "pastes/transcript-osx-kvm.md"),
    ("rom-parser", "pastes/seed-rom-parser-truncated.txt"),
    ("lsmod", "pastes/lsmod-kvm-only.txt"),
    ("ulimit", "pastes/ulimit-a-memlock-64.txt"),
    ("prlimit", "pastes/proc-limits-pid1.txt"),
    ("lsof", "pastes/lsof-nvidia0.txt"),
    ("hook", "pastes/hook-trace-start-sh.txt"),
    ("qm-config", "pve/q35-win10-hostpci.conf"),
    ("pve-task-log", "pve/igd-slot2-task.log"),
    ("qm-showcmd", "pve/q35-win10-hostpci.showcmd.txt"),
    ("pve-mapping", "../hosts/pve-broken/etc/pve/mapping/pci.cfg"),
    ("dxdiag", "guest/dxdiag-125-basic-utf8.txt"),
    ("pnputil", "guest/pnputil-code43.txt"),
    ("powershell", "guest/powershell-get-pnpdevice-code43.txt"),
    ("text", "pastes/seed-article.txt"),
];

/// Turns a paste into a hostile variant of itself.
type Mangle = fn(&[u8]) -> Vec<u8>;

/// Hostile variants of each parser's real paste, each forced onto its parser (`KIND:PATH`) and
/// also left to the sniffer: one 128 KiB line in the middle, the paste repeated to 64 KiB, every line
/// cut at two thirds, invalid UTF-8 inside lines, CRs and tabs in place of newlines. Each run is a
/// report within the limit (exit 0/1, JSON, no panic), whatever the parser.
#[test]
fn every_paste_parser_survives_hostile_variants_of_its_paste() {
    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/inputs");
    let dir = tempfile::tempdir().expect("tmp");
    let variants: [(&str, Mangle); 5] = [
        ("huge-line", |t| {
            let mid = t.len() / 2;
            [&t[..mid], &vec![b'A'; 128 << 10][..], &t[mid..]].concat()
        }),
        ("repeated", |t| t.repeat((64usize << 10) / t.len().max(1) + 1)),
        ("cut-lines", |t| t.split(|&b| b == b'\n').flat_map(|l| [&l[..l.len() * 2 / 3], b"\n"].concat()).collect()),
        ("bad-utf8", |t| t.split(|&b| b == b'\n').flat_map(|l| [&l[..l.len() / 2], b"\xff\xfe\xc3", &l[l.len() / 2..], b"\n"].concat()).collect()),
        ("no-newlines", |t| t.iter().map(|&b| if b == b'\n' { b'\r' } else { b }).collect()),
    ];
    for (variant, make) in variants {
        let mut args: Vec<String> = vec!["check".into(), "--format".into(), "json".into()];
        for (i, (kind, file)) in PASTE_PER_PARSER.iter().enumerate() {
            let text = std::fs::read(inputs.join(file)).expect("fixture");
            let name = format!("{variant}-{i}.txt");
            write(dir.path(), &name, &make(&text));
            args.push(format!("{kind}:{name}"));
            args.push(name);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // 58 inputs in one debug-build run on a shared machine: a hang still shows, a slow CI not.
        let o = run_within(dir.path(), &args, LIMIT * 3);
        assert!(o.code == 0 || o.code == 1, "{variant}: exit {}: {}", o.code, o.stderr);
        assert!(!o.stderr.contains("panicked"), "{variant}: {}", o.stderr);
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{variant}: not a JSON report ({e})"));
        assert!(v["findings"].is_array(), "{variant}: {}", o.stdout);
    }
}

/// NUL bytes in a paste of any kind but a ROM: exit 2 with one line naming the file, whether the
/// kind is forced or sniffed.
#[test]
fn nul_bytes_in_any_paste_are_refused_in_one_line() {
    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/inputs");
    let dir = tempfile::tempdir().expect("tmp");
    for (i, (kind, file)) in PASTE_PER_PARSER.iter().enumerate() {
        let text = std::fs::read(inputs.join(file)).expect("fixture");
        let mid = text.len() / 2;
        let name = format!("nul-{i}.txt");
        write(dir.path(), &name, &[&text[..mid], b"\0\0\0\0", &text[mid..]].concat());
        for arg in [format!("{kind}:{name}"), name.clone()] {
            let o = run_within(dir.path(), &["check", "--format", "json", &arg], LIMIT);
            assert_refused(&o, &name, "binary file that is neither text nor an option ROM");
        }
    }
}
