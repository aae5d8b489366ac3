//! Logic for `iommu-group-not-isolated`; its documentation is rules/iommu-group-not-isolated.md.
//! A passed (or vfio-bound) device shares its IOMMU group with endpoints of *other* cards that
//! stay on host drivers. Other functions of the same card are `group-member-not-bound`.

use std::collections::BTreeSet;

use crate::rules::{fix, Evidence, Findings};
use crate::system::isolation::{self, HostCritical};
use crate::system::{Device, Group, PciAddress, System, Vm};

/// A group member that does not stop vfio from using the group: a bridge, a device with no
/// driver (drivers/vfio/group.c viability accepts unbound devices), one on vfio-pci/pci-stub,
/// or one the same VM takes as well.
fn harmless(d: &Device, vm: Option<&Vm>) -> bool {
    d.is_bridge()
        || d.driver.is_none()
        || d.driver_is("vfio-pci")
        || d.driver_is("pci-stub")
        || vm.is_some_and(|v| v.takes(&d.address))
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for vm in &sys.vms {
        let mut groups: Vec<&Group> = Vec::new();
        for h in &vm.hostdevs {
            if let Some(g) = sys.group_of(&h.address) {
                if !groups.iter().any(|x| x.id == g.id) {
                    groups.push(g);
                }
            }
        }
        for g in groups {
            let passed: Vec<&PciAddress> = g.members.iter().filter(|a| vm.takes(a)).collect();
            if report(sys, out, g, &passed, Some(vm)) {
                reported.insert(g.id.clone());
            }
        }
    }
    // Devices bound to vfio-pci that no VM in the input takes: the group must still be viable.
    for g in &sys.groups {
        if reported.contains(&g.id) {
            continue;
        }
        let passed: Vec<&PciAddress> = g
            .members
            .iter()
            .filter(|a| sys.device_at(a).is_some_and(|d| d.driver_is("vfio-pci")) && !sys.is_assigned(a))
            .collect();
        if !passed.is_empty() {
            report(sys, out, g, &passed, None);
        }
    }
}

/// Emit the finding for one group; true when something was emitted.
fn report(sys: &System, out: &mut Findings<'_>, g: &Group, passed: &[&PciAddress], vm: Option<&Vm>) -> bool {
    let slots: BTreeSet<&str> = passed.iter().map(|a| a.slot()).collect();
    let culprits: Vec<&Device> = g
        .members
        .iter()
        .filter(|a| !slots.contains(a.slot()))
        .filter_map(|a| sys.device_at(a))
        .filter(|d| !harmless(d, vm))
        .collect();
    if culprits.is_empty() {
        return false;
    }
    let passed_devices: Vec<String> =
        passed.iter().map(|a| sys.device_at(a).map(Device::label).unwrap_or_else(|| a.to_string())).collect();
    let culprit_list: Vec<String> = culprits
        .iter()
        .map(|d| format!("{} ({}, driver {})", d.label(), d.class_name.as_deref().unwrap_or("device"), d.driver.as_deref().unwrap_or("none")))
        .collect();
    let who = match vm {
        Some(v) => format!("VM {} passes {}", v.name, passed_devices.join(" and ")),
        None => format!("{} is bound to vfio-pci", passed_devices.join(" and ")),
    };
    let message = format!(
        "IOMMU group {} is not isolated: {who}, but the group also holds {} endpoint(s) on host drivers: {}. \
         vfio only accepts whole groups, so QEMU refuses it (`group {} is not viable`) until these leave their host drivers",
        g.id,
        culprits.len(),
        culprit_list.join("; "),
        g.id
    );

    let mut evidence = Vec::new();
    if let Some(v) = vm {
        for h in v.hostdevs.iter().filter(|h| passed.contains(&&h.address)) {
            evidence.push(v.hostdev_evidence(h));
        }
    } else {
        for a in passed {
            if let Some(d) = sys.device_at(a) {
                evidence.push(d.evidence("driver", "vfio-pci"));
            }
        }
    }
    for d in &culprits {
        evidence.push(group_evidence(d, &g.id));
    }

    let mut r = String::from("Pick one:\n\n");
    r.push_str(&fix::isolation_ways_out(sys, &g.id, 1));
    // 3. Pass the whole group — only when the host needs none of it.
    let needed: Vec<(&Device, HostCritical)> = culprits.iter().filter_map(|d| isolation::host_needs(sys, d).map(|n| (*d, n))).collect();
    if needed.is_empty() {
        r.push_str("3. **Pass the whole group** to the VM");
        match vm.and_then(|v| v.pve.as_ref()) {
            Some(p) => {
                let addrs: Vec<&crate::system::PciAddress> = culprits.iter().map(|d| &d.address).collect();
                r.push_str(":\n\n");
                r.push_str(&fix::in_step(&fix::render_pve(p, &fix::pve_pass_devices(p, &addrs, ""))));
                r.push_str("\n\n   The host then loses these devices while the VM runs.");
            }
            None => {
                if let Some(v) = vm {
                    r.push_str(&format!(" (`virsh edit {}`, inside `<devices>`)", v.name));
                }
                r.push_str(":\n\n   ```xml\n");
                for d in &culprits {
                    r.push_str(&fix::in_step(&fix::hostdev_xml(&d.address, None, None)));
                    r.push('\n');
                }
                r.push_str("   ```\n\n   The host then loses these devices while the VM runs.");
            }
        }
    } else {
        r.push_str(&format!(
            "\nDo not bind the rest of the group to vfio-pci or pass it to the VM: the host needs {} — its disks, network or keyboard would go with the card.",
            fix::host_needed_list(&needed)
        ));
    }

    let subject = match vm {
        Some(v) => format!("IOMMU group {} (VM {})", g.id, v.name),
        None => format!("IOMMU group {}", g.id),
    };
    let f = out.emit(subject, message, evidence);
    f.remediation = r;
    true
}

/// Membership of `d` in group `id`, with what holds it on the host.
fn group_evidence(d: &Device, id: &str) -> Evidence {
    let driver = d.driver.as_deref().unwrap_or("none");
    if d.origin == "sysfs" {
        Evidence::new(format!("/sys/kernel/iommu_groups/{id}/devices"), d.address.to_string(), format!("{} — driver {driver}", d.label()))
    } else {
        Evidence::new(d.origin.clone(), format!("IOMMU group {id}"), format!("{} — driver {driver}", d.label()))
    }
}

