//! Module configuration: modprobe.d, modules-load.d and the initramfs configs that name vfio
//! (initramfs-tools, mkinitcpio, dracut).

use super::files::collect_matching;
use super::{Collector, Options};
use crate::bundle::{Bundle, SourceKind};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::Modprobe,
    about: "module options, blacklists, softdeps and initramfs module lists",
    reads: &[
        "etc/modprobe.d/*.conf",
        "usr/lib/modprobe.d/*.conf",
        "lib/modprobe.d/*.conf",
        "etc/modules-load.d/*",
        "etc/modules",
        "etc/initramfs-tools/modules",
        "etc/mkinitcpio.conf",
        "etc/mkinitcpio.conf.d/*.conf",
        "etc/dracut.conf.d/*",
    ],
    runs: &[],
    needs_root: false,
    collect,
};

fn collect(root: &Root, options: &Options, bundle: &mut Bundle) {
    collect_matching(root, bundle, SourceKind::Modprobe, COLLECTOR.reads, false, None, options);
}
