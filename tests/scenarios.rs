//! Whole hosts (fixtures/hosts/*.toml): every finding is snapshotted, the healthy seed host is
//! clean, and the committed trees match what their specs generate.

mod support;

use support::fakeroot;
use vfio_doctor::rules::Severity;

fn host_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(support::fixtures().join("hosts"))
        .expect("fixtures/hosts")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn report_for(name: &str) -> vfio_doctor::report::Report {
    let origin = vfio_doctor::commands::Origin {
        root: Some(support::fixtures().join("hosts").join(name)),
        redact: true,
        ..Default::default()
    };
    let bundle = vfio_doctor::commands::obtain_bundle(&origin).expect("collect fixture root");
    support::diagnose(&bundle)
}

#[test]
fn every_host_snapshot() {
    for name in host_names() {
        let report = report_for(name.as_str());
        let summary: Vec<String> = report.findings.iter().map(|f| format!("{} {} {} — {}", f.severity, f.code, f.name, f.subject)).collect();
        let not_evaluated: Vec<String> = report.not_evaluated.iter().map(|n| format!("{}: {}", n.rule, n.reason)).collect();
        let text = support::normalise(format!("findings:\n{}\nnot evaluated:\n{}\n", summary.join("\n"), not_evaluated.join("\n")), None);
        insta::assert_snapshot!(format!("host-{name}"), text);
    }
}

#[test]
fn healthy_seed_host_has_no_error_or_warning() {
    let report = report_for("seed-b550");
    let noisy: Vec<_> = report.findings.iter().filter(|f| f.severity >= Severity::Warning).collect();
    assert!(noisy.is_empty(), "healthy host should be clean, got {noisy:#?}");
}

#[test]
fn committed_trees_match_their_specs() {
    for name in host_names() {
        let spec = fakeroot::load_spec(&support::fixtures().join("hosts").join(format!("{name}.toml")));
        let tmp = tempfile::tempdir().expect("tempdir");
        fakeroot::build(&spec, tmp.path());
        let committed = support::fixtures().join("hosts").join(&name);
        let listing = |root: &std::path::Path| {
            let mut out = Vec::new();
            let mut stack = vec![root.to_path_buf()];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).filter_map(|e| e.ok()) {
                    let p = e.path();
                    let rel = p.strip_prefix(root).expect("prefix").display().to_string();
                    let meta = std::fs::symlink_metadata(&p).expect("meta");
                    if meta.file_type().is_symlink() {
                        out.push(format!("{rel} -> {}", std::fs::read_link(&p).expect("link").display()));
                    } else if meta.is_dir() {
                        out.push(format!("{rel}/"));
                        stack.push(p);
                    } else {
                        out.push(format!("{rel}: {}", std::fs::read_to_string(&p).unwrap_or_default()));
                    }
                }
            }
            out.sort();
            out
        };
        assert_eq!(listing(&committed), listing(tmp.path()), "fixtures/hosts/{name} is stale: run `cargo run --example fakeroot`");
    }
}
