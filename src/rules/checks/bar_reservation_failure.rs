//! Logic for `bar-reservation-failure`; its documentation is rules/bar-reservation-failure.md.
//! The log signatures are the rule's patterns; this adds the cause itself as /proc/iomem shows
//! it: a boot framebuffer (`BOOTFB`, `efifb`, `simpledrm`…) inside a BAR of a device on
//! vfio-pci or passed by a VM — before any VM start has logged a failure.

use crate::rules::{fix, Evidence, Findings};
use crate::system::{vfio_ids, System};

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let Some(iomem) = &sys.iomem else { return };
    for d in &sys.devices {
        let on_vfio = d.driver.as_deref() == Some("vfio-pci");
        if !on_vfio && !sys.is_assigned(&d.address) {
            continue;
        }
        let hits = iomem.framebuffers_in(&d.address);
        let Some((bar, fb)) = hits.first() else { continue };
        let mut evidence = Vec::new();
        for (bar, fb) in &hits {
            evidence.push(Evidence::new(iomem.path.clone(), format!("line {}", bar.line), bar.text.trim().to_string()));
            evidence.push(Evidence::new(iomem.path.clone(), format!("line {}", fb.line), fb.text.trim().to_string()));
        }
        let subject = d.label();
        if let Some(existing) = out.existing(&subject) {
            existing.evidence.extend(evidence);
            continue;
        }
        let owner = if on_vfio { "vfio-pci holds it".to_string() } else { format!("VM {} passes it", sys.vms_taking(&d.address).iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ")) };
        let message = format!(
            "/proc/iomem shows the boot framebuffer `{}` at {:x}-{:x} inside {}'s range {:x}-{:x} while {owner}: the kernel will refuse to reserve that BAR for vfio-pci (`BAR N: can't reserve`), and the guest's accesses fail with EBUSY",
            fb.name, fb.start, fb.end, d.label(), bar.start, bar.end
        );
        let version = vfio_ids::kernel_version(sys);
        let option = match version {
            Some(v) if v < (5, 15) => "video=efifb:off",
            _ => "initcall_blacklist=sysfb_init",
        };
        let mut r = format!(
            "The firmware drew its boot screen on {}, and the kernel's framebuffer (`{}`) still owns part of its memory. In order of preference:\n\n\
             1. Make the host boot on another GPU: the firmware's primary-display setting, or swap the cards' slots.\n\
             2. Keep the kernel off the framebuffer ({}):\n\n",
            d.label(),
            fb.name,
            if option == "video=efifb:off" { "this kernel still uses efifb" } else { "kernels ≥ 5.15 create it through sysfb for efifb, simplefb and simpledrm alike" }
        );
        r.push_str(&fix::in_step(&fix::add_kernel_options(sys, &[option])));
        r.push('\n');
        r.push_str(&format!(
            "\n3. Or release the device and rescan before each VM start:\n\n   ```sh\n   echo 1 | sudo tee /sys/bus/pci/devices/{addr}/remove\n   echo 1 | sudo tee /sys/bus/pci/rescan\n   ```\n\n\
             Then `sudo grep -A3 '{addr}' /proc/iomem` must show no `BOOTFB`, `efifb`, `simplefb` or `simpledrm` line inside the device's range.",
            addr = d.address
        ));
        out.emit(subject, message, evidence).remediation = r;
    }
}
