//! Xorg logs: the system's var/log/Xorg.N.log (and .old) and rootless X's per-user
//! ~/.local/share/xorg/Xorg.N.log.

use super::files::collect_matching;
use super::{Collector, Options};
use crate::bundle::{Bundle, SourceKind};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::XorgLog,
    about: "Xorg server logs (system and per-user)",
    reads: &["var/log/Xorg.*.log", "var/log/Xorg.*.log.old", "home/*/.local/share/xorg/Xorg.*.log"],
    runs: &[],
    needs_root: false,
    collect,
};

fn collect(root: &Root, options: &Options, bundle: &mut Bundle) {
    collect_matching(root, bundle, SourceKind::XorgLog, COLLECTOR.reads, false, None, options);
}
