//! `vfio-doctor collect`: write a (redacted) bundle to `-o FILE` or stdout.

use std::path::PathBuf;

use super::{emit, obtain_bundle, Origin};
use crate::bundle;
use crate::Error;

pub fn run(origin: &Origin, output: Option<&PathBuf>) -> Result<(), Error> {
    let bundle = obtain_bundle(origin)?;
    match output {
        Some(path) => bundle::save(&bundle, path)?,
        None => emit(&(bundle::to_json(&bundle) + "\n"), None)?,
    }
    if let Some(path) = output {
        let failed: Vec<String> = bundle
            .sources
            .iter()
            .filter(|s| !s.is_ok())
            .map(|s| format!("  {}: {}", s.kind.name(), s.reason.clone().unwrap_or_else(|| s.status.to_string())))
            .collect();
        eprintln!(
            "vfio-doctor: wrote {} ({} sources, {} PCI devices{})",
            path.display(),
            bundle.sources.len(),
            bundle.pci_devices.len(),
            if bundle.redacted { ", redacted" } else { ", NOT redacted" }
        );
        if !failed.is_empty() {
            eprintln!("not collected:\n{}", failed.join("\n"));
        }
        let cut: Vec<String> = bundle
            .sources
            .iter()
            .filter_map(|s| {
                let c = s.cut.as_ref()?;
                let folded: u64 = c.folded.iter().map(|f| f.count).sum();
                Some(format!(
                    "  {}: {} lines, kept {} KiB: head, tail and {folded} signature line(s) from between",
                    s.path,
                    c.original_lines,
                    c.kept_bytes / 1024
                ))
            })
            .collect();
        if !cut.is_empty() {
            eprintln!("cut to fit (the bundle records what was left out):\n{}", cut.join("\n"));
        }
    }
    Ok(())
}
