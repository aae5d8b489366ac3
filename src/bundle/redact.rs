//! Redaction: replaces identifying values with consistent placeholders (`host-1`, `user-1`, …)
//! in every source, so evidence still lines up across sources. PCI addresses, vendor:device
//! IDs, drivers, modules and kernel versions are kept: they are the diagnosis.

use std::collections::BTreeMap;

use super::Bundle;

/// The consistent value → placeholder maps, shared across all sources of one bundle.
#[derive(Debug, Default)]
pub struct Redactor {
    map: BTreeMap<String, String>,
    counters: BTreeMap<&'static str, usize>,
}

impl Redactor {
    /// The placeholder for `value` in category `kind` (`host`, `user`, …); the same value
    /// always gets the same placeholder.
    pub fn placeholder(&mut self, kind: &'static str, value: &str) -> String {
        if let Some(p) = self.map.get(value) {
            return p.clone();
        }
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        let p = format!("{kind}-{n}");
        self.map.insert(value.to_string(), p.clone());
        p
    }

    /// Replace every known value in `text`, longest first so `bob-pc` wins over `bob`.
    pub fn apply(&self, text: &str) -> String {
        let mut keys: Vec<&String> = self.map.keys().collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
        let mut out = text.to_string();
        for k in keys {
            if k.len() >= 2 && out.contains(k.as_str()) {
                out = out.replace(k.as_str(), &self.map[k]);
            }
        }
        out
    }
}

/// Redact a bundle in place and mark it `redacted: true`.
pub fn redact(bundle: &mut Bundle) {
    let mut r = Redactor::default();
    if let Some(h) = bundle.host.hostname.clone() {
        if !h.is_empty() {
            r.placeholder("host", &h);
        }
    }
    for s in &bundle.sources {
        // A long log's folded middle lines (`cut.folded`) are text of the source too.
        let folded = s.cut.iter().flat_map(|c| c.folded.iter().map(|f| f.line.as_str()));
        for path in [Some(s.path.as_str()), s.text.as_deref()].into_iter().flatten().chain(folded) {
            for user in home_users(path) {
                r.placeholder("user", &user);
            }
        }
    }
    bundle.host.hostname = bundle.host.hostname.as_deref().map(|h| r.apply(h));
    for s in &mut bundle.sources {
        s.path = r.apply(&s.path);
        if let Some(t) = &s.text {
            s.text = Some(r.apply(t));
        }
        if let Some(reason) = &s.reason {
            s.reason = Some(r.apply(reason));
        }
        for f in s.cut.iter_mut().flat_map(|c| c.folded.iter_mut()) {
            f.line = r.apply(&f.line);
        }
    }
    bundle.notes = bundle.notes.iter().map(|n| r.apply(n)).collect();
    bundle.redacted = true;
}

/// User names that appear as `/home/NAME`.
fn home_users(text: &str) -> Vec<String> {
    let mut users = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("/home/") {
        let after = &rest[i + 6..];
        let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')).collect();
        if !name.is_empty() && !users.contains(&name) {
            users.push(name);
        }
        rest = after;
    }
    users
}
