//! Boot loader configuration, to compare with what actually booted: GRUB's defaults,
//! /etc/kernel/cmdline, systemd-boot entries, kernelstub.

use super::files::collect_matching;
use super::{Collector, Options};
use crate::bundle::{Bundle, SourceKind};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::BootConfig,
    about: "boot loader configuration (GRUB, systemd-boot, kernel-install, proxmox-boot-tool, kernelstub)",
    reads: &[
        "etc/default/grub",
        "etc/default/grub.d/*.cfg",
        "etc/kernel/cmdline",
        // proxmox-boot-tool's list of the ESPs it keeps in sync: where it exists, an edited
        // /etc/kernel/cmdline (or GRUB config) reaches the boot menu only after `proxmox-boot-tool refresh`.
        "etc/kernel/proxmox-boot-uuids",
        "boot/loader/entries/*.conf",
        "efi/loader/entries/*.conf",
        "boot/efi/loader/entries/*.conf",
        "etc/kernelstub/configuration",
    ],
    runs: &[],
    needs_root: false,
    collect,
};

fn collect(root: &Root, options: &Options, bundle: &mut Bundle) {
    collect_matching(root, bundle, SourceKind::BootConfig, COLLECTOR.reads, false, None, options);
}
