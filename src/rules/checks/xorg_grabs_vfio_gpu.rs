//! Logic for `xorg-grabs-vfio-gpu`; its documentation is rules/xorg-grabs-vfio-gpu.md.
//! Xorg fails to find a screen (or errors on the vfio GPU it took as primary) while a GPU is on
//! vfio-pci: the fix is an xorg.conf.d Device section with the host GPU's BusID.

use crate::bundle::SourceKind;
use crate::rules::{Evidence, FoldedEvidence, Findings};
use crate::system::xorg::{self, XorgLog};
use crate::system::{PciAddress, System};

/// A GPU on vfio-pci, and what says so.
struct VfioGpu {
    address: PciAddress,
    evidence: Evidence,
}

/// The lines this rule reads. Kernel log: any `vfio-pci <address>: ` line (the kernel-log
/// parser's device prefix, unanchored so that a stamp the capture does not strip cannot hide
/// it). Xorg log (parsed by `system::xorg`): the probe summary `(--) PCI:*(8@0:0:0) …`, every
/// `(EE)` line — errors that name a vfio GPU, and `xorg::PROBE_FAILURES`, which the server
/// prints with `xf86Msg(X_ERROR, …)` or `FatalError()`, both `(EE)` (signatures.md §5.2) — and
/// the `Fatal server error:` banner (old servers: `Fatal server error: no screens found` on one
/// line). Long logs keep them from between head and tail (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    r"vfio-pci [0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]: ",
    r"\(--\) PCI:[* ]\(\d+@\d+:\d+:\d+\) ",
    r"\(EE\)",
    "Fatal server error:",
];

/// GPUs on vfio-pci: from sysfs/lspci (display class, driver vfio-pci), else from the kernel
/// log's `vfio-pci <addr>:` lines for a device that vgaarb or Xorg's probe shows to be a display.
fn vfio_gpus(sys: &System) -> Vec<VfioGpu> {
    let mut out: Vec<VfioGpu> = sys
        .devices
        .iter()
        .filter(|d| d.is_gpu() && d.driver_is("vfio-pci"))
        .map(|d| VfioGpu { address: d.address.clone(), evidence: d.evidence("driver", "vfio-pci") })
        .collect();
    let xorg_cards: Vec<&PciAddress> = sys.xorg.iter().flat_map(|x| x.pci.iter().map(|p| &p.address)).collect();
    for kind in [SourceKind::KernelLog, SourceKind::Text] {
        for l in sys.lines(kind) {
            let Some(d) = l.device.as_ref().filter(|d| d.driver == "vfio-pci") else { continue };
            if out.iter().any(|g| g.address == d.address) || sys.device_at(&d.address).is_some_and(|x| x.driver.is_some()) {
                continue;
            }
            if l.message.contains("vgaarb:") || xorg_cards.contains(&&d.address) {
                out.push(VfioGpu { address: d.address.clone(), evidence: Evidence::from(l) });
            }
        }
    }
    out
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let gpus = vfio_gpus(sys);
    if gpus.is_empty() {
        return;
    }
    for log in &sys.xorg {
        let primary = log.primary().filter(|p| gpus.iter().any(|g| g.address == p.address));
        let failures: Vec<_> = log.probe_failures().collect();
        // Errors that name a vfio GPU (`Failed to open DRM device for pci:0000:08:00.0`, `PCI:8:0:0`).
        let naming: Vec<_> = log
            .lines
            .iter()
            .filter(|l| l.is_error() && gpus.iter().any(|g| l.line.message.contains(g.address.as_str()) || l.line.message.contains(&xorg::bus_id(&g.address))))
            .collect();
        if failures.is_empty() && (primary.is_none() || naming.is_empty()) {
            continue;
        }
        let mut evidence = FoldedEvidence::default();
        if let Some(p) = primary {
            if let Some(l) = log.lines.get(p.at) {
                evidence.add("primary", &l.line);
            }
        }
        if let Some(b) = log.fatal_banner() {
            evidence.add("fatal", &b.line);
        }
        let mut evidence = evidence.into_vec();
        // Each failure message once, counted when the log repeats it.
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for l in failures.iter().chain(naming.iter()) {
            let key = l.line.message.trim_end_matches("(EE)").trim();
            match seen.iter().find(|(k, _)| *k == key) {
                Some((_, i)) => evidence[*i].count = Some(evidence[*i].count.unwrap_or(1) + l.line.count),
                None => {
                    seen.push((key, evidence.len()));
                    evidence.push(Evidence::from(&l.line));
                }
            }
        }
        let subject_gpus: Vec<&VfioGpu> = match primary {
            Some(p) => gpus.iter().filter(|g| g.address == p.address).collect(),
            None => gpus.iter().collect(),
        };
        evidence.extend(subject_gpus.iter().map(|g| g.evidence.clone()));
        let labels: Vec<String> = subject_gpus.iter().map(|g| sys.device_at(&g.address).map(|d| d.label()).unwrap_or_else(|| g.address.to_string())).collect();
        let what = failures.first().or(naming.first()).map(|l| l.line.message.trim_end_matches("(EE)").trim().to_string()).unwrap_or_default();
        let message = match primary {
            Some(_) => format!(
                "Xorg took {}, which is on vfio-pci for a VM, as its primary GPU (the firmware's boot display) and failed: \"{what}\" ({})",
                labels.join(", "),
                log.source
            ),
            None => format!(
                "Xorg failed to find a screen (\"{what}\", {}) while {} {} on vfio-pci: without a BusID it also probes the card it cannot drive",
                log.source,
                labels.join(", "),
                if labels.len() > 1 { "are" } else { "is" }
            ),
        };
        let f = out.emit(labels.join(", "), message, evidence);
        f.remediation = remediation(sys, log, &gpus, primary.is_some(), failures.iter().any(|l| l.line.message.contains("framebuffer mode")));
    }
}

/// The host's GPU: a display device not on vfio-pci and not passed (sysfs/lspci), else a card
/// of Xorg's probe that is not a vfio GPU. (address, label, host driver)
fn host_gpu(sys: &System, log: &XorgLog, gpus: &[VfioGpu]) -> Option<(PciAddress, String, Option<String>)> {
    let is_vfio = |a: &PciAddress| gpus.iter().any(|g| &g.address == a);
    let mut candidates: Vec<_> = sys
        .devices
        .iter()
        .filter(|d| d.is_gpu() && !is_vfio(&d.address) && !d.driver_is("vfio-pci") && !d.driver_is("pci-stub") && !sys.is_assigned(&d.address))
        .collect();
    // One with a driver bound first: that is the one X can use.
    candidates.sort_by_key(|d| d.driver.is_none());
    if let Some(d) = candidates.first() {
        return Some((d.address.clone(), d.label(), d.driver.clone()));
    }
    log.pci.iter().find(|p| !is_vfio(&p.address) && !sys.is_assigned(&p.address)).map(|p| {
        (p.address.clone(), format!("{} [{:04x}:{:04x}] (from Xorg's probe)", p.address, p.vendor, p.device), None)
    })
}

fn remediation(sys: &System, log: &XorgLog, gpus: &[VfioGpu], vfio_primary: bool, framebuffer: bool) -> String {
    // The log on the host: a collected path is relative to the root; a paste is only a name.
    let on_host = if log.source.starts_with("var/") || log.source.starts_with("home/") {
        format!("/{}", log.source)
    } else {
        "/var/log/Xorg.0.log".to_string()
    };
    let mut r = String::new();
    match host_gpu(sys, log, gpus) {
        Some((address, label, driver)) => {
            let bus_id = xorg::bus_id(&address);
            // modesetting (in the server itself) drives every KMS driver; NVIDIA's needs its own.
            let x_driver = if driver.as_deref() == Some("nvidia") { "nvidia" } else { "modesetting" };
            r.push_str(&format!(
                "Tell X which card is the host's: {label}. Xorg writes the address in decimal, so {address} is `{bus_id}`. Create `/etc/X11/xorg.conf.d/10-host-gpu.conf`:\n\n\
                 ```text\nSection \"ServerFlags\"\n    Option \"AutoAddGPU\" \"off\"\nEndSection\n\nSection \"Device\"\n    Identifier \"HostGPU\"\n    Driver     \"{x_driver}\"\n    BusID      \"{bus_id}\"\nEndSection\n```\n\n\
                 `AutoAddGPU` off keeps X from adding the vfio-pci card as a second GPU behind it. Restart the display manager (or reboot); `grep -E 'PCI:|\\(EE\\)' {on_host}` then shows X using `{bus_id}` without errors."
            ));
        }
        None => r.push_str(
            "Tell X which card is the host's: find it with `lspci -nnk | grep -A3 -E 'VGA|3D|Display'` (the one not on vfio-pci) and write its address in decimal — `0000:0a:00.0` is `PCI:10:0:0`. Create `/etc/X11/xorg.conf.d/10-host-gpu.conf`:\n\n\
             ```text\nSection \"ServerFlags\"\n    Option \"AutoAddGPU\" \"off\"\nEndSection\n\nSection \"Device\"\n    Identifier \"HostGPU\"\n    Driver     \"modesetting\"\n    BusID      \"PCI:<bus>:<device>:<function>\"\nEndSection\n```",
        ),
    }
    if framebuffer {
        r.push_str("\n\nThe fbdev driver took the boot framebuffer of the vfio-pci card (\"Cannot run in framebuffer mode\"): with the Device section above X no longer auto-configures it; removing the fbdev X driver (`xserver-xorg-video-fbdev` / `xf86-video-fbdev`) also works.");
    }
    if vfio_primary {
        r.push_str("\n\nX took the vfio-pci card as primary because the firmware booted on it: setting the host card as the primary display in the firmware (see `boot-gpu-passed-through`) fixes this at the root.");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every probe failure `system::xorg` looks for, as the server prints it (`(EE)`), and the
    /// lines of the rule's fixtures and signatures.md §1.2, §5.2 are kept by a long log.
    #[test]
    fn long_logs_keep_every_line_the_check_reads() {
        for f in xorg::PROBE_FAILURES {
            for line in [format!("[    11.222] (EE) {f}"), format!("Oct 24 14:18:36 host /usr/lib/gdm3/gdm-x-session[3189]: (EE) {f}")] {
                assert!(super::super::keeps(LOG_SIGNATURES, &line), "a long log keeps {line}");
            }
        }
        assert!(super::super::keeps(LOG_SIGNATURES, "Fatal server error: no screens found"));
        let xorg_lines = [
            "[    12.236] (--) PCI:*(8@0:0:0) 10de:1c02:19da:2438 rev 161, Mem @ 0xfb000000/16777216, 0xd0000000/268435456, 0xe0000000/33554432, I/O @ 0x0000f000/128, BIOS @ 0x????????/524288",
            "[    12.236] (--) PCI: (4@0:0:0) 1002:67ff:1da2:e367 rev 255, Mem @ 0xe0000000/268435456, 0xf0000000/2097152, 0xfcd00000/262144, I/O @ 0x0000e000/256, BIOS @ 0x????????/131072",
            "[    12.244] (EE) Cannot run in framebuffer mode. Please specify busIDs        for all framebuffer devices",
            "Fatal server error:",
            "[    11.222] (EE) no screens found(EE) ",
            "[    11.222] (EE) No devices detected.",
            "[    11.221] (EE) open /dev/dri/card0: No such file or directory",
            "Oct 24 14:18:36 host /usr/lib/gdm3/gdm-x-session[3189]: (EE) Failed to open DRM device for pci:0000:08:00.0: -19",
        ];
        let log = xorg::parse(&xorg_lines.join("\n"), "var/log/Xorg.0.log");
        assert_eq!((log.pci.len(), log.primary().map(|p| p.address.as_str().to_string())), (2, Some("0000:08:00.0".to_string())));
        assert_eq!(log.probe_failures().count(), 3);
        assert!(log.fatal_banner().is_some());
        for line in xorg_lines {
            assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
        }
        let line = "[    1.211830] vfio-pci 0000:08:00.0: vgaarb: changed VGA decodes: olddecodes=io+mem,decodes=io+mem:owns=none";
        let l = &crate::system::kernel_log::parse(line, "dmesg")[0];
        assert_eq!(l.device.as_ref().map(|d| d.driver.as_str()), Some("vfio-pci"));
        assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
    }
}
