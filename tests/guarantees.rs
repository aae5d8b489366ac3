//! The design's invariants, proven with strace (Debian's, installed by `.ci/run`):
//! - read-only: live collection and diagnosis open nothing for writing but the `-o` file,
//!   change nothing on the file system, load no module, and run only journalctl, virsh and
//!   dmesg;
//! - hermetic: analysing someone else's bundle or pasted XML opens nothing on this machine
//!   but the inputs (and the dynamic loader's libraries), even when the XML names local paths
//!   such as `<rom file='/etc/shadow'/>`.
//!
//! Without strace the tests say so and pass, except under CI (`CI` set), where they fail.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::fixtures;

const STRACE: &str = "/usr/bin/strace";

/// Syscalls that open a path, change the file system, run a program or load a module.
const TRACED: &str = "trace=open,openat,openat2,creat,truncate,mkdir,mkdirat,rmdir,unlink,unlinkat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,chmod,fchmodat,chown,lchown,fchownat,mknod,mknodat,mount,umount2,init_module,finit_module,delete_module,execve,execveat";

/// Programs collection may run (the design's closed list).
const ALLOWED_PROGRAMS: &[&str] = &["journalctl", "virsh", "dmesg"];

fn strace_available() -> bool {
    let missing: Vec<&str> = [STRACE].into_iter().filter(|s| !Path::new(s).exists()).collect();
    support::tools_present("guarantees (strace)", &missing, "apt-get install strace; .ci/run does")
}

/// One traced syscall of the vfio-doctor process (or one of its threads).
#[derive(Debug)]
struct Call {
    name: String,
    /// The first quoted argument: the path (or the program for execve).
    path: String,
    /// The raw argument text, for the open flags.
    args: String,
    result: String,
}

/// Run the binary under strace; return its exit code and its own calls (those of programs it
/// ran are left out once they have exec'd: their behaviour is not ours to prove).
fn traced(args: &[&str], dir: &Path) -> (i32, Vec<Call>) {
    let log = dir.join("strace.log");
    let bin = env!("CARGO_BIN_EXE_vfio-doctor");
    let out = Command::new(STRACE)
        .args(["-f", "-qq", "-s", "4096", "-e", TRACED, "-o"])
        .arg(&log)
        .arg(bin)
        .args(args)
        .current_dir(dir)
        // cargo's test environment points the loader at build directories; a user's has none.
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run strace");
    let text = std::fs::read_to_string(&log).expect("strace log");
    let mut foreign: HashSet<String> = HashSet::new();
    let mut calls = Vec::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else { continue };
        let rest = rest.trim_start();
        if foreign.contains(pid) || rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let Some(open) = rest.find('(') else { continue };
        let name = rest[..open].to_string();
        let args_text = rest[open + 1..].to_string();
        let path = args_text.split('"').nth(1).unwrap_or_default().to_string();
        let result = rest.rsplit_once(") = ").map(|(_, r)| r.to_string()).unwrap_or_default();
        if (name == "execve" || name == "execveat") && result.starts_with('0') && path != bin {
            foreign.insert(pid.to_string());
        }
        calls.push(Call { name, path, args: args_text, result });
    }
    (out.status.code().unwrap_or(-1), calls)
}

fn opens_for_writing(c: &Call) -> bool {
    matches!(c.name.as_str(), "open" | "openat" | "openat2" | "creat")
        && (c.name == "creat" || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"].iter().any(|f| c.args.contains(f)))
}

/// Everything a run did that a read-only tool must not do, besides writing `output`.
fn violations(calls: &[Call], output: &Path) -> Vec<String> {
    let bin = env!("CARGO_BIN_EXE_vfio-doctor");
    let mut bad = Vec::new();
    for c in calls {
        match c.name.as_str() {
            "open" | "openat" | "openat2" | "creat" => {
                if opens_for_writing(c) && Path::new(&c.path) != output && c.path != "/dev/null" {
                    bad.push(format!("opened for writing: {} {}", c.path, c.args));
                }
            }
            "execve" | "execveat" => {
                let program = c.path.rsplit('/').next().unwrap_or_default();
                if c.path != bin && !ALLOWED_PROGRAMS.contains(&program) {
                    bad.push(format!("ran a program outside the allowlist: {}", c.path));
                }
            }
            other => bad.push(format!("{other}({}) = {}", c.path, c.result)),
        }
    }
    bad
}

#[test]
fn live_collection_and_check_write_only_the_output_file() {
    if !strace_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("bundle.json");
    let (code, calls) = traced(&["collect", "-o", out.to_str().expect("utf-8 path")], dir.path());
    assert_eq!(code, 0, "live collect failed");
    assert!(out.exists());
    assert!(calls.iter().any(|c| c.path.starts_with("/sys/") || c.path.starts_with("/proc/")), "the trace saw no sysfs/procfs read: {calls:?}");
    let bad = violations(&calls, &out);
    assert!(bad.is_empty(), "live collect is not read-only:\n{}", bad.join("\n"));
    assert!(calls.iter().any(|c| Path::new(&c.path) == out && opens_for_writing(c)), "the -o file was not seen being written");

    let report = dir.path().join("report.html");
    let (code, calls) = traced(&["check", "--format", "html", "-o", report.to_str().expect("utf-8 path")], dir.path());
    assert!(code == 0 || code == 1, "live check failed");
    let bad = violations(&calls, &report);
    assert!(bad.is_empty(), "live check is not read-only:\n{}", bad.join("\n"));

    // A --root tree: the same, and nothing opened outside it but the loader's files.
    let root = fixtures().join("hosts/seed-b550-bsod");
    let (code, calls) = traced(&["check", "--root", root.to_str().expect("utf-8 path")], dir.path());
    assert_eq!(code, 1);
    let bad = violations(&calls, Path::new("/nonexistent-output"));
    assert!(bad.is_empty(), "check --root is not read-only:\n{}", bad.join("\n"));
}

/// Paths a process opens before `main` runs or to size its thread pool: not the analysis's.
/// A Proxmox VE node: its VM configurations, mappings and task logs are read (proof the trace saw
/// the Proxmox collectors work) and nothing is run — no `qm` verb, not even `qm showcmd`, which
/// runs kvm and rewrites /var/run/pve-reserved-pciids under a lock.
#[test]
fn a_proxmox_node_is_read_without_running_qm() {
    if !strace_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let root = fixtures().join("hosts/pve-broken");
    let (code, calls) = traced(&["check", "--root", root.to_str().expect("utf-8 path")], dir.path());
    assert_eq!(code, 1);
    let bad = violations(&calls, Path::new("/nonexistent-output"));
    assert!(bad.is_empty(), "check --root on a Proxmox node is not read-only:\n{}", bad.join("\n"));
    let runs: Vec<&str> = calls.iter().filter(|c| c.name.starts_with("execve")).map(|c| c.path.as_str()).collect();
    assert!(runs.iter().all(|p| !["qm", "pvesh", "pvesm", "proxmox-boot-tool"].contains(&p.rsplit('/').next().unwrap_or(""))), "{runs:?}");
    for read in ["etc/pve/qemu-server/100.conf", "etc/pve/mapping/pci.cfg", "var/log/pve/tasks/C/UPID:pve:00002B11"] {
        assert!(calls.iter().any(|c| c.name.starts_with("open") && c.path.contains(read) && !opens_for_writing(c)), "the trace never saw {read} read");
    }
}

fn loader_or_runtime(path: &str) -> bool {
    path == "/etc/ld.so.cache"
        || path == "/etc/ld.so.preload"
        || ["/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/proc/self/", "/sys/devices/system/cpu/", "/sys/fs/cgroup/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// Every path the run opened or touched that is not an input, the output or the loader's.
fn outside(calls: &[Call], allowed: &[PathBuf]) -> Vec<String> {
    let bin = env!("CARGO_BIN_EXE_vfio-doctor");
    calls
        .iter()
        .filter(|c| !(c.name.starts_with("execve") && c.path == bin))
        .filter(|c| !loader_or_runtime(&c.path))
        .filter(|c| !allowed.iter().any(|a| Path::new(&c.path) == a))
        .map(|c| format!("{}({}) = {}", c.name, c.path, c.result))
        .collect()
}

/// A domain XML whose GPU hostdev names a local file as its ROM.
fn xml_naming_shadow() -> String {
    let xml = std::fs::read_to_string(fixtures().join("rules/partial-group-passthrough/fires-paste/win11.xml")).expect("fixture xml");
    assert!(xml.contains("</hostdev>"));
    xml.replacen("</hostdev>", "  <rom file='/etc/shadow'/>\n    </hostdev>", 1)
}

#[test]
fn offline_analysis_opens_nothing_but_its_inputs() {
    if !strace_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    // A bundle from another machine whose domain XML names /etc/shadow as the GPU's ROM.
    let base = dir.path().join("base.json");
    let root = fixtures().join("hosts/seed-b550");
    let status = Command::new(env!("CARGO_BIN_EXE_vfio-doctor"))
        .args(["collect", "--root", root.to_str().expect("utf-8"), "-o", base.to_str().expect("utf-8")])
        .output()
        .expect("collect");
    assert!(status.status.success());
    let mut bundle: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&base).expect("read")).expect("json");
    let sources = bundle["sources"].as_array_mut().expect("sources");
    let mut planted = 0;
    for s in sources.iter_mut().filter(|s| s["kind"] == "domain-xml") {
        if let Some(text) = s["text"].as_str() {
            if text.contains("</hostdev>") {
                s["text"] = text.replacen("</hostdev>", "<rom file='/etc/shadow'/></hostdev>", 1).into();
                planted += 1;
            }
        }
    }
    assert!(planted > 0, "the fixture has no hostdev to plant a ROM path in");
    let theirs = dir.path().join("theirs.json");
    std::fs::write(&theirs, serde_json::to_string(&bundle).expect("json")).expect("write");

    let report = dir.path().join("report.json");
    let (code, calls) = traced(&["check", "--bundle", "theirs.json", "--format", "json", "-o", "report.json"], dir.path());
    assert!(code == 0 || code == 1, "check --bundle failed");
    let stray = outside(&calls, &[PathBuf::from("theirs.json"), PathBuf::from("report.json")]);
    assert!(stray.is_empty(), "offline analysis of a bundle touched the analysing machine:\n{}", stray.join("\n"));
    assert!(!calls.iter().any(|c| c.path.contains("shadow")), "the ROM path from the bundle was opened");
    let text = std::fs::read_to_string(&report).expect("report");
    assert!(text.contains("/etc/shadow"), "the report should judge the ROM path from the bundle: {text}");

    // The same XML pasted as a loose file, through `check` and `collect`.
    std::fs::write(dir.path().join("win11.xml"), xml_naming_shadow()).expect("write");
    let (code, calls) = traced(&["check", "win11.xml", "--format", "json"], dir.path());
    assert!(code == 0 || code == 1, "check win11.xml failed");
    let stray = outside(&calls, &[PathBuf::from("win11.xml")]);
    assert!(stray.is_empty(), "analysing a pasted XML touched the analysing machine:\n{}", stray.join("\n"));
    let (code, calls) = traced(&["collect", "win11.xml", "-o", "pasted.json"], dir.path());
    assert_eq!(code, 0, "collect win11.xml failed");
    let stray = outside(&calls, &[PathBuf::from("win11.xml"), PathBuf::from("pasted.json")]);
    assert!(stray.is_empty(), "bundling a pasted XML touched the analysing machine:\n{}", stray.join("\n"));
}
