//! Logic for `acs-override-in-use`; its documentation is rules/acs-override-in-use.md.
//! `pcie_acs_override=` is on the running command line (or the patched kernel says it applied
//! it): IOMMU groups are split by decree, not by the hardware's isolation.

use std::collections::BTreeMap;

use crate::bundle::SourceKind;
use crate::rules::{fix, Evidence, Findings, Severity};
use crate::system::{boot_config, isolation, LogLine, System};

/// The ACS-override patch (signatures.md §1.11): `Warning: PCIe ACS overrides enabled; This may
/// allow non-IOMMU protected peer-to-peer DMA`, and its parse errors.
const OVERRIDES_ENABLED: &str = "PCIe ACS overrides enabled";
const INVALID_ID: &str = "PCIe ACS invalid ID";
const PARSE_ERROR: &str = "PCIe ACS ID parse error";
/// The kernel's command line at the start of a boot (`Command line: ` on x86,
/// `Kernel command line: ` elsewhere): the log covers this boot.
const BOOT_CMDLINE: [&str; 2] = ["Command line: ", "Kernel command line: "];

/// The log lines this rule reads: long logs keep them from between head and tail
/// (`rules::signatures`). The patch's three messages share `PCIe ACS `, both command-line
/// prefixes `ommand line: `: one signature (and one prefilter literal) each. The unit test
/// checks that every literal, as a line, is kept.
pub(crate) const LOG_SIGNATURES: &[&str] = &["PCIe ACS ", "(?:Kernel c|C)ommand line: "];

fn boot_cmdline(message: &str) -> bool {
    BOOT_CMDLINE.iter().any(|p| message.starts_with(p))
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let running = boot_config::running(sys);
    let option = running.as_ref().and_then(|(c, ev)| {
        let v = c.get("pcie_acs_override")?;
        let text = if v.is_empty() { "pcie_acs_override".to_string() } else { format!("pcie_acs_override={v}") };
        Some((v.to_string(), text.clone(), Evidence { excerpt: text, ..ev.clone() }))
    });
    let log: Vec<&LogLine> = sys
        .lines(SourceKind::KernelLog)
        .chain(sys.lines(SourceKind::Text))
        .filter(|l| l.message.contains(OVERRIDES_ENABLED) || l.message.starts_with(INVALID_ID) || l.message.starts_with(PARSE_ERROR))
        .collect();
    if option.is_none() && log.is_empty() {
        return;
    }
    let applied = log.iter().any(|l| l.message.contains(OVERRIDES_ENABLED));
    // A kernel log from the start of this boot (it has the command line) without the patch's
    // warning: the running kernel does not carry the patch and ignores the parameter.
    let log_from_boot = sys.lines(SourceKind::KernelLog).any(|l| boot_cmdline(&l.message));
    let ignored = option.is_some() && !applied && log_from_boot;

    let mut evidence: Vec<Evidence> = Vec::new();
    if let Some((_, _, ev)) = &option {
        evidence.push(ev.clone());
    }
    evidence.extend(log.iter().map(|l| Evidence::from(*l)));
    if ignored {
        // The boot log that should have carried the patch's warning.
        if let Some(l) = sys.lines(SourceKind::KernelLog).find(|l| boot_cmdline(&l.message)) {
            evidence.push(Evidence::from(l));
        }
    }
    let shown = option.as_ref().map(|(_, t, _)| t.clone()).unwrap_or_else(|| "pcie_acs_override".into());
    let value = option.as_ref().map(|(v, _, _)| v.as_str()).unwrap_or("");

    let mut message = if ignored {
        format!(
            "`{shown}` is on the kernel command line, but the running kernel ({}) does not print the ACS-override patch's warning \
             (`PCIe ACS overrides enabled`) in a log that covers this boot: it does not carry the out-of-tree patch and ignores the \
             option. The IOMMU groups are the hardware's own.",
            sys.host.kernel.as_deref().unwrap_or("kernel release unknown")
        )
    } else {
        format!(
            "`{shown}` {} the kernel treats {} as isolating, as if ACS were there, so IOMMU groups are split where the hardware \
             does not isolate. Devices in different groups behind such a port can still reach each other with peer-to-peer DMA that \
             never passes the IOMMU: a passed device, driven by the guest, can read and write the memory of the host devices it was \
             grouped with before the split, and theirs can reach the guest's.",
            if applied {
                "is in effect (the kernel says `PCIe ACS overrides enabled`):"
            } else {
                "is on the kernel command line. No boot log in the input shows whether this kernel carries the patch that honours it; if it does,"
            },
            what_it_splits(value)
        )
    };
    let picture = groups_picture(sys, value);
    if !picture.is_empty() && !ignored {
        message.push_str(&format!(" On this host: {picture}."));
    }
    let f = out.emit("pcie_acs_override", message, evidence);
    if ignored {
        f.severity = Severity::Info;
    }
    f.remediation = remediation(sys, ignored, &shown);
}

/// What the override's value declares isolated (the patch's `downstream`, `multifunction`,
/// `id:vvvv:dddd` forms).
fn what_it_splits(value: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for v in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        if v == "downstream" {
            parts.push("every PCIe downstream port".into());
        } else if v == "multifunction" {
            parts.push("every function of a multi-function device".into());
        } else if let Some(id) = v.strip_prefix("id:") {
            parts.push(format!("the ports of device {id}"));
        }
    }
    if parts.is_empty() {
        "the ports it names".into()
    } else {
        parts.join(" and ")
    }
}

/// The groups that hold devices taken for a VM, and the graphics cards whose functions sit in
/// different groups: GPUs do not implement ACS between their functions, so with
/// `multifunction` that split is the override's (integrated functions of a CPU or chipset may
/// have ACS and be split legitimately, so only cards with a display function are named).
fn groups_picture(sys: &System, value: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut taken: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &sys.devices {
        let Some(claim) = isolation::taken_for_vm(sys, d) else { continue };
        let Some(g) = d.iommu_group.clone().or_else(|| sys.group_of(&d.address).map(|g| g.id.clone())) else { continue };
        taken.entry(g).or_default().push(format!("{} ({})", d.address.short(), claim.how));
    }
    if !taken.is_empty() {
        let groups: Vec<String> = taken.iter().map(|(g, devs)| format!("group {g} with {}", devs.join(", "))).collect();
        parts.push(format!("the devices given to VMs are in {}; their isolation may exist only because of the override", groups.join("; ")));
    }
    if value.split(',').any(|v| v.trim() == "multifunction") {
        let mut by_slot: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
        for d in sys.devices.iter().filter(|d| !d.is_bridge()) {
            if let Some(g) = d.iommu_group.clone().or_else(|| sys.group_of(&d.address).map(|g| g.id.clone())) {
                by_slot.entry(d.address.slot()).or_default().push((d.address.short().to_string(), g));
            }
        }
        for (slot, funcs) in &by_slot {
            let has_display = sys.devices.iter().any(|d| d.address.slot() == *slot && d.is_gpu());
            if !has_display {
                continue;
            }
            let mut groups: Vec<&str> = funcs.iter().map(|(_, g)| g.as_str()).collect();
            groups.sort();
            groups.dedup();
            if groups.len() > 1 {
                let list: Vec<String> = funcs.iter().map(|(a, g)| format!("{a} in group {g}")).collect();
                parts.push(format!("the functions of the graphics card at {} are split ({})", funcs[0].0.rsplit_once('.').map(|(s, _)| s).unwrap_or(&funcs[0].0), list.join(", ")));
            }
        }
    }
    parts.join("; ")
}

fn remediation(sys: &System, ignored: bool, shown: &str) -> String {
    if ignored {
        return format!(
            "The option does nothing on this kernel. Either remove it:\n\n{}\n\nor, if the groups really must be split, boot a kernel \
             that carries the patch (linux-zen or the linux-vfio AUR package on Arch, the Proxmox VE kernel, Liquorix) and accept \
             the risk described above.",
            fix::remove_kernel_options(sys, &[shown])
        );
    }
    format!(
        "Prefer real isolation: move the card to a slot whose IOMMU group holds nothing else (usually the first, CPU-attached \
         x16 slot), enable ACS in the firmware setup where it offers it, or update the BIOS (newer AGESA versions split the \
         chipset groups on some AMD boards). To see the hardware's own groups, boot once without `{shown}` and run \
         `vfio-doctor iommu`. If nothing else works and you accept that the passed device and its former group mates can \
         DMA into each other, keep the override. To remove it:\n\n{}",
        fix::remove_kernel_options(sys, &[shown])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literals the check looks for, as lines of their own, and the real lines (signatures.md §1.11, the rule's fixtures) are kept.
    #[test]
    fn long_logs_keep_every_line_the_check_reads() {
        for l in [OVERRIDES_ENABLED, INVALID_ID, PARSE_ERROR, BOOT_CMDLINE[0], BOOT_CMDLINE[1]] {
            assert!(super::super::keeps(LOG_SIGNATURES, l), "{l}");
        }
        for line in [
            "[    0.000000] Warning: PCIe ACS overrides enabled; This may allow non-IOMMU protected peer-to-peer DMA",
            "Mar 02 19:14:07 pve kernel: Warning: PCIe ACS overrides enabled; This may allow non-IOMMU protected peer-to-peer DMA",
            "[    0.000000] PCIe ACS invalid ID",
            "[    0.000000] PCIe ACS ID parse error 1",
            "Mar 02 19:14:07 pve kernel: Command line: BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet intel_iommu=on iommu=pt pcie_acs_override=downstream",
            "[    0.000000] Kernel command line: BOOT_IMAGE=/vmlinuz-linux-zen root=UUID=3f1c2b7e-9a4d-4c1e-8f5a-2d6b7c8e9f01 rw pcie_acs_override=downstream,multifunction",
        ] {
            assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
        }
    }
}
