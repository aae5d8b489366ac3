//! Reading the files that match a glob into sources of one kind. `*` matches within one path
//! component (`etc/libvirt/qemu/*.xml`, `home/*/.local/share/xorg/Xorg.0.log`).

use super::{read_source, unreadable, Options};
use crate::bundle::{Bundle, Source, SourceKind};
use crate::root::{ReadError, Root};

/// Every path under `root` matching `pattern`, sorted.
pub fn glob(root: &Root, pattern: &str) -> Vec<String> {
    let mut paths = vec![String::new()];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for prefix in &paths {
            if !part.contains('*') {
                next.push(join(prefix, part));
                continue;
            }
            let Ok(names) = root.list_dir(prefix) else { continue };
            for name in names {
                if wildcard_match(part, &name) {
                    next.push(join(prefix, &name));
                }
            }
        }
        paths = next;
    }
    paths.retain(|p| root.exists(p));
    paths.sort();
    paths
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// `*` matches any run of characters (not `/`); everything else literally.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let Some(rest) = name.strip_prefix(parts[0]) else { return false };
    let mut rest = rest;
    for (i, part) in parts[1..].iter().enumerate() {
        let last = i == parts.len() - 2;
        if last {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Names the libvirt domain a file belongs to (`win10.log.0` → `win10`).
pub type DomainOf<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Read every file matching any of `patterns` as a source of `kind`. When none matches, one
/// `missing` source records what was looked for, so a rule can say why it did not run.
/// `vm_of` names the domain a file belongs to (or `None`); files of other domains than
/// `options.vm` are skipped. Logs keep `options.keep`'s lines from between head and tail.
pub fn collect_matching(
    root: &Root,
    bundle: &mut Bundle,
    kind: SourceKind,
    patterns: &[&str],
    needs_root: bool,
    vm_of: Option<DomainOf<'_>>,
    options: &Options,
) {
    let only_vm = options.vm.as_deref();
    let mut found = 0;
    // Each real file once: on a merged-/usr system `lib/modprobe.d/x.conf` is
    // `usr/lib/modprobe.d/x.conf` (links resolved inside the root, never out of it).
    let mut seen: std::collections::HashSet<std::path::PathBuf> = std::collections::HashSet::new();
    for pattern in patterns {
        for path in glob(root, pattern) {
            if bundle.sources.iter().any(|s| s.kind == kind && s.path == path) {
                continue;
            }
            if let Ok(real) = root.resolve(&path) {
                if !seen.insert(real) {
                    continue;
                }
            }
            let vm = vm_of.and_then(|f| f(&path));
            if let (Some(want), Some(vm)) = (only_vm, vm.as_deref()) {
                if want != vm {
                    continue;
                }
            }
            let mut source = read_source(root, kind, &path, needs_root, &options.keep);
            source.vm = vm;
            bundle.sources.push(source);
            found += 1;
        }
    }
    if found == 0 {
        let mut s: Source = unreadable(kind, root, patterns[0], &ReadError::Missing, needs_root);
        s.reason = Some(format!("no file matches {}", patterns.iter().map(|p| root.display(p)).collect::<Vec<_>>().join(", ")));
        bundle.sources.push(s);
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.xml", "win10.xml"));
        assert!(!wildcard_match("*.xml", "win10.xml.bak"));
        assert!(wildcard_match("*.log*", "win10.log.0"));
        assert!(wildcard_match("Xorg.*.log", "Xorg.0.log"));
        assert!(wildcard_match("*", "anything"));
    }
}
