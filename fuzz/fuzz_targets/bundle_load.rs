//! A bundle from someone else: load it, parse it into the System, run every rule and render
//! every report format. Nothing may panic, whatever the JSON holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vfio_doctor::bundle::load_str;
use vfio_doctor::commands::check::diagnose;
use vfio_doctor::report;
use vfio_doctor::rules::catalog::Catalog;

/// The built-in catalog, parsed once (its regexes dominate a run otherwise).
fn catalog() -> Option<&'static Catalog> {
    static CATALOG: std::sync::OnceLock<Option<Catalog>> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| Catalog::builtin().ok()).as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(bundle) = load_str(text) else { return };
    let Some(catalog) = catalog() else { return };
    let report = diagnose(&bundle, catalog);
    let _ = report::text::render(&report, report::text::Style::plain());
    let _ = report::markdown::render(&report);
    let _ = report::html::render(&report);
    let _ = report::json::render(&report);
});
