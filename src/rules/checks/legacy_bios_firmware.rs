//! Logic for `legacy-bios-firmware`; its documentation is rules/legacy-bios-firmware.md.

use crate::rules::Findings;
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for vm in sys.vms.iter().filter(|v| v.from_xml) {
        if vm.firmware.is_uefi() {
            continue;
        }
        let gpus = sys.passed_gpus(vm);
        let Some(gpu) = gpus.first() else { continue };
        let fw = &vm.firmware;
        let os_line = if fw.line > 0 { fw.line } else { vm.line };
        let seen = match (&fw.loader, &fw.firmware_attr) {
            (Some(loader), _) => format!("<loader>{loader}</loader> (not OVMF)"),
            (None, Some(attr)) => format!("<os firmware='{attr}'>"),
            (None, None) => "<os> has no firmware='efi' and no <loader>: SeaBIOS".to_string(),
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
        if vm.looks_windows() {
            remediation.push_str(&format!(
                "\n\nAn installed Windows on an MBR disk will not boot under UEFI. Convert its disk first, inside the guest while it \
                 still boots with SeaBIOS (Windows 10 1703 or later), from an elevated prompt:\n\n\
                 ```bat\nmbr2gpt /validate /allowFullOS\nmbr2gpt /convert /allowFullOS\n```\n\n\
                 Then shut {name} down, change `<os>` as above and start it. Or reinstall Windows with the UEFI firmware.",
                name = vm.name
            ));
        }
        f.remediation = remediation;
    }
}
