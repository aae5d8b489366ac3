//! The host picture carried on a [`super::Report`]: IOMMU groups with their devices and each
//! group's verdict, copied from the System (and `system::isolation`) so every format can draw it.
//! Addresses are full (`0000:08:00.0`) as in sysfs, libvirt and the bundle; the text formats draw
//! [`HostPicture::for_display`], which shortens them as lspci does.

use serde::{Deserialize, Serialize};

use crate::system::isolation::{self, Verdict};
use crate::system::System;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostPicture {
    pub groups: Vec<PictureGroup>,
    /// When there are no groups: why, and why it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_groups: Option<String>,
    /// Devices that sysfs lists but no group holds (a paste without groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ungrouped: Vec<PictureDevice>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PictureGroup {
    pub id: String,
    pub verdict: GroupVerdict,
    pub devices: Vec<PictureDevice>,
    /// Some endpoint is taken for a VM while these stay with the host: isolation is broken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaks_isolation: Vec<String>,
    /// Any device of the group is taken for a VM.
    pub taken: bool,
}

impl PictureGroup {
    pub fn has_gpu(&self) -> bool {
        self.devices.iter().any(|d| d.role == "gpu")
    }

    /// 0: a GPU or a device taken for a VM; 1: other endpoints; 2: bridges only.
    fn rank(&self) -> u8 {
        if self.taken || self.has_gpu() {
            0
        } else if self.verdict.kind == "bridges-only" {
            2
        } else {
            1
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupVerdict {
    /// `alone`, `together`, `host-critical`, `bridges-only`.
    pub kind: String,
    pub passable: bool,
    pub text: String,
    /// The devices the verdict names (the endpoints that must go together, or the critical ones),
    /// as full addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PictureDevice {
    /// `0000:08:00.0`
    pub address: String,
    /// `vvvv:dddd`
    pub ids: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `0300`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// `gpu`, `audio`, `storage`, `usb`, `network`, `bridge`, `other`: for drawing.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    pub boot_vga: bool,
    /// `8.0 GT/s PCIe x16` (current; `of 16.0 GT/s PCIe x16` when below the maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_methods: Option<Vec<String>>,
    /// Taken for a VM (see `system::isolation::taken_for_vm`): how, and by which VMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_for_vm: Option<TakenForVm>,
    /// Why the host cannot give it away, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_critical: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TakenForVm {
    pub how: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<String>,
}

fn role(class: Option<u32>) -> &'static str {
    let Some(c) = class else { return "other" };
    match (c >> 16, (c >> 8) & 0xff) {
        (0x03, _) => "gpu",
        (0x04, _) => "audio",
        (0x01, _) => "storage",
        (0x0c, 0x03) => "usb",
        (0x02, _) => "network",
        (0x06, _) => "bridge",
        _ => "other",
    }
}

fn link(d: &crate::system::Device) -> Option<String> {
    // sysfs writes `8.0 GT/s PCIe` (drivers/pci/pci-sysfs.c, pci_speed_string); the suffix is noise.
    let tidy = |s: &str| s.trim().trim_end_matches(" PCIe").to_string();
    let speed = d.current_link_speed.as_deref().map(tidy).filter(|s| !s.is_empty() && !s.starts_with("Unknown"))?;
    let speed = speed.as_str();
    let width = d.current_link_width.filter(|w| *w > 0);
    let cur = match width {
        Some(w) => format!("{speed} x{w}"),
        None => speed.to_string(),
    };
    let max_speed = d.max_link_speed.as_deref().map(tidy);
    let max_speed = max_speed.as_deref();
    let below = max_speed.is_some_and(|m| m != speed) || (d.max_link_width.is_some() && d.max_link_width != width);
    Some(match (below, max_speed, d.max_link_width) {
        (true, Some(m), Some(w)) => format!("{cur} (max {m} x{w})"),
        (true, Some(m), None) => format!("{cur} (max {m})"),
        _ => cur,
    })
}

fn device(sys: &System, d: &crate::system::Device, critical: Option<String>) -> PictureDevice {
    PictureDevice {
        address: d.address.as_str().to_string(),
        ids: d.ids(),
        name: d.name(),
        vendor: d.vendor_name.clone(),
        device: d.device_name.clone(),
        class: d.class.map(|c| format!("{:04x}", c >> 8)),
        class_name: d.class_name.clone(),
        role: role(d.class).into(),
        driver: d.driver.clone(),
        boot_vga: d.boot_vga,
        link: link(d),
        reset_methods: d.reset_methods.clone(),
        taken_for_vm: isolation::taken_for_vm(sys, d).map(|c| TakenForVm { how: c.how, vms: c.vms }),
        host_critical: critical,
    }
}

impl HostPicture {
    pub fn from_system(sys: &System) -> HostPicture {
        let groups = isolation::groups(sys)
            .into_iter()
            .map(|gi| {
                let critical = |addr: &crate::system::PciAddress| match &gi.verdict {
                    Verdict::HostCritical { devices } => devices.iter().find(|(a, _)| a == addr).map(|(_, c)| c.describe()),
                    _ => None,
                };
                let devices: Vec<PictureDevice> = gi
                    .group
                    .members
                    .iter()
                    .map(|a| match sys.devices.iter().find(|d| &d.address == a) {
                        Some(d) => device(sys, d, critical(a)),
                        None => PictureDevice {
                            address: a.as_str().to_string(),
                            ids: "????:????".into(),
                            name: "(no sysfs facts)".into(),
                            vendor: None,
                            device: None,
                            class: None,
                            class_name: None,
                            role: "other".into(),
                            driver: None,
                            boot_vga: false,
                            link: None,
                            reset_methods: None,
                            taken_for_vm: None,
                            host_critical: None,
                        },
                    })
                    .collect();
                let named = match &gi.verdict {
                    Verdict::Together { endpoints, .. } => endpoints.iter().map(|a| a.as_str().to_string()).collect(),
                    Verdict::HostCritical { devices } => devices.iter().map(|(a, _)| a.as_str().to_string()).collect(),
                    _ => Vec::new(),
                };
                PictureGroup {
                    id: gi.group.id.clone(),
                    taken: devices.iter().any(|d| d.taken_for_vm.is_some()),
                    verdict: GroupVerdict {
                        kind: gi.verdict.kind().into(),
                        passable: gi.verdict.passable(),
                        text: gi.verdict.sentence(),
                        devices: named,
                    },
                    breaks_isolation: gi.left_with_host.iter().map(|a| a.as_str().to_string()).collect(),
                    devices,
                }
            })
            .collect();
        let ungrouped = if sys.groups.is_empty() {
            sys.devices.iter().map(|d| device(sys, d, None)).collect()
        } else {
            Vec::new()
        };
        HostPicture { groups, no_groups: isolation::why_no_groups(sys), ungrouped }
    }

    /// The groups in the order every format shows them: those with a GPU or a device taken for
    /// a VM first, then the other groups with endpoints, then those holding only bridges; by
    /// group number within each.
    pub fn ordered(&self) -> Vec<&PictureGroup> {
        let mut g: Vec<&PictureGroup> = self.groups.iter().collect();
        g.sort_by_key(|g| (g.rank(), g.id.parse::<u64>().unwrap_or(u64::MAX)));
        g
    }

    /// Only the groups that hold a GPU (`iommu --gpu`), or only group `id` (`--group N`).
    pub fn filter(&mut self, gpu_only: bool, group: Option<&str>) {
        self.groups.retain(|g| (!gpu_only || g.has_gpu()) && group.is_none_or(|id| g.id == id));
        if gpu_only {
            self.ungrouped.retain(|d| d.role == "gpu");
        }
    }

    /// Every device of the picture, grouped or not.
    fn devices(&self) -> impl Iterator<Item = &PictureDevice> {
        self.groups.iter().flat_map(|g| g.devices.iter()).chain(self.ungrouped.iter())
    }

    /// The picture as people read it: lspci's short `08:00.0` when every device is in PCI
    /// domain 0000, and full addresses on a host with more than one domain (lspci then prints
    /// the domain on every line too). JSON keeps the full form.
    pub fn for_display(&self) -> HostPicture {
        let mut p = self.clone();
        let one_domain = self.devices().all(|d| d.address.starts_with("0000:") || d.address.matches(':').count() < 2);
        if !one_domain {
            return p;
        }
        let short = |a: &mut String| {
            if let Some(rest) = a.strip_prefix("0000:") {
                *a = rest.to_string();
            }
        };
        let in_prose = static_regex!(r"\b0000:([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\b");
        for g in &mut p.groups {
            g.verdict.text = in_prose.replace_all(&g.verdict.text, "$1").into_owned();
            g.devices.iter_mut().for_each(|d| short(&mut d.address));
            g.verdict.devices.iter_mut().for_each(short);
            g.breaks_isolation.iter_mut().for_each(short);
        }
        p.ungrouped.iter_mut().for_each(|d| short(&mut d.address));
        p
    }

    /// Devices taken for a VM, over all groups.
    pub fn taken(&self) -> impl Iterator<Item = &PictureDevice> {
        self.devices().filter(|d| d.taken_for_vm.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(addresses: &[&str]) -> HostPicture {
        let devices: Vec<serde_json::Value> = addresses
            .iter()
            .map(|a| serde_json::json!({"address": a, "ids": "10de:1c02", "name": "GPU", "role": "gpu", "boot_vga": false}))
            .collect();
        let text = format!("can be passed, only together with its other functions: {}", addresses.join(", "));
        serde_json::from_value(serde_json::json!({"groups": [{
            "id": "16", "taken": false, "devices": devices, "breaks_isolation": [addresses[0]],
            "verdict": {"kind": "together", "passable": true, "text": text, "devices": addresses},
        }]}))
        .expect("picture")
    }

    #[test]
    fn one_domain_reads_like_lspci() {
        let p = picture(&["0000:08:00.0", "0000:08:00.1"]).for_display();
        let g = &p.groups[0];
        assert_eq!(g.devices.iter().map(|d| d.address.as_str()).collect::<Vec<_>>(), ["08:00.0", "08:00.1"]);
        assert_eq!(g.verdict.devices, ["08:00.0", "08:00.1"]);
        assert_eq!(g.breaks_isolation, ["08:00.0"]);
        assert_eq!(g.verdict.text, "can be passed, only together with its other functions: 08:00.0, 08:00.1");
        // Shortening twice changes nothing.
        assert_eq!(p.for_display().groups[0].devices[0].address, "08:00.0");
    }

    #[test]
    fn more_than_one_domain_keeps_every_domain() {
        let p = picture(&["0000:08:00.0", "0001:08:00.0"]).for_display();
        let g = &p.groups[0];
        assert_eq!(g.devices.iter().map(|d| d.address.as_str()).collect::<Vec<_>>(), ["0000:08:00.0", "0001:08:00.0"]);
        assert_eq!(g.verdict.text, "can be passed, only together with its other functions: 0000:08:00.0, 0001:08:00.0");
    }
}
