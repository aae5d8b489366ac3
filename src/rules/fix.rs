//! Remediation builders that know this host: which boot loader and initramfs tool it uses,
//! so a fix names the file to edit and the command to run here, not a generic list.

use crate::bundle::SourceKind;
use crate::system::System;

/// The boot loader configuration found on the host, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootLoader {
    /// Pop!_OS and others: `kernelstub -a`.
    Kernelstub,
    /// systemd-boot entries (`loader/entries/*.conf`).
    SystemdBoot,
    /// `/etc/kernel/cmdline` (kernel-install, Proxmox with systemd-boot, UKIs).
    KernelCmdline,
    Grub,
    Unknown,
}

pub fn boot_loader(sys: &System) -> BootLoader {
    let paths: Vec<&str> =
        sys.sources.iter().filter(|s| s.kind == SourceKind::BootConfig && s.status == crate::bundle::Status::Ok).map(|s| s.path.as_str()).collect();
    let has = |needle: &str| paths.iter().any(|p| p.contains(needle));
    if has("kernelstub") {
        BootLoader::Kernelstub
    } else if has("loader/entries/") {
        BootLoader::SystemdBoot
    } else if has("etc/kernel/cmdline") {
        BootLoader::KernelCmdline
    } else if has("default/grub") {
        BootLoader::Grub
    } else {
        BootLoader::Unknown
    }
}

/// The command that regenerates grub.cfg on this distribution.
pub fn grub_update_command(sys: &System) -> &'static str {
    let id = sys.host.distro_id.as_deref().unwrap_or("");
    let is = |x: &str| id.split_whitespace().any(|w| w == x);
    if is("debian") || is("ubuntu") {
        "sudo update-grub"
    } else if is("fedora") || is("rhel") || is("centos") || is("suse") || is("opensuse") {
        "sudo grub2-mkconfig -o /boot/grub2/grub.cfg"
    } else if is("arch") || is("manjaro") || is("endeavouros") || is("gentoo") {
        "sudo grub-mkconfig -o /boot/grub/grub.cfg"
    } else {
        "sudo update-grub   # Debian/Ubuntu; Fedora: sudo grub2-mkconfig -o /boot/grub2/grub.cfg; Arch: sudo grub-mkconfig -o /boot/grub/grub.cfg"
    }
}

/// Markdown steps that add kernel command-line options with this host's boot loader, then reboot.
pub fn add_kernel_options(sys: &System, options: &[&str]) -> String {
    let opts = options.join(" ");
    let steps = match boot_loader(sys) {
        BootLoader::Kernelstub => format!("```sh\nsudo kernelstub -a \"{opts}\"\n```"),
        BootLoader::SystemdBoot => format!(
            "Append `{opts}` to the `options` line of your entry in `/boot/loader/entries/*.conf` (or `/efi/loader/entries/`)."
        ),
        BootLoader::KernelCmdline => format!(
            "Append `{opts}` to `/etc/kernel/cmdline`, then regenerate the boot entries:\n\n```sh\nsudo proxmox-boot-tool refresh   # Proxmox; elsewhere: sudo kernel-install add $(uname -r) /lib/modules/$(uname -r)/vmlinuz\n```"
        ),
        BootLoader::Grub => format!(
            "Add `{opts}` inside `GRUB_CMDLINE_LINUX_DEFAULT=\"…\"` in `/etc/default/grub`, then:\n\n```sh\n{}\n```",
            grub_update_command(sys)
        ),
        BootLoader::Unknown => format!(
            "Add `{opts}` to the kernel command line. With GRUB: edit `GRUB_CMDLINE_LINUX_DEFAULT` in `/etc/default/grub`, then:\n\n```sh\n{}\n```\n\nWith systemd-boot, append it to the `options` line in `/boot/loader/entries/*.conf`; on Pop!_OS: `sudo kernelstub -a \"{opts}\"`.",
            grub_update_command(sys)
        ),
    };
    format!("{steps}\n\nReboot, then check that `cat /proc/cmdline` shows `{opts}`.")
}

/// A Proxmox VE host: its kernel (`6.8.12-4-pve`), proxmox-boot-tool's ESP list, or its VM configurations.
fn is_proxmox(sys: &System) -> bool {
    sys.host.kernel.as_deref().is_some_and(|k| k.contains("-pve"))
        || sys.sources.iter().any(|s| s.status == crate::bundle::Status::Ok && (s.kind == SourceKind::QmConfig || s.path.ends_with("proxmox-boot-uuids")))
}

/// Markdown steps that make an edited boot loader configuration take effect on this host
/// (regenerate what the boot loader reads from it); `entries` are the systemd-boot / BLS entry
/// files found, `opts` the options concerned. The caller adds the reboot.
pub fn apply_boot_config(sys: &System, loader: crate::system::boot_config::Loader, entries: &[&str], opts: &str) -> String {
    use crate::system::boot_config::Loader;
    let id = sys.host.distro_id.as_deref().unwrap_or("");
    let is = |x: &str| id.split_whitespace().any(|w| w == x);
    match loader {
        Loader::Grub if !entries.is_empty() && (is("fedora") || is("rhel") || is("centos")) => format!(
            "GRUB reads the BLS entries in `/boot/loader/entries/`, which keep their own options. Write the change into every entry and regenerate:\n\n```sh\nsudo grubby --update-kernel=ALL --args=\"{opts}\"\n{}\n```",
            grub_update_command(sys)
        ),
        Loader::Grub if is_proxmox(sys) => "`/etc/default/grub` only reaches the boot menu when `grub.cfg` is regenerated:\n\n```sh\nsudo update-grub\nsudo proxmox-boot-tool refresh   # when proxmox-boot-tool manages the ESPs (see proxmox-boot-tool status)\n```".to_string(),
        Loader::Grub => format!(
            "`/etc/default/grub` only reaches the boot menu when `grub.cfg` is regenerated:\n\n```sh\n{}\n```",
            grub_update_command(sys)
        ),
        Loader::KernelCmdline if is_proxmox(sys) => {
            "Proxmox builds its boot entries from `/etc/kernel/cmdline`; copy it to the ESPs:\n\n```sh\nsudo proxmox-boot-tool refresh\n```".to_string()
        }
        Loader::KernelCmdline if is("arch") => "`/etc/kernel/cmdline` is read when the unified kernel images are built:\n\n```sh\nsudo mkinitcpio -P\n```".to_string(),
        Loader::KernelCmdline => "`/etc/kernel/cmdline` is read when the boot entry is written:\n\n```sh\nsudo kernel-install add \"$(uname -r)\" \"/lib/modules/$(uname -r)/vmlinuz\"\n```".to_string(),
        Loader::Entry => {
            let files: Vec<String> = entries.iter().map(|p| format!("`/{}`", p.trim_start_matches('/'))).collect();
            let first = entries.first().map(|p| p.rsplit('/').next().unwrap_or(p)).unwrap_or("ENTRY.conf");
            format!(
                "systemd-boot reads {} itself at boot: if the file is right, the host was not rebooted since, or another entry booted. See which entry is the default and select this one:\n\n```sh\nbootctl list\nsudo bootctl set-default {first}\n```",
                files.join(", ")
            )
        }
        Loader::Kernelstub => format!(
            "kernelstub writes its `kernel_options` into the loader entry only when it runs:\n\n```sh\nsudo kernelstub -a \"{opts}\"\n```"
        ),
    }
}

/// Markdown steps that remove kernel options (by key: `pcie_acs_override` removes any value)
/// from the boot loader configuration that sets them on this host, and apply the change.
pub fn remove_kernel_options(sys: &System, keys: &[&str]) -> String {
    use crate::system::boot_config::Loader;
    let key_of = |k: &str| k.split('=').next().unwrap_or(k).replace('-', "_");
    let wanted: Vec<String> = keys.iter().map(|k| key_of(k)).collect();
    let mut at: Vec<String> = Vec::new();
    let mut found: Vec<String> = Vec::new();
    let mut loaders: Vec<Loader> = Vec::new();
    for c in &sys.boot_configs {
        for o in c.options.iter().filter(|o| wanted.contains(&key_of(&o.key))) {
            at.push(format!("`{}` {}", o.evidence.source, o.evidence.location));
            if !found.contains(&o.text()) {
                found.push(o.text());
            }
            if !loaders.contains(&c.loader) {
                loaders.push(c.loader);
            }
        }
    }
    if at.is_empty() {
        let shown = keys.join(" ");
        return format!(
            "Remove `{shown}` from the kernel command line where the boot loader sets it (GRUB: `GRUB_CMDLINE_LINUX_DEFAULT` and `GRUB_CMDLINE_LINUX` in `/etc/default/grub`, then `{}`; systemd-boot: the `options` line of the entry; Pop!_OS: `sudo kernelstub -d \"{shown}\"`; Proxmox with systemd-boot: `/etc/kernel/cmdline`, then `sudo proxmox-boot-tool refresh`). Reboot, and check `cat /proc/cmdline`.",
            grub_update_command(sys)
        );
    }
    let shown = found.join(" ");
    let entries: Vec<&str> = sys.boot_configs.iter().filter(|c| c.loader == Loader::Entry).map(|c| c.path.as_str()).collect();
    let mut steps: Vec<String> = Vec::new();
    for l in &loaders {
        steps.push(match l {
            Loader::Kernelstub => format!("```sh\nsudo kernelstub -d \"{shown}\"\n```"),
            Loader::Entry if loaders.iter().any(|x| matches!(x, Loader::KernelCmdline | Loader::Kernelstub)) => continue,
            Loader::Entry => "Edit the `options` line of the entry; systemd-boot reads it at the next boot.".to_string(),
            other => apply_boot_config(sys, *other, &entries, &shown),
        });
    }
    format!(
        "Remove `{shown}` from the boot loader configuration: it is in {}.\n\n{}\n\nReboot, and check that `cat /proc/cmdline` no longer shows it.",
        at.join(", "),
        steps.join("\n\n")
    )
}

/// A complete libvirt `<hostdev>` element that passes the host PCI device `address` (managed:
/// libvirt binds it to vfio-pci when the VM starts). `guest` is an optional guest-side
/// `<address type='pci' …/>` element; `rom` an optional `<rom …/>` element.
pub fn hostdev_xml(address: &crate::system::PciAddress, guest: Option<&str>, rom: Option<&str>) -> String {
    let (bus, slot, function) = address.bus_slot_function();
    let domain = address.as_str().split(':').next().unwrap_or("0000");
    let mut xml = format!(
        "<hostdev mode='subsystem' type='pci' managed='yes'>\n  <source>\n    <address domain='0x{domain}' bus='0x{bus:02x}' slot='0x{slot:02x}' function='0x{function:x}'/>\n  </source>\n"
    );
    if let Some(rom) = rom {
        xml.push_str(&format!("  {rom}\n"));
    }
    if let Some(guest) = guest {
        xml.push_str(&format!("  {guest}\n"));
    }
    xml.push_str("</hostdev>");
    xml
}

/// The command that rebuilds the initramfs on this distribution (so modprobe.d changes reach
/// early boot).
pub fn initramfs_update_command(sys: &System) -> &'static str {
    // The tool whose configuration the host has (collected with modprobe.d) wins over the distribution.
    let configs: Vec<&str> =
        sys.sources.iter().filter(|s| s.kind == SourceKind::Modprobe && s.status == crate::bundle::Status::Ok).map(|s| s.path.as_str()).collect();
    if configs.iter().any(|p| p.contains("mkinitcpio.conf")) {
        return "sudo mkinitcpio -P";
    }
    if configs.iter().any(|p| p.contains("dracut.conf.d/")) {
        return "sudo dracut -f --regenerate-all";
    }
    if configs.iter().any(|p| p.contains("initramfs-tools/")) {
        return "sudo update-initramfs -u -k all";
    }
    let id = sys.host.distro_id.as_deref().unwrap_or("");
    let is = |x: &str| id.split_whitespace().any(|w| w == x);
    if is("debian") || is("ubuntu") {
        "sudo update-initramfs -u -k all"
    } else if is("fedora") || is("rhel") || is("centos") || is("suse") || is("opensuse") {
        "sudo dracut -f --regenerate-all"
    } else if is("arch") || is("manjaro") || is("endeavouros") {
        "sudo mkinitcpio -P"
    } else {
        "sudo update-initramfs -u -k all   # Debian/Ubuntu; Fedora: sudo dracut -f --regenerate-all; Arch: sudo mkinitcpio -P"
    }
}

/// The Hyper-V vendor id every fix proposes (`<vendor_id state='on' value='…'/>`, at most 12
/// characters): one value, so no two findings disagree (any 12 characters do; this is the one the
/// passthrough guides print).
pub const HV_VENDOR_ID: &str = "0123456789ab";

/// The element libvirt's schema takes for a Hyper-V enlightenment or `<kvm>` feature turned on
/// (`spinlocks` needs `retries`, `vendor_id` a value).
fn feature_on(name: &str) -> String {
    match name {
        "spinlocks" => "<spinlocks state='on' retries='8191'/>".to_string(),
        "vendor_id" => format!("<vendor_id state='on' value='{HV_VENDOR_ID}'/>"),
        other => format!("<{other} state='on'/>"),
    }
}

/// `<parent attrs>` with the children the VM has (as written), those of `add` it lacks or has
/// off turned on: a replacement for the VM's element that drops nothing it had.
fn merged_element(open: &str, close: &str, have: &[(String, String)], add: &[&str]) -> String {
    let mut out = format!("{open}\n");
    let is_on = |text: &str| text.contains("state='on'") || text.contains("state=\"on\"");
    for (name, text) in have {
        let line = if add.contains(&name.as_str()) && !is_on(text) { feature_on(name) } else { text.clone() };
        out.push_str(&format!("  {line}\n"));
    }
    for a in add {
        if !have.iter().any(|(n, _)| n == a) {
            out.push_str(&format!("  {}\n", feature_on(a)));
        }
    }
    out.push_str(close);
    out
}

/// The `<hyperv>` element for `vm`: every child it already has, as written, plus `add` turned on.
/// It replaces the VM's `<hyperv>` inside `<features>` without losing anything.
pub fn hyperv_element(vm: &crate::system::Vm, add: &[&str]) -> String {
    let mode = vm.features.hyperv_mode.as_deref().unwrap_or("custom");
    merged_element(&format!("<hyperv mode='{mode}'>"), "</hyperv>", &vm.features.hyperv_children, add)
}

/// The `<kvm>` element for `vm`: every child it already has, plus `add` turned on.
pub fn kvm_element(vm: &crate::system::Vm, add: &[&str]) -> String {
    merged_element("<kvm>", "</kvm>", &vm.features.kvm_children, add)
}

/// `<hyperv>` and `<kvm>` elements holding only `hyperv` and `kvm` turned on, for a VM whose
/// definition is not in the input.
pub fn bare_feature_elements(hyperv: &[&str], kvm: &[&str]) -> String {
    let mut parts = Vec::new();
    if !hyperv.is_empty() {
        parts.push(merged_element("<hyperv mode='custom'>", "</hyperv>", &[], hyperv));
    }
    if !kvm.is_empty() {
        parts.push(merged_element("<kvm>", "</kvm>", &[], kvm));
    }
    parts.join("\n")
}

/// The VM's own `<topology …/>`, to keep in a replacement `<cpu>` (`None` when it has none).
pub fn cpu_topology(vm: &crate::system::Vm) -> Option<String> {
    let c = &vm.cpu;
    let (sockets, cores, threads) = (c.sockets?, c.cores?, c.threads?);
    let dies = c.dies.map(|d| format!(" dies='{d}'")).unwrap_or_default();
    Some(format!("<topology sockets='{sockets}'{dies} cores='{cores}' threads='{threads}'/>"))
}

/// Markdown steps that dump a GPU's option ROM through sysfs (Documentation/PCI/sysfs-pci.rst:
/// write 1 to `rom` to enable reading it), then check it. `address` is the card when known.
pub fn dump_rom_steps(address: Option<&crate::system::PciAddress>, out_file: &str) -> String {
    let addr = address.map(|a| a.to_string()).unwrap_or_else(|| "0000:BB:DD.F".into());
    let find = if address.is_none() { "Find the card's address with `lspci -nn | grep -E 'VGA|3D'`, then:\n\n" } else { "" };
    let rom = format!("/sys/bus/pci/devices/{addr}/rom");
    format!(
        "{find}```sh\necho 1 | sudo tee {rom}\nsudo cat {rom} > ~/{out_file}\necho 0 | sudo tee {rom}\nvfio-doctor rom ~/{out_file}\n```\n\n\
         Dump it while the host did not boot on this card (boot on the other GPU, or dump after a VM ran on it): \
         the boot GPU's ROM reads back as a shadowed, often truncated copy. In Windows, GPU-Z or the vendor's flash \
         tool (`nvflash --save`, `amdvbflash -s`) save the full ROM."
    )
}

/// A block of remediation Markdown nested under a numbered step (three spaces), blank lines
/// left blank.
pub fn in_step(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { String::new() } else { format!("   {l}") }).collect::<Vec<_>>().join("\n")
}

/// The safe ways out of an IOMMU group the host shares with a passed card, as numbered Markdown
/// steps from `first`: a slot whose group the card has to itself (naming the ones this host
/// has), then the ACS override with its risk. Binding the group's other devices to vfio-pci is
/// never among them when the host needs those (`isolation::host_needs`).
pub fn isolation_ways_out(sys: &System, group: &str, first: usize) -> String {
    let mut r = format!(
        "{first}. **Move the card to a CPU-attached slot** (the top x16 slot on most boards); chipset slots share one group behind the chipset's bridge."
    );
    let own: Vec<String> = sys
        .groups
        .iter()
        .filter(|o| o.id != group)
        .filter(|o| {
            let endpoints: Vec<&crate::system::Device> = o.members.iter().filter_map(|a| sys.device_at(a)).filter(|d| !d.is_bridge()).collect();
            endpoints.iter().any(|d| d.is_gpu()) && endpoints.iter().all(|d| d.address.slot() == endpoints[0].address.slot())
        })
        .filter_map(|o| {
            let gpu = o.members.iter().filter_map(|a| sys.device_at(a)).find(|d| d.is_gpu())?;
            Some(format!("group {} holds only {} and its functions", o.id, gpu.label()))
        })
        .collect();
    if own.is_empty() {
        r.push_str(" Check the new slot's group with `find /sys/kernel/iommu_groups/ -type l` before moving things back.\n");
    } else {
        r.push_str(&format!(
            " On this host {}: that slot is isolated, so swapping the cards (and choosing the host's display in the firmware) gives the VM a clean group.\n",
            own.join("; ")
        ));
    }
    r.push_str(&format!(
        "{}. **ACS override** (needs a kernel carrying the out-of-tree patch: linux-zen, linux-vfio, the Proxmox kernel): \
         it makes the kernel pretend the chipset's ports isolate their devices.\n\n",
        first + 1
    ));
    r.push_str(&in_step(&add_kernel_options(sys, &["pcie_acs_override=downstream,multifunction"])));
    r.push_str(
        "\n\n   Risk: the isolation is only pretended. The guest's card can still reach the other devices of the \
         group by peer-to-peer DMA without the IOMMU seeing it, so a malicious or buggy guest driver can read or \
         corrupt host memory through them. Acceptable on a single-user desktop, not on a shared host.\n",
    );
    r
}

/// "02:00.1 (storage controller, ahci)": devices the host needs, for a sentence that says they
/// stay with the host.
pub fn host_needed_list(devices: &[(&crate::system::Device, crate::system::isolation::HostCritical)]) -> String {
    devices
        .iter()
        .map(|(d, why)| match d.driver.as_deref() {
            Some(drv) if !why.describe().contains(drv) => format!("{} ({}, {drv})", d.label(), why.describe()),
            _ => format!("{} ({})", d.label(), why.describe()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- VM definitions: libvirt or Proxmox VE ----------------------------------------------

/// One setting of a Proxmox VE VM configuration to write (`key: value`), or to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QmSet {
    pub key: String,
    /// `None` removes the key (`qm set VMID --delete KEY`).
    pub value: Option<String>,
}

impl QmSet {
    pub fn set(key: impl Into<String>, value: impl Into<String>) -> QmSet {
        QmSet { key: key.into(), value: Some(value.into()) }
    }
    pub fn delete(key: impl Into<String>) -> QmSet {
        QmSet { key: key.into(), value: None }
    }
}

/// What a rule wants changed in a Proxmox VE VM: the settings, with Markdown before them
/// (`lead`, e.g. copying a ROM into /usr/share/kvm) and after them (`note`).
#[derive(Debug, Clone, Default)]
pub struct PveFix {
    pub lead: String,
    pub set: Vec<QmSet>,
    pub note: String,
}

/// The remediation of a change to a VM's definition, in the terms of what manages the VM: on
/// Proxmox VE `qm set` (never `virsh edit`: Proxmox does not use libvirt), elsewhere libvirt's
/// domain XML. A rule states both once; the VM's origin picks.
pub fn vm_remediation(vm: &crate::system::Vm, libvirt: impl FnOnce() -> String, pve: impl FnOnce(&crate::system::pve::PveVm) -> PveFix) -> String {
    match &vm.pve {
        Some(p) => render_pve(p, &pve(p)),
        None => libvirt(),
    }
}

/// A value as one shell word: single-quoted when it holds anything a shell would act on.
fn shell_word(v: &str) -> String {
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.,:=/+@%".contains(c)) {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

/// The `qm set` command that makes `set`, then how to apply it.
pub fn render_pve(p: &crate::system::pve::PveVm, fix: &PveFix) -> String {
    if fix.set.is_empty() {
        // Nothing to change in the configuration (the fix is on the host).
        return [fix.lead.as_str(), fix.note.as_str()].iter().filter(|t| !t.is_empty()).copied().collect::<Vec<_>>().join("\n\n");
    }
    let id = p.id();
    let mut cmd = format!("qm set {id}");
    let deleted: Vec<&str> = fix.set.iter().filter(|s| s.value.is_none()).map(|s| s.key.as_str()).collect();
    for s in &fix.set {
        if let Some(v) = &s.value {
            cmd.push_str(&format!(" --{} {}", s.key, shell_word(v)));
        }
    }
    if !deleted.is_empty() {
        cmd.push_str(&format!(" --delete {}", deleted.join(",")));
    }
    let mut out = String::new();
    if !fix.lead.is_empty() {
        out.push_str(&fix.lead);
        out.push_str("\n\n");
    }
    let file = match &p.vmid {
        Some(v) => format!("`/etc/pve/qemu-server/{v}.conf`"),
        None => "the VM's configuration".to_string(),
    };
    out.push_str(&format!(
        "On the Proxmox VE host (as root):\n\n```sh\n{cmd}\n```\n\n`qm set` writes {file}; then shut the VM down and start it again \
         (`qm shutdown {id} && qm start {id}`): a reboot from inside the guest keeps the running QEMU and its old settings."
    ));
    if !fix.note.is_empty() {
        out.push_str("\n\n");
        out.push_str(&fix.note);
    }
    out
}

/// Proxmox: new `hostpciN` entries that pass `addresses`, one per card (every function of a
/// card in one entry, by its address without a function, as the GUI's "All Functions" does).
pub fn pve_pass_devices(p: &crate::system::pve::PveVm, addresses: &[&crate::system::PciAddress], lead: &str) -> PveFix {
    let mut set = Vec::new();
    let mut next = p.free_hostpci();
    let mut slots: Vec<&str> = Vec::new();
    for a in addresses {
        if slots.contains(&a.slot()) {
            continue;
        }
        slots.push(a.slot());
        let whole = addresses.iter().filter(|x| x.slot() == a.slot()).count() > 1;
        let host = if whole { a.slot().to_string() } else { a.to_string() };
        set.push(QmSet::set(format!("hostpci{next}"), format!("{host}{}", if p.is_q35() { ",pcie=1" } else { "" })));
        next = (next + 1..16).find(|i| p.get(&format!("hostpci{i}")).is_none()).unwrap_or(15);
    }
    PveFix { lead: lead.to_string(), set, note: String::new() }
}

/// Proxmox `args:` with `key=value` set in the `-device vfio-pci,…` option that passes `address`
/// (the option replaced when present, appended otherwise); `None` when no such device is there.
pub fn pve_args_device_option(args: &str, address: &crate::system::PciAddress, key: &str, value: &str) -> Option<String> {
    let mut found = false;
    let words: Vec<String> = args
        .split(' ')
        .map(|w| {
            let bare = w.trim_matches(['\'', '"']);
            let passes = bare.starts_with("vfio-pci,")
                && bare.split(',').filter_map(|o| o.strip_prefix("host=")).any(|h| crate::system::PciAddress::parse(h).as_ref() == Some(address));
            if !passes || found {
                return w.to_string();
            }
            found = true;
            let mut opts: Vec<String> = bare.split(',').map(str::to_string).collect();
            match opts.iter().position(|o| o.starts_with(&format!("{key}="))) {
                Some(i) => opts[i] = format!("{key}={value}"),
                None => opts.push(format!("{key}={value}")),
            }
            w.replace(bare, &opts.join(","))
        })
        .collect();
    found.then(|| words.join(" "))
}

/// A Proxmox property string (`host,hidden=1,flags=+pcid`) with `default` as its first, keyless
/// value and `set` options replaced, added or (`None`) removed, others kept in order.
pub fn property_string(value: Option<&str>, default: &str, set: &[(&str, Option<&str>)]) -> String {
    let mut parts: Vec<(String, String)> = Vec::new();
    for (n, part) in value.unwrap_or("").split(',').filter(|p| !p.trim().is_empty()).enumerate() {
        match part.split_once('=') {
            Some((k, v)) if !(n == 0 && matches!(k, "cputype" | "type")) => parts.push((k.trim().into(), v.trim().into())),
            _ => {}
        }
    }
    crate::system::pve::apply_settings(&mut parts, set);
    let mut out = default.to_string();
    for (k, v) in parts {
        out.push_str(&format!(",{k}={v}"));
    }
    out
}

/// The storage of the VM's first disk (`local-lvm` of `scsi0: local-lvm:vm-100-disk-0,…`), where
/// a new EFI disk would go; `STORAGE` when it has none.
pub fn pve_storage(p: &crate::system::pve::PveVm) -> String {
    let disk = ["scsi", "virtio", "sata", "ide"].iter().find_map(|bus| {
        p.settings.iter().find(|s| {
            s.key.strip_prefix(bus).is_some_and(|n| n.parse::<u32>().is_ok()) && !s.value.contains("media=cdrom") && !s.value.starts_with("none")
        })
    });
    disk.and_then(|s| s.value.split_once(':').map(|(st, _)| st.to_string())).filter(|s| !s.contains(',') && !s.starts_with('/')).unwrap_or_else(|| "STORAGE".into())
}

#[cfg(test)]
mod pve_tests {
    use super::*;

    #[test]
    fn property_strings_keep_what_they_do_not_change() {
        assert_eq!(property_string(Some("kvm64,flags=+pcid"), "host", &[]), "host,flags=+pcid");
        assert_eq!(property_string(Some("cputype=host,hidden=0"), "host", &[("hidden", Some("1")), ("hv-vendor-id", Some("proxmox"))]), "host,hidden=1,hv-vendor-id=proxmox");
        assert_eq!(property_string(None, "host", &[]), "host");
        assert_eq!(shell_word("host,flags=+pcid;+topoext"), "'host,flags=+pcid;+topoext'");
        assert_eq!(shell_word("0000:01:00,pcie=1,x-vga=1"), "0000:01:00,pcie=1,x-vga=1");
        let igd = crate::system::PciAddress::parse("00:02.0").unwrap();
        assert_eq!(
            pve_args_device_option("-device vfio-pci,host=00:02.0,addr=0x02,romfile=old.bin -uuid x", &igd, "romfile", "new.rom").as_deref(),
            Some("-device vfio-pci,host=00:02.0,addr=0x02,romfile=new.rom -uuid x")
        );
        assert_eq!(pve_args_device_option("-device 'vfio-pci,host=0000:00:02.0'", &igd, "romfile", "a.rom").as_deref(), Some("-device 'vfio-pci,host=0000:00:02.0,romfile=a.rom'"));
        assert_eq!(pve_args_device_option("-cpu host", &igd, "romfile", "a.rom"), None);
    }
}
