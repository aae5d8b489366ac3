//! Logic for `guest-code43`; its documentation is rules/guest-code43.md. The guest's
//! `VEN_xxxx&DEV_yyyy` is tied to the host device with the same IDs (vfio-pci-bound first).

use crate::rules::{fix, Evidence, Findings};
use crate::system::guest::GuestDevice;
use crate::system::{Device, System};

/// The host device a guest device is, by vendor:device; the one bound to vfio-pci wins.
fn host_device<'a>(sys: &'a System, g: &GuestDevice) -> Option<&'a Device> {
    let (v, d) = g.ids()?;
    let mut matching: Vec<&Device> = sys.devices.iter().filter(|x| x.vendor_id == Some(v) && x.device_id == Some(d)).collect();
    matching.sort_by_key(|x| !x.driver_is("vfio-pci"));
    matching.first().copied()
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    // One finding per device: the same card seen by pnputil, PowerShell and DxDiag folds into one.
    let mut groups: Vec<(String, Vec<&GuestDevice>)> = Vec::new();
    for g in sys.guest.code43_devices() {
        let key = match g.ids() {
            Some((v, d)) => format!("{v:04x}:{d:04x}"),
            None => g.instance_id.clone().unwrap_or_default(),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(g),
            None => groups.push((key, vec![g])),
        }
    }
    for (ids, seen) in groups {
        let Some(first) = seen.first() else { continue };
        let guest_name = seen.iter().find_map(|g| g.name.clone()).unwrap_or_else(|| first.instance_id.clone().unwrap_or_default());
        let host = host_device(sys, first);
        let mut evidence: Vec<Evidence> = seen.iter().flat_map(|g| g.evidence.iter().cloned()).collect();
        let only_dxdiag = seen.iter().all(|g| g.is_weak_evidence());
        let mut message = format!("Windows stopped {guest_name} ({ids}) with Code 43 (CM_PROB_FAILED_POST_START)");
        // The VM that takes the host device (Windows guests first): its name goes in the fix.
        let mut vms: Vec<_> = host.map(|d| sys.vms.iter().filter(|vm| vm.takes(&d.address)).collect()).unwrap_or_default();
        vms.sort_by_key(|vm| !vm.looks_windows());
        let vm = vms.first().copied();
        let subject = match host {
            Some(d) => {
                evidence.push(d.evidence("driver", d.driver.as_deref().unwrap_or("none")));
                message.push_str(&format!(
                    "; on the host it is {} {} (driver {})",
                    d.address,
                    d.name(),
                    d.driver.as_deref().unwrap_or("none")
                ));
                if let Some(vm) = vm {
                    message.push_str(&format!(", passed to VM {}", vm.name));
                    if let Some(h) = vm.hostdevs.iter().find(|h| h.address == d.address) {
                        evidence.push(vm.hostdev_evidence(h));
                    }
                }
                d.address.to_string()
            }
            None => {
                if !sys.devices.is_empty() {
                    message.push_str("; no host device has these IDs");
                }
                guest_name.clone()
            }
        };
        if only_dxdiag {
            message.push_str(". Only DxDiag says so, and DxDiag is weak evidence for Code 43: confirm with `pnputil /enum-devices /problem` in the guest");
        }
        let vendor = first.vendor_id;
        let edit = vm.map(|vm| format!("`virsh edit {}`", vm.name)).unwrap_or_else(|| "`virsh edit` the VM".into());
        // On Proxmox VE the same two settings are options of `cpu:`.
        let pve_hide = vm.and_then(|vm| vm.pve.as_ref()).map(|p| {
            crate::rules::fix::render_pve(
                p,
                &crate::rules::fix::PveFix {
                    set: vec![crate::rules::fix::QmSet::set(
                        "cpu",
                        crate::rules::fix::property_string(p.get("cpu").map(|c| c.value.as_str()), &p.cpu_type().unwrap_or_else(|| "host".into()), &[("hidden", Some("1")), ("hv-vendor-id", Some("proxmox"))]),
                    )],
                    ..Default::default()
                },
            )
        });
        let f = out.emit(subject, message, evidence);
        let mut fix = match vendor {
            Some(0x10de) => {
                let mut r = String::from(
                    "1. Update the guest's NVIDIA driver to R465 or later: GeForce passthrough is supported since R465 (April 2021).\n",
                );
                match vm {
                    Some(vm) if vm.features.kvm_hidden == Some(true) || vm.features.hyperv_vendor_id.is_some() => r.push_str(&format!(
                        "2. VM {} already hides the hypervisor (`<kvm><hidden state='on'/>` or a Hyper-V `vendor_id`): with a current driver that is not the cause.\n",
                        vm.name
                    )),
                    Some(vm) if vm.pve.is_some() => r.push_str(&format!(
                        "2. With an older driver, hide the hypervisor from it:\n\n{}\n",
                        fix::in_step(pve_hide.as_deref().unwrap_or_default())
                    )),
                    Some(vm) if vm.from_xml => r.push_str(&format!(
                        "2. With an older driver, hide the hypervisor from it ({edit}): put these inside `<features>`, in place of the `<hyperv>` and `<kvm>` it has (they keep every setting the VM's own have):\n\n{}\n",
                        fix::in_step(&format!("```xml\n{}\n```\n\n```xml\n{}\n```", fix::hyperv_element(vm, &["vendor_id"]), fix::kvm_element(vm, &["hidden"])))
                    )),
                    _ => r.push_str(&format!(
                        "2. With an older driver, hide the hypervisor from it ({edit}): add these inside `<features>`, next to what it holds (`<acpi/>`, `<apic/>`, …). \
                         Where `<features>` already has a `<hyperv>` or `<kvm>`, add the inner line to that element instead of a second one:\n\n{}\n",
                        fix::in_step(&format!("```xml\n{}\n```", fix::bare_feature_elements(&["vendor_id"], &["hidden"])))
                    )),
                }
                r.push_str(if pve_hide.is_some() {
                    "3. If the host booted on this card, give the VM a clean ROM (`romfile=` in /usr/share/kvm/, checked with `vfio-doctor rom`).\n"
                } else {
                    "3. If the host booted on this card, give the VM a clean ROM (`<rom file=…/>`, checked with `vfio-doctor rom`).\n"
                });
                r
            }
            Some(0x1002) => String::from(
                "1. If it worked on the first VM start and fails after a guest reboot, the card did not reset: \
                 install vendor-reset (Polaris/Vega/Navi 10) or reboot the host between VM starts.\n\
                 2. If the host booted on this card, give the VM a clean ROM (`<rom file=…/>`, checked with `vfio-doctor rom`).\n\
                 3. Reinstall the AMD driver in the guest.\n",
            ),
            _ => String::from(
                "1. Reinstall the device's driver in the guest.\n\
                 2. If the host booted on this card, give the VM a clean ROM (`<rom file=…/>`, checked with `vfio-doctor rom`).\n",
            ),
        };
        if only_dxdiag {
            fix.push_str("\nConfirm first, in the guest: `pnputil /enum-devices /class Display` or `Get-PnpDevice -Class Display | Format-List`.\n");
        }
        f.remediation = fix;
    }
}
