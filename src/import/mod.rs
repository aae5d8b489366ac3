//! Loose inputs (forum pastes, single files): sniffed by content or forced with `KIND:PATH`,
//! and added to a bundle as sources.

use std::path::{Path, PathBuf};

use crate::bundle::{Bundle, Source, SourceKind};
use crate::Error;

/// The largest loose input read; beyond it head and tail are kept.
pub const INPUT_CAP: u64 = 64 * 1024 * 1024;

/// One INPUT argument: a path (or `-`), with an optional forced kind.
#[derive(Debug, Clone)]
pub struct Input {
    pub kind: Option<SourceKind>,
    pub path: PathBuf,
}

impl Input {
    /// Parse `KIND:PATH`, `PATH` or `-`. A prefix that is not a known kind is part of the path.
    pub fn parse(arg: &str) -> Input {
        if let Some((kind, path)) = arg.split_once(':') {
            let kind = match kind {
                "dmesg" => Some(SourceKind::KernelLog),
                "iommu-groups" => Some(SourceKind::IommuScript),
                "modprobe" => Some(SourceKind::Modprobe),
                "grub" => Some(SourceKind::BootConfig),
                other => SourceKind::from_name(other),
            };
            if let Some(kind) = kind {
                return Input { kind: Some(kind), path: PathBuf::from(path) };
            }
        }
        Input { kind: None, path: PathBuf::from(arg) }
    }

    fn name(&self) -> String {
        if self.path == Path::new("-") {
            "stdin".into()
        } else {
            self.path.display().to_string()
        }
    }
}

/// Read each input, tell its kind, and add it to `bundle`.
pub fn add_inputs(bundle: &mut Bundle, inputs: &[Input]) -> Result<(), Error> {
    for input in inputs {
        let bytes = read_input(input)?;
        let name = input.name();
        if input.kind == Some(SourceKind::Rom) {
            // Binary: kept as base64 (Source.base64), parsed by system::rom.
            use base64::Engine as _;
            let mut s = Source::ok(SourceKind::Rom, name, "input", String::new());
            s.text = None;
            s.base64 = Some(base64::engine::general_purpose::STANDARD.encode(&bytes));
            bundle.sources.push(s);
            continue;
        }
        let text = decode_text(&bytes);
        let kind = input.kind.unwrap_or_else(|| sniff(&text));
        if kind == SourceKind::Text {
            bundle.notes.push(format!("{name}: kind not recognised, scanned for known messages"));
        }
        let (text, cut) = crate::collect::capture_text(text.as_bytes(), false);
        let mut s = Source::ok(kind, name, "input", text);
        s.cut = cut;
        bundle.sources.push(s);
    }
    Ok(())
}

fn read_input(input: &Input) -> Result<Vec<u8>, Error> {
    if input.path == Path::new("-") {
        use std::io::Read;
        let mut buf = Vec::new();
        std::io::stdin().take(INPUT_CAP).read_to_end(&mut buf).map_err(|e| Error::input("stdin", e.to_string()))?;
        return Ok(buf);
    }
    let read = crate::root::read_capped(&input.path, INPUT_CAP).map_err(|e| Error::input(&input.path, format!("cannot read: {e}")))?;
    Ok(read.bytes)
}

/// Bytes to text: a BOM picks the encoding (Windows writes DxDiag as UTF-16 LE with `FF FE`;
/// signatures.md §6.1); BOM-less UTF-16 LE is told by its NUL high bytes; otherwise UTF-8,
/// falling back to Windows-1252 for bytes that are not UTF-8.
pub fn decode_text(bytes: &[u8]) -> String {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        return encoding.decode_without_bom_handling(&bytes[bom..]).0.into_owned();
    }
    let head = &bytes[..bytes.len().min(4096)];
    let odd_nuls = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    if head.len() >= 4 && odd_nuls * 4 >= head.len() / 2 * 3 {
        return encoding_rs::UTF_16LE.decode_without_bom_handling(bytes).0.into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned(),
    }
}

/// Tell the kind of a text from its content.
pub fn sniff(text: &str) -> SourceKind {
    let head: String = text.chars().take(64 * 1024).collect();
    let kernel_markers = ["] Linux version", "] Command line:", "kernel: ", "] pci 0000:", "] vfio", "] NVRM:", "] DMAR:", "] AMD-Vi:"];
    if head.trim_start().starts_with("<domain") {
        return SourceKind::DomainXml;
    }
    if kernel_markers.iter().any(|m| head.contains(m)) {
        return SourceKind::KernelLog;
    }
    SourceKind::Text
}
