//! The rule engine: findings, evidence, and running the catalog over a [`System`]. It holds no
//! knowledge of any particular rule; rules live in `rules/*.md` (words, identifiers, patterns)
//! and, where a pattern is not enough, in `src/rules/checks/<name>.rs` (logic).

pub mod catalog;
mod checks;
pub mod fix;
mod pattern;

pub use catalog::{Catalog, Rule};

use serde::{Deserialize, Serialize};

use crate::signatures::SignatureSet;
use crate::system::System;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a fact was seen: the file or sysfs path, the line or attribute, and the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub source: String,
    pub location: String,
    pub excerpt: String,
    /// How many times this excerpt (or lines like it) occurred, when more than once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl Evidence {
    pub fn new(source: impl Into<String>, location: impl Into<String>, excerpt: impl Into<String>) -> Evidence {
        Evidence { source: source.into(), location: location.into(), excerpt: excerpt.into(), count: None }
    }
}

impl From<&crate::system::LogLine> for Evidence {
    fn from(line: &crate::system::LogLine) -> Evidence {
        let mut e = Evidence::new(line.source.to_string(), format!("line {}", line.line_no), line.text.clone());
        // A folded line stands for all its occurrences.
        e.count = (line.count > 1).then_some(line.count);
        e
    }
}

/// Evidence from log lines that repeat: one entry per (source, kind of line), the first line,
/// with the count of the lines like it.
#[derive(Debug, Default)]
pub struct FoldedEvidence {
    entries: Vec<(&'static str, Evidence)>,
}

impl FoldedEvidence {
    /// Add `line`, a line of kind `tag` (the checks' own names: "flr", "d3cold", …).
    pub fn add(&mut self, tag: &'static str, line: &crate::system::LogLine) {
        let source = line.source.as_ref();
        match self.entries.iter_mut().find(|(t, e)| *t == tag && e.source == source) {
            // A line a long log folded stands for all its occurrences.
            Some((_, e)) => e.count = Some(e.count.unwrap_or(1) + line.count),
            None => self.entries.push((tag, Evidence::from(line))),
        }
    }

    /// How many lines of kind `tag` were added, over all sources.
    pub fn count(&self, tag: &str) -> u64 {
        self.entries.iter().filter(|(t, _)| *t == tag).map(|(_, e)| e.count.unwrap_or(1)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn into_vec(self) -> Vec<Evidence> {
        self.entries.into_iter().map(|(_, e)| e).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub name: String,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub subject: String,
    pub evidence: Vec<Evidence>,
    pub remediation: String,
    pub references: Vec<String>,
}

/// A rule that could not run, and why ("no kernel log (permission denied: /dev/kmsg; run as root)").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotEvaluated {
    pub code: String,
    pub rule: String,
    pub reason: String,
}

/// What running the catalog produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub not_evaluated: Vec<NotEvaluated>,
    pub rules_run: usize,
}

/// The sink a check writes findings into; bound to the rule, so code, name, title, severity
/// and references are filled in from its document and cannot be misspelled.
pub struct Findings<'a> {
    rule: &'a Rule,
    out: &'a mut Vec<Finding>,
}

impl<'a> Findings<'a> {
    /// Emit a finding about `subject`. Evidence is required up front: an expert trusts nothing
    /// without it. The returned finding can be adjusted (remediation, severity).
    pub fn emit(&mut self, subject: impl Into<String>, message: impl Into<String>, evidence: Vec<Evidence>) -> &mut Finding {
        self.out.push(Finding {
            code: self.rule.code.clone(),
            name: self.rule.name.clone(),
            severity: self.rule.severity,
            title: self.rule.title.clone(),
            message: message.into(),
            subject: subject.into(),
            evidence,
            remediation: String::new(),
            references: self.rule.references.clone(),
        });
        let last = self.out.len() - 1;
        &mut self.out[last]
    }

    pub fn rule(&self) -> &Rule {
        self.rule
    }

    /// The finding this rule's patterns already made about `subject`, so a check can add its
    /// corroborating evidence there instead of emitting a second finding.
    pub fn existing(&mut self, subject: &str) -> Option<&mut Finding> {
        self.out.iter_mut().find(|f| f.subject == subject)
    }
}

/// The signature every logic rule's `check` has.
pub type CheckFn = fn(&System, &mut Findings<'_>);

/// Run every rule of the catalog. A rule whose `needs` are not met is recorded as not evaluated.
pub fn run(sys: &System, catalog: &Catalog) -> Outcome {
    let mut outcome = Outcome::default();
    let scanner = pattern::Scanner::new(catalog);
    for rule in catalog.rules() {
        if rule.retired {
            continue;
        }
        // A line that matches a rule's signature is evidence enough on its own: a pasted
        // `virsh start` error names its fault whatever else the paste lacks.
        let mut found = Vec::new();
        scanner.run(sys, rule, &mut found);
        if let Some(missing) = rule.needs.iter().find(|any_of| !any_of.iter().any(|k| sys.has(*k))) {
            if found.is_empty() {
                let reason = missing.iter().map(|k| sys.why_missing(*k)).collect::<Vec<_>>().join(", or ");
                outcome.not_evaluated.push(NotEvaluated { code: rule.code.clone(), rule: rule.name.clone(), reason });
                continue;
            }
        } else if let Some(check) = checks::find(&rule.name) {
            let mut sink = Findings { rule, out: &mut found };
            check(sys, &mut sink);
        }
        outcome.rules_run += 1;
        outcome.findings.extend(fold_same_subject(found));
    }
    outcome.findings.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| a.code.cmp(&b.code)).then_with(|| a.subject.cmp(&b.subject))
    });
    outcome
}

/// One finding per subject and rule: when a pattern and the rule's check both speak about the
/// same subject, the check's finding (made last, with the wider view) stays and takes the
/// pattern's evidence.
fn fold_same_subject(found: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        match out.iter().position(|o| o.subject == f.subject) {
            Some(i) => {
                let earlier = std::mem::replace(&mut out[i], f);
                let merged = &mut out[i];
                let mut evidence = earlier.evidence;
                evidence.retain(|e| !merged.evidence.iter().any(|m| m.source == e.source && m.excerpt == e.excerpt));
                evidence.append(&mut merged.evidence);
                merged.evidence = evidence;
            }
            None => out.push(f),
        }
    }
    out
}

/// Every log signature the catalog needs kept from long logs: the `[[match]]` regexes, the
/// `LOG_SIGNATURES` of logic rules, and the lines the System itself reads. Collection and import
/// receive this set (from `commands`), so they keep what rules need without knowing any rule.
pub fn signatures(catalog: &Catalog) -> SignatureSet {
    let mut patterns: Vec<&str> = Vec::new();
    for rule in catalog.rules().iter().filter(|r| !r.retired) {
        patterns.extend(rule.patterns.iter().map(|p| p.regex.as_str()));
        patterns.extend(checks::signatures(&rule.name));
    }
    patterns.extend(crate::system::vm::LOG_SIGNATURES);
    SignatureSet::new(patterns)
}

/// Names of the rules that have a logic file (for the catalog test).
pub fn logic_rule_names() -> Vec<&'static str> {
    checks::names()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A check that reads log lines must say which (`LOG_SIGNATURES`), or a long log loses them.
    #[test]
    fn checks_that_read_logs_declare_their_signatures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules/checks");
        for name in logic_rule_names() {
            let file = dir.join(format!("{}.rs", name.replace('-', "_")));
            let source = std::fs::read_to_string(&file).unwrap();
            if source.contains("sys.lines(") {
                assert!(!checks::signatures(name).is_empty(), "{} reads log lines but declares no LOG_SIGNATURES", file.display());
            }
        }
    }

    /// Every signature has a literal for the prefilter, so long logs are scanned at memory speed.
    #[test]
    fn every_signature_has_a_prefilter_literal() {
        let catalog = Catalog::builtin().unwrap();
        let set = signatures(&catalog);
        for p in set.patterns() {
            let one = SignatureSet::new([p]);
            assert!(!one.every_line_is_candidate(), "no literal of {} bytes every match of {p} contains", crate::signatures::MIN_LITERAL);
        }
        assert!(set.patterns().iter().any(|p| p.contains("vfio_region_write")));
        // Nothing declared was dropped as invalid.
        for name in logic_rule_names() {
            for p in checks::signatures(name) {
                regex::Regex::new(p).unwrap_or_else(|e| panic!("{name}: LOG_SIGNATURES {p}: {e}"));
                assert!(set.patterns().iter().any(|q| q == p), "{name}: {p} missing from the set");
            }
        }
        assert!(set.patterns().iter().any(|p| p.contains("is not viable")));
    }
}
