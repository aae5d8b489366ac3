//! What a report concludes, as a user reads it: "nothing was checked" said first (exit 2), an
//! unknown `--vm` named, the short "To check more" list instead of every not-evaluated rule,
//! not-evaluated reasons that read right, and a known failure message in a paste that never
//! ends in "No problems found".

mod support;

use support::{binary, fixtures};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = binary().args(args).env_remove("NO_COLOR").output().expect("run vfio-doctor");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn paste(name: &str) -> String {
    fixtures().join("inputs/pastes").join(name).display().to_string()
}

fn host(name: &str) -> String {
    fixtures().join("hosts").join(name).display().to_string()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("json report")
}

#[test]
fn nothing_checked_is_said_first_and_exits_2() {
    let empty_root = tempfile::tempdir().expect("tmp");
    let empty_file = empty_root.path().join("empty.txt");
    std::fs::write(&empty_file, "").expect("write");
    let root = empty_root.path().display().to_string();
    let file = empty_file.display().to_string();
    for args in [vec!["check", "/dev/null"], vec!["check", &file], vec!["check", "--root", &root]] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {out}");
        // The verdict comes first, right under the heading line, and no "No problems found".
        let first = out.lines().skip(1).find(|l| !l.trim().is_empty()).unwrap_or_default();
        assert!(first.starts_with("Nothing was checked: "), "{args:?}: {out}");
        assert!(!out.contains("No problems found"), "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("vfio-doctor: nothing was checked: "), "{args:?}: {err}");
        // Every format says it; JSON as a field.
        let (code, out, _) = run(&[args.as_slice(), &["--format", "json"]].concat());
        assert_eq!(code, 2);
        assert!(json(&out)["nothing_checked"].as_str().is_some_and(|s| !s.is_empty()), "{out}");
        let (_, md, _) = run(&[args.as_slice(), &["--format", "markdown"]].concat());
        assert!(md.contains("**Nothing was checked: ") && !md.contains("No problems found"), "{md}");
        let (_, html, _) = run(&[args.as_slice(), &["--format", "html"]].concat());
        assert!(html.contains("<b>Nothing was checked: ") && !html.contains("No problems found"), "{args:?}");
    }
    // A host where rules ran and found nothing is a clean result, exit 0.
    let (code, out, _) = run(&["check", "--root", &host("seed-b550")]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("Nothing was checked"));
}

#[test]
fn unknown_vm_is_an_error_naming_the_vms_there_are() {
    let (code, out, err) = run(&["check", "--root", &host("seed-b550"), "--vm", "win11"]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(err.trim(), "vfio-doctor: --vm win11: no such VM; the VMs here: win10");
    let (code, _, _) = run(&["check", "--root", &host("seed-b550"), "--vm", "win10"]);
    assert_eq!(code, 0);
    // Proxmox VE: VMIDs.
    let (code, _, _) = run(&["check", "--root", &host("pve-broken"), "--vm", "100", "--fail-on", "never"]);
    assert_eq!(code, 0);
    let (code, _, err) = run(&["check", "--root", &host("pve-broken"), "--vm", "999"]);
    assert_eq!((code, err.trim()), (2, "vfio-doctor: --vm 999: no such VM; the VMs here: 100, 101, 102, 103"));
    for sub in ["collect", "iommu"] {
        let (code, _, err) = run(&[sub, "--root", &host("seed-b550"), "--vm", "win11"]);
        assert_eq!((code, err.trim()), (2, "vfio-doctor: --vm win11: no such VM; the VMs here: win10"), "{sub}");
    }
    let empty = tempfile::tempdir().expect("tmp");
    let (code, _, err) = run(&["check", "--root", &empty.path().display().to_string(), "--vm", "win10"]);
    assert_eq!(code, 2);
    assert_eq!(err.trim(), "vfio-doctor: --vm win10: no such VM; no VM is defined here");
    // Pastes: the VMs their XML and QEMU logs name.
    let (code, _, err) = run(&["check", &paste("seed-virsh-start.txt"), "--vm", "win11"]);
    assert_eq!(code, 2);
    assert_eq!(err.trim(), "vfio-doctor: --vm win11: no such VM; the VMs here: win10");
}

/// A one-line paste gets a short list of commands to paste next instead of ~30 lines of rules
/// it could not run; the full list stays in JSON and behind `--all-not-evaluated`.
#[test]
fn one_line_paste_gets_the_short_list_of_what_to_paste_next() {
    let input = paste("dmesg-bar-reserve.txt");
    let (code, out, _) = run(&["check", &input]);
    assert_eq!(code, 1, "{out}");
    let section: Vec<&str> = out.lines().skip_while(|l| *l != "To check more, paste the output of:").collect();
    assert!(!section.is_empty(), "{out}");
    assert!(!out.contains("Not evaluated\n"), "the wall of rules is gone: {out}");
    let listed: Vec<&str> = section.iter().skip(1).take_while(|l| l.starts_with("  ") && !l.starts_with("  …")).copied().collect();
    let commands: Vec<&str> = listed.iter().filter(|l| !l.starts_with("      ")).map(|l| l.trim()).collect();
    // At most six shown; the rest is counted, and in JSON.
    assert!(commands.len() <= 6, "{commands:?}");
    // The device the paste is about fills in `lspci -s`; no VM is known, so VM stays a word.
    assert!(commands.contains(&"lspci -nnk -s 0000:05:00.0"), "{commands:?}");
    assert!(commands.contains(&"virsh dumpxml VM"), "{commands:?}");
    assert!(commands.iter().any(|c| c.contains("/sys/kernel/iommu_groups/")), "{commands:?}");
    assert!(!commands.contains(&"sudo dmesg"), "the kernel log was pasted: {commands:?}");
    let mut unique = commands.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), commands.len(), "each command once: {commands:?}");
    // Ordered by how many rules each lets run.
    let counts: Vec<usize> = listed
        .iter()
        .filter(|l| l.starts_with("      "))
        .filter_map(|l| l.rsplit(" · ").next()?.strip_suffix(" rule(s)")?.parse().ok())
        .collect();
    assert_eq!(counts.len(), commands.len(), "{section:?}");
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    assert!(section.iter().any(|l| l.contains("not evaluated; `--all-not-evaluated` lists each")), "{out}");
    // Short: the whole report of a one-line paste stays well under the old wall.
    assert!(out.lines().count() < 75, "{} lines:\n{out}", out.lines().count());

    // JSON: both the full list and the asks, the rules of each named.
    let (_, j, _) = run(&["check", &input, "--format", "json"]);
    let v = json(&j);
    let ne = v["not_evaluated"].as_array().expect("not_evaluated");
    assert!(ne.len() > 20, "{ne:?}");
    let asks = v["to_check_more"].as_array().expect("to_check_more");
    let more: usize = section.iter().find_map(|l| l.trim().strip_prefix("…and ")?.split(' ').next()?.parse().ok()).unwrap_or(0);
    assert_eq!(asks.len(), commands.len() + more);
    assert_eq!(asks[0]["command"], commands[0]);
    assert!(asks.iter().all(|a| !a["rules"].as_array().expect("rules").is_empty()));

    // The flag brings back every rule with its reason.
    let (_, all, _) = run(&["check", &input, "--all-not-evaluated"]);
    assert!(all.contains("Not evaluated\n") && all.contains("nvidia-vm-detection (VD402): no libvirt domain XML in the input"), "{all}");
    assert!(!all.contains("To check more"), "{all}");

    // Markdown and HTML carry the same short list.
    let (_, md, _) = run(&["check", &input, "--format", "markdown"]);
    assert!(md.contains("#### To check more, paste the output of:"), "{md}");
    assert!(md.contains("- `lspci -nnk -s 0000:05:00.0` — "), "{md}");
    assert!(!md.contains("#### Not evaluated"), "{md}");
    let (_, html, _) = run(&["check", &input, "--format", "html"]);
    assert!(html.contains("To check more, paste the output of:") && html.contains("<code>lspci -nnk -s 0000:05:00.0</code>"));
    assert!(!html.contains("<h2>Not evaluated</h2>"));
}

/// With a VM named in the paste, the command names it.
#[test]
fn the_vm_a_paste_names_is_filled_in() {
    let (_, out, _) = run(&["check", &paste("seed-virsh-start.txt"), "--format", "json"]);
    let v = json(&out);
    let commands: Vec<&str> = v["to_check_more"].as_array().expect("asks").iter().filter_map(|a| a["command"].as_str()).collect();
    assert!(commands.contains(&"virsh dumpxml win10"), "{commands:?}");
}

/// "needs X or Y; none …" when every kind of a need is missing, never "no X, or no Y"; a report
/// on a host never speaks of "unrecognised text in the input"; the iommu hint of a `--root`
/// report carries `--root DIR`.
#[test]
fn not_evaluated_reasons_read_right() {
    let (_, out, _) = run(&["check", &paste("dmesg-bar-reserve.txt"), "--format", "json"]);
    let v = json(&out);
    let reasons: Vec<(String, String)> = v["not_evaluated"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| (n["rule"].as_str().unwrap_or_default().to_string(), n["reason"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert!(reasons.iter().all(|(_, r)| !r.contains(", or no ")), "{reasons:?}");
    let reason = |rule: &str| reasons.iter().find(|(n, _)| n == rule).map(|(_, r)| r.clone()).unwrap_or_default();
    assert_eq!(reason("group-member-not-bound"), "needs IOMMU groups or QEMU log; none in the input");
    // The kernel log stands in for sysfs (the VGA arbiter's boot GPU): only the VM is missing.
    assert_eq!(reason("boot-gpu-passed-through"), "needs libvirt domain XML or QEMU log; none in the input");

    let empty = tempfile::tempdir().expect("tmp");
    let (_, out, _) = run(&["check", "--root", &empty.path().display().to_string(), "--format", "json", "--all-not-evaluated"]);
    assert!(!out.contains("unrecognised text"), "{out}");
    assert!(out.contains("needs kernel log, kernel log of the previous boot, QEMU log or /proc/iomem; none present (kernel log: none of "), "{out}");

    let (_, out, _) = run(&["check", "--root", &host("seed-b550")]);
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&format!("`vfio-doctor iommu --root {}` lists them.", host("seed-b550"))), "{out}");
}

/// Real one-line pastes whose message is a known sign of a fault: never "No problems found",
/// and exit 1, even when the rule cannot confirm it from one line.
#[test]
fn a_known_failure_message_never_reads_no_problems_found() {
    for (file, code, rule) in [
        ("one-line-nvrm-already-bound.txt", "VD205", "nvidia-host-driver-conflict"),
        ("one-line-set-iommu-eperm.txt", "VD104", "interrupt-remapping-missing"),
        ("one-line-group-not-viable.txt", "VD206", "group-member-not-bound"),
        ("one-line-bar-reserve-cut.txt", "VD301", "bar-reservation-failure"),
    ] {
        let (exit, out, err) = run(&["check", &paste(file)]);
        assert_eq!(exit, 1, "{file}: {err}\n{out}");
        assert!(!out.contains("No problems found"), "{file}: {out}");
        assert!(!out.contains("Nothing was checked"), "{file}: {out}");
        assert!(out.contains(&format!("error[{code}] {rule}")), "{file}: {out}");
        assert!(out.contains("Not confirmed: the input holds a message known as a sign of this fault"), "{file}: {out}");
        let (_, j, _) = run(&["check", &paste(file), "--format", "json"]);
        let v = json(&j);
        let f = &v["findings"][0];
        assert_eq!(f["code"], code, "{file}");
        assert_eq!(f["evidence"][0]["location"], "line 1", "{file}");
    }
    // What settles the open question is asked for first: the IOMMU groups for "not viable".
    let (_, out, _) = run(&["check", &paste("one-line-group-not-viable.txt"), "--format", "json"]);
    let first = json(&out)["to_check_more"][0].clone();
    assert!(first["command"].as_str().is_some_and(|c| c.contains("/sys/kernel/iommu_groups/")), "{first}");
    assert!(first["rules"].as_array().is_some_and(|r| r.iter().any(|c| c == "VD206")), "{first}");
    // The cut BAR line says what could not be told.
    let (_, out, _) = run(&["check", &paste("one-line-bar-reserve-cut.txt"), "--format", "json"]);
    let msg = json(&out)["findings"][0]["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("the rule could not run (needs kernel log"), "{msg}");
}

/// A live check never speaks of "the input": what it could not read is named as read (or not
/// collected at all: a guest report, a ROM dump, given only as a file).
#[test]
fn live_check_reasons_do_not_speak_of_an_input() {
    let (code, out, err) = run(&["check", "--format", "json"]);
    assert!(code == 0 || code == 1, "{err}");
    let v = json(&out);
    for n in v["not_evaluated"].as_array().expect("list") {
        let reason = n["reason"].as_str().unwrap_or_default();
        assert!(!reason.contains("in the input") && !reason.contains("unrecognised text"), "{reason}");
    }
}
