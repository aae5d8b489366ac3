//! Redaction: replaces identifying values — host and user names, MAC and IP addresses, UUIDs,
//! serial numbers, VNC/SPICE passwords and libvirt secrets, Windows machine names and ids —
//! with consistent placeholders (`host-1`, `user-1`, `mac-1`, …) in every string of a bundle,
//! so evidence still lines up across sources. PCI addresses, vendor:device IDs, drivers,
//! modules, kernel and driver versions are kept: they are the diagnosis.
//!
//! Two passes over the bundle: the first learns the names its contexts give away (`/home/NAME`,
//! a journal line's host, `<serial>`, `passwd='…'`, DxDiag's `Machine name:`), the second
//! rewrites every string in one splice from three linear scans: those contexts, every learned
//! name wherever it stands as a word (one Aho-Corasick automaton), and the shapes of MAC, IP
//! and UUID values (one regex, each match checked against PCI addresses, timestamps, versions).

mod patterns;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

pub use patterns::Category;
use patterns::{classify, contexts, is_uuid, normalise, parse_placeholder, shapes};

use super::Bundle;

/// Learned names shorter than this are replaced only where a context names them
/// (`passwd='ab'`), not wherever the letters occur.
const MIN_ANYWHERE: usize = 3;
/// Learned names shorter than this must stand apart from `-` and `.` too (a host called `bob`
/// is not replaced inside `bob-pc`; `myhost` is, inside `myhost.lan`).
const LOOSE_FROM: usize = 5;

/// The consistent value → placeholder map of one bundle, and the matchers built from it.
#[derive(Debug, Default)]
pub struct Redactor {
    map: HashMap<(Category, String), String>,
    counters: [usize; Category::ALL.len()],
    /// Learned names replaced wherever they stand as a word: (name, placeholder).
    anywhere: Vec<(String, String)>,
    anywhere_keys: HashSet<String>,
    matcher: Option<AhoCorasick>,
}

/// One replacement: `start..end` of the text becomes `with`. At one start, the lower rank wins
/// (a context over a learned name over a shape), then the longer.
struct Span {
    start: usize,
    end: usize,
    rank: u8,
    with: String,
}

/// The category a value is kept under, and its key (`{5B1E…}` → `5b1e…` as a UUID).
fn key(cat: Category, value: &str) -> Option<(Category, String)> {
    // `<host name='192.168.50.40'/>`, `hostname: 10.0.0.5`: an address, numbered with the others.
    if cat == Category::Host && value.trim().parse::<std::net::IpAddr>().is_ok() {
        return Some((Category::Ip, normalise(Category::Ip, value)?));
    }
    let k = normalise(cat, value)?;
    let cat = if cat == Category::Id && is_uuid(&k) { Category::Uuid } else { cat };
    Some((cat, k))
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// The placeholder of `value` as a `cat`, numbering it the first time; `None` for a value
    /// that is kept (`localhost`, `0.0.0.0`, a Windows class GUID, a placeholder already).
    pub fn placeholder(&mut self, cat: Category, value: &str) -> Option<String> {
        let (cat, k) = key(cat, value)?;
        if let Some(p) = self.map.get(&(cat, k.clone())) {
            return Some(p.clone());
        }
        let n = &mut self.counters[cat.index()];
        *n += 1;
        let p = format!("{}-{n}", cat.prefix());
        self.map.insert((cat, k), p.clone());
        Some(p)
    }

    fn lookup(&self, cat: Category, value: &str) -> Option<&str> {
        let k = key(cat, value)?;
        self.map.get(&k).map(String::as_str)
    }

    /// Learn a name (from a context, or known beforehand): it is replaced wherever it stands.
    pub fn learn(&mut self, cat: Category, value: &str) {
        let value = value.trim();
        let Some(p) = self.placeholder(cat, value) else { return };
        if value.chars().count() >= MIN_ANYWHERE && !is_uuid(value.trim_matches(['{', '}'])) && self.anywhere_keys.insert(value.to_ascii_lowercase()) {
            self.anywhere.push((value.to_string(), p));
            self.matcher = None;
        }
        // `myhost.example.com` also names `myhost`.
        if cat == Category::Host && value.starts_with(|c: char| c.is_ascii_alphabetic()) {
            if let Some((first, _)) = value.split_once('.') {
                self.learn(Category::Host, first);
            }
        }
    }

    /// Learn the names `text`'s contexts give away.
    pub fn discover(&mut self, text: &str) {
        for (m, cat) in contexts().values(text) {
            self.learn(cat, m.as_str());
        }
    }

    /// Start numbering after the placeholders a redacted bundle already holds, so a pasted
    /// file added to it gets new numbers, not another host's.
    fn continue_numbering(&mut self, text: &str) {
        static RE: OnceLock<Option<Regex>> = OnceLock::new();
        let Some(re) = RE.get_or_init(|| Regex::new(r"\b(?:host|user|mac|ip|uuid|serial|secret|id)-\d{1,9}\b").ok()).as_ref() else {
            return;
        };
        for m in re.find_iter(text) {
            if let Some((cat, n)) = parse_placeholder(m.as_str()) {
                let c = &mut self.counters[cat.index()];
                *c = (*c).max(n);
            }
        }
    }

    fn build_matcher(&mut self) {
        if self.matcher.is_none() && !self.anywhere.is_empty() {
            self.matcher = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(self.anywhere.iter().map(|(v, _)| v))
                .ok();
        }
    }

    /// `text` with every identifying value replaced, or `None` when there is none.
    pub fn apply(&mut self, text: &str) -> Option<String> {
        let mut spans = Vec::new();
        for (m, cat) in contexts().values(text) {
            let (start, end) = trimmed(text, m.start(), m.end());
            if let Some(p) = self.lookup(cat, &text[start..end]) {
                spans.push(Span { start, end, rank: 0, with: p.to_string() });
            }
        }
        self.build_matcher();
        if let Some(ac) = &self.matcher {
            for m in ac.find_iter(text) {
                let (name, p) = &self.anywhere[m.pattern().as_usize()];
                if stands_alone(text, m.start(), m.end(), name) {
                    spans.push(Span { start: m.start(), end: m.end(), rank: 1, with: p.clone() });
                }
            }
        }
        for m in shapes().find_iter(text) {
            if let Some((cat, start, end)) = classify(text, m.start(), m.end()) {
                if let Some(p) = self.placeholder(cat, &text[start..end]) {
                    spans.push(Span { start, end, rank: 2, with: p });
                }
            }
        }
        if spans.is_empty() {
            return None;
        }
        spans.sort_by(|a, b| a.start.cmp(&b.start).then(a.rank.cmp(&b.rank)).then(b.end.cmp(&a.end)));
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for s in spans {
            if s.start < pos {
                continue;
            }
            out.push_str(&text[pos..s.start]);
            out.push_str(&s.with);
            pos = s.end;
        }
        out.push_str(&text[pos..]);
        Some(out)
    }
}

/// `start..end` without surrounding whitespace.
fn trimmed(text: &str, start: usize, end: usize) -> (usize, usize) {
    let s = &text[start..end];
    let lead = s.len() - s.trim_start().len();
    let tail = s.len() - s.trim_end().len();
    (start + lead, (end - tail).max(start + lead))
}

/// Whether the learned `name` found at `start..end` is a word of its own, not part of one
/// (`alice` in `malice`, `pc` in `pc-q35`).
fn stands_alone(text: &str, start: usize, end: usize, name: &str) -> bool {
    let strict = name.chars().count() < LOOSE_FROM;
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || (strict && matches!(c, '-' | '.')));
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let (prev, next) = (text[..start].chars().next_back(), text[end..].chars().next());
    let glued_before = edge(name.chars().next()) && word(prev);
    let glued_after = edge(name.chars().next_back()) && word(next);
    !(glued_before || glued_after)
}

/// Every string of a bundle: the host facts, each source's name, origin, reason, VM and text
/// (and folded lines), the PCI devices' attributes and notes, the IOMMU groups, the notes.
fn each_string(b: &mut Bundle, f: &mut dyn FnMut(&mut String)) {
    let h = &mut b.host;
    for s in [&mut h.hostname, &mut h.kernel, &mut h.distro, &mut h.distro_id, &mut h.cpu_vendor, &mut h.cpu_model].into_iter().flatten() {
        f(s);
    }
    for s in &mut b.sources {
        f(&mut s.path);
        f(&mut s.origin);
        for t in [&mut s.reason, &mut s.vm, &mut s.text].into_iter().flatten() {
            f(t);
        }
        if let Some(cut) = &mut s.cut {
            for fold in &mut cut.folded {
                f(&mut fold.line);
            }
        }
    }
    for d in &mut b.pci_devices {
        f(&mut d.address);
        for s in [
            &mut d.vendor,
            &mut d.device,
            &mut d.subsystem_vendor,
            &mut d.subsystem_device,
            &mut d.class,
            &mut d.revision,
            &mut d.boot_vga,
            &mut d.driver,
            &mut d.iommu_group,
            &mut d.driver_override,
            &mut d.reset_method,
            &mut d.current_link_speed,
            &mut d.current_link_width,
            &mut d.max_link_speed,
            &mut d.max_link_width,
            &mut d.resource,
            &mut d.origin,
        ]
        .into_iter()
        .flatten()
        {
            f(s);
        }
        d.notes.iter_mut().for_each(&mut *f);
    }
    for g in &mut b.iommu_groups {
        f(&mut g.id);
        g.devices.iter_mut().for_each(&mut *f);
    }
    b.notes.iter_mut().for_each(f);
}

/// Redact a bundle in place and mark it `redacted: true`.
pub fn redact(bundle: &mut Bundle) {
    redact_with(bundle, &[]);
}

/// Redact a bundle, also replacing names known from elsewhere (the user running a live
/// collection). Redacting a redacted bundle again keeps its placeholders and redacts what
/// was added to it since (a pasted file).
pub fn redact_with(bundle: &mut Bundle, known: &[(Category, String)]) {
    let mut r = Redactor::new();
    if bundle.redacted {
        each_string(bundle, &mut |s| r.continue_numbering(s));
    }
    if let Some(h) = bundle.host.hostname.clone() {
        r.learn(Category::Host, &h);
    }
    for (cat, value) in known {
        r.learn(*cat, value);
    }
    each_string(bundle, &mut |s| r.discover(s));
    // The host name field is the name itself, however short.
    if let Some(h) = &mut bundle.host.hostname {
        if let Some(p) = r.lookup(Category::Host, h) {
            *h = p.to_string();
        }
    }
    each_string(bundle, &mut |s| {
        if let Some(new) = r.apply(s) {
            *s = new;
        }
    });
    bundle.redacted = true;
}

#[cfg(test)]
mod tests;
