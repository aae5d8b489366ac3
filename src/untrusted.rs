//! The untrusted-input paths end to end, from raw bytes: what `fuzz/` drives with libFuzzer and
//! what the unit tests below run over every fixture, so the fuzz targets cannot drift from the
//! crate. Each may reject its input; none may panic.

use std::sync::OnceLock;

use crate::bundle::{load_str, Bundle};
use crate::commands::check::diagnose;
use crate::report;
use crate::rules::catalog::Catalog;
use crate::signatures::SignatureSet;

/// The built-in catalog and its signature set, parsed once per process.
fn catalog() -> Option<&'static (Catalog, SignatureSet)> {
    static C: OnceLock<Option<(Catalog, SignatureSet)>> = OnceLock::new();
    C.get_or_init(|| {
        let catalog = Catalog::builtin().ok()?;
        let keep = crate::rules::signatures(&catalog);
        Some((catalog, keep))
    })
    .as_ref()
}

/// Render every report format of a diagnosis of `bundle`.
fn diagnose_and_render(bundle: &Bundle) {
    let Some((catalog, _)) = catalog() else { return };
    let r = diagnose(bundle, catalog);
    let _ = report::text::render(&r, report::text::Style::plain());
    let _ = report::markdown::render(&r);
    let _ = report::html::render(&r);
    let _ = report::json::render(&r);
}

/// Someone else's bundle: loaded, parsed, diagnosed and rendered.
pub fn bundle(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(b) = load_str(text) {
        diagnose_and_render(&b);
    }
}

/// A paste: decoded, split at prompts, sniffed, rebuilt into devices and groups, diagnosed.
pub fn paste(data: &[u8]) {
    let Some((_, keep)) = catalog() else { return };
    let mut b = Bundle::new();
    if crate::import::add_bytes(&mut b, "paste.txt", None, data, keep).is_ok() {
        diagnose_and_render(&b);
    }
}

/// A paste as `KIND:PATH` forces it: the first byte picks the kind among every kind `KIND:`
/// accepts, the rest is the paste. So each kind's parser is reached whatever the sniffer makes of
/// the bytes (the `paste_import` fuzz target runs both this and [`paste`]).
pub fn paste_forced(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Some(kind) = forced_kind(selector) else { return };
    let Some((_, keep)) = catalog() else { return };
    let mut b = Bundle::new();
    if crate::import::add_bytes(&mut b, "paste.txt", Some(kind), rest, keep).is_ok() {
        diagnose_and_render(&b);
    }
}

/// The kind a `paste_forced` selector byte picks: every kind `KIND:` accepts, in the enum's order.
pub fn forced_kind(selector: u8) -> Option<crate::bundle::SourceKind> {
    let kinds = crate::import::sniff::kind_words();
    kinds.get(usize::from(selector) % kinds.len().max(1)).map(|(k, _)| *k)
}

/// libvirt domain XML as pasted.
pub fn domain_xml(data: &[u8]) {
    let _ = crate::system::vm::parse_domain(&String::from_utf8_lossy(data), "win10.xml");
}

/// An option ROM dump.
pub fn rom(data: &[u8]) {
    let r = crate::rom::parse(data);
    let _ = r.render();
    let _ = r.ids();
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else {
                out.push(p);
            }
        }
    }

    /// The files fuzz/run.sh seeds the `paste_import` corpus with (keep the two in step): the
    /// pastes, the real corpus's artifacts, the rule cases' loose files, and the PVE fixture
    /// hosts' configs and task logs.
    fn paste_seeds() -> Vec<std::path::PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut all = Vec::new();
        for sub in ["inputs", "real", "rules"] {
            files(&root.join(sub), &mut all);
        }
        for host in std::fs::read_dir(root.join("hosts")).into_iter().flatten().flatten() {
            for sub in ["etc/pve", "var/log/pve/tasks"] {
                files(&host.path().join(sub), &mut all);
            }
        }
        all.retain(|p| !p.extension().is_some_and(|e| e == "toml" || e == "md"));
        all
    }

    /// Every paste kind the sniffer tells has a seed in the fuzz corpus that it tells as that
    /// kind, so the fuzzer starts inside each parser; a new kind without a real paste fails here.
    #[test]
    fn every_paste_kind_has_a_fuzz_seed() {
        use crate::bundle::SourceKind as K;
        let Some((_, keep)) = super::catalog() else { panic!("catalog") };
        let mut seen = std::collections::BTreeMap::new();
        for p in paste_seeds() {
            let Ok(data) = std::fs::read(&p) else { continue };
            // As the fuzz target imports it: transcripts split, islands lifted out of prose.
            let mut b = crate::bundle::Bundle::new();
            if crate::import::add_bytes(&mut b, "paste.txt", None, &data, keep).is_ok() {
                for s in &b.sources {
                    seen.entry(s.kind.name()).or_insert_with(Vec::new).push(p.display().to_string());
                }
            }
        }
        let kinds = [
            K::KernelLog, K::QemuLog, K::XorgLog, K::DomainXml, K::Cmdline, K::BootConfig, K::Modprobe, K::Lspci, K::IommuScript,
            K::RomParser, K::Modules, K::Limits, K::Holders, K::HookTrace, K::QmConfig, K::PveTaskLog, K::QmShowcmd,
            K::PveMapping, K::Dxdiag, K::Pnputil, K::Powershell, K::Text,
        ];
        let missing: Vec<&str> = kinds.iter().map(|k| k.name()).filter(|k| !seen.contains_key(k)).collect();
        assert!(missing.is_empty(), "no fuzz seed sniffed as {missing:?}; seeds per kind: {:?}", seen.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>());
    }

    /// Every fixture through every entry point (the fuzzers' seed corpus, as a smoke test), and
    /// each fixture cut in half, as a truncated paste or download would be.
    #[test]
    fn every_fixture_through_every_entry_point() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut all = Vec::new();
        for sub in ["inputs", "roms", "rules"] {
            files(&root.join(sub), &mut all);
        }
        assert!(all.len() > 50, "{} fixture files", all.len());
        for p in all {
            let data = std::fs::read(&p).unwrap();
            for cut in [data.len(), data.len() / 2] {
                let d = &data[..cut];
                super::paste(d);
                super::domain_xml(d);
                super::rom(d);
                super::bundle(d);
            }
        }
    }

    /// The pastes forced onto every kind in turn (`paste_forced`, the fuzz target's second way),
    /// whole and cut in half: each kind's parser meets text of other kinds, and every kind is hit.
    #[test]
    fn pastes_forced_onto_every_kind() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/inputs");
        let mut all = Vec::new();
        files(&root, &mut all);
        all.retain(|p| p.extension().is_none_or(|e| e != "md"));
        all.sort();
        let kinds = crate::import::sniff::kind_words().len();
        assert!(all.len() >= kinds, "{} pastes for {kinds} kinds", all.len());
        let mut hit = std::collections::BTreeSet::new();
        for (i, p) in all.iter().enumerate() {
            let data = std::fs::read(p).unwrap();
            for cut in [data.len(), data.len() / 2] {
                let mut forced = vec![(i % kinds) as u8];
                forced.extend_from_slice(&data[..cut]);
                super::paste_forced(&forced);
            }
            hit.insert(super::forced_kind((i % kinds) as u8).map(|k| k.name()));
        }
        assert_eq!(hit.len(), kinds);
    }
}
