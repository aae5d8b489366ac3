//! Logic for `device-assigned-twice`; its documentation is rules/device-assigned-twice.md.
//! One VM definition that names a host function in two entries: two `<hostdev>`s with the same
//! source address, or Proxmox VE `hostpciN` entries that overlap — a bare `04:00` passes every
//! function of the card, so `04:00.1` in another entry repeats one even when no sysfs says which
//! functions the card has. QEMU's and libvirt's own messages are the rule's `[[match]]` patterns.

use std::collections::BTreeMap;

use crate::rules::{Evidence, Findings};
use crate::system::pve::Hostpci;
use crate::system::{PciAddress, System, Vm};

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for vm in &sys.vms {
        match &vm.pve {
            Some(p) => proxmox(vm, &p.hostpci, p.vmid.as_deref(), out),
            None => libvirt(vm, out),
        }
    }
}

/// Two `<hostdev>` elements (or `-device vfio-pci` arguments) with one source address.
fn libvirt(vm: &Vm, out: &mut Findings<'_>) {
    let mut by_address: BTreeMap<&PciAddress, Vec<usize>> = BTreeMap::new();
    for (i, h) in vm.hostdevs.iter().enumerate() {
        let entries = by_address.entry(&h.address).or_default();
        if !entries.iter().any(|&j| vm.hostdevs[j].line == h.line) {
            entries.push(i);
        }
    }
    for (address, entries) in by_address.into_iter().filter(|(_, e)| e.len() > 1) {
        let evidence: Vec<Evidence> = entries.iter().map(|&i| vm.hostdev_evidence(&vm.hostdevs[i])).collect();
        let lines: Vec<String> = entries.iter().map(|&i| format!("line {}", vm.hostdevs[i].line)).collect();
        let f = out.emit(
            format!("VM {} / {}", vm.name, address),
            format!(
                "VM {} passes {address} {} ({}): the second attach fails (QEMU: `device is already attached`, libvirt: `Device {address} is already in use`), so the VM does not start",
                vm.name,
                if entries.len() == 2 { "twice".to_string() } else { format!("{} times", entries.len()) },
                lines.join(", ")
            ),
            evidence,
        );
        f.remediation = format!(
            "Remove the duplicate: `virsh edit {}` and delete all but one of the `<hostdev>` elements whose `<source><address>` is {address} ({}).",
            vm.name,
            lines.join(", ")
        );
    }
}

/// What a `hostpciN` host id covers: the slot (`0000:04:00`) and the function, `None` for a bare
/// slot (every function).
fn covers(id: &str) -> Option<(String, Option<PciAddress>)> {
    let id = id.trim().to_ascii_lowercase();
    let full = if id.matches(':').count() == 1 { format!("0000:{id}") } else { id };
    match PciAddress::parse(&full) {
        Some(a) => Some((a.slot().to_string(), Some(a))),
        // A bare slot: `0000:04:00` (function-less ids have no `.`).
        None if !full.contains('.') && full.len() == 10 => Some((full, None)),
        None => None,
    }
}

fn proxmox(vm: &Vm, hostpci: &[Hostpci], vmid: Option<&str>, out: &mut Findings<'_>) {
    let ids = |h: &Hostpci| -> Vec<(String, Option<PciAddress>)> { h.hosts.iter().filter_map(|s| covers(s)).collect() };
    for (i, a) in hostpci.iter().enumerate() {
        for b in &hostpci[i + 1..] {
            let overlap = ids(a).into_iter().find_map(|(slot, fa)| {
                ids(b).into_iter().find_map(|(other, fb)| {
                    if slot != other {
                        return None;
                    }
                    match (&fa, &fb) {
                        (Some(x), Some(y)) if x != y => None,
                        (Some(x), _) | (None, Some(x)) => Some(x.to_string()),
                        (None, None) => Some(format!("every function of {slot}")),
                    }
                })
            });
            let Some(what) = overlap else { continue };
            let evidence = vec![vm.evidence(a.line, line_text(vm, a)), vm.evidence(b.line, line_text(vm, b))];
            let bare = [a, b].into_iter().find(|h| ids(h).iter().any(|(_, f)| f.is_none()));
            let why = match bare {
                Some(h) => format!("{} names the card without a function, which passes all its functions, and {} repeats {what}", h.key(), if h.index == a.index { b.key() } else { a.key() }),
                None => format!("both pass {what}"),
            };
            let f = out.emit(
                format!("VM {} / {} and {}", vm.name, a.key(), b.key()),
                format!("VM {}'s {} and {} overlap: {why}. QEMU refuses the second (`vfio {what}: device is already attached`) and the VM does not start", vm.name, a.key(), b.key()),
                evidence,
            );
            let drop = if bare.is_some_and(|h| h.index == a.index) { b } else if bare.is_some() { a } else { b };
            f.remediation = format!(
                "Remove the entry that repeats it: `qm set {} --delete {}` (the other entry already passes {what}).",
                vmid.unwrap_or("VMID"),
                drop.key()
            );
        }
    }
}

fn line_text(vm: &Vm, h: &Hostpci) -> String {
    vm.pve.as_ref().and_then(|p| p.get(&h.key())).map(|s| s.text()).unwrap_or_else(|| h.key())
}
