//! Per-IOMMU-group isolation: can a group's devices go to a VM alone, only together, or not at
//! all because the host needs something in the group. A fact rules, `iommu` and reports share.
//!
//! Basis: VFIO assigns whole groups (Documentation/driver-api/vfio.rst, "Groups, Devices, and
//! IOMMUs"): every endpoint of a group must be bound to vfio-pci / pci-stub or be unbound;
//! PCIe bridges and host bridges are exempt (vfio_pci_core's `vfio_dev_driver_allowed`, the
//! kernel's "driver-less" bridge exception in `vfio_group_viable`).

use super::{Device, Group, PciAddress, System};

/// Drivers that hand a device to userspace (a VM) instead of the host.
const VM_DRIVERS: &[&str] = &["vfio-pci", "pci-stub"];

/// Whether (and why) a device is taken for a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmClaim {
    /// The VMs that take it, by name, where known.
    pub vms: Vec<String>,
    /// How we know: `bound to vfio-pci`, or `hostdev of win10`.
    pub how: String,
}

/// THE one place that decides whether a device is "taken for a VM": a VM's `<hostdev>` (or
/// `-device vfio-pci,host=…`) assigns it, or the host gave it up to vfio-pci / pci-stub (a
/// paste without domain XML, or a device prepared for a VM not in the input).
pub fn taken_for_vm(sys: &System, device: &Device) -> Option<VmClaim> {
    let vms: Vec<String> = sys.vms_taking(&device.address).iter().map(|v| v.name.clone()).collect();
    let bound = device.driver.as_deref().filter(|d| VM_DRIVERS.contains(d));
    let how = match (vms.is_empty(), bound) {
        (false, Some(driver)) => format!("hostdev of {}, bound to {driver}", vms.join(", ")),
        (false, None) => format!("hostdev of {}", vms.join(", ")),
        (true, Some(driver)) => format!("bound to {driver}"),
        (true, None) => return None,
    };
    Some(VmClaim { vms, how })
}

/// Why a device is one the host cannot give away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCritical {
    /// Class 01xx: the host's disks may hang off it.
    Storage,
    /// Class 0c03: keyboard and mouse usually do.
    Usb,
    /// Class 02xx with a host driver bound: the host's network.
    Network { driver: String },
    /// The firmware's boot display while another GPU is taken for a VM: the host's screen.
    BootVga,
    /// Class 0c05: sensors, RAM SPD, board management.
    Smbus,
    /// Class 0601: the LPC/ISA bridge (TPM, super-I/O, firmware flash).
    IsaBridge,
}

impl HostCritical {
    /// Phrase for "contains host-critical devices: 02:00.1 (SATA storage)".
    pub fn describe(&self) -> String {
        match self {
            HostCritical::Storage => "storage controller".into(),
            HostCritical::Usb => "USB controller".into(),
            HostCritical::Network { driver } => format!("network in use by {driver}"),
            HostCritical::BootVga => "the host's boot display".into(),
            HostCritical::Smbus => "SMBus controller".into(),
            HostCritical::IsaBridge => "ISA/LPC bridge".into(),
        }
    }
}

/// The passthrough verdict of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// One endpoint (bridges aside): it can be passed alone.
    Alone,
    /// Several endpoints, none host-critical: all of them go to the same VM.
    /// `same_slot`: they are all functions of one card (a GPU and its HDMI audio).
    Together { endpoints: Vec<PciAddress>, same_slot: bool },
    /// Something the host needs shares the group: passing any device takes these from the host.
    HostCritical { devices: Vec<(PciAddress, HostCritical)> },
    /// Bridges only: nothing to pass.
    BridgesOnly,
}

impl Verdict {
    pub fn passable(&self) -> bool {
        matches!(self, Verdict::Alone | Verdict::Together { .. })
    }

    /// Stable kebab-case name (JSON): `alone`, `together`, `host-critical`, `bridges-only`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Alone => "alone",
            Verdict::Together { .. } => "together",
            Verdict::HostCritical { .. } => "host-critical",
            Verdict::BridgesOnly => "bridges-only",
        }
    }

    /// The sentence `iommu` and the reports print, with full addresses (the text formats
    /// shorten them as lspci does when the host has one PCI domain).
    pub fn sentence(&self) -> String {
        let list = |v: &[PciAddress]| v.iter().map(|a| a.as_str().to_string()).collect::<Vec<_>>().join(", ");
        match self {
            Verdict::Alone => "can be passed alone".into(),
            Verdict::Together { endpoints, same_slot: true } => {
                format!("can be passed, only together with its other functions: {}", list(endpoints))
            }
            Verdict::Together { endpoints, .. } => format!("can be passed only together with these devices: {}", list(endpoints)),
            Verdict::HostCritical { devices } => format!(
                "not passable: contains host-critical devices: {}",
                devices.iter().map(|(a, why)| format!("{} ({})", a, why.describe())).collect::<Vec<_>>().join(", ")
            ),
            Verdict::BridgesOnly => "bridges only, nothing to pass".into(),
        }
    }
}

/// One group's verdict plus the isolation breach, if any.
#[derive(Debug, Clone)]
pub struct GroupIsolation<'a> {
    pub group: &'a Group,
    pub verdict: Verdict,
    /// Endpoints left with the host while another endpoint of the same group is taken for a VM:
    /// the group's isolation is broken (vfio refuses the group, or the ACS override hides it).
    pub left_with_host: Vec<PciAddress>,
}

/// Bridges are exempt from group viability, except the ISA/LPC bridge, which the host needs.
fn is_exempt_bridge(d: &Device) -> bool {
    d.is_bridge() && d.class.is_some_and(|c| c >> 8 != 0x0601)
}

fn host_critical(sys: &System, d: &Device, another_gpu_taken: bool) -> Option<HostCritical> {
    if taken_for_vm(sys, d).is_some() {
        return None;
    }
    let class = d.class?;
    match (class >> 16, (class >> 8) & 0xff) {
        (0x01, _) => Some(HostCritical::Storage),
        (0x0c, 0x03) => Some(HostCritical::Usb),
        (0x0c, 0x05) => Some(HostCritical::Smbus),
        (0x06, 0x01) => Some(HostCritical::IsaBridge),
        (0x02, _) => d.driver.clone().map(|driver| HostCritical::Network { driver }),
        (0x03, _) if d.boot_vga && another_gpu_taken => Some(HostCritical::BootVga),
        _ => None,
    }
}

/// Whether the host needs `d` for itself, so that no fix may take it from the host (bind it to
/// vfio-pci, name its ids or its driver for vfio-pci, pass it to a VM): storage (class 01, the
/// disks it may boot from, driver or not: a paste may not say), its network (class 02 with a
/// driver), USB controllers (class 0c03: the keyboard and mouse) except the USB-C function of a
/// graphics card, which goes with the card, SMBus and the LPC bridge. Decided by class: the bundle
/// does not record which disk holds the root file system or which interface the default route
/// leaves by, so every such controller counts. A device already taken for a VM is the user's
/// choice and not counted.
pub fn host_needs(sys: &System, d: &Device) -> Option<HostCritical> {
    let need = host_critical(sys, d, false)?;
    let on_graphics_card = sys.devices.iter().any(|g| g.is_gpu() && g.address != d.address && g.address.slot() == d.address.slot());
    match need {
        HostCritical::Usb if on_graphics_card => None,
        other => Some(other),
    }
}

/// The verdict of every group, in group order.
pub fn groups(sys: &System) -> Vec<GroupIsolation<'_>> {
    let another_gpu_taken = |boot: &Device| {
        sys.devices.iter().any(|d| d.is_gpu() && d.address != boot.address && taken_for_vm(sys, d).is_some())
    };
    sys.groups
        .iter()
        .map(|group| {
            let members: Vec<&Device> = group.members.iter().filter_map(|a| sys.devices.iter().find(|d| &d.address == a)).collect();
            // A member without sysfs facts (a group listing alone) counts as an endpoint.
            let unknown: Vec<PciAddress> =
                group.members.iter().filter(|a| !members.iter().any(|d| &d.address == *a)).cloned().collect();
            let endpoints: Vec<&Device> = members.iter().copied().filter(|d| !is_exempt_bridge(d)).collect();
            let critical: Vec<(PciAddress, HostCritical)> = members
                .iter()
                .filter_map(|d| host_critical(sys, d, d.boot_vga && another_gpu_taken(d)).map(|c| (d.address.clone(), c)))
                .collect();
            let mut all_endpoints: Vec<PciAddress> = endpoints.iter().map(|d| d.address.clone()).collect();
            all_endpoints.extend(unknown);
            all_endpoints.sort();
            let verdict = if !critical.is_empty() {
                Verdict::HostCritical { devices: critical }
            } else if all_endpoints.is_empty() {
                Verdict::BridgesOnly
            } else if all_endpoints.len() == 1 {
                Verdict::Alone
            } else {
                let slot = all_endpoints[0].slot().to_string();
                let same_slot = all_endpoints.iter().all(|a| a.slot() == slot);
                Verdict::Together { endpoints: all_endpoints.clone(), same_slot }
            };
            let any_taken = endpoints.iter().any(|d| taken_for_vm(sys, d).is_some());
            let left_with_host = if any_taken {
                endpoints.iter().filter(|d| taken_for_vm(sys, d).is_none()).map(|d| d.address.clone()).collect()
            } else {
                Vec::new()
            };
            GroupIsolation { group, verdict, left_with_host }
        })
        .collect()
}

/// Why there are no IOMMU groups, phrased for the user; `None` when groups exist.
pub fn why_no_groups(sys: &System) -> Option<String> {
    if !sys.groups.is_empty() {
        return None;
    }
    let consequence = "Without IOMMU groups vfio-pci cannot give any device to a VM: \
                       GPU passthrough is impossible until they appear.";
    Some(if sys.devices.is_empty() {
        format!(
            "No IOMMU groups, and no PCI devices either: {}. Nothing to judge: run vfio-doctor on the \
             host itself, or give it a bundle, a --root tree, or a pasted `lspci -nnk` or IOMMU group listing.",
            sys.why_missing(crate::bundle::SourceKind::Pci)
        )
    } else {
        let in_vm = sys.host.cpu_flags.as_ref().is_some_and(|f| f.iter().any(|x| x == "hypervisor"));
        let vendor_fix = if in_vm {
            "this host is itself a virtual machine (CPU flag `hypervisor`): its hypervisor must give it a \
             virtual IOMMU (QEMU: `-device intel-iommu`), or run vfio-doctor on the physical host"
        } else if sys.cpu_is_intel() {
            "enable VT-d in the firmware setup, add intel_iommu=on to the kernel command line, and reboot"
        } else if sys.cpu_is_amd() {
            "enable IOMMU (AMD-Vi) in the firmware setup, and reboot (the kernel turns it on by itself)"
        } else {
            "enable the IOMMU (VT-d / AMD-Vi) in the firmware setup and on the kernel command line, and reboot"
        };
        format!(
            "No IOMMU groups: /sys/kernel/iommu_groups is empty, so the IOMMU is off or missing \
             ({} PCI devices found, none in a group). {consequence} To fix: {vendor_fix}.",
            sys.devices.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{Bundle, IommuGroup, PciDevice};

    fn dev(addr: &str, vendor: &str, device: &str, class: &str, driver: Option<&str>, group: &str) -> PciDevice {
        PciDevice {
            address: addr.into(),
            vendor: Some(vendor.into()),
            device: Some(device.into()),
            class: Some(class.into()),
            driver: driver.map(str::to_string),
            iommu_group: Some(group.into()),
            ..PciDevice::default()
        }
    }

    fn system(devs: Vec<PciDevice>) -> System {
        let mut b = Bundle::new();
        let mut groups: Vec<IommuGroup> = Vec::new();
        for d in &devs {
            let id = d.iommu_group.clone().unwrap_or_default();
            match groups.iter_mut().find(|g| g.id == id) {
                Some(g) => g.devices.push(d.address.clone()),
                None => groups.push(IommuGroup { id, devices: vec![d.address.clone()] }),
            }
        }
        b.pci_devices = devs;
        b.iommu_groups = groups;
        System::from_bundle(&b)
    }

    #[test]
    fn gpu_with_audio_passes_together_bridges_exempt() {
        let sys = system(vec![
            dev("0000:00:03.1", "0x1022", "0x1483", "0x060400", Some("pcieport"), "16"),
            dev("0000:08:00.0", "0x10de", "0x1c02", "0x030000", Some("vfio-pci"), "16"),
            dev("0000:08:00.1", "0x10de", "0x10f1", "0x040300", Some("vfio-pci"), "16"),
        ]);
        let g = groups(&sys);
        assert_eq!(g[0].verdict.kind(), "together");
        assert!(g[0].verdict.sentence().contains("only together with its other functions: 0000:08:00.0, 0000:08:00.1"));
        assert!(g[0].left_with_host.is_empty());
    }

    #[test]
    fn chipset_group_with_usb_and_sata_is_host_critical() {
        let sys = system(vec![
            dev("0000:02:00.0", "0x1022", "0x43ee", "0x0c0330", Some("xhci_hcd"), "15"),
            dev("0000:02:00.1", "0x1022", "0x43eb", "0x010601", Some("ahci"), "15"),
            dev("0000:04:00.0", "0x1002", "0x67ff", "0x030000", Some("amdgpu"), "15"),
            dev("0000:07:00.0", "0x10ec", "0x8125", "0x020000", Some("r8169"), "15"),
        ]);
        let g = groups(&sys);
        let s = g[0].verdict.sentence();
        assert!(!g[0].verdict.passable());
        assert!(s.contains("02:00.0 (USB controller)") && s.contains("02:00.1 (storage controller)"), "{s}");
        assert!(s.contains("07:00.0 (network in use by r8169)"), "{s}");
    }

    #[test]
    fn unbound_nic_is_not_critical_and_a_half_taken_group_is_a_breach() {
        let sys = system(vec![
            dev("0000:07:00.0", "0x10ec", "0x8125", "0x020000", None, "3"),
            dev("0000:08:00.0", "0x10de", "0x1c02", "0x030000", Some("vfio-pci"), "3"),
        ]);
        let g = groups(&sys);
        assert_eq!(g[0].verdict.kind(), "together");
        assert_eq!(g[0].left_with_host.iter().map(|a| a.short()).collect::<Vec<_>>(), ["07:00.0"]);
    }

    #[test]
    fn boot_vga_is_critical_only_when_another_gpu_is_taken() {
        let mut boot = dev("0000:04:00.0", "0x1002", "0x67ff", "0x030000", Some("amdgpu"), "1");
        boot.boot_vga = Some("1".into());
        let sys = system(vec![boot.clone()]);
        assert_eq!(groups(&sys)[0].verdict, Verdict::Alone);
        let sys = system(vec![boot, dev("0000:08:00.0", "0x10de", "0x1c02", "0x030000", Some("vfio-pci"), "2")]);
        assert_eq!(groups(&sys)[0].verdict.kind(), "host-critical");
    }

    #[test]
    fn the_host_needs_its_disks_network_and_usb_but_not_a_gpus_usb_c() {
        let sys = system(vec![
            dev("0000:02:00.0", "0x1022", "0x43ee", "0x0c0330", Some("xhci_hcd"), "15"),
            dev("0000:02:00.1", "0x1022", "0x43eb", "0x010601", Some("ahci"), "15"),
            dev("0000:05:00.0", "0x1e0f", "0x0009", "0x010802", Some("nvme"), "15"),
            dev("0000:07:00.0", "0x10ec", "0x8125", "0x020000", Some("r8169"), "15"),
            dev("0000:09:00.0", "0x10ec", "0x8125", "0x020000", None, "16"),
            dev("0000:0b:00.0", "0x10de", "0x1e87", "0x030000", Some("vfio-pci"), "17"),
            dev("0000:0b:00.2", "0x10de", "0x10f8", "0x0c0330", Some("xhci_hcd"), "17"),
        ]);
        let needs = |a: &str| host_needs(&sys, sys.device(a).unwrap()).map(|n| n.describe());
        assert_eq!(needs("0000:02:00.0").as_deref(), Some("USB controller"));
        assert_eq!(needs("0000:02:00.1").as_deref(), Some("storage controller"));
        assert_eq!(needs("0000:05:00.0").as_deref(), Some("storage controller"));
        assert_eq!(needs("0000:07:00.0").as_deref(), Some("network in use by r8169"));
        assert_eq!(needs("0000:09:00.0"), None, "a NIC no driver holds carries no traffic");
        assert_eq!(needs("0000:0b:00.2"), None, "the RTX card's USB-C controller goes with the card");
    }

    #[test]
    fn no_groups_says_why() {
        let sys = system(vec![]);
        assert!(why_no_groups(&sys).unwrap().starts_with("No IOMMU groups, and no PCI devices either: no PCI devices"));
        let mut d = dev("0000:08:00.0", "0x10de", "0x1c02", "0x030000", None, "");
        d.iommu_group = None;
        let mut b = Bundle::new();
        b.pci_devices = vec![d];
        let sys = System::from_bundle(&b);
        let why = why_no_groups(&sys).unwrap();
        assert!(why.contains("IOMMU is off") && why.contains("passthrough is impossible"), "{why}");
    }
}
