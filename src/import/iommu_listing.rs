//! Output of the common IOMMU-group scripts, rebuilt into groups and devices:
//! the Arch-wiki script (`IOMMU Group 1:` then tab-indented `lspci -nns` lines), its
//! one-line variant (`IOMMU Group 1 00:01.0 …`, also ls-iommu), OSX-KVM's lsgroup.sh
//! (`### Group 7 ###`), the seed's
//! `Group:  15   0000:02:00.0 … Driver: xhci_hcd` rows, `find /sys/kernel/iommu_groups/ -type l`,
//! and r15ch13's `iommu.sh` gist (packaged as `ls-iommu`, quoted by GPU-passthrough guides):
//! `Group 9:\t[10de:1d01] [R] 01:00.0  VGA compatible controller   GP108 [GeForce GT 1030]`,
//! later members of a group on `\t\t[vvvv:dddd] …` lines, `USB:` lines for the devices behind a
//! USB controller, and `[R]` where the device has a `reset` file.

use std::sync::OnceLock;

use regex::Regex;

use crate::bundle::{IommuGroup, PciDevice};
use crate::import::lspci;

/// What a listing says.
#[derive(Debug, Default)]
pub struct Listing {
    pub groups: Vec<IommuGroup>,
    pub devices: Vec<PciDevice>,
    /// Group headers whose number is not a number (`IOMMU Group .:` when no groups exist).
    pub bogus_headers: Vec<String>,
    /// Whether the listing shows drivers (`Driver: x` rows, `Kernel driver in use:` lines).
    pub shows_drivers: bool,
}

use super::re;

pub fn parse(text: &str, origin: &str) -> Listing {
    static HEADER: OnceLock<Option<Regex>> = OnceLock::new();
    static ROW: OnceLock<Option<Regex>> = OnceLock::new();
    static DRIVER: OnceLock<Option<Regex>> = OnceLock::new();
    static SYSFS: OnceLock<Option<Regex>> = OnceLock::new();
    static IDS_FIRST: OnceLock<Option<Regex>> = OnceLock::new();
    let mut listing = Listing::default();
    let (Some(header), Some(row), Some(driver_suffix), Some(sysfs), Some(ids_first)) = (
        re(&HEADER, r"^(?:IOMMU [Gg]roup:? (?P<id>\S+?):?(?:\s+(?P<rest>.*))?|### Group (?P<id2>\d+) ###)$"),
        re(&ROW, r"^Group:?\s+(?P<id>\d+)\s+(?:-\s+)?(?P<rest>.*)$"),
        re(&DRIVER, r"\s+Driver:\s*(?P<drv>\S+)\s*$"),
        re(&SYSFS, r"^/sys/kernel/iommu_groups/(?P<id>\d+)/devices/(?P<addr>[0-9a-fA-F:.]+)\s*$"),
        re(&IDS_FIRST, IDS_FIRST_ROW),
    ) else {
        return listing;
    };
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let raw = raw.trim_end_matches('\r');
        let line = strip_ansi(&raw.trim().replace("[RESET]", ""));
        // iommu_tools' tree: `Group Device: 0000:97:00.4 - Generic system peripheral [0807]: …`.
        let line = match line.trim().strip_prefix("Group Device: ") {
            Some(rest) => rest.replacen(" - ", " ", 1),
            None => line,
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        // iommu.sh: `Group 9:\t[10de:1d01] [R] 01:00.0  VGA compatible controller  GP108 …`, the
        // group's other members without `Group N:`; `USB:` lines name devices behind a controller.
        if let Some(c) = ids_first.captures(line) {
            if let Some(id) = c.name("id") {
                current = Some(id.as_str().to_string());
            }
            let (Some(id), Some(dev)) = (current.clone(), ids_first_device(&c, origin)) else { continue };
            add(&mut listing, id, dev);
            continue;
        }
        if line.starts_with("USB:") {
            continue;
        }
        let (id, rest) = if let Some(c) = header.captures(line) {
            let id = c.name("id").or(c.name("id2")).map_or("", |m| m.as_str()).to_string();
            if !id.chars().all(|ch| ch.is_ascii_digit()) {
                listing.bogus_headers.push(line.to_string());
                current = None;
                continue;
            }
            current = Some(id.clone());
            match c.name("rest").map(|m| m.as_str().trim()).filter(|r| !r.is_empty()) {
                Some(rest) => (id, rest.to_string()),
                None => continue,
            }
        } else if let Some(c) = row.captures(line) {
            (c["id"].to_string(), c["rest"].to_string())
        } else if let Some(c) = sysfs.captures(line) {
            let Some(addr) = crate::system::PciAddress::parse(&c["addr"]) else { continue };
            let dev = PciDevice { address: addr.as_str().to_string(), origin: Some(origin.to_string()), ..PciDevice::default() };
            add(&mut listing, c["id"].to_string(), dev);
            continue;
        } else if let (Some(id), true) = (current.clone(), raw.starts_with(char::is_whitespace)) {
            if let Some(last) = listing.devices.last_mut().filter(|_| !crate::import::sniff::lspci_header(line)) {
                if line.starts_with("Kernel driver in use:") || line.starts_with("Kernel modules:") {
                    listing.shows_drivers = true;
                }
                lspci::apply_property(last, line);
                continue;
            }
            (id, line.to_string())
        } else {
            continue;
        };
        if rest.contains("Driver:") {
            listing.shows_drivers = true;
        }
        let (rest, driver) = match driver_suffix.captures(&rest) {
            Some(c) => (rest[..c.get(0).map_or(rest.len(), |m| m.start())].to_string(), Some(c["drv"].to_string())),
            None => (rest, None),
        };
        let Some(mut dev) = lspci::parse_header(&rest, origin) else { continue };
        if driver.is_some() {
            dev.driver = driver;
        }
        add(&mut listing, id, dev);
    }
    listing
}

/// A row of r15ch13's iommu.sh: `lspci -nms` IDs, `[R]` when `/sys/…/reset` exists, then
/// `lspci -mms` printed as `"%s %-40s %s"` (address, class name padded to 40, device name).
pub(crate) const IDS_FIRST_ROW: &str = r"^(?:Group (?P<id>\d+):\s+)?\[(?P<v>[0-9a-fA-F]{4}):(?P<d>[0-9a-fA-F]{4})\]\s+(?:\[R\]\s+)?(?P<addr>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])(?:\s+(?P<rest>.*))?$";

fn ids_first_device(c: &regex::Captures<'_>, origin: &str) -> Option<PciDevice> {
    let address = crate::system::PciAddress::parse(&c["addr"])?;
    let rest = c.name("rest").map_or("", |m| m.as_str().trim());
    // The class name ends where the padding does (two spaces or more); a cut line keeps it whole.
    let class_name = rest.split("  ").next().unwrap_or("").trim();
    Some(PciDevice {
        address: address.as_str().to_string(),
        vendor: Some(format!("0x{}", c["v"].to_ascii_lowercase())),
        device: Some(format!("0x{}", c["d"].to_ascii_lowercase())),
        class: lspci::class_code(class_name).map(|code| format!("0x{code}00")),
        origin: Some(origin.to_string()),
        ..PciDevice::default()
    })
}

/// Without terminal colour codes (`tput setaf 99` … `tput sgr0` in the scripts that colour
/// group numbers).
fn strip_ansi(line: &str) -> String {
    static ANSI: OnceLock<Option<Regex>> = OnceLock::new();
    match re(&ANSI, r"\x1b(?:\[[0-9;?]*[A-Za-z]|\(B)") {
        Some(r) if line.contains('\x1b') => r.replace_all(line, "").into_owned(),
        _ => line.to_string(),
    }
}

fn add(listing: &mut Listing, id: String, mut dev: PciDevice) {
    dev.iommu_group = Some(id.clone());
    match listing.groups.iter_mut().find(|g| g.id == id) {
        Some(g) => {
            if !g.devices.contains(&dev.address) {
                g.devices.push(dev.address.clone());
            }
        }
        None => listing.groups.push(IommuGroup { id, devices: vec![dev.address.clone()] }),
    }
    if !listing.devices.iter().any(|d| d.address == dev.address) {
        listing.devices.push(dev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_forms() {
        let arch = "IOMMU Group 0:\n\t01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA102 [GeForce RTX 3090] [10de:2204] (rev a1)\n\t01:00.1 Audio device [0403]: NVIDIA Corporation GA102 High Definition Audio Controller [10de:1aef] (rev a1)\nIOMMU Group 1:\n\t01:00.2 VGA compatible controller [0300]: AMD [1002:73bf] (rev a1)\n";
        let l = parse(arch, "groups.txt");
        assert_eq!(l.groups.len(), 2);
        assert_eq!(l.groups[0].devices, vec!["0000:01:00.0", "0000:01:00.1"]);
        let row = "Group:  15  0000:04:00.0 VGA compatible controller [0300]: Advanced Micro Devices, Inc. [AMD/ATI] Baffin [Radeon RX 550 640SP / RX 560/560X] [1002:67ff] (rev ff)   Driver: amdgpu\n";
        let l = parse(row, "g.txt");
        let d = &l.devices[0];
        assert_eq!((d.driver.as_deref(), d.iommu_group.as_deref(), d.device.as_deref(), d.revision.as_deref()), (Some("amdgpu"), Some("15"), Some("0x67ff"), Some("0xff")));
        let inline = "IOMMU Group 16 08:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP106 [10de:1c02] (rev a1)\n/sys/kernel/iommu_groups/3/devices/0000:00:02.0\n";
        let l = parse(inline, "g.txt");
        assert_eq!(l.groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), vec!["16", "3"]);
        assert_eq!(parse("IOMMU Group .:\n", "g").bogus_headers.len(), 1);
        // EthanZHF/iommu_tools tree.sh; a script that colours the group with tput.
        let tree = "IOMMU: dmar15\n  IOMMU Group: 15\n    Group Device: 0000:6a:00.4 - Generic system peripheral [0807]: Intel Corporation Device [8086:0b23]\n  IOMMU Group: 16\n    Group Device: 0000:6a:01.0 - System peripheral [0880]: Intel Corporation Device [8086:0b25]\n";
        let l = parse(tree, "tree.txt");
        assert_eq!(l.groups.iter().map(|g| (g.id.as_str(), g.devices.clone())).collect::<Vec<_>>(), vec![("15", vec!["0000:6a:00.4".to_string()]), ("16", vec!["0000:6a:01.0".to_string()])]);
        let coloured = "\tGroup \x1b[38;5;99m16\x1b(B\x1b[m - 08:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP106 [10de:1c02] (rev a1)\n";
        assert_eq!(parse(coloured, "c.txt").devices[0].iommu_group.as_deref(), Some("16"));
    }

    /// r15ch13's iommu.sh with its tabs kept, as quoted in a NixOS workstation README (search-tool
    /// file id 11474962688: "produced with https://gist.github.com/r15ch13/ba2d738985fce8990a4e9f32d07c6ada"),
    /// USB lines interleaved; the last row is cut short as a paste may be.
    #[test]
    fn iommu_sh_rows() {
        let t = "Group 12:\t[10de:2684] [R] 01:00.0  VGA compatible controller                AD102 [GeForce RTX 4090]\n\t\t[10de:22ba]     01:00.1  Audio device                             AD102 High Definition Audio Controller\nGroup 19:\t[1022:14de] [R] 6b:00.0  Non-Essential Instrumentation [1300]     Phoenix PCIe Dummy Function\nGroup 21:\t[1022:15b6] [R] 6b:00.3  USB controller                           Device 15b6\nUSB:\t\t[1d6b:0002]\t\t Bus 007 Device 001                       Linux Foundation 2.0 root hub \n\t\t[1022:15b8] [R] 6c:00.0\n";
        let l = parse(t, "iommu.txt");
        let groups: Vec<(&str, Vec<&str>)> = l.groups.iter().map(|g| (g.id.as_str(), g.devices.iter().map(String::as_str).collect())).collect();
        assert_eq!(groups, vec![("12", vec!["0000:01:00.0", "0000:01:00.1"]), ("19", vec!["0000:6b:00.0"]), ("21", vec!["0000:6b:00.3", "0000:6c:00.0"])]);
        let d = |a: &str| l.devices.iter().find(|d| d.address == a).map(|d| (d.vendor.as_deref(), d.device.as_deref(), d.class.as_deref()));
        assert_eq!(d("0000:01:00.0"), Some((Some("0x10de"), Some("0x2684"), Some("0x030000"))));
        assert_eq!(d("0000:01:00.1"), Some((Some("0x10de"), Some("0x22ba"), Some("0x040300"))));
        assert_eq!(d("0000:6b:00.0"), Some((Some("0x1022"), Some("0x14de"), Some("0x130000"))));
        assert_eq!(d("0000:6c:00.0"), Some((Some("0x1022"), Some("0x15b8"), None)));
        assert!(!l.shows_drivers);
    }
}
