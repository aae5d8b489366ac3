//! QEMU logs libvirt keeps per domain: var/log/libvirt/qemu/NAME.log and the rotated NAME.log.N.

use super::files::collect_matching;
use super::{Collector, Options};
use crate::bundle::{Bundle, SourceKind};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::QemuLog,
    about: "QEMU logs of libvirt domains (current and rotated)",
    reads: &["var/log/libvirt/qemu/*.log", "var/log/libvirt/qemu/*.log.*"],
    runs: &[],
    needs_root: true,
    collect,
};

/// `var/log/libvirt/qemu/win10.log.0` → `win10`.
pub fn domain_of(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let at = name.find(".log")?;
    Some(name[..at].to_string())
}

fn collect(root: &Root, options: &Options, bundle: &mut Bundle) {
    // A Proxmox VE node without libvirt: its VMs are qemu-server's, and a missing libvirt source
    // would only be noise in the report.
    if super::pve::is_pve(root) && !root.exists("var/log/libvirt") {
        return;
    }
    collect_matching(
        root,
        bundle,
        SourceKind::QemuLog,
        // Compressed rotations (.gz) are not read.
        &["var/log/libvirt/qemu/*.log", "var/log/libvirt/qemu/*.log.0", "var/log/libvirt/qemu/*.log.1", "var/log/libvirt/qemu/*.log.2"],
        true,
        Some(&domain_of),
        options,
    );
}
