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
