//! Logic for `legacy-bios-firmware`; its documentation is rules/legacy-bios-firmware.md.

use crate::rules::fix::{self, PveFix, QmSet};
use crate::rules::Findings;
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for vm in sys.vms.iter().filter(|v| v.from_xml) {
        if vm.firmware.is_uefi() {
            continue;
        }
        // Legacy IGD assignment (Proxmox `legacy-igd=1`, or the iGPU at guest slot 2 by `args:`)
        // is a SeaBIOS/i440fx setup by design: the iGPU's VBIOS runs as the guest's legacy VGA.
        if vm.pve.as_ref().is_some_and(|p| p.legacy_igd().is_some()) {
            continue;
        }
        let gpus = sys.passed_gpus(vm);
        let Some(gpu) = gpus.first() else { continue };
        let fw = &vm.firmware;
        let os_line = if fw.line > 0 { fw.line } else { vm.line };
        let seen = match (&vm.pve, &fw.loader, &fw.firmware_attr) {
            (Some(p), _, _) => match p.get("bios") {
                Some(b) => b.text(),
                None => "no `bios:` line: qemu-server's default is SeaBIOS".to_string(),
            },
            (None, Some(loader), _) => format!("<loader>{loader}</loader> (not OVMF)"),
            (None, None, Some(attr)) => format!("<os firmware='{attr}'>"),
            (None, None, None) => "<os> has no firmware='efi' and no <loader>: SeaBIOS".to_string(),
        };
        let mut evidence = vec![vm.evidence(os_line, seen), vm.hostdev_evidence(gpu.hostdev)];
        evidence.extend(gpu.seen_evidence());
        let machine = fw.machine.as_deref().unwrap_or("q35");
        let f = out.emit(
            format!("VM {}", vm.name),
            format!("VM {} boots SeaBIOS (legacy BIOS) while passing {}: passed GPUs need OVMF (UEFI)", vm.name, gpu.label()),
            evidence,
        );
        if let Some(a) = gpu.assumption() {
            f.assume(a);
        }
        let libvirt = || {
        let mut remediation = format!(
            "Switch {name} to UEFI. With libvirt ≥ 5.2 let it pick the OVMF build (install it first: `sudo apt install ovmf` on \
             Debian/Ubuntu, `sudo dnf install edk2-ovmf` on Fedora). `sudo virsh edit {name}` and replace `<os>…</os>` with:\n\n\
             ```xml\n<os firmware='efi'>\n  <type arch='x86_64' machine='{machine}'>hvm</type>\n  <boot dev='hd'/>\n</os>\n```\n\n\
             libvirt fills in the loader and a per-VM NVRAM file when you save.",
            name = vm.name,
        );
        if machine == "pc" || machine.contains("i440fx") {
            remediation.push_str(&format!(
                " OVMF also boots the i440fx machine `{machine}`; q35 (native PCIe root ports for the GPU) is what GPU guides use, \
                 but changing the machine type changes every guest device address.",
            ));
        }
        remediation.push_str(&mbr_note(vm, "change `<os>` as above"));
        remediation
        };
        let pve = |p: &crate::system::pve::PveVm| PveFix {
            lead: format!("Switch {} to OVMF (UEFI); OVMF keeps its settings on an EFI disk, which the VM needs as well.", vm.name),
            set: std::iter::once(QmSet::set("bios", "ovmf"))
                .chain(p.get("efidisk0").is_none().then(|| QmSet::set("efidisk0", format!("{}:1,efitype=4m,pre-enrolled-keys=0", fix::pve_storage(p)))))
                .collect(),
            note: format!(
                "`pre-enrolled-keys=0` leaves Secure Boot off, which unsigned option ROMs and older GPU drivers need. {}{}",
                if p.is_q35() { String::new() } else { format!("q35 (`qm set {} --machine q35`, native PCIe for `pcie=1`) is what GPU guides use, but it changes every guest device address. ", p.id()) },
                mbr_note(vm, "switch the firmware as above").trim_start()
            ),
        };
        f.remediation = fix::vm_remediation(vm, libvirt, pve);
    }
}

/// For a Windows guest: an MBR system disk does not boot under UEFI; convert it first.
fn mbr_note(vm: &crate::system::Vm, then: &str) -> String {
    if !vm.looks_windows() {
        return String::new();
    }
    format!(
                "\n\nAn installed Windows on an MBR disk will not boot under UEFI. Convert its disk first, inside the guest while it \
                 still boots with SeaBIOS (Windows 10 1703 or later), from an elevated prompt:\n\n\
                 ```bat\nmbr2gpt /validate /allowFullOS\nmbr2gpt /convert /allowFullOS\n```\n\n\
                 Then shut {name} down, {then} and start it. Or reinstall Windows with the UEFI firmware.",
                name = vm.name
    )
}
