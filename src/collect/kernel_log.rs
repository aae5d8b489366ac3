//! Kernel log of this boot. Live: /dev/kmsg read non-blocking, else `journalctl -k -b 0`.
//! Under --root: var/log/dmesg, else var/log/kern.log, else the root's journal.

use std::io::Read;

use super::{command_source, read_source, unreadable, Capture, Captured, Collector, Options, LOG_CAPS};
use crate::bundle::{Bundle, Source, SourceKind, Status};
use crate::root::{Cmd, ReadError, Root};
use crate::signatures::SignatureSet;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::KernelLog,
    about: "kernel ring buffer of this boot",
    reads: &["dev/kmsg", "var/log/dmesg", "var/log/kern.log", "var/log/journal"],
    runs: &["journalctl -k -b 0 --no-pager"],
    needs_root: true,
    collect,
};

fn collect(root: &Root, options: &Options, bundle: &mut Bundle) {
    let source = if root.is_live() { live(root, &options.keep) } else { from_root(root, &options.keep) };
    bundle.sources.push(source);
}

fn live(root: &Root, keep: &SignatureSet) -> Source {
    let kmsg_problem = match read_kmsg(root, keep) {
        Ok(captured) => {
            let (text, cut) = captured.into_text();
            let mut s = Source::ok(SourceKind::KernelLog, "dev/kmsg", "/dev/kmsg", text);
            s.cut = cut;
            return s;
        }
        Err(e) => e,
    };
    let mut s = command_source(SourceKind::KernelLog, &Cmd::JournalctlKernel { boot: 0, dir: None }, keep);
    let journal_empty = s.text.as_deref().map(journal_is_empty).unwrap_or(false);
    if s.is_ok() && !journal_empty {
        let cut_short = s.reason.take().map(|r| format!(" ({r})")).unwrap_or_default();
        s.reason = Some(format!("/dev/kmsg: {kmsg_problem}; used the journal instead{cut_short}"));
        return s;
    }
    let status = if kmsg_problem == ReadError::PermissionDenied { Status::PermissionDenied } else { Status::Error };
    let journal = if journal_empty { "the journal has no kernel entries".to_string() } else { s.reason.unwrap_or_default() };
    let hint = if kmsg_problem == ReadError::PermissionDenied { " (run as root)" } else { "" };
    Source::failed(
        SourceKind::KernelLog,
        "dev/kmsg",
        "/dev/kmsg, journalctl -k -b 0 --no-pager",
        status,
        format!("/dev/kmsg: {kmsg_problem}{hint}; {journal}"),
    )
}

/// `journalctl` prints these (exit 0) when it has nothing.
pub(super) fn journal_is_empty(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || t == "-- No entries --" || t.starts_with("No journal files were found")
}

/// Read every record currently in /dev/kmsg without blocking, rendered the way `dmesg` prints
/// them (`[    1.234567] message`) into a capture. Records are `PRI,SEQ,USEC,FLAGS;message` with
/// optional continuation lines (` KEY=value`) that we drop (Documentation/ABI/testing/dev-kmsg).
fn read_kmsg(root: &Root, keep: &SignatureSet) -> Result<Captured, ReadError> {
    let mut file = root.open_device("dev/kmsg")?;
    let mut out = Capture::new(LOG_CAPS, keep);
    // One record never exceeds 8 KiB of text (PRINTKRB_RECORD_MAX); a smaller buffer gives EINVAL.
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let record = String::from_utf8_lossy(&buf[..n]);
                let first = record.lines().next().unwrap_or("");
                if let Some((prefix, message)) = first.split_once(';') {
                    let usec: u64 = prefix.split(',').nth(2).and_then(|u| u.parse().ok()).unwrap_or(0);
                    out.feed(format!("[{:5}.{:06}] {}\n", usec / 1_000_000, usec % 1_000_000, message).as_bytes());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // The oldest records were overwritten while we read: keep going from the next one.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out.finish())
}

fn from_root(root: &Root, keep: &SignatureSet) -> Source {
    for rel in ["var/log/dmesg", "var/log/kern.log"] {
        let s = read_source(root, SourceKind::KernelLog, rel, false, keep);
        if s.is_ok() {
            return s;
        }
    }
    if root.exists("var/log/journal") {
        let dir = root.base().join("var/log/journal");
        let cmd = Cmd::JournalctlKernel { boot: 0, dir: Some(dir) };
        let mut s = command_source(SourceKind::KernelLog, &cmd, keep);
        s.path = "var/log/journal".into();
        return s;
    }
    let err = ReadError::Missing;
    let mut s = unreadable(SourceKind::KernelLog, root, "var/log/dmesg", &err, false);
    s.reason = Some(format!(
        "none of {}, {} or {} exists",
        root.display("var/log/dmesg"),
        root.display("var/log/kern.log"),
        root.display("var/log/journal")
    ));
    s
}
