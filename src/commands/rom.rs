//! `vfio-doctor rom FILE [--device VVVV:DDDD]`: the ROM's image chain (rom-parser's report, plus
//! the EFI/PE details) and the findings of the catalog's ROM rules, run on a one-source bundle
//! exactly as `check` runs them on a bundle's ROMs.

use std::path::PathBuf;

use base64::Engine as _;
use serde::Serialize;

use super::emit;
use crate::bundle::{Bundle, Source, SourceKind, Status};
use crate::rom::{Image, Problem};
use crate::rules::{self, Catalog, Evidence, Finding, NotEvaluated, Severity};
use crate::system::rom::Expected;
use crate::system::System;
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RomFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct RomOptions {
    pub file: PathBuf,
    pub device: Option<String>,
    pub format: RomFormat,
}

/// The `--format json` document.
#[derive(Debug, Serialize)]
pub struct RomReport<'a> {
    pub file: String,
    pub size: usize,
    /// Offset of the first image (non-zero: a dump header precedes it).
    pub start: usize,
    pub images: &'a [Image],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<&'a Problem>,
    pub trailing: usize,
    pub findings: &'a [Finding],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub not_evaluated: &'a [NotEvaluated],
}

/// `10de:1c02` → (0x10de, 0x1c02).
pub fn parse_ids(s: &str) -> Option<(u16, u16)> {
    let (v, d) = s.trim().split_once(':')?;
    let hex = |x: &str| (x.len() == 4).then(|| u16::from_str_radix(x, 16).ok()).flatten();
    Some((hex(v)?, hex(d)?))
}

/// Inspect the ROM; returns whether error findings exist (exit 1).
pub fn run(opts: &RomOptions) -> Result<bool, Error> {
    let expected = match &opts.device {
        Some(d) => Some(parse_ids(d).ok_or_else(|| Error::Usage(format!("--device {d}: expected vendor:device in hex, e.g. 10de:1c02")))?),
        None => None,
    };
    let read = crate::root::read_capped(&opts.file, crate::import::INPUT_CAP)
        .map_err(|e| Error::input(&opts.file, format!("cannot read: {e}")))?;
    let name = opts.file.display().to_string();
    let out = inspect(&name, &read.bytes, expected)?;
    emit(if opts.format == RomFormat::Json { &out.json } else { &out.text }, None)?;
    Ok(out.errors > 0)
}

/// What `rom` prints, in both formats, and how many error findings there are.
#[derive(Debug)]
pub struct Inspection {
    pub text: String,
    pub json: String,
    pub errors: usize,
}

/// The text and JSON reports for ROM bytes named `name` (no I/O; the tests call this).
pub fn inspect(name: &str, bytes: &[u8], expected: Option<(u16, u16)>) -> Result<Inspection, Error> {
    let mut bundle = Bundle::new();
    bundle.sources.push(Source {
        kind: SourceKind::Rom,
        path: name.to_string(),
        origin: "input".into(),
        status: Status::Ok,
        reason: None,
        vm: None,
        text: None,
        base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        cut: None,
    });
    let mut sys = System::from_bundle(&bundle);
    if let (Some((vendor, device)), Some(rom)) = (expected, sys.roms.first_mut()) {
        let ids = format!("{vendor:04x}:{device:04x}");
        rom.expected = Some(Expected {
            vendor,
            device,
            why: format!("--device {ids}"),
            address: None,
            name: None,
            evidence: vec![Evidence::new("command line", "--device", ids)],
        });
    }
    let mut catalog = Catalog::builtin()?;
    catalog.retain(|r| r.needs.iter().any(|any| any.contains(&SourceKind::Rom)));
    let outcome = rules::run(&sys, &catalog);
    let Some(rom) = sys.roms.first() else {
        return Err(Error::input(name, "could not be read as a ROM"));
    };
    let report = RomReport {
        file: name.to_string(),
        size: rom.rom.size,
        start: rom.rom.start,
        images: &rom.rom.images,
        problem: rom.rom.problem.as_ref(),
        trailing: rom.rom.trailing,
        findings: &outcome.findings,
        not_evaluated: &outcome.not_evaluated,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::input(name, format!("cannot render JSON: {e}")))? + "\n";

    let mut text = format!("{name}: {} bytes\n", rom.rom.size);
    text.push_str(&rom.rom.render());
    text.push('\n');
    if outcome.findings.is_empty() {
        text.push_str("No problems found by the ROM rules.\n");
    }
    for f in &outcome.findings {
        text.push_str(&format!("{}[{}] {}: {}\n", f.severity, f.code, f.name, f.title));
        text.push_str(&format!("  {}\n", f.message));
        if !f.remediation.is_empty() {
            text.push_str("  fix:\n");
            for line in f.remediation.lines() {
                text.push_str(&format!("    {line}\n").replace("    \n", "\n"));
            }
        }
        text.push_str(&format!("  more: vfio-doctor explain {}\n\n", f.name));
    }
    for n in &outcome.not_evaluated {
        text.push_str(&format!("not evaluated: {} ({}): {}\n", n.rule, n.code, n.reason));
    }
    let errors = outcome.findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = outcome.findings.iter().filter(|f| f.severity == Severity::Warning).count();
    text.push_str(&format!("{errors} error(s), {warnings} warning(s)\n"));
    Ok(Inspection { text, json, errors })
}
