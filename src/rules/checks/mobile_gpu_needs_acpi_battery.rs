//! Logic for `mobile-gpu-needs-acpi-battery`; its documentation is rules/mobile-gpu-needs-acpi-battery.md.
//! A laptop NVIDIA GPU (by its name: host PCI name or the guest's) that a VM passes without an
//! extra ACPI table: a warning, an error when the guest shows Code 43 on it. One finding per card.

use regex::Regex;

use crate::rules::{Evidence, Findings, Severity};
use crate::system::guest::GuestDevice;
use crate::system::{Device, System, Vm};

/// Names of mobile NVIDIA GPUs: pci-ids' `TU117M [GeForce GTX 1650 Mobile / Max-Q]`, `GeForce GTX
/// 970M`, Windows' `NVIDIA GeForce RTX 3060 Laptop GPU`.
fn mobile_re() -> &'static Regex {
    static_regex!(r"\bMobile\b|\bMax-Q\b|\bLaptop GPU\b|\b(?:GTX|GT|RTX|MX|Quadro [KMPT]?)\s?\d{3,4}M\b|\b(?:GK|GM|GP|GV|TU|GA|AD|GB)\d{3}[A-Z]?M\b")
}

/// Whether `name` is a laptop GPU's.
pub(crate) fn is_mobile(name: &str) -> bool {
    mobile_re().is_match(name)
}

struct Card<'a> {
    host: Option<&'a Device>,
    guest: Vec<&'a GuestDevice>,
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let mut cards: Vec<Card<'_>> = Vec::new();
    for d in sys.devices.iter().filter(|d| d.vendor_is(0x10de) && d.is_gpu() && is_mobile(&d.name())) {
        cards.push(Card { host: Some(d), guest: Vec::new() });
    }
    for g in sys.guest.devices.iter().filter(|g| g.vendor_id == Some(0x10de) || g.name.as_deref().is_some_and(|n| n.contains("NVIDIA"))) {
        let mobile = g.name.as_deref().is_some_and(is_mobile);
        let host = cards.iter_mut().find(|c| c.host.is_some_and(|h| g.ids().is_some_and(|(v, i)| h.vendor_id == Some(v) && h.device_id == Some(i))));
        match host {
            Some(c) => c.guest.push(g),
            None if mobile => match cards.iter_mut().find(|c| c.host.is_none()) {
                Some(c) => c.guest.push(g),
                None => cards.push(Card { host: None, guest: vec![g] }),
            },
            None => {}
        }
    }
    for card in cards {
        let vms: Vec<&Vm> = match card.host {
            Some(h) => sys.vms_taking(&h.address),
            // Known only from the guest: the VM is the one that passes an NVIDIA GPU, if the input has one.
            None => sys.vms.iter().filter(|v| v.hostdevs.iter().any(|h| sys.device_at(&h.address).is_none_or(|d| d.vendor_is(0x10de)))).collect(),
        };
        // A VM that already has an extra ACPI table: taken as the battery.
        if !vms.is_empty() && vms.iter().all(|v| !v.acpi_tables.is_empty()) {
            continue;
        }
        let code43: Vec<&&GuestDevice> = card.guest.iter().filter(|g| g.problem_code == Some(43)).collect();
        // Without Code 43, only a VM definition that lacks the table is something to warn about.
        if code43.is_empty() && vms.is_empty() {
            continue;
        }
        let name = match (card.host, card.guest.iter().find_map(|g| g.name.clone())) {
            (Some(h), _) => h.label(),
            (None, Some(n)) => n,
            (None, None) => continue,
        };
        let mut evidence: Vec<Evidence> = Vec::new();
        if let Some(h) = card.host {
            evidence.push(h.evidence("name", &h.name()));
        }
        for g in &code43 {
            evidence.extend(g.evidence.iter().cloned());
        }
        for vm in &vms {
            for h in vm.hostdevs.iter().filter(|h| card.host.is_none_or(|d| d.address == h.address)) {
                evidence.push(vm.hostdev_evidence(h));
            }
        }
        let passed = match vms.as_slice() {
            [] => "is in a guest".to_string(),
            vs => format!("goes to {}", vs.iter().map(|v| format!("VM {}", v.name)).collect::<Vec<_>>().join(", ")),
        };
        let tables = if vms.is_empty() { "whose ACPI tables are not in the input" } else { "which has no extra ACPI table (`-acpitable`)" };
        let mut message = format!("{name} is a laptop GPU and {passed}, {tables}: NVIDIA's mobile driver expects a battery and stops the card (Code 43) in a machine without one");
        if !code43.is_empty() {
            message.push_str("; the guest shows that Code 43 on it");
        }
        let f = out.emit(name, message, evidence);
        if !code43.is_empty() {
            f.severity = Severity::Error;
        }
        if vms.is_empty() {
            f.assume("no VM definition in the input: the VM is assumed to have no fake-battery ACPI table");
        }
        let vm = vms.first();
        f.remediation = match vm.and_then(|v| v.pve.as_ref()) {
            Some(p) => format!(
                "Give the guest a fake battery: compile the fake-battery SSDT that laptop passthrough guides publish (`iasl`), copy it to the node, and `qm set {} --args '-acpitable file=/root/SSDT1.dat'` (keep any `args:` you have in the same string). Restart the VM; Windows shows a battery and the NVIDIA driver starts the card.",
                p.vmid.as_deref().unwrap_or("VMID")
            ),
            None => format!(
                "Give the guest a fake battery: compile the fake-battery SSDT that laptop passthrough guides publish (`iasl`) to `/var/lib/libvirt/qemu/SSDT1.dat`, then {}: add `xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'` to `<domain>` and, before `</domain>`, a `<qemu:commandline>` with `<qemu:arg value='-acpitable'/>` and `<qemu:arg value='file=/var/lib/libvirt/qemu/SSDT1.dat'/>`. Restart the VM; Windows shows a battery and the NVIDIA driver starts the card. Keep the usual Code 43 fixes (`vfio-doctor explain nvidia-vm-detection`).",
                vm.map(|v| format!("`virsh edit {}`", v.name)).unwrap_or_else(|| "`virsh edit` the VM".into())
            ),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::is_mobile;

    #[test]
    fn mobile_names() {
        for n in [
            "NVIDIA Corporation TU117M [GeForce GTX 1650 Mobile / Max-Q]",
            "NVIDIA GeForce RTX 3060 Laptop GPU",
            "NVIDIA Corporation GM204M [GeForce GTX 970M]",
            "NVIDIA Corporation GA106M [GeForce RTX 3060 Mobile / Max-Q]",
        ] {
            assert!(is_mobile(n), "{n}");
        }
        for n in ["NVIDIA Corporation GP106 [GeForce GTX 1060 3GB]", "NVIDIA GeForce RTX 3080", "NVIDIA Corporation GA102 [GeForce RTX 3080]"] {
            assert!(!is_mobile(n), "{n}");
        }
    }
}
