//! Logic for `rom-device-mismatch`; its documentation is rules/rom-device-mismatch.md.

use crate::rules::{fix, Findings};
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for r in &sys.roms {
        let (Some(e), Some((vendor, device))) = (&r.expected, r.rom.ids()) else { continue };
        if r.rom.is_for(e.vendor, e.device) {
            continue;
        }
        let ids = format!("{:04x}:{:04x}", e.vendor, e.device);
        let card = match (&e.address, e.name.clone().or_else(|| crate::system::rom::id_name(e.vendor, e.device))) {
            (Some(a), Some(n)) => format!("{a} {n} ({ids})"),
            (None, Some(n)) => format!("{ids} ({n})"),
            _ => ids.clone(),
        };
        let rom_name = crate::system::rom::id_name(vendor, device);
        let mut evidence: Vec<_> = r.rom.images.iter().map(|i| r.image_evidence(i)).collect();
        evidence.extend(e.evidence.iter().cloned());
        let f = out.emit(
            r.subject(),
            format!(
                "The option ROM {} is for {vendor:04x}:{device:04x}{}, but it is meant for {card} ({})",
                r.named(),
                rom_name.map(|n| format!(" ({n})")).unwrap_or_default(),
                e.why
            ),
            evidence,
        );
        let out_file = format!("vbios-{:04x}-{:04x}.rom", e.vendor, e.device);
        f.remediation = format!(
            "Use the ROM of this card ({:04x}:{:04x}): the file for its exact model and board partner (same subsystem ID) from a vBIOS collection, or one dumped from it:\n\n{}\n\nThen point the hostdev's `<rom file=…/>` at it{}.",
            e.vendor,
            e.device,
            fix::dump_rom_steps(e.address.as_ref(), &out_file),
            r.vm.as_ref().map(|vm| format!(" with `virsh edit {vm}`")).unwrap_or_default()
        );
    }
}
