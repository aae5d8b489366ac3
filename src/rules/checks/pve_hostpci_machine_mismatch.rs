//! Logic for `pve-hostpci-machine-mismatch`; its documentation is
//! rules/pve-hostpci-machine-mismatch.md. The task errors themselves are the rule's `[[match]]`
//! patterns; this reads a pasted VM configuration, before the VM is started: qemu-server's
//! `parse_hostpci_devices()` dies on `pcie=1` without q35 and on `legacy-igd=1` with q35.

use crate::rules::fix::{self, PveFix, QmSet};
use crate::rules::Findings;
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for vm in &sys.vms {
        let Some(p) = &vm.pve else { continue };
        let q35 = p.is_q35();
        let machine = p.get("machine").map(|m| vm.evidence(m.line, m.text()));
        let legacy = p.hostpci.iter().any(|h| h.legacy_igd);
        if !q35 {
            let pcie: Vec<_> = p.hostpci.iter().filter(|h| h.pcie).collect();
            if pcie.is_empty() {
                continue;
            }
            let mut evidence: Vec<_> = pcie.iter().filter_map(|h| p.get(&h.key()).map(|s| vm.evidence(s.line, s.text()))).collect();
            evidence.extend(machine.clone());
            let keys = pcie.iter().map(|h| h.key()).collect::<Vec<_>>().join(", ");
            let f = out.emit(
                format!("VM {} / pcie=1 on {}", vm.name, p.machine()),
                format!(
                    "VM {} uses the {} machine (i440fx), which has no PCIe bus, but {keys} {} pcie=1: qemu-server refuses to start it (\"q35 machine model is not enabled\")",
                    vm.name,
                    p.machine(),
                    if pcie.len() == 1 { "has" } else { "have" }
                ),
                evidence,
            );
            // Legacy IGD needs i440fx: drop pcie=1 everywhere. Otherwise q35 is the usual way.
            let set: Vec<QmSet> = if legacy {
                pcie.iter().map(|h| QmSet::set(h.key(), h.value_with(&[("pcie", None)]))).collect()
            } else {
                vec![QmSet::set("machine", "q35")]
            };
            let lead = if legacy {
                "The iGPU is passed in legacy IGD mode, which needs i440fx: take pcie=1 off the other entries (they keep their other options):".to_string()
            } else {
                "Switch the VM to q35, whose root ports carry the pcie=1 devices (or take pcie=1 off every hostpci line):".to_string()
            };
            f.remediation = fix::vm_remediation(vm, String::new, |_| PveFix { lead, set, note: String::new() });
        } else if legacy {
            let Some(h) = p.hostpci.iter().find(|h| h.legacy_igd) else { continue };
            let mut evidence: Vec<_> = p.get(&h.key()).map(|s| vm.evidence(s.line, s.text())).into_iter().collect();
            evidence.extend(machine);
            let f = out.emit(
                format!("VM {} / legacy-igd on q35", vm.name),
                format!(
                    "VM {} passes the iGPU with legacy-igd=1 on the q35 machine ({}): qemu-server refuses to start it (\"legacy IGD assignment is not compatible with q35\")",
                    vm.name,
                    p.machine()
                ),
                evidence,
            );
            let mut set = vec![QmSet::set("machine", "pc")];
            set.extend(p.hostpci.iter().filter(|o| o.pcie).map(|o| QmSet::set(o.key(), o.value_with(&[("pcie", None)]))));
            f.remediation = fix::vm_remediation(vm, String::new, |_| PveFix {
                lead: "Legacy IGD mode needs the i440fx machine, without pcie=1 on any hostpci entry:".to_string(),
                set,
                note: "To stay on q35, pass the iGPU without legacy-igd=1 instead.".to_string(),
            });
        }
    }
}
