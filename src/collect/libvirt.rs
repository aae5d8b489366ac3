//! libvirt domain XML: defined domains (etc/libvirt/qemu/*.xml) and running ones with their
//! live addresses (run/libvirt/qemu/*.xml). `--vm NAME` keeps one domain.

use super::files::collect_matching;
use super::{Collector, Options};
use crate::bundle::{Bundle, SourceKind};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::DomainXml,
    about: "libvirt domain definitions (defined and running)",
    reads: &["etc/libvirt/qemu/*.xml", "run/libvirt/qemu/*.xml"],
    runs: &[],
    needs_root: true,
    collect,
};

/// `etc/libvirt/qemu/win10.xml` → `win10`.
pub fn domain_of(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    name.strip_suffix(".xml").map(str::to_string)
}

fn collect(root: &Root, options: &Options, bundle: &mut Bundle) {
    // A Proxmox VE node without libvirt: its VMs are qemu-server's, and a missing libvirt source
    // would only be noise in the report.
    if super::pve::is_pve(root) && !root.exists("etc/libvirt") {
        return;
    }
    collect_matching(
        root,
        bundle,
        SourceKind::DomainXml,
        &["etc/libvirt/qemu/*.xml", "run/libvirt/qemu/*.xml"],
        true,
        Some(&domain_of),
        options,
    );
}

/// The VMs a root has, by the name `--vm` takes: libvirt domains (defined, running, or with a
/// QEMU log) and Proxmox VE VMIDs; `Err` when a directory they live in could not be listed
/// (libvirt's and pmxcfs's are root-only), so nobody can tell.
pub fn domains(root: &Root) -> Result<Vec<String>, crate::root::ReadError> {
    let mut names: Vec<String> = super::files::glob(root, "etc/pve/nodes/*/qemu-server/*.conf").iter().filter_map(|p| super::pve::vmid_of_config(p)).collect();
    for (dir, of) in [
        ("etc/libvirt/qemu", domain_of as fn(&str) -> Option<String>),
        ("run/libvirt/qemu", domain_of),
        ("var/log/libvirt/qemu", super::qemu_log::domain_of),
        ("etc/pve/qemu-server", super::pve::vmid_of_config),
    ] {
        match root.list_dir(dir) {
            Ok(entries) => names.extend(entries.iter().filter_map(|e| of(e))),
            Err(crate::root::ReadError::Missing) => {}
            Err(e) => return Err(e),
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}
