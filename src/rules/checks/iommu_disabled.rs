//! Logic for `iommu-disabled`; its documentation is rules/iommu-disabled.md.

use crate::bundle::SourceKind;
use crate::rules::{fix, Evidence, Findings};
use crate::system::System;

/// Kernel messages that prove an IOMMU was initialised (signatures.md §1.3). `DMAR: IOMMU
/// enabled` alone is not proof: it only echoes `intel_iommu=on`, even on AMD machines.
fn iommu_active(message: &str) -> bool {
    message.contains("DMAR: Intel(R) Virtualization Technology for Directed I/O")
        || message.contains("AMD-Vi: Found IOMMU")
        || message.contains("Adding to iommu group")
        || (message.starts_with("iommu: Adding device") && message.contains("to group"))
}

/// The log lines this rule reads: long logs keep them from between head and tail
/// (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    r"DMAR: Intel\(R\) Virtualization Technology for Directed I/O",
    r"AMD-Vi: Found IOMMU",
    r"Adding to iommu group",
    r"iommu: Adding device .*to group",
];

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    if !sys.groups.is_empty() {
        return;
    }
    let log_says_on = sys.lines(SourceKind::KernelLog).find(|l| iommu_active(&l.message));
    if log_says_on.is_some() {
        return;
    }
    // Only sysfs can say "no groups"; a paste without a group listing proves nothing.
    let groups_source = sys.sources.iter().find(|s| s.kind == SourceKind::IommuGroups && s.status == crate::bundle::Status::Ok);
    let Some(groups_source) = groups_source else { return };
    let mut evidence = vec![Evidence::new(format!("/{}", groups_source.path), "entries", "empty: no IOMMU groups")];
    // An absence in the log means something only when the log starts at boot; an excerpt lacking
    // these lines proves nothing.
    if sys.kernel_log_from_boot() {
        evidence.push(Evidence::new(
            sys.sources.iter().find(|s| s.kind == SourceKind::KernelLog).map(|s| s.origin.clone()).unwrap_or_default(),
            "whole log",
            "no \"DMAR: Intel(R) Virtualization Technology for Directed I/O\", \"AMD-Vi: Found IOMMU\" or \"Adding to iommu group\" line",
        ));
    }
    let cmdline = sys.cmdline.as_ref();
    let intel_on = cmdline.and_then(|c| c.get("intel_iommu")).is_some_and(|v| v.split(',').any(|x| x == "on"));
    if let Some(c) = cmdline {
        evidence.push(c.evidence(&c.raw));
    }
    let remediation = if sys.cpu_is_intel() {
        let mut r = String::from(
            "1. In the firmware setup enable **Intel VT-d** (often under Advanced → System Agent / Chipset Configuration).\n",
        );
        // Configured but not on the running command line: that is cmdline-not-applied's finding,
        // whose fix is the command that applies it; asking to add it again would contradict it.
        let configured = sys
            .boot_configs
            .iter()
            .flat_map(|c| c.options.iter())
            .find(|o| o.key == "intel_iommu" && o.value.as_deref().is_some_and(|v| v.split(',').any(|x| x == "on")));
        if intel_on {
            r.push_str("2. `intel_iommu=on` is already on the command line, so the firmware setting is what is missing.\n");
        } else if let Some(o) = configured {
            r.push_str(&format!(
                "2. Intel kernels before 6.2 (and many distro configs) need `intel_iommu=on`. It is in `{}` {}, but the running kernel did not get it: \
                 apply the boot loader configuration as cmdline-not-applied (VD103) says, and reboot.\n",
                o.evidence.source, o.evidence.location
            ));
        } else {
            r.push_str("2. Intel kernels before 6.2 (and many distro configs) do not enable the IOMMU by default:\n\n");
            r.push_str(&fix::in_step(&fix::add_kernel_options(sys, &["intel_iommu=on", "iommu=pt"])));
            r.push('\n');
        }
        r
    } else if sys.cpu_is_amd() {
        "1. In the firmware setup enable **IOMMU** (AMD CBS → NBIO Common Options → IOMMU, set to Enabled, not Auto) \
         and **SVM Mode**; on some boards also **ACS Enable** and **AER Cap**.\n\
         2. AMD kernels enable the IOMMU by default; `amd_iommu=on` is not an option (the kernel says `AMD-Vi: Unknown option - 'on'`). \
         Make sure the command line has no `amd_iommu=off` or `iommu=off`.\n"
            .to_string()
    } else {
        format!(
            "1. Enable the IOMMU in the firmware setup (Intel: **VT-d**; AMD: **IOMMU** / AMD-Vi).\n2. On Intel also:\n\n{}\n",
            fix::in_step(&fix::add_kernel_options(sys, &["intel_iommu=on", "iommu=pt"]))
        )
    };
    let cpu = sys.host.cpu_model.clone().unwrap_or_else(|| "this host".into());
    let f = out.emit(
        "IOMMU",
        format!("No IOMMU groups exist on {cpu}: the IOMMU is off, so vfio-pci cannot take any device"),
        evidence,
    );
    f.remediation = format!("{remediation}3. Reboot; `ls /sys/kernel/iommu_groups/` must list groups.");
}

