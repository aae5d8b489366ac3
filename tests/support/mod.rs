//! Shared test helpers: build a case's bundle exactly as the CLI would, and normalise
//! unstable values for snapshots.

#![allow(dead_code)]

pub mod fakeroot;
pub mod rom_builder;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use vfio_doctor::bundle::Bundle;
use vfio_doctor::commands::{obtain_bundle, Origin};
use vfio_doctor::report::Report;
use vfio_doctor::rules::Catalog;

/// fixtures/rules/<rule>/<case>/case.toml
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// A host spec to build a root from (the case's own [host]/[files]/[[device]] overlay it).
    #[serde(flatten)]
    pub spec: fakeroot::HostSpec,
    /// Loose inputs, relative to the case directory (`KIND:` prefixes allowed).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// A bundle file (relative to the case directory) instead of a root.
    #[serde(default)]
    pub bundle: Option<String>,
    #[serde(default)]
    pub vm: Option<String>,
    /// Analyse with --no-redact.
    #[serde(default)]
    pub no_redact: bool,
}

/// A built case: its bundle, and the temporary root (kept alive while in use).
pub struct Built {
    pub bundle: Bundle,
    pub root: Option<tempfile::TempDir>,
}

/// Build the bundle for a case directory: a root from its spec (if it has a base or devices),
/// plus its inputs, redacted — the same path `vfio-doctor check` takes.
pub fn build_case(dir: &Path) -> Built {
    let text = std::fs::read_to_string(dir.join("case.toml")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let case: Case = toml::from_str(&text).unwrap_or_else(|e| panic!("{}/case.toml: {e}", dir.display()));
    let inputs: Vec<String> = case
        .inputs
        .iter()
        .map(|i| match i.split_once(':') {
            Some((kind, path)) if !kind.contains('/') => format!("{kind}:{}", lexical(&dir.join(path)).display()),
            _ => lexical(&dir.join(i)).display().to_string(),
        })
        .collect();
    let has_root = case.spec.base.is_some() || !case.spec.devices.is_empty() || !case.spec.files.is_empty();
    let root = has_root.then(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        fakeroot::build(&fakeroot::resolve(case.spec), tmp.path());
        tmp
    });
    let origin = Origin {
        bundle: case.bundle.as_ref().map(|b| dir.join(b)),
        root: root.as_ref().map(|t| t.path().to_path_buf()),
        inputs,
        vm: case.vm.clone(),
        redact: !case.no_redact,
        ..Origin::default()
    };
    let bundle = obtain_bundle(&origin).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    Built { bundle, root }
}

/// `a/b/../c` → `a/c`, so inputs shared between cases (`../../../inputs/…`) get stable names.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

pub fn diagnose(bundle: &Bundle) -> Report {
    let catalog = Catalog::builtin().expect("builtin catalog parses");
    vfio_doctor::commands::check::diagnose(bundle, &catalog)
}

/// Replace a temporary root's path with `{ROOT}` in any JSON text.
pub fn normalise(json: String, root: Option<&Path>) -> String {
    match root {
        Some(r) => json.replace(&r.display().to_string(), "{ROOT}"),
        None => json,
    }
    .replace(&fixtures().display().to_string(), "{FIXTURES}")
}

pub fn fixtures() -> PathBuf {
    fakeroot::fixtures_dir()
}

pub fn binary() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_vfio-doctor"))
}

/// Whether the tests run under CI: `CI` set to anything but empty, `0` or `false` (GitHub,
/// GitLab and .ci/run set `CI=true`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The one rule for tests that need an outside tool: when `missing` is empty it runs. Under CI
/// a missing tool fails the test (.ci/run installs them all). Elsewhere the test is skipped, and
/// says so where `cargo test` shows it: the line is written to the process's stderr directly,
/// past the test harness's output capture, so it appears between the test results.
pub fn tools_present(test: &str, missing: &[&str], install: &str) -> bool {
    if missing.is_empty() {
        return true;
    }
    let msg = format!("{} not installed ({install})", missing.join(", "));
    assert!(!under_ci(), "{test}: {msg}; under CI every tool a test needs must be installed (.ci/run does)");
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {msg}");
    false
}

/// Whether `program` is an executable file in a directory of PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}
