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

/// The libvirt domains a root has (defined, running, or with a QEMU log), by name; `Err` when
/// a directory they live in could not be listed (libvirt's are root-only), so nobody can tell.
pub fn domains(root: &Root) -> Result<Vec<String>, crate::root::ReadError> {
    let mut names = Vec::new();
    for (dir, of) in [
        ("etc/libvirt/qemu", domain_of as fn(&str) -> Option<String>),
        ("run/libvirt/qemu", domain_of),
        ("var/log/libvirt/qemu", super::qemu_log::domain_of),
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
