//! Logic for `hyperv-enlightenments-missing`; its documentation is rules/hyperv-enlightenments-missing.md.

use crate::rules::{fix, Findings};
use crate::system::System;

/// The enlightenments every guide and virt-manager's Windows template turn on.
const WANTED: &[&str] = &["relaxed", "vapic", "spinlocks"];

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for vm in sys.vms.iter().filter(|v| v.from_xml && v.looks_windows()) {
        // libvirt ≥ 8.0: mode='passthrough' enables every enlightenment the host supports.
        if vm.features.hyperv_mode.as_deref() == Some("passthrough") {
            continue;
        }
        let missing: Vec<&str> = WANTED.iter().copied().filter(|w| !vm.features.hyperv_on.iter().any(|h| h == w)).collect();
        if missing.is_empty() {
            continue;
        }
        let gpus = sys.passed_gpus(vm);
        let Some(gpu) = gpus.first() else { continue };
        let line = if vm.features.line > 0 { vm.features.line } else { vm.line };
        let on = if vm.features.hyperv_on.is_empty() { "none".to_string() } else { vm.features.hyperv_on.join(", ") };
        let f = out.emit(
            format!("VM {}", vm.name),
            format!(
                "Windows VM {} (passing {}) lacks the Hyper-V enlightenments {}: Windows runs slower and stutters under load",
                vm.name,
                gpu.label(),
                missing.join(", ")
            ),
            [vm.evidence(line, format!("<hyperv> enlightenments on: {on}; missing: {}", missing.join(", "))), vm.hostdev_evidence(gpu.hostdev)]
                .into_iter()
                .chain(gpu.seen_evidence())
                .collect(),
        );
        if let Some(a) = gpu.assumption() {
            f.assume(a);
        }
        f.remediation = format!(
            "`sudo virsh edit {name}` and put this inside `<features>`, in place of the `<hyperv>` it has (it keeps every enlightenment the VM has and adds the missing ones):\n\n```xml\n{hyperv}\n```\n\n\
             With libvirt ≥ 8.0 and QEMU ≥ 6.2, `<hyperv mode='passthrough'/>` turns on every enlightenment the host supports instead. \
             Add `<timer name='hypervclock' present='yes'/>` to `<clock>` as well. Shut {name} down and start it again.",
            name = vm.name,
            hyperv = fix::hyperv_element(vm, WANTED),
        );
    }
}
