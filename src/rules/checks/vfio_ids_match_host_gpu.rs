//! Logic for `vfio-ids-match-host-gpu`; its documentation is rules/vfio-ids-match-host-gpu.md.
//! A `vendor:device` in vfio-pci's ids also matches a device the host keeps: a twin of the
//! passed card, or the host's boot GPU. vfio-pci claims by id, so it takes both.

use std::collections::BTreeMap;

use crate::rules::{fix, Evidence, Findings};
use crate::system::vfio_ids::{self, VfioId};
use crate::system::host_keeps::host_keeps;
use crate::system::{Device, System};

/// A function of the host's card: the device, why the host needs it, and the VM-side twins.
type HostFunction<'a> = (&'a Device, String, Vec<&'a Device>);

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let configured = vfio_ids::configured(sys);
    if configured.is_empty() {
        return;
    }
    // host card slot → (its matched functions with why the host needs them, the twins a VM takes)
    let mut host: BTreeMap<String, Vec<HostFunction<'_>>> = BTreeMap::new();
    for d in &sys.devices {
        if let Some(k) = host_keeps(sys, d) {
            host.entry(d.address.slot().to_string()).or_default().push((d, k.why, k.vm_twins));
        }
    }

    for functions in host.values() {
        let (first, why, _) = &functions[0];
        let shared: Vec<String> = {
            let mut s: Vec<String> = Vec::new();
            for (d, _, _) in functions {
                if !s.contains(&d.ids()) {
                    s.push(d.ids());
                }
            }
            s
        };
        let entries: Vec<&VfioId> = configured.iter().filter(|c| shared.contains(&c.ids())).collect();
        let mut evidence: Vec<Evidence> = Vec::new();
        for e in &entries {
            if !evidence.contains(&e.evidence) {
                evidence.push(e.evidence.clone());
            }
        }
        for (d, _, _) in functions {
            if d.boot_vga {
                evidence.push(d.evidence("boot_vga", "1"));
            }
            if let Some(drv) = &d.driver {
                evidence.push(d.evidence("driver", drv));
            }
        }
        // The VM's card: every function of the twin slots.
        let mut vm_functions: Vec<&Device> = Vec::new();
        for (_, _, twins) in functions {
            for t in twins {
                for f in sys.devices.iter().filter(|x| x.address.slot() == t.address.slot() && !x.is_bridge()) {
                    if !vm_functions.iter().any(|x| x.address == f.address) {
                        vm_functions.push(f);
                    }
                }
            }
        }
        for vm in &sys.vms {
            for h in vm.hostdevs.iter().filter(|h| vm_functions.iter().any(|f| f.address == h.address)) {
                evidence.push(vm.hostdev_evidence(h));
            }
        }
        let addresses: Vec<&str> = functions.iter().map(|(d, _, _)| d.address.short()).collect();
        let consequence = if vm_functions.is_empty() {
            "vfio-pci claims every device with those ids: whenever it loads before the host's driver, the host loses this card \
             (and with the boot GPU, its console and desktop)"
        } else {
            "vfio-pci claims every device with those ids, so it takes this card from the host too (or, if the host driver wins \
             the race, the VM's card stays on the host driver)"
        };
        let message = format!(
            "vfio-pci's ids name {}, which also match{} {} ({}): {why}. {consequence}.",
            shared.join(", "),
            if shared.len() == 1 { "es" } else { "" },
            first.label(),
            addresses.join(", "),
        );
        let f = out.emit(first.label(), message, evidence);
        f.remediation = remediation(sys, &configured, &shared, &vm_functions, first);
    }
}

fn remediation(sys: &System, configured: &[VfioId], shared: &[String], vm_functions: &[&Device], host_card: &Device) -> String {
    let mut r = String::new();
    // 1. Take the shared ids out of each place that lists them.
    let keep: Vec<String> = {
        let mut k: Vec<String> = Vec::new();
        for c in configured.iter().filter(|c| !shared.contains(&c.ids())) {
            if !k.contains(&c.ids()) {
                k.push(c.ids());
            }
        }
        k
    };
    let mut places: Vec<&Evidence> = Vec::new();
    for c in configured.iter().filter(|c| shared.contains(&c.ids())) {
        if !places.contains(&&c.evidence) {
            places.push(&c.evidence);
        }
    }
    r.push_str(&format!("1. Take `{}` out of vfio-pci's ids so the host keeps {}:\n\n", shared.join(","), host_card.label()));
    for p in &places {
        if p.source.ends_with("cmdline") || p.excerpt.starts_with("vfio-pci.ids=") || p.excerpt.starts_with("vfio_pci.ids=") {
            let new = if keep.is_empty() { String::new() } else { format!("vfio-pci.ids={}", keep.join(",")) };
            let change = if new.is_empty() { "remove `vfio-pci.ids=…` from the kernel command line".to_string() } else { format!("make it `{new}` on the kernel command line") };
            r.push_str(&format!("   - {} ({}): {change}.\n", p.source, p.excerpt));
        } else {
            let line = rewrite_options_line(&p.excerpt, shared);
            let change = match line {
                Some(l) => format!("make the line `{l}`"),
                None => "delete the line".to_string(),
            };
            r.push_str(&format!("   - `{}` {} (`{}`): {change}.\n", p.source, p.location, p.excerpt));
        }
    }
    r.push('\n');
    if places.iter().any(|p| p.source.ends_with("cmdline")) {
        use crate::system::boot_config::Loader;
        let new = if keep.is_empty() { String::new() } else { format!("vfio-pci.ids={}", keep.join(",")) };
        let entries: Vec<&str> = sys.boot_configs.iter().filter(|c| c.loader == Loader::Entry).map(|c| c.path.as_str()).collect();
        let mut done = false;
        for c in &sys.boot_configs {
            let Some(o) = c.options.iter().find(|o| o.key.replace('-', "_") == "vfio_pci.ids") else { continue };
            done = true;
            if c.loader == Loader::Kernelstub {
                let add = if new.is_empty() { String::new() } else { format!(" -a \"{new}\"") };
                r.push_str(&format!("   The command line comes from kernelstub:\n\n```sh\nsudo kernelstub -d \"{}\"{add}\n```\n\n", o.text()));
            } else {
                let to = if new.is_empty() { "delete it".to_string() } else { format!("make it `{new}`") };
                r.push_str(&format!("   The command line comes from `{}` {} (`{}`): {to}. ", o.evidence.source, o.evidence.location, o.text()));
                r.push_str(&fix::apply_boot_config(sys, c.loader, &entries, &new));
                r.push_str("\n\n");
            }
        }
        if !done {
            r.push_str(&format!(
                "   Change it where the boot loader sets it (GRUB: `GRUB_CMDLINE_LINUX_DEFAULT` in `/etc/default/grub`, then `{}`).\n\n",
                fix::grub_update_command(sys)
            ));
        }
    }
    // 2. Bind the VM's card by address.
    let host_drivers: Vec<&str> = {
        let mut d: Vec<&str> = Vec::new();
        let mut add = |x: &'static str| {
            if !d.contains(&x) {
                d.push(x);
            }
        };
        match host_card.vendor_id {
            Some(0x10de) => {
                add("nvidia");
                add("nouveau");
            }
            Some(0x1002) => {
                add("amdgpu");
                add("radeon");
            }
            Some(0x8086) => add("i915"),
            _ => {}
        }
        d
    };
    if vm_functions.is_empty() {
        r.push_str(
            "2. If a VM should get another card with these ids, bind that card by its address instead: \
             `sudo driverctl set-override ADDRESS vfio-pci` for each of its functions (addresses from `lspci -nn`).",
        );
        return r;
    }
    let addrs: Vec<String> = vm_functions.iter().map(|d| d.address.to_string()).collect();
    r.push_str("2. Give the VM's card to vfio-pci by address (`driver_override`), which leaves its twin alone. With driverctl (persistent, applied by udev at boot):\n\n```sh\n");
    for a in &addrs {
        r.push_str(&format!("sudo driverctl set-override {a} vfio-pci\n"));
    }
    r.push_str("```\n\n   Or without driverctl, a script that modprobe runs when vfio-pci loads, `/usr/local/bin/vfio-pci-override.sh` (make it executable):\n\n```sh\n#!/bin/sh\n");
    r.push_str(&format!("for DEV in {}; do\n    echo vfio-pci > /sys/bus/pci/devices/$DEV/driver_override\ndone\nmodprobe -i vfio-pci\n```\n\n", addrs.join(" ")));
    r.push_str("   and in `/etc/modprobe.d/vfio.conf`:\n\n```text\ninstall vfio-pci /usr/local/bin/vfio-pci-override.sh\n");
    for d in &host_drivers {
        r.push_str(&format!("softdep {d} pre: vfio-pci\n"));
    }
    r.push_str("```\n\n");
    let tool = sys.modconf.initramfs.first().map(|c| c.tool).or_else(|| sys.host.distro_id.as_deref().and_then(crate::system::modconf::InitramfsTool::for_distro));
    match tool {
        Some(crate::system::modconf::InitramfsTool::Mkinitcpio) => r.push_str(
            "   Add the script to the initramfs (`FILES=(/usr/local/bin/vfio-pci-override.sh)` and `modconf` in `HOOKS` of `/etc/mkinitcpio.conf`), then `sudo mkinitcpio -P`.\n\n",
        ),
        Some(t) => r.push_str(&format!("   Rebuild the initramfs so the hook is there at early boot: `{}`.\n\n", t.rebuild_command())),
        None => r.push_str(&format!("   Rebuild the initramfs: `{}`.\n\n", fix::initramfs_update_command(sys))),
    }
    r.push_str(&format!(
        "Reboot; `lspci -nnk -s {}` must show the host driver again and the VM's card must show `vfio-pci`.",
        host_card.address.short()
    ));
    r
}

/// `options vfio-pci ids=10de:1c02,10de:10f1 disable_vga=1` without the shared ids; `None`
/// when nothing else is left on the line.
fn rewrite_options_line(line: &str, shared: &[String]) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    for w in line.split('#').next().unwrap_or(line).split_whitespace() {
        match w.strip_prefix("ids=") {
            Some(v) => {
                let kept: Vec<&str> = v
                    .trim_matches('"')
                    .split(',')
                    .filter(|e| {
                        let id: Vec<&str> = e.split(':').take(2).collect();
                        !shared.contains(&id.join(":").to_ascii_lowercase())
                    })
                    .collect();
                if !kept.is_empty() {
                    words.push(format!("ids={}", kept.join(",")));
                }
            }
            None => words.push(w.to_string()),
        }
    }
    (words.len() > 2).then(|| words.join(" "))
}
