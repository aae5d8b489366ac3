//! `Root`: the only way collection reads the host, either `/` (live) or a `--root DIR` tree.
//! It has read methods only. Symlinks are resolved by reading the link text and walking it
//! inside the root, never by letting the OS follow it out of the root; loops end in an error.
//! Commands come from the closed [`Cmd`] list and run without a shell.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::Error;

/// Why something under the root could not be read. Collectors turn this into a source status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    Missing,
    PermissionDenied,
    Other(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => f.write_str("missing"),
            ReadError::PermissionDenied => f.write_str("permission denied"),
            ReadError::Other(why) => f.write_str(why),
        }
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => ReadError::Missing,
            std::io::ErrorKind::PermissionDenied => ReadError::PermissionDenied,
            _ => match e.raw_os_error() {
                Some(libc::EPERM) => ReadError::PermissionDenied,
                Some(libc::ELOOP) => ReadError::Other("symlink loop".into()),
                _ => ReadError::Other(e.to_string()),
            },
        }
    }
}

/// Bytes read from a file, and whether the read stopped at the cap.
#[derive(Debug)]
pub struct ReadBytes {
    pub bytes: Vec<u8>,
    pub capped: bool,
}

/// How many links one path may pass through before we call it a loop (the kernel's MAXSYMLINKS).
const MAX_LINKS: usize = 40;

#[derive(Debug, Clone)]
pub struct Root {
    base: PathBuf,
    live: bool,
}

impl Root {
    /// The running host.
    pub fn live() -> Root {
        Root { base: PathBuf::from("/"), live: true }
    }

    /// A tree that looks like a host's `/` (a mounted disk, a fixture).
    pub fn at(dir: &Path) -> Result<Root, Error> {
        let meta = std::fs::metadata(dir)
            .map_err(|e| Error::input(dir, format!("cannot use as --root: {}", ReadError::from(e))))?;
        if !meta.is_dir() {
            return Err(Error::input(dir, "cannot use as --root: not a directory"));
        }
        Ok(Root { base: dir.to_path_buf(), live: false })
    }

    pub fn is_live(&self) -> bool {
        self.live
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The path as the user would name it: `/proc/cmdline` live, `DIR/proc/cmdline` otherwise.
    pub fn display(&self, rel: &str) -> String {
        self.base.join(rel.trim_start_matches('/')).display().to_string()
    }

    /// Resolve `rel` inside the root, walking every symlink by hand. The result contains no
    /// symlink, so opening it follows nothing. `..` never climbs above the root.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, ReadError> {
        let mut done: Vec<std::ffi::OsString> = Vec::new();
        let mut todo: Vec<std::ffi::OsString> = components(Path::new(rel)).into_iter().rev().collect();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            if part == OsStr::new("..") {
                done.pop();
                continue;
            }
            let candidate = self.join(&done).join(&part);
            let meta = std::fs::symlink_metadata(&candidate)?;
            if !meta.file_type().is_symlink() {
                done.push(part);
                continue;
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(ReadError::Other("symlink loop".into()));
            }
            let target = std::fs::read_link(&candidate)?;
            if target.is_absolute() {
                done.clear();
            }
            for c in components(&target).into_iter().rev() {
                todo.push(c);
            }
        }
        Ok(self.join(&done))
    }

    fn join(&self, parts: &[std::ffi::OsString]) -> PathBuf {
        let mut p = self.base.clone();
        for part in parts {
            p.push(part);
        }
        p
    }

    /// The last component of a symlink's target (`driver` → `vfio-pci`), without following it.
    pub fn link_name(&self, rel: &str) -> Result<String, ReadError> {
        let (dir, name) = split_last(rel);
        let path = self.resolve(dir)?.join(name);
        let target = std::fs::read_link(&path)?;
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| ReadError::Other(format!("link target {} has no name", target.display())))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.resolve(rel).is_ok()
    }

    /// Names in a directory, sorted. Entries are not followed. Hidden names (`.keep`, editor
    /// backups) are left out: sysfs and procfs have none, and config loaders skip them.
    pub fn list_dir(&self, rel: &str) -> Result<Vec<String>, ReadError> {
        let dir = self.resolve(rel)?;
        let mut names: Vec<String> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Read at most `cap` bytes of a regular file (or a character device such as /dev/kmsg
    /// when `allow_device` is set). Opened non-blocking, so a FIFO never hangs us.
    pub fn read_bytes(&self, rel: &str, cap: u64) -> Result<ReadBytes, ReadError> {
        let path = self.resolve(rel)?;
        read_capped(&path, cap)
    }

    /// Open a file (resolved inside the root) to read it as a stream, whatever its size.
    pub fn open_file(&self, rel: &str) -> Result<File, ReadError> {
        open_read(&self.resolve(rel)?)
    }

    /// Like [`read_bytes`](Self::read_bytes), as text (invalid UTF-8 replaced).
    pub fn read_text(&self, rel: &str, cap: u64) -> Result<(String, bool), ReadError> {
        let read = self.read_bytes(rel, cap)?;
        Ok((String::from_utf8_lossy(&read.bytes).into_owned(), read.capped))
    }

    /// A small attribute file (sysfs), trimmed.
    pub fn read_attr(&self, rel: &str) -> Result<String, ReadError> {
        let (text, _) = self.read_text(rel, 64 * 1024)?;
        Ok(text.trim().to_string())
    }

    /// Open a character device non-blocking for record-by-record reads (/dev/kmsg).
    pub fn open_device(&self, rel: &str) -> Result<File, ReadError> {
        let path = self.resolve(rel)?;
        Ok(OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?)
    }
}

/// Open read-only and non-blocking, refusing directories: for reading a file as a stream.
pub fn open_read(path: &Path) -> Result<File, ReadError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(ReadError::Other("is a directory".into()));
    }
    Ok(file)
}

/// Open read-only and non-blocking, refuse directories, read up to `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> Result<ReadBytes, ReadError> {
    let file = open_read(path)?;
    let mut bytes = Vec::new();
    let mut limited = (&file).take(cap.saturating_add(1));
    match limited.read_to_end(&mut bytes) {
        Ok(_) => {}
        // A pipe or device with nothing (more) to give right now.
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e.into()),
    }
    let capped = bytes.len() as u64 > cap;
    if capped {
        bytes.truncate(cap as usize);
    }
    Ok(ReadBytes { bytes, capped })
}

fn components(p: &Path) -> Vec<std::ffi::OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn split_last(rel: &str) -> (&str, &str) {
    let rel = rel.trim_end_matches('/');
    match rel.rfind('/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => ("", rel),
    }
}

/// The only programs collection may run. Each runs without a shell, with stdin closed,
/// a time limit and an output cap. Nothing here changes the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `journalctl -k -b BOOT --no-pager [-D DIR]`
    JournalctlKernel { boot: i32, dir: Option<PathBuf> },
    /// `virsh -c qemu:///system list --all --name`
    VirshListAll,
    /// `virsh -c qemu:///system dumpxml --inactive NAME`
    VirshDumpxml { name: String },
}

/// The outcome of a command: its output, or why there is none.
#[derive(Debug)]
pub enum CmdOutput {
    Ok { stdout: String, capped: bool },
    Failed(String),
}

impl Cmd {
    pub fn program(&self) -> &'static str {
        match self {
            Cmd::JournalctlKernel { .. } => "journalctl",
            Cmd::VirshListAll | Cmd::VirshDumpxml { .. } => "virsh",
        }
    }

    pub fn args(&self) -> Vec<String> {
        match self {
            Cmd::JournalctlKernel { boot, dir } => {
                let mut a = vec!["-k".to_string(), "-b".into(), boot.to_string(), "--no-pager".into()];
                if let Some(d) = dir {
                    a.push("-D".into());
                    a.push(d.display().to_string());
                }
                a
            }
            Cmd::VirshListAll => ["-c", "qemu:///system", "list", "--all", "--name"].map(String::from).to_vec(),
            Cmd::VirshDumpxml { name } => {
                let mut a: Vec<String> = ["-c", "qemu:///system", "dumpxml", "--inactive"].map(String::from).to_vec();
                a.push(name.clone());
                a
            }
        }
    }

    /// The command line as recorded in a source's `origin`.
    pub fn describe(&self) -> String {
        let mut s = self.program().to_string();
        for a in self.args() {
            s.push(' ');
            s.push_str(&a);
        }
        s
    }

    /// Run it: no shell, stdin from /dev/null, output capped, killed after `limit`.
    pub fn run(&self, cap: u64, limit: Duration) -> CmdOutput {
        let read = self.run_streaming(limit, |out| {
            let mut buf = Vec::new();
            let _ = out.take(cap.saturating_add(1)).read_to_end(&mut buf);
            buf
        });
        match read {
            Ok((_, Some(cut_short))) => CmdOutput::Failed(cut_short),
            Ok((mut out, None)) => {
                let capped = out.len() as u64 > cap;
                out.truncate(cap as usize);
                CmdOutput::Ok { stdout: String::from_utf8_lossy(&out).into_owned(), capped }
            }
            Err(why) => CmdOutput::Failed(why),
        }
    }

    /// Run it with its output going to `consume` as it comes (a journal can be gigabytes):
    /// no shell, stdin from /dev/null, killed after `limit`. `Err` says why it failed; a
    /// command killed at the limit gives what it printed until then, and says so.
    pub fn run_streaming<T>(&self, limit: Duration, consume: impl FnOnce(&mut dyn Read) -> T) -> Result<(T, Option<String>), String> {
        let child = Command::new(self.program())
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("SYSTEMD_COLORS", "0")
            .env("LC_ALL", "C")
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return Err(format!("cannot run {}: {}", self.program(), ReadError::from(e))),
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let err_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stderr {
                let _ = s.take(64 * 1024).read_to_end(&mut buf);
            }
            buf
        });
        // A watchdog kills the command at the deadline; finishing first disconnects it.
        let child = std::sync::Arc::new(std::sync::Mutex::new(child));
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let watched = std::sync::Arc::clone(&child);
        let watchdog = std::thread::spawn(move || {
            let timed_out = matches!(finished.recv_timeout(limit), Err(std::sync::mpsc::RecvTimeoutError::Timeout));
            if timed_out {
                if let Ok(mut c) = watched.lock() {
                    let _ = c.kill();
                }
            }
            timed_out
        });
        let out = match stdout {
            Some(mut s) => consume(&mut s),
            None => consume(&mut std::io::empty()),
        };
        drop(done);
        let timed_out = watchdog.join().unwrap_or(false);
        let status = match child.lock() {
            Ok(mut c) => c.wait().ok(),
            Err(_) => None,
        };
        let err = err_thread.join().unwrap_or_default();
        if timed_out {
            return Ok((out, Some(format!("{} did not finish within {}s", self.describe(), limit.as_secs()))));
        }
        let Some(status) = status else { return Err(format!("{} could not be waited for", self.describe())) };
        if !status.success() {
            let why = String::from_utf8_lossy(&err).lines().next().unwrap_or("").trim().to_string();
            return Err(format!("{} exited with {}: {}", self.program(), status, why));
        }
        Ok((out, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolves_relative_links_inside_the_root_and_stops_loops() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path();
        std::fs::create_dir_all(b.join("sys/devices/pci0000:00/0000:00:01.0")).unwrap();
        std::fs::write(b.join("sys/devices/pci0000:00/0000:00:01.0/vendor"), "0x10de\n").unwrap();
        std::fs::create_dir_all(b.join("sys/bus/pci/devices")).unwrap();
        symlink("../../../devices/pci0000:00/0000:00:01.0", b.join("sys/bus/pci/devices/0000:00:01.0")).unwrap();
        // An absolute link is taken relative to the root, not to the real /.
        symlink("/sys/devices/pci0000:00/0000:00:01.0", b.join("sys/abs")).unwrap();
        symlink("loop-b", b.join("sys/loop-a")).unwrap();
        symlink("loop-a", b.join("sys/loop-b")).unwrap();
        let root = Root::at(b).unwrap();
        assert_eq!(root.read_attr("sys/bus/pci/devices/0000:00:01.0/vendor").unwrap(), "0x10de");
        assert_eq!(root.read_attr("sys/abs/vendor").unwrap(), "0x10de");
        assert_eq!(root.read_attr("sys/loop-a/x"), Err(ReadError::Other("symlink loop".into())));
        assert_eq!(root.read_attr("sys/nothing"), Err(ReadError::Missing));
        assert_eq!(root.link_name("sys/bus/pci/devices/0000:00:01.0").unwrap(), "0000:00:01.0");
    }

    #[test]
    fn dotdot_never_leaves_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "inside").unwrap();
        let root = Root::at(dir.path()).unwrap();
        assert_eq!(root.resolve("../../../f").unwrap(), dir.path().join("f"));
    }
}
