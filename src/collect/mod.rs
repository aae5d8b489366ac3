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
mod kernel_log_previous;
pub mod libvirt;
mod modprobe;
mod module_params;
mod net;
mod pci;
pub mod pve;
pub mod qemu_log;
mod xorg_log;

pub use capture::{capture_bytes, capture_reader, strip_stamp, Capture, Captured, Caps, FILE_CAPS, LOG_CAPS};

use crate::bundle::{Bundle, Source, SourceKind, Status};
use crate::root::{Cmd, ReadError, Root};
use crate::signatures::{Keep, SignatureSet};

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
    /// The lines a long log must keep from between its head and tail (the rule catalog's
    /// signatures, `rules::signatures`); empty keeps head and tail only.
    pub keep: Keep,
}

/// Every collector, in the order they run.
pub const COLLECTORS: &[Collector] = &[
    host::COLLECTOR,
    cmdline::COLLECTOR,
    pci::COLLECTOR,
    iommu::COLLECTOR,
    kernel_log::COLLECTOR,
    kernel_log_previous::COLLECTOR,
    libvirt::COLLECTOR,
    qemu_log::COLLECTOR,
    pve::VM_CONFIGS,
    pve::MAPPINGS,
    pve::TASK_LOGS,
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

/// Whether sources of `kind` are logs: long ones keep their signature lines, folded.
pub fn is_log(kind: SourceKind) -> bool {
    kind.is_log()
}

/// How much of a text of `kind` a bundle keeps.
pub fn caps_for(kind: SourceKind) -> Caps {
    if is_log(kind) {
        LOG_CAPS
    } else {
        FILE_CAPS
    }
}

/// Read one text file into a source, as a stream: head and tail within [`FILE_CAPS`].
pub(crate) fn text_file(root: &Root, kind: SourceKind, rel: &str, needs_root: bool) -> Source {
    read_source(root, kind, rel, needs_root, &SignatureSet::default())
}

/// Read one file into a source, as a stream, whatever its size: a log keeps head, tail and
/// the lines of `keep` between them ([`LOG_CAPS`]); other text head and tail ([`FILE_CAPS`]).
pub(crate) fn read_source(root: &Root, kind: SourceKind, rel: &str, needs_root: bool, keep: &SignatureSet) -> Source {
    let read = root.open_file(rel).and_then(|file| capture_reader(file, caps_for(kind), keep).map_err(ReadError::from));
    match read {
        Ok(captured) => {
            let (text, cut) = captured.into_text();
            let mut s = Source::ok(kind, rel, "file", text);
            s.cut = cut;
            s
        }
        Err(e) => unreadable(kind, root, rel, &e, needs_root),
    }
}

/// Run an allowed command into a source, its output captured as it streams.
pub(crate) fn command_source(kind: SourceKind, cmd: &Cmd, keep: &SignatureSet) -> Source {
    let run = cmd.run_streaming(std::time::Duration::from_secs(20), |out| capture_reader(out, caps_for(kind), keep));
    match run {
        Ok((Ok(captured), cut_short)) => {
            let (text, cut) = captured.into_text();
            let mut s = Source::ok(kind, cmd.describe(), cmd.describe(), text);
            s.cut = cut;
            // Killed at the time limit (a flooded journal): what it printed is still evidence.
            s.reason = cut_short.map(|why| format!("{why}; what it printed until then is kept"));
            s
        }
        Ok((Err(e), _)) => Source::failed(kind, cmd.describe(), cmd.describe(), Status::Error, format!("reading its output: {e}")),
        Err(why) => Source::failed(kind, cmd.describe(), cmd.describe(), Status::Error, why),
    }
}
