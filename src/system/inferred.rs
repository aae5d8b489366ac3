//! What a partial input still shows. People paste parts: a domain XML without sysfs, an excerpt
//! of dmesg, an lspci without groups. When the source that states a fact is missing, some other
//! source often names it in passing: the kernel enumerates every PCI function at boot
//! (`pci 0000:01:00.0: [10de:1b80] type 00 class 0x030000`), its VGA arbiter names the boot GPU,
//! `smpboot` names the CPU. Each fact comes with its evidence and a phrase saying what stood in,
//! for a finding's `assumed`. Whether a source is complete enough for an absence in it to mean
//! something is decided here too ([`System::kernel_log_from_boot`]), once, not in each rule.

use regex::Regex;

use super::{Evidence, LogLine, PciAddress, System};
use crate::bundle::SourceKind;

/// The lines read here: long logs keep them from between head and tail (`rules::signatures`).
pub const LOG_SIGNATURES: &[&str] = &[ENUMERATED, BOOT_VGA, SMPBOOT_CPU, PREPARED_FOR_VM];

/// drivers/pci/probe.c pci_setup_device(): `pci_info(dev, "[%04x:%04x] type %02x class %#08x %s\n", …)`
/// (before 6.8 without the trailing kind). Real: `pci 0000:00:01.0: [1af4:1045] type 00 class
/// 0xffff00 conventional PCI endpoint`.
const ENUMERATED: &str = r": \[(?P<vendor>[0-9a-f]{4}):(?P<device>[0-9a-f]{4})\] type [0-9a-f]{2} class 0x(?P<class>[0-9a-f]{6})";
/// drivers/pci/vgaarb.c vga_arbiter_add_pci_device(): `vgaarb_info(&pdev->dev, "setting as boot VGA
/// device%s\n", …)`, with " (overriding previous)" when a later device wins.
const BOOT_VGA: &str = r"vgaarb: setting as boot VGA device";
/// arch/x86/kernel/smpboot.c (print_cpu_info): `smpboot: CPU0: AMD Ryzen 7 3700X 8-Core Processor (family: 0x17, …)`.
const SMPBOOT_CPU: &str = r"smpboot: CPU0: (?P<model>.+?)(?: \(family: |$)";

/// A device that a VM start (or a hook's detach) was preparing, as its error names it: libvirt
/// src/util/virpci.c `… for device '%s'` (`Unknown PCI header type '127' for device
/// '0000:01:00.0'`, raised while libvirt resets or detaches a hostdev of the domain being
/// started), virsh `Failed to detach device pci_0000_01_00_0` (nodedev-detach), and QEMU's
/// `-device vfio-pci,host=0000:01:00.0` option in its error prefix.
const PREPARED_FOR_VM: &str = concat!(
    r"(?:header type '\d+' for device '(?P<libvirt>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])'",
    r"|Failed to detach device pci_(?P<nodedev>[0-9a-fA-F]{4}_[0-9a-fA-F]{2}_[0-9a-fA-F]{2}_[0-7])",
    r"|-device vfio-pci,host=(?P<qemu>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]))"
);

fn prepared_for_vm_re() -> &'static Regex {
    static_regex!(PREPARED_FOR_VM)
}

fn enumerated_re() -> &'static Regex {
    static_regex!(ENUMERATED)
}
fn smpboot_re() -> &'static Regex {
    static_regex!(SMPBOOT_CPU)
}

/// A device's ids as some log line other than sysfs or lspci names them.
#[derive(Debug, Clone)]
pub struct SeenIds {
    pub vendor: u16,
    pub device: Option<u16>,
    /// 24-bit class code, when the line gives it.
    pub class: Option<u32>,
    /// What stood in for sysfs, for a finding's `assumed`: "the kernel log line that enumerated it".
    pub how: &'static str,
    pub evidence: Evidence,
}

/// The host CPU's maker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuMaker {
    Amd,
    Intel,
}

/// The CPU's maker as some source other than /proc/cpuinfo shows it.
#[derive(Debug, Clone)]
pub struct CpuHint {
    pub maker: CpuMaker,
    /// What stood in for /proc/cpuinfo: "the kernel log's smpboot line".
    pub how: String,
    pub evidence: Evidence,
}

/// Kernel drivers that bind only one maker's GPUs, and that maker's PCI vendor id.
const VENDOR_DRIVERS: &[(&str, u16)] = &[("nvidia", 0x10de), ("nouveau", 0x10de), ("amdgpu", 0x1002), ("radeon", 0x1002), ("i915", 0x8086), ("xe", 0x8086)];

/// The maker of a libvirt CPU model (src/cpu_map/x86_*.xml), when the name says it.
fn maker_of_model(model: &str) -> Option<CpuMaker> {
    let m = model.to_ascii_lowercase();
    const AMD: &[&str] = &["epyc", "opteron", "phenom", "athlon", "dhyana"];
    const INTEL: &[&str] = &[
        "skylake", "cascadelake", "cooperlake", "icelake", "sapphirerapids", "graniterapids", "sierraforest", "snowridge",
        "broadwell", "haswell", "ivybridge", "sandybridge", "westmere", "nehalem", "penryn", "conroe", "core2duo", "coreduo",
        "kvm32", "n270",
    ];
    if AMD.iter().any(|a| m.starts_with(a)) {
        Some(CpuMaker::Amd)
    } else if INTEL.iter().any(|i| m.starts_with(i)) && m != "kvm32" {
        Some(CpuMaker::Intel)
    } else {
        None
    }
}

impl System {
    /// Kernel-log lines (this boot, the previous one, and unrecognised pastes scanned like logs).
    fn kernel_lines(&self) -> impl Iterator<Item = &LogLine> {
        self.lines(SourceKind::KernelLog).chain(self.lines(SourceKind::KernelLogPrevious)).chain(self.lines(SourceKind::Text))
    }

    /// Whether the input holds a kernel log of this boot that starts at boot (its first line is
    /// stamped `[    0.000000]` or is the `Linux version` banner). Only such a log can show that
    /// something did *not* happen at boot; an excerpt (`dmesg | grep …`, a few pasted lines)
    /// lacking a line proves nothing. A long log cut in the middle still starts at boot, and
    /// keeps the lines of every known signature.
    pub fn kernel_log_from_boot(&self) -> bool {
        self.logs.iter().filter(|(k, _)| *k == SourceKind::KernelLog).any(|(_, lines)| {
            // The first kernel line: a pasted prompt (`$ sudo dmesg`) or journalctl's
            // `-- Logs begin at …` header before it has no stamp and is not the banner.
            lines
                .iter()
                .find(|l| l.timestamp.is_some() || l.message.starts_with("Linux version "))
                .is_some_and(|first| first.seconds == Some(0.0) || first.message.starts_with("Linux version "))
        })
    }

    /// Whether the PCI devices come from sysfs, a complete listing: only then does a device's
    /// absence, or no device marked boot_vga, mean something. A pasted lspci may be filtered
    /// (`lspci -s 01:00.0`, `| grep VGA`) and has no boot_vga at all.
    pub fn pci_from_sysfs(&self) -> bool {
        self.devices.iter().any(|d| d.origin == "sysfs")
    }

    /// The one card a pasted PCI listing is about: when the devices come from a paste (no sysfs)
    /// and every function listed sits in one slot (`lspci -nnk -s 01:00`, what one pastes — and
    /// what the report asks for — about the card to pass), that slot (`0000:01:00`). A listing of
    /// several slots, or sysfs, singles out no card.
    pub fn single_card_listing(&self) -> Option<&str> {
        let first = self.devices.first()?;
        (!self.pci_from_sysfs() && self.devices.iter().all(|d| d.address.slot() == first.address.slot())).then(|| first.address.slot())
    }

    /// The ids of the device at `address` as a log names them, when sysfs/lspci do not: the
    /// kernel's enumeration line (vendor, device and class), or else the line of a driver that
    /// binds only one maker's GPUs (`nouveau 0000:01:00.0: …`, `NVRM: … PCI:0000:01:00` names
    /// NVIDIA). `None` when no line names it: a bare `<hostdev>` address says nothing about
    /// what sits there.
    pub fn ids_in_logs(&self, address: &PciAddress) -> Option<SeenIds> {
        let mut by_driver = None;
        for l in self.kernel_lines() {
            let at_address = l.device.as_ref().is_some_and(|d| &d.address == address);
            if at_address && l.device.as_ref().is_some_and(|d| d.driver == "pci") {
                if let Some(c) = enumerated_re().captures(&l.message) {
                    let hex = |n: &str| u32::from_str_radix(&c[n], 16).ok();
                    let Some(vendor) = hex("vendor").and_then(|v| u16::try_from(v).ok()) else { continue };
                    return Some(SeenIds {
                        vendor,
                        device: hex("device").and_then(|v| u16::try_from(v).ok()),
                        class: hex("class"),
                        how: "the kernel log line that enumerated it",
                        evidence: Evidence::from(l),
                    });
                }
            }
            if by_driver.is_some() {
                continue;
            }
            let driver_vendor = match &l.device {
                Some(d) if &d.address == address => VENDOR_DRIVERS.iter().find(|(drv, _)| d.driver == *drv).map(|(_, v)| *v),
                // `NVRM: GPU 0000:01:00.0: RmInitAdapter failed!`, `NVRM: GPU at PCI:0000:01:00: GPU-…`
                _ if l.message.starts_with("NVRM: ")
                    && (l.message.contains(&format!("GPU {address}:")) || l.message.contains(&format!("PCI:{}:", address.slot()))) =>
                {
                    Some(0x10de)
                }
                _ => None,
            };
            if let Some(vendor) = driver_vendor {
                by_driver = Some(SeenIds {
                    vendor,
                    device: None,
                    class: None,
                    how: "a kernel log line of a driver that binds only that maker's GPUs",
                    evidence: Evidence::from(l),
                });
            }
        }
        by_driver
    }

    /// The line of a VM start (or a hook's detach) that names `address` as a device it was
    /// preparing, when no VM definition in the input says the device is passed: libvirt's and
    /// QEMU's errors name the hostdev they failed on. `None` when no such line names it.
    pub fn prepared_for_vm(&self, address: &PciAddress) -> Option<Evidence> {
        [SourceKind::QemuLog, SourceKind::Text, SourceKind::HookTrace, SourceKind::KernelLog]
            .into_iter()
            .flat_map(|k| self.lines(k))
            .find(|l| {
                prepared_for_vm_re().captures(&l.message).is_some_and(|c| {
                    let named = match (c.name("libvirt"), c.name("nodedev"), c.name("qemu")) {
                        (Some(m), _, _) | (_, _, Some(m)) => PciAddress::parse(m.as_str()),
                        (_, Some(m), _) => {
                            let p: Vec<&str> = m.as_str().split('_').collect();
                            PciAddress::parse(&format!("{}:{}:{}.{}", p[0], p[1], p[2], p[3]))
                        }
                        _ => None,
                    };
                    named.as_ref() == Some(address)
                })
            })
            .map(Evidence::from)
    }

    /// The GPU the firmware booted on as the kernel's VGA arbiter names it, when sysfs' boot_vga
    /// is not in the input. The last such line wins (`(overriding previous)`).
    pub fn boot_vga_in_log(&self) -> Option<(PciAddress, Evidence)> {
        self.lines(SourceKind::KernelLog)
            .chain(self.lines(SourceKind::Text))
            .filter(|l| l.message.contains(BOOT_VGA))
            .filter_map(|l| Some((l.device.as_ref()?.address.clone(), Evidence::from(l))))
            .last()
    }

    /// The host CPU's maker from cpuinfo, or else from what the input shows in passing: the
    /// kernel log's `smpboot: CPU0:` line, its IOMMU driver (`AMD-Vi:` or `DMAR:` lines), QEMU's
    /// AMD-only topoext warning, or a VM's named CPU model (`<model>EPYC-Rome</model>`: a guest
    /// model the host can run, so the host's maker). `how` is `None` when cpuinfo said it.
    pub fn cpu_maker(&self) -> Option<(CpuMaker, Option<CpuHint>)> {
        if self.cpu_is_amd() {
            return Some((CpuMaker::Amd, None));
        }
        if self.cpu_is_intel() {
            return Some((CpuMaker::Intel, None));
        }
        let hint = self.cpu_hint()?;
        Some((hint.maker, Some(hint)))
    }

    fn cpu_hint(&self) -> Option<CpuHint> {
        for l in self.kernel_lines() {
            if let Some(c) = smpboot_re().captures(&l.message) {
                let model = &c["model"];
                let maker = if model.starts_with("AMD ") || model.contains("Hygon") {
                    CpuMaker::Amd
                } else if model.starts_with("Intel(R)") || model.starts_with("Genuine Intel") {
                    CpuMaker::Intel
                } else {
                    continue;
                };
                return Some(CpuHint { maker, how: "the kernel log's smpboot line names the CPU".into(), evidence: Evidence::from(l) });
            }
        }
        for l in self.kernel_lines() {
            let maker = if l.message.starts_with("AMD-Vi: ") {
                CpuMaker::Amd
            } else if l.message.starts_with("DMAR: Intel(R) Virtualization Technology") {
                CpuMaker::Intel
            } else {
                continue;
            };
            return Some(CpuHint { maker, how: "the kernel log's IOMMU driver is that maker's".into(), evidence: Evidence::from(l) });
        }
        for kind in [SourceKind::QemuLog, SourceKind::Text] {
            if let Some(l) = self.lines(kind).find(|l| l.message.contains("This family of AMD CPU doesn't support hyperthreading(")) {
                return Some(CpuHint { maker: CpuMaker::Amd, how: "QEMU's warning about AMD CPUs".into(), evidence: Evidence::from(l) });
            }
        }
        for vm in self.vms.iter().filter(|v| v.cpu.mode.as_deref() != Some("host-passthrough")) {
            let Some((model, line)) = &vm.cpu.model else { continue };
            if let Some(maker) = maker_of_model(model) {
                return Some(CpuHint {
                    maker,
                    how: format!("VM {}'s CPU model {model} is one the host's maker makes", vm.name),
                    evidence: vm.evidence(*line, format!("<model>{model}</model>")),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{Bundle, Source};

    fn with_log(kind: SourceKind, text: &str) -> System {
        let mut b = Bundle::new();
        b.sources.push(Source::ok(kind, "dmesg.txt", "input", text.to_string()));
        System::from_bundle(&b)
    }

    #[test]
    fn a_log_from_boot_is_whole_and_an_excerpt_is_not() {
        let boot = "[    0.000000] Linux version 6.8.0-45-generic (buildd@lcy02-amd64-115) (x86_64-linux-gnu-gcc-13)\n[    0.000000] Command line: BOOT_IMAGE=/vmlinuz\n";
        assert!(with_log(SourceKind::KernelLog, boot).kernel_log_from_boot());
        let journal = "Aug 29 16:48:39 lasso kernel: Linux version 6.1.0-18-amd64\nAug 29 16:48:39 lasso kernel: Command line: BOOT_IMAGE=/vmlinuz\n";
        assert!(with_log(SourceKind::KernelLog, journal).kernel_log_from_boot());
        let prompt = "$ sudo dmesg\n[    0.000000] Linux version 6.8.0-45-generic\n";
        assert!(with_log(SourceKind::KernelLog, prompt).kernel_log_from_boot());
        let header = "-- Logs begin at Sun 2024-03-03 09:12:01 CET, end at Sun 2024-03-03 10:00:00 CET. --\nMar 03 09:12:01 host kernel: Linux version 6.1.0-18-amd64\n";
        assert!(with_log(SourceKind::KernelLog, header).kernel_log_from_boot());
        let excerpt = "[    1.533946] pci 0000:00:02.0: vgaarb: setting as boot VGA device\n[   12.190000] vfio-pci 0000:01:00.0: enabling device (0000 -> 0003)\n";
        assert!(!with_log(SourceKind::KernelLog, excerpt).kernel_log_from_boot());
    }

    #[test]
    fn ids_from_the_enumeration_line_or_a_vendor_driver() {
        let sys = with_log(
            SourceKind::KernelLog,
            "[    0.355510] pci 0000:01:00.0: [10de:1b80] type 00 class 0x030000\n[    5.101010] nouveau 0000:02:00.0: NVIDIA GP107 (137000a1)\n\
             [   87.473074] NVRM: GPU 0000:03:00.0: RmInitAdapter failed! (0x22:0x56:667)\n",
        );
        let a = PciAddress::parse("01:00.0").unwrap();
        let seen = sys.ids_in_logs(&a).expect("enumerated");
        assert_eq!((seen.vendor, seen.device, seen.class), (0x10de, Some(0x1b80), Some(0x030000)));
        let b = PciAddress::parse("02:00.0").unwrap();
        assert_eq!(sys.ids_in_logs(&b).map(|s| (s.vendor, s.device)), Some((0x10de, None)));
        assert_eq!(sys.ids_in_logs(&PciAddress::parse("03:00.0").unwrap()).map(|s| s.vendor), Some(0x10de));
        assert!(sys.ids_in_logs(&PciAddress::parse("04:00.0").unwrap()).is_none());
    }

    #[test]
    fn boot_vga_and_cpu_from_the_log() {
        let sys = with_log(
            SourceKind::KernelLog,
            "[    0.180000] smpboot: CPU0: AMD Ryzen 7 3700X 8-Core Processor (family: 0x17, model: 0x71, stepping: 0x0)\n\
             [    0.379927] pci 0000:03:00.0: vgaarb: setting as boot VGA device\n",
        );
        assert_eq!(sys.boot_vga_in_log().map(|(a, _)| a.to_string()), Some("0000:03:00.0".into()));
        let (maker, hint) = sys.cpu_maker().expect("maker");
        assert_eq!(maker, CpuMaker::Amd);
        assert!(hint.expect("hint").evidence.excerpt.contains("Ryzen 7 3700X"));
        assert_eq!(maker_of_model("EPYC-Rome"), Some(CpuMaker::Amd));
        assert_eq!(maker_of_model("Skylake-Client-IBRS"), Some(CpuMaker::Intel));
        assert_eq!(maker_of_model("qemu64"), None);
    }
}
