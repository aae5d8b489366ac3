//! What the host is configured to hand to vfio-pci: the `ids` parameter of vfio-pci from the
//! kernel command line (`vfio-pci.ids=`/`vfio_pci.ids=`) and from modprobe configuration
//! (`options vfio-pci ids=…`), with where each was written; plus loaded modules and the kernel
//! release as numbers, which the binding and reset rules need.

use super::{LogLine, System};
use crate::bundle::SourceKind;
use super::Evidence;

/// One `vendor:device` entry of vfio-pci's `ids` parameter.
#[derive(Debug, Clone)]
pub struct VfioId {
    pub vendor: u16,
    pub device: u16,
    /// Where it was configured (cmdline or a modprobe file and line).
    pub evidence: Evidence,
}

impl VfioId {
    pub fn ids(&self) -> String {
        format!("{:04x}:{:04x}", self.vendor, self.device)
    }
}

/// Parse the value of vfio-pci's `ids` parameter. Format (drivers/vfio/pci/vfio_pci.c
/// `vfio_pci_fill_ids`): comma-separated `vendor:device[:subvendor[:subdevice[:class[:class_mask]]]]`,
/// hex without `0x`. Entries that do not parse are skipped, as the kernel skips them.
pub fn parse_ids(value: &str) -> Vec<(u16, u16)> {
    value
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.trim().split(':');
            let vendor = u16::from_str_radix(parts.next()?.trim(), 16).ok()?;
            let device = u16::from_str_radix(parts.next()?.trim(), 16).ok()?;
            Some((vendor, device))
        })
        .collect()
}

/// `options vfio-pci ids=…` / `options vfio_pci ids=…` in a modprobe.d line (modprobe.d(5):
/// `options modulename option…`; `-` and `_` are the same in module names). Comments start with `#`.
fn modprobe_ids(message: &str) -> Option<&str> {
    let line = message.split('#').next()?.trim();
    let mut words = line.split_whitespace();
    if words.next()? != "options" {
        return None;
    }
    if words.next()?.replace('-', "_") != "vfio_pci" {
        return None;
    }
    words.filter_map(|w| w.strip_prefix("ids=")).next_back().map(|v| v.trim_matches('"'))
}

/// Every vfio-pci id the host configures, from the kernel command line and modprobe sources.
pub fn configured(sys: &System) -> Vec<VfioId> {
    let mut out = Vec::new();
    if let Some(c) = &sys.cmdline {
        for value in c.all("vfio_pci.ids") {
            for (vendor, device) in parse_ids(value) {
                out.push(VfioId { vendor, device, evidence: c.evidence(&format!("vfio-pci.ids={value}")) });
            }
        }
    }
    for l in sys.lines(SourceKind::Modprobe) {
        let Some(value) = modprobe_ids(&l.message) else { continue };
        for (vendor, device) in parse_ids(value) {
            out.push(VfioId { vendor, device, evidence: Evidence::from(l) });
        }
    }
    out
}

/// The configured vfio-pci ids entries that name `vendor:device`.
pub fn configured_for(sys: &System, vendor: u16, device: u16) -> Vec<VfioId> {
    configured(sys).into_iter().filter(|i| i.vendor == vendor && i.device == device).collect()
}

/// The ids value to configure so that `add` (`vendor:device` strings) go to vfio-pci without
/// dropping the ids already configured: configured ids first, in order, then the new ones.
pub fn merged_ids(sys: &System, add: &[String]) -> String {
    let mut all: Vec<String> = Vec::new();
    for id in configured(sys).iter().map(VfioId::ids).chain(add.iter().cloned()) {
        if !all.contains(&id) {
            all.push(id);
        }
    }
    all.join(",")
}

/// The /proc/modules line of a loaded module (`vendor_reset 114688 0 - Live 0x…`); names
/// compare with `-` and `_` as the same character.
pub fn loaded_module<'a>(sys: &'a System, name: &str) -> Option<&'a LogLine> {
    let want = name.replace('-', "_");
    sys.lines(SourceKind::Modules).find(|l| l.message.split_whitespace().next().is_some_and(|m| m.replace('-', "_") == want))
}

/// Whether the whole list of loaded modules is known: /proc/modules as collected, or a pasted
/// `lsmod` with its `Module Size Used by` header. An excerpt (`lsmod | grep kvm`, which drops
/// the header) shows what is loaded, never what is not.
pub fn modules_known(sys: &System) -> bool {
    sys.sources.iter().any(|s| s.kind == SourceKind::Modules && s.status == crate::bundle::Status::Ok && s.origin != "input")
        || sys.lines(SourceKind::Modules).any(|l| l.message.split_whitespace().collect::<Vec<_>>() == ["Module", "Size", "Used", "by"])
}

/// The running kernel's major and minor version (`5.15.0-72-generic` → (5, 15)).
pub fn kernel_version(sys: &System) -> Option<(u32, u32)> {
    let release = sys.host.kernel.as_deref()?;
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_values() {
        assert_eq!(parse_ids("10de:1c02,10de:10f1"), vec![(0x10de, 0x1c02), (0x10de, 0x10f1)]);
        assert_eq!(parse_ids("1002:67ff:ffffffff:ffffffff:00030000:ffff00ff, zz:1"), vec![(0x1002, 0x67ff)]);
        assert!(parse_ids("").is_empty());
    }

    #[test]
    fn modprobe_lines() {
        assert_eq!(modprobe_ids("options vfio-pci ids=10de:1c02,10de:10f1 disable_vga=1"), Some("10de:1c02,10de:10f1"));
        assert_eq!(modprobe_ids("options vfio_pci ids=\"1002:67df\""), Some("1002:67df"));
        assert_eq!(modprobe_ids("# options vfio-pci ids=10de:1c02"), None);
        assert_eq!(modprobe_ids("options snd_hda_intel ids=10de:1c02"), None);
        assert_eq!(modprobe_ids("softdep nvidia pre: vfio-pci"), None);
    }
}
