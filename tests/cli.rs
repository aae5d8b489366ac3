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
