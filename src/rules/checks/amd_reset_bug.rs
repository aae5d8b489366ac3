//! Logic for `amd-reset-bug`; its documentation is rules/amd-reset-bug.md.
//! A passed AMD GPU of a family with the known reset bug, without vendor-reset doing the reset.
//! Device ids: gnif/vendor-reset `src/device-db.h` (signatures.md §8).

use crate::rules::{fix, Findings};
use crate::system::{vfio_ids, Device, System};

/// (family, device ids) of AMD (0x1002) GPUs vendor-reset handles, from its device-db.h.
const FAMILIES: &[(&str, &[u16])] = &[
    ("Polaris 10", &[0x67c0, 0x67c1, 0x67c2, 0x67c4, 0x67c7, 0x67d0, 0x67df, 0x67c8, 0x67c9, 0x67ca, 0x67cc, 0x67cf]),
    ("Polaris 11", &[0x67e0, 0x67e3, 0x67e8, 0x67eb, 0x67ef, 0x67ff, 0x67e1, 0x67e7, 0x67e9]),
    ("Polaris 12", &[0x6980, 0x6981, 0x6985, 0x6986, 0x6987, 0x6995, 0x6997, 0x699f]),
    (
        "Vega 10",
        &[0x6860, 0x6861, 0x6862, 0x6863, 0x6864, 0x6865, 0x6866, 0x6867, 0x6868, 0x6869, 0x686a, 0x686b, 0x686c, 0x686d, 0x686e, 0x686f, 0x687f],
    ),
    ("Vega 20", &[0x66a0, 0x66a1, 0x66a2, 0x66a3, 0x66a4, 0x66a7, 0x66af]),
    ("Navi 10", &[0x7310, 0x7312, 0x7318, 0x7319, 0x731a, 0x731b, 0x731e, 0x731f]),
    ("Navi 14", &[0x7340, 0x7341, 0x7347, 0x734f]),
    ("Navi 12", &[0x7360, 0x7362]),
    ("Arcturus", &[0x738c]),
];

/// The reset-bug family of an AMD GPU, if vendor-reset lists it.
pub(crate) fn family(d: &Device) -> Option<&'static str> {
    if !d.vendor_is(0x1002) {
        return None;
    }
    let id = d.device_id?;
    FAMILIES.iter().find(|(_, ids)| ids.contains(&id)).map(|(f, _)| *f)
}

/// The log lines this rule reads: long logs keep them from between head and tail
/// (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    r"not ready.*after",
];

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for d in sys.devices.iter().filter(|d| d.is_gpu()) {
        let Some(fam) = family(d) else { continue };
        let vms = sys.vms_taking(&d.address);
        if vms.is_empty() && !d.driver_is("vfio-pci") {
            continue;
        }
        let who = if vms.is_empty() {
            "is bound to vfio-pci".to_string()
        } else {
            format!("is passed to {}", vms.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", "))
        };
        let mut evidence = vec![d.evidence("device", &format!("0x{:04x} ({fam})", d.device_id.unwrap_or(0)))];
        for vm in &vms {
            for h in vm.hostdevs.iter().filter(|h| h.address == d.address) {
                evidence.push(vm.hostdev_evidence(h));
            }
        }
        // Symptoms already in the log (drivers/pci/pci.c pci_dev_wait(), signatures.md §1.5).
        for l in sys.lines(crate::bundle::SourceKind::KernelLog) {
            if l.device.as_ref().is_some_and(|x| x.address == d.address) && l.message.contains("not ready") && l.message.contains("after") {
                evidence.push(l.into());
            }
        }
        let a = &d.address;
        let version = vfio_ids::kernel_version(sys);
        let new_kernel = version.is_none_or(|v| v >= (5, 15));
        let select = format!("echo device_specific | sudo tee /sys/bus/pci/devices/{a}/reset_method");
        let loaded = vfio_ids::loaded_module(sys, "vendor_reset");
        let methods = d.reset_methods.clone();
        let message;
        let mut r = String::new();
        match loaded {
            None => {
                let state = if vfio_ids::modules_known(sys) {
                    "vendor-reset is not loaded"
                } else {
                    "whether vendor-reset is loaded is unknown (no /proc/modules or whole lsmod in the input)"
                };
                message = format!(
                    "{} ({fam}) {who} and {state}: {fam} cards cannot be reset between VM runs (the AMD reset bug), so the second start of the VM hangs or shows a black screen, and the kernel reports `not ready 65535ms after bus reset; giving up` or QEMU `Unable to power on device, stuck in D3`",
                    d.label()
                );
                if let Some(m) = &methods {
                    evidence.push(d.evidence("reset_method", &m.join(" ")));
                }
                r.push_str(&format!(
                    "Install gnif/vendor-reset (DKMS) and load it at boot, before the VM starts:\n\n```sh\nsudo apt install dkms git build-essential linux-headers-$(uname -r)   # or your distribution's packages\ngit clone https://github.com/gnif/vendor-reset.git && cd vendor-reset\nsudo dkms install .\necho vendor-reset | sudo tee /etc/modules-load.d/vendor-reset.conf\n{}\n```\n\n",
                    fix::initramfs_update_command(sys)
                ));
                if new_kernel {
                    r.push_str(&format!(
                        "On kernels ≥ 5.15 vendor-reset only acts when `device_specific` is the selected reset method; after each boot (a udev rule or a libvirt hook):\n\n```sh\n{select}\n```\n\n\
                         As a udev rule, `/etc/udev/rules.d/99-vendor-reset.rules`:\n\n```text\nACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"{a}\", RUN+=\"/bin/sh -c 'modprobe vendor_reset; echo device_specific > /sys/bus/pci/devices/{a}/reset_method'\"\n```\n\n"
                    ));
                }
                r.push_str(&format!(
                    "`dmesg` then shows `{a}: AMD_{}: version 1.1` and `reset result = 0` at each VM start.",
                    fam.to_ascii_uppercase().replace(' ', "")
                ));
            }
            Some(line) => {
                if !new_kernel {
                    continue;
                }
                let Some(m) = methods else { continue };
                if m.first().map(String::as_str) == Some("device_specific") {
                    continue;
                }
                evidence.push(line.into());
                evidence.push(d.evidence("reset_method", &m.join(" ")));
                let release = sys.host.kernel.clone().unwrap_or_else(|| "this kernel".into());
                message = format!(
                    "{} ({fam}) {who}; vendor-reset is loaded, but the card's reset_method is `{}`, not `device_specific`: on {release} (≥ 5.15) vendor-reset's reset is never used, so the AMD reset bug still hits",
                    d.label(),
                    m.join(" ")
                );
                r.push_str(&format!(
                    "Select vendor-reset's method for this card after each boot:\n\n```sh\n{select}\n```\n\n\
                     Persistently, `/etc/udev/rules.d/99-vendor-reset.rules`:\n\n```text\nACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"{a}\", RUN+=\"/bin/sh -c 'modprobe vendor_reset; echo device_specific > /sys/bus/pci/devices/{a}/reset_method'\"\n```\n\n\
                     Make sure vendor-reset loads early (listed in `/etc/modules-load.d/vendor-reset.conf` and in the initramfs), then `cat /sys/bus/pci/devices/{a}/reset_method` must print `device_specific`."
                ));
            }
        }
        let f = out.emit(d.label(), message, evidence);
        f.remediation = r;
    }
}
