//! Known failure messages no rule confirmed. A line that matches a rule's `[[match]]` pattern
//! or a logic rule's `FAILURE_SIGNATURES` is by itself a sign of that rule's fault; when the
//! rule produced no finding (its other needs are missing from a paste, or what its pattern
//! requires cannot be told from the input), the report must still not say "no problems": the
//! line becomes an unconfirmed finding of that rule, saying what is missing. Its severity is the
//! rule's for a pattern, and `error` for a `FAILURE_SIGNATURES` line: those are messages of
//! something that failed (a VM that did not start, a driver that did not load), so `check`
//! exits 1 on them.

use regex::RegexSet;

use super::catalog::{Pattern, Rule};
use super::pattern::Scanner;
use super::{Evidence, Finding, NotEvaluated};
use crate::bundle::SourceKind;
use crate::system::{LogLine, System};

/// The unconfirmed finding for `rule`, which produced none (`not_evaluated`: why it did not
/// run); whether there was one.
pub(super) fn unconfirmed(sys: &System, rule: &Rule, scanner: &Scanner<'_>, not_evaluated: Option<&NotEvaluated>, out: &mut Vec<Finding>) -> bool {
    let logic = super::checks::failures(&rule.name);
    if rule.patterns.is_empty() && logic.is_empty() {
        return false;
    }
    let Ok(set) = RegexSet::new(logic) else { return false };
    // One finding per source: the first line that matches, counted.
    let mut found: Vec<(Evidence, String)> = Vec::new();
    let mut failed = false;
    for kind in SourceKind::ALL {
        // A pattern can only know a line the scanner's set matched (lines come in the same order).
        let mut hits = scanner.hits(*kind).map(|h| h.iter().peekable());
        for line in sys.lines(*kind) {
            let may_match = match &mut hits {
                Some(h) => h.next_if(|(hit, _)| std::ptr::eq(*hit, line)).is_some(),
                None => true,
            };
            let why = rule
                .patterns
                .iter()
                .filter(|p| may_match && (p.sources.contains(kind) || kind.scanned_against_all()))
                .find_map(|p| pattern_unconfirmed(sys, p, line));
            // A failure signature is a failure whether or not a pattern also knows the line.
            let fails = set.is_match(&line.message);
            failed |= fails;
            let why = match why {
                Some(w) => w,
                None if fails => String::new(),
                None => continue,
            };
            match found.iter_mut().find(|(e, _)| *e.source == *line.source) {
                Some((e, _)) => e.count = Some(e.count.unwrap_or(1) + line.count),
                None => found.push((Evidence::from(line), why)),
            }
        }
    }
    let Some((first, why)) = found.first().cloned() else { return false };
    let first = first.excerpt;
    let reason = match not_evaluated {
        Some(n) => format!("the rule could not run ({})", n.reason),
        None if !why.is_empty() => why,
        None => "the rest of what the rule checks was not found in the input".to_string(),
    };
    out.push(Finding {
        code: rule.code.clone(),
        name: rule.name.clone(),
        severity: if failed { super::Severity::Error } else { rule.severity },
        // Unconfirmed is likely: the message is taken as the sign of the fault.
        confidence: super::Confidence::Likely,
        assumed: vec![format!("the known message is taken as the sign of this fault, but {reason}")],
        title: rule.title.clone(),
        message: format!(
            "Not confirmed: the input holds a message known as a sign of this fault (evidence below), but {reason}. \
             Give vfio-doctor what the \"To check more\" list asks for to settle it."
        ),
        subject: address(&first).unwrap_or_else(|| rule.title.clone()),
        evidence: found.into_iter().map(|(e, _)| e).collect(),
        remediation: format!("See `vfio-doctor explain {}` for what this message means and how it is fixed.", rule.name),
        references: rule.references.clone(),
        related: Vec::new(),
    });
    true
}

/// When `p` matches `line` but its requirements cannot be told from the input: why. `None` when
/// it does not match, or when a requirement is contradicted (the driver is known and another).
fn pattern_unconfirmed(sys: &System, p: &Pattern, line: &LogLine) -> Option<String> {
    let caps = p.regex.captures(&line.message)?;
    let mut unknown = Vec::new();
    if let Some(want) = &p.require.device_driver {
        let addr = caps.name("device").map(|m| m.as_str());
        let driver = addr.and_then(|a| sys.device(a)).and_then(|d| d.driver.clone()).or_else(|| line.device.as_ref().map(|d| d.driver.clone()));
        match driver {
            Some(d) if d != *want => return None,
            Some(_) => {}
            None => unknown.push(format!("which driver holds {} is not known from the input (the rule is about {want})", addr.unwrap_or("the device"))),
        }
    }
    if let Some(opt) = &p.require.cmdline_has {
        match &sys.cmdline {
            Some(c) if !c.has(opt) => return None,
            Some(_) => {}
            None => unknown.push(format!("whether the kernel command line has `{opt}` is not known from the input")),
        }
    }
    Some(unknown.join("; "))
}

/// The first PCI address in `text`, as `DDDD:BB:DD.F`.
fn address(text: &str) -> Option<String> {
    static_regex!(r"\b(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\.[0-7]\b")
        .find(text)
        .and_then(|m| crate::system::PciAddress::parse(m.as_str()))
        .map(|a| a.to_string())
}

