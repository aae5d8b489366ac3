//! The running kernel's command line, /proc/cmdline.

use super::{text_file, Collector, Options};
use crate::bundle::{Bundle, SourceKind};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::Cmdline,
    about: "the command line the running kernel booted with",
    reads: &["proc/cmdline"],
    runs: &[],
    needs_root: false,
    collect,
};

fn collect(root: &Root, _: &Options, bundle: &mut Bundle) {
    bundle.sources.push(text_file(root, SourceKind::Cmdline, "proc/cmdline", false));
}
