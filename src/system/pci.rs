//! PCI devices and IOMMU groups with names from the pci-ids database.

use crate::bundle::{Bundle, PciDevice};
use super::Evidence;

/// A PCI address normalised to `dddd:bb:ss.f` (lower-case hex, domain included).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress(String);

impl PciAddress {
    /// Accepts `0000:08:00.0`, `08:00.0`, `0000:08:00.0` with upper-case hex.
    pub fn parse(s: &str) -> Option<PciAddress> {
        let s = s.trim().to_ascii_lowercase();
        let (domain, rest) = match s.matches(':').count() {
            1 => ("0000".to_string(), s.as_str()),
            2 => {
                let (d, r) = s.split_once(':')?;
                (format!("{:0>4}", d), r)
            }
            _ => return None,
        };
        let (bus, rest) = rest.split_once(':')?;
        let (slot, func) = rest.split_once('.')?;
        let hex = |x: &str, max: usize| !x.is_empty() && x.len() <= max && x.chars().all(|c| c.is_ascii_hexdigit());
        if !(hex(&domain, 4) && hex(bus, 2) && hex(slot, 2) && func.len() == 1 && func.chars().all(|c| ('0'..='7').contains(&c))) {
            return None;
        }
        Some(PciAddress(format!("{domain}:{bus:0>2}:{slot:0>2}.{func}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `08:00.0` — the short form lspci and people use.
    pub fn short(&self) -> &str {
        self.0.strip_prefix("0000:").unwrap_or(&self.0)
    }

    /// The function with `.0`..`.7` removed: `0000:08:00`.
    pub fn slot(&self) -> &str {
        &self.0[..self.0.len() - 2]
    }

    /// Bus, slot, function as numbers (for Xorg's decimal `PCI:8:0:0`).
    pub fn bus_slot_function(&self) -> (u8, u8, u8) {
        let parts: Vec<&str> = self.0.split([':', '.']).collect();
        let n = |i: usize| parts.get(i).and_then(|p| u8::from_str_radix(p, 16).ok()).unwrap_or(0);
        (n(1), n(2), n(3))
    }
}

impl std::fmt::Display for PciAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct Device {
    pub address: PciAddress,
    pub vendor_id: Option<u16>,
    pub device_id: Option<u16>,
    pub subsystem_vendor_id: Option<u16>,
    pub subsystem_device_id: Option<u16>,
    /// 24-bit class code, e.g. 0x030000 for a VGA controller.
    pub class: Option<u32>,
    pub vendor_name: Option<String>,
    pub device_name: Option<String>,
    pub class_name: Option<String>,
    pub driver: Option<String>,
    pub iommu_group: Option<String>,
    pub boot_vga: bool,
    pub driver_override: Option<String>,
    pub reset_methods: Option<Vec<String>>,
    pub current_link_speed: Option<String>,
    pub current_link_width: Option<u32>,
    pub max_link_speed: Option<String>,
    pub max_link_width: Option<u32>,
    /// Where the facts came from: `sysfs path` or the pasted input.
    pub origin: String,
    pub raw: PciDevice,
}

fn hex_u32(s: Option<&str>) -> Option<u32> {
    let s = s?.trim();
    u32::from_str_radix(s.trim_start_matches("0x").trim_start_matches("0X"), 16).ok()
}

impl Device {
    pub fn from_raw(raw: &PciDevice) -> Option<Device> {
        let address = PciAddress::parse(&raw.address)?;
        let vendor_id = hex_u32(raw.vendor.as_deref()).and_then(|v| u16::try_from(v).ok());
        let device_id = hex_u32(raw.device.as_deref()).and_then(|v| u16::try_from(v).ok());
        let class = hex_u32(raw.class.as_deref());
        let (vendor_name, device_name) = names(vendor_id, device_id);
        let class_name = class.and_then(class_name);
        Some(Device {
            address,
            vendor_id,
            device_id,
            subsystem_vendor_id: hex_u32(raw.subsystem_vendor.as_deref()).and_then(|v| u16::try_from(v).ok()),
            subsystem_device_id: hex_u32(raw.subsystem_device.as_deref()).and_then(|v| u16::try_from(v).ok()),
            class,
            vendor_name,
            device_name,
            class_name,
            driver: raw.driver.clone().filter(|d| !d.is_empty()),
            iommu_group: raw.iommu_group.clone(),
            boot_vga: raw.boot_vga.as_deref().map(str::trim) == Some("1"),
            driver_override: raw.driver_override.clone().filter(|d| !d.is_empty() && d != "(null)"),
            reset_methods: raw.reset_method.as_ref().map(|r| r.split_whitespace().map(str::to_string).collect()),
            current_link_speed: raw.current_link_speed.clone(),
            current_link_width: raw.current_link_width.as_deref().and_then(|w| w.trim().parse().ok()),
            max_link_speed: raw.max_link_speed.clone(),
            max_link_width: raw.max_link_width.as_deref().and_then(|w| w.trim().parse().ok()),
            origin: raw.origin.clone().unwrap_or_else(|| "sysfs".into()),
            raw: raw.clone(),
        })
    }

    /// `10de:1c02`
    pub fn ids(&self) -> String {
        match (self.vendor_id, self.device_id) {
            (Some(v), Some(d)) => format!("{v:04x}:{d:04x}"),
            _ => "????:????".into(),
        }
    }

    /// `NVIDIA Corporation GP106 [GeForce GTX 1060 3GB]`, or the ids when the database has no name.
    pub fn name(&self) -> String {
        match (&self.vendor_name, &self.device_name) {
            (Some(v), Some(d)) => format!("{v} {d}"),
            (Some(v), None) => format!("{v} device {}", self.ids()),
            _ => format!("device {}", self.ids()),
        }
    }

    /// `0000:08:00.0 NVIDIA Corporation GP106 [GeForce GTX 1060 3GB] [10de:1c02]`
    pub fn label(&self) -> String {
        format!("{} {} [{}]", self.address, self.name(), self.ids())
    }

    /// Display controller (VGA, 3D, other display): class 0x03.
    pub fn is_gpu(&self) -> bool {
        self.class.is_some_and(|c| c >> 16 == 0x03)
    }

    /// Bridges (host, PCI-to-PCI, ISA…: class 0x06) do not need vfio-pci to share a group.
    pub fn is_bridge(&self) -> bool {
        self.class.is_some_and(|c| c >> 16 == 0x06)
    }

    pub fn driver_is(&self, name: &str) -> bool {
        self.driver.as_deref() == Some(name)
    }

    pub fn vendor_is(&self, id: u16) -> bool {
        self.vendor_id == Some(id)
    }

    /// Evidence pointing at one sysfs attribute of this device.
    pub fn evidence(&self, attribute: &str, value: &str) -> Evidence {
        let source = if self.origin == "sysfs" {
            format!("/sys/bus/pci/devices/{}", self.address)
        } else {
            self.origin.clone()
        };
        Evidence::new(source, attribute, value)
    }
}

pub(crate) fn names(vendor: Option<u16>, device: Option<u16>) -> (Option<String>, Option<String>) {
    use pci_ids::FromId;
    let Some(v) = vendor else { return (None, None) };
    let vendor_name = pci_ids::Vendor::from_id(v).map(|x| x.name().to_string());
    let device_name = device.and_then(|d| pci_ids::Device::from_vid_pid(v, d)).map(|x| x.name().to_string());
    (vendor_name, device_name)
}

fn class_name(class: u32) -> Option<String> {
    let cid = (class >> 16) as u8;
    let sid = (class >> 8) as u8;
    if let Some(sub) = pci_ids::Subclass::from_cid_sid(cid, sid) {
        return Some(sub.name().to_string());
    }
    use pci_ids::FromId;
    pci_ids::Class::from_id(cid).map(|c| c.name().to_string())
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub members: Vec<PciAddress>,
}

impl Group {
    pub fn numeric_id(&self) -> u64 {
        self.id.parse().unwrap_or(u64::MAX)
    }
}

pub fn devices(bundle: &Bundle) -> Vec<Device> {
    let mut v: Vec<Device> = bundle.pci_devices.iter().filter_map(Device::from_raw).collect();
    v.sort_by(|a, b| a.address.cmp(&b.address));
    v
}

/// Groups from sys/kernel/iommu_groups; when only devices' `iommu_group` links are known
/// (a paste), the groups are rebuilt from those.
pub fn groups(bundle: &Bundle, devices: &[Device]) -> Vec<Group> {
    let mut groups: Vec<Group> = bundle
        .iommu_groups
        .iter()
        .map(|g| Group { id: g.id.clone(), members: g.devices.iter().filter_map(|d| PciAddress::parse(d)).collect() })
        .collect();
    if groups.is_empty() {
        for d in devices {
            let Some(id) = &d.iommu_group else { continue };
            match groups.iter_mut().find(|g| &g.id == id) {
                Some(g) => g.members.push(d.address.clone()),
                None => groups.push(Group { id: id.clone(), members: vec![d.address.clone()] }),
            }
        }
    }
    groups.sort_by_key(|g| (g.numeric_id(), g.id.clone()));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalise() {
        assert_eq!(PciAddress::parse("08:00.0").unwrap().as_str(), "0000:08:00.0");
        assert_eq!(PciAddress::parse("0000:0A:00.1").unwrap().as_str(), "0000:0a:00.1");
        assert_eq!(PciAddress::parse("0000:08:00.0").unwrap().short(), "08:00.0");
        assert!(PciAddress::parse("zz:00.0").is_none());
        assert!(PciAddress::parse("08:00.9").is_none());
        assert_eq!(PciAddress::parse("0000:08:00.1").unwrap().bus_slot_function(), (8, 0, 1));
    }

    #[test]
    fn names_come_from_pci_ids() {
        let raw = PciDevice {
            address: "0000:08:00.0".into(),
            vendor: Some("0x10de".into()),
            device: Some("0x1c02".into()),
            class: Some("0x030000".into()),
            ..PciDevice::default()
        };
        let d = Device::from_raw(&raw).unwrap();
        assert_eq!(d.name(), "NVIDIA Corporation GP106 [GeForce GTX 1060 3GB]");
        assert_eq!(d.class_name.as_deref(), Some("VGA compatible controller"));
        assert!(d.is_gpu());
    }
}
