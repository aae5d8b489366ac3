//! Big logs (issue 3): a gigabyte QEMU log of one repeated `vfio_region_write … busy` line
//! becomes a bundle of a few MB that still carries every line a rule needs, with the original
//! line numbers and the repeats counted; `check` on the same file as a loose input streams it
//! instead of holding it in memory.

mod support;

use std::io::Write;
use std::path::Path;

use support::binary;

const GIB: u64 = 1 << 30;

/// libvirt's start-up header and QEMU command line, as the seed host's win10.log has them.
const HEADER: &str = "\
2023-05-26 12:01:03.112+0000: starting up libvirt version: 8.0.0, package: 1ubuntu7.5 (Ubuntu), qemu version: 6.2.0Debian 1:6.2+dfsg-2ubuntu6.8, kernel: 5.15.0-72-generic, hostname: yfy-desktop
LC_ALL=C \\
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin \\
/usr/bin/qemu-system-x86_64 \\
-name guest=win10,debug-threads=on \\
-machine pc-q35-6.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram \\
-accel kvm \\
-cpu host,migratable=on,topoext=on,hv-time=on,hv-relaxed=on,hv-vapic=on,hv-spinlocks=0x1fff,kvm=off \\
-m 16384 \\
-smp 8,sockets=1,dies=1,cores=4,threads=2 \\
-device vfio-pci,host=0000:08:00.0,id=hostdev0,bus=pci.5,multifunction=on,addr=0x0 \\
-device vfio-pci,host=0000:08:00.1,id=hostdev1,bus=pci.5,addr=0x0.0x1 \\
-msg timestamp=on
char device redirected to /dev/pts/1 (label charserial0)
";

/// signatures.md §3.1, the seed's line; only the timestamp changes from line to line.
fn busy(i: u64) -> String {
    format!(
        "2022-07-21T{:02}:{:02}:{:02}.{:06}Z qemu-system-x86_64: vfio_region_write(0000:08:00.0:region1+0x345990, 0x13801,8) failed: Device or resource busy\n",
        6 + i / 3_600_000 % 18,
        i / 60_000 % 60,
        i / 1000 % 60,
        i % 1000 * 997 % 1_000_000
    )
}

/// What was written, to check the tool against.
struct Written {
    lines: u64,
    busy: u64,
    first_busy: u64,
    /// The one write to BAR 3, in the middle.
    region3_line: u64,
}

/// Write the log without holding it: the header, busy lines (one of them to region 3) past
/// `size` bytes, and libvirt's shutdown line.
fn write_log(path: &Path, size: u64) -> Written {
    let file = std::fs::File::create(path).expect("create log");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    w.write_all(HEADER.as_bytes()).expect("write");
    let mut lines = HEADER.lines().count() as u64;
    let first_busy = lines + 1;
    let mut bytes = HEADER.len() as u64;
    let mut busy_count = 0u64;
    let mut region3_line = 0;
    // A block of distinct lines, written again and again.
    let block: String = (0..2000).map(busy).collect();
    let block_lines = 2000u64;
    while bytes < size {
        if region3_line == 0 && bytes >= size / 2 {
            let line = "2022-07-21T09:00:00.000001Z qemu-system-x86_64: vfio_region_write(0000:08:00.0:region3+0x1000, 0x0,4) failed: Device or resource busy\n";
            w.write_all(line.as_bytes()).expect("write");
            lines += 1;
            region3_line = lines;
            busy_count += 1;
            bytes += line.len() as u64;
        }
        w.write_all(block.as_bytes()).expect("write");
        lines += block_lines;
        busy_count += block_lines;
        bytes += block.len() as u64;
    }
    let end = "2023-05-26 14:22:47.905+0000: shutting down, reason=shutdown\n";
    w.write_all(end.as_bytes()).expect("write");
    w.flush().expect("flush");
    Written { lines: lines + 1, busy: busy_count, first_busy, region3_line }
}

/// What a child ended with: its exit status, what it printed, and its own peak resident set
/// (wait4 on that pid, so children of tests running beside this one do not count).
struct Ended {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    max_rss_kib: i64,
}

fn wait_measured(mut child: std::process::Child) -> Ended {
    use std::io::Read;
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    // Drain both pipes while the child runs, so it never blocks on a full pipe.
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = out_pipe.as_mut() {
            p.read_to_end(&mut buf).expect("read stdout");
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = err_pipe.as_mut() {
            p.read_to_end(&mut buf).expect("read stderr");
        }
        buf
    });
    let mut status: libc::c_int = 0;
    // SAFETY: wait4 only writes the status and the struct it is given; the pid is our child,
    // which std has not reaped (we never call wait on `child`).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    Ended {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
        max_rss_kib: usage.ru_maxrss,
    }
}

fn finding<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("no {name} finding in {report:#}"))
}

#[test]
fn a_gigabyte_qemu_log_becomes_a_small_bundle_and_the_finding_keeps_its_count_and_lines() {
    let dir = tempfile::tempdir().expect("tmp");
    let qemu = dir.path().join("var/log/libvirt/qemu");
    std::fs::create_dir_all(&qemu).expect("mkdir");
    let log = qemu.join("win10.log");
    let written = write_log(&log, GIB);
    assert!(std::fs::metadata(&log).expect("stat").len() >= GIB);
    let bundle_path = dir.path().join("bundle.json");

    // The collector (--root) and a loose input (`check qemu-log:FILE`) read it at the same time.
    let collect = binary()
        .args(["collect", "--root"])
        .arg(dir.path())
        .arg("-o")
        .arg(&bundle_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run collect");
    let check = binary()
        .args(["check", "--format", "json", "--fail-on", "never"])
        .arg(format!("qemu-log:{}", log.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run check");
    let check = wait_measured(check);
    let collected = wait_measured(collect);
    assert!(collected.success, "{}", String::from_utf8_lossy(&collected.stderr));
    assert!(check.success, "{}", String::from_utf8_lossy(&check.stderr));
    for (what, ended) in [("collect --root", &collected), ("check qemu-log:FILE", &check)] {
        let rss_mib = ended.max_rss_kib / 1024;
        assert!(rss_mib < 128, "{what} held {rss_mib} MiB for a 1 GiB log");
    }

    // A bundle small enough to attach to a post, which records what was cut.
    let size = std::fs::metadata(&bundle_path).expect("bundle").len();
    assert!(size < 4 * 1024 * 1024, "bundle is {size} bytes");
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle_path).expect("read")).expect("json");
    let source = bundle["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["kind"] == "qemu-log" && s["status"] == "ok"))
        .expect("qemu-log source");
    assert_eq!(source["path"], "var/log/libvirt/qemu/win10.log");
    let cut = &source["cut"];
    assert_eq!(cut["original_lines"], written.lines);
    assert!(cut["original_bytes"].as_u64().unwrap() >= GIB);
    let folded = cut["folded"].as_array().expect("folded lines");
    let region3 = folded.iter().find(|f| f["line"].as_str().unwrap().contains("region3")).expect("the region 3 line is kept");
    assert_eq!((region3["count"].as_u64(), region3["first_line"].as_u64()), (Some(1), Some(written.region3_line)));
    let head_lines = cut["head_lines"].as_u64().unwrap();
    let tail_first = cut["tail_first_line"].as_u64().unwrap();
    let in_text = head_lines + (written.lines - tail_first + 1);
    let folded_count: u64 = folded.iter().map(|f| f["count"].as_u64().unwrap()).sum();
    assert_eq!(in_text + folded_count, written.lines, "every line is in the text or folded");
    assert!(folded.len() <= 3000, "{} distinct lines kept", folded.len());

    // The finding, from the bundle and from the loose file alike: every busy line counted,
    // evidence at the first one's real line number.
    let from_bundle = binary().args(["check", "--format", "json", "--fail-on", "never", "--bundle"]).arg(&bundle_path).output().expect("check bundle");
    assert!(from_bundle.status.success(), "{}", String::from_utf8_lossy(&from_bundle.stderr));
    for (what, out) in [("bundle", &from_bundle.stdout), ("loose file", &check.stdout)] {
        let report: serde_json::Value = serde_json::from_slice(out).expect("json report");
        let f = finding(&report, "bar-reservation-failure");
        assert_eq!(f["code"], "VD301");
        assert!(f["subject"].as_str().unwrap().contains("0000:08:00.0"), "{what}: {f:#}");
        let evidence = f["evidence"].as_array().expect("evidence");
        assert_eq!(evidence.len(), 1, "{what}: {f:#}");
        assert_eq!(evidence[0]["location"], format!("line {}", written.first_busy), "{what}");
        assert_eq!(evidence[0]["count"], written.busy, "{what}");
        let notes = report["notes"].to_string();
        assert!(notes.contains("too long to keep whole"), "{what}: {notes}");
    }
}

/// A few MB pasted on stdin: the middle's signature lines are kept at their real line numbers,
/// redacted like the rest (a user name that appears only there included), the noise is cut.
#[test]
fn a_long_paste_keeps_its_middle_signature_lines_redacted_and_at_their_lines() {
    let noise = "2023-05-26T12:00:00.499574Z qemu-system-x86_64: vfio_listener_region_add received unaligned region\n";
    let lines_each_side = 3 * 1024 * 1024 / noise.len() / 2;
    let romfile = "2023-05-26T12:00:01.000000Z qemu-system-x86_64: -device vfio-pci,host=0000:0a:00.0,id=hostdev3,bus=pci.7,addr=0x0,romfile=/home/bob/vbios.rom: failed to find romfile \"/home/bob/vbios.rom\"\n";
    let busy = "2023-05-26T12:00:02.000000Z qemu-system-x86_64: vfio_region_write(0000:08:00.0:region1+0x345990, 0x13801,8) failed: Device or resource busy\n";
    let mut log = String::new();
    log.push_str(&noise.repeat(lines_each_side));
    log.push_str(romfile);
    log.push_str(busy);
    log.push_str(&noise.repeat(lines_each_side));
    let busy_line = lines_each_side as u64 + 2;

    let dir = tempfile::tempdir().expect("tmp");
    let bundle_path = dir.path().join("bundle.json");
    let mut child = binary()
        .args(["collect", "qemu-log:-", "-o"])
        .arg(&bundle_path)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run collect");
    child.stdin.take().expect("stdin").write_all(log.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let text = std::fs::read_to_string(&bundle_path).expect("bundle");
    assert!(!text.contains("bob"), "a user name survived redaction");
    let bundle: serde_json::Value = serde_json::from_str(&text).expect("json");
    let cut = &bundle["sources"][0]["cut"];
    let folded = cut["folded"].as_array().expect("folded");
    let lines: Vec<(&str, u64)> = folded.iter().map(|f| (f["line"].as_str().unwrap(), f["first_line"].as_u64().unwrap())).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].0.contains("romfile=/home/user-1/vbios.rom") && lines[0].1 == busy_line - 1, "{lines:?}");
    assert_eq!(lines[1].1, busy_line);
    assert!(cut["cut_lines"].as_u64().unwrap() > 10_000);

    let report = binary().args(["check", "--format", "json", "--fail-on", "never", "--bundle"]).arg(&bundle_path).output().expect("check");
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).expect("json report");
    let evidence = &finding(&report, "bar-reservation-failure")["evidence"][0];
    assert_eq!(evidence["location"], format!("line {busy_line}"));
    assert_eq!(evidence["source"], "stdin");
}

/// A kernel log flooded with one BAR message (signatures.md §1.1): the repeats fold into one
/// line whatever their timestamps, and the finding counts them all from the first one's line.
#[test]
fn a_flooded_kernel_log_folds_its_repeats_and_counts_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("dmesg.txt");
    let mut log = String::from("[    0.000000] Linux version 5.15.0-72-generic (buildd@lcy02-amd64-014) (gcc (Ubuntu 11.3.0-1ubuntu1~22.04) 11.3.0) #79-Ubuntu SMP\n");
    let flood = 60_000u64;
    for i in 0..flood {
        log.push_str(&format!(
            "[{:5}.{:06}] vfio-pci 0000:08:00.0: BAR 1: can't reserve [mem 0xd0000000-0xd7ffffff 64bit pref]\n",
            61 + i / 1000,
            i % 1000 * 1000
        ));
    }
    log.push_str("[ 7200.000000] usb 1-4: USB disconnect, device number 3\n");
    std::fs::write(&path, &log).expect("write");
    let out = binary().args(["check", "--format", "json", "--fail-on", "never"]).arg(format!("dmesg:{}", path.display())).output().expect("check");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    let f = finding(&report, "bar-reservation-failure");
    assert_eq!(f["evidence"][0]["location"], "line 2");
    assert_eq!(f["evidence"][0]["count"], flood);
    let notes = report["notes"].to_string();
    assert!(notes.contains("that match known signatures (1 distinct"), "{notes}");
}

/// `rules --patterns` exports the signature set long logs keep, for other tools (`rg -f`, as
/// bench/compare.sh does): one regex a line, joinable into one regex (no clashing group names).
#[test]
fn the_signature_set_is_exported_for_other_tools() {
    let out = binary().args(["rules", "--patterns"]).output().expect("rules --patterns");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 10, "{text}");
    let joined = regex::Regex::new(&lines.join("|")).expect("the lines join into one regex");
    assert!(joined.is_match("2022-07-21T06:50:56.222055Z qemu-system-x86_64: vfio_region_write(0000:08:00.0:region1+0x345990, 0x13801,8) failed: Device or resource busy"));
    assert!(joined.is_match("[   44.702115] vfio-pci 0000:05:00.0: BAR 0: can't reserve [mem 0xd0000000-0xdfffffff 64bit pref]"));
    assert!(!joined.is_match("2023-05-26T12:00:00.499574Z qemu-system-x86_64: vfio_listener_region_add received unaligned region"));
    let literals = binary().args(["rules", "--literals"]).output().expect("rules --literals");
    assert!(String::from_utf8_lossy(&literals.stdout).lines().any(|l| l.contains("can't reserve")));
}

/// Lines of logic rules (not catalog patterns) buried in the middle of two logs of 8 MiB and
/// more, past head and tail: each rule's `LOG_SIGNATURES` keeps its line, so the rule still
/// fires, from the loose files and from a bundle collected from them, with the evidence at the
/// line's real number. Lines from signatures.md (§1.5, §1.10, §1.11, §1.12, §2.1, §3.2, §3.7)
/// and the rules' fixtures.
#[test]
fn logic_rules_find_their_lines_in_the_middle_of_long_logs() {
    const MIB: usize = 1024 * 1024;
    // (rule, line buried in the middle)
    let kernel: &[(&str, &str)] = &[
        ("device-reset-failed", "[ 1958.742151] vfio-pci 0000:08:00.0: not ready 65535ms after FLR; giving up"),
        (
            "interrupt-remapping-missing",
            "[ 2012.552019] vfio_iommu_type1_attach_group: No interrupt remapping support.  Use the module param \"allow_unsafe_interrupts\" to enable VFIO IOMMU support on this platform",
        ),
        ("memlock-limit", "[ 2013.100211] vfio_pin_pages_remote: RLIMIT_MEMLOCK (65536) exceeded"),
        ("acs-override-in-use", "[    0.000000] Warning: PCIe ACS overrides enabled; This may allow non-IOMMU protected peer-to-peer DMA"),
        // The seed's reload loop, twice: the second block folds into the first (counted).
        ("", "[ 2100.000001] nvidia-nvlink: Nvlink Core is being initialized, major device number 508"),
        ("", "[ 2100.000002] NVRM: GPU 0000:01:00.0 is already bound to vfio-pci."),
        ("nvidia-host-driver-conflict", "[ 2100.000003] NVRM: The NVIDIA probe routine was not called for 1 device(s)."),
        ("", "[ 2100.000004] NVRM: No NVIDIA devices probed."),
        ("", "[ 2100.000005] nvidia-nvlink: Unregistered Nvlink Core, major device number 508"),
        ("", "[ 2100.100001] nvidia-nvlink: Nvlink Core is being initialized, major device number 508"),
        ("", "[ 2100.100002] NVRM: GPU 0000:01:00.0 is already bound to vfio-pci."),
        ("", "[ 2100.100003] NVRM: The NVIDIA probe routine was not called for 1 device(s)."),
        ("", "[ 2100.100004] NVRM: No NVIDIA devices probed."),
        ("", "[ 2100.100005] nvidia-nvlink: Unregistered Nvlink Core, major device number 508"),
    ];
    let qemu: &[(&str, &str)] = &[
        (
            "memlock-limit",
            "2023-05-26T12:30:00.000001Z qemu-system-x86_64: -device vfio-pci,host=0000:0b:00.0,id=hostdev0,bus=pci.4,addr=0x0: VFIO_MAP_DMA failed: Cannot allocate memory",
        ),
        (
            "bar-mmap-failed",
            "2023-05-26T12:30:01.000001Z qemu-system-x86_64: -device vfio-pci,host=0000:0a:00.0,id=hostdev3,bus=pci.5,addr=0x0: Failed to mmap 0000:0a:00.0 BAR 0. Performance may be slow",
        ),
    ];
    /// Noise no signature keeps, past `size` bytes, with the lines in its middle (rule "": a
    /// line only for context); the line numbers of those lines.
    fn write(path: &Path, size: usize, noise: impl Fn(usize) -> String, buried: &[(&str, &str)]) -> Vec<u64> {
        let mut text = String::with_capacity(size + 4096);
        let mut i = 0;
        let mut at = Vec::new();
        while text.len() < size {
            if at.is_empty() && text.len() >= size / 2 {
                for (_, line) in buried {
                    text.push_str(line);
                    text.push('\n');
                    i += 1;
                    at.push(i as u64);
                }
            }
            text.push_str(&noise(i));
            i += 1;
        }
        std::fs::write(path, text).expect("write log");
        at
    }
    let dir = tempfile::tempdir().expect("tmp");
    let dmesg = dir.path().join("dmesg.txt");
    let qemu_log = dir.path().join("win10.log");
    let kernel_at = write(
        &dmesg,
        8 * MIB + 1,
        |i| format!("[{:5}.{:06}] usb 1-4: new high-speed USB device number {} using xhci_hcd\n", 61 + i / 1000, i % 1000 * 997, 2 + i % 120),
        kernel,
    );
    let qemu_at = write(
        &qemu_log,
        8 * MIB + 1,
        |i| format!("2023-05-26T12:{:02}:{:02}.{:06}Z qemu-system-x86_64: terminating on signal 15 from pid {} (/usr/sbin/libvirtd)\n", i / 60_000 % 60, i / 1000 % 60, i % 1000 * 997, 1000 + i % 30_000),
        qemu,
    );
    let inputs = [format!("dmesg:{}", dmesg.display()), format!("qemu-log:{}", qemu_log.display())];

    let loose = binary().args(["check", "--format", "json", "--fail-on", "never"]).args(&inputs).output().expect("check");
    assert!(loose.status.success(), "{}", String::from_utf8_lossy(&loose.stderr));
    let bundle_path = dir.path().join("bundle.json");
    let collected = binary().arg("collect").args(&inputs).arg("-o").arg(&bundle_path).output().expect("collect");
    assert!(collected.status.success(), "{}", String::from_utf8_lossy(&collected.stderr));
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle_path).expect("read")).expect("json");
    for source in bundle["sources"].as_array().expect("sources") {
        assert!(source["cut"]["cut_lines"].as_u64().unwrap_or(0) > 50_000, "the middle was cut: {source:#}");
    }
    let from_bundle = binary().args(["check", "--format", "json", "--fail-on", "never", "--bundle"]).arg(&bundle_path).output().expect("check bundle");
    assert!(from_bundle.status.success(), "{}", String::from_utf8_lossy(&from_bundle.stderr));

    for (what, out) in [("loose files", &loose.stdout), ("bundle", &from_bundle.stdout)] {
        let report: serde_json::Value = serde_json::from_slice(out).expect("json report");
        for ((rule, line), at) in kernel.iter().zip(&kernel_at).chain(qemu.iter().zip(&qemu_at)).filter(|((r, _), _)| !r.is_empty()) {
            let f = finding(&report, rule);
            let evidence = f["evidence"].as_array().expect("evidence");
            let message = line.split_once("] ").map_or(*line, |(_, m)| m);
            assert!(
                evidence.iter().any(|e| e["location"] == format!("line {at}") && e["excerpt"].as_str().is_some_and(|x| x.contains(message))),
                "{what}: {rule} has no evidence at line {at} ({line}): {f:#}"
            );
        }
        // Both loads of the loop are counted, the second folded into the first.
        let loops = finding(&report, "nvidia-host-driver-conflict");
        assert!(loops["message"].as_str().is_some_and(|m| m.contains("loaded 2 times")), "{what}: {loops:#}");
    }
}

/// A rule of the user's own (`--rules DIR`) is part of the signature set too: its line in the
/// middle of a long log is kept and the rule fires.
#[test]
fn a_user_rule_finds_its_line_in_the_middle_of_a_long_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    let rule = r#"+++
code = "VD990"
name = "custom-vendor-hook-failed"
severity = "warning"
title = "The site's start hook failed"
needs = ["qemu-log"]
since = "0.1.0"

[[match]]
source = "qemu-log"
regex = '''site-hook: prepare of (?P<vm>\w+) failed'''
message = "The site's prepare hook failed for {vm}"
remediation = "Run the hook by hand and read its output."
+++

## What it means

The local prepare hook failed.

## Why it breaks passthrough

The GPU is not handed over.

## How to fix

Run the hook by hand.

## References

- [libvirt hooks](https://libvirt.org/hooks.html)
"#;
    std::fs::write(rules.join("custom-vendor-hook-failed.md"), rule).expect("write rule");
    let noise = "2023-05-26T12:00:00.499574Z qemu-system-x86_64: vfio_listener_region_add received unaligned region\n";
    let each_side = 3 * 1024 * 1024 / noise.len();
    let mut log = noise.repeat(each_side);
    log.push_str("2023-05-26T12:00:01.000000Z qemu-system-x86_64: site-hook: prepare of win10 failed\n");
    log.push_str(&noise.repeat(each_side));
    let path = dir.path().join("win10.log");
    std::fs::write(&path, log).expect("write log");
    let out = binary()
        .args(["check", "--format", "json", "--fail-on", "never", "--rules"])
        .arg(&rules)
        .arg(format!("qemu-log:{}", path.display()))
        .output()
        .expect("run check");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    let f = finding(&report, "custom-vendor-hook-failed");
    assert_eq!(f["evidence"][0]["location"], format!("line {}", each_side + 1), "{f:#}");
}
