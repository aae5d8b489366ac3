//! Option ROMs in a bundle (a `rom` source: a domain's `<rom file=…>` or a loose dump), parsed
//! once with [`crate::rom`], with the device each one is meant for.

use base64::Engine as _;

use super::pci::{Device, PciAddress};
use super::vm::Vm;
use crate::bundle::{Bundle, Source, SourceKind};
use crate::rom::Rom;
use super::Evidence;

/// One ROM file and what it is supposed to be for.
#[derive(Debug, Clone)]
pub struct RomFile {
    /// The source's path: the domain's `<rom file=…>` path, or the loose input's name.
    pub path: String,
    /// The domain that loads it, when it came from one.
    pub vm: Option<String>,
    pub rom: Rom,
    /// The card this ROM must match, when known (`--device`, or the hostdev that loads it).
    pub expected: Option<Expected>,
}

/// The device a ROM is meant for, and how that is known.
#[derive(Debug, Clone)]
pub struct Expected {
    pub vendor: u16,
    pub device: u16,
    /// `--device 10de:1c02`, or `VM win10 loads it for this hostdev`.
    pub why: String,
    pub address: Option<PciAddress>,
    /// The host device's name, when the address is a known device.
    pub name: Option<String>,
    pub evidence: Vec<Evidence>,
}

impl RomFile {
    /// The host device this ROM is for: the expected address, else the only device with the
    /// ROM's vendor:device.
    pub fn host_device<'a>(&self, devices: &'a [Device]) -> Option<&'a Device> {
        if let Some(addr) = self.expected.as_ref().and_then(|e| e.address.as_ref()) {
            return devices.iter().find(|d| &d.address == addr);
        }
        let (v, d) = self.rom.ids()?;
        let mut matching = devices.iter().filter(|x| x.vendor_id == Some(v) && x.device_id == Some(d));
        let first = matching.next()?;
        matching.next().is_none().then_some(first)
    }

    /// How a message names the ROM: its path, or for a pasted rom-parser report, the report
    /// and the card it is for (`that rom-parser's report rp.txt describes (1002:743f, AMD …)`).
    pub fn named(&self) -> String {
        if !self.rom.listed {
            return self.path.clone();
        }
        let card = self.rom.ids().map(|(v, d)| match id_name(v, d) {
            Some(name) => format!(" ({v:04x}:{d:04x}, {name})"),
            None => format!(" ({v:04x}:{d:04x})"),
        });
        format!("that rom-parser's report {} describes{}", self.path, card.unwrap_or_default())
    }

    /// A name for the file a fix writes: the ROM's own stem, `vbios` for a pasted report.
    pub fn stem(&self) -> String {
        if self.rom.listed {
            return "vbios".into();
        }
        let f = self.file_name();
        f.strip_suffix(".rom").or_else(|| f.strip_suffix(".bin")).unwrap_or(f).to_string()
    }

    /// The file name alone (`vbios-1060.rom`), for commands.
    pub fn file_name(&self) -> &str {
        self.path.rsplit(['/', '\\']).next().unwrap_or(&self.path)
    }
}

/// Every ROM source of the bundle, parsed; undecodable ones become notes.
pub fn roms(bundle: &Bundle, devices: &[Device], vms: &[Vm], notes: &mut Vec<String>) -> Vec<RomFile> {
    let mut out = Vec::new();
    for s in bundle.sources.iter().filter(|s| s.kind == SourceKind::Rom && s.is_ok()) {
        let bytes = match (&s.base64, &s.text) {
            (Some(b64), _) => match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
                Ok(b) => b,
                Err(e) => {
                    notes.push(format!("{}: the ROM's base64 content does not decode ({e}); not inspected", s.path));
                    continue;
                }
            },
            (None, Some(text)) => text.as_bytes().to_vec(),
            (None, None) => continue,
        };
        let expected = hostdev_for(vms, s).and_then(|(addr, vm, ev)| {
            let dev = devices.iter().find(|d| d.address == addr)?;
            Some(Expected {
                vendor: dev.vendor_id?,
                device: dev.device_id?,
                why: format!("VM {vm} loads it for this hostdev"),
                name: Some(dev.name()),
                address: Some(addr),
                evidence: vec![ev, dev.evidence("vendor:device", &dev.ids())],
            })
        });
        out.push(RomFile { path: s.path.clone(), vm: s.vm.clone(), rom: crate::rom::parse(&bytes), expected });
    }
    // rom-parser's report pasted instead of the dump: its images, as the report shows them.
    for s in bundle.sources.iter().filter(|s| s.kind == SourceKind::RomParser && s.is_ok()) {
        let Some(text) = s.text.as_deref() else { continue };
        let listed = crate::rom::listing::parse(text);
        if listed.is_empty() {
            notes.push(format!("{}: no `Valid ROM signature found @…` line: nothing of rom-parser's report to judge", s.path));
        }
        let several = listed.len() > 1;
        for l in listed {
            let path = if several {
                format!("{} [lines {}-{}]", s.path, l.first_line, l.last_line)
            } else {
                s.path.clone()
            };
            if l.rom.problem.is_none() && !l.rom.images.is_empty() {
                notes.push(format!("{path}: {}", describe_listed(&l.rom)));
            }
            out.push(RomFile { path, vm: s.vm.clone(), rom: l.rom, expected: None });
        }
    }
    // A ROM path in a pasted XML or a hand-made bundle: judged only from what the input holds.
    for vm in vms {
        for h in &vm.hostdevs {
            let Some(path) = h.rom_file.as_deref() else { continue };
            if !bundle.sources.iter().any(|s| s.kind == SourceKind::Rom && s.path == path) {
                notes.push(format!(
                    "VM {}: the ROM file {path} of {} is not in the input, and a ROM path from an input is never opened on this machine; \
                     `vfio-doctor collect` on that host stores it, or give the dump itself (`rom:FILE`)",
                    vm.name, h.address
                ));
            }
        }
    }
    out
}

/// What a complete rom-parser report shows, in one line: the card it is for and its images.
fn describe_listed(rom: &Rom) -> String {
    let card = rom.ids().map(|(v, d)| match id_name(v, d) {
        Some(name) => format!("{v:04x}:{d:04x} ({name})"),
        None => format!("{v:04x}:{d:04x}"),
    });
    let images: Vec<String> = rom
        .images
        .iter()
        .map(|i| match &i.efi {
            Some(e) => format!("EFI {}", e.machine_name()),
            None => i.pcir.code_type_name().to_string(),
        })
        .collect();
    let last = rom.images.last().is_some_and(|i| i.pcir.is_last());
    format!(
        "rom-parser's report of a ROM for {}: images {}{}{}",
        card.unwrap_or_else(|| "an unknown card".into()),
        images.join(", "),
        if last { ", the last one marked last: the chain is complete" } else { ", none marked last (the report may be cut short)" },
        if rom.has_efi_x64() { ", with the x86-64 UEFI image OVMF runs" } else { "" }
    )
}

/// The hostdev whose `<rom file=…>` names this ROM source: (its host address, the VM, evidence).
fn hostdev_for(vms: &[Vm], rom: &Source) -> Option<(PciAddress, String, Evidence)> {
    vms.iter().filter(|vm| rom.vm.as_ref().is_none_or(|name| *name == vm.name)).find_map(|vm| {
        let h = vm.hostdevs.iter().find(|h| h.rom_file.as_deref() == Some(rom.path.as_str()))?;
        let evidence = Evidence::new(vm.source.to_string(), format!("line {}", h.line), h.excerpt.clone());
        Some((h.address.clone(), vm.name.clone(), evidence))
    })
}

impl RomFile {
    /// `vbios.rom`, with the VM that loads it: `/usr/share/vgabios/x.rom (VM win10)`.
    pub fn subject(&self) -> String {
        match &self.vm {
            Some(vm) => format!("{} (VM {vm})", self.path),
            None => self.path.clone(),
        }
    }

    /// An image's PCIR line, rom-parser's wording, as evidence.
    pub fn image_evidence(&self, img: &crate::rom::Image) -> Evidence {
        let p = &img.pcir;
        let mut excerpt = format!(
            "PCIR: type {:x} ({}), vendor: {:04x}, device: {:04x}, class: {:06x}",
            p.code_type,
            p.code_type_name(),
            p.vendor,
            p.device,
            p.class_code
        );
        if let Some(efi) = &img.efi {
            excerpt.push_str(&format!(
                "; EFI: Signature {}Valid, Subsystem: {}, Machine: {}",
                if efi.signature_valid { "" } else { "NOT " },
                efi.subsystem_name(),
                efi.machine_name()
            ));
        }
        if p.is_last() {
            excerpt.push_str("; Last image");
        }
        Evidence::new(self.path.clone(), format!("image @{:x}h", img.offset), excerpt)
    }
}

/// `NVIDIA Corporation GP106 [GeForce GTX 1060 3GB]` for a ROM's vendor:device (pci-ids).
pub fn id_name(vendor: u16, device: u16) -> Option<String> {
    use pci_ids::FromId;
    let v = pci_ids::Vendor::from_id(vendor)?.name();
    Some(match pci_ids::Device::from_vid_pid(vendor, device) {
        Some(d) => format!("{v} {}", d.name()),
        None => format!("{v} device {device:04x}"),
    })
}
