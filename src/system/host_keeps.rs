//! Which devices that vfio-pci's ids match the host keeps for itself: the twin of a card a VM
//! passes, or the boot GPU no VM passes. vfio-pci claims by id, so such a device is taken by
//! mistake; the ids rule reports it and the load-order rule must not ask to bind it.

use super::{vfio_ids, Device, System};

const VM_DRIVERS: &[&str] = &["vfio-pci", "pci-stub"];

/// Why the host keeps `d`, and the identical devices that go to VMs instead.
pub struct HostKeeps<'a> {
    pub why: String,
    pub vm_twins: Vec<&'a Device>,
}

/// For a device whose ids vfio-pci's `ids` name: whether the host needs it. With domain XML,
/// a device no VM passes is the host's when a twin with the same ids is passed or when it is
/// the boot GPU; without, when it is the boot GPU with a twin, or on a host driver while a
/// twin is on vfio-pci.
pub fn host_keeps<'a>(sys: &'a System, d: &'a Device) -> Option<HostKeeps<'a>> {
    let (Some(v), Some(i)) = (d.vendor_id, d.device_id) else { return None };
    if d.is_bridge() || sys.is_assigned(&d.address) || vfio_ids::configured_for(sys, v, i).is_empty() {
        return None;
    }
    let twins: Vec<&Device> = sys.devices.iter().filter(|x| x.address != d.address && x.ids() == d.ids()).collect();
    let passed: Vec<&Device> = twins.iter().copied().filter(|x| sys.is_assigned(&x.address)).collect();
    let on_vfio: Vec<&Device> = twins.iter().copied().filter(|x| x.driver.as_deref().is_some_and(|drv| VM_DRIVERS.contains(&drv))).collect();
    let why = if !sys.vms.is_empty() {
        if let Some(t) = passed.first() {
            let vms: Vec<String> = sys.vms_taking(&t.address).iter().map(|v| v.name.clone()).collect();
            format!("no VM passes it, while {} with the same ids goes to {}", t.address.short(), vms.join(", "))
        } else if d.boot_vga {
            "it is the boot GPU (boot_vga = 1) and no VM passes it".to_string()
        } else {
            return None;
        }
    } else {
        match (d.boot_vga, on_vfio.first()) {
            (true, Some(t)) => format!("it is the boot GPU (boot_vga = 1), while {} with the same ids is on vfio-pci", t.address.short()),
            (true, None) if !twins.is_empty() => format!("it is the boot GPU (boot_vga = 1) and has an identical twin at {}", twins[0].address.short()),
            (false, Some(t)) => {
                let drv = d.driver.as_deref().filter(|drv| !VM_DRIVERS.contains(drv))?;
                format!("the host drives it with {drv}, while {} with the same ids is on vfio-pci", t.address.short())
            }
            _ => return None,
        }
    };
    let vm_twins = if passed.is_empty() { on_vfio } else { passed };
    Some(HostKeeps { why, vm_twins })
}
