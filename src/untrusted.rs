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
}
