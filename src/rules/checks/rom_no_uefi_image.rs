//! Logic for `rom-no-uefi-image`; its documentation is rules/rom-no-uefi-image.md.

use crate::rom::Problem;
use crate::rules::{fix, Findings};
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for r in &sys.roms {
        if r.rom.images.is_empty() || r.rom.has_efi_x64() {
            continue;
        }
        let kinds: Vec<String> = r
            .rom
            .images
            .iter()
            .map(|i| match &i.efi {
                Some(efi) => format!("EFI for {}", efi.machine_name()),
                None => i.pcir.code_type_name().to_string(),
            })
            .collect();
        let truncated = matches!(r.rom.problem, Some(Problem::RanOffEnd { .. }));
        let device = r.host_device(&sys.devices);
        let for_device = device.map(|d| format!(" for {} {}", d.address, d.name())).unwrap_or_default();
        let f = out.emit(
            r.subject(),
            format!(
                "The option ROM {}{for_device} has no x86-64 UEFI image (its images: {}){}: OVMF cannot show anything on this GPU until the guest's driver loads",
                r.named(),
                kinds.join(", "),
                if truncated { "; the dump is cut short, so the UEFI image may be in the missing part" } else { "" }
            ),
            r.rom.images.iter().map(|i| r.image_evidence(i)).collect(),
        );
        f.remediation = format!(
            "Get a ROM with a `type 3 (EFI)` image for `Machine: X64`. Dump the card's own ROM{}:\n\n{}\n\nIf the card's ROM has no UEFI image at all, ask the board partner for a UEFI (GOP) vBIOS, or boot the VM with SeaBIOS (no `<loader type='pflash'>` in the domain) to get a boot screen.",
            device.map(|d| format!(" ({})", d.address)).unwrap_or_default(),
            fix::dump_rom_steps(device.map(|d| &d.address), "vbios-uefi.rom")
        );
    }
}
