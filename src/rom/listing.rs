//! rom-parser's printed report (awilliam/rom-parser `rom-parser.c`, the printf strings in
//! reference/signatures.md §7) read back into [`Rom`]s, so a pasted report is judged by the
//! same `rom-*` rules as the dump itself. What the text does not show (file size, image
//! lengths, the PE driver) stays unknown: `listed` says so.
//!
//! ```text
//! Valid ROM signature found @0h, PCIR offset 370h
//!         PCIR: type 0 (x86 PC-AT), vendor: 1002, device: 743f, class: 030000
//!         PCIR: revision 0, vendor revision: 1404
//! Valid ROM signature found @ae00h, PCIR offset 1ch
//!         PCIR: type 3 (EFI), vendor: 1002, device: 743f, class: 030000
//!         PCIR: revision 0, vendor revision: 0
//!                 EFI: Signature Valid, Subsystem: Boot, Machine: X64
//!         Last image
//! ```
//!
//! One paste may hold several reports (the seed has two, one after the other): a report ends
//! at `Last image` or an error, and a new one starts with an image @0h.

use super::{EfiHeader, Image, Pcir, Problem, Rom};

/// One report of the text, with its 1-based line range.
#[derive(Debug, Clone)]
pub struct Listed {
    pub rom: Rom,
    pub first_line: usize,
    pub last_line: usize,
}

/// Whether a line is one rom-parser prints (used to sniff a paste and lift it out of prose).
pub fn is_report_line(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("Valid ROM signature found @")
        || t.starts_with("PCIR: type ")
        || t.starts_with("PCIR: revision ")
        || t.starts_with("EFI: Signature ")
        || t == "Last image"
        || t == "Error, ran off the end"
        || t.starts_with("Invalid PCIR signature:")
        || t == "Error, zero sized ROM file"
}

fn hex(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim(), 16).ok()
}

/// rom-parser's machine names back to the PE machine number (`X64` → 0x8664).
fn machine_number(name: &str) -> u16 {
    match name.trim() {
        "IA-32" => 0x014C,
        "Itanium" => 0x0200,
        "EFI Byte Code" => 0x0EBC,
        "X64" => 0x8664,
        "ARM" => 0x01C2,
        "ARM 64-bit" => 0xAA64,
        other => other
            .strip_prefix("Unknown (")
            .and_then(|x| x.strip_suffix(')'))
            .and_then(|x| u16::from_str_radix(x, 16).ok())
            .unwrap_or(0),
    }
}

fn subsystem_number(name: &str) -> u16 {
    match name.trim() {
        "Application" => 0x0A,
        "Boot" => 0x0B,
        "Runtime" => 0x0C,
        other => other
            .strip_prefix("Unknown (")
            .and_then(|x| x.strip_suffix(')'))
            .and_then(|x| u16::from_str_radix(x, 16).ok())
            .unwrap_or(0),
    }
}

fn empty_pcir() -> Pcir {
    Pcir {
        vendor: 0,
        device: 0,
        device_list_offset: 0,
        device_list: Vec::new(),
        length: 0,
        revision: 0,
        class_code: 0,
        image_length: 0,
        code_revision: 0,
        code_type: 0,
        code_type_name: super::code_type_name(0),
        indicator: 0,
    }
}

/// A report being read: its images (with whether their PCIR line was seen) and end.
struct Open {
    rom: Rom,
    seen_pcir: Vec<bool>,
    first_line: usize,
    last_line: usize,
    done: bool,
}

impl Open {
    fn new(line: usize) -> Open {
        Open {
            rom: Rom { size: 0, start: 0, images: Vec::new(), problem: None, trailing: 0, head: String::new(), listed: true },
            seen_pcir: Vec::new(),
            first_line: line,
            last_line: line,
            done: false,
        }
    }

    fn finish(mut self) -> Listed {
        // An image whose PCIR line never came (the paste was cut there) is not judged.
        let keep: Vec<bool> = self.seen_pcir.clone();
        let mut i = 0;
        self.rom.images.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        self.rom.start = self.rom.images.first().map_or(0, |i| i.offset);
        Listed { rom: self.rom, first_line: self.first_line, last_line: self.last_line }
    }
}

/// Every report in `text`, in order; lines that are not rom-parser's are skipped.
pub fn parse(text: &str) -> Vec<Listed> {
    let mut out = Vec::new();
    let mut cur: Option<Open> = None;
    for (n, raw) in text.lines().enumerate() {
        let n = n + 1;
        let t = raw.trim();
        if let Some(rest) = t.strip_prefix("Valid ROM signature found @") {
            let (off, pcir) = rest.split_once(", PCIR offset ").unwrap_or((rest, "0h"));
            let offset = hex(off.trim_end_matches('h')).unwrap_or(0) as usize;
            let pcir_offset = hex(pcir.trim().trim_end_matches('h')).unwrap_or(0) as usize;
            let starts_new = cur.as_ref().is_none_or(|c| c.done || offset == 0 || c.rom.images.last().is_some_and(|i| i.offset >= offset));
            if starts_new {
                if let Some(c) = cur.take() {
                    out.push(c.finish());
                }
                cur = Some(Open::new(n));
            }
            let c = cur.get_or_insert_with(|| Open::new(n));
            c.rom.images.push(Image { offset, pcir_offset, pcir: empty_pcir(), efi: None });
            c.seen_pcir.push(false);
            c.last_line = n;
            continue;
        }
        let Some(c) = cur.as_mut().filter(|c| !c.done) else {
            if t == "Error, zero sized ROM file" {
                let mut o = Open::new(n);
                o.rom.problem = Some(Problem::Empty);
                out.push(o.finish());
            }
            continue;
        };
        if let Some(rest) = t.strip_prefix("PCIR: type ") {
            let Some(img) = c.rom.images.last_mut() else { continue };
            // `0 (x86 PC-AT), vendor: 1002, device: 743f, class: 030000`
            let fields: Vec<&str> = rest.split(", ").collect();
            let code_type = fields.first().and_then(|f| hex(f.split_whitespace().next().unwrap_or(""))).unwrap_or(0) as u8;
            img.pcir.code_type = code_type;
            img.pcir.code_type_name = super::code_type_name(code_type);
            for f in &fields[1..] {
                if let Some(v) = f.strip_prefix("vendor: ").and_then(hex) {
                    img.pcir.vendor = v as u16;
                } else if let Some(v) = f.strip_prefix("device: ").and_then(hex) {
                    img.pcir.device = v as u16;
                } else if let Some(v) = f.strip_prefix("class: ").and_then(hex) {
                    img.pcir.class_code = v & 0x00ff_ffff;
                }
            }
            if let Some(seen) = c.seen_pcir.last_mut() {
                *seen = true;
            }
        } else if let Some(rest) = t.strip_prefix("PCIR: revision ") {
            let Some(img) = c.rom.images.last_mut() else { continue };
            let (rev, vrev) = rest.split_once(", vendor revision: ").unwrap_or((rest, "0"));
            img.pcir.revision = hex(rev).unwrap_or(0) as u8;
            img.pcir.code_revision = hex(vrev).unwrap_or(0) as u16;
        } else if let Some(rest) = t.strip_prefix("EFI: Signature ") {
            let Some(img) = c.rom.images.last_mut() else { continue };
            let signature_valid = !rest.starts_with("NOT ");
            let subsystem = rest.split(", Subsystem: ").nth(1).map(|s| s.split(", Machine:").next().unwrap_or(s)).unwrap_or("");
            let machine = rest.split(", Machine: ").nth(1).unwrap_or("");
            img.efi = Some(EfiHeader {
                signature_valid,
                subsystem: subsystem_number(subsystem),
                machine: machine_number(machine),
                compression: 0,
                pe_offset: 0,
                pe: None,
                pe_note: Some("known from rom-parser's output only: the PE image was not inspected".into()),
            });
        } else if t == "Last image" {
            if let Some(img) = c.rom.images.last_mut() {
                img.pcir.indicator = 0x80;
            }
            c.done = true;
        } else if t == "Error, ran off the end" {
            let at = c.rom.images.iter().zip(&c.seen_pcir).rfind(|(_, s)| **s).map_or(0, |(i, _)| i.offset);
            c.rom.problem = Some(Problem::RanOffEnd { image_offset: at, needed: 0 });
            c.done = true;
        } else if let Some(found) = t.strip_prefix("Invalid PCIR signature:") {
            let (image_offset, pcir_offset) = match (c.rom.images.last(), c.seen_pcir.last()) {
                (Some(i), Some(false)) => (i.offset, i.pcir_offset),
                (Some(i), _) => (i.offset + i.length(), 0),
                (None, _) => (0, 0),
            };
            c.rom.problem = Some(Problem::BadPcir { image_offset, pcir_offset, found: found.trim().to_string() });
            c.done = true;
        } else {
            continue;
        }
        c.last_line = n;
    }
    if let Some(c) = cur {
        out.push(c.finish());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's two reports, as posted (tabs turned into spaces by the blog).
    const SEED: &str = "Valid ROM signature found @0h, PCIR offset 370h
        PCIR: type 0 (x86 PC-AT), vendor: 1002, device: 743f, class: 030000
        PCIR: revision 0, vendor revision: 1404
Error, ran off the end
Valid ROM signature found @0h, PCIR offset 370h
        PCIR: type 0 (x86 PC-AT), vendor: 1002, device: 743f, class: 030000
        PCIR: revision 0, vendor revision: 1404
Valid ROM signature found @ae00h, PCIR offset 1ch
        PCIR: type 3 (EFI), vendor: 1002, device: 743f, class: 030000
        PCIR: revision 0, vendor revision: 0
                EFI: Signature Valid, Subsystem: Boot, Machine: X64
Valid ROM signature found @14400h, PCIR offset 1ch
        PCIR: type 3 (EFI), vendor: 1002, device: 743f, class: 000000
        PCIR: revision 0, vendor revision: 0
                EFI: Signature Valid, Subsystem: Boot, Machine: ARM 64-bit
        Last image
";

    #[test]
    fn the_seeds_two_reports() {
        let l = parse(SEED);
        assert_eq!(l.len(), 2);
        let (a, b) = (&l[0], &l[1]);
        assert_eq!((a.first_line, a.last_line, b.first_line, b.last_line), (1, 4, 5, 16));
        assert_eq!(a.rom.problem, Some(Problem::RanOffEnd { image_offset: 0, needed: 0 }));
        assert_eq!(a.rom.ids(), Some((0x1002, 0x743f)));
        assert!(!a.rom.has_efi_x64() && a.rom.listed);
        assert_eq!(b.rom.problem, None);
        assert_eq!(b.rom.images.iter().map(|i| i.offset).collect::<Vec<_>>(), vec![0, 0xae00, 0x14400]);
        assert!(b.rom.has_efi_x64());
        assert_eq!(b.rom.images[2].efi.as_ref().map(|e| e.machine), Some(0xAA64));
        assert!(b.rom.images[2].pcir.is_last() && !b.rom.images[1].pcir.is_last());
        assert_eq!((b.rom.images[0].pcir.code_revision, b.rom.images[0].pcir.class_code), (0x1404, 0x030000));
    }

    #[test]
    fn cut_and_broken_reports() {
        // Cut after the signature line: that image is not judged.
        let l = parse("Valid ROM signature found @0h, PCIR offset 1a0h\n");
        assert_eq!(l.len(), 1);
        assert!(l[0].rom.images.is_empty());
        let l = parse("Valid ROM signature found @0h, PCIR offset 1a0h\nInvalid PCIR signature: ....\n");
        assert_eq!(l[0].rom.problem, Some(Problem::BadPcir { image_offset: 0, pcir_offset: 0x1a0, found: "....".into() }));
        assert_eq!(parse("Error, zero sized ROM file\n")[0].rom.problem, Some(Problem::Empty));
        assert!(parse("hello\nPCIR: type 0\n").is_empty());
        assert!(is_report_line("\tLast image") && !is_report_line("Last image was fine"));
    }
}
