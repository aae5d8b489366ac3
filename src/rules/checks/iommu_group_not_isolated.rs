//! Logic for `iommu-group-not-isolated`; its documentation is rules/iommu-group-not-isolated.md.
//! A passed (or vfio-bound) device shares its IOMMU group with endpoints of *other* cards that
//! stay on host drivers. Other functions of the same card are `group-member-not-bound`.

use std::collections::BTreeSet;

use crate::rules::{fix, Evidence, Findings};
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
    // 1. A slot with a group of its own.
    r.push_str("1. **Move the card to a CPU-attached slot** (the top x16 slot on most boards); chipset slots share one group behind the chipset's bridge.");
    let own: Vec<String> = sys
        .groups
        .iter()
        .filter(|o| o.id != g.id)
        .filter(|o| {
            let endpoints: Vec<&Device> = o.members.iter().filter_map(|a| sys.device_at(a)).filter(|d| !d.is_bridge()).collect();
            endpoints.iter().any(|d| d.is_gpu()) && endpoints.iter().all(|d| d.address.slot() == endpoints[0].address.slot())
        })
        .filter_map(|o| {
            let gpu = o.members.iter().filter_map(|a| sys.device_at(a)).find(|d| d.is_gpu())?;
            Some(format!("group {} holds only {} and its functions", o.id, gpu.label()))
        })
        .collect();
    if own.is_empty() {
        r.push_str(" Check the new slot's group with `find /sys/kernel/iommu_groups/ -type l` before moving things back.\n");
    } else {
        r.push_str(&format!(" On this host {}: that slot is isolated, so swapping the cards (and choosing the host's display in the firmware) gives the VM a clean group.\n", own.join("; ")));
    }
    // 2. ACS override.
    r.push_str(
        "2. **ACS override** (needs a kernel carrying the out-of-tree patch: linux-zen, linux-vfio, the Proxmox kernel): \
         it makes the kernel pretend the chipset's ports isolate their devices.\n\n",
    );
    r.push_str(&fix::in_step(&fix::add_kernel_options(sys, &["pcie_acs_override=downstream,multifunction"])));
    r.push_str(
        "\n\n   Risk: the isolation is only pretended. The guest's card can still reach the other devices of the \
         group by peer-to-peer DMA without the IOMMU seeing it, so a malicious or buggy guest driver can read or \
         corrupt host memory through them. Acceptable on a single-user desktop, not on a shared host.\n",
    );
    // 3. Pass the whole group.
    let disks: Vec<String> =
        culprits.iter().filter(|d| matches!(d.driver.as_deref(), Some("nvme" | "ahci" | "xhci_hcd"))).map(|d| d.address.short().to_string()).collect();
    r.push_str("3. **Pass the whole group** to the VM");
    match vm.and_then(|v| v.pve.as_ref()) {
        Some(p) => {
            let addrs: Vec<&crate::system::PciAddress> = culprits.iter().map(|d| &d.address).collect();
            r.push_str(":\n\n");
            r.push_str(&fix::in_step(&fix::render_pve(p, &fix::pve_pass_devices(p, &addrs, ""))));
            r.push_str("\n\n   The host then loses these devices while the VM runs");
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
            r.push_str("   ```\n\n   The host then loses these devices while the VM runs");
        }
    }
    if !disks.is_empty() {
        r.push_str(&format!(
            " — {} are storage/USB controllers; if the host boots from or uses them, this option is out",
            disks.join(", ")
        ));
    }
    r.push('.');

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

