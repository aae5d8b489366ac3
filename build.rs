//! Embeds rules/*.md and registers src/rules/checks/*.rs (see src/rules/checks/mod.rs), so a new
//! rule is its document plus, for logic, one Rust file — nothing else to edit.

use std::fmt::Write as _;
use std::path::Path;

fn sorted_files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == ext));
    files.sort();
    files
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let manifest = Path::new(&manifest);
    println!("cargo:rerun-if-changed=rules");
    println!("cargo:rerun-if-changed=src/rules/checks");

    let mut rules = String::from("/// Every rule document, embedded: (file name, contents).\npub const EMBEDDED: &[(&str, &str)] = &[\n");
    for path in sorted_files(&manifest.join("rules"), "md") {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == "README.md" || name == "SOURCES.md" {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(rules, "    ({name:?}, include_str!({:?})),", path.display().to_string()).ok();
    }
    rules.push_str("];\n");
    std::fs::write(Path::new(&out).join("embedded_rules.rs"), rules).expect("write embedded_rules.rs");

    let mut checks = String::new();
    let mut table = String::from("pub(crate) const CHECKS: &[(&str, super::CheckFn)] = &[\n");
    // A check that reads log lines declares them as `LOG_SIGNATURES`, so long logs keep them.
    let mut signatures = String::from("pub(crate) const SIGNATURES: &[(&str, &[&str])] = &[\n");
    // Messages that by themselves are a sign of the rule's fault (`FAILURE_SIGNATURES`, optional):
    // a report never says "no problems" over one of them, even when the check cannot confirm it.
    let mut failures = String::from("pub(crate) const FAILURES: &[(&str, &[&str])] = &[\n");
    for path in sorted_files(&manifest.join("src/rules/checks"), "rs") {
        let stem = path.file_stem().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if stem == "mod" {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(checks, "#[path = {:?}]\nmod {stem};", path.display().to_string()).ok();
        writeln!(table, "    ({:?}, {stem}::check),", stem.replace('_', "-")).ok();
        let source = std::fs::read_to_string(&path).unwrap_or_default();
        if source.contains("pub(crate) const LOG_SIGNATURES") {
            writeln!(signatures, "    ({:?}, {stem}::LOG_SIGNATURES),", stem.replace('_', "-")).ok();
        }
        if source.contains("pub(crate) const FAILURE_SIGNATURES") {
            writeln!(failures, "    ({:?}, {stem}::FAILURE_SIGNATURES),", stem.replace('_', "-")).ok();
        }
    }
    table.push_str("];\n");
    signatures.push_str("];\n");
    failures.push_str("];\n");
    checks.push_str(&table);
    checks.push_str(&signatures);
    checks.push_str(&failures);
    std::fs::write(Path::new(&out).join("checks.rs"), checks).expect("write checks.rs");
}
