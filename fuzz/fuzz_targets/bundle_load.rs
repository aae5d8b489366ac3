//! A bundle from someone else: load it, parse it into the System, run every rule and render
//! every report format. Nothing may panic, whatever the JSON holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vfio_doctor::bundle::load_str;
use vfio_doctor::commands::check::diagnose;
use vfio_doctor::report;
use vfio_doctor::rules::catalog::Catalog;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(bundle) = load_str(text) else { return };
    let Ok(catalog) = Catalog::builtin() else { return };
    let report = diagnose(&bundle, &catalog);
    let _ = report::text::render(&report, report::text::Style::plain());
    let _ = report::markdown::render(&report);
    let _ = report::html::render(&report);
    let _ = report::json::render(&report);
});
