//! Logic for `gpu-not-bound-to-vfio`; its documentation is rules/gpu-not-bound-to-vfio.md.
//! A GPU meant for a VM (passed by a VM, named in vfio-pci's ids, or with driver_override set
//! to vfio-pci) is driven by a host graphics driver.

use crate::rules::{fix, Findings};
use crate::system::{host_keeps, vfio_ids, Device, System};

/// Host graphics drivers that hold a GPU (and its BARs) while bound.
const GPU_DRIVERS: &[&str] = &["nvidia", "nouveau", "amdgpu", "radeon", "i915", "xe"];

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for d in sys.devices.iter().filter(|d| d.is_gpu()) {
        let Some(driver) = d.driver.as_deref().filter(|drv| GPU_DRIVERS.contains(drv)) else { continue };
        let vms = sys.vms_taking(&d.address);
        let configured = match (d.vendor_id, d.device_id) {
            (Some(v), Some(i)) => vfio_ids::configured_for(sys, v, i),
            _ => Vec::new(),
        };
        let override_vfio = d.driver_override.as_deref() == Some("vfio-pci");
        // Nothing in the input says which card is for a VM, but the pasted lspci lists only this one.
        let singled_out =
            vms.is_empty() && configured.is_empty() && !override_vfio && sys.vms.is_empty() && sys.single_card_listing() == Some(d.address.slot());
        if vms.is_empty() && configured.is_empty() && !override_vfio && !singled_out {
            continue;
        }
        // Named only by ids that also match a card the host keeps (its boot GPU, a twin of the
        // VM's card): the ids are wrong, not the binding — vfio-ids-match-host-gpu says so.
        if vms.is_empty() && !override_vfio && host_keeps::host_keeps(sys, d).is_some() {
            continue;
        }

        let mut why: Vec<String> = Vec::new();
        let mut evidence = vec![d.evidence("driver", driver)];
        for vm in &vms {
            why.push(format!("VM {} passes it", vm.name));
            for h in vm.hostdevs.iter().filter(|h| h.address == d.address) {
                evidence.push(vm.hostdev_evidence(h));
            }
        }
        if !configured.is_empty() {
            why.push(format!("vfio-pci's ids name {}", d.ids()));
            evidence.extend(configured.iter().map(|i| i.evidence.clone()));
        }
        if override_vfio {
            why.push("its driver_override is vfio-pci".into());
            evidence.push(d.evidence("driver_override", "vfio-pci"));
        }
        if singled_out {
            why.push("the pasted lspci shows only this card, the one the question is about".into());
        }
        let managed = vms.iter().flat_map(|v| v.hostdevs.iter().filter(|h| h.address == d.address)).any(|h| h.managed != Some(false));
        let mut message = format!("{} is driven by {driver}, not vfio-pci, although {}", d.label(), why.join(" and "));
        let by = if vms.iter().all(|v| v.pve.is_some()) { "qemu-server".to_string() } else { "libvirt's managed='yes'".to_string() };
        if managed && !vms.is_empty() {
            message.push_str(&format!(
                "; {by} will try to unbind {driver} at VM start, which hangs or fails while the host uses the card (and {driver} rarely lets go cleanly)"
            ));
        }
        if d.boot_vga {
            message.push_str("; it is also the boot GPU the host's console runs on");
        }

        let f = out.emit(d.label(), message, evidence);
        if singled_out {
            f.assume("no VM definition and no vfio-pci ids in the input: the card is taken as the one meant for the VM because the pasted lspci lists only its functions");
        }
        f.remediation = remediation(sys, d, driver, !configured.is_empty());
    }
}

fn remediation(sys: &System, d: &Device, driver: &str, ids_configured: bool) -> String {
    // Every function of the card goes to vfio-pci together (group-member-not-bound).
    let functions: Vec<&Device> = sys.devices.iter().filter(|x| x.address.slot() == d.address.slot() && !x.is_bridge()).collect();
    let mut ids: Vec<String> = Vec::new();
    for f in &functions {
        if !ids.contains(&f.ids()) {
            ids.push(f.ids());
        }
    }
    let ids = vfio_ids::merged_ids(sys, &ids);
    let mut drivers: Vec<&str> = vec![driver];
    for f in &functions {
        if let Some(x) = f.driver.as_deref().filter(|x| *x != "vfio-pci" && *x != "pci-stub" && !drivers.contains(x)) {
            drivers.push(x);
        }
    }
    // Another card with the same ids that the host keeps: ids= would take it too.
    let twin = sys.devices.iter().find(|x| x.address != d.address && x.ids() == d.ids() && !sys.is_assigned(&x.address));

    let mut r = String::new();
    if let Some(t) = twin {
        r.push_str(&format!(
            "{} has the same ids ({}) and the host keeps it, so `vfio-pci.ids` would take both cards. Bind by address instead, \
             before {driver} loads: a modprobe install hook or initramfs script that runs\n\n```sh\necho vfio-pci > /sys/bus/pci/devices/{}/driver_override\n```\n\n\
             for each function of this card (`driverctl set-override {} vfio-pci` does the same persistently).\n\n",
            t.label(),
            d.ids(),
            d.address,
            d.address
        ));
    } else {
        let why = if ids_configured {
            format!("The ids are already configured, so {driver} won the race: vfio-pci must load first.\n\n")
        } else {
            String::new()
        };
        // Step 1's blocks are nested under it (fix::in_step), so the list goes on to step 2.
        let mut modprobe = format!("```text\noptions vfio-pci ids={ids}\n");
        for drv in &drivers {
            modprobe.push_str(&format!("softdep {drv} pre: vfio-pci\n"));
        }
        modprobe.push_str("```");
        r.push_str(&format!(
            "{why}1. Name the card's functions in vfio-pci's ids and load vfio-pci before the host drivers. `/etc/modprobe.d/vfio.conf`:\n\n{}\n\n",
            fix::in_step(&modprobe)
        ));
        r.push_str(&fix::in_step(&format!(
            "Put vfio-pci into the initramfs (Debian/Ubuntu: `vfio_pci` in `/etc/initramfs-tools/modules`; Fedora: \
             `force_drivers+=\" vfio_pci \"` in `/etc/dracut.conf.d/vfio.conf`; Arch: `MODULES=(vfio_pci vfio vfio_iommu_type1)`), then:\n\n```sh\n{}\n```",
            fix::initramfs_update_command(sys)
        )));
        r.push_str("\n\n");
        match sys.cmdline.as_ref().and_then(|c| c.get("vfio_pci.ids")) {
            Some(v) if v.split(',').any(|x| x.starts_with(&d.ids())) => {}
            Some(v) => r.push_str(&format!(
                "2. The kernel command line sets `vfio-pci.ids={v}`, which wins over modprobe.d: make it `vfio-pci.ids={ids}`.\n\n"
            )),
            None => {
                r.push_str("2. Or on the kernel command line (works when vfio-pci is built in or in the initramfs):\n\n");
                r.push_str(&fix::in_step(&fix::add_kernel_options(sys, &[&format!("vfio-pci.ids={ids}")])));
                r.push_str("\n\n");
            }
        }
    }
    if driver == "nvidia" {
        r.push_str("With the NVIDIA driver also stop nvidia-persistenced and anything holding `/dev/nvidia*` before the card can be unbound. ");
    }
    if d.boot_vga {
        r.push_str("This is the boot GPU: see `boot-gpu-passed-through`. ");
    }
    r.push_str(&format!(
        "After a reboot `lspci -nnks {}` must say `Kernel driver in use: vfio-pci`.",
        d.address.short()
    ));
    r
}
