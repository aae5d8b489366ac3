//! Logic for `boot-gpu-passed-through`; its documentation is rules/boot-gpu-passed-through.md.
//! The GPU the firmware booted on (sysfs `boot_vga` = 1) is assigned to a VM; a BAR the kernel
//! cannot reserve, or QEMU writes failing with EBUSY, on that GPU make it an error.


use regex::Regex;

use crate::bundle::SourceKind;
use crate::rules::{fix, Evidence, Findings, Severity};
use crate::system::{vfio_ids, PciAddress, System, Vm};

/// drivers/pci/pci.c `__pci_request_region()`: `BAR %d: can't reserve %pR` (and the 6.8
/// resource-name form `BAR 1 [mem …]: can't reserve`), signatures.md §1.1.
fn bar_reserve_re() -> &'static Regex {
    static_regex!(r"BAR (?P<bar>[0-5])(?::| \[[^\]]+\]:) can't reserve")
}

/// hw/vfio `vfio_region_write()`/`vfio_region_read()`: `vfio_region_write(0000:08:00.0:region1+0x345990, 0x13801,8) failed: Device or resource busy`
/// (signatures.md §3.1).
fn region_busy_re() -> &'static Regex {
    static_regex!(r"vfio_region_(?:write|read)\((?P<addr>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]):region(?P<region>\d+)\+[^)]*\) failed: Device or resource busy")
}

/// The log lines this rule reads: long logs keep them from between head and tail
/// (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    r"BAR [0-5](?::| \[[^\]]+\]:) can't reserve",
    r"vfio_region_(?:write|read)\([^)]*\) failed: Device or resource busy",
    "assigned to efifb",
];

/// The GPU the firmware booted on: sysfs' boot_vga, or, when the input has no sysfs, the device
/// the kernel's VGA arbiter chose at boot (then the finding is likely).
struct BootGpu {
    address: PciAddress,
    /// `0000:08:00.0 NVIDIA Corporation GP106 [GeForce GTX 1060 3GB] [10de:1c02]`, or what is known.
    label: String,
    /// `10de-1c02` for a ROM file name, or the address.
    file_stem: String,
    evidence: Evidence,
    assumed: Option<String>,
}

fn boot_gpu(sys: &System) -> Option<BootGpu> {
    if let Some(d) = sys.boot_vga() {
        return Some(BootGpu { address: d.address.clone(), label: d.label(), file_stem: d.ids().replace(':', "-"), evidence: d.evidence("boot_vga", "1"), assumed: None });
    }
    // sysfs says which device is boot VGA; an input with sysfs and none marked has none.
    if sys.pci_from_sysfs() {
        return None;
    }
    let (address, evidence) = sys.boot_vga_in_log()?;
    let (label, file_stem) = match (sys.device_at(&address), sys.ids_in_logs(&address)) {
        (Some(d), _) if d.vendor_id.is_some() => (d.label(), d.ids().replace(':', "-")),
        (_, Some(seen)) if seen.device.is_some() => {
            let ids = format!("{:04x}:{:04x}", seen.vendor, seen.device.unwrap_or_default());
            (format!("{address} [{ids}]"), ids.replace(':', "-"))
        }
        _ => (address.to_string(), address.to_string().replace([':', '.'], "-")),
    };
    Some(BootGpu {
        address,
        label,
        file_stem,
        evidence,
        assumed: Some("no sysfs boot_vga: the boot GPU is the one the kernel's VGA arbiter chose at boot (its `vgaarb: setting as boot VGA device` line)".into()),
    })
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let Some(gpu) = boot_gpu(sys) else { return };
    let vms = sys.vms_taking(&gpu.address);
    if vms.is_empty() {
        return;
    }
    let mut evidence = vec![gpu.evidence.clone()];
    for vm in &vms {
        for h in vm.hostdevs.iter().filter(|h| h.address == gpu.address) {
            evidence.push(vm.hostdev_evidence(h));
        }
    }

    // Corroboration: the kernel could not reserve a BAR of it, QEMU got EBUSY on its regions.
    let mut bar_lines = 0u64;
    let mut bars: Vec<String> = Vec::new();
    for kind in [SourceKind::KernelLog, SourceKind::KernelLogPrevious, SourceKind::Text] {
        let mut first: Option<Evidence> = None;
        for l in sys.lines(kind).filter(|l| l.device.as_ref().is_some_and(|d| d.address == gpu.address)) {
            if let Some(c) = bar_reserve_re().captures(&l.message) {
                bar_lines += l.count;
                if !bars.contains(&c["bar"].to_string()) {
                    bars.push(c["bar"].to_string());
                }
                match &mut first {
                    None => first = Some(Evidence::from(l)),
                    Some(e) => e.count = Some(e.count.unwrap_or(1) + l.count),
                }
            } else if l.message.contains("assigned to efifb") {
                evidence.push(Evidence::from(l));
            }
        }
        evidence.extend(first);
    }
    let mut busy_lines = 0u64;
    for kind in [SourceKind::QemuLog, SourceKind::Text] {
        let mut first: Option<Evidence> = None;
        for l in sys.lines(kind) {
            let Some(c) = region_busy_re().captures(&l.message) else { continue };
            if crate::system::PciAddress::parse(&c["addr"]).as_ref() != Some(&gpu.address) {
                continue;
            }
            busy_lines += l.count;
            match &mut first {
                None => first = Some(Evidence::from(l)),
                Some(e) => e.count = Some(e.count.unwrap_or(1) + l.count),
            }
        }
        evidence.extend(first);
    }

    let names: Vec<&str> = vms.iter().map(|v| v.name.as_str()).collect();
    let mut message = format!(
        "{} is the boot GPU ({}) and VM {} passes it through: the firmware's boot framebuffer still sits in its memory, and the card was initialised (and its ROM shadowed) for the host",
        gpu.label,
        if gpu.assumed.is_some() { "the kernel's VGA arbiter chose it" } else { "boot_vga = 1" },
        names.join(", ")
    );
    let corroborated = bar_lines > 0 || busy_lines > 0;
    if corroborated {
        let mut why = Vec::new();
        if bar_lines > 0 {
            why.push(format!("the kernel cannot reserve BAR {} of it ({bar_lines} time(s))", bars.join("/")));
        }
        if busy_lines > 0 {
            why.push(format!("QEMU's writes to its BARs fail with Device or resource busy ({busy_lines} time(s))"));
        }
        message.push_str(&format!(
            ". This is an error here because {}: the guest's driver cannot reach the card's memory, which ends in a black screen, Code 43 or a blue-screen loop",
            why.join(" and ")
        ));
    }
    let remediation = remediation(sys, &gpu, &vms);
    let f = out.emit(gpu.label.clone(), message, evidence);
    if corroborated {
        f.severity = Severity::Error;
    }
    if let Some(a) = gpu.assumed {
        f.assume(a);
    }
    f.remediation = remediation;
}

fn remediation(sys: &System, gpu: &BootGpu, vms: &[&Vm]) -> String {
    let vm = vms[0];
    let a = &gpu.address;
    let mut r = String::new();
    // 1. Boot on another GPU.
    let other = sys.devices.iter().find(|d| d.is_gpu() && d.address.slot() != a.slot() && !sys.is_assigned(&d.address));
    r.push_str("1. **Make the host boot on another GPU** (the robust fix): in the firmware setup choose the primary display (\"Primary Display\", \"Initiate Graphic Adapter\", \"Primary Video Adapter\") ");
    match other {
        Some(o) => r.push_str(&format!("so that it is {}, or swap the two cards' slots.\n", o.label())),
        None => r.push_str("as the iGPU or another card, or swap the cards' slots.\n"),
    }

    // 2. Keep the kernel off the boot framebuffer, by kernel version.
    let version = vfio_ids::kernel_version(sys);
    let release = sys.host.kernel.clone().unwrap_or_else(|| "this kernel".into());
    let (option, why) = match version {
        Some(v) if v < (5, 15) => ("video=efifb:off", format!("{release} still uses efifb for the boot framebuffer")),
        Some(_) => (
            "initcall_blacklist=sysfb_init",
            format!("on {release} (≥ 5.15) the generic sysfb code creates the boot framebuffer device for efifb, simplefb and simpledrm alike; blacklisting `sysfb_init` keeps all of them off the card, while `video=efifb:off` only stops efifb"),
        ),
        None => ("initcall_blacklist=sysfb_init", "kernels ≥ 5.15 use sysfb/simpledrm (on ≤ 5.14 use `video=efifb:off` instead)".to_string()),
    };
    let present = sys.cmdline.as_ref().is_some_and(|c| c.raw.split_whitespace().any(|w| w == option));
    if present {
        r.push_str(&format!("2. `{option}` is already on the kernel command line; the framebuffer is still claimed, so use 1 or 4.\n"));
    } else {
        r.push_str(&format!("2. **Keep the kernel off the boot framebuffer**: {why}.\n\n"));
        r.push_str(&fix::in_step(&fix::add_kernel_options(sys, &[option])));
        r.push_str("\n\n   The host then has no console on this card until a driver takes it.\n");
    }

    // 3. A clean ROM.
    let file = format!("{}.rom", gpu.file_stem);
    let rom_path = match vm.pve {
        // qemu-server reads `romfile=` from /usr/share/kvm/ only.
        Some(_) => format!("/usr/share/kvm/{file}"),
        None => format!("/var/lib/libvirt/vbios/{file}"),
    };
    let guest = vm.hostdevs.iter().find(|h| &h.address == a).and_then(|h| h.guest_address.clone());
    let existing_rom = vm.hostdevs.iter().find(|h| &h.address == a).and_then(|h| h.rom_file.clone());
    r.push_str("3. **Give the guest a clean copy of the card's ROM**: the ROM image the card exposes after booting the host is the shadowed, already-run copy. ");
    if let Some(rom) = existing_rom {
        let how = if vm.pve.is_some() { format!("`romfile=` ({rom})") } else { format!("`<rom file='{rom}'/>`") };
        r.push_str(&format!("{} already sets {how}: check that file with rom-parser and re-dump it if it is the shadowed copy. ", vm.name));
    }
    let mkdir = if vm.pve.is_some() { String::new() } else { "   sudo mkdir -p /var/lib/libvirt/vbios\n".to_string() };
    r.push_str(&format!(
        "Dump it while another GPU is primary (or download the exact model and version from TechPowerUp's VGA BIOS collection; NVIDIA dumps made with nvflash need their header removed), check it with rom-parser, and reference it:\n\n   ```sh\n{mkdir}   echo 1 | sudo tee /sys/bus/pci/devices/{a}/rom\n   sudo cat /sys/bus/pci/devices/{a}/rom | sudo tee {rom_path} >/dev/null\n   echo 0 | sudo tee /sys/bus/pci/devices/{a}/rom\n   ```\n\n"
    ));
    let libvirt = || format!("In `virsh edit {}`, the card's `<hostdev>`:\n\n```xml\n{}\n```", vm.name, fix::hostdev_xml(a, guest.as_deref(), Some(&format!("<rom file='{rom_path}'/>"))));
    let pve = |p: &crate::system::pve::PveVm| {
        let in_args = p.get("args").and_then(|s| fix::pve_args_device_option(&s.value, a, "romfile", &file));
        let set = match (p.hostpci_of(a), in_args) {
            (Some(entry), _) => fix::QmSet::set(entry.key(), entry.value_with(&[("romfile", Some(&file))])),
            // Passed by hand-written `-device vfio-pci,…` in `args:`; QEMU finds a bare romfile in /usr/share/kvm too.
            (None, Some(args)) => fix::QmSet::set("args", args),
            (None, None) => fix::QmSet::set(format!("hostpci{}", p.free_hostpci()), format!("{},romfile={file}", a.slot())),
        };
        fix::PveFix { lead: String::new(), set: vec![set], note: String::new() }
    };
    r.push_str(&fix::in_step(&fix::vm_remediation(vm, libvirt, pve)));
    r.push('\n');

    // 4. Remove and rescan before each start (the seed's workaround).
    let start = match &vm.pve {
        Some(p) => format!("qm start {}", p.id()),
        None => format!("virsh start {}", vm.name),
    };
    r.push_str(&format!(
        "4. **Remove the card and rescan the bus before each VM start** (a stopgap: it drops the framebuffer's claim on the card):\n\n   ```sh\n   echo 1 | sudo tee /sys/bus/pci/devices/{a}/remove\n   echo 1 | sudo tee /sys/bus/pci/rescan\n   {start}\n   ```"
    ));
    if vm.pve.is_some() {
        r.push_str("\n\n   On Proxmox a `hookscript:` (a snippet run with `pre-start`) can do the first two lines before every start.");
    }
    r
}

