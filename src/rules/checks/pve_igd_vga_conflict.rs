//! Logic for `pve-igd-vga-conflict`; its documentation is rules/pve-igd-vga-conflict.md.
//! A Proxmox VM passing the iGPU at guest slot 2 (legacy IGD) keeps an emulated VGA there too.

use crate::bundle::SourceKind;
use crate::rules::fix::{self, PveFix, QmSet};
use crate::rules::{Evidence, Findings};
use crate::system::pve::PveVm;
use crate::system::{LogLine, System, Vm};

/// QEMU hw/pci/pci.c do_pci_register_device(): `"PCI: slot %d function %d not available for %s,
/// in use by %s,id=%s"` (older QEMU without the `,id=`), seen as a `kvm:` line of the task log.
const SLOT2_TAKEN: &str = r"PCI: slot 2 function 0 not available for vfio-pci, in use by VGA";

/// The log lines this rule reads: long logs keep them.
pub(crate) const LOG_SIGNATURES: &[&str] = &[SLOT2_TAKEN, r"legacy IGD assignment requires VGA mode to be 'none'"];

fn slot2_lines(sys: &System) -> Vec<&LogLine> {
    [SourceKind::QemuLog, SourceKind::Text]
        .into_iter()
        .flat_map(|k| sys.lines(k))
        .filter(|l| l.message.contains(SLOT2_TAKEN) || l.message.contains("legacy IGD assignment requires VGA mode to be 'none'"))
        .collect()
}

fn pve_fix(_: &PveVm) -> PveFix {
    PveFix {
        lead: "Free guest slot 2 for the iGPU: remove the emulated display (the iGPU becomes the VM's only display).".into(),
        set: vec![QmSet::set("vga", "none")],
        note: String::new(),
    }
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let lines = slot2_lines(sys);
    let mut reported: Vec<&str> = Vec::new();
    for vm in sys.vms.iter() {
        let Some(p) = &vm.pve else { continue };
        let Some((line, setting)) = p.legacy_igd() else { continue };
        let vga = p.vga();
        if vga == "none" {
            continue;
        }
        let vga_seen = match p.get("vga") {
            Some(s) => vm.evidence(s.line, s.text()),
            None => vm.evidence(1, "no `vga:` line: qemu-server's default std VGA, at guest slot 2"),
        };
        let mut evidence = vec![vm.evidence(line, setting), vga_seen];
        evidence.extend(lines.iter().filter(|l| belongs(sys, l, vm)).map(|l| Evidence::from(*l)));
        reported.push(&vm.name);
        let f = out.emit(
            format!("VM {}", vm.name),
            format!(
                "VM {} passes the iGPU 00:02.0 in legacy IGD mode, at guest slot 2, but keeps its emulated display (vga: {vga}), which qemu-server also puts at slot 2: the VM does not start",
                vm.name
            ),
            evidence,
        );
        f.remediation = fix::vm_remediation(vm, String::new, pve_fix);
    }
    // The failure seen only in a task log (a paste without the VM's configuration).
    for l in lines {
        let vm = sys.sources.iter().find(|s| *s.path == *l.source).and_then(|s| s.vm.as_deref());
        if vm.is_some_and(|v| reported.contains(&v)) || reported.contains(&&*l.source) {
            continue;
        }
        // The VM's configuration is in the input and was judged above: a line from an earlier
        // start it no longer explains is history.
        if vm.and_then(|v| sys.vms.iter().find(|x| x.is_named(v))).is_some_and(|x| x.pve.is_some()) {
            continue;
        }
        reported.push(&l.source);
        let subject = vm.map(|v| format!("VM {v}")).unwrap_or_else(|| format!("QEMU log {}", l.source));
        let f = out.emit(
            subject,
            "QEMU cannot put the passed iGPU at guest slot 2 (legacy IGD): the emulated VGA is there, so the VM does not start".to_string(),
            vec![Evidence::from(l)],
        );
        let id = vm.and_then(|v| sys.vms.iter().find(|x| x.is_named(v))).and_then(|x| x.pve.as_ref()).and_then(|p| p.vmid.clone());
        let p = PveVm { vmid: id.or_else(|| vm.map(str::to_string)), ..PveVm::default() };
        f.remediation = fix::render_pve(&p, &pve_fix(&p));
    }
}

/// Whether a log line is from `vm`'s task log (or a log that names no VM while this is the only
/// Proxmox VM).
fn belongs(sys: &System, l: &LogLine, vm: &Vm) -> bool {
    match sys.sources.iter().find(|s| *s.path == *l.source).and_then(|s| s.vm.as_deref()) {
        Some(v) => v == vm.name,
        None => sys.vms.iter().filter(|v| v.pve.is_some()).count() == 1,
    }
}
