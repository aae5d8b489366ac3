//! Links findings after every rule ran, from the relations rules declare in their front matter
//! (`[[relation]]`): one cause is one finding with the fix, and the findings it explains cite it
//! (`related`, shown as "see also") instead of repeating or contradicting its steps.

use std::collections::BTreeSet;

use regex::Regex;

use super::catalog::{RelationKind, RelationScope};
use super::{Catalog, Finding};

/// The PCI functions a subject names, as `BB:DD.F` (the domain dropped, so `0000:08:00.0` and
/// `08:00.0` are the same device).
fn devices(subject: &str) -> BTreeSet<String> {
    let re: &Regex = static_regex!(r"(?i)\b(?:[0-9a-f]{4}:)?([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\b");
    re.captures_iter(subject).map(|c| c[1].to_ascii_lowercase()).collect()
}

fn in_scope(scope: RelationScope, a: &Finding, b: &Finding) -> bool {
    match scope {
        RelationScope::Host => true,
        RelationScope::Subject => a.subject == b.subject,
        RelationScope::Device => {
            let (da, db) = (devices(&a.subject), devices(&b.subject));
            !da.is_empty() && da.intersection(&db).next().is_some()
        }
    }
}

fn cite(f: &mut Finding, code: &str) {
    if f.code != code && !f.related.iter().any(|c| c == code) {
        f.related.push(code.to_string());
    }
}

/// Apply the catalog's relations to `findings` (in report order: the first cause wins). A
/// superseded finding moves right after its cause, so the report tells the story in order.
pub fn link(findings: &mut Vec<Finding>, catalog: &Catalog) {
    // (cause index, other index, kind)
    let mut links: Vec<(usize, usize, RelationKind)> = Vec::new();
    for (i, a) in findings.iter().enumerate() {
        let Some(rule) = catalog.find(&a.name) else { continue };
        for rel in &rule.relations {
            for (j, b) in findings.iter().enumerate() {
                if i != j && b.name == rel.rule && in_scope(rel.scope, a, b) {
                    links.push((i, j, rel.kind));
                }
            }
        }
    }
    let mut superseded: BTreeSet<usize> = BTreeSet::new();
    // Each finding's place: its own, or just after its cause.
    let mut place: Vec<(usize, usize)> = (0..findings.len()).map(|i| (i, 0)).collect();
    for (i, j, kind) in links {
        let (code_i, code_j) = (findings[i].code.clone(), findings[j].code.clone());
        cite(&mut findings[i], &code_j);
        cite(&mut findings[j], &code_i);
        if kind == RelationKind::Supersedes && superseded.insert(j) {
            place[j] = (place[i].0, 1);
            let cause = &findings[i];
            findings[j].remediation = format!(
                "Same cause as {} {} ({}): its fix covers this one. Follow it, then run vfio-doctor again.",
                cause.code, cause.name, cause.subject
            );
        }
    }
    let mut ordered: Vec<(usize, usize, Finding)> = findings.drain(..).enumerate().map(|(i, f)| (place[i].0, place[i].1, f)).collect();
    ordered.sort_by_key(|(anchor, after, _)| (*anchor, *after));
    findings.extend(ordered.into_iter().map(|(_, _, f)| f));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: &str, name: &str, subject: &str) -> Finding {
        Finding {
            code: code.into(),
            name: name.into(),
            severity: super::super::Severity::Error,
            confidence: Default::default(),
            assumed: Vec::new(),
            title: String::new(),
            message: String::new(),
            subject: subject.into(),
            evidence: Vec::new(),
            remediation: format!("{name}'s own steps"),
            references: Vec::new(),
            related: Vec::new(),
        }
    }

    /// Two rules of a `--rules` directory: `cause-rule` supersedes `effect-rule` on the same device.
    fn catalog() -> Catalog {
        let body = "## What it means\n\nx\n\n## Why it breaks passthrough\n\nx\n\n## How to fix\n\nx\n\n## References\n\n- https://docs.kernel.org/\n";
        let dir = tempfile::tempdir().expect("tempdir");
        let cause = "code = \"VD991\"\nname = \"cause-rule\"\nseverity = \"error\"\ntitle = \"t\"\n[[relation]]\nrule = \"effect-rule\"\nkind = \"supersedes\"\nscope = \"device\"\n";
        let effect = "code = \"VD992\"\nname = \"effect-rule\"\nseverity = \"error\"\ntitle = \"t\"\n";
        std::fs::write(dir.path().join("cause-rule.md"), format!("+++\n{cause}+++\n{body}")).expect("write");
        std::fs::write(dir.path().join("effect-rule.md"), format!("+++\n{effect}+++\n{body}")).expect("write");
        let mut c = Catalog::default();
        c.add_dir(dir.path()).expect("rules parse");
        c
    }

    #[test]
    fn a_cause_takes_over_the_fix_of_what_it_explains_on_the_same_device() {
        let catalog = catalog();
        let mut findings = vec![
            finding("VD992", "effect-rule", "0000:08:00.0 NVIDIA GP106"),
            finding("VD992", "effect-rule", "0000:0b:00.0 another card"),
            finding("VD991", "cause-rule", "0000:08:00.0 NVIDIA GP106"),
        ];
        link(&mut findings, &catalog);
        let order: Vec<(&str, &str)> = findings.iter().map(|f| (f.code.as_str(), &f.subject[..12])).collect();
        assert_eq!(order, [("VD992", "0000:0b:00.0"), ("VD991", "0000:08:00.0"), ("VD992", "0000:08:00.0")]);
        assert_eq!(findings[1].related, ["VD992"]);
        assert_eq!(findings[2].related, ["VD991"]);
        assert!(findings[2].remediation.starts_with("Same cause as VD991 cause-rule"), "{}", findings[2].remediation);
        assert_eq!(findings[0].remediation, "effect-rule's own steps");
        assert!(findings[0].related.is_empty());
    }

    #[test]
    fn device_scope_ignores_the_pci_domain() {
        assert_eq!(devices("VM win10 / 0000:08:00.0"), devices("08:00.0 NVIDIA Corporation GP106 [10de:1c02]"));
        assert!(devices("IOMMU group 15").is_empty());
        assert!(devices("kernel command line").is_empty());
    }
}
