//! The rule catalog: parses `rules/*.md` (TOML front matter between `+++` lines, then the
//! documentation body) into [`Rule`]s. The same loader reads `--rules DIR`.

use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use super::Severity;
use crate::bundle::SourceKind;
use crate::Error;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));
}

/// The body sections every rule document has, in this order.
pub const REQUIRED_SECTIONS: &[&str] = &["What it means", "Why it breaks passthrough", "How to fix", "References"];

#[derive(Debug, Clone)]
pub struct Rule {
    pub code: String,
    pub name: String,
    pub severity: Severity,
    pub title: String,
    /// Each entry is satisfied by any one of its kinds (`"kernel-log|qemu-log"`).
    pub needs: Vec<Vec<SourceKind>>,
    /// Sources that corroborate but are not essential (front matter `uses`, same syntax as
    /// `needs`): without one the rule still runs, and its findings are `likely`.
    pub uses: Vec<Vec<SourceKind>>,
    pub since: String,
    pub retired: bool,
    pub patterns: Vec<Pattern>,
    /// The Markdown after the front matter: what `explain` prints.
    pub body: String,
    pub references: Vec<String>,
    /// The file it came from (`bar-reservation-failure.md`).
    pub file: String,
    /// When a finding of this rule is emitted at another severity than `severity`, and why
    /// (`severity_when` in the front matter): `rules` and `explain` show it.
    pub severity_when: Vec<(Severity, String)>,
    /// How findings of this rule relate to other rules' findings (`[[relation]]`): the engine links
    /// them after all rules ran, so one cause is one finding and the others cite it.
    pub relations: Vec<Relation>,
}

impl Rule {
    /// The severity a rule's findings have, as `rules` shows it: `error`, or
    /// `warning (error when …)` when the rule documents a change.
    pub fn severity_text(&self) -> String {
        let mut s = self.severity.to_string();
        if !self.severity_when.is_empty() {
            let when: Vec<String> = self.severity_when.iter().map(|(sev, why)| format!("{sev} when {why}")).collect();
            s.push_str(&format!(" ({})", when.join("; ")));
        }
        s
    }
}

/// A declared link between this rule's findings and another rule's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The other rule, by name.
    pub rule: String,
    pub kind: RelationKind,
    pub scope: RelationScope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// This rule's finding is the cause of the other's: the other cites it, and its fix becomes a
    /// pointer to this one (the steps would overlap).
    Supersedes,
    /// Two views of one situation: each finding cites the other ("see also").
    Related,
}

/// Which two findings a relation links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationScope {
    /// Their subjects name the same PCI device (`0000:08:00.0`, or `08:00.0`).
    Device,
    /// They have the same subject.
    Subject,
    /// Any two findings of the two rules (host-wide conditions: the IOMMU, the command line).
    Host,
}

/// One log signature of a pattern rule.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub sources: Vec<SourceKind>,
    pub regex: Regex,
    pub require: Require,
    pub subject: Option<String>,
    pub message: String,
    pub remediation: String,
}

/// Conditions a match must also meet; a short, closed vocabulary.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Require {
    /// The `device` capture must be bound to this driver (sysfs, or the log line's prefix).
    pub device_driver: Option<String>,
    /// The kernel command line must have this option.
    pub cmdline_has: Option<String>,
    /// The kernel command line must not have this option.
    pub cmdline_lacks: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    code: String,
    name: String,
    severity: String,
    title: String,
    #[serde(default)]
    needs: Vec<String>,
    #[serde(default)]
    uses: Vec<String>,
    #[serde(default = "default_since")]
    since: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "match")]
    matches: Vec<MatchSpec>,
    /// `severity_when = { error = "the kernel log shows the BAR cannot be reserved" }`
    #[serde(default)]
    severity_when: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "relation")]
    relations: Vec<RelationSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelationSpec {
    rule: String,
    kind: String,
    scope: String,
}

fn default_since() -> String {
    "0.1.0".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchSpec {
    source: OneOrMany,
    regex: String,
    #[serde(default)]
    require: Require,
    subject: Option<String>,
    message: String,
    #[serde(default)]
    remediation: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    rules: Vec<Rule>,
}

impl Catalog {
    /// The rules built into the binary.
    pub fn builtin() -> Result<Catalog, Error> {
        let mut rules = Vec::new();
        for (file, text) in embedded::EMBEDDED {
            rules.push(parse_rule(file, text).map_err(|problem| Error::RuleFile { path: format!("rules/{file}").into(), problem })?);
        }
        rules.sort_by(|a, b| a.code.cmp(&b.code));
        let catalog = Catalog { rules };
        catalog.check_relations()?;
        Ok(catalog)
    }

    /// A catalog of exactly these rules (tests, a command that builds its own).
    pub fn from_rules(mut rules: Vec<Rule>) -> Catalog {
        rules.sort_by(|a, b| a.code.cmp(&b.code));
        Catalog { rules }
    }

    /// Add the rule documents of a user's `--rules DIR`. A name or code that is already taken
    /// is an error naming the file.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), Error> {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::input(dir, format!("cannot read rules directory: {e}")))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "md")).collect();
        paths.sort();
        for path in paths {
            if path.file_name().is_some_and(|n| n == "README.md" || n == "SOURCES.md") {
                continue;
            }
            let read = crate::root::read_capped(&path, 1024 * 1024).map_err(|e| Error::RuleFile { path: path.clone(), problem: e.to_string() })?;
            let text = String::from_utf8(read.bytes).map_err(|_| Error::RuleFile { path: path.clone(), problem: "not UTF-8".into() })?;
            let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let rule = parse_rule(&file, &text).map_err(|problem| Error::RuleFile { path: path.clone(), problem })?;
            if let Some(other) = self.rules.iter().find(|r| r.code == rule.code || r.name == rule.name) {
                return Err(Error::RuleFile { path, problem: format!("code or name already used by {} ({})", other.name, other.code) });
            }
            self.rules.push(rule);
        }
        self.rules.sort_by(|a, b| a.code.cmp(&b.code));
        self.check_relations()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Keep only the rules `keep` accepts (a command that runs one area's rules, e.g. `rom`).
    pub fn retain(&mut self, keep: impl Fn(&Rule) -> bool) {
        self.rules.retain(|r| keep(r));
    }

    /// Every declared relation names a rule of the catalog, and not the rule itself. The error
    /// names the file.
    pub fn check_relations(&self) -> Result<(), Error> {
        for r in &self.rules {
            for rel in &r.relations {
                if rel.rule == r.name || self.find(&rel.rule).is_none() {
                    return Err(Error::RuleFile {
                        path: r.file.clone().into(),
                        problem: format!("relation names \"{}\", which is not another rule of the catalog", rel.rule),
                    });
                }
            }
        }
        Ok(())
    }

    /// Look a rule up by code (case-insensitive) or name.
    pub fn find(&self, code_or_name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.code.eq_ignore_ascii_case(code_or_name) || r.name == code_or_name)
    }
}

/// Parse one rule document. The error is the problem, without the file name.
pub fn parse_rule(file: &str, text: &str) -> Result<Rule, String> {
    let text = text.replace("\r\n", "\n");
    let rest = text.strip_prefix("+++\n").ok_or("does not start with a +++ front matter line")?;
    let end = rest.find("\n+++\n").ok_or("front matter has no closing +++ line")?;
    let (front, body) = (&rest[..end + 1], &rest[end + 5..]);
    let fm: FrontMatter = toml::from_str(front).map_err(|e| format!("front matter: {}", e.to_string().lines().collect::<Vec<_>>().join(" ")))?;
    let severity = Severity::parse(&fm.severity).ok_or_else(|| format!("severity \"{}\" is not error, warning or info", fm.severity))?;
    if !is_code(&fm.code) {
        return Err(format!("code \"{}\" is not VD followed by three digits", fm.code));
    }
    let retired = match fm.status.as_deref() {
        None | Some("stable") => false,
        Some("retired") => true,
        Some(other) => return Err(format!("status \"{other}\" is not stable or retired")),
    };
    let kinds = |key: &str, entries: &[String]| -> Result<Vec<Vec<SourceKind>>, String> {
        let mut out = Vec::new();
        for entry in entries {
            let mut any = Vec::new();
            for k in entry.split('|') {
                any.push(SourceKind::from_name(k.trim()).ok_or_else(|| format!("{key}: unknown source kind \"{k}\""))?);
            }
            out.push(any);
        }
        Ok(out)
    };
    let needs = kinds("needs", &fm.needs)?;
    let uses = kinds("uses", &fm.uses)?;

    let mut patterns = Vec::new();
    for (i, m) in fm.matches.into_iter().enumerate() {
        let names = match m.source {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        };
        let mut sources = Vec::new();
        for n in names {
            sources.push(SourceKind::from_name(&n).ok_or_else(|| format!("match {}: unknown source kind \"{n}\"", i + 1))?);
        }
        let regex = Regex::new(&m.regex).map_err(|e| format!("match {}: bad regex: {}", i + 1, e.to_string().lines().last().unwrap_or("")))?;
        for template in [Some(&m.message), Some(&m.remediation), m.subject.as_ref()].into_iter().flatten() {
            check_placeholders(template, &regex).map_err(|p| format!("match {}: {p}", i + 1))?;
        }
        if m.require.device_driver.is_some() && !regex.capture_names().any(|n| n == Some("device")) {
            return Err(format!("match {}: require.device_driver needs a (?P<device>…) capture", i + 1));
        }
        patterns.push(Pattern { sources, regex, require: m.require, subject: m.subject, message: m.message, remediation: m.remediation });
    }
    let mut severity_when = Vec::new();
    for (sev, when) in &fm.severity_when {
        let s = Severity::parse(sev).ok_or_else(|| format!("severity_when: \"{sev}\" is not error, warning or info"))?;
        if s == severity {
            return Err(format!("severity_when: \"{sev}\" is the rule's own severity"));
        }
        severity_when.push((s, when.trim().to_string()));
    }
    severity_when.sort_by_key(|w| std::cmp::Reverse(w.0));
    let mut relations = Vec::new();
    for r in fm.relations {
        let kind = match r.kind.as_str() {
            "supersedes" => RelationKind::Supersedes,
            "related" => RelationKind::Related,
            other => return Err(format!("relation {}: kind \"{other}\" is not supersedes or related", r.rule)),
        };
        let scope = match r.scope.as_str() {
            "device" => RelationScope::Device,
            "subject" => RelationScope::Subject,
            "host" => RelationScope::Host,
            other => return Err(format!("relation {}: scope \"{other}\" is not device, subject or host", r.rule)),
        };
        relations.push(Relation { rule: r.rule, kind, scope });
    }
    let body = body.trim_start_matches('\n').to_string();
    check_sections(&body)?;
    let references = references(&body);
    Ok(Rule {
        code: fm.code,
        name: fm.name,
        severity,
        title: fm.title,
        needs,
        uses,
        since: fm.since,
        retired,
        patterns,
        body,
        references,
        file: file.to_string(),
        severity_when,
        relations,
    })
}

fn is_code(code: &str) -> bool {
    code.len() == 5 && code.starts_with("VD") && code[2..].chars().all(|c| c.is_ascii_digit())
}

/// `{name}` in a template must be a capture of the regex or one of the engine's own names.
fn check_placeholders(template: &str, regex: &Regex) -> Result<(), String> {
    let known = ["device.name", "device.label", "device.ids", "device.driver", "source", "line", "vm", "count"];
    for cap in placeholder_re().captures_iter(template) {
        let name = &cap[1];
        if known.contains(&name) || regex.capture_names().flatten().any(|n| n == name) {
            continue;
        }
        return Err(format!("template uses {{{name}}}, which is neither a capture of the regex nor one of {known:?}"));
    }
    Ok(())
}

#[allow(clippy::expect_used)] // a literal pattern: it compiles, and the unit tests run it
pub(crate) fn placeholder_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{([a-z_][a-z0-9_.]*)\}").expect("static regex"))
}

fn check_sections(body: &str) -> Result<(), String> {
    let headings: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("## ")).map(str::trim).collect();
    let mut at = 0;
    for want in REQUIRED_SECTIONS {
        match headings[at..].iter().position(|h| h == want) {
            Some(p) => at += p + 1,
            None => return Err(format!("body lacks a \"## {want}\" section (required, in order: {})", REQUIRED_SECTIONS.join(", "))),
        }
    }
    Ok(())
}

/// The links of the `## References` list: `- [text](https://…)` or a bare URL.
fn references(body: &str) -> Vec<String> {
    let mut in_refs = false;
    let mut refs = Vec::new();
    for line in body.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            in_refs = h.trim() == "References";
            continue;
        }
        if !in_refs {
            continue;
        }
        if let Some(start) = line.find("](") {
            if let Some(len) = line[start + 2..].find(')') {
                refs.push(line[start + 2..start + 2 + len].to_string());
                continue;
            }
        }
        if let Some(start) = line.find("https://") {
            let url: String = line[start..].chars().take_while(|c| !c.is_whitespace() && *c != '>').collect();
            refs.push(url);
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "## What it means\n\nx\n\n## Why it breaks passthrough\n\nx\n\n## How to fix\n\nx\n\n## References\n\n- https://docs.kernel.org/\n";

    fn doc(front: &str) -> String {
        format!("+++\ncode = \"VD990\"\nname = \"test-rule\"\nseverity = \"warning\"\ntitle = \"t\"\n{front}+++\n{BODY}")
    }

    #[test]
    fn severity_when_and_relations_parse_and_say_what_is_wrong() {
        let r = parse_rule("t.md", &doc("severity_when = { error = \"the log shows it\" }\n[[relation]]\nrule = \"other-rule\"\nkind = \"related\"\nscope = \"host\"\n")).unwrap();
        assert_eq!(r.severity_text(), "warning (error when the log shows it)");
        assert_eq!(r.relations, [Relation { rule: "other-rule".into(), kind: RelationKind::Related, scope: RelationScope::Host }]);
        let err = parse_rule("t.md", &doc("severity_when = { warning = \"x\" }\n")).unwrap_err();
        assert_eq!(err, "severity_when: \"warning\" is the rule's own severity");
        let err = parse_rule("t.md", &doc("[[relation]]\nrule = \"other-rule\"\nkind = \"causes\"\nscope = \"host\"\n")).unwrap_err();
        assert_eq!(err, "relation other-rule: kind \"causes\" is not supersedes or related");
    }

    #[test]
    fn a_relation_to_no_rule_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("test-rule.md"), doc("[[relation]]\nrule = \"no-such-rule\"\nkind = \"related\"\nscope = \"host\"\n")).unwrap();
        let mut catalog = Catalog::builtin().unwrap();
        let err = catalog.add_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("test-rule.md") && err.contains("\"no-such-rule\", which is not another rule"), "{err}");
    }
}
