//! Whatever a user pasted: sniffed, split at prompts, decoded (UTF-16, 1252), rebuilt into
//! devices and groups, then diagnosed and rendered. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vfio_doctor::bundle::Bundle;
use vfio_doctor::commands::check::diagnose;
use vfio_doctor::import::add_bytes;
use vfio_doctor::report;
use vfio_doctor::rules::catalog::Catalog;

/// The built-in catalog, parsed once (its regexes dominate a run otherwise).
fn catalog() -> Option<&'static Catalog> {
    static CATALOG: std::sync::OnceLock<Option<Catalog>> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| Catalog::builtin().ok()).as_ref()
}

fuzz_target!(|data: &[u8]| {
    let mut bundle = Bundle::new();
    if add_bytes(&mut bundle, "paste.txt", None, data, false).is_err() {
        return;
    }
    let Some(catalog) = catalog() else { return };
    let report = diagnose(&bundle, catalog);
    let _ = report::text::render(&report, report::text::Style::plain());
    let _ = report::markdown::render(&report);
});
