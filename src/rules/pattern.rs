//! The engine for pattern rules: runs every `[[match]]` of the catalog over the parsed lines of
//! the sources it names (and over unrecognised text), with a `RegexSet` prefilter so that most
//! lines are looked at once, not once per pattern. Identical findings fold into one, counted.

use std::collections::BTreeMap;

use regex::{Captures, RegexSet};

use super::catalog::{placeholder_re, Pattern, Rule};
use super::{Evidence, Finding};
use crate::bundle::SourceKind;
use crate::system::{LogLine, System};

/// The (rule name, pattern index) of each regex in a set, in set order.
type Owners = Vec<(String, usize)>;

/// The lines of one source kind that some pattern of its set matches, in order, each with the
/// indexes in the set of the patterns that match it.
type Hits<'s> = Vec<(&'s LogLine, Vec<usize>)>;

/// What a kind's set matched, found once per System: each line that some pattern matched, and
/// each wrapped pair of lines whose joined text matched (by its second line), with the set slots.
struct KindHits<'s> {
    lines: Hits<'s>,
    wrapped: Hits<'s>,
}

impl<'s> KindHits<'s> {
    fn scan(sys: &'s System, kind: SourceKind, set: &RegexSet) -> KindHits<'s> {
        let (mut lines, mut wrapped_pairs) = (Vec::new(), Vec::new());
        let mut prev: Option<&LogLine> = None;
        for line in sys.lines(kind) {
            let m = set.matches(&line.message);
            if m.matched_any() {
                lines.push((line, m.into_iter().collect()));
            }
            if let Some(first) = prev.filter(|p| wrapped(p, line)) {
                let joined = format!("{} {}", first.message.trim_end(), line.message.trim_start());
                let m = set.matches(&joined);
                if m.matched_any() {
                    wrapped_pairs.push((line, m.into_iter().collect()));
                }
            }
            prev = Some(line);
        }
        KindHits { lines, wrapped: wrapped_pairs }
    }
}

/// One scanner serves one System: each kind's set runs over its lines once, and every rule looks
/// up the lines its own slots matched (running the whole set over every line once per rule took
/// minutes on a 2 MiB paste).
pub(super) struct Scanner<'s> {
    /// Per source kind that the input has lines of: which pattern each slot of the kind's set is,
    /// and what the set matched.
    kinds: Vec<(SourceKind, Owners, KindHits<'s>)>,
}

impl<'s> Scanner<'s> {
    /// The catalog's patterns, matched against the lines of `sys`.
    pub fn new(catalog: &super::Catalog, sys: &'s System) -> Scanner<'s> {
        let mut by_kind: BTreeMap<SourceKind, Vec<(String, usize, String)>> = BTreeMap::new();
        for rule in catalog.rules() {
            for (i, p) in rule.patterns.iter().enumerate() {
                // Unrecognised text and hook traces are scanned against every signature.
                let all = SourceKind::ALL.iter().copied().filter(|k| k.scanned_against_all());
                for kind in p.sources.iter().copied().chain(all) {
                    let entry = by_kind.entry(kind).or_default();
                    if !entry.iter().any(|(n, j, _)| n == &rule.name && *j == i) {
                        entry.push((rule.name.clone(), i, p.regex.as_str().to_string()));
                    }
                }
            }
        }
        let kinds = by_kind
            .into_iter()
            // A kind the System has no line of needs no set (compiling them all took most of a
            // small check's time).
            .filter(|(kind, _)| sys.lines(*kind).next().is_some())
            .filter_map(|(kind, pats)| {
                let set = RegexSet::new(pats.iter().map(|(_, _, r)| r)).ok()?;
                let hits = KindHits::scan(sys, kind, &set);
                Some((kind, pats.into_iter().map(|(n, i, _)| (n, i)).collect(), hits))
            })
            .collect();
        Scanner { kinds }
    }

    /// The lines of `kind` that some pattern matches (in order, with the set indexes that
    /// matched), or `None` when no set reads `kind`: then any line may match.
    pub fn hits(&self, kind: SourceKind) -> Option<&[(&'s LogLine, Vec<usize>)]> {
        self.kinds.iter().find(|(k, ..)| *k == kind).map(|(.., hits)| hits.lines.as_slice())
    }

    /// Append `rule`'s pattern findings, one per subject, with every corroborating source
    /// (`sys` is the System the scanner was made with).
    pub fn run(&self, sys: &System, rule: &Rule, out: &mut Vec<Finding>) {
        if rule.patterns.is_empty() {
            return;
        }
        // subject → finding under construction
        let mut by_subject: BTreeMap<String, Finding> = BTreeMap::new();
        for (kind, owners, hits) in &self.kinds {
            let mine: Vec<usize> = owners.iter().enumerate().filter(|(_, (n, _))| n == &rule.name).map(|(i, _)| i).collect();
            if mine.is_empty() {
                continue;
            }
            if hits.lines.is_empty() && hits.wrapped.is_empty() {
                continue;
            }
            let (mut next, mut next_wrapped) = (hits.lines.iter().peekable(), hits.wrapped.iter().peekable());
            let mut prev: Option<&LogLine> = None;
            for line in sys.lines(*kind) {
                let slots: &[usize] = next.next_if(|(hit, _)| std::ptr::eq(*hit, line)).map_or(&[][..], |(_, m)| m.as_slice());
                for &slot in &mine {
                    if !slots.contains(&slot) {
                        continue;
                    }
                    let pattern = &rule.patterns[owners[slot].1];
                    let Some(caps) = pattern.regex.captures(&line.message) else { continue };
                    if !requirements_met(sys, pattern, &caps, line) {
                        continue;
                    }
                    record(sys, rule, pattern, &caps, line, &mut by_subject);
                }
                if let Some((_, joined_slots)) = next_wrapped.next_if(|(hit, _)| std::ptr::eq(*hit, line)) {
                    if let Some(first) = prev {
                        self.match_wrapped(sys, rule, joined_slots, owners, &mine, first, line, &mut by_subject);
                    }
                }
                prev = Some(line);
            }
        }
        out.extend(by_subject.into_values());
    }
}

impl Scanner<'_> {
    /// A message the poster's terminal or editor wrapped over two lines (`… cannot limit locked
    /// memory` / `of process 111 to …`): the patterns are tried on the two lines joined by a
    /// space, and only a match that crosses the join counts (one inside either line alone is
    /// found, or not, on that line). The finding cites the first line.
    #[allow(clippy::too_many_arguments)]
    fn match_wrapped(
        &self,
        sys: &System,
        rule: &Rule,
        joined_slots: &[usize],
        owners: &Owners,
        mine: &[usize],
        first: &LogLine,
        second: &LogLine,
        by_subject: &mut BTreeMap<String, Finding>,
    ) {
        let joined = format!("{} {}", first.message.trim_end(), second.message.trim_start());
        let seam = first.message.trim_end().len();
        for &slot in mine {
            if !joined_slots.contains(&slot) {
                continue;
            }
            let pattern = &rule.patterns[owners[slot].1];
            let Some(caps) = pattern.regex.captures(&joined) else { continue };
            let Some(whole) = caps.get(0) else { continue };
            if whole.start() >= seam || whole.end() <= seam + 1 {
                continue;
            }
            if !requirements_met(sys, pattern, &caps, first) {
                continue;
            }
            record(sys, rule, pattern, &caps, first, by_subject);
        }
    }
}

/// Whether `next` reads as the rest of `line`, wrapped: the next line of the same paste, with
/// no timestamp, no device prefix and no `program:` of its own, starting in lower case or with
/// `(` (`of process 111 to …`, `(Cannot allocate memory)`).
fn wrapped(line: &LogLine, next: &LogLine) -> bool {
    if line.count != 1 || next.count != 1 || next.line_no != line.last_line_no + 1 || line.source != next.source {
        return false;
    }
    if next.timestamp.is_some() || next.device.is_some() {
        return false;
    }
    let rest = next.message.trim_start();
    let Some(first) = rest.split_whitespace().next() else { return false };
    let starts = rest.starts_with('(') || rest.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    starts && !first.ends_with(':') && !line.message.trim_end().is_empty()
}

fn requirements_met(sys: &System, p: &Pattern, caps: &Captures<'_>, line: &LogLine) -> bool {
    if let Some(want) = &p.require.device_driver {
        let Some(addr) = caps.name("device").map(|m| m.as_str()) else { return false };
        // sysfs knows best; a paste only has the driver named in the line's own prefix.
        let driver = match sys.device(addr).and_then(|d| d.driver.clone()) {
            Some(d) => Some(d),
            None => line.device.as_ref().map(|d| d.driver.clone()),
        };
        if driver.as_deref() != Some(want.as_str()) {
            return false;
        }
    }
    if let Some(opt) = &p.require.cmdline_has {
        if !sys.cmdline.as_ref().is_some_and(|c| c.has(opt)) {
            return false;
        }
    }
    if let Some(opt) = &p.require.cmdline_lacks {
        if sys.cmdline.as_ref().is_some_and(|c| c.has(opt)) {
            return false;
        }
    }
    true
}

fn record(sys: &System, rule: &Rule, p: &Pattern, caps: &Captures<'_>, line: &LogLine, by_subject: &mut BTreeMap<String, Finding>) {
    let fill = |template: &str| interpolate(template, sys, caps, line);
    let subject = match &p.subject {
        Some(s) => fill(s),
        None => match caps.name("device") {
            Some(_) => fill("{device.label}"),
            None => rule.title.clone(),
        },
    };
    let finding = by_subject.entry(subject.clone()).or_insert_with(|| Finding {
        code: rule.code.clone(),
        name: rule.name.clone(),
        severity: rule.severity,
            confidence: super::Confidence::Confirmed,
            assumed: Vec::new(),
        title: rule.title.clone(),
        message: fill(&p.message),
        subject,
        evidence: Vec::new(),
        remediation: fill(&p.remediation).trim().to_string(),
        references: rule.references.clone(),
        related: Vec::new(),
    });
    // One evidence entry per source file: its first line, counted.
    let source = line.source.to_string();
    match finding.evidence.iter_mut().find(|e| e.source == source) {
        Some(e) => {
            e.count = Some(e.count.unwrap_or(1) + line.count);
        }
        None => finding.evidence.push(Evidence::from(line)),
    }
}

/// Fill `{capture}`, `{device.name}`, `{device.label}`, `{device.ids}`, `{device.driver}`,
/// `{source}`, `{line}` and `{vm}` in a message template.
fn interpolate(template: &str, sys: &System, caps: &Captures<'_>, line: &LogLine) -> String {
    placeholder_re()
        .replace_all(template, |c: &Captures<'_>| {
            let name = &c[1];
            let device = || caps.name("device").map(|m| m.as_str());
            let dev = || device().and_then(|a| sys.device(a));
            match name {
                "device.name" => dev().map(|d| d.name()).unwrap_or_else(|| "the device".into()),
                "device.label" => dev().map(|d| d.label()).or_else(|| device().map(str::to_string)).unwrap_or_default(),
                "device.ids" => dev().map(|d| d.ids()).unwrap_or_else(|| "????:????".into()),
                "device.driver" => dev()
                    .and_then(|d| d.driver.clone())
                    .or_else(|| line.device.as_ref().map(|d| d.driver.clone()))
                    .unwrap_or_else(|| "no driver".into()),
                "source" => line.source.to_string(),
                "line" => line.line_no.to_string(),
                "vm" => sys.sources.iter().find(|s| *s.path == *line.source).and_then(|s| s.vm.clone()).unwrap_or_else(|| "the VM".into()),
                other => caps.name(other).map(|m| m.as_str().to_string()).unwrap_or_default(),
            }
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::wrapped;
    use crate::system::kernel_log::plain_lines;

    /// kubevirt/kubevirt#17694 as posted: libvirt's message broken after "locked memory".
    #[test]
    fn a_wrapped_message_continues_on_the_next_line() {
        let l = plain_lines("internal error: Process exited prior to exec: libvirt: error : cannot limit locked memory\nof process 111 to 9007199254740991: Operation not permitted\n", "e");
        assert!(wrapped(&l[0], &l[1]));
        // A new message of its own (a `program:` prefix, a timestamp) is not a continuation,
        // and neither is a line further down.
        let l = plain_lines("libvirt: error : cannot limit locked memory\nqemu-system-x86_64: -device vfio-pci: error\n[   12.5] of process 1\n\nof process 2\n", "e");
        assert!(!wrapped(&l[0], &l[1]));
        let k = crate::system::kernel_log::parse("[   12.5] of process 1\n", "d");
        assert!(!wrapped(&l[0], &k[0]));
        assert!(!wrapped(&l[1], &l[3]));
    }
}
