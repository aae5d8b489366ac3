//! Logic for `hostdev-missing-device`; its documentation is rules/hostdev-missing-device.md.
//! A domain's `<hostdev>` names a host PCI address where sysfs has no device (cards moved, or
//! bus numbers shifted after a new NVMe drive or a firmware update).

use crate::bundle::SourceKind;
use crate::rules::{fix, Evidence, Findings};
use crate::system::{vfio_ids, Device, Hostdev, System, Vm};

/// The log lines this rule reads: long logs keep them from between head and tail
/// (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    r"\] type [0-9a-f]{2} class",
    r"/sys/bus/pci/devices/[0-9a-fA-F:.]+: no such host device",
];

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    // Only a full sysfs listing proves absence; a pasted lspci excerpt may leave devices out.
    if !sys.pci_from_sysfs() {
        return;
    }
    for vm in sys.vms.iter().filter(|v| v.from_xml) {
        for h in &vm.hostdevs {
            if sys.device_at(&h.address).is_some() {
                continue;
            }
            // A Proxmox mapping that names an absent device is pve-mapping-device-missing's.
            if vm.pve.as_ref().and_then(|p| p.hostpci_of(&h.address)).is_some_and(|e| e.mapping.is_some()) {
                continue;
            }
            report(sys, out, vm, h);
        }
    }
}

fn report(sys: &System, out: &mut Findings<'_>, vm: &Vm, h: &Hostdev) {
    let mut evidence = vec![vm.hostdev_evidence(h), Evidence::new("/sys/bus/pci/devices", h.address.to_string(), "no such device")];
    // What used to be at that address, if a kernel log still says (its enumeration line, parsed
    // once by the System).
    let seen = sys.ids_in_logs(&h.address).filter(|s| s.device.is_some());
    let was: Option<(u16, u16)> = seen.as_ref().and_then(|s| Some((s.vendor, s.device?)));
    evidence.extend(seen.map(|s| s.evidence));
    // QEMU's own complaint (hw/vfio/pci.c: `vfio /sys/bus/pci/devices/ADDR: no such host device`).
    let wanted = format!("/sys/bus/pci/devices/{}: no such host device", h.address);
    for kind in [SourceKind::QemuLog, SourceKind::Text] {
        if let Some(l) = sys.lines(kind).find(|l| l.message.contains(&wanted)) {
            evidence.push(Evidence::from(l));
        }
    }
    let (_, _, function) = h.address.bus_slot_function();
    let taken_elsewhere = |d: &Device| vm.takes(&d.address);
    let candidates: Vec<&Device> = sys
        .devices
        .iter()
        .filter(|d| !taken_elsewhere(d) && d.address.bus_slot_function().2 == function && !d.is_bridge())
        .filter(|d| match was {
            Some((v, i)) => d.vendor_id == Some(v) && d.device_id == Some(i),
            None => {
                d.driver_is("vfio-pci")
                    || d.driver_override.as_deref() == Some("vfio-pci")
                    || matches!((d.vendor_id, d.device_id), (Some(v), Some(i)) if !vfio_ids::configured_for(sys, v, i).is_empty())
            }
        })
        .collect();
    let mut message = match vm.pve.as_ref().and_then(|p| p.hostpci_of(&h.address)) {
        Some(entry) => format!(
            "VM {}'s {} at line {} passes host device {}, but the host has no device at that address: the VM will not start (qemu-server: `no PCI device found for '{}'`)",
            vm.name,
            entry.key(),
            h.line,
            h.address,
            entry.hosts.first().cloned().unwrap_or_else(|| h.address.to_string())
        ),
        None => format!(
            "VM {}'s <hostdev> at line {} passes host device {}, but the host has no device at that address: the VM will not start (libvirt: `Device {} not found: could not access /sys/bus/pci/devices/{}/config`)",
            vm.name,
            h.line,
            h.address,
            h.address,
            h.address
        ),
    };
    let mut r = String::new();
    match candidates.as_slice() {
        [c] => {
            let how = match was {
                Some((v, i)) => format!("the same {v:04x}:{i:04x} the kernel saw at {} before", h.address.short()),
                None => format!("set aside for vfio-pci ({})", c.driver.as_deref().map(|d| format!("driver {d}")).unwrap_or_else(|| "in vfio-pci's ids".into())),
            };
            message.push_str(&format!("; {} is now at {} — {how}", c.name(), c.address));
            evidence.push(c.evidence("driver", c.driver.as_deref().unwrap_or("none")));
            r.push_str(&format!(
                "The card most likely moved to {} (bus numbers shift when a device such as an NVMe drive is added, or after a firmware update). In `virsh edit {}`, change this `<hostdev>` to:\n\n```xml\n{}\n```\n\n",
                c.address,
                vm.name,
                fix::hostdev_xml(&c.address, h.guest_address.as_deref(), h.rom_file.as_ref().map(|f| format!("<rom file='{f}'/>")).as_deref())
            ));
        }
        [] => {
            r.push_str("No device of the same kind is on the host now: check that the card is seated and powered and shows up in `lspci -nn`; if it was removed, delete this `<hostdev>`.\n\n");
        }
        many => {
            let list: Vec<String> = many.iter().map(|c| c.label()).collect();
            message.push_str(&format!("; candidates now on the host: {}", list.join(", ")));
            r.push_str(&format!("Find which of {} is the card, then in `virsh edit {}` point the `<hostdev>` at it, e.g.:\n\n```xml\n{}\n```\n\n", list.join(", "), vm.name, fix::hostdev_xml(&many[0].address, h.guest_address.as_deref(), None)));
        }
    }
    r.push_str(&format!("List the current addresses with `lspci -nnD | grep -Ei 'vga|3d|audio'`; every `<hostdev>` of {} must name one of them.", vm.name));
    let pve = |p: &crate::system::pve::PveVm| {
        let entry = p.hostpci_of(&h.address);
        let (lead, set) = match (candidates.as_slice(), entry) {
            ([c], Some(e)) => {
                // Keep the entry's form: a bare device stays a bare device.
                let host = if e.hosts.iter().any(|x| !x.contains('.')) { c.address.slot().to_string() } else { c.address.to_string() };
                (
                    format!("The card most likely moved to {} (bus numbers shift when a device such as an NVMe drive is added, or after a firmware update). Point {} at it:", c.address, e.key()),
                    vec![fix::QmSet::set(e.key(), e.value_with(&[("", Some(&host))]))],
                )
            }
            (_, Some(e)) => (
                format!(
                    "Find the card's address with `lspci -nnD | grep -Ei 'vga|3d|audio'` and point {} at it (`qm set {} --{} ADDRESS,…`), or, if the card was removed, delete the entry:",
                    e.key(),
                    p.id(),
                    e.key()
                ),
                vec![fix::QmSet::delete(e.key())],
            ),
            (_, None) => (String::new(), Vec::new()),
        };
        fix::PveFix {
            lead,
            set,
            note: "A resource mapping (Datacenter → Resource Mappings, `hostpciN: mapping=NAME`) checks the device's ids and fails loudly instead of passing whatever sits at the old address.".into(),
        }
    };
    let f = out.emit(format!("{} (VM {})", h.address, vm.name), message, evidence);
    f.remediation = fix::vm_remediation(vm, || r, pve);
}
