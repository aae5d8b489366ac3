//! The rule engine: findings, evidence, and running the catalog over a [`System`]. It holds no
//! knowledge of any particular rule; rules live in `rules/*.md` (words, identifiers, patterns)
//! and, where a pattern is not enough, in `src/rules/checks/<name>.rs` (logic).

pub mod catalog;
mod checks;
pub mod fix;
mod known;
mod pattern;
mod relate;

pub use catalog::{Catalog, Rule};
/// Evidence lives in the System's layer (its parsers attach it to facts); checks name it here.
pub use crate::system::Evidence;

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

/// How sure a finding is. `confirmed`: every fact it rests on is in the input. `likely`: a
/// piece the rule would corroborate with is missing (a paste without sysfs, a log excerpt) and
/// was assumed; the finding's `assumed` says which.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    #[default]
    Confirmed,
    Likely,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Confirmed => "confirmed",
            Confidence::Likely => "likely",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub name: String,
    pub severity: Severity,
    /// `confirmed`, or `likely` when [`Finding::assumed`] names what was taken on trust.
    #[serde(default)]
    pub confidence: Confidence,
    /// What a `likely` finding assumed, one sentence each: the missing source, and what stood
    /// in for it ("no sysfs or lspci for 0000:01:00.0: its vendor (NVIDIA) is taken from the
    /// kernel log line that enumerated it").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumed: Vec<String>,
    pub title: String,
    pub message: String,
    pub subject: String,
    pub evidence: Vec<Evidence>,
    pub remediation: String,
    pub references: Vec<String>,
    /// Codes of other findings of this report about the same cause (`[[relation]]` in the rules'
    /// front matter): reports show them as "see also".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
}

impl Finding {
    /// Mark the finding `likely`, recording what it took on trust. Repeating an assumption
    /// records it once.
    pub fn assume(&mut self, what: impl Into<String>) -> &mut Finding {
        let what = what.into();
        self.confidence = Confidence::Likely;
        if !self.assumed.contains(&what) {
            self.assumed.push(what);
        }
        self
    }

    /// The line the reports print under a `likely` finding: "Likely, assuming: …; …".
    pub fn confidence_note(&self) -> Option<String> {
        (self.confidence == Confidence::Likely).then(|| match self.assumed.as_slice() {
            [] => "Likely (some evidence was missing).".to_string(),
            a => format!("Likely, assuming: {}.", a.join("; ").trim_end_matches('.')),
        })
    }
}

/// A rule that could not run, and why ("no kernel log (permission denied: /dev/kmsg; run as root)").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotEvaluated {
    pub code: String,
    pub rule: String,
    pub reason: String,
    /// The rule's `needs` that were not met: each inner list is one need, any of whose kinds
    /// would do. What the report's "to check more" list is derived from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Vec<crate::bundle::SourceKind>>,
}

/// What running the catalog produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub not_evaluated: Vec<NotEvaluated>,
    pub rules_run: usize,
    /// The codes of the rules whose findings are unconfirmed known messages: the open questions
    /// the report's "to check more" list answers first.
    pub unconfirmed: Vec<String>,
    /// Rules that ran without a `uses` source and made `likely` findings: the sources that would
    /// confirm them (in `missing`), so the report can ask for those too.
    pub to_confirm: Vec<NotEvaluated>,
}

/// The sink a check writes findings into; bound to the rule, so code, name, title, severity
/// and references are filled in from its document and cannot be misspelled.
pub struct Findings<'a> {
    rule: &'a Rule,
    out: &'a mut Vec<Finding>,
    /// Indices in `out` of findings whose own evidence is complete without the rule's `uses`.
    standalone: Vec<usize>,
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
            confidence: Confidence::Confirmed,
            assumed: Vec::new(),
            message: message.into(),
            subject: subject.into(),
            evidence,
            remediation: String::new(),
            references: self.rule.references.clone(),
            related: Vec::new(),
        });
        let last = self.out.len() - 1;
        &mut self.out[last]
    }

    /// Emit a finding whose own evidence settles it, whatever of the rule's `uses` is missing
    /// (a QEMU warning that is itself the fault): it stays `confirmed` unless the check calls
    /// `assume`.
    pub fn emit_on_own_evidence(&mut self, subject: impl Into<String>, message: impl Into<String>, evidence: Vec<Evidence>) -> &mut Finding {
        self.standalone.push(self.out.len());
        self.emit(subject, message, evidence)
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

/// What a rule reasons without: each `uses` entry of its front matter that no source of the
/// input meets.
fn missing_uses(sys: &System, rule: &Rule) -> Vec<Vec<crate::bundle::SourceKind>> {
    rule.uses.iter().filter(|any_of| !any_of.iter().any(|k| sys.has(*k))).cloned().collect()
}

/// Run every rule of the catalog. A rule whose `needs` are not met is recorded as not evaluated;
/// one whose `uses` (corroborating sources) are missing runs, and every finding it makes without
/// them is `likely`: the check names the specific assumption (`Finding::assume`), and a finding
/// it left `confirmed` gets the missing sources as its assumption, so no finding claims more
/// than its input shows.
pub fn run(sys: &System, catalog: &Catalog) -> Outcome {
    let mut outcome = Outcome::default();
    let scanner = pattern::Scanner::new(catalog, sys);
    for rule in catalog.rules() {
        if rule.retired {
            continue;
        }
        let missing: Vec<Vec<crate::bundle::SourceKind>> = rule.needs.iter().filter(|any_of| !any_of.iter().any(|k| sys.has(*k))).cloned().collect();
        if !missing.is_empty() {
            let reason = missing.iter().map(|any_of| sys.why_none(any_of)).collect::<Vec<_>>().join("; ");
            let n = NotEvaluated { code: rule.code.clone(), rule: rule.name.clone(), reason, missing };
            // A known failure message in the input is reported even so, unconfirmed.
            if known::unconfirmed(sys, rule, &scanner, Some(&n), &mut outcome.findings) {
                outcome.unconfirmed.push(rule.code.clone());
            }
            outcome.not_evaluated.push(n);
            continue;
        }
        outcome.rules_run += 1;
        let mut found = Vec::new();
        scanner.run(sys, rule, &mut found);
        let mut standalone = Vec::new();
        if let Some(check) = checks::find(&rule.name) {
            let mut sink = Findings { rule, out: &mut found, standalone: Vec::new() };
            check(sys, &mut sink);
            standalone = sink.standalone;
        }
        let missing = missing_uses(sys, rule);
        if !missing.is_empty() {
            // Phrased as an assumption: "no PCI devices (sysfs) in the input".
            let phrases: Vec<String> = missing.iter().map(|any_of| sys.why_none(any_of)).collect();
            let unsettled = found.iter_mut().enumerate().filter(|(i, f)| f.assumed.is_empty() && !standalone.contains(i));
            for (_, f) in unsettled {
                for m in &phrases {
                    f.assume(m.clone());
                }
            }
            if found.iter().any(|f| f.confidence == Confidence::Likely) {
                let reason = format!("would confirm its likely finding(s): {}", phrases.join("; "));
                outcome.to_confirm.push(NotEvaluated { code: rule.code.clone(), rule: rule.name.clone(), reason, missing });
            }
        }
        if found.is_empty() && known::unconfirmed(sys, rule, &scanner, None, &mut found) {
            outcome.unconfirmed.push(rule.code.clone());
        }
        outcome.findings.extend(fold_same_subject(found));
    }
    outcome.findings.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| a.code.cmp(&b.code)).then_with(|| a.subject.cmp(&b.subject))
    });
    relate::link(&mut outcome.findings, catalog);
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
        patterns.extend(checks::failures(&rule.name));
    }
    patterns.extend(crate::system::vm::LOG_SIGNATURES);
    patterns.extend(crate::system::inferred::LOG_SIGNATURES);
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

    /// A rule runs without its `uses` sources, and what it finds then is `likely`, naming
    /// what was missing; with them, the same finding is `confirmed`.
    #[test]
    fn a_missing_corroborating_source_makes_findings_likely() {
        use crate::bundle::{Bundle, Source, SourceKind};
        let doc = "+++\ncode = \"VD999\"\nname = \"test-uses\"\nseverity = \"error\"\ntitle = \"t\"\n\
                   needs = [\"text\"]\nuses = [\"pci\"]\n\n[[match]]\nsource = \"text\"\nregex = \"BAR 3: can't reserve\"\nmessage = \"m\"\n+++\n\
                   ## What it means\n\n## Why it breaks passthrough\n\n## How to fix\n\n## References\n\n- https://example.org\n";
        let rule = catalog::parse_rule("test-uses.md", doc).expect("rule");
        assert_eq!(rule.uses, vec![vec![SourceKind::Pci]]);
        let catalog = Catalog::from_rules(vec![rule]);
        let mut b = Bundle::new();
        b.sources.push(Source::ok(SourceKind::Text, "paste.txt", "input", "vfio-pci 0000:01:00.0: BAR 3: can't reserve [mem]\n".into()));
        let out = run(&System::from_bundle(&b), &catalog);
        assert_eq!(out.findings.len(), 1, "{:?}", out.not_evaluated);
        assert_eq!(out.findings[0].confidence, Confidence::Likely);
        assert_eq!(out.findings[0].assumed, ["no PCI devices (sysfs) in the input"]);
        assert_eq!(out.findings[0].confidence_note().as_deref(), Some("Likely, assuming: no PCI devices (sysfs) in the input."));
        let json = serde_json::to_value(&out.findings[0]).expect("json");
        assert_eq!((json["confidence"].as_str(), json["assumed"][0].as_str()), (Some("likely"), Some("no PCI devices (sysfs) in the input")));
        b.pci_devices.push(crate::bundle::PciDevice { address: "0000:01:00.0".into(), ..Default::default() });
        let out = run(&System::from_bundle(&b), &catalog);
        assert_eq!((out.findings[0].confidence, out.findings[0].assumed.len()), (Confidence::Confirmed, 0));
        assert!(serde_json::to_value(&out.findings[0]).expect("json").get("assumed").is_none());
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
