//! Logic for `rom-invalid`; its documentation is rules/rom-invalid.md.

use crate::rom::Problem;
use crate::rules::{fix, Evidence, Findings};
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for r in &sys.roms {
        let Some(problem) = &r.rom.problem else { continue };
        let what = match problem {
            Problem::Empty => "is empty".to_string(),
            Problem::NotARom => format!("is not an option ROM: none of its {} bytes starts a 55 AA image with a PCIR structure", r.rom.size),
            Problem::BadPcir { image_offset, found, .. } => {
                format!("has a broken image @{image_offset:x}h: its PCIR pointer leads to \"{found}\" instead of \"PCIR\"")
            }
            Problem::ZeroLength { image_offset } => format!("has an image @{image_offset:x}h whose length is 0"),
            Problem::RanOffEnd { image_offset, needed: 0 } => format!(
                "is truncated: the image @{image_offset:x}h says more images follow, but the file ends there; rom-parser says \"Error, ran off the end\""
            ),
            Problem::RanOffEnd { image_offset, needed } => format!(
                "is truncated: the image @{image_offset:x}h needs the file to reach {needed:#x} bytes (the chain is not finished), but it ends at {:#x}; rom-parser says \"Error, ran off the end\"",
                r.rom.size
            ),
            Problem::TooManyImages => "has an image chain that never ends".to_string(),
        };
        let mut evidence: Vec<Evidence> = r.rom.images.iter().map(|i| r.image_evidence(i)).collect();
        let location = match problem {
            Problem::BadPcir { image_offset, .. } | Problem::ZeroLength { image_offset } | Problem::RanOffEnd { image_offset, .. } => {
                format!("image @{image_offset:x}h")
            }
            _ => "whole file".into(),
        };
        evidence.push(Evidence::new(r.path.clone(), location, problem.describe(r.rom.size)));
        if *problem == Problem::NotARom {
            evidence.push(Evidence::new(r.path.clone(), "first bytes", r.rom.head.clone()));
        }
        let device = r.host_device(&sys.devices);
        let for_device = device.map(|d| format!(" for {} {}", d.address, d.name())).unwrap_or_default();
        let f = out.emit(r.subject(), format!("The option ROM {}{for_device} {what}", r.named()), evidence);
        let out_file = format!("{}-redump.rom", r.stem());
        f.remediation = format!(
            "Dump the ROM again from the card{}:\n\n{}\n\nThen point the hostdev's `<rom file=…/>` at the new file{}.",
            device.map(|d| format!(" ({})", d.address)).unwrap_or_default(),
            fix::dump_rom_steps(device.map(|d| &d.address), &out_file),
            r.vm.as_ref().map(|vm| format!(" (`virsh edit {vm}`)")).unwrap_or_default()
        );
    }
}
