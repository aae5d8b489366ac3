//! Kernel log of the previous boot: a blue-screen loop, a hang or a host crash leaves its
//! evidence in the boot before the one being diagnosed. Live: `journalctl -k -b -1`. Under
//! --root: `var/log/dmesg.0` (Debian/Ubuntu keep the last boot's dmesg there), else the root's
//! journal with `-b -1`.

use super::{command_source, read_source, Collector, Options};
use crate::bundle::{Bundle, Source, SourceKind, Status};
use crate::root::{Cmd, Root};
use crate::signatures::SignatureSet;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::KernelLogPrevious,
    about: "kernel log of the previous boot",
    reads: &["var/log/dmesg.0", "var/log/journal"],
    runs: &["journalctl -k -b -1 --no-pager"],
    needs_root: false,
    collect,
};

fn collect(root: &Root, options: &Options, bundle: &mut Bundle) {
    let source = if root.is_live() { journal(None, &options.keep) } else { from_root(root, &options.keep) };
    bundle.sources.push(source);
}

fn from_root(root: &Root, keep: &SignatureSet) -> Source {
    let s = read_source(root, SourceKind::KernelLogPrevious, "var/log/dmesg.0", false, keep);
    if s.is_ok() {
        return s;
    }
    if root.exists("var/log/journal") {
        let mut s = journal(Some(root.base().join("var/log/journal")), keep);
        s.path = "var/log/journal".into();
        return s;
    }
    Source::failed(
        SourceKind::KernelLogPrevious,
        "var/log/dmesg.0",
        "file",
        Status::Missing,
        format!("neither {} nor {} exists", root.display("var/log/dmesg.0"), root.display("var/log/journal")),
    )
}

/// `journalctl -k -b -1` (of the journal in `dir`, or the system's). A journal that keeps only
/// this boot (volatile storage) has no previous one: that is a missing source, not an error.
fn journal(dir: Option<std::path::PathBuf>, keep: &SignatureSet) -> Source {
    let mut s = command_source(SourceKind::KernelLogPrevious, &Cmd::JournalctlKernel { boot: -1, dir }, keep);
    let empty = s.text.as_deref().is_some_and(super::kernel_log::journal_is_empty);
    if !s.is_ok() || empty {
        let why = s.reason.take().unwrap_or_else(|| "no entries".into());
        s.status = Status::Missing;
        s.text = None;
        s.reason = Some(if why.contains("No journal files") {
            format!("no journal to read an earlier boot from ({why})")
        } else {
            format!("the journal holds no earlier boot ({why}); a persistent journal (`Storage=persistent` in /etc/systemd/journald.conf) keeps it")
        });
    }
    s
}
