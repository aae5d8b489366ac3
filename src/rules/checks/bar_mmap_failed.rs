//! Logic for `bar-mmap-failed`; its documentation is rules/bar-mmap-failed.md.
//! QEMU could not mmap a BAR of a passed device (`Failed to mmap … BAR N. Performance may be
//! slow`), per device, with the `received unaligned region` lines of the same device and the
//! kernel's `can't reserve` lines that explain it.

use std::collections::BTreeMap;

use regex::Regex;

use crate::bundle::SourceKind;
use crate::rules::{FoldedEvidence, Findings};
use crate::system::{vfio_ids, LogLine, PciAddress, System};

/// hw/vfio/pci.c `vfio_bar_register()` (2.x → current, signatures.md §3.2):
/// `error_report("Failed to mmap %s BAR %d. Performance may be slow", vdev->vbasedev.name, nr)`.
const MMAP_FAILED: &str = r"Failed to mmap (?P<addr>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]) BAR (?P<bar>[0-5])\. Performance may be slow";

fn mmap_re() -> &'static Regex {
    static_regex!(MMAP_FAILED)
}

/// hw/vfio/common.c (signatures.md §3.3): 2.8 `vfio_listener_region_add received unaligned region`,
/// 8.1 `vfio_listener_valid_section received unaligned region <name> iova=…`. The device is in
/// the option text QEMU prefixes (`-device vfio-pci,host=…:` or JSON `"host":"…"`), or in the
/// region's name (`0000:0a:00.0 BAR 0 mmaps[0]`).
const UNALIGNED: &str = concat!(
    r#"(?:host=|"host":")(?P<a>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]).*vfio_listener_\w+ received unaligned region"#,
    r"|vfio_listener_\w+ received unaligned region (?P<b>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]) BAR"
);

fn unaligned_re() -> &'static Regex {
    static_regex!(UNALIGNED)
}

// The texts [`reserve_failure`] looks for.
const CANT_RESERVE: &str = "can't reserve";
const BUSY: &str = "Device or resource busy";
const REGION_WRITE: &str = "vfio_region_write(";

/// drivers/pci/pci.c `__pci_request_region()`: `BAR %d: can't reserve %pR` (signatures.md §1.1),
/// and QEMU's EBUSY twin `vfio_region_write(…) failed: Device or resource busy` (§3.1).
fn reserve_failure(l: &LogLine, address: &PciAddress) -> bool {
    (l.device.as_ref().is_some_and(|d| &d.address == address) && l.message.contains(CANT_RESERVE))
        || (l.message.contains(BUSY) && l.message.contains(&format!("{REGION_WRITE}{address}:")))
}

/// The log lines this rule reads: the regexes above, and [`reserve_failure`]'s literals as
/// regexes (`CANT_RESERVE`; `REGION_WRITE` and `BUSY` on one line, in either order, `(`
/// escaped; the unit test ties them): long logs keep them from between head and tail
/// (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    MMAP_FAILED,
    UNALIGNED,
    CANT_RESERVE,
    r"vfio_region_write\(.*Device or resource busy|Device or resource busy.*vfio_region_write\(",
];

struct Seen {
    bars: Vec<u8>,
    evidence: FoldedEvidence,
    vms: Vec<String>,
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let mut by_device: BTreeMap<PciAddress, Seen> = BTreeMap::new();
    // QEMU's stderr: the per-VM log, a paste, or a journal (Proxmox logs `kvm: …` there).
    for kind in [SourceKind::QemuLog, SourceKind::Text, SourceKind::KernelLog] {
        for l in sys.lines(kind) {
            let Some(c) = mmap_re().captures(&l.message) else { continue };
            let (Some(address), Ok(bar)) = (PciAddress::parse(&c["addr"]), c["bar"].parse::<u8>()) else { continue };
            let seen = by_device.entry(address).or_insert_with(|| Seen { bars: Vec::new(), evidence: FoldedEvidence::default(), vms: Vec::new() });
            if !seen.bars.contains(&bar) {
                seen.bars.push(bar);
            }
            seen.evidence.add("mmap", l);
            if let Some(vm) = sys.sources.iter().find(|s| *s.path == *l.source).and_then(|s| s.vm.clone()) {
                if !seen.vms.contains(&vm) {
                    seen.vms.push(vm);
                }
            }
        }
    }
    for (address, mut seen) in by_device {
        for kind in [SourceKind::QemuLog, SourceKind::Text, SourceKind::KernelLog] {
            for l in sys.lines(kind) {
                let Some(c) = unaligned_re().captures(&l.message) else { continue };
                if c.name("a").or_else(|| c.name("b")).and_then(|m| PciAddress::parse(m.as_str())).as_ref() == Some(&address) {
                    seen.evidence.add("unaligned", l);
                }
            }
        }
        let mut reserve = FoldedEvidence::default();
        for kind in [SourceKind::KernelLog, SourceKind::KernelLogPrevious, SourceKind::QemuLog, SourceKind::Text] {
            for l in sys.lines(kind).filter(|l| reserve_failure(l, &address)) {
                reserve.add("reserve", l);
            }
        }
        for vm in sys.vms_taking(&address) {
            if !seen.vms.contains(&vm.name) {
                seen.vms.push(vm.name.clone());
            }
        }
        let device = sys.device_at(&address);
        let label = device.map(|d| d.label()).unwrap_or_else(|| address.to_string());
        let bars = seen.bars.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", ");
        let plural = if seen.bars.len() > 1 { "s" } else { "" };
        let times = match seen.evidence.count("mmap") {
            1 => String::new(),
            n => format!(" ({n} times)"),
        };
        let unaligned = seen.evidence.count("unaligned");
        let for_vm = match seen.vms.as_slice() {
            [] => String::new(),
            vms => format!(" for {}", vms.join(", ")),
        };
        let mut message = format!(
            "QEMU could not map BAR{plural} {bars} of {label} into the guest{for_vm}{times}: every guest access to {} now traps into QEMU, so the GPU runs slowly or its driver fails to start",
            if plural.is_empty() { "it" } else { "them" }
        );
        if unaligned > 0 {
            message.push_str(&format!("; QEMU also reported {unaligned} unaligned region(s) of this device, which it cannot map for DMA"));
        }
        let claimed = !reserve.is_empty();
        if claimed {
            message.push_str("; the kernel could not reserve the BAR for vfio-pci: the boot framebuffer still holds it");
        }

        // Sizes from sysfs `resource` (start end flags per line, line N = BAR N).
        let sizes: Vec<(u8, u64)> = device
            .and_then(|d| d.raw.resource.as_deref())
            .map(|r| {
                r.lines()
                    .enumerate()
                    .filter_map(|(i, line)| {
                        let mut f = line.split_whitespace().map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).ok());
                        let (Some(Some(start)), Some(Some(end))) = (f.next(), f.next()) else { return None };
                        let bar = u8::try_from(i).ok()?;
                        (seen.bars.contains(&bar) && end > start).then(|| (bar, end - start + 1))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut evidence = seen.evidence.into_vec();
        evidence.extend(reserve.into_vec());
        if let Some(d) = device {
            for (bar, size) in &sizes {
                evidence.push(d.evidence("resource", &format!("BAR {bar}: {}", human(*size))));
            }
        }
        for vm in sys.vms_taking(&address) {
            for h in vm.hostdevs.iter().filter(|h| h.address == address) {
                // A VM known only from its QEMU log points at a line already quoted.
                let e = vm.hostdev_evidence(h);
                if !evidence.iter().any(|x| x.source == e.source && x.location == e.location) {
                    evidence.push(e);
                }
            }
        }

        let a = &address;
        let mut r = String::new();
        if claimed {
            let new_kernel = vfio_ids::kernel_version(sys).is_none_or(|v| v >= (5, 15));
            let option = if new_kernel { "initcall_blacklist=sysfb_init" } else { "video=efifb:off" };
            r.push_str(&format!(
                "The kernel could not reserve this BAR for vfio-pci (see `bar-reservation-failure`): the firmware booted on {label} and its \
                 framebuffer still sits inside the BAR. Boot the host on another GPU (firmware primary-display setting), or add `{option}` \
                 to the kernel command line, or release the framebuffer before each VM start:\n\n```sh\necho 1 | sudo tee /sys/bus/pci/devices/{a}/remove\necho 1 | sudo tee /sys/bus/pci/rescan\n```\n\n"
            ));
        } else {
            r.push_str(&format!(
                "Find what holds the BAR{plural}: as root,\n\n```sh\nsudo grep -A3 '{a}' /proc/iomem\nlspci -nnk -s {}\n```\n\n\
                 A `BOOTFB`, `efifb`, `simplefb` or `simpledrm` line nested inside the device's range is the boot framebuffer: boot the host on \
                 another GPU, or add `initcall_blacklist=sysfb_init` (kernels ≥ 5.15; `video=efifb:off` before). `Kernel driver in use` must be \
                 `vfio-pci` while the VM runs.\n\n",
                a.short()
            ));
        }
        let small: Vec<String> = sizes.iter().filter(|(_, s)| *s < 4096).map(|(b, s)| format!("BAR {b} ({})", human(*s))).collect();
        if !small.is_empty() {
            r.push_str(&format!(
                "{} is smaller than a 4 KiB page: QEMU cannot mmap a BAR that small and traps its accesses instead; for such a BAR the message is harmless.\n\n",
                small.join(", ")
            ));
        }
        r.push_str("Then start the VM again: the QEMU log must not print `Failed to mmap` for this device.");
        let f = out.emit(label, message, evidence);
        f.remediation = r;
    }
}

/// `32 MiB`, `256 MiB`, `16 KiB`.
fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line shape the check reads (signatures.md §1.1, §3.1–§3.3; the seed's `virsh start`
    /// paste) is one it reads and one a long log keeps.
    #[test]
    fn long_logs_keep_every_line_the_check_reads() {
        assert!(super::super::declares(LOG_SIGNATURES, CANT_RESERVE));
        assert!(LOG_SIGNATURES[3].starts_with(&regex::escape(REGION_WRITE)) && LOG_SIGNATURES[3].contains(BUSY));
        let mmap = "2023-05-25T06:29:00.830154Z qemu-system-x86_64: -device vfio-pci,host=0000:0a:00.0,id=hostdev3,bus=pci.5,addr=0x0,romfile=/home/user/scripts/data/vbios-amd-6500xt.bin: Failed to mmap 0000:0a:00.0 BAR 0. Performance may be slow";
        assert!(mmap_re().is_match(mmap) && super::super::keeps(LOG_SIGNATURES, mmap), "{mmap}");
        for line in [
            "2023-05-25T06:28:55.270270Z qemu-system-x86_64: -device vfio-pci,host=0000:0a:00.0,id=hostdev3,bus=pci.5,addr=0x0,romfile=/home/user/scripts/data/vbios-amd-6500xt.bin: vfio_listener_region_add received unaligned region",
            "2024-01-10T09:12:44.101203Z qemu-system-x86_64: vfio_listener_valid_section received unaligned region 0000:0a:00.0 BAR 0 mmaps[0] iova=0xfe000000 offset_within_region=0x0 qemu_real_host_page_size=0x1000",
        ] {
            assert!(unaligned_re().is_match(line) && super::super::keeps(LOG_SIGNATURES, line), "{line}");
        }
        let address = PciAddress::parse("0000:08:00.0").unwrap();
        for line in [
            "[   44.702115] vfio-pci 0000:08:00.0: BAR 1: can't reserve [mem 0xd0000000-0xdfffffff 64bit pref]",
            "2022-07-21T06:50:56.222055Z qemu-system-x86_64: vfio_region_write(0000:08:00.0:region1+0x345990, 0x13801,8) failed: Device or resource busy",
        ] {
            let l = &crate::system::kernel_log::parse(line, "log")[0];
            assert!(reserve_failure(l, &address), "the check reads {line}");
            assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
        }
    }
}
