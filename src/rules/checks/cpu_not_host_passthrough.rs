//! Logic for `cpu-not-host-passthrough`; its documentation is rules/cpu-not-host-passthrough.md.

use crate::rules::{fix, Findings};
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for vm in sys.vms.iter().filter(|v| v.from_xml) {
        // `maximum` is host-passthrough plus whatever KVM can emulate.
        if matches!(vm.cpu.mode.as_deref(), Some("host-passthrough") | Some("maximum")) {
            continue;
        }
        let gpus = sys.passed_gpus(vm);
        let Some(gpu) = gpus.first() else { continue };
        let (line, seen) = match (&vm.pve, vm.cpu.mode.as_deref()) {
            (Some(p), _) => match p.get("cpu") {
                Some(c) => (c.line, c.text()),
                None => (vm.line, "no `cpu:` line: qemu-server's default kvm64".to_string()),
            },
            (None, Some(mode)) => (vm.cpu.line, format!("<cpu mode='{mode}'>")),
            (None, None) => (vm.line, "no <cpu> element: QEMU's generic qemu64 CPU".to_string()),
        };
        let mode = match &vm.pve {
            Some(p) => p.cpu_type().unwrap_or_else(|| "kvm64 (the default)".into()),
            None => vm.cpu.mode.clone().unwrap_or_else(|| "the default (qemu64)".into()),
        };
        let f = out.emit(
            format!("VM {}", vm.name),
            format!(
                "VM {} passes {} but its CPU mode is {}, not host-passthrough: the guest misses host CPU features and cache topology",
                vm.name,
                gpu.label(),
                mode
            ),
            [vm.evidence(line, seen), vm.hostdev_evidence(gpu.hostdev)].into_iter().chain(gpu.seen_evidence()).collect(),
        );
        if let Some(a) = gpu.assumption() {
            f.assume(a);
        }
        let mut children = String::new();
        if let Some(t) = fix::cpu_topology(vm) {
            children.push_str(&format!("  {t}\n"));
        }
        // The maker from cpuinfo, or as the input shows it in passing (a remediation detail only).
        let amd = sys.cpu_maker().is_some_and(|(m, _)| m == crate::system::inferred::CpuMaker::Amd);
        if amd && vm.cpu.threads.unwrap_or(1) > 1 {
            children.push_str("  <feature policy='require' name='topoext'/>\n");
        }
        let open = "<cpu mode='host-passthrough' check='none' migratable='on'";
        let cpu = if children.is_empty() { format!("{open}/>") } else { format!("{open}>\n{children}</cpu>") };
        let pve = |p: &crate::system::pve::PveVm| fix::PveFix {
            lead: String::new(),
            set: vec![fix::QmSet::set("cpu", fix::property_string(p.get("cpu").map(|c| c.value.as_str()), "host", &[]))],
            note: "`host` gives up live migration to a different CPU model, which a VM holding a physical GPU cannot do anyway.".into(),
        };
        let libvirt = || format!(
            "`sudo virsh edit {name}` and replace `<cpu …>…</cpu>` with:\n\n```xml\n{cpu}\n```\n\n\
             host-passthrough gives up live migration to a different CPU model, which a VM holding a physical GPU cannot do anyway.",
            name = vm.name
        );
        f.remediation = fix::vm_remediation(vm, libvirt, pve);
    }
}
