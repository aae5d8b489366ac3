//! Logic for `amd-topoext-missing`; its documentation is rules/amd-topoext-missing.md.

use crate::bundle::SourceKind;
use crate::rules::{fix, Evidence, Findings};
use crate::system::inferred::CpuMaker;
use crate::system::{LogLine, System, Vm};

/// QEMU target/i386/cpu.c x86_cpu_realizefn(): ≤ 8.x `warn_report("This family of AMD CPU doesn't
/// support hyperthreading(%d)")` then `error_printf("Please configure -smp options properly or try
/// enabling topoext feature.\n")` on its own line; ≥ 9.x one `warn_report_once` with both sentences.
const WARNING: &str = "This family of AMD CPU doesn't support hyperthreading(";
const ADVICE: &str = "Please configure -smp options properly or try enabling topoext feature.";

fn has_topoext(vm: &Vm) -> bool {
    vm.cpu.features.iter().any(|(policy, name)| name == "topoext" && (policy == "require" || policy == "force"))
}

/// `host-passthrough` (and `maximum`, its superset) hand the host's topoext bit to the guest, and
/// libvirt expands `host-model` to a named model plus every extra host feature, topoext included.
/// Named models (`custom`) lack it: libvirt's src/cpu_map/x86_EPYC-Rome.xml has no topoext.
fn gets_host_topoext(vm: &Vm) -> bool {
    matches!(vm.cpu.mode.as_deref(), Some("host-passthrough") | Some("maximum") | Some("host-model"))
}

fn cpu_element(vm: &Vm) -> String {
    let mode = vm.cpu.mode.as_deref().filter(|m| *m != "custom").unwrap_or("host-passthrough");
    let mut out = format!("<cpu mode='{mode}' check='none'>\n");
    if let Some(t) = fix::cpu_topology(vm) {
        out.push_str(&format!("  {t}\n"));
    }
    out.push_str("  <feature policy='require' name='topoext'/>\n</cpu>");
    out
}

/// The QEMU warning lines (with the ≤ 8.x second line when it follows), per source.
fn qemu_warnings(sys: &System) -> Vec<Vec<&LogLine>> {
    let mut out = Vec::new();
    for kind in [SourceKind::QemuLog, SourceKind::Text, SourceKind::KernelLog] {
        let lines: Vec<&LogLine> = sys.lines(kind).collect();
        for (i, l) in lines.iter().enumerate() {
            if !l.message.contains(WARNING) {
                continue;
            }
            let mut group = vec![*l];
            if let Some(next) = lines.get(i + 1).filter(|n| n.source == l.source && n.message.contains(ADVICE) && !n.message.contains(WARNING)) {
                group.push(*next);
            }
            out.push(group);
        }
    }
    out
}

/// The log lines this rule reads: long logs keep them from between head and tail
/// (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    r"This family of AMD CPU doesn't support hyperthreading\(",
    r"Please configure -smp options properly or try enabling topoext feature\.",
];

/// Proxmox: `cpu: host` passes the host's topoext; another type gets `flags=+topoext`.
fn topoext_pve(p: &crate::system::pve::PveVm) -> fix::PveFix {
    let cpu = p.get("cpu").map(|c| c.value.as_str());
    let value = match p.cpu_type().as_deref() {
        Some("host") | Some("max") | None => fix::property_string(cpu, "host", &[]),
        Some(t) => {
            let flags = crate::system::pve::property(cpu.unwrap_or(""), "flags").map(|f| format!("{f};+topoext")).unwrap_or_else(|| "+topoext".into());
            fix::property_string(cpu, t, &[("flags", Some(&flags))])
        }
    };
    fix::PveFix { lead: "Give the vCPUs AMD's topology extension:".into(), set: vec![fix::QmSet::set("cpu", value)], note: String::new() }
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let warnings = qemu_warnings(sys);
    let mut reported: Vec<String> = Vec::new();
    for vm in sys.vms.iter().filter(|v| v.from_xml) {
        if has_topoext(vm) {
            // Fixed in the definition; a warning left in its log is from an earlier start.
            reported.push(vm.name.clone());
            continue;
        }
        let threads = vm.cpu.threads.unwrap_or(1);
        // The maker from cpuinfo, or as the input shows it in passing (smpboot, AMD-Vi lines, a
        // named CPU model): then the finding is likely.
        let maker = sys.cpu_maker();
        let config_fault = maker.as_ref().is_some_and(|(m, _)| *m == CpuMaker::Amd) && threads > 1 && !gets_host_topoext(vm);
        // QEMU lines of this VM's own log.
        let own: Vec<&LogLine> = warnings
            .iter()
            .filter(|g| sys.sources.iter().any(|s| *s.path == *g[0].source && s.vm.as_deref() == Some(vm.name.as_str())))
            .flatten()
            .copied()
            .collect();
        if !config_fault && own.is_empty() {
            continue;
        }
        reported.push(vm.name.clone());
        let cpu_line = if vm.cpu.line > 0 { vm.cpu.line } else { vm.line };
        let mode = vm.cpu.mode.as_deref().unwrap_or("none (QEMU default qemu64)");
        let seen = match vm.pve.as_ref().and_then(|p| p.get("cpu")) {
            Some(c) => format!("{} (no +topoext)", c.text()),
            None if vm.pve.is_some() => "no `cpu:` line: kvm64, without topoext".to_string(),
            None => format!("<cpu mode='{mode}'> threads={threads}, no <feature policy='require' name='topoext'/>"),
        };
        let mut evidence = vec![vm.evidence(cpu_line, seen)];
        if let Some(vendor) = &sys.host.cpu_vendor {
            evidence.push(Evidence::new("/proc/cpuinfo", "vendor_id", vendor.clone()));
        }
        // QEMU's own warning for this VM settles it; otherwise the maker may be a hint.
        let hint = if own.is_empty() { maker.and_then(|(_, h)| h) } else { None };
        evidence.extend(hint.as_ref().map(|h| h.evidence.clone()));
        evidence.extend(own.iter().map(|l| Evidence::from(*l)));
        let f = out.emit_on_own_evidence(
            format!("VM {}", vm.name),
            format!(
                "VM {} gives its vCPUs {threads} threads per core on an AMD host without the topoext CPU feature: the guest sees \
                 no SMT siblings (QEMU warns \"doesn't support hyperthreading\") and schedules badly",
                vm.name
            ),
            evidence,
        );
        if let Some(h) = hint {
            f.assume(format!("no /proc/cpuinfo: the host CPU is taken to be AMD because {}", h.how));
        }
        let libvirt = || {
            format!(
                "`sudo virsh edit {name}` and make the `<cpu>` element:\n\n```xml\n{cpu}\n```\n\nOr give the VM `threads='1'` and \
                 twice the cores. Shut {name} down and start it again.",
                name = vm.name,
                cpu = cpu_element(vm),
            )
        };
        f.remediation = fix::vm_remediation(vm, libvirt, topoext_pve);
    }
    // Warnings from logs that belong to no reported domain (a pasted `virsh start` error, a QEMU log alone).
    for group in warnings {
        let vm = sys.sources.iter().find(|s| *s.path == *group[0].source).and_then(|s| s.vm.as_deref());
        // Without a domain name in the input, the System names a VM after its log file.
        let name = vm.map(str::to_string).or_else(|| sys.vms.iter().find(|v| *v.source == *group[0].source && v.name != *v.source).map(|v| v.name.clone()));
        let key = name.clone().unwrap_or_else(|| group[0].source.to_string());
        if reported.contains(&key) {
            continue;
        }
        reported.push(key);
        let (subject, whose, edit) = match &name {
            Some(n) => (format!("VM {n}"), format!("VM {n}"), format!("sudo virsh edit {n}")),
            None => (format!("QEMU log {}", group[0].source), format!("the VM of {}", group[0].source), "sudo virsh edit NAME".to_string()),
        };
        let evidence = group.iter().map(|l| Evidence::from(*l)).collect();
        let f = out.emit_on_own_evidence(
            subject,
            format!("QEMU warns that the AMD vCPUs of {whose} have threads but no topoext feature: the guest sees no SMT siblings"),
            evidence,
        );
        if let Some(vm) = name.as_deref().and_then(|n| sys.vms.iter().find(|v| v.is_named(n))).filter(|v| v.pve.is_some()) {
            f.remediation = fix::vm_remediation(vm, String::new, topoext_pve);
            continue;
        }
        f.remediation = format!(
            "`{edit}` and add `<feature policy='require' name='topoext'/>` inside `<cpu>` (or use \
             `<cpu mode='host-passthrough'>`), keeping the `<topology>` you have:\n\n\
             ```xml\n<cpu mode='host-passthrough' check='none'>\n  <feature policy='require' name='topoext'/>\n</cpu>\n```\n\n\
             Or set `threads='1'` in `<topology>`."
        );
    }
}
