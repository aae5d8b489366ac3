//! Logic for `pve-xvga-without-pcie`; its documentation is rules/pve-xvga-without-pcie.md.

use crate::rules::fix::{self, PveFix, QmSet};
use crate::rules::Findings;
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for vm in &sys.vms {
        let Some(p) = &vm.pve else { continue };
        if !p.is_q35() {
            continue;
        }
        for h in p.hostpci.iter().filter(|h| h.x_vga && !h.pcie) {
            let Some(setting) = p.get(&h.key()) else { continue };
            let machine = p.get("machine").map(|m| vm.evidence(m.line, m.text()));
            let mut evidence = vec![vm.evidence(setting.line, setting.text())];
            evidence.extend(machine);
            let f = out.emit(
                format!("VM {} / {}", vm.name, h.key()),
                format!(
                    "VM {} (q35) passes its primary GPU with {} without pcie=1: the card sits on a conventional PCI bridge, without the PCIe link its driver expects",
                    vm.name,
                    setting.text()
                ),
                evidence,
            );
            let value = h.value_with(&[("pcie", Some("1"))]);
            f.remediation = fix::vm_remediation(vm, String::new, |_| PveFix {
                lead: format!("Put the GPU on one of q35's PCIe root ports ({} keeps its other options):", h.key()),
                set: vec![QmSet::set(h.key(), value.clone())],
                note: String::new(),
            });
        }
    }
}
