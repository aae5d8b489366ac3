//! Collection: one small module per source, each declaring what it reads and runs (like sos
//! report's plugins), all reading through a [`Root`]. A failure becomes a source status,
//! never an error: collection always returns a bundle.

mod boot_config;
mod capture;
mod cmdline;
pub mod files;
mod host;
mod iomem;
mod iommu;
mod kernel_log;
pub mod libvirt;
mod modprobe;
mod module_params;
mod net;
mod pci;
pub mod qemu_log;
mod xorg_log;

pub use capture::{capture_text, TEXT_CAP};

use crate::bundle::{Bundle, Source, SourceKind, Status};
use crate::root::{Cmd, ReadError, Root};

/// What a collector declares about itself; `collect --list` prints these.
pub struct Collector {
    pub source: SourceKind,
    pub about: &'static str,
    /// Paths (relative to the root, globs allowed) it may read.
    pub reads: &'static [&'static str],
    /// Programs it may run (live only).
    pub runs: &'static [&'static str],
    pub needs_root: bool,
    pub collect: fn(&Root, &Options, &mut Bundle),
}

/// What the user asked collection to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only this libvirt domain (`--vm NAME`).
    pub vm: Option<String>,
}

/// Every collector, in the order they run.
pub const COLLECTORS: &[Collector] = &[
    host::COLLECTOR,
    cmdline::COLLECTOR,
    pci::COLLECTOR,
    iommu::COLLECTOR,
    kernel_log::COLLECTOR,
    libvirt::COLLECTOR,
    qemu_log::COLLECTOR,
    xorg_log::COLLECTOR,
    modprobe::COLLECTOR,
    boot_config::COLLECTOR,
    iomem::COLLECTOR,
    module_params::COLLECTOR,
    net::COLLECTOR,
];

/// Collect everything from `root` into a new bundle (not yet redacted).
pub fn collect(root: &Root, options: &Options) -> Bundle {
    let mut bundle = Bundle::new();
    for c in COLLECTORS {
        (c.collect)(root, options, &mut bundle);
    }
    bundle
}

/// A source for a file that could not be read, with the reason phrased for the user.
pub(crate) fn unreadable(kind: SourceKind, root: &Root, rel: &str, err: &ReadError, needs_root: bool) -> Source {
    let (status, reason) = match err {
        ReadError::Missing => (Status::Missing, format!("{} does not exist", root.display(rel))),
        ReadError::PermissionDenied if needs_root && root.is_live() => {
            (Status::PermissionDenied, format!("permission denied: {} (run as root)", root.display(rel)))
        }
        ReadError::PermissionDenied => (Status::PermissionDenied, format!("permission denied: {}", root.display(rel))),
        ReadError::Other(why) => (Status::Error, format!("{}: {why}", root.display(rel))),
    };
    Source::failed(kind, rel, "file", status, reason)
}

/// Read one text file into a source, keeping head and tail within [`TEXT_CAP`].
pub(crate) fn text_file(root: &Root, kind: SourceKind, rel: &str, needs_root: bool) -> Source {
    match root.read_bytes(rel, TEXT_CAP * 4) {
        Ok(read) => {
            let (text, cut) = capture_text(&read.bytes, read.capped);
            let mut s = Source::ok(kind, rel, "file", text);
            s.cut = cut;
            s
        }
        Err(e) => unreadable(kind, root, rel, &e, needs_root),
    }
}

/// Run an allowed command into a source.
pub(crate) fn command_source(kind: SourceKind, cmd: &Cmd) -> Source {
    match cmd.run(TEXT_CAP * 4, std::time::Duration::from_secs(20)) {
        crate::root::CmdOutput::Ok { stdout, capped } => {
            let (text, cut) = capture_text(stdout.as_bytes(), capped);
            let mut s = Source::ok(kind, cmd.describe(), cmd.describe(), text);
            s.cut = cut;
            s
        }
        crate::root::CmdOutput::Failed(why) => Source::failed(kind, cmd.describe(), cmd.describe(), Status::Error, why),
    }
}
