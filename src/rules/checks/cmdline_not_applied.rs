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
    for c in &configs {
        for o in c.options.iter().filter(|o| vfio_related(o) && !applied(&running, o)) {
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
    let f = out.emit("kernel command line", message, evidence);
    f.remediation = remediation(sys, &loaders, &configs, &options);
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
