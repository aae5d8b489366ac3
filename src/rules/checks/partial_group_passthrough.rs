//! Logic for `partial-group-passthrough`; its documentation is rules/partial-group-passthrough.md.
//! A VM passes some functions of a card but not the others in the same group (08:00.0 without
//! 08:00.1). Missing functions still on a host driver are `group-member-not-bound` instead.

use crate::rules::{fix, Findings};
use crate::system::{Device, Hostdev, System};

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for vm in &sys.vms {
        let mut seen_slots: Vec<&str> = Vec::new();
        for h in &vm.hostdevs {
            let slot = h.address.slot();
            if seen_slots.contains(&slot) {
                continue;
            }
            seen_slots.push(slot);
            // The card's other functions: its IOMMU group's members in the same slot, or, with
            // no groups in the input (a pasted lspci), the devices in the same slot (assumed to
            // share the group, as a card's functions do).
            let group = sys.group_of(&h.address);
            if group.is_none() && !sys.groups.is_empty() {
                continue;
            }
            let members: Vec<&crate::system::PciAddress> = match group {
                Some(g) => g.members.iter().collect(),
                None => sys.devices.iter().map(|d| &d.address).collect(),
            };
            let missing: Vec<&Device> = members
                .into_iter()
                .filter(|m| m.slot() == slot && !vm.takes(m))
                .filter_map(|m| sys.device_at(m))
                .filter(|d| !d.is_bridge())
                // On a host driver: group-member-not-bound reports it, with this same fix (it
                // needs the groups; without them this rule is the one that can tell).
                .filter(|d| group.is_none() || d.driver.is_none() || d.driver_is("vfio-pci") || d.driver_is("pci-stub"))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let passed: Vec<&Hostdev> = vm.hostdevs.iter().filter(|x| x.address.slot() == slot).collect();
            let passed_labels: Vec<String> =
                passed.iter().map(|x| sys.device_at(&x.address).map(Device::label).unwrap_or_else(|| x.address.to_string())).collect();
            let missing_labels: Vec<String> = missing.iter().map(|d| d.label()).collect();
            let message = format!(
                "VM {} passes {} but not {} of the same card ({}): the guest sees an incomplete device \
                 (no HDMI/DP audio, no USB-C controller) and the card cannot be reset as a whole",
                vm.name,
                passed_labels.join(" and "),
                missing_labels.join(" and "),
                group.map(|g| format!("IOMMU group {}", g.id)).unwrap_or_else(|| format!("slot {}", &slot[5..]))
            );
            let mut evidence: Vec<_> = passed.iter().map(|x| vm.hostdev_evidence(x)).collect();
            for d in &missing {
                let driver = d.driver.as_deref().unwrap_or("none");
                evidence.push(match group {
                    Some(g) => d.evidence("iommu_group", &format!("{} (driver {driver})", g.id)),
                    None => d.evidence(d.address.as_str(), &format!("{} (driver {driver})", d.label())),
                });
            }
            // Put the missing functions next to the passed one in the guest when it is laid out
            // as a multifunction device there; otherwise libvirt picks guest addresses itself.
            let template = passed.iter().find_map(|x| x.guest_address.as_deref().filter(|_| x.multifunction));
            let mut xml = String::new();
            for d in &missing {
                let (_, _, function) = d.address.bus_slot_function();
                let guest = template.map(|t| guest_function(t, function));
                xml.push_str(&fix::hostdev_xml(&d.address, guest.as_deref(), None));
                xml.push('\n');
            }
            let libvirt = || format!(
                "Add the missing function(s) to {vm} (`virsh edit {vm}`, inside `<devices>`, next to the existing `<hostdev>`):\n\n```xml\n{xml}```\n\n\
                 With `managed='yes'` libvirt detaches them from the host when the VM starts. Then start the VM and check \
                 Device Manager (or `lspci` in a Linux guest) for the audio function.",
                vm = vm.name
            );
            let pve = |p: &crate::system::pve::PveVm| {
                let set = match p.hostpci_of(&h.address) {
                    // `0000:01:00` without a function passes every function of the card, as one
                    // multifunction device in the guest.
                    Some(entry) if entry.mapping.is_none() && entry.hosts.len() == 1 => {
                        vec![fix::QmSet::set(entry.key(), entry.value_with(&[("", Some(slot))]))]
                    }
                    _ => {
                        let addrs: Vec<&crate::system::PciAddress> = missing.iter().map(|d| &d.address).collect();
                        fix::pve_pass_devices(p, &addrs, "").set
                    }
                };
                fix::PveFix {
                    lead: format!("Pass the whole card to {}: a host address without a function (`{slot}`) passes all its functions.", vm.name),
                    set,
                    note: "Then check Device Manager (or `lspci` in a Linux guest) for the audio function.".into(),
                }
            };
            let f = out.emit(format!("{} (VM {})", h.address, vm.name), message, evidence);
            if group.is_none() {
                f.assume(format!(
                    "no IOMMU groups in the input: {} is taken to share the group of {}, as the functions of one card do",
                    missing.iter().map(|d| d.address.as_str()).collect::<Vec<_>>().join(", "),
                    h.address
                ));
            }
            f.remediation = fix::vm_remediation(vm, libvirt, pve);
        }
    }
}

/// The guest `<address type='pci' … function='0x0' multifunction='on'/>` of the passed
/// function, moved to `function` (and without `multifunction`, which belongs on function 0).
fn guest_function(template: &str, function: u8) -> String {
    let mut parts: Vec<String> = Vec::new();
    for word in template.trim_end_matches("/>").split_whitespace() {
        if word.starts_with("multifunction=") {
            continue;
        }
        if word.starts_with("function=") {
            parts.push(format!("function='0x{function:x}'"));
        } else {
            parts.push(word.to_string());
        }
    }
    format!("{}/>", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_address_moves_to_the_function() {
        let t = "<address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0' multifunction='on'/>";
        assert_eq!(guest_function(t, 1), "<address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x1'/>");
    }
}
