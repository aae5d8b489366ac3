//! PCI expansion ROM (GPU vBIOS) parsing: the image chain, each image's PCIR structure, the EFI
//! header of UEFI images and, when uncompressed, their PE32+ driver (goblin). Pure: bytes in,
//! facts out; the `rom-*` rules judge them.
//!
//! Formats: PCI Firmware Spec 3.0 (ROM header, PCI Data Structure), edk2
//! `MdePkg/Include/IndustryStandard/Pci22.h` / `Pci30.h` (`EFI_PCI_EXPANSION_ROM_HEADER`,
//! `PCI_3_0_DATA_STRUCTURE`), and the walk of awilliam/rom-parser `rom-parser.c`, whose
//! messages the text output repeats (reference/signatures.md §7).

pub mod listing;

use serde::Serialize;

/// The `55 AA` signature every image starts with.
pub const SIGNATURE: [u8; 2] = [0x55, 0xAA];
/// `EFI_PCI_EXPANSION_ROM_HEADER_EFISIGNATURE` (edk2 Pci22.h).
pub const EFI_SIGNATURE: u32 = 0x0EF1;
/// Images in a real chain: legacy, EFI, sometimes a second EFI (ARM64) or a config utility.
/// More than this is a hostile or corrupted file.
const MAX_IMAGES: usize = 32;

/// A parsed ROM file.
#[derive(Debug, Clone, Serialize)]
pub struct Rom {
    /// File size in bytes.
    pub size: usize,
    /// Offset of the first image: bytes before it are a dump tool's header (nvflash).
    pub start: usize,
    pub images: Vec<Image>,
    /// What stopped the walk, when the chain is not a complete, valid ROM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// Bytes after the last image (NVIDIA footers, padding of a fixed-size flash).
    pub trailing: usize,
    /// The first bytes, printable ASCII kept (`<!DOCTYPE html>` tells a saved web page).
    #[serde(skip)]
    pub head: String,
    /// Known only from rom-parser's printed report ([`listing`]): size, image lengths and the
    /// PE drivers are not known.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub listed: bool,
}

/// One image of the chain.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    /// Offset of its `55 AA` in the file.
    pub offset: usize,
    /// Offset of the PCIR structure, relative to the image.
    pub pcir_offset: usize,
    pub pcir: Pcir,
    /// The EFI header, for code type 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efi: Option<EfiHeader>,
}

impl Image {
    /// Length in bytes the PCIR claims.
    pub fn length(&self) -> usize {
        usize::from(self.pcir.image_length) * 512
    }

    /// Is this a UEFI driver OVMF on x86-64 can run?
    pub fn is_efi_x64(&self) -> bool {
        self.efi.as_ref().is_some_and(|e| e.signature_valid && e.machine == 0x8664)
    }
}

// JSON shows IDs as lspci does (`10de`, `030000`) and enums by their names.
fn hex4<S: serde::Serializer>(v: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:04x}"))
}
fn hex4_list<S: serde::Serializer>(v: &[u16], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| format!("{x:04x}")))
}
fn hex6<S: serde::Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:06x}"))
}
fn machine_ser<S: serde::Serializer>(v: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&machine_name(*v))
}

/// `PCI_3_0_DATA_STRUCTURE` ("PCIR").
#[derive(Debug, Clone, Serialize)]
pub struct Pcir {
    #[serde(serialize_with = "hex4")]
    pub vendor: u16,
    #[serde(serialize_with = "hex4")]
    pub device: u16,
    /// PCI 3.0: offset of a zero-terminated list of further device IDs (0 = none).
    pub device_list_offset: u16,
    /// Those further device IDs.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "hex4_list")]
    pub device_list: Vec<u16>,
    pub length: u16,
    pub revision: u8,
    /// 24-bit class code (`030000` = VGA controller).
    #[serde(serialize_with = "hex6")]
    pub class_code: u32,
    /// In 512-byte units.
    pub image_length: u16,
    pub code_revision: u16,
    pub code_type: u8,
    /// `x86 PC-AT`, `EFI`, …
    pub code_type_name: &'static str,
    pub indicator: u8,
}

impl Pcir {
    /// rom-parser's rule: any non-zero indicator ends the chain (the spec says bit 7).
    pub fn is_last(&self) -> bool {
        self.indicator != 0
    }

    pub fn code_type_name(&self) -> &'static str {
        code_type_name(self.code_type)
    }

    /// Whether `vendor:device` is the ID of this image or one of its device list.
    pub fn matches(&self, vendor: u16, device: u16) -> bool {
        self.vendor == vendor && (self.device == device || self.device_list.contains(&device))
    }
}

fn code_type_name(code_type: u8) -> &'static str {
    match code_type {
        0 => "x86 PC-AT",
        1 => "Open Firmware",
        2 => "PA-RISC",
        3 => "EFI",
        _ => "unknown",
    }
}

/// `EFI_PCI_EXPANSION_ROM_HEADER` fields after the signature.
#[derive(Debug, Clone, Serialize)]
pub struct EfiHeader {
    pub signature_valid: bool,
    pub subsystem: u16,
    #[serde(serialize_with = "machine_ser")]
    pub machine: u16,
    /// 0 = uncompressed, 1 = EFI (Tiano) compression.
    pub compression: u16,
    /// Offset of the PE image ("MZ"), relative to the ROM image.
    pub pe_offset: u16,
    /// The PE image, when uncompressed and parseable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pe: Option<PeInfo>,
    /// Why the PE image was not inspected or did not parse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pe_note: Option<String>,
}

impl EfiHeader {
    /// rom-parser's wording: `Boot`, `Runtime`, or `Unknown (%x)`; plus applications.
    pub fn subsystem_name(&self) -> String {
        match self.subsystem {
            0x0A => "Application".into(),
            0x0B => "Boot".into(),
            0x0C => "Runtime".into(),
            other => format!("Unknown ({other:x})"),
        }
    }

    pub fn machine_name(&self) -> String {
        machine_name(self.machine)
    }

    pub fn compression_name(&self) -> String {
        match self.compression {
            0 => "none".into(),
            1 => "EFI compression".into(),
            other => format!("unknown ({other:x})"),
        }
    }
}

/// rom-parser's machine names (`IA-32`, `X64`, `ARM 64-bit`, …).
pub fn machine_name(machine: u16) -> String {
    match machine {
        0x014C => "IA-32".into(),
        0x0200 => "Itanium".into(),
        0x0EBC => "EFI Byte Code".into(),
        0x8664 => "X64".into(),
        0x01C2 => "ARM".into(),
        0xAA64 => "ARM 64-bit".into(),
        other => format!("Unknown ({other:x})"),
    }
}

/// The PE32(+) image of an uncompressed EFI driver, as goblin reads it.
#[derive(Debug, Clone, Serialize)]
pub struct PeInfo {
    pub machine: String,
    pub pe32_plus: bool,
    /// `EFI boot service driver`, `EFI runtime driver`, …
    pub subsystem: String,
    pub entry: u64,
    pub sections: Vec<String>,
}

/// Why a file is not a usable ROM chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Problem {
    /// rom-parser: `Error, zero sized ROM file`.
    Empty,
    /// No `55 AA` followed by a valid PCIR anywhere in the file.
    NotARom,
    /// rom-parser: `Invalid PCIR signature: %c%c%c%c`.
    BadPcir { image_offset: usize, pcir_offset: usize, found: String },
    /// An image whose PCIR length is zero (the walk cannot advance).
    ZeroLength { image_offset: usize },
    /// rom-parser: `Error, ran off the end`: an image ends past the file, or the chain says more
    /// images follow and the file ends.
    RanOffEnd { image_offset: usize, needed: usize },
    /// More images than any real ROM has.
    TooManyImages,
}

impl Problem {
    /// One line, rom-parser's words where it has them.
    pub fn describe(&self, size: usize) -> String {
        match self {
            Problem::Empty => "Error, zero sized ROM file".into(),
            Problem::NotARom => format!("no ROM signature (55 AA) with a PCIR structure in the {size} bytes: this is not an option ROM"),
            Problem::BadPcir { image_offset, pcir_offset, found } => {
                format!("Invalid PCIR signature: {found} (image @{image_offset:x}h, PCIR offset {pcir_offset:x}h)")
            }
            Problem::ZeroLength { image_offset } => format!("image @{image_offset:x}h has a PCIR image length of 0"),
            Problem::RanOffEnd { image_offset, needed: 0 } => {
                format!("Error, ran off the end: the image @{image_offset:x}h is not the last one, and the file ends before the next")
            }
            Problem::RanOffEnd { image_offset, needed } => format!(
                "Error, ran off the end: the image @{image_offset:x}h is not the last one and the chain needs {needed:#x} bytes, the file has {size:#x}"
            ),
            Problem::TooManyImages => format!("more than {MAX_IMAGES} images: not a real ROM chain"),
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([*b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?, *b.get(at + 3)?]))
}

/// Whether an image header at `at` points (0x18) to a "PCIR" inside the file.
fn has_pcir(b: &[u8], at: usize) -> bool {
    let Some(off) = u16_at(b, at + 0x18) else { return false };
    let p = at + usize::from(off);
    b.get(p..p + 4) == Some(b"PCIR")
}

/// Where the first image starts: 0 for a clean dump; otherwise the first `55 AA` whose header
/// points to a PCIR (nvflash/TechPowerUp dumps carry a header before it; signatures.md §7).
fn first_image(b: &[u8]) -> Option<usize> {
    if b.starts_with(&SIGNATURE) {
        return Some(0);
    }
    memchr::memmem::find_iter(b, &SIGNATURE).find(|&at| has_pcir(b, at))
}

fn pcir_at(b: &[u8], p: usize) -> Option<Pcir> {
    let revision = *b.get(p + 0x0C)?;
    let device_list_offset = u16_at(b, p + 0x08)?;
    let mut device_list = Vec::new();
    if revision >= 3 && device_list_offset != 0 {
        let mut at = p + usize::from(device_list_offset);
        while let Some(id) = u16_at(b, at) {
            if id == 0 || device_list.len() >= 64 {
                break;
            }
            device_list.push(id);
            at += 2;
        }
    }
    Some(Pcir {
        vendor: u16_at(b, p + 0x04)?,
        device: u16_at(b, p + 0x06)?,
        device_list_offset,
        device_list,
        length: u16_at(b, p + 0x0A)?,
        revision,
        class_code: u32::from(*b.get(p + 0x0D)?) | (u32::from(*b.get(p + 0x0E)?) << 8) | (u32::from(*b.get(p + 0x0F)?) << 16),
        image_length: u16_at(b, p + 0x10)?,
        code_revision: u16_at(b, p + 0x12)?,
        code_type: *b.get(p + 0x14)?,
        code_type_name: code_type_name(*b.get(p + 0x14)?),
        indicator: *b.get(p + 0x15)?,
    })
}

fn efi_at(b: &[u8], at: usize, end: usize) -> Option<EfiHeader> {
    let mut efi = EfiHeader {
        signature_valid: u32_at(b, at + 0x04)? == EFI_SIGNATURE,
        subsystem: u16_at(b, at + 0x08)?,
        machine: u16_at(b, at + 0x0A)?,
        compression: u16_at(b, at + 0x0C)?,
        pe_offset: u16_at(b, at + 0x16)?,
        pe: None,
        pe_note: None,
    };
    if !efi.signature_valid {
        efi.pe_note = Some("EFI signature invalid: PE image not inspected".into());
    } else if efi.compression != 0 {
        efi.pe_note = Some("PE image is EFI-compressed: not inspected".into());
    } else {
        let start = at + usize::from(efi.pe_offset);
        match b.get(start..end.min(b.len())) {
            Some(pe) if !pe.is_empty() => match parse_pe(pe) {
                Ok(info) => efi.pe = Some(info),
                Err(e) => efi.pe_note = Some(format!("PE image does not parse: {e}")),
            },
            _ => efi.pe_note = Some("PE image offset is past the end of the image".into()),
        }
    }
    Some(efi)
}

fn subsystem_name(subsystem: u16) -> String {
    // goblin::pe::subsystem constants (IMAGE_SUBSYSTEM_EFI_*).
    match subsystem {
        10 => "EFI application".into(),
        11 => "EFI boot service driver".into(),
        12 => "EFI runtime driver".into(),
        13 => "EFI ROM".into(),
        other => format!("subsystem {other}"),
    }
}

fn parse_pe(bytes: &[u8]) -> Result<PeInfo, String> {
    // goblin is defensive, but this is untrusted input: a panic in it must not end the run.
    let parsed = std::panic::catch_unwind(|| {
        goblin::pe::PE::parse(bytes).map(|pe| PeInfo {
            machine: machine_name(pe.header.coff_header.machine),
            pe32_plus: pe.is_64,
            subsystem: pe.header.optional_header.map(|o| subsystem_name(o.windows_fields.subsystem)).unwrap_or_else(|| "none".into()),
            entry: pe.entry as u64,
            sections: pe.sections.iter().map(|s| s.name().map(str::to_string).unwrap_or_else(|_| "?".into())).collect(),
        })
    });
    match parsed {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the PE parser gave up on malformed data".into()),
    }
}

/// Walk the chain as rom-parser does, recording every image and what stopped the walk.
pub fn parse(b: &[u8]) -> Rom {
    let head = b.iter().take(32).map(|&c| if c.is_ascii_graphic() || c == b' ' { c as char } else { '.' }).collect();
    let mut rom = Rom { size: b.len(), start: 0, images: Vec::new(), problem: None, trailing: 0, head, listed: false };
    if b.is_empty() {
        rom.problem = Some(Problem::Empty);
        return rom;
    }
    let Some(start) = first_image(b) else {
        rom.problem = Some(Problem::NotARom);
        return rom;
    };
    rom.start = start;
    let mut at = start;
    loop {
        if rom.images.len() >= MAX_IMAGES {
            rom.problem = Some(Problem::TooManyImages);
            break;
        }
        if b.get(at..at + 2) != Some(&SIGNATURE[..]) {
            // rom-parser steps on in 512-byte units looking for the next signature.
            match (at..b.len()).step_by(512).find(|&o| b.get(o..o + 2) == Some(&SIGNATURE[..])) {
                Some(next) => at = next,
                None => {
                    let last = rom.images.last().map(|i| i.offset).unwrap_or(start);
                    rom.problem = Some(Problem::RanOffEnd { image_offset: last, needed: at + 512 });
                    break;
                }
            }
        }
        let Some(pcir_offset) = u16_at(b, at + 0x18).map(usize::from) else {
            rom.problem = Some(Problem::RanOffEnd { image_offset: at, needed: at + 0x1A });
            break;
        };
        let p = at + pcir_offset;
        let found = b.get(p..p + 4);
        if found != Some(b"PCIR") {
            let found = found.map(|f| f.iter().map(|&c| if c.is_ascii_graphic() { c as char } else { '.' }).collect()).unwrap_or_default();
            rom.problem = Some(Problem::BadPcir { image_offset: at, pcir_offset, found });
            break;
        }
        let Some(pcir) = pcir_at(b, p) else {
            rom.problem = Some(Problem::RanOffEnd { image_offset: at, needed: p + 0x18 });
            break;
        };
        if pcir.image_length == 0 {
            rom.problem = Some(Problem::ZeroLength { image_offset: at });
            break;
        }
        let end = at + usize::from(pcir.image_length) * 512;
        let efi = if pcir.code_type == 3 { efi_at(b, at, end) } else { None };
        let last = pcir.is_last();
        rom.images.push(Image { offset: at, pcir_offset, pcir, efi });
        if end > b.len() {
            rom.problem = Some(Problem::RanOffEnd { image_offset: at, needed: end });
            break;
        }
        if last {
            rom.trailing = b.len() - end;
            break;
        }
        if end >= b.len() {
            rom.problem = Some(Problem::RanOffEnd { image_offset: at, needed: end + 512 });
            break;
        }
        at = end;
    }
    rom
}

impl Rom {
    /// The IDs the ROM is for (of its first image), `10de:1c02`.
    pub fn ids(&self) -> Option<(u16, u16)> {
        self.images.first().map(|i| (i.pcir.vendor, i.pcir.device))
    }

    /// Whether any image is for `vendor:device` (directly or in its device list).
    pub fn is_for(&self, vendor: u16, device: u16) -> bool {
        self.images.iter().any(|i| i.pcir.matches(vendor, device))
    }

    pub fn has_efi_x64(&self) -> bool {
        self.images.iter().any(Image::is_efi_x64)
    }

    /// rom-parser's report of the chain (its printf strings, plus the EFI/PE details it lacks).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.start > 0 {
            out.push_str(&format!("{} bytes ({:#x}) precede the first ROM signature\n", self.start, self.start));
        }
        for img in &self.images {
            let p = &img.pcir;
            out.push_str(&format!("Valid ROM signature found @{:x}h, PCIR offset {:x}h\n", img.offset, img.pcir_offset));
            out.push_str(&format!(
                "\tPCIR: type {:x} ({}), vendor: {:04x}, device: {:04x}, class: {:06x}\n",
                p.code_type,
                p.code_type_name(),
                p.vendor,
                p.device,
                p.class_code
            ));
            out.push_str(&format!("\tPCIR: revision {:x}, vendor revision: {:x}\n", p.revision, p.code_revision));
            if !p.device_list.is_empty() {
                let ids: Vec<String> = p.device_list.iter().map(|d| format!("{d:04x}")).collect();
                out.push_str(&format!("\tPCIR: device list: {}\n", ids.join(", ")));
            }
            out.push_str(&format!("\tImage length: {:#x} bytes ({} x 512)\n", img.length(), p.image_length));
            if let Some(efi) = &img.efi {
                out.push_str(&format!(
                    "\t\tEFI: Signature {}Valid, Subsystem: {}, Machine: {}\n",
                    if efi.signature_valid { "" } else { "NOT " },
                    efi.subsystem_name(),
                    efi.machine_name()
                ));
                out.push_str(&format!("\t\tEFI: Compression: {}, PE image offset {:x}h\n", efi.compression_name(), efi.pe_offset));
                if let Some(pe) = &efi.pe {
                    out.push_str(&format!(
                        "\t\tPE: {}, machine {}, {}, entry {:#x}, sections: {}\n",
                        if pe.pe32_plus { "PE32+" } else { "PE32" },
                        pe.machine,
                        pe.subsystem,
                        pe.entry,
                        pe.sections.join(" ")
                    ));
                }
                if let Some(note) = &efi.pe_note {
                    out.push_str(&format!("\t\tPE: {note}\n"));
                }
            }
            if p.is_last() {
                out.push_str("\tLast image\n");
            }
        }
        if let Some(problem) = &self.problem {
            out.push_str(&problem.describe(self.size));
            out.push('\n');
        } else if self.trailing > 0 {
            out.push_str(&format!("{} bytes ({:#x}) follow the last image\n", self.trailing, self.trailing));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(vendor: u16, device: u16, code_type: u8, last: bool, units: u16) -> Vec<u8> {
        let mut b = vec![0u8; usize::from(units) * 512];
        b[0] = 0x55;
        b[1] = 0xAA;
        b[0x18] = 0x40;
        b[0x40..0x44].copy_from_slice(b"PCIR");
        b[0x44..0x46].copy_from_slice(&vendor.to_le_bytes());
        b[0x46..0x48].copy_from_slice(&device.to_le_bytes());
        b[0x4A] = 0x18;
        b[0x4F] = 0x03;
        b[0x50..0x52].copy_from_slice(&units.to_le_bytes());
        b[0x54] = code_type;
        b[0x55] = if last { 0x80 } else { 0 };
        b
    }

    #[test]
    fn walks_a_two_image_chain() {
        let mut b = image(0x10de, 0x1c02, 0, false, 2);
        b.extend(image(0x10de, 0x1c02, 3, true, 1));
        let rom = parse(&b);
        assert_eq!(rom.images.len(), 2);
        assert_eq!(rom.problem, None);
        assert_eq!(rom.images[1].offset, 1024);
        assert_eq!(rom.images[0].pcir.class_code, 0x030000);
    }

    #[test]
    fn truncated_chain_ran_off_the_end() {
        let b = image(0x1002, 0x743f, 0, false, 2);
        let rom = parse(&b);
        assert!(matches!(rom.problem, Some(Problem::RanOffEnd { .. })));
        let mut short = image(0x1002, 0x743f, 0, true, 4);
        short.truncate(1000);
        assert!(matches!(parse(&short).problem, Some(Problem::RanOffEnd { image_offset: 0, needed: 2048 })));
    }

    #[test]
    fn finds_the_image_after_a_header_and_rejects_garbage() {
        let mut b = vec![0xEE; 0x17C];
        b.extend(image(0x10de, 0x1c02, 0, true, 1));
        assert_eq!(parse(&b).start, 0x17C);
        assert_eq!(parse(b"hello world").problem, Some(Problem::NotARom));
        assert_eq!(parse(&[]).problem, Some(Problem::Empty));
        let mut bad = image(0x10de, 0x1c02, 0, true, 1);
        bad[0x40] = b'X';
        assert!(matches!(parse(&bad).problem, Some(Problem::NotARom | Problem::BadPcir { .. })));
    }

    #[test]
    fn device_list_counts_as_a_match() {
        let mut b = image(0x10de, 0x1c03, 0, true, 1);
        b[0x4C] = 3; // PCI 3.0 structure
        b[0x48..0x4A].copy_from_slice(&0x20u16.to_le_bytes()); // device list at PCIR+0x20
        b[0x60..0x62].copy_from_slice(&0x1c02u16.to_le_bytes());
        let rom = parse(&b);
        assert_eq!(rom.images[0].pcir.device_list, vec![0x1c02]);
        assert!(rom.is_for(0x10de, 0x1c02) && rom.is_for(0x10de, 0x1c03) && !rom.is_for(0x1002, 0x1c02));
    }

    #[test]
    fn hostile_bytes_do_not_panic() {
        for len in [1usize, 2, 0x19, 0x1A, 0x60, 600] {
            let mut b = vec![0x55u8; len];
            if len > 1 {
                b[1] = 0xAA;
            }
            let _ = parse(&b);
        }
    }
}
