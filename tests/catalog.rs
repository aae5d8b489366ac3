//! Catalog invariants: every rule document parses, its file name is its name, codes are
//! unique, every logic file has a document, `explain` works for every name and code, and
//! every rule has a fires and a quiet fixture.

mod support;

use vfio_doctor::rules::{logic_rule_names, Catalog};

#[test]
fn documents_codes_files_and_fixtures_agree() {
    let catalog = Catalog::builtin().expect("catalog parses");
    let mut codes = std::collections::BTreeSet::new();
    for rule in catalog.rules() {
        assert_eq!(rule.file, format!("{}.md", rule.name), "file name must be the rule name");
        assert!(codes.insert(rule.code.clone()), "code {} used twice", rule.code);
        assert!(!rule.references.is_empty(), "{} has no references", rule.name);
        for r in &rule.references {
            assert!(r.starts_with("https://"), "{}: reference {r} is not https", rule.name);
        }
        assert!(catalog.find(&rule.code).is_some() && catalog.find(&rule.name).is_some());
        let dir = support::fixtures().join("rules").join(&rule.name);
        let cases: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        assert!(cases.iter().any(|c| c.starts_with("fires")), "{} has no fixtures/rules/{}/fires*", rule.name, rule.name);
        assert!(cases.iter().any(|c| c.starts_with("quiet")), "{} has no fixtures/rules/{}/quiet*", rule.name, rule.name);
        if rule.patterns.is_empty() {
            assert!(logic_rule_names().contains(&rule.name.as_str()), "{} has neither [[match]] nor src/rules/checks/{}.rs", rule.name, rule.name.replace('-', "_"));
        }
    }
    for name in logic_rule_names() {
        assert!(catalog.find(name).is_some(), "src/rules/checks/{}.rs has no rules/{name}.md", name.replace('-', "_"));
    }
}

#[test]
fn catalog_table_snapshot() {
    let catalog = Catalog::builtin().expect("catalog parses");
    let table: Vec<String> = catalog
        .rules()
        .iter()
        .map(|r| format!("{} {} {} {}", r.code, r.name, r.severity, if r.retired { "retired" } else { "stable" }))
        .collect();
    insta::assert_snapshot!(table.join("\n"));
}

#[test]
fn engine_files_name_no_rule() {
    let catalog = Catalog::builtin().expect("catalog parses");
    for file in ["src/rules/mod.rs", "src/rules/catalog.rs", "src/rules/pattern.rs", "src/rules/relate.rs"] {
        let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).expect("read");
        for rule in catalog.rules() {
            assert!(!text.contains(&format!("\"{}\"", rule.name)), "{file} mentions rule {}", rule.name);
        }
    }
}

/// Every `[[match]]` signature is exercised: some line of its rule's `fires*` cases (the case's
/// own files, and the fixture host a case is based on) matches it, so no signature of the
/// catalog sits there untested.
#[test]
fn every_match_pattern_has_a_fires_line() {
    fn lines_under(dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.filter_map(|e| e.ok()) {
            let path = e.path();
            // Not following links: fixture hosts' sysfs trees link back into themselves.
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                lines_under(&path, out);
            } else if kind.is_file() && path.file_name().is_some_and(|n| n != "case.toml") {
                if let Ok(bytes) = std::fs::read(&path) {
                    out.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_string));
                }
            }
        }
    }
    let catalog = Catalog::builtin().expect("catalog parses");
    let fixtures = support::fixtures();
    for rule in catalog.rules().iter().filter(|r| !r.patterns.is_empty()) {
        let mut lines = Vec::new();
        let dir = fixtures.join("rules").join(&rule.name);
        for case in std::fs::read_dir(&dir).expect("fixtures dir").filter_map(|e| e.ok()) {
            if !case.file_name().to_string_lossy().starts_with("fires") {
                continue;
            }
            lines_under(&case.path(), &mut lines);
            let toml = std::fs::read_to_string(case.path().join("case.toml")).unwrap_or_default();
            if let Some(base) = toml.lines().find_map(|l| l.strip_prefix("base = \"").and_then(|b| b.strip_suffix('"'))) {
                lines_under(&fixtures.join("hosts").join(base), &mut lines);
            }
        }
        for (i, p) in rule.patterns.iter().enumerate() {
            assert!(
                lines.iter().any(|l| p.regex.is_match(l)),
                "{}: [[match]] #{} ({}) matches no line of fixtures/rules/{}/fires*",
                rule.name,
                i + 1,
                p.regex.as_str(),
                rule.name
            );
        }
    }
}
