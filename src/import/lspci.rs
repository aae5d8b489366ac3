//! Rebuilding PCI devices from pasted `lspci` text: `-nn` header lines
//! (`08:00.0 VGA compatible controller [0300]: NVIDIA … [10de:1c02] (rev a1)`), the `-k`/`-v`/
//! `-vvv` property lines, and the machine-readable `-vmm` records (pciutils lspci.c
//! show_device/show_verbose/show_machine). Values are stored sysfs-style (`0x10de`).

use std::sync::OnceLock;

use regex::Regex;

use crate::bundle::PciDevice;

use super::re;

/// A device from one lspci header line (`-nns` style, as the group scripts print it too).
pub fn parse_header(line: &str, origin: &str) -> Option<PciDevice> {
    static HEAD: OnceLock<Option<Regex>> = OnceLock::new();
    static IDS: OnceLock<Option<Regex>> = OnceLock::new();
    static REV: OnceLock<Option<Regex>> = OnceLock::new();
    static PROGIF: OnceLock<Option<Regex>> = OnceLock::new();
    let head = re(
        &HEAD,
        r"^(?P<addr>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]) (?P<cname>[^\[:]*?)\s*(?:\[(?P<class>[0-9a-fA-F]{4})\])?: (?P<desc>.*)$",
    );
    let c = head?.captures(line.trim())?;
    let address = crate::system::PciAddress::parse(&c["addr"])?;
    let desc = &c["desc"];
    let mut dev = PciDevice { address: address.as_str().to_string(), origin: Some(origin.to_string()), ..PciDevice::default() };
    // `lspci -n`: `01:00.0 0300: 1002:67df (rev ef)`, numbers only.
    let cname = c["cname"].trim();
    if c.name("class").is_none() && cname.len() == 4 && cname.chars().all(|ch| ch.is_ascii_hexdigit()) {
        dev.class = Some(format!("0x{}00", cname.to_ascii_lowercase()));
        let mut ids = desc.split_whitespace().next().unwrap_or("").split(':');
        if let (Some(v), Some(d)) = (ids.next(), ids.next()) {
            if v.len() == 4 && d.len() == 4 && (v.chars().chain(d.chars())).all(|ch| ch.is_ascii_hexdigit()) {
                dev.vendor = Some(format!("0x{}", v.to_ascii_lowercase()));
                dev.device = Some(format!("0x{}", d.to_ascii_lowercase()));
            }
        }
    }
    let prog_if = re(&PROGIF, r"\(prog-if ([0-9a-fA-F]{2})").and_then(|r| r.captures(desc)).map(|p| p[1].to_ascii_lowercase());
    let class = c.name("class").map(|m| m.as_str().to_ascii_lowercase()).or_else(|| class_from_name(c["cname"].trim()).map(str::to_string));
    if let Some(class) = class.filter(|_| dev.class.is_none()) {
        dev.class = Some(format!("0x{class}{}", prog_if.as_deref().unwrap_or("00")));
    }
    // The last `[vvvv:dddd]` is the ID pair; names may hold other brackets (`[AMD/ATI]`).
    if let Some(ids) = re(&IDS, r"\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]").and_then(|r| r.captures_iter(desc).last()) {
        dev.vendor = Some(format!("0x{}", ids[1].to_ascii_lowercase()));
        dev.device = Some(format!("0x{}", ids[2].to_ascii_lowercase()));
    }
    if let Some(rev) = re(&REV, r"\(rev ([0-9a-fA-F]{2})\)").and_then(|r| r.captures(desc)) {
        dev.revision = Some(format!("0x{}", rev[1].to_ascii_lowercase()));
    }
    // Plain `lspci` / `lspci -k` (no -nn): the names, looked up in pci.ids when they name one
    // device only; otherwise the device stays without IDs.
    if dev.vendor.is_none() {
        if let Some((v, d)) = ids_from_names(desc) {
            dev.vendor = Some(format!("0x{v:04x}"));
            dev.device = Some(format!("0x{d:04x}"));
        }
    }
    Some(dev)
}

/// `NVIDIA Corporation GP106 [GeForce GTX 1060 3GB] (rev a1)` → (0x10de, 0x1c02), from the
/// pci.ids names lspci prints (`Vendor Device`, or `Vendor Device 1c02` for an unnamed one).
/// `None` unless exactly one vendor:device pair has these names.
pub fn ids_from_names(desc: &str) -> Option<(u16, u16)> {
    let mut name = desc.trim();
    // Trailing `(rev a1)`, `(prog-if 00 [VGA controller])`.
    while let Some(open) = name.rfind(" (") {
        if !name.ends_with(')') {
            break;
        }
        name = name[..open].trim_end();
    }
    let vendors: Vec<&'static pci_ids::Vendor> =
        pci_ids::Vendors::iter().filter(|v| name.strip_prefix(v.name()).is_some_and(|r| r.starts_with(' '))).collect();
    let longest = vendors.iter().map(|v| v.name().len()).max()?;
    let mut found: Vec<(u16, u16)> = Vec::new();
    for v in vendors.iter().filter(|v| v.name().len() == longest) {
        let rest = name[longest..].trim();
        let unnamed = rest.strip_prefix("Device ").filter(|h| h.len() == 4).and_then(|h| u16::from_str_radix(h, 16).ok());
        match unnamed {
            Some(d) => found.push((v.id(), d)),
            None => found.extend(v.devices().filter(|d| d.name() == rest).map(|d| (v.id(), d.id()))),
        }
    }
    found.dedup();
    match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// The class code of a class as `lspci -mm` prints it: a name ([`class_from_name`]), or a
/// name with the code (`Non-Essential Instrumentation [1300]`) for one lspci has no name for.
pub fn class_code(name: &str) -> Option<String> {
    let name = name.trim();
    if let Some(code) = name.strip_suffix(']').and_then(|n| n.rsplit_once('[')).map(|(_, c)| c) {
        if code.len() == 4 && code.chars().all(|ch| ch.is_ascii_hexdigit()) {
            return Some(code.to_ascii_lowercase());
        }
    }
    class_from_name(name).map(str::to_string)
}

/// Class codes of plain `lspci -k`/`-v` output, which names the class without `[0300]`
/// (names from pci.ids; only the ones passthrough questions involve).
fn class_from_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "VGA compatible controller" => "0300",
        "3D controller" => "0302",
        "Display controller" => "0380",
        "Audio device" => "0403",
        "USB controller" => "0c03",
        "PCI bridge" => "0604",
        "Host bridge" => "0600",
        "ISA bridge" => "0601",
        "Ethernet controller" => "0200",
        "Network controller" => "0280",
        "Non-Volatile memory controller" => "0108",
        "SATA controller" => "0106",
        "SMBus" => "0c05",
        "Serial bus controller" => "0c80",
        "RAID bus controller" => "0104",
        "Multimedia audio controller" => "0401",
        "Encryption controller" => "1080",
        _ => return None,
    })
}

/// Apply one indented property line (`Kernel driver in use: vfio-pci`, `Subsystem: … [1043:87b3]`,
/// `IOMMU group: 16`, `Flags: …, IOMMU group 16`) to `dev`.
pub fn apply_property(dev: &mut PciDevice, line: &str) {
    static SUBSYS: OnceLock<Option<Regex>> = OnceLock::new();
    static FLAGS_GROUP: OnceLock<Option<Regex>> = OnceLock::new();
    let line = line.trim();
    if let Some(driver) = line.strip_prefix("Kernel driver in use:") {
        dev.driver = Some(driver.trim().to_string()).filter(|d| !d.is_empty());
    } else if let Some(sub) = line.strip_prefix("Subsystem:") {
        // `-nn`: `ASUSTeK Computer Inc. Device [1043:87b3]`; `-n`: `1da2:e366`.
        if let Some(ids) = re(&SUBSYS, r"(?:\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]|^\s*([0-9a-fA-F]{4}):([0-9a-fA-F]{4}))\s*$").and_then(|r| r.captures(sub)) {
            let (v, d) = match (ids.get(1), ids.get(2), ids.get(3), ids.get(4)) {
                (Some(v), Some(d), _, _) | (_, _, Some(v), Some(d)) => (v.as_str(), d.as_str()),
                _ => return,
            };
            dev.subsystem_vendor = Some(format!("0x{}", v.to_ascii_lowercase()));
            dev.subsystem_device = Some(format!("0x{}", d.to_ascii_lowercase()));
        }
    } else if let Some(group) = line.strip_prefix("IOMMU group:") {
        dev.iommu_group = Some(group.trim().to_string()).filter(|g| !g.is_empty());
    } else if line.starts_with("Flags:") {
        if let Some(g) = re(&FLAGS_GROUP, r"IOMMU group (\d+)").and_then(|r| r.captures(line)) {
            dev.iommu_group = Some(g[1].to_string());
        }
    }
}

/// All devices of an lspci paste, in order. Lines that are neither headers nor properties
/// (prose, `--` from `grep -A`) are skipped.
pub fn parse(text: &str, origin: &str) -> Vec<PciDevice> {
    if text.lines().any(|l| l.starts_with("Slot:\t") || l.starts_with("Slot: ")) {
        return parse_machine(text, origin);
    }
    let mut out: Vec<PciDevice> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if !line.starts_with(char::is_whitespace) && crate::import::sniff::lspci_header(line) {
            if let Some(dev) = parse_header(line, origin) {
                out.push(dev);
                continue;
            }
        }
        if let Some(dev) = out.last_mut() {
            apply_property(dev, line);
        }
    }
    out
}

/// Whether the output shows drivers at all (`-k`: `Kernel driver in use:` / `Kernel modules:`,
/// `-vmmk`: `Driver:`); without them a device's missing driver means "not known".
pub fn shows_drivers(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start();
        t.starts_with("Kernel driver in use:") || t.starts_with("Kernel modules:") || t.starts_with("Driver:")
    })
}

/// `lspci -vmmnnk [-D]`: `Tag:\tvalue` records separated by blank lines.
fn parse_machine(text: &str, origin: &str) -> Vec<PciDevice> {
    static ID: OnceLock<Option<Regex>> = OnceLock::new();
    let id = |v: &str| re(&ID, r"\[([0-9a-fA-F]{4})\]\s*$").and_then(|r| r.captures(v)).map(|c| c[1].to_ascii_lowercase());
    let mut out = Vec::new();
    for record in text.split("\n\n") {
        let mut dev: Option<PciDevice> = None;
        let mut prog_if = None;
        let mut class = None;
        for line in record.lines() {
            let Some((tag, value)) = line.split_once(':').map(|(t, v)| (t.trim(), v.trim())) else { continue };
            if tag == "Slot" {
                dev = crate::system::PciAddress::parse(value)
                    .map(|a| PciDevice { address: a.as_str().to_string(), origin: Some(origin.to_string()), ..PciDevice::default() });
                continue;
            }
            let Some(d) = dev.as_mut() else { continue };
            match tag {
                "Class" => class = id(value),
                "Vendor" => d.vendor = id(value).map(|v| format!("0x{v}")),
                "Device" => d.device = id(value).map(|v| format!("0x{v}")),
                "SVendor" => d.subsystem_vendor = id(value).map(|v| format!("0x{v}")),
                "SDevice" => d.subsystem_device = id(value).map(|v| format!("0x{v}")),
                "Rev" => d.revision = Some(format!("0x{}", value.to_ascii_lowercase())),
                "ProgIf" => prog_if = Some(value.to_ascii_lowercase()),
                "Driver" => d.driver = Some(value.to_string()),
                "IOMMUGroup" => d.iommu_group = Some(value.to_string()),
                _ => {}
            }
        }
        if let Some(mut d) = dev {
            if let Some(c) = class {
                d.class = Some(format!("0x{c}{}", prog_if.as_deref().unwrap_or("00")));
            }
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iommu_group_from_v_and_vvv() {
        let v = "08:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP106 [GeForce GTX 1060 3GB] [10de:1c02] (rev a1) (prog-if 00 [VGA controller])\n\tFlags: bus master, fast devsel, latency 0, IRQ 140, IOMMU group 16\n";
        assert_eq!(parse(v, "v.txt")[0].iommu_group.as_deref(), Some("16"));
        let vvv = "08:00.1 Audio device [0403]: NVIDIA Corporation GP106 High Definition Audio Controller [10de:10f1] (rev a1)\n\tIOMMU group: 16\n\tKernel driver in use: vfio-pci\n";
        let d = &parse(vvv, "vvv.txt")[0];
        assert_eq!((d.iommu_group.as_deref(), d.class.as_deref()), (Some("16"), Some("0x040300")));
        assert!(!shows_drivers(v) && shows_drivers(vvv));
    }

    #[test]
    fn plain_lspci_names_back_to_ids() {
        // `lspci -k` without -nn, as in https://github.com/joeknock90/Single-GPU-Passthrough issues.
        let t = "01:00.0 VGA compatible controller: NVIDIA Corporation GP106 [GeForce GTX 1060 3GB] (rev a1)\n\tKernel driver in use: nvidia\n01:00.1 Audio device: NVIDIA Corporation Device 10f1 (rev a1)\n02:00.0 VGA compatible controller: Some Vendor Nobody Knows Thing\n";
        let d = parse(t, "lspci.txt");
        assert_eq!((d[0].vendor.as_deref(), d[0].device.as_deref(), d[0].class.as_deref()), (Some("0x10de"), Some("0x1c02"), Some("0x030000")));
        assert_eq!(d[1].device.as_deref(), Some("0x10f1"));
        assert_eq!((d[2].vendor.as_deref(), d[2].class.as_deref()), (None, Some("0x030000")));
        // Cut by the poster: what the line has is kept.
        let cut = parse("08:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA102 [GeForce RTX 30", "cut.txt");
        assert_eq!((cut[0].address.as_str(), cut[0].class.as_deref(), cut[0].vendor.as_deref()), ("0000:08:00.0", Some("0x030000"), None));
    }

    #[test]
    fn nnk_and_vmm() {
        let t = "08:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA102 [GeForce RTX 3090] [10de:2204] (rev a1)\n\tSubsystem: ASUSTeK Computer Inc. Device [1043:87b3]\n\tKernel driver in use: vfio-pci\n";
        let d = &parse(t, "lspci.txt")[0];
        assert_eq!(d.address, "0000:08:00.0");
        assert_eq!((d.vendor.as_deref(), d.device.as_deref()), (Some("0x10de"), Some("0x2204")));
        assert_eq!((d.subsystem_vendor.as_deref(), d.subsystem_device.as_deref()), (Some("0x1043"), Some("0x87b3")));
        assert_eq!((d.class.as_deref(), d.revision.as_deref(), d.driver.as_deref()), (Some("0x030000"), Some("0xa1"), Some("vfio-pci")));
        let m = "Slot:\t0000:08:00.0\nClass:\tVGA compatible controller [0300]\nVendor:\tNVIDIA Corporation [10de]\nDevice:\tGA102 [GeForce RTX 3090] [2204]\nSVendor:\tASUSTeK Computer Inc. [1043]\nSDevice:\tDevice [87b3]\nRev:\ta1\nProgIf:\t00\nDriver:\tvfio-pci\nIOMMUGroup:\t14\n";
        let d = &parse(m, "vmm.txt")[0];
        assert_eq!((d.device.as_deref(), d.iommu_group.as_deref(), d.class.as_deref()), (Some("0x2204"), Some("14"), Some("0x030000")));
    }
}
