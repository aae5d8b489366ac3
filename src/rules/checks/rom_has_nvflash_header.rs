//! Logic for `rom-has-nvflash-header`; its documentation is rules/rom-has-nvflash-header.md.
//! The image start is where NVIDIA-vBIOS-VFIO-Patcher cuts (signatures.md §7): the first
//! `55 AA` whose header points to a PCIR structure.

use crate::rules::{Evidence, Findings};
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for r in &sys.roms {
        let n = r.rom.start;
        let Some(first) = r.rom.images.first() else { continue };
        if n == 0 {
            continue;
        }
        let mut evidence = vec![Evidence::new(
            r.path.clone(),
            "offset 0",
            format!("{n} bytes ({n:#x}) before the first ROM signature (55 AA) at {:#x}", first.offset),
        )];
        evidence.push(r.image_evidence(first));
        let f = out.emit(
            r.subject(),
            format!("The option ROM {} starts with a {n}-byte dump header (nvflash/TechPowerUp): the ROM image begins at offset {n:#x}, so the guest firmware will not find it", r.named()),
            evidence,
        );
        // A pasted rom-parser report is not the file: the commands name the dump it was run on.
        let file = if r.rom.listed { "vbios.rom".to_string() } else { r.path.clone() };
        let stripped = match file.strip_suffix(".rom").or_else(|| file.strip_suffix(".bin")) {
            Some(stem) => format!("{stem}-stripped.rom"),
            None => format!("{file}-stripped.rom"),
        };
        f.remediation = format!(
            "Strip the first {n} bytes and check the result:\n\n```sh\ndd if='{file}' of='{stripped}' bs=1 skip={n}\n# or: tail -c +{} '{file}' > '{stripped}'\nvfio-doctor rom '{stripped}'\n```\n\nThen point the hostdev's `<rom file=…/>` at `{stripped}`{} (keep it where QEMU may read it, e.g. /usr/share/vgabios/).",
            n + 1,
            r.vm.as_ref().map(|vm| format!(" with `virsh edit {vm}`")).unwrap_or_default()
        );
    }
}
