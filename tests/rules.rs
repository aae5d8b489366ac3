//! Every rule fires on its `fires*` cases and stays quiet on its `quiet*` cases
//! (fixtures/rules/<rule>/<case>/case.toml); the findings of that rule are snapshotted.

mod support;

#[test]
fn rule_cases() {
    insta::glob!("../fixtures/rules", "*/*/case.toml", |path| {
        let dir = path.parent().expect("case dir");
        let case = dir.file_name().expect("case name").to_string_lossy().into_owned();
        let rule = dir.parent().and_then(Path::file_name).expect("rule dir").to_string_lossy().into_owned();
        let built = support::build_case(dir);
        let report = support::diagnose(&built.bundle);
        let mine: Vec<_> = report.findings.iter().filter(|f| f.name == rule).collect();
        let not_evaluated = report.not_evaluated.iter().find(|n| n.rule == rule);
        if case.starts_with("fires") {
            assert!(
                !mine.is_empty(),
                "{rule}/{case}: expected the rule to fire; not evaluated: {not_evaluated:?}; other findings: {:?}",
                report.findings.iter().map(|f| &f.name).collect::<Vec<_>>()
            );
        } else if case.starts_with("quiet") {
            assert!(mine.is_empty(), "{rule}/{case}: expected no finding, got {mine:#?}");
        } else {
            panic!("{}: a case directory is named fires* or quiet*", dir.display());
        }
        let json = serde_json::to_string_pretty(&mine).expect("json");
        insta::assert_snapshot!(support::normalise(json, built.root.as_ref().map(|t| t.path())));
    });
}
