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
    pub since: String,
    pub retired: bool,
    pub patterns: Vec<Pattern>,
    /// The Markdown after the front matter: what `explain` prints.
    pub body: String,
    pub references: Vec<String>,
    /// The file it came from (`bar-reservation-failure.md`).
    pub file: String,
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
    #[serde(default = "default_since")]
    since: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "match")]
    matches: Vec<MatchSpec>,
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
        Ok(Catalog { rules })
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
        Ok(())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Keep only the rules `keep` accepts (a command that runs one area's rules, e.g. `rom`).
    pub fn retain(&mut self, keep: impl Fn(&Rule) -> bool) {
        self.rules.retain(|r| keep(r));
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
    let mut needs = Vec::new();
    for need in &fm.needs {
        let mut any = Vec::new();
        for k in need.split('|') {
            any.push(SourceKind::from_name(k.trim()).ok_or_else(|| format!("needs: unknown source kind \"{k}\""))?);
        }
        needs.push(any);
    }
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
    let body = body.trim_start_matches('\n').to_string();
    check_sections(&body)?;
    let references = references(&body);
    Ok(Rule {
        code: fm.code,
        name: fm.name,
        severity,
        title: fm.title,
        needs,
        since: fm.since,
        retired,
        patterns,
        body,
        references,
        file: file.to_string(),
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
