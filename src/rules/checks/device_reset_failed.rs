//! Logic for `device-reset-failed`; its documentation is rules/device-reset-failed.md.
//! A passed-through device (on vfio-pci, or named by a VM's hostdev) did not come back from a
//! reset or a power transition: the kernel's FLR / D3cold messages, vfio's BAR restores, QEMU's
//! and libvirt's "cannot reset". One finding per device, with a fix for that device.

use std::collections::BTreeMap;

use regex::Regex;

use crate::bundle::SourceKind;
use crate::rules::{fix, FoldedEvidence, Findings};
use crate::system::vm::qemu_line_device;
use crate::system::{vfio_ids, Device, LogLine, PciAddress, System};

/// drivers/pci/pci.c `pci_dev_wait()` (signatures.md §1.5): `not ready %dms after %s; giving up` /
/// `; waiting`, the reset being `FLR`, `AF_FLR`, `bus reset`, `PM D3HOT->D0`, `resume`, ….
/// What follows the delay may be missing: a line cut by the poster (`not ready 1023ms afte`) still
/// says the device did not answer after a reset or power-up, only not which one.
const NOT_READY: &str = r"not ready (?P<ms>\d+)ms(?: after (?P<what>[^;]+)(?:; (?P<state>giving up|waiting))?)?";

fn not_ready_re() -> &'static Regex {
    static_regex!(NOT_READY)
}

/// drivers/pci/pci.c (§1.6): 5.19+ `Unable to change power state from %s to %s, device
/// inaccessible`; before `can't change power state from %s to %s (config space inaccessible)`;
/// refusals `Refused to change power state, currently in D%d` / `refused to change power state
/// from %s to %s`. (`Refused|refused`, not `[Rr]efused`: the prefilter then needs no
/// case-insensitive literal.)
const POWER: &str = concat!(
    r"(?:Unable to|can't) change power state from (?P<from>\S+) to (?P<to>D0)(?:,| \()",
    r"|(?:Refused|refused) to change power state(?:, currently in (?P<cur>D\d)| from (?P<rfrom>\S+) to (?P<rto>\S+))"
);

fn power_re() -> &'static Regex {
    static_regex!(POWER)
}

/// drivers/vfio/pci/vfio_pci_config.c `vfio_bar_restore()` (§1.7): new `vfio_bar_restore: reset
/// recovery - restoring BARs` behind the device prefix; old `vfio_bar_restore: 0000:c2:00.0 reset
/// recovery - restoring bars`: the two spellings, rather than `(?i:bars)`, which would make the
/// prefilter's literal case-insensitive.
const BAR_RESTORE: &str = r"vfio_bar_restore: (?:(?P<addr>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]) )?reset recovery - restoring (?:BARs|bars)";

fn bar_restore_re() -> &'static Regex {
    static_regex!(BAR_RESTORE)
}

/// QEMU hw/vfio/pci.c (§3.8): `vfio: Cannot reset device %s, no available reset mechanism.`,
/// `vfio: Cannot reset device %s, depends on group %d which is not owned.`, `vfio: Unable to
/// power on device, stuck in D%d`; libvirt virpci.c `Unable to reset PCI device %s: %s` (§4).
const CANNOT_RESET: &str = concat!(
    r"vfio: Cannot reset device (?P<qaddr>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]), (?:(?P<nomech>no available reset mechanism)|depends on group (?P<group>\d+) which is not owned)",
    r"|vfio: Unable to power on device, stuck in (?P<stuck>D\d)",
    r"|Unable to reset PCI device (?P<laddr>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]): (?P<why>.+)$"
);

fn cannot_reset_re() -> &'static Regex {
    static_regex!(CANNOT_RESET)
}

/// The log lines this rule reads (the regexes above; `qemu_line_device` only reads lines
/// `CANNOT_RESET` matched): long logs keep them from between head and tail (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[NOT_READY, POWER, BAR_RESTORE, CANNOT_RESET];

/// Lines that alone show a reset that failed for a VM, even when the check cannot tell which
/// device (a pasted `stuck in D3` names none): QEMU or libvirt could not reset or wake it. The
/// kernel's own `not ready … giving up` and D3cold lines are not among them: a GPU the host
/// keeps prints them too (quiet-host-gpu).
pub(crate) const FAILURE_SIGNATURES: &[&str] = &[
    r"vfio: Unable to power on device, stuck in D\d",
    r"vfio: Cannot reset device \S+, no available reset mechanism",
    r"Unable to reset PCI device \S+: ",
];

/// What went wrong with one device.
#[derive(Default)]
struct Trouble {
    evidence: FoldedEvidence,
    /// `not ready` after these resets, and whether the kernel gave up.
    not_ready: Vec<String>,
    gave_up: bool,
    /// Power states it could not leave (`D3cold`).
    stuck_in: Vec<String>,
    restores: u64,
    no_mechanism: bool,
    unowned_groups: Vec<String>,
    libvirt: Vec<String>,
    vms: Vec<String>,
}

impl Trouble {
    /// Anything but BAR restores (which a VM start can produce once or twice on a healthy card).
    fn hard_failure(&self) -> bool {
        !self.not_ready.is_empty() || !self.stuck_in.is_empty() || self.no_mechanism || !self.unowned_groups.is_empty() || !self.libvirt.is_empty()
    }
}

/// BAR restores of one device in one log that count as a failure on their own.
const RESTORE_STREAM: u64 = 3;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let mut by_device: BTreeMap<PciAddress, Trouble> = BTreeMap::new();
    for kind in [SourceKind::KernelLog, SourceKind::KernelLogPrevious, SourceKind::Text] {
        for l in sys.lines(kind) {
            kernel_line(sys, l, &mut by_device);
        }
    }
    for kind in [SourceKind::QemuLog, SourceKind::Text, SourceKind::KernelLog] {
        for l in sys.lines(kind) {
            qemu_line(sys, l, &mut by_device);
        }
    }
    for (address, t) in by_device {
        if !t.hard_failure() && t.restores < RESTORE_STREAM {
            continue;
        }
        let device = sys.device_at(&address);
        let label = device.map(|d| d.label()).unwrap_or_else(|| address.to_string());
        let mut what: Vec<String> = Vec::new();
        if !t.not_ready.is_empty() {
            let after = t.not_ready.join(", ");
            what.push(if t.gave_up {
                format!("it did not come back after {after}, and the kernel gave up waiting")
            } else {
                format!("the kernel kept waiting for it after {after}")
            });
        }
        if !t.stuck_in.is_empty() {
            what.push(format!("it could not be brought out of {} into D0 (config space inaccessible)", t.stuck_in.join(", ")));
        }
        if t.restores > 0 {
            what.push(match t.restores {
                1 => "vfio found its BARs cleared behind its back and restored them".to_string(),
                n => format!("vfio found its BARs cleared behind its back and restored them {n} times"),
            });
        }
        if t.no_mechanism {
            what.push("QEMU has no reset mechanism for it".into());
        }
        for g in &t.unowned_groups {
            what.push(format!("QEMU cannot reset it because the reset also hits IOMMU group {g}, which the VM does not own"));
        }
        for why in &t.libvirt {
            what.push(format!("libvirt could not reset it ({why})"));
        }
        let for_vms = if t.vms.is_empty() { String::new() } else { format!(" (passed to {})", t.vms.join(", ")) };
        let message = format!(
            "{label}{for_vms} failed to reset: {}. The device is left in a state the guest's driver cannot initialise; the VM hangs, shows a black screen, or fails on its second start",
            what.join("; ")
        );
        let mut evidence = t.evidence.into_vec();
        if let Some(d) = device {
            if let Some(m) = &d.reset_methods {
                evidence.push(d.evidence("reset_method", &m.join(" ")));
            }
        }
        for vm in sys.vms_taking(&address) {
            for h in vm.hostdevs.iter().filter(|h| h.address == address) {
                let e = vm.hostdev_evidence(h);
                if !evidence.iter().any(|x| x.source == e.source && x.location == e.location) {
                    evidence.push(e);
                }
            }
        }
        let f = out.emit(label, message, evidence);
        f.remediation = remediation(sys, &address, device, &t.stuck_in, !t.not_ready.is_empty() || t.restores > 0, t.no_mechanism, &t.unowned_groups);
    }
}

/// Whether the kernel's line is about a device meant for a VM: on vfio-pci (sysfs, else the
/// line's own prefix) or passed by a VM.
fn passed_through(sys: &System, address: &PciAddress, l: &LogLine) -> bool {
    let driver = sys.device_at(address).and_then(|d| d.driver.clone()).or_else(|| l.device.as_ref().map(|d| d.driver.clone()));
    driver.as_deref() == Some("vfio-pci") || sys.is_assigned(address)
}

fn trouble<'a>(sys: &System, by: &'a mut BTreeMap<PciAddress, Trouble>, address: &PciAddress) -> &'a mut Trouble {
    let t = by.entry(address.clone()).or_default();
    for vm in sys.vms_taking(address) {
        if !t.vms.contains(&vm.name) {
            t.vms.push(vm.name.clone());
        }
    }
    t
}

fn kernel_line(sys: &System, l: &LogLine, by: &mut BTreeMap<PciAddress, Trouble>) {
    let prefix = l.device.as_ref().map(|d| d.address.clone());
    if let Some(c) = bar_restore_re().captures(&l.message) {
        let Some(address) = c.name("addr").and_then(|m| PciAddress::parse(m.as_str())).or(prefix) else { return };
        // vfio-pci prints it, so the device is on vfio-pci.
        let t = trouble(sys, by, &address);
        // A line a long log folded stands for all its occurrences.
        t.restores += l.count;
        t.evidence.add("restore", l);
        return;
    }
    let Some(address) = prefix else { return };
    if let Some(c) = not_ready_re().captures(&l.message) {
        if !passed_through(sys, &address, l) {
            return;
        }
        let t = trouble(sys, by, &address);
        let what = match (c.name("what"), c.name("state")) {
            (Some(w), Some(_)) => w.as_str().trim().to_string(),
            // The line stops before it says which reset: ms is all there is.
            _ => format!("a reset or power-up ({} ms; the log line is cut)", &c["ms"]),
        };
        if !t.not_ready.contains(&what) {
            t.not_ready.push(what);
        }
        let gave_up = c.name("state").is_some_and(|m| m.as_str() == "giving up");
        t.gave_up |= gave_up;
        t.evidence.add(if gave_up { "gave-up" } else { "waiting" }, l);
    } else if let Some(c) = power_re().captures(&l.message) {
        if !passed_through(sys, &address, l) {
            return;
        }
        let t = trouble(sys, by, &address);
        let state = c.name("from").or_else(|| c.name("cur")).or_else(|| c.name("rfrom")).map(|m| m.as_str().to_string()).unwrap_or_default();
        if !state.is_empty() && !t.stuck_in.contains(&state) {
            t.stuck_in.push(state);
        }
        t.evidence.add("power", l);
    }
}

fn qemu_line(sys: &System, l: &LogLine, by: &mut BTreeMap<PciAddress, Trouble>) {
    let Some(c) = cannot_reset_re().captures(&l.message) else { return };
    let named = c.name("qaddr").or_else(|| c.name("laddr")).and_then(|m| PciAddress::parse(m.as_str()));
    let address = named
        .or_else(|| qemu_line_device(&l.message))
        .or_else(|| the_passed_gpu(sys, l));
    let Some(address) = address else { return };
    let t = trouble(sys, by, &address);
    if let Some(vm) = sys.sources.iter().find(|s| *s.path == *l.source).and_then(|s| s.vm.clone()) {
        if !t.vms.contains(&vm) {
            t.vms.push(vm);
        }
    }
    if c.name("nomech").is_some() {
        t.no_mechanism = true;
        t.evidence.add("no-mechanism", l);
    } else if let Some(g) = c.name("group") {
        if !t.unowned_groups.contains(&g.as_str().to_string()) {
            t.unowned_groups.push(g.as_str().to_string());
        }
        t.evidence.add("unowned", l);
    } else if let Some(s) = c.name("stuck") {
        if !t.stuck_in.contains(&s.as_str().to_string()) {
            t.stuck_in.push(s.as_str().to_string());
        }
        t.evidence.add("stuck", l);
    } else if let Some(why) = c.name("why") {
        let why = why.as_str().trim().to_string();
        if !t.libvirt.contains(&why) {
            t.libvirt.push(why);
        }
        t.evidence.add("libvirt", l);
    }
}

/// `vfio: Unable to power on device, stuck in D3` names no device: it is the GPU of the VM whose
/// log it is, when that VM passes exactly one.
fn the_passed_gpu(sys: &System, l: &LogLine) -> Option<PciAddress> {
    let vm_name = sys.sources.iter().find(|s| *s.path == *l.source).and_then(|s| s.vm.clone());
    let vm = sys.vms.iter().find(|v| Some(&v.name) == vm_name.as_ref() || *v.source == *l.source)?;
    match sys.passed_gpus(vm).as_slice() {
        [one] => Some(one.hostdev.address.clone()),
        _ => None,
    }
}

fn remediation(sys: &System, a: &PciAddress, d: Option<&Device>, stuck_in: &[String], reset_failed: bool, no_mechanism: bool, unowned: &[String]) -> String {
    let label = d.map(|d| d.label()).unwrap_or_else(|| a.to_string());
    let mut r = String::new();
    let mut step = 0;
    let mut next = || {
        step += 1;
        step
    };
    let amd_gpu = d.is_some_and(|d| d.vendor_is(0x1002) && d.is_gpu());
    if amd_gpu {
        match d.and_then(super::amd_reset_bug::family) {
            Some(fam) => r.push_str(&format!(
                "{}. {label} is an AMD {fam} GPU, whose reset is broken in hardware (see `amd-reset-bug`). Install gnif/vendor-reset, load it early, \
                 and select its reset for this card after each boot:\n\n```sh\necho vendor-reset | sudo tee /etc/modules-load.d/vendor-reset.conf\n\
                 echo device_specific | sudo tee /sys/bus/pci/devices/{a}/reset_method\n```\n\n",
                next()
            )),
            None => r.push_str(&format!(
                "{}. {label} is an AMD GPU that gnif/vendor-reset does not support (its list ends at Navi 1x). Keep the guest from resetting it \
                 needlessly: shut the guest down rather than rebooting it, and do not let the host's amdgpu bind it between VM runs.\n\n",
                next()
            )),
        }
    }
    if reset_failed || no_mechanism {
        let methods = d.and_then(|d| d.reset_methods.clone());
        let path = format!("/sys/bus/pci/devices/{a}/reset_method");
        match methods {
            Some(m) if m.is_empty() => r.push_str(&format!(
                "{}. `{path}` is empty: the kernel knows no reset for this device, so neither QEMU nor libvirt can reset it. Pass every function of the card \
                 (and nothing else sits on its bus) so that a bus reset becomes possible, or move it to a slot of its own.\n\n",
                next()
            )),
            Some(m) => {
                let pick = if m.iter().any(|x| x == "bus") && m.first().map(String::as_str) != Some("bus") {
                    format!(" Try the secondary bus reset instead of `{}`:\n\n```sh\necho bus | sudo tee {path}\n```\n\nand start the VM again; `echo default | sudo tee {path}` restores the list.", m[0])
                } else {
                    String::new()
                };
                r.push_str(&format!("{}. The kernel resets it with `{}` (from `{path}`, in order).{pick}\n\n", next(), m.join(" ")));
            }
            None if no_mechanism => r.push_str(&format!(
                "{}. The device offers neither FLR nor a PM reset, and QEMU could not reset its bus. `cat {path}` (kernel ≥ 5.15) lists the resets the kernel \
                 knows; when only `bus` is left, pass every function on the device's bus to the same VM so that QEMU may reset the bus.\n\n",
                next()
            )),
            None => r.push_str(&format!(
                "{}. See which resets the kernel offers (`cat {path}`, kernel ≥ 5.15); when `flr` fails and `bus` is listed, select it with \
                 `echo bus | sudo tee {path}` and start the VM again.\n\n",
                next()
            )),
        }
    }
    for g in unowned {
        let members: Vec<String> = sys
            .group(g)
            .map(|grp| grp.members.iter().map(|m| sys.device_at(m).map(|x| x.label()).unwrap_or_else(|| m.to_string())).collect())
            .unwrap_or_default();
        let list = if members.is_empty() { String::new() } else { format!(" ({})", members.join("; ")) };
        r.push_str(&format!(
            "{}. A bus reset of {a} also resets IOMMU group {g}{list}: pass that group's devices to the same VM (or bind them to vfio-pci), or move the card to a slot whose bus it has alone.\n\n",
            next()
        ));
    }
    if !stuck_in.is_empty() {
        r.push_str(&format!(
            "{}. Keep vfio-pci from putting the idle device into D3 (it may not come back from D3cold). In `/etc/modprobe.d/vfio.conf`:\n\n```text\noptions vfio-pci disable_idle_d3=1\n```\n\nthen `{}` and reboot; for this boot only, `echo 0 | sudo tee /sys/bus/pci/devices/{a}/d3cold_allowed`.\n\n",
            next(),
            fix::initramfs_update_command(sys)
        ));
        if vfio_ids::loaded_module(sys, "vfio_pci").is_none() {
            r.push_str(&format!(
                "   Where vfio-pci is built into the kernel (no `vfio_pci` in `/proc/modules`), modprobe.d does not reach it; use the kernel command line instead:\n\n{}\n\n",
                fix::add_kernel_options(sys, &["vfio-pci.disable_idle_d3=1"])
            ));
        }
    }
    r.push_str(&format!(
        "{}. A device that is already stuck only comes back with its power: suspend and resume the host (`systemctl suspend`, then wake it) or shut it down fully — a reboot keeps the slot powered.",
        next()
    ));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line shape the check reads (signatures.md §1.5–§1.7, §3.8, §4) is one it reads and
    /// one a long log keeps.
    #[test]
    fn long_logs_keep_every_line_the_check_reads() {
        let kernel = [
            "[ 1958.742151] vfio-pci 0000:08:00.0: not ready 65535ms after FLR; giving up",
            "[ 1893.202114] vfio-pci 0000:08:00.0: not ready 1023ms after FLR; waiting",
            "[ 1958.801337] vfio-pci 0000:08:00.0: can't change power state from D3cold to D0 (config space inaccessible)",
            "[  301.118520] nvidia 0000:01:00.0: Unable to change power state from D3cold to D0, device inaccessible",
            "[  412.993817] vfio-pci 0000:03:00.1: Refused to change power state, currently in D3",
            "[  412.993817] vfio-pci 0000:03:00.1: refused to change power state from D3cold to D0",
            "Nov 07 15:39:12 server kernel: vfio-pci 0000:01:00.0: vfio_bar_restore: reset recovery - restoring BARs",
            "[  951.100001] vfio_bar_restore: 0000:c2:00.0 reset recovery - restoring bars",
        ];
        for line in kernel {
            assert!(not_ready_re().is_match(line) || power_re().is_match(line) || bar_restore_re().is_match(line), "the check reads {line}");
            assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
        }
        let qemu = [
            "2023-05-26T12:30:00.000001Z qemu-system-x86_64: vfio: Cannot reset device 0000:0a:00.1, no available reset mechanism.",
            "2023-05-26T12:30:00.000001Z qemu-system-x86_64: vfio: Cannot reset device 0000:0a:00.0, depends on group 15 which is not owned.",
            "2023-05-26T12:30:00.000001Z qemu-system-x86_64: vfio: Unable to power on device, stuck in D3",
            "2023-05-26 12:30:00.001+0000: 2412: error : virPCIDeviceReset:1026 : Unable to reset PCI device 0000:0a:00.0: no FLR, PM reset or bus reset available",
        ];
        for line in qemu {
            assert!(cannot_reset_re().is_match(line), "the check reads {line}");
            assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
        }
    }
}
