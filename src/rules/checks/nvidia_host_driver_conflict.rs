//! Logic for `nvidia-host-driver-conflict`; its documentation is rules/nvidia-host-driver-conflict.md.
//! The NVIDIA host driver fights vfio-pci over a passthrough card, as the kernel log shows it:
//! nvidia.ko loaded again and again and finding no device (the NVRM reload loop of the seed
//! host), or nvidia driving a card a VM passes when no sysfs view says which driver holds it
//! now (with sysfs, `gpu-not-bound-to-vfio` reports that fact).

use std::collections::BTreeMap;

use regex::Regex;

use crate::bundle::SourceKind;
use crate::rules::{fix, FoldedEvidence, Findings};
use crate::system::{vfio_ids, LogLine, PciAddress, System};

/// kernel-open/nvidia/nv.c (signatures.md §2.1), every driver since 515 and the older rendered
/// forms: `NVRM: The NVIDIA probe routine was not called for %d device(s).`
const NOT_CALLED: &str = r"^NVRM: The NVIDIA probe routine was not called for (?P<n>\d+) device\(s\)";

fn not_called_re() -> &'static Regex {
    static_regex!(NOT_CALLED)
}

/// The lines around it: `No NVIDIA devices probed.` (≥ 515), `No NVIDIA graphics adapter
/// probed!` (older), the explanation (`This can occur when a driver such as …` before 550,
/// `… when another driver was loaded and` since), and nv-pci.c's `NVRM: GPU %04x:%02x:%02x.%x is
/// already bound to %s.` (550+).
const LOOP_CONTEXT: &str = concat!(
    r"^NVRM: (?:No NVIDIA devices probed\.|No NVIDIA graphics adapter probed!",
    r"|GPU (?P<addr>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]) is already bound to (?P<drv>[^\s.]+)\.)"
);

fn loop_context_re() -> &'static Regex {
    static_regex!(LOOP_CONTEXT)
}

/// drivers/vfio/pci/vfio_pci.c `vfio_pci_fill_ids()`: `vfio_pci: add [10de:1c02[ffffffff:ffffffff]] class …`.
const VFIO_ADD: &str = r"^vfio_pci: add \[(?P<v>[0-9a-f]{4}):(?P<d>[0-9a-f]{4})\[";

fn vfio_add_re() -> &'static Regex {
    static_regex!(VFIO_ADD)
}

/// `[drm] Initialized nvidia-drm 0.0.0 20160202 for 0000:08:00.0 on minor 1`
const NVIDIA_DRM: &str = r"^\[drm\] Initialized nvidia-drm \S+ \S+ for (?P<addr>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])";

fn nvidia_drm_re() -> &'static Regex {
    static_regex!(NVIDIA_DRM)
}

/// The driver whose `dev_printk` lines (`nvidia 0000:08:00.0: …`, the kernel-log parser's
/// device prefix) show it on a card.
const NVIDIA: &str = "nvidia";

/// The log lines this rule reads: the regexes above, and any line with the `nvidia <address>: `
/// prefix (unanchored, so that a stamp the capture does not strip cannot hide it): long logs
/// keep them from between head and tail (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] =
    &[NOT_CALLED, LOOP_CONTEXT, VFIO_ADD, NVIDIA_DRM, r"nvidia [0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]: "];

/// A line that alone shows this fault: nvidia.ko finding the card held by vfio-pci
/// (kernel-open/nvidia/nv-pci.c, 550+: "NVRM: GPU %04x:%02x:%02x.%x is already bound to %s.").
pub(crate) const FAILURE_SIGNATURES: &[&str] = &[r"NVRM: GPU [0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7] is already bound to vfio-pci\."];

const KINDS: [SourceKind; 3] = [SourceKind::KernelLog, SourceKind::KernelLogPrevious, SourceKind::Text];

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    reload_loop(sys, out);
    nvidia_on_passed_card(sys, out);
    held_by_programs(sys, out);
}

/// A pasted fuser/lsof/ps listing shows programs holding the NVIDIA device files (or NVML):
/// the driver cannot let go of the card while they run. With a hook trace that failed,
/// `hook-step-failed` reports it (and cites them).
fn held_by_programs(sys: &System, out: &mut Findings<'_>) {
    if sys.hook_traces.iter().any(|t| !t.failed.is_empty()) {
        return;
    }
    let held: Vec<&crate::system::holders::Holder> = sys.holders.iter().filter(|h| h.is_nvidia()).collect();
    if held.is_empty() {
        return;
    }
    let mut who: Vec<String> = Vec::new();
    for h in &held {
        let name = match &h.pid {
            Some(pid) => format!("{} (pid {pid})", h.command),
            None => h.command.clone(),
        };
        if !who.contains(&name) {
            who.push(name);
        }
    }
    let files: std::collections::BTreeSet<&str> = held.iter().map(|h| h.file.as_str()).filter(|f| *f != "running").collect();
    let holds = if files.is_empty() { "run on the host".to_string() } else { format!("hold {}", files.into_iter().collect::<Vec<_>>().join(", ")) };
    let evidence = held.iter().map(|h| crate::rules::Evidence::from(&h.line)).collect();
    let f = out.emit(
        "NVIDIA GPU held by host programs",
        format!(
            "{} {holds}: the nvidia driver cannot let go of the card while they do, so handing it to vfio-pci (`virsh nodedev-detach`, a hook's `modprobe -r nvidia`) hangs or fails with `Module nvidia is in use`",
            who.join(", ")
        ),
        evidence,
    );
    f.remediation = "Stop them before the GPU is detached (in the hook's `prepare/begin` script, before `modprobe -r`): the display manager (`sudo systemctl stop display-manager`), `sudo systemctl stop nvidia-persistenced nvidia-powerd`, and any program in the list (`sudo kill PID`). Check with `sudo fuser -v /dev/nvidia*` that nothing is left, then unload `nvidia_drm nvidia_modeset nvidia_uvm nvidia` and detach. If the host needs no NVIDIA driver at all, blacklist it instead (see above).".to_string();
}

/// The loop: within one log, nvidia.ko's probe block repeats.
fn reload_loop(sys: &System, out: &mut Findings<'_>) {
    // Per source: (probe-not-called blocks, no-devices-probed lines); older drivers may print
    // only the second.
    let mut per_source: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut evidence = FoldedEvidence::default();
    let mut bound: Vec<(PciAddress, String)> = Vec::new();
    for kind in KINDS {
        for l in sys.lines(kind) {
            // A line a long log folded stands for all its occurrences.
            if not_called_re().is_match(&l.message) {
                per_source.entry(l.source.to_string()).or_default().0 += l.count;
                evidence.add("not-called", l);
            } else if let Some(c) = loop_context_re().captures(&l.message) {
                if c.name("addr").is_none() {
                    per_source.entry(l.source.to_string()).or_default().1 += l.count;
                }
                evidence.add(if c.name("addr").is_some() { "bound" } else { "none-probed" }, l);
                if let (Some(a), Some(d)) = (c.name("addr").and_then(|m| PciAddress::parse(m.as_str())), c.name("drv")) {
                    if !bound.iter().any(|(x, _)| *x == a) {
                        bound.push((a, d.as_str().to_string()));
                    }
                }
            }
        }
    }
    let Some(loads) = per_source.values().map(|(a, b)| *a.max(b)).max().filter(|n| *n >= 2) else { return };

    // The cards nvidia could not take: named by NVRM, else the NVIDIA GPUs vfio-pci holds or a VM passes.
    let mut cards: Vec<PciAddress> = bound.iter().map(|(a, _)| a.clone()).collect();
    if cards.is_empty() {
        cards = sys
            .devices
            .iter()
            .filter(|d| d.vendor_is(0x10de) && d.is_gpu() && (d.driver_is("vfio-pci") || sys.is_assigned(&d.address)))
            .map(|d| d.address.clone())
            .collect();
    }
    let labels: Vec<String> = cards.iter().map(|a| sys.device_at(a).map(|d| d.label()).unwrap_or_else(|| a.to_string())).collect();
    let holder = bound.first().map(|(_, d)| d.clone()).or_else(|| cards.first().and_then(|a| sys.device_at(a)).and_then(|d| d.driver.clone()));
    let subject = if labels.is_empty() { "the nvidia kernel module".to_string() } else { labels.join(", ") };
    let owner = match (&holder, labels.is_empty()) {
        (Some(h), false) => format!("{h} owns {}", labels.join(" and ")),
        (None, false) => format!("{} is taken by another driver", labels.join(" and ")),
        (_, true) => "another driver owns the NVIDIA card(s)".to_string(),
    };
    let mut evidence = evidence.into_vec();
    for a in &cards {
        if let Some(d) = sys.device_at(a) {
            if let Some(drv) = &d.driver {
                evidence.push(d.evidence("driver", drv));
            }
        }
        for vm in sys.vms_taking(a) {
            for h in vm.hostdevs.iter().filter(|h| &h.address == a) {
                evidence.push(vm.hostdev_evidence(h));
            }
        }
    }
    let message = format!(
        "The nvidia kernel module was loaded {loads} times in one boot and each time found no device it could take (NVRM: \"The NVIDIA probe routine was not called\"): {owner}, yet something keeps loading nvidia again — the reload loop floods the kernel log and keeps udev and the CPU busy"
    );
    let f = out.emit(subject, message, evidence);
    f.remediation = remediation(sys, &cards, true);
}

/// nvidia drove a card a VM passes, seen only in the log (no sysfs or lspci driver for it).
fn nvidia_on_passed_card(sys: &System, out: &mut Findings<'_>) {
    let mut by_card: BTreeMap<PciAddress, (FoldedEvidence, Option<crate::rules::Evidence>)> = BTreeMap::new();
    for kind in KINDS {
        for l in sys.lines(kind) {
            let address = match &l.device {
                Some(d) if d.driver == NVIDIA => Some(d.address.clone()),
                _ => nvidia_drm_re().captures(&l.message).and_then(|c| PciAddress::parse(&c["addr"])),
            };
            let Some(address) = address else { continue };
            // With a driver known from sysfs or lspci, gpu-not-bound-to-vfio has the fact.
            if sys.device_at(&address).is_some_and(|d| d.driver.is_some()) {
                continue;
            }
            // Meant for a VM: passed by one, or its ids are in vfio-pci's (lspci without a driver line).
            let ids_configured = sys
                .device_at(&address)
                .and_then(|d| Some((d.vendor_id?, d.device_id?)))
                .is_some_and(|(v, i)| !vfio_ids::configured_for(sys, v, i).is_empty());
            // Without a VM definition or vfio-pci ids: a VM start that failed on it names it.
            let prepared = if sys.is_assigned(&address) || ids_configured { None } else { sys.prepared_for_vm(&address) };
            if !sys.is_assigned(&address) && !ids_configured && prepared.is_none() {
                continue;
            }
            let card = by_card.entry(address).or_default();
            card.0.add(tag(l), l);
            card.1 = card.1.take().or(prepared);
        }
    }
    for (address, (found, prepared)) in by_card {
        let vms: Vec<String> = sys.vms_taking(&address).iter().map(|v| v.name.clone()).collect();
        let meant = match (&prepared, vms.is_empty()) {
            (Some(_), _) => "a VM start was preparing for passthrough (its error names it)".to_string(),
            (None, true) => "vfio-pci's ids reserve for passthrough".to_string(),
            (None, false) => format!("{} passes through", vms.join(", ")),
        };
        let label = sys.device_at(&address).map(|d| d.label()).unwrap_or_else(|| address.to_string());
        let mut evidence = found.into_vec();
        for vm in sys.vms_taking(&address) {
            for h in vm.hostdevs.iter().filter(|h| h.address == address) {
                evidence.push(vm.hostdev_evidence(h));
            }
        }
        let message = format!(
            "The kernel log shows the NVIDIA host driver taking {label}, which {meant}: nvidia bound the card before vfio-pci, so libvirt must tear it away from the host driver at VM start, which hangs or leaves the card unusable while anything (the desktop, nvidia-persistenced) holds it"
        );
        if let Some(e) = &prepared {
            evidence.push(e.clone());
        }
        let f = out.emit(label.clone(), message, evidence);
        if prepared.is_some() {
            f.assume(format!("no VM definition in the input: {label} is taken as the VM's device because the failed start's error names it"));
        }
        f.remediation = remediation(sys, std::slice::from_ref(&address), false);
    }
}

fn tag(l: &LogLine) -> &'static str {
    if l.message.starts_with("[drm]") {
        "drm"
    } else {
        "nvidia"
    }
}

/// The `vendor:device` ids of every function of the cards, from sysfs/lspci, else from the
/// kernel's `vfio_pci: add [10de:…` lines, else from vfio-pci's configured ids.
fn card_ids(sys: &System, cards: &[PciAddress]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for a in cards {
        for d in sys.devices.iter().filter(|d| d.address.slot() == a.slot() && !d.is_bridge()) {
            if !ids.contains(&d.ids()) {
                ids.push(d.ids());
            }
        }
    }
    if ids.is_empty() {
        for kind in KINDS {
            for l in sys.lines(kind) {
                if let Some(c) = vfio_add_re().captures(&l.message) {
                    let id = format!("{}:{}", &c["v"], &c["d"]);
                    if c["v"].eq_ignore_ascii_case("10de") && !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
        }
    }
    if ids.is_empty() {
        ids = vfio_ids::configured(sys).iter().filter(|i| i.vendor == 0x10de).map(|i| i.ids()).collect();
        ids.dedup();
    }
    ids
}

fn remediation(sys: &System, cards: &[PciAddress], looping: bool) -> String {
    // NVIDIA GPUs the host keeps for itself: on a host driver, not passed, not on vfio-pci.
    let host_nvidia: Vec<String> = sys
        .devices
        .iter()
        .filter(|d| d.vendor_is(0x10de) && d.is_gpu() && !d.driver_is("vfio-pci") && !sys.is_assigned(&d.address) && !cards.contains(&d.address))
        .map(|d| d.label())
        .collect();
    let ids = card_ids(sys, cards);
    let ids_value = vfio_ids::merged_ids(sys, &ids);
    let modprobe: Vec<&LogLine> = sys.lines(SourceKind::Modprobe).collect();
    let has_line = |want: &str| {
        modprobe.iter().find(|l| {
            let m = l.message.split('#').next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ").replace("vfio_pci", "vfio-pci");
            m == want
        })
    };
    let softdep = has_line("softdep nvidia pre: vfio-pci");
    let configured = !ids.is_empty() && ids.iter().all(|i| vfio_ids::configured(sys).iter().any(|c| &c.ids() == i));
    let initramfs = fix::initramfs_update_command(sys);

    let mut r = String::new();
    let blacklisting = looping && host_nvidia.is_empty();
    // The initramfs command, said once.
    let then_rebuild = if blacklisting { String::new() } else { format!("then:\n\n```sh\n{initramfs}\n```\n\n") };
    if blacklisting {
        r.push_str(&format!(
            "No NVIDIA GPU on this host is meant for the host itself, so keep the NVIDIA driver from loading at all. `/etc/modprobe.d/blacklist-nvidia.conf`:\n\n\
             ```text\nblacklist nvidia\nblacklist nvidia_drm\nblacklist nvidia_modeset\nblacklist nvidia_uvm\nblacklist nouveau\ninstall nvidia /bin/false\n```\n\n\
             (`blacklist` stops loading by device alias; `install … /bin/false` also stops services that run `modprobe nvidia` themselves.) Stop those services:\n\n\
             ```sh\nsudo systemctl disable --now nvidia-persistenced.service nvidia-powerd.service\n{initramfs}\n```\n\n"
        ));
    } else if looping {
        r.push_str(&format!(
            "The host keeps an NVIDIA GPU for itself ({}), so do not blacklist the driver: stop whatever targets the passthrough card instead — an Xorg Device section without a `BusID` \
             (give it the host card's), `nvidia-persistenced` without `--uuid` of the host card, CUDA jobs without `CUDA_VISIBLE_DEVICES` — and make sure vfio-pci takes the passthrough card first:\n\n",
            host_nvidia.join("; ")
        ));
    } else {
        r.push_str("Make vfio-pci take the card before the NVIDIA driver can:\n\n");
    }
    if !looping || !host_nvidia.is_empty() || softdep.is_none() || !configured {
        if blacklisting {
            r.push_str("Also bind the passthrough card to vfio-pci early (before the initramfs is rebuilt). ");
        }
        match (softdep, configured) {
            (Some(l), true) => r.push_str(&format!(
                "vfio-pci is already configured to win (`{}` line {}: `{}`, and vfio-pci's ids name {}); check that the file is in the initramfs:\n\n```sh\n{initramfs}\n```\n\n",
                l.source,
                l.line_no,
                l.message.trim(),
                ids.join(", ")
            )),
            _ if ids.is_empty() => r.push_str(&format!(
                "`/etc/modprobe.d/vfio.conf` (put the card's ids, from `lspci -nn -s <address>`, in `ids=`):\n\n```text\nsoftdep nvidia pre: vfio-pci\nsoftdep nouveau pre: vfio-pci\noptions vfio-pci ids=<vendor:device of each function>\n```\n\n{then_rebuild}"
            )),
            _ => r.push_str(&format!(
                "`/etc/modprobe.d/vfio.conf`:\n\n```text\nsoftdep nvidia pre: vfio-pci\nsoftdep nouveau pre: vfio-pci\noptions vfio-pci ids={ids_value}\n```\n\n{then_rebuild}"
            )),
        }
    } else if let Some(l) = softdep {
        r.push_str(&format!(
            "(`{}` line {} already loads vfio-pci first and vfio-pci's ids name the card: the binding is right, only the reloading must stop.)\n\n",
            l.source, l.line_no
        ));
    }
    r.push_str("Reboot; afterwards `sudo dmesg | grep -c 'NVIDIA probe routine was not called'` must print 0 or 1");
    if let Some(a) = cards.first() {
        r.push_str(&format!(" and `lspci -nnk -s {}` must say `Kernel driver in use: vfio-pci`", a.short()));
    }
    r.push('.');
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line shape the check reads (signatures.md §2.1, §1.2, §1.6; the rule's fixtures)
    /// is one it reads and one a long log keeps.
    #[test]
    fn long_logs_keep_every_line_the_check_reads() {
        let lines = [
            "[Sat Jun 27 19:59:02 2026] NVRM: GPU 0000:01:00.0 is already bound to vfio-pci.",
            "[Sat Jun 27 19:59:02 2026] NVRM: The NVIDIA probe routine was not called for 1 device(s).",
            "[Sat Jun 27 19:59:02 2026] NVRM: No NVIDIA devices probed.",
            "[  530.504375] NVRM: No NVIDIA graphics adapter probed!",
            "[    1.228190] vfio_pci: add [10de:1c02[ffffffff:ffffffff]] class 0x000000/00000000",
            "Oct 24 14:18:36 myhost kernel: [drm] Initialized nvidia-drm 0.0.0 20160202 for 0000:08:00.0 on minor 1",
            "[    4.112094] nvidia 0000:08:00.0: vgaarb: changed VGA decodes: olddecodes=io+mem,decodes=none:owns=io+mem",
            "[  301.118520] nvidia 0000:01:00.0: Unable to change power state from D3cold to D0, device inaccessible",
        ];
        for line in lines {
            let l = &crate::system::kernel_log::parse(line, "dmesg")[0];
            let read = not_called_re().is_match(&l.message)
                || loop_context_re().is_match(&l.message)
                || vfio_add_re().is_match(&l.message)
                || nvidia_drm_re().is_match(&l.message)
                || l.device.as_ref().is_some_and(|d| d.driver == NVIDIA);
            assert!(read, "the check reads {line}");
            assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
        }
    }
}
