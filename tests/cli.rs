//! The command line as a user meets it: exit codes, one-line errors, `rules` and `explain`,
//! and the promise that `collect` + `check --bundle` equals `check --root`.

mod support;

use support::{binary, fixtures};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = binary().args(args).output().expect("run vfio-doctor");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn host(name: &str) -> String {
    fixtures().join("hosts").join(name).display().to_string()
}

#[test]
fn healthy_host_exits_0_and_broken_exits_1_naming_the_rule() {
    let (code, out, _) = run(&["check", "--root", &host("seed-b550")]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&["--root", &host("seed-b550-bsod")]);
    assert_eq!(code, 1);
    assert!(out.contains("bar-reservation-failure"), "{out}");
    assert!(out.contains("0000:08:00.0"), "{out}");
}

#[test]
fn fail_on_never_and_info() {
    let (code, _, _) = run(&["check", "--root", &host("seed-b550-bsod"), "--fail-on", "never"]);
    assert_eq!(code, 0);
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let dir = tempfile::tempdir().expect("tmp");
    let not_bundle = dir.path().join("notes.json");
    std::fs::write(&not_bundle, "{\"hello\": 1}").expect("write");
    let future = dir.path().join("future.json");
    std::fs::write(&future, "{\"format\": \"vfio-doctor-bundle\", \"version\": 999}").expect("write");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, [0u8, 159, 146, 150, 0xff]).expect("write");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--root".into(), "/nonexistent/root".into()], "/nonexistent/root"),
        (vec!["--bundle".into(), not_bundle.display().to_string()], "not a vfio-doctor bundle"),
        (vec!["--bundle".into(), future.display().to_string()], "newer than this vfio-doctor"),
        (vec!["--bundle".into(), garbage.display().to_string()], "not a vfio-doctor bundle"),
        (vec!["--bundle".into(), "/nonexistent.json".into()], "/nonexistent.json"),
        (vec!["--bundle".into(), dir.path().display().to_string()], "is a directory"),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = std::iter::once("check").chain(args.iter().map(String::as_str)).collect();
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line expected, got {err}");
        assert!(err.starts_with("vfio-doctor: "), "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn collect_then_check_bundle_equals_check_root() {
    for name in ["seed-b550", "seed-b550-bsod", "firmware-off"] {
        let dir = tempfile::tempdir().expect("tmp");
        let bundle = dir.path().join("bundle.json");
        let (code, _, err) = run(&["collect", "--root", &host(name), "-o", &bundle.display().to_string()]);
        assert_eq!(code, 0, "{err}");
        let (_, from_root, _) = run(&["check", "--root", &host(name), "--format", "json"]);
        let (_, from_bundle, _) = run(&["check", "--bundle", &bundle.display().to_string(), "--format", "json"]);
        let findings = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("json")["findings"].clone();
        assert_eq!(findings(&from_root), findings(&from_bundle), "{name}");
        let nev = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("json")["not_evaluated"].clone();
        assert_eq!(nev(&from_root), nev(&from_bundle), "{name}");
    }
}

#[test]
fn live_check_runs_here_and_names_what_it_could_not_read() {
    // This machine (and CI's) has no IOMMU and no GPU; the run must still produce a report.
    let (code, out, err) = run(&["check", "--format", "json"]);
    assert!(code == 0 || code == 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json report");
    assert!(v["summary"]["rules_run"].as_u64().expect("rules_run") > 0);
    assert_eq!(v["redacted"], true);
}

#[test]
fn rules_and_explain() {
    let (code, out, _) = run(&["rules"]);
    assert_eq!(code, 0);
    assert!(out.contains("bar-reservation-failure"));
    let (code, out, _) = run(&["explain", "VD301"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("bar-reservation-failure (VD301), error"), "{out}");
    // Rendered for the terminal: headings without their Markdown marks; `--markdown` keeps them.
    assert!(out.contains("\nHow to fix\n") && !out.contains("## How to fix"), "{out}");
    let (_, md, _) = run(&["explain", "--markdown", "VD301"]);
    assert!(md.contains("\n## How to fix\n"), "{md}");
    let (code, _, err) = run(&["explain", "no-such-rule"]);
    assert_eq!(code, 2);
    assert!(err.contains("no rule is called"));
}

/// `--help` lists every kind `KIND:PATH` accepts, taken from the kind enum: each one it lists
/// is accepted, and every kind the bundle knows (but the structured sysfs groups) is listed.
#[test]
fn help_lists_every_kind_and_each_listed_kind_is_accepted() {
    let (code, out, _) = run(&["check", "--help"]);
    assert_eq!(code, 0);
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let list = flat.split("forces the kind, one of: ").nth(1).expect("kind list in --help").split(" Options:").next().expect("list");
    let words: Vec<String> = list.split([',', '(', ')']).map(|w| w.trim().to_string()).filter(|w| !w.is_empty() && !w.contains(' ')).collect();
    for kind in vfio_doctor::bundle::SourceKind::ALL.iter().filter(|k| **k != vfio_doctor::bundle::SourceKind::IommuGroups) {
        assert!(words.iter().any(|w| w == kind.name()), "--help does not list {}: {list}", kind.name());
    }
    assert!(words.len() >= 24, "{words:?}");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("paste.txt");
    std::fs::write(&file, "hello\n").expect("write");
    for w in &words {
        let (code, _, err) = run(&["check", "--fail-on", "never", &format!("{w}:{}", file.display())]);
        assert!(!err.contains("unknown kind"), "{w}: {err}");
        assert!(code == 0 || code == 2 && !err.contains("no such file"), "{w}: {code} {err}");
    }
    // The root command's help has the same list.
    let (_, root_help, _) = run(&["--help"]);
    // (Flattened: where clap wraps the list depends on the widest option's help.)
    let root_flat = root_help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(root_flat.contains("iommu-script (iommu-groups)"), "{root_help}");
}

#[test]
fn unknown_kind_is_named_with_the_known_ones_but_a_file_with_a_colon_is_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let (code, _, err) = run(&["check", "bogus:file.txt"]);
    assert_eq!(code, 2);
    assert_eq!(err.trim(), format!("vfio-doctor: bogus:file.txt: unknown kind 'bogus', known kinds: {}", vfio_doctor::import::sniff::kind_list()));
    assert!(err.contains("kernel-log (dmesg, journal)"), "{err}");
    // A file literally named `a:b` is a path, not an unknown kind.
    std::fs::write(dir.path().join("a:b"), "[    1.000000] vfio-pci 0000:08:00.0: BAR 1: can't reserve [mem 0xd0000000-0xdfffffff 64bit pref]\n").expect("write");
    let out = binary().current_dir(dir.path()).args(["check", "--format", "json", "a:b"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bar-reservation-failure"));
}

#[test]
fn mistyped_subcommand_is_suggested() {
    for (word, want) in [("chekc", "check"), ("colect", "collect"), ("iommmu", "iommu"), ("expain", "explain")] {
        let (code, _, err) = run(&[word]);
        assert_eq!(code, 2, "{word}");
        assert_eq!(err.trim(), format!("vfio-doctor: no such file '{word}'; did you mean `vfio-doctor {want}`?"));
    }
    let (code, _, err) = run(&["bogus"]);
    assert_eq!(code, 2);
    assert_eq!(err.trim(), "vfio-doctor: no such file 'bogus', and no subcommand is called that (subcommands: check, collect, rom, iommu, rules, explain, completions)");
    // A file of that name is read as a paste, not taken for a typo.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("chekc"), "BOOT_IMAGE=/vmlinuz quiet amd_iommu=on iommu=pt\n").expect("write");
    let out = binary().current_dir(dir.path()).args(["chekc", "--format", "json"]).output().expect("run");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("did you mean"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn rules_help_shows_patterns_and_literals() {
    let (code, out, _) = run(&["rules", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--patterns") && out.contains("--literals"), "{out}");
}

/// On a merged-/usr system `lib` is a link to `usr/lib`: each modprobe file is collected once,
/// under the first path that names it, and a link out of the root is never followed.
#[test]
fn merged_usr_collects_each_file_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("usr/lib/modprobe.d")).expect("mkdir");
    std::fs::create_dir_all(root.join("etc/modprobe.d")).expect("mkdir");
    std::fs::write(root.join("usr/lib/modprobe.d/systemd.conf"), "options bonding max_bonds=0\n").expect("write");
    std::fs::write(root.join("etc/modprobe.d/vfio.conf"), "options vfio-pci ids=10de:1c02,10de:10f1\n").expect("write");
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).expect("symlink");
    // A link out of the root: read inside the root (where it does not exist), never on this host.
    let outside = dir.path().join("outside.conf");
    std::fs::write(&outside, "options outside secret=1\n").expect("write");
    std::os::unix::fs::symlink(&outside, root.join("etc/modprobe.d/out.conf")).expect("symlink");
    let (code, out, err) = run(&["collect", "--root", &root.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let b: serde_json::Value = serde_json::from_str(&out).expect("bundle");
    let modprobe: Vec<&serde_json::Value> = b["sources"].as_array().expect("sources").iter().filter(|s| s["kind"] == "modprobe" && s["status"] == "ok").collect();
    let paths: Vec<&str> = modprobe.iter().map(|s| s["path"].as_str().expect("path")).collect();
    assert_eq!(paths, ["etc/modprobe.d/vfio.conf", "usr/lib/modprobe.d/systemd.conf"], "{paths:?}");
    assert!(!out.contains("secret=1"), "a link out of the root was followed");
}
