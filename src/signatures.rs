//! Log signatures: the regexes whose lines a long log must keep (the rule catalog's patterns,
//! and what logic rules and the System read from logs), behind a literal prefilter, so that
//! collection can keep every line a rule needs without knowing any rule. The rule catalog
//! builds the set (`rules::signatures`); collection and import only ask it about lines.

use std::sync::Arc;

use aho_corasick::AhoCorasick;
use regex::bytes::RegexSet;
use regex_syntax::hir::{Class, Hir, HirKind};

/// The signature set as collection and import hold it.
pub type Keep = Arc<SignatureSet>;

/// Literals shorter than this make a poor prefilter (`0x`, `: `): a pattern whose best literal is
/// shorter is treated as having none, and then every line is a candidate.
pub const MIN_LITERAL: usize = 4;

/// A set of line signatures with a literal prefilter: a line is a candidate only if it
/// contains one of the literals that some signature requires; a candidate is kept if a
/// signature regex matches it.
#[derive(Debug, Default)]
pub struct SignatureSet {
    patterns: Vec<String>,
    set: Option<RegexSet>,
    literals: Vec<String>,
    /// Case-sensitive literals (fast, SIMD) and the few written case-insensitively.
    prefilters: Vec<Prefilter>,
    /// Some signature requires no literal of [`MIN_LITERAL`] bytes: every line is a candidate.
    every_line: bool,
}

impl SignatureSet {
    /// No signatures: a capture keeps only head and tail.
    pub fn empty() -> Keep {
        Arc::new(SignatureSet::default())
    }

    /// Build a set from regexes (Rust `regex` syntax). Duplicates are dropped; a pattern that
    /// does not parse is left out (catalog patterns were compiled when the catalog loaded).
    pub fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> SignatureSet {
        let mut kept: Vec<String> = Vec::new();
        // (literal, case-insensitive)
        let mut literals: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut every_line = false;
        for p in patterns {
            let p = p.as_ref();
            if kept.iter().any(|k| k == p) {
                continue;
            }
            let Ok(hir) = regex_syntax::Parser::new().parse(p) else { continue };
            kept.push(p.to_string());
            match required_literals(&hir).filter(|l| l.score() >= MIN_LITERAL) {
                Some(lits) => {
                    for l in lits.alternatives {
                        let l = (l, lits.case_insensitive);
                        if !literals.contains(&l) {
                            literals.push(l);
                        }
                    }
                }
                None => every_line = true,
            }
        }
        // One pattern the engine refuses (size limits) must not lose the others' lines: then
        // every candidate is kept, which the capture's budget still bounds.
        let set = RegexSet::new(&kept).ok();
        every_line |= set.is_none() && !kept.is_empty();
        // A literal that contains another finds no line the other does not: dropping it keeps
        // the same candidates with fewer literals, which keeps the prefilter on Teddy.
        let all = literals.clone();
        literals.retain(|(l, ci)| !all.iter().any(|(m, m_ci)| m != l && (*m_ci || !*ci) && contains(l, m, *m_ci)));
        let mut prefilters = Vec::new();
        if !every_line {
            for ci in [false, true] {
                let group: Vec<&[u8]> = literals.iter().filter(|(_, c)| *c == ci).map(|(l, _)| l.as_slice()).collect();
                if group.is_empty() {
                    continue;
                }
                // Teddy (SIMD) takes at most TEDDY_LITERALS literals and slows down well before
                // its hard limit; a larger set is searched by several Teddy searchers, each one
                // pass over the text, which stays faster than one automaton up to a few of them.
                let chunks = if ci { 1 } else { group.len().div_ceil(TEDDY_LITERALS) };
                let per = group.len().div_ceil(chunks.max(1)).max(1);
                for chunk in group.chunks(per) {
                    match Prefilter::new(chunk, ci) {
                        Some(p) => prefilters.push(p),
                        None => every_line = true,
                    }
                }
            }
        }
        every_line |= prefilters.is_empty() && !kept.is_empty();
        if every_line {
            prefilters.clear();
        }
        SignatureSet {
            patterns: kept,
            set,
            literals: literals.into_iter().map(|(l, _)| String::from_utf8_lossy(&l).into_owned()).collect(),
            prefilters,
            every_line,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The regexes, one per signature (what `rules --patterns` prints).
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The prefilter's literals.
    pub fn literals(&self) -> &[String] {
        &self.literals
    }

    /// Whether the prefilter cannot rule lines out (some signature has no literal).
    pub fn every_line_is_candidate(&self) -> bool {
        self.every_line
    }

    /// A cursor over `haystack` that finds the candidate positions in it, in order.
    pub fn candidates<'s, 'h>(&'s self, haystack: &'h [u8]) -> Candidates<'s, 'h> {
        Candidates { set: self, haystack, next: vec![Pending::Unknown; self.prefilters.len()] }
    }

    /// The offset in `haystack` of the first prefilter literal, if any (see [`candidates`](Self::candidates)).
    pub fn next_candidate(&self, haystack: &[u8]) -> Option<usize> {
        self.candidates(haystack).next_from(0)
    }

    /// Whether a signature matches the line, or its message (the line without its timestamp
    /// and syslog prefix, which is what anchored patterns are written against).
    pub fn matches(&self, line: &[u8], message: &[u8]) -> bool {
        match &self.set {
            Some(set) => set.is_match(message) || (message.len() != line.len() && set.is_match(line)),
            None => !self.is_empty(),
        }
    }
}

/// The most case-sensitive literals one Teddy searcher is given (aho-corasick's packed
/// searcher refuses more than 128; below this it stays near memory speed).
const TEDDY_LITERALS: usize = 80;

/// A multi-literal searcher: SIMD (Teddy) for up to 128 case-sensitive literals, else an
/// Aho-Corasick automaton.
#[derive(Debug)]
enum Prefilter {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl Prefilter {
    fn new(literals: &[&[u8]], case_insensitive: bool) -> Option<Prefilter> {
        if !case_insensitive {
            // Teddy's default limit of 64 literals is a heuristic against an automaton; with
            // this set's literals (≥ 4 bytes) Teddy stays several times faster up to its hard
            // limit of 128 (aho-corasick 1.1: 80 literals, 256 MiB of QEMU log, 55 ms against
            // the automaton's 200 ms).
            let mut config = aho_corasick::packed::Config::new();
            config.heuristic_pattern_limits(false);
            let packed = config.builder().extend(literals).build();
            if let Some(p) = packed {
                return Some(Prefilter::Packed(p));
            }
        }
        // Leftmost semantics let aho-corasick use its SIMD prefilter where it can.
        AhoCorasick::builder()
            .ascii_case_insensitive(case_insensitive)
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(literals)
            .ok()
            .map(Prefilter::Automaton)
    }

    fn find(&self, haystack: &[u8]) -> Option<usize> {
        match self {
            Prefilter::Packed(p) => p.find(haystack).map(|m| m.start()),
            Prefilter::Automaton(ac) => ac.find(haystack).map(|m| m.start()),
        }
    }
}

/// Where the next hit of one prefilter is, once looked for.
#[derive(Debug, Clone, Copy)]
enum Pending {
    Unknown,
    At(usize),
    None,
}

/// Candidate positions in one haystack. Each prefilter's next hit is remembered, so that
/// asking again from a later position does not search the same bytes twice.
pub struct Candidates<'s, 'h> {
    set: &'s SignatureSet,
    haystack: &'h [u8],
    /// One entry per prefilter.
    next: Vec<Pending>,
}

impl Candidates<'_, '_> {
    /// The first candidate position at or after `from`. With no usable prefilter, every
    /// position is one.
    pub fn next_from(&mut self, from: usize) -> Option<usize> {
        if self.set.is_empty() || from >= self.haystack.len() {
            return None;
        }
        if self.set.every_line {
            return Some(from);
        }
        let mut best: Option<usize> = None;
        for (ac, next) in self.set.prefilters.iter().zip(self.next.iter_mut()) {
            let stale = match *next {
                Pending::Unknown => true,
                Pending::At(p) => p < from,
                Pending::None => false,
            };
            if stale {
                *next = match ac.find(&self.haystack[from..]) {
                    Some(at) => Pending::At(from + at),
                    None => Pending::None,
                };
            }
            if let Pending::At(p) = *next {
                best = Some(best.map_or(p, |b| b.min(p)));
            }
        }
        best
    }
}

/// Literals at least one of which every match contains, and whether they are to be compared
/// ignoring ASCII case.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Literals {
    alternatives: Vec<Vec<u8>>,
    case_insensitive: bool,
}

impl Literals {
    fn one(bytes: Vec<u8>, case_insensitive: bool) -> Literals {
        Literals { alternatives: vec![bytes], case_insensitive }
    }

    /// How good a prefilter this is: the length of its shortest alternative.
    fn score(&self) -> usize {
        self.alternatives.iter().map(Vec::len).min().unwrap_or(0)
    }

    /// A case-sensitive literal long enough for the prefilter beats any case-insensitive one:
    /// it joins the SIMD searchers, where a case-insensitive literal costs a pass of its own
    /// (`[Ff]ailed to set iommu` is better looked for as `ailed to set iommu`).
    fn better_than(&self, other: &Literals) -> bool {
        let key = |l: &Literals| (!l.case_insensitive && l.score() >= MIN_LITERAL, l.score(), std::cmp::Reverse(l.alternatives.len()));
        key(self) > key(other)
    }
}

/// Alternations wider than this are not worth a prefilter.
const MAX_ALTERNATIVES: usize = 32;

/// A set of literals every match of `hir` must contain, if there is one.
fn required_literals(hir: &Hir) -> Option<Literals> {
    match hir.kind() {
        HirKind::Literal(lit) => Some(Literals::one(lit.0.to_vec(), false)),
        HirKind::Class(_) => single_char(hir).map(|(b, ci)| Literals::one(b, ci)),
        HirKind::Capture(c) => required_literals(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required_literals(&r.sub),
        HirKind::Concat(parts) => {
            let mut best: Option<Literals> = None;
            let mut consider = |cand: Literals| {
                if best.as_ref().is_none_or(|b| cand.better_than(b)) {
                    best = Some(cand);
                }
            };
            // Adjacent exact pieces join into one longer literal; its case-sensitive stretches
            // (between pieces written case-insensitively) are candidates too.
            let mut run: Vec<u8> = Vec::new();
            let mut run_ci = false;
            let mut sensitive: Vec<u8> = Vec::new();
            for part in parts {
                if let Some((bytes, ci)) = exact(part) {
                    run.extend_from_slice(&bytes);
                    run_ci |= ci;
                    if ci {
                        if run_ci && !sensitive.is_empty() {
                            consider(Literals::one(std::mem::take(&mut sensitive), false));
                        }
                        sensitive.clear();
                    } else {
                        sensitive.extend_from_slice(&bytes);
                    }
                    continue;
                }
                if matches!(part.kind(), HirKind::Look(_)) {
                    // Zero-width: the pieces around it are still adjacent in the text.
                    continue;
                }
                if !run.is_empty() {
                    if run_ci && !sensitive.is_empty() {
                        consider(Literals::one(std::mem::take(&mut sensitive), false));
                    }
                    consider(Literals::one(std::mem::take(&mut run), run_ci));
                    run_ci = false;
                }
                sensitive.clear();
                if let Some(inner) = required_literals(part) {
                    consider(inner);
                }
            }
            if !run.is_empty() {
                if run_ci && !sensitive.is_empty() {
                    consider(Literals::one(sensitive, false));
                }
                consider(Literals::one(run, run_ci));
            }
            best
        }
        HirKind::Alternation(branches) => {
            let mut all = Literals { alternatives: Vec::new(), case_insensitive: false };
            for b in branches {
                let lits = required_literals(b)?;
                all.case_insensitive |= lits.case_insensitive;
                for l in lits.alternatives {
                    if !all.alternatives.contains(&l) {
                        all.alternatives.push(l);
                    }
                }
            }
            (all.alternatives.len() <= MAX_ALTERNATIVES).then_some(all)
        }
        _ => None,
    }
}

/// The exact text a piece always matches (a literal, a one-character class, a capture of
/// either), and whether it was written case-insensitively.
fn exact(hir: &Hir) -> Option<(Vec<u8>, bool)> {
    match hir.kind() {
        HirKind::Literal(lit) => Some((lit.0.to_vec(), false)),
        HirKind::Class(_) => single_char(hir),
        HirKind::Capture(c) => exact(&c.sub),
        HirKind::Concat(parts) => {
            let mut out = Vec::new();
            let mut ci = false;
            for p in parts {
                if matches!(p.kind(), HirKind::Look(_)) {
                    continue;
                }
                let (b, c) = exact(p)?;
                out.extend(b);
                ci |= c;
            }
            Some((out, ci))
        }
        _ => None,
    }
}

/// Whether `haystack` contains `needle` (ignoring ASCII case when `case_insensitive`).
fn contains(haystack: &[u8], needle: &[u8], case_insensitive: bool) -> bool {
    needle.len() <= haystack.len()
        && haystack.windows(needle.len()).any(|w| if case_insensitive { w.eq_ignore_ascii_case(needle) } else { w == needle })
}

/// A class that stands for one character: `[a]`, or `[aA]` as `(?i)a` writes it (non-ASCII
/// case variants such as the Kelvin sign are ignored: logs do not spell `k` with it).
fn single_char(hir: &Hir) -> Option<(Vec<u8>, bool)> {
    let HirKind::Class(class) = hir.kind() else { return None };
    let mut chars: Vec<u32> = Vec::new();
    match class {
        Class::Unicode(u) => {
            for r in u.ranges() {
                if (r.end() as u32) - (r.start() as u32) > 1 {
                    return None;
                }
                chars.extend((r.start() as u32)..=(r.end() as u32));
            }
        }
        Class::Bytes(b) => {
            for r in b.ranges() {
                if r.end() - r.start() > 1 {
                    return None;
                }
                chars.extend((r.start() as u32)..=(r.end() as u32));
            }
        }
    }
    let ascii: Vec<u8> = chars.iter().filter(|&&c| c < 0x80).map(|&c| c as u8).collect();
    match ascii.as_slice() {
        [c] if chars.len() == 1 => Some((vec![*c], false)),
        [a, b] if a.eq_ignore_ascii_case(b) && a != b => Some((vec![a.to_ascii_lowercase()], true)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(p: &str) -> Option<Literals> {
        required_literals(&regex_syntax::Parser::new().parse(p).unwrap())
    }

    #[test]
    fn extracts_the_longest_required_literal() {
        let bar = r"(?P<device>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]): BAR (?P<bar>[0-5])(?::| \[[^\]]+\]:) can't reserve";
        assert_eq!(lits(bar).unwrap().alternatives, vec![b" can't reserve".to_vec()]);
        let busy = r"vfio_region_write\((?P<device>[0-9a-f:.]+):region(?P<bar>\d+)";
        assert_eq!(lits(busy).unwrap().alternatives, vec![b"vfio_region_write(".to_vec()]);
        let alt = lits(r"^(?:AMD-Vi|DMAR): (?:IOMMU|Interrupt remapping) enabled").unwrap();
        assert_eq!(alt.alternatives, vec![b" enabled".to_vec()]);
        let ci = lits(r"(?i)group \d+ is not viable").unwrap();
        assert_eq!((ci.alternatives, ci.case_insensitive), (vec![b" is not viable".to_vec()], true));
        assert_eq!(lits(r"\d+ \w+").unwrap().score(), 1);
        assert_eq!(lits(r"\d+\w*"), None);
        assert_eq!(lits(r"(?:foo)?bar").unwrap().alternatives, vec![b"bar".to_vec()]);
        // A case-insensitive first letter: the case-sensitive rest is the better literal.
        let cased = lits(r"[Ff]ailed to set iommu for container: (?i:operation) not permitted").unwrap();
        assert_eq!((cased.alternatives, cased.case_insensitive), (vec![b"ailed to set iommu for container: ".to_vec()], false));
        let short = lits(r"[Ff]ai(?i)led").unwrap();
        assert_eq!((short.alternatives, short.case_insensitive), (vec![b"failed".to_vec()], true));
    }

    #[test]
    fn candidates_and_matches() {
        let set = SignatureSet::new([r"^BAR \d: can't reserve", r"vfio_region_write\(.*busy"]);
        assert!(!set.every_line_is_candidate());
        let hay = b"noise\n[ 1.0] BAR 1: can't reserve\n";
        let at = set.next_candidate(hay).unwrap();
        assert_eq!(&hay[at..at + 7], b": can't");
        assert!(set.matches(b"[ 1.0] BAR 1: can't reserve", b"BAR 1: can't reserve"));
        assert!(!set.matches(b"[ 1.0] BAR 1: reserved", b"BAR 1: reserved"));
        assert_eq!(set.next_candidate(b"nothing here\n"), None);
        let loose = SignatureSet::new([r"\d+"]);
        assert!(loose.every_line_is_candidate());
        assert_eq!(loose.next_candidate(b"x"), Some(0));
        assert_eq!(SignatureSet::empty().next_candidate(b"x"), None);
    }

    #[test]
    fn a_literal_that_contains_another_is_dropped() {
        let set = SignatureSet::new([r"BAR \d: can't reserve", r"can't reserve", r"(?i)CAN'T RESERVE now", r"(?i)xyz\d+ is busy", r"xyz\d is busy now"]);
        // `: can't reserve` goes (it contains `can't reserve`), `can't reserve now` written
        // case-insensitively stays (a case-sensitive literal does not find `CAN'T`), ` is busy
        // now` goes (the case-insensitive ` is busy` finds it).
        assert_eq!(set.literals(), ["can't reserve", "can't reserve now", " is busy"]);
        assert_eq!(set.next_candidate(b"noise\n[ 1.0] BAR 1: can't reserve\n"), Some(20));
        assert_eq!(set.next_candidate(b"x CAN'T RESERVE NOW\n"), Some(2));
        assert_eq!(set.next_candidate(b"xyz1 is busy now\n"), Some(4));
    }

    #[test]
    fn many_literals_are_split_across_teddy_searchers() {
        let patterns: Vec<String> = (0..200).map(|i| format!("signature number {i:03} failed")).collect();
        let set = SignatureSet::new(&patterns);
        assert!(!set.every_line_is_candidate());
        assert_eq!(set.literals().len(), 200);
        assert!(set.prefilters.len() >= 3 && set.prefilters.iter().all(|p| matches!(p, Prefilter::Packed(_))));
        for i in [0, 79, 80, 150, 199] {
            let hay = format!("noise line\nsomething signature number {i:03} failed here\n");
            let at = set.next_candidate(hay.as_bytes()).expect("found");
            assert_eq!(&hay[at..at + 16], "signature number");
        }
        assert_eq!(set.next_candidate(b"signature number 200 failed\n"), None);
    }
}
