//! /proc/iomem: which resource (BOOTFB, efifb, simpledrm…) sits inside a GPU's BAR. Without
//! root every address reads as zero; the source says so.

use super::{text_file, Collector, Options};
use crate::bundle::{Bundle, SourceKind, Status};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::Iomem,
    about: "physical memory map (addresses need root)",
    reads: &["proc/iomem"],
    runs: &[],
    needs_root: true,
    collect,
};

fn collect(root: &Root, _: &Options, bundle: &mut Bundle) {
    let mut s = text_file(root, SourceKind::Iomem, "proc/iomem", true);
    if let Some(text) = &s.text {
        let zeroed = !text.is_empty()
            && text.lines().filter_map(|l| l.split_whitespace().next()).all(|r| r.chars().all(|c| c == '0' || c == '-'));
        if zeroed {
            s.status = Status::PermissionDenied;
            s.reason = Some(format!("{}: addresses are hidden without root (run as root)", root.display("proc/iomem")));
            s.text = None;
        }
    }
    bundle.sources.push(s);
}
