//! Logic for `cmdline-not-applied`; its documentation is rules/cmdline-not-applied.md.
//! The boot loader configuration in effect asks for VFIO-related kernel options that the
//! running kernel's command line does not have: the configuration was not regenerated, the
//! host was not rebooted, or another entry booted.

use crate::rules::{fix, Evidence, Findings};
use crate::system::boot_config::{self, BootConfig, ConfiguredOption, Loader};
use crate::system::{Cmdline, System};

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let Some((running, running_ev)) = boot_config::running(sys) else { return };
    let configs = boot_config::in_effect(&sys.boot_configs, &running, sys.host.kernel.as_deref());
    // (option as written, the configs and lines that ask for it)
    let mut missing: Vec<(String, Vec<(&BootConfig, &ConfiguredOption)>)> = Vec::new();
    // Options the kernel ignores anyway: their absence changes nothing, and asking for them
    // would contradict iommu-disabled, which says they are not options.
    let mut ignored: Vec<String> = Vec::new();
    for c in &configs {
        for o in c.options.iter().filter(|o| vfio_related(o) && !applied(&running, o)) {
            if unknown_to_kernel(o) {
                if !ignored.contains(&o.text()) {
                    ignored.push(o.text());
                }
                continue;
            }
            let text = o.text();
            match missing.iter_mut().find(|(t, _)| *t == text) {
                Some((_, at)) => at.push((c, o)),
                None => missing.push((text, vec![(c, o)])),
            }
        }
    }
    if missing.is_empty() {
        return;
    }

    let mut evidence: Vec<Evidence> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for (text, at) in &missing {
        let o = at[0].1;
        let wheres: Vec<String> = at.iter().map(|(_, o)| format!("{} {}", o.evidence.source, o.evidence.location)).collect();
        let running_values = running.all(&o.key);
        let now = if running_values.is_empty() {
            String::new()
        } else {
            format!("; the running kernel has `{}`", running_values.iter().map(|v| format!("{}={v}", o.key)).collect::<Vec<_>>().join(" "))
        };
        parts.push(format!("`{text}` (in {}{now})", wheres.join(", ")));
        for (_, o) in at {
            if !evidence.contains(&o.evidence) {
                evidence.push(o.evidence.clone());
            }
        }
    }
    evidence.push(running_ev);
    let loaders: Vec<Loader> = {
        let mut l: Vec<Loader> = missing.iter().flat_map(|(_, at)| at.iter().map(|(c, _)| c.loader)).collect();
        l.sort();
        l.dedup();
        l
    };
    let options: Vec<&str> = missing.iter().map(|(t, _)| t.as_str()).collect();
    let one = missing.len() == 1;
    let message = format!(
        "The boot loader configuration asks for {} that the running kernel's command line does not have: {}. \
         The kernel runs without {}, so what {} set up (IOMMU mode, vfio-pci ids, framebuffer hand-off) is not in effect.",
        if one { "a VFIO option" } else { "VFIO options" },
        parts.join("; "),
        if one { "it" } else { "them" },
        if one { "it is meant to" } else { "they are meant to" },
    );
    let mut message = message;
    if !ignored.is_empty() {
        message.push_str(&format!(
            " `{}` is left out: the kernel does not know that value (it logs `AMD-Vi: Unknown option`) and AMD kernels turn the IOMMU on by themselves.",
            ignored.join(" ")
        ));
    }
    let f = out.emit("kernel command line", message, evidence);
    f.remediation = remediation(sys, &loaders, &configs, &options);
}

/// The values `amd_iommu=` takes (Documentation/admin-guide/kernel-parameters.txt,
/// drivers/iommu/amd/init.c `parse_amd_iommu_options`); anything else, `on` above all, the
/// kernel answers with `AMD-Vi: Unknown option - '…'` and ignores.
const AMD_IOMMU_VALUES: &[&str] =
    &["fullflush", "off", "force_isolation", "force_enable", "pgtbl_v1", "pgtbl_v2", "irtcam", "nohugepages", "v2_pgsizes_only"];

/// An option whose every value the kernel ignores (`amd_iommu=on`).
fn unknown_to_kernel(o: &ConfiguredOption) -> bool {
    o.key.eq_ignore_ascii_case("amd_iommu")
        && o.value.as_deref().is_some_and(|v| v.split(',').all(|x| !AMD_IOMMU_VALUES.contains(&x.trim().to_ascii_lowercase().as_str())))
}

/// Options that matter for passthrough; `quiet`, `splash`, `root=` and the like do not.
fn vfio_related(o: &ConfiguredOption) -> bool {
    let key = o.key.to_ascii_lowercase();
    let module = key.split_once('.').map(|(m, _)| m.replace('-', "_"));
    let value = o.value.as_deref().unwrap_or("");
    matches!(
        key.as_str(),
        "amd_iommu"
            | "intel_iommu"
            | "iommu"
            | "intremap"
            | "pcie_acs_override"
            | "initcall_blacklist"
            | "nomodeset"
            | "nofb"
            | "modprobe.blacklist"
            | "module_blacklist"
            | "rd.driver.pre"
            | "rd.driver.blacklist"
            | "kvm.ignore_msrs"
            | "kvm.report_ignored_msrs"
    ) || key.starts_with("ivrs_")
        || (key == "video" && value.ends_with(":off"))
        || module.is_some_and(|m| m.starts_with("vfio") || m == "iommu")
}

/// Whether the running command line has the option with the same value (comma lists compare
/// as sets: `vfio-pci.ids=a,b` is `vfio-pci.ids=b,a`).
fn applied(running: &Cmdline, o: &ConfiguredOption) -> bool {
    let values = running.all(&o.key);
    match o.value.as_deref() {
        None => !values.is_empty(),
        Some(want) => values.iter().any(|v| same_list(v, want)),
    }
}

fn same_list(a: &str, b: &str) -> bool {
    let set = |s: &str| {
        let mut v: Vec<String> = s.split(',').map(|x| x.trim().to_ascii_lowercase()).filter(|x| !x.is_empty()).collect();
        v.sort();
        v.dedup();
        v
    };
    set(a) == set(b)
}

fn remediation(sys: &System, loaders: &[Loader], configs: &[&BootConfig], options: &[&str]) -> String {
    let opts = options.join(" ");
    let entries: Vec<&str> = configs.iter().filter(|c| c.loader == Loader::Entry).map(|c| c.path.as_str()).collect();
    let generated = loaders.iter().any(|l| matches!(l, Loader::KernelCmdline | Loader::Kernelstub));
    let steps: Vec<String> = loaders
        .iter()
        .filter(|l| !(**l == Loader::Entry && generated)) // entries written from /etc/kernel/cmdline or kernelstub
        .map(|l| fix::apply_boot_config(sys, *l, &entries, &opts))
        .collect();
    format!("{}\n\nThen reboot, and check that `cat /proc/cmdline` shows `{opts}`.", steps.join("\n\n"))
}
