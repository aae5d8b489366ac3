//! Logic for `nvidia-vm-detection`; its documentation is rules/nvidia-vm-detection.md.

use crate::rules::{fix, Evidence, Findings, Severity};
use crate::system::vm::PassedGpu;
use crate::system::System;

/// NVIDIA's PCI vendor id.
const NVIDIA: u16 = 0x10de;

/// The guest-side line that shows Code 43 for this GPU (pnputil, PowerShell or DxDiag,
/// matched by VEN/DEV), if the input has one.
fn guest_code43(sys: &System, gpu: &PassedGpu<'_>) -> Option<Evidence> {
    let ids = match gpu.device {
        Some(d) => (d.vendor_id?, d.device_id?),
        None => (gpu.seen.as_ref()?.vendor, gpu.seen.as_ref()?.device?),
    };
    sys.guest.code43_devices().into_iter().find(|g| g.ids() == Some(ids)).and_then(|g| g.evidence.first().cloned())
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for vm in sys.vms.iter().filter(|v| v.from_xml) {
        let hidden = vm.features.kvm_hidden == Some(true);
        let vendor_id = vm.features.hyperv_vendor_id.is_some();
        if hidden || vendor_id {
            continue;
        }
        for gpu in sys.passed_gpus(vm) {
            // The vendor must be known: from sysfs or lspci (confirmed), or from a kernel log line
            // naming what sits at the address (likely). A bare <hostdev> address is not enough.
            if gpu.vendor() != Some(NVIDIA) {
                continue;
            }
            let features_line = if vm.features.line > 0 { vm.features.line } else { vm.line };
            let mut evidence = vec![
                vm.hostdev_evidence(gpu.hostdev),
                match &vm.pve {
                    Some(p) => vm.evidence(
                        features_line,
                        p.get("cpu").map(|c| format!("{} (no hidden=1, no hv-vendor-id=, no hostpci with x-vga=1)", c.text())).unwrap_or_else(|| "no `cpu:` line (kvm64, KVM visible) and no hostpci with x-vga=1".into()),
                    ),
                    None => vm.evidence(features_line, "<features> has no <kvm><hidden state='on'/></kvm> and no <hyperv><vendor_id state='on' value='…'/>"),
                },
            ];
            match gpu.device {
                Some(device) => evidence.push(device.evidence("vendor", &format!("0x{NVIDIA:04x}"))),
                None => evidence.extend(gpu.seen_evidence()),
            }
            let code43 = guest_code43(sys, &gpu);
            let mut message = format!(
                "VM {} passes {} without hiding the hypervisor (no <kvm><hidden state='on'/>, no hyperv vendor_id): \
                 GeForce drivers older than R465 (April 2021) refuse to start in a VM and Windows reports Code 43",
                vm.name,
                gpu.label()
            );
            if code43.is_some() {
                message.push_str("; the guest shows Code 43 for this GPU");
            }
            let code43_seen = code43.is_some();
            evidence.extend(code43);
            let f = out.emit(format!("VM {} / {}", vm.name, gpu.hostdev.address), message, evidence);
            if code43_seen {
                f.severity = Severity::Error;
            }
            if let Some(a) = gpu.assumption() {
                f.assume(a);
            }
            let kvm_note = if vm.domain_type.as_deref().is_some_and(|t| t != "kvm") {
                "\n\n`<kvm>` only exists for `<domain type='kvm'>`; this domain is not a KVM one."
            } else {
                ""
            };
            let pve = |p: &crate::system::pve::PveVm| fix::PveFix {
                lead: "Since driver R465 (April 2021) NVIDIA allows GeForce cards in a VM, so updating the guest driver (≥ 465) \
                       fixes Code 43 by itself. For older drivers, or to be safe, hide KVM and give Hyper-V a vendor id \
                       (`x-vga=1` on the GPU's hostpci does both as well):"
                    .into(),
                set: vec![fix::QmSet::set(
                    "cpu",
                    fix::property_string(p.get("cpu").map(|c| c.value.as_str()), &p.cpu_type().unwrap_or_else(|| "host".into()), &[("hidden", Some("1")), ("hv-vendor-id", Some("proxmox"))]),
                )],
                note: String::new(),
            };
            let libvirt = || format!(
                "Since driver R465 (April 2021) NVIDIA allows GeForce cards in a VM, so updating the guest driver (≥ 465) \
                 fixes Code 43 by itself. For older drivers, or to be safe, hide KVM and give Hyper-V a vendor id: \
                 `sudo virsh edit {name}` and put these inside `<features>`, in place of the `<hyperv>` and `<kvm>` it has \
                 (they keep every setting the VM's own have, and add what is missing):\n\n\
                 ```xml\n{hyperv}\n```\n\n```xml\n{kvm}\n```\n\n\
                 Then shut the VM down completely (`sudo virsh shutdown {name}`) and start it again; a reboot from inside \
                 the guest does not apply a changed definition.{kvm_note}",
                name = vm.name,
                hyperv = fix::hyperv_element(vm, &["vendor_id"]),
                kvm = fix::kvm_element(vm, &["hidden"]),
            );
            f.remediation = fix::vm_remediation(vm, libvirt, pve);
        }
    }
}
