//! The real-world corpus (fixtures/real/<NNN-slug>/case.toml): pastes taken exactly as posted in
//! public threads, each with the cause the thread established and the rule(s) that name it.
//! Every case is checked the way `vfio-doctor check FILE…` checks pasted files; a case is a hit
//! when one of its expected rules fires. The test prints per-rule recall and every miss, and
//! fails when overall recall drops below [`MIN_RECALL`] (see fixtures/real/MISSES.md for why
//! the misses miss).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vfio_doctor::commands::{obtain_bundle, Origin};
use vfio_doctor::rules::Catalog;

/// The least share of cases whose established cause must be named: issue 10's 0.90 (measured:
/// 80 of 85, 94.1 %).
const MIN_RECALL: f64 = 0.90;

/// Issue 10 asks for at least 80 cases; the corpus holds 85, a floor that only goes up.
const MIN_CASES: usize = 85;

/// fixtures/real/<case>/case.toml
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RealCase {
    /// The public thread the artifacts come from.
    source: String,
    title: String,
    /// The cause the thread established (by the poster's follow-up or a maintainer).
    established: String,
    /// Who established it: `poster` (their follow-up), `maintainer`, `helper` (another user's
    /// answer the thread accepts), or `message` (no answer in the thread; the quoted message alone
    /// names the cause, per the source that prints it). `message` cases are the weakest.
    established_by: String,
    /// The rule(s) that name that cause; a hit when any fires. A name the catalog lacks is a
    /// rule still to be written (a miss until it is).
    expect: Vec<String>,
    /// The VMM or distribution the poster used (qemu, libvirt, proxmox, unraid, kubevirt, …).
    #[serde(default)]
    vmm: Option<String>,
    /// The artifacts as posted, relative to the case directory (`KIND:` prefixes allowed).
    inputs: Vec<String>,
    /// `--vm NAME`, when the poster named the VM.
    #[serde(default)]
    vm: Option<String>,
}

struct Outcome {
    case: String,
    expect: Vec<String>,
    fired: Vec<String>,
    hit: bool,
    /// A line of a paste matches a catalog `[[match]]` signature, yet nothing fired.
    known_message_unreported: Option<String>,
}

fn real_dir() -> PathBuf {
    support::fixtures().join("real")
}

fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(real_dir())
        .expect("fixtures/real exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn load(dir: &Path) -> RealCase {
    let text = std::fs::read_to_string(dir.join("case.toml")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let case: RealCase = toml::from_str(&text).unwrap_or_else(|e| panic!("{}/case.toml: {e}", dir.display()));
    assert!(case.source.starts_with("https://"), "{}: source must be the thread's URL", dir.display());
    assert!(!case.title.trim().is_empty() && !case.established.trim().is_empty(), "{}: title and established", dir.display());
    assert!(!case.expect.is_empty(), "{}: expect names at least one rule", dir.display());
    assert!(!case.inputs.is_empty(), "{}: at least one input", dir.display());
    assert!(
        ["poster", "maintainer", "helper", "message"].contains(&case.established_by.as_str()),
        "{}: established_by is poster, maintainer, helper or message",
        dir.display()
    );
    if let Some(vmm) = &case.vmm {
        assert!(!vmm.trim().is_empty(), "{}: empty vmm", dir.display());
    }
    case
}

/// The input's path on disk (without its `KIND:` prefix).
fn input_path(dir: &Path, input: &str) -> PathBuf {
    match input.split_once(':') {
        Some((kind, path)) if !kind.contains('/') => dir.join(path),
        _ => dir.join(input),
    }
}

fn run_case(dir: &Path, catalog: &Catalog) -> Outcome {
    let case = load(dir);
    let name = dir.file_name().expect("case name").to_string_lossy().into_owned();
    let inputs: Vec<String> = case
        .inputs
        .iter()
        .map(|i| {
            let path = input_path(dir, i);
            assert!(path.is_file(), "{name}: input {} is missing", path.display());
            match i.split_once(':') {
                Some((kind, _)) if !kind.contains('/') => format!("{kind}:{}", path.display()),
                _ => path.display().to_string(),
            }
        })
        .collect();
    let origin = Origin { inputs, vm: case.vm.clone(), redact: true, ..Origin::default() };
    let bundle = obtain_bundle(&origin).unwrap_or_else(|e| panic!("{name}: {e}"));
    let report = vfio_doctor::commands::check::diagnose(&bundle, catalog);
    let mut fired: Vec<String> = report.findings.iter().map(|f| f.name.clone()).collect();
    fired.dedup();
    let hit = case.expect.iter().any(|e| fired.contains(e));
    let known_message_unreported = if fired.is_empty() { known_message(dir, &case, catalog) } else { None };
    Outcome { case: name, expect: case.expect, fired, hit, known_message_unreported }
}

/// The first pasted line that a catalog `[[match]]` signature recognises, as `rule: line`.
fn known_message(dir: &Path, case: &RealCase, catalog: &Catalog) -> Option<String> {
    for input in &case.inputs {
        let bytes = std::fs::read(input_path(dir, input)).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            for rule in catalog.rules().iter().filter(|r| !r.retired) {
                if rule.patterns.iter().any(|p| p.regex.is_match(line)) {
                    return Some(format!("{}: {}", rule.name, line.trim()));
                }
            }
        }
    }
    None
}

#[test]
fn real_corpus_recall() {
    let catalog = Catalog::builtin().expect("builtin catalog parses");
    let known: Vec<&str> = catalog.rules().iter().map(|r| r.name.as_str()).collect();
    let outcomes: Vec<Outcome> = cases().iter().map(|d| run_case(d, &catalog)).collect();

    // Per rule that names the established cause (a case's first `expect`): (hits, cases).
    let mut per_rule: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for o in &outcomes {
        let entry = per_rule.entry(o.expect[0].as_str()).or_default();
        entry.1 += 1;
        entry.0 += usize::from(o.hit);
    }
    let hits = outcomes.iter().filter(|o| o.hit).count();
    let recall = hits as f64 / outcomes.len() as f64;

    println!("\nreal corpus: {hits}/{} cases name the established cause: recall {:.1} %\n", outcomes.len(), recall * 100.0);
    println!("{:<34} {:>5} {:>5} {:>7}", "expected rule", "hits", "cases", "recall");
    for (rule, (h, n)) in &per_rule {
        let note = if known.contains(rule) { "" } else { "  (not in the catalog)" };
        println!("{rule:<34} {h:>5} {n:>5} {:>6.0} %{note}", *h as f64 * 100.0 / *n as f64);
    }
    println!("\nmisses:");
    for o in outcomes.iter().filter(|o| !o.hit) {
        let got = if o.fired.is_empty() { "No problems found".to_string() } else { o.fired.join(", ") };
        println!("  {:<44} expected {:<40} got {got}", o.case, o.expect.join("|"));
    }
    let silent: Vec<&Outcome> = outcomes.iter().filter(|o| o.known_message_unreported.is_some()).collect();
    println!("\n\"No problems found\" although a paste holds a known failure message: {}", silent.len());
    for o in &silent {
        println!("  {:<44} {}", o.case, o.known_message_unreported.as_deref().unwrap_or_default());
    }
    assert!(outcomes.len() >= MIN_CASES, "{} real cases; at least {MIN_CASES} expected", outcomes.len());
    assert!(
        recall >= MIN_RECALL,
        "real-corpus recall {:.1} % is below {:.0} % (table and misses above)",
        recall * 100.0,
        MIN_RECALL * 100.0
    );
}
