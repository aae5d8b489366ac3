//! Logic for `nvidia-vm-detection`; its documentation is rules/nvidia-vm-detection.md.

use crate::rules::{fix, Evidence, Findings, Severity};
use crate::system::{Device, System};

/// NVIDIA's PCI vendor id.
const NVIDIA: u16 = 0x10de;

/// The guest-side line that shows Code 43 for this GPU (pnputil, PowerShell or DxDiag,
/// matched by VEN/DEV), if the input has one.
fn guest_code43_for(sys: &System, device: &Device) -> Option<Evidence> {
    let ids = (device.vendor_id?, device.device_id?);
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
            let Some(device) = gpu.device.filter(|d| d.vendor_is(NVIDIA)) else { continue };
            let features_line = if vm.features.line > 0 { vm.features.line } else { vm.line };
            let mut evidence = vec![
                vm.hostdev_evidence(gpu.hostdev),
                vm.evidence(features_line, "<features> has no <kvm><hidden state='on'/></kvm> and no <hyperv><vendor_id state='on' value='…'/>"),
                device.evidence("vendor", &format!("0x{NVIDIA:04x}")),
            ];
            let code43 = guest_code43_for(sys, device);
            let mut message = format!(
                "VM {} passes {} without hiding the hypervisor (no <kvm><hidden state='on'/>, no hyperv vendor_id): \
                 GeForce drivers older than R465 (April 2021) refuse to start in a VM and Windows reports Code 43",
                vm.name,
                device.label()
            );
            if code43.is_some() {
                message.push_str("; the guest shows Code 43 for this GPU");
            }
            let code43_seen = code43.is_some();
            evidence.extend(code43);
            let f = out.emit(format!("VM {} / {}", vm.name, device.address), message, evidence);
            if code43_seen {
                f.severity = Severity::Error;
            }
            let kvm_note = if vm.domain_type.as_deref().is_some_and(|t| t != "kvm") {
                "\n\n`<kvm>` only exists for `<domain type='kvm'>`; this domain is not a KVM one."
            } else {
                ""
            };
            f.remediation = format!(
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
        }
    }
}
