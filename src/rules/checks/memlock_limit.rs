//! Logic for `memlock-limit`; its documentation is rules/memlock-limit.md.
//! QEMU could not pin guest memory for VFIO DMA (`VFIO_MAP_DMA … -12`, `vfio_dma_map(…) = -12
//! (Cannot allocate memory)`), the kernel's `RLIMIT_MEMLOCK (…) exceeded`: one finding per VM,
//! with its memory size and how the limit is set for it.

use std::collections::BTreeMap;

use regex::Regex;

use crate::bundle::SourceKind;
use crate::rules::{fix, FoldedEvidence, Findings};
use crate::system::vm::qemu_line_device;
use crate::system::limits::{Limit, Memlock};
use crate::system::{LogLine, PciAddress, System, Vm};

/// QEMU hw/vfio (signatures.md §3.7): 2.8 `VFIO_MAP_DMA: -12`; 8.1 `VFIO_MAP_DMA failed: Cannot
/// allocate memory`; the listener's `vfio_dma_map(%p, 0x…, 0x…, %p) = -12 (Cannot allocate memory)`,
/// prefixed `Region pc.ram: ` in 8.1; 9.x/10.x `vfio_container_dma_map(…) = -12 (…)`. Other errnos
/// (`= -22 (Invalid argument)`: an IOVA beyond the IOMMU's address width) are not this fault.
const QEMU_MAP_FAILED: &str = concat!(
    r"VFIO_MAP_DMA(?: failed)?: (?:-12\b|Cannot allocate memory)",
    // The errno alone says ENOMEM: the strerror after it may be wrapped onto the next line or cut.
    r"|(?:Region (?P<region>[^:\s]+): )?vfio_(?:container_)?dma_map\([^)]*\) = -12\b",
    // hw/vfio/common.c ≤ 2.x: the listener's hw_error after a failed map.
    r"|vfio: DMA mapping failed, unable to continue"
);

fn qemu_re() -> &'static Regex {
    static_regex!(QEMU_MAP_FAILED)
}

/// drivers/vfio/vfio_iommu_type1.c `vfio_pin_pages_remote()` / `vfio_pin_page_external()`
/// (signatures.md §1.12): `"%s: RLIMIT_MEMLOCK (%ld) exceeded\n"`, the limit in bytes.
const RLIMIT_EXCEEDED: &str = r"vfio_pin_page(?:s_remote|_external): RLIMIT_MEMLOCK \((?P<limit>\d+)\) exceeded";

fn kernel_re() -> &'static Regex {
    static_regex!(RLIMIT_EXCEEDED)
}

/// hw/vfio (virtio-mem): `%s: possibly running out of DMA mappings. E.g., try increasing the
/// 'block-size' of virtio-mem devies. …` — -12 then comes from the IOMMU's mapping limit.
const OUT_OF_MAPPINGS: &str = "possibly running out of DMA mappings";

/// The log lines this rule reads (`qemu_line_device` only reads lines `QEMU_MAP_FAILED` matched;
/// `OUT_OF_MAPPINGS` has nothing a regex would read otherwise): long logs keep them from between
/// head and tail (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[QEMU_MAP_FAILED, RLIMIT_EXCEEDED, OUT_OF_MAPPINGS];


#[derive(Default)]
struct Hit {
    evidence: FoldedEvidence,
    devices: Vec<PciAddress>,
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    // VM name (None: not known) → what QEMU said.
    let mut by_vm: BTreeMap<Option<String>, Hit> = BTreeMap::new();
    for kind in [SourceKind::QemuLog, SourceKind::Text, SourceKind::KernelLog] {
        for l in sys.lines(kind) {
            if !qemu_re().is_match(&l.message) {
                continue;
            }
            let device = qemu_line_device(&l.message);
            let vm = vm_of(sys, l, device.as_ref());
            let hit = by_vm.entry(vm).or_default();
            hit.evidence.add(if l.message.contains("VFIO_MAP_DMA") { "map" } else { "dma_map" }, l);
            if let Some(d) = device.filter(|d| !hit.devices.contains(d)) {
                hit.devices.push(d);
            }
        }
    }
    let mut limit: Option<u64> = None;
    let mut kernel = FoldedEvidence::default();
    for kind in [SourceKind::KernelLog, SourceKind::KernelLogPrevious, SourceKind::Text] {
        for l in sys.lines(kind) {
            if let Some(c) = kernel_re().captures(&l.message) {
                limit = limit.or_else(|| c["limit"].parse().ok());
                kernel.add("rlimit", l);
            }
        }
    }
    // A pasted ulimit/prlimit reading below the guest's RAM (1 GiB when no guest is known):
    // evidence with a failure, and a finding of its own without one.
    let vm_bytes = sys.vms.iter().filter_map(|v| v.memory.kib).max().map(|k| k.saturating_mul(1024));
    let low: Vec<&Memlock> = sys
        .memlock
        .iter()
        .filter(|m| matches!(m.soft, Limit::Bytes(b) if b < vm_bytes.unwrap_or(1 << 30)))
        .collect();
    let from_limit_only = by_vm.is_empty() && kernel.is_empty();
    if from_limit_only && low.is_empty() {
        return;
    }
    let out_of_mappings = [SourceKind::QemuLog, SourceKind::Text, SourceKind::KernelLog]
        .into_iter()
        .any(|k| sys.lines(k).any(|l| l.message.contains(OUT_OF_MAPPINGS)));
    if out_of_mappings && kernel.is_empty() && low.is_empty() {
        return;
    }
    if by_vm.is_empty() {
        // Only the kernel's line: the VM is the one that passes devices, when there is one.
        by_vm.insert(only_passing_vm(sys), Hit::default());
    }
    let kernel_evidence = kernel.into_vec();
    for (vm_name, hit) in by_vm {
        let vm = vm_name.as_deref().and_then(|n| sys.vms.iter().find(|v| v.name == n));
        let subject = match (&vm_name, hit.devices.as_slice()) {
            (Some(n), _) => format!("VM {n}"),
            (None, []) => "QEMU with VFIO devices".to_string(),
            (None, devices) => format!(
                "QEMU passing {}",
                devices.iter().map(|a| sys.device_at(a).map(|d| d.label()).unwrap_or_else(|| a.to_string())).collect::<Vec<_>>().join(", ")
            ),
        };
        let mut evidence = hit.evidence.into_vec();
        evidence.extend(kernel_evidence.iter().cloned());
        evidence.extend(low.iter().map(|m| crate::rules::Evidence::from(&m.line)));
        let memory_kib = vm.and_then(|v| v.memory.kib);
        if let Some((v, p)) = vm.and_then(|v| v.pve.as_ref().map(|p| (v, p))) {
            evidence.extend(["memory", "balloon"].iter().filter_map(|k| p.get(k)).map(|s| v.evidence(s.line, s.text())));
        } else if let Some(v) = vm.filter(|v| v.from_xml) {
            if let Some(k) = v.memory.kib {
                evidence.push(v.evidence(v.memory.line, format!("<memory unit='KiB'>{k}</memory>")));
            }
            if let Some(h) = v.memory.hard_limit_kib {
                evidence.push(v.evidence(v.memory.line, format!("<memtune><hard_limit unit='KiB'>{h}</hard_limit></memtune>")));
            }
            for (line, arg) in &v.raw_vfio_args {
                evidence.push(v.evidence(*line, format!("<qemu:arg value='{arg}'/>")));
            }
        }

        let who = match &vm_name {
            Some(n) => match memory_kib {
                Some(k) => format!("VM {n} ({} of memory)", gib(k)),
                None => format!("VM {n}"),
            },
            None => "QEMU".to_string(),
        };
        let mut message = if from_limit_only {
            let m = low[0];
            format!(
                "The memory-lock limit (RLIMIT_MEMLOCK) that {} shows is {}, smaller than {}: a QEMU started under it cannot pin the guest's memory for VFIO DMA (`VFIO_MAP_DMA … Cannot allocate memory`). libvirt raises the limit for the QEMU it starts; a QEMU run by hand, by a script or by a service keeps this one",
                m.line.source,
                m.soft.human(),
                match (vm_bytes, &vm_name) {
                    (Some(b), Some(n)) => format!("the {} of VM {n}", Limit::Bytes(b).human()),
                    (Some(b), None) => format!("the guest's {}", Limit::Bytes(b).human()),
                    _ => "any guest's RAM".to_string(),
                }
            )
        } else {
            format!(
                "{who} could not pin its memory for VFIO DMA: QEMU's mapping failed with -12 (Cannot allocate memory), the memory-lock limit (RLIMIT_MEMLOCK) of the QEMU process is smaller than the guest's RAM"
            )
        };
        if let (false, Some(m)) = (from_limit_only, low.first()) {
            message.push_str(&format!("; {} shows the limit as {}", m.line.source, m.soft.human()));
        }
        if let Some(l) = limit {
            message.push_str(&format!("; the kernel reports the limit as {l} bytes ({})", bytes(l)));
        }
        let unknown_to_libvirt: Vec<&PciAddress> = match vm.filter(|v| v.from_xml) {
            Some(v) => hit.devices.iter().filter(|d| !v.takes(d)).collect(),
            None => Vec::new(),
        };
        let raw = vm.is_some_and(|v| !v.raw_vfio_args.is_empty()) || !unknown_to_libvirt.is_empty();
        if raw {
            message.push_str("; the device reaches QEMU through raw QEMU arguments, not a <hostdev>, so libvirt does not raise the limit for it");
        }
        let hard_limit_low = vm.and_then(|v| Some((v.memory.hard_limit_kib?, v.memory.kib?))).filter(|(h, m)| h <= m);
        if let Some((h, _)) = hard_limit_low {
            message.push_str(&format!("; its <memtune> hard_limit ({}) is not above its memory, and libvirt uses it as the lock limit", gib(h)));
        }

        let libvirt = vm.is_some_and(|v| v.from_xml)
            || evidence.iter().any(|e| e.source.contains("libvirt/qemu/"))
            || sys.sources.iter().any(|s| s.kind == SourceKind::QemuLog && s.vm.is_some() && vm_name.as_ref() == s.vm.as_ref());
        let situation = Situation {
            vm,
            name: vm_name.as_deref(),
            memory_kib,
            libvirt,
            raw,
            unknown: unknown_to_libvirt,
            hard_limit_low: hard_limit_low.is_some(),
        };
        if vm.is_some_and(|v| v.pve.is_some()) {
            message = format!(
                "{who} could not pin its memory for VFIO DMA: QEMU's mapping failed with -12 (Cannot allocate memory). Proxmox VE runs QEMU as root, \
                 which may lock any amount, so the host did not have the guest's RAM free to pin"
            );
        }
        let f = out.emit(subject, message, evidence);
        if kernel_evidence.is_empty() && low.is_empty() {
            // -12 is ENOMEM; the kernel's line (or a limit reading) is what names the lock limit
            // as its cause.
            f.assume(
                "the kernel's `vfio_pin_pages_remote: RLIMIT_MEMLOCK (…) exceeded` line is not in the input: QEMU's -12 is taken \
                 to come from the memory-lock limit, its usual cause",
            );
        }
        f.remediation = match vm {
            Some(v) => fix::vm_remediation(v, || remediation(&situation), |p| pve_fix(p, memory_kib)),
            None => remediation(&situation),
        };
    }
}

/// The VM a QEMU line belongs to: the source's domain (libvirt's per-VM log), else the VM that
/// passes the device the line names, else the only VM that passes devices.
fn vm_of(sys: &System, l: &LogLine, device: Option<&PciAddress>) -> Option<String> {
    if let Some(vm) = sys.sources.iter().find(|s| *s.path == *l.source).and_then(|s| s.vm.clone()) {
        return Some(vm);
    }
    if let Some(vm) = sys.vms.iter().find(|v| *v.source == *l.source) {
        return named(vm);
    }
    if let Some(d) = device {
        if let Some(vm) = sys.vms_taking(d).first() {
            return named(vm);
        }
    }
    only_passing_vm(sys)
}

/// The VM's name, unless it is only the path of the QEMU log it was read from (a paste with
/// no `-name guest=`).
fn named(vm: &Vm) -> Option<String> {
    (vm.name != *vm.source).then(|| vm.name.clone())
}

/// The one VM that passes devices, when there is exactly one.
fn only_passing_vm(sys: &System) -> Option<String> {
    let passing: Vec<&Vm> = sys.vms.iter().filter(|v| !v.hostdevs.is_empty()).collect();
    match passing.as_slice() {
        [one] => named(one),
        _ => None,
    }
}

/// `64 KiB`, `8 MiB`, `3.9 GiB`.
fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => gib(b / 1024),
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b => format!("{} KiB", b >> 10),
    }
}

fn gib(kib: u64) -> String {
    let g = kib as f64 / (1024.0 * 1024.0);
    if (g - g.round()).abs() < 0.05 {
        format!("{} GiB", g.round() as u64)
    } else {
        format!("{g:.1} GiB")
    }
}

/// Proxmox: every page of a VM with PCI devices is pinned, so ballooning cannot give memory back,
/// and the guest's RAM must fit in what the host has free.
fn pve_fix(p: &crate::system::pve::PveVm, memory_kib: Option<u64>) -> fix::PveFix {
    let mib = memory_kib.map(|k| k / 1024).unwrap_or(0);
    let mut set = Vec::new();
    if p.get("balloon").is_none_or(|b| b.value.trim() != "0") {
        set.push(fix::QmSet::set("balloon", "0"));
    }
    let smaller = (mib / 2).max(1024);
    if set.is_empty() || mib > 4096 {
        set.push(fix::QmSet::set("memory", smaller.to_string()));
    }
    fix::PveFix {
        lead: format!(
            "All of the guest's RAM ({mib} MiB) is pinned when a PCI device is passed, so the host must have that much free when the VM starts. \
             Check with `free -m` and `arc_summary | head -20` (ZFS's ARC takes up to half the RAM by default). Turn ballooning off \
             (it cannot return pinned memory) and give the guest what fits:"
        ),
        set,
        note: "Or free host memory: other VMs, or a smaller ARC (`options zfs zfs_arc_max=BYTES` in `/etc/modprobe.d/zfs.conf`, then `update-initramfs -u -k all` and reboot).".into(),
    }
}

struct Situation<'a> {
    vm: Option<&'a Vm>,
    name: Option<&'a str>,
    memory_kib: Option<u64>,
    /// libvirt starts this QEMU (a domain XML, or libvirt's per-VM QEMU log).
    libvirt: bool,
    /// A device reaches QEMU by `<qemu:commandline>` arguments.
    raw: bool,
    unknown: Vec<&'a PciAddress>,
    hard_limit_low: bool,
}

fn remediation(s: &Situation<'_>) -> String {
    let Situation { vm, name, memory_kib, libvirt, raw, unknown, hard_limit_low } = s;
    let (vm, name, memory_kib, libvirt, raw, hard_limit_low) = (*vm, *name, *memory_kib, *libvirt, *raw, *hard_limit_low);
    // libvirt's own rule for a VFIO guest (qemuDomainGetMemLockLimitBytes): memory + 1 GiB.
    let need_kib = memory_kib.map(|m| m + 1024 * 1024);
    let need = need_kib.map(|k| k.to_string()).unwrap_or_else(|| "<guest memory in KiB + 1048576>".into());
    let mut r = String::new();
    match name.filter(|_| libvirt) {
        Some(n) => {
            if let (true, Some(v)) = (raw, vm) {
                r.push_str(&format!(
                    "libvirt raises the memory-lock limit only for devices it knows as `<hostdev>`. Remove the `-device vfio-pci` arguments from `<qemu:commandline>` (`virsh edit {n}`) and pass the devices as managed hostdevs:\n\n"
                ));
                let mut addrs: Vec<PciAddress> =
                    v.raw_vfio_args.iter().filter_map(|(_, a)| a.split(',').find_map(|p| p.strip_prefix("host=")).and_then(PciAddress::parse)).collect();
                for a in unknown.iter() {
                    if !addrs.contains(a) {
                        addrs.push((*a).clone());
                    }
                }
                for a in &addrs {
                    r.push_str(&format!("```xml\n{}\n```\n\n", fix::hostdev_xml(a, None, None)));
                }
                r.push_str("Or, keeping the raw arguments, give the guest a lock limit libvirt applies to the QEMU process:\n\n");
            } else if hard_limit_low {
                r.push_str(&format!(
                    "libvirt uses `<memtune><hard_limit>` as the QEMU process's memory-lock limit, and {n}'s is not above its memory. Raise it to the guest's memory plus 1 GiB (`virsh edit {n}`), or remove it to let libvirt compute the limit:\n\n"
                ));
            } else {
                r.push_str(&format!(
                    "libvirt normally sets the lock limit to the guest's memory plus 1 GiB for a guest with `<hostdev>`; that was not enough here (more devices, a vIOMMU, or a session libvirt that cannot go beyond the user's own limit). Set it explicitly (`virsh edit {n}`):\n\n"
                ));
            }
            r.push_str(&format!("```xml\n<memtune>\n  <hard_limit unit='KiB'>{need}</hard_limit>\n</memtune>\n```\n\n"));
            r.push_str(&format!(
                "With `qemu:///session` (virt-manager as a user, GNOME Boxes) the limit cannot exceed the user's own hard limit: raise it in \
                 `/etc/security/limits.d/memlock.conf` (KiB; put your login name) and log in again:\n\n```text\nyouruser soft memlock {need}\nyouruser hard memlock {need}\n```\n\n"
            ));
        }
        None => {
            let who = name.map(|n| format!(" for {n}")).unwrap_or_default();
            r.push_str(&format!(
                "QEMU runs without libvirt{who}, so nothing raises its memory-lock limit: every page of guest RAM must be lockable. From a shell, before starting QEMU:\n\n\
                 ```sh\nulimit -l {need}\n```\n\nPersistently for your user, `/etc/security/limits.d/memlock.conf` (KiB; put your login name), then log in again:\n\n\
                 ```text\nyouruser soft memlock {need}\nyouruser hard memlock {need}\n```\n\nFor QEMU started by a systemd service, in the unit's `[Service]` section (`systemctl edit <unit>`):\n\n```text\nLimitMEMLOCK={}\n```\n\n",
                need_kib.map(|k| (k * 1024).to_string()).unwrap_or_else(|| "infinity".into())
            ));
        }
    }
    let pid = match name.filter(|_| libvirt) {
        Some(n) => format!("$(pgrep -f 'guest={n},' | head -1)"),
        None => "$(pgrep -f qemu-system | head -1)".to_string(),
    };
    r.push_str(&format!("While the VM runs, `prlimit --memlock --pid {pid}` must show at least the guest's memory plus 1 GiB."));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line shape the check reads (signatures.md §1.12, §3.7) is one it reads and one a
    /// long log keeps; the literal it looks for needs no escaping to be its own signature.
    #[test]
    fn long_logs_keep_every_line_the_check_reads() {
        assert_eq!(regex::escape(OUT_OF_MAPPINGS), OUT_OF_MAPPINGS);
        assert!(super::super::declares(LOG_SIGNATURES, OUT_OF_MAPPINGS));
        let qemu = [
            "qemu-system-x86_64: -device vfio-pci,host=0000:4c:00.0,multifunction=on: VFIO_MAP_DMA: -12",
            "2023-05-26T12:30:00.000001Z qemu-system-x86_64: -device vfio-pci,host=0000:0b:00.0,id=hostdev0,bus=pci.4,addr=0x0: VFIO_MAP_DMA failed: Cannot allocate memory",
            "qemu-system-x86_64: -device vfio-pci,host=0000:4c:00.0,multifunction=on: vfio_dma_map(0x55966269d230, 0x100000, 0xbff00000, 0x7f55b7f00000) = -12 (Cannot allocate memory)",
            "2023-05-26T12:30:00.000001Z qemu-system-x86_64: -device vfio-pci,host=0000:0b:00.0,id=hostdev0,bus=pci.4,addr=0x0: vfio 0000:0b:00.0: failed to setup container for group 25: memory listener initialization failed: Region pc.ram: vfio_dma_map(0x5b4411be9ab0, 0x100000000, 0x80000000, 0x79022fe00000) = -12 (Cannot allocate memory)",
            "qemu-system-x86_64: vfio_container_dma_map(0x5b4411be9ab0, 0x100000000, 0x80000000, 0x79022fe00000) = -12 (Cannot allocate memory)",
            "qemu: hardware error: vfio: DMA mapping failed, unable to continue",
        ];
        for line in qemu {
            assert!(qemu_re().is_match(line), "the check reads {line}");
            assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
        }
        for line in ["[ 2013.100211] vfio_pin_pages_remote: RLIMIT_MEMLOCK (4193574912) exceeded", "vfio_pin_page_external: RLIMIT_MEMLOCK (65536) exceeded"] {
            assert!(kernel_re().is_match(line), "the check reads {line}");
            assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
        }
        // hw/vfio/common.c 8.1 `warn_report()` (composed from the format).
        let line = "2024-03-01T10:00:00.000001Z qemu-system-x86_64: warning: vfio_register_ram_discard_listener: possibly running out of DMA mappings. E.g., try increasing the 'block-size' of virtio-mem devies. Maximum possible DMA mappings: 65535, Maximum possible memslots: 32764";
        assert!(line.contains(OUT_OF_MAPPINGS) && super::super::keeps(LOG_SIGNATURES, line));
    }
}
