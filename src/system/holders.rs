//! Who holds the GPU on the host, from pasted `fuser -v` (psmisc), `lsof` and `ps` listings:
//! the processes that keep /dev/nvidia*, /dev/dri/* or libnvidia-ml open, or the NVIDIA daemons
//! that do. A GPU's driver cannot let go of it (unbind hangs, `modprobe -r` fails) while any
//! of them runs.

use super::LogLine;

#[derive(Debug, Clone)]
pub struct Holder {
    /// The file held (`/dev/nvidia0`, `/dev/dri/card1`, `…/libnvidia-ml.so.1`), or `running`
    /// for a process a `ps` listing shows.
    pub file: String,
    pub pid: Option<String>,
    pub user: Option<String>,
    pub command: String,
    pub line: LogLine,
}

impl Holder {
    /// Whether what it holds is NVIDIA's (device files, NVML), rather than a DRM node.
    pub fn is_nvidia(&self) -> bool {
        self.file.contains("nvidia") || self.file.starts_with("nvidia") || nvidia_daemon(&self.command)
    }
}

/// Processes that hold an NVIDIA GPU by design (a `ps` listing shows them running).
const NVIDIA_DAEMONS: &[&str] = &["nvidia-persistenced", "nvidia-powerd", "nv-hostengine", "nvidia-smi"];

/// A known NVIDIA daemon, also as `fuser -v` and `ps -e` print it: the kernel's 15-character
/// command name (`nvidia-persiste` for nvidia-persistenced, TASK_COMM_LEN 16 with the NUL).
fn nvidia_daemon(command: &str) -> bool {
    full_daemon_name(command).is_some()
}

/// The NVIDIA daemon a (possibly 15-character) command name stands for.
fn full_daemon_name(command: &str) -> Option<&'static str> {
    NVIDIA_DAEMONS.iter().copied().find(|d| *d == command || (command.len() == 15 && d.starts_with(command)))
}

/// A GPU device node or NVML, also under a driver root: the NVIDIA GPU Operator's driver
/// container puts the nodes at `/run/nvidia/driver/dev/nvidia0`.
fn gpu_file(name: &str) -> bool {
    name.contains("/dev/nvidia") || name.contains("/dev/dri/") || name.contains("libnvidia-ml")
}

/// Every holder in the lines of one listing.
pub fn parse(lines: &[&LogLine]) -> Vec<Holder> {
    let mut out = Vec::new();
    // fuser -v names the file once, on the first row of its processes.
    let mut file: Option<String> = None;
    let mut lsof_header = false;
    let mut ps_cmd_col: Option<usize> = None;
    for l in lines {
        let t = l.message.trim_end();
        let words: Vec<&str> = t.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if words.first() == Some(&"COMMAND") && words.last() == Some(&"NAME") {
            lsof_header = true;
            continue;
        }
        if words == ["USER", "PID", "ACCESS", "COMMAND"] {
            continue;
        }
        if words.contains(&"PID") && (words.last() == Some(&"CMD") || words.last() == Some(&"COMMAND")) {
            ps_cmd_col = Some(words.len() - 1);
            continue;
        }
        // fuser -v: `/dev/nvidia0:  root  1234 F...m Xorg` or `  user  2345 F.... gnome-shell`.
        let (rest, named) = match words[0].strip_suffix(':').filter(|f| f.starts_with('/')) {
            Some(f) => (&words[1..], Some(f.to_string())),
            None => (&words[..], None),
        };
        if named.is_some() {
            file = named;
        }
        let access = |w: &str| !w.is_empty() && w.len() <= 6 && w.chars().all(|c| "Ffrcem.".contains(c));
        if let ([user, pid, acc, cmd @ ..], Some(f)) = (rest, file.as_ref()) {
            if (pid.chars().all(|c| c.is_ascii_digit()) || *pid == "kernel") && access(acc) && !cmd.is_empty() && gpu_file(f) {
                out.push(Holder {
                    file: f.clone(),
                    pid: Some(pid.to_string()).filter(|p| p != "kernel"),
                    user: Some(user.to_string()),
                    command: full_daemon_name(&cmd.join(" ")).map(str::to_string).unwrap_or_else(|| cmd.join(" ")),
                    line: (*l).clone(),
                });
                continue;
            }
        }
        // lsof: COMMAND PID [TID TASKCMD] USER FD TYPE DEVICE SIZE/OFF NODE NAME; NAME is as
        // given (`sudo lsof nvidia0` run in /dev prints `nvidia0`).
        let bare = |n: &str| lsof_header && (n.starts_with("nvidia") || n.starts_with("card") || n.starts_with("renderD"));
        if let Some(name) = words.last().filter(|n| gpu_file(n) || bare(n)) {
            if lsof_header || words.len() >= 8 {
                out.push(Holder {
                    file: name.to_string(),
                    pid: words.get(1).filter(|p| p.chars().all(|c| c.is_ascii_digit())).map(|p| p.to_string()),
                    user: words.get(2).map(|u| u.to_string()),
                    command: words[0].to_string(),
                    line: (*l).clone(),
                });
                continue;
            }
        }
        // ps: a known NVIDIA daemon in the command column (`ps -ef`: 8th, `ps aux`: 11th; a
        // listing through `grep` has no header).
        let col = ps_cmd_col.or_else(|| {
            let numeric = |i: usize| words.get(i).is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()));
            (numeric(1) && words.len() >= 8).then(|| if numeric(2) { 7 } else { 10 })
        });
        if let Some(col) = col {
            if let Some(cmd) = words.get(col) {
                let program = cmd.rsplit('/').next().unwrap_or(cmd);
                if nvidia_daemon(program) {
                    out.push(Holder {
                        file: "running".into(),
                        pid: words.get(1).map(|p| p.to_string()),
                        user: words.first().map(|u| u.to_string()),
                        command: program.to_string(),
                        line: (*l).clone(),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuser_lsof_ps() {
        let fuser = super::super::kernel_log::plain_lines(
            "                     USER        PID ACCESS COMMAND\n/dev/nvidia0:        root       1418 F...m Xorg\n                     user       2112 F...m gnome-shell\n/dev/nvidiactl:      root       1418 F...m Xorg\n",
            "f",
        );
        let h = parse(&fuser.iter().collect::<Vec<_>>());
        assert_eq!(h.iter().map(|x| (x.file.as_str(), x.command.as_str())).collect::<Vec<_>>(), vec![("/dev/nvidia0", "Xorg"), ("/dev/nvidia0", "gnome-shell"), ("/dev/nvidiactl", "Xorg")]);
        let lsof = super::super::kernel_log::plain_lines(
            "COMMAND    PID USER   FD   TYPE DEVICE SIZE/OFF NODE NAME\nnvidia-pe 1021 root    3u   CHR  195,255      0t0  460 /dev/nvidiactl\n",
            "l",
        );
        let h = parse(&lsof.iter().collect::<Vec<_>>());
        assert_eq!((h[0].command.as_str(), h[0].pid.as_deref(), h[0].is_nvidia()), ("nvidia-pe", Some("1021"), true));
        let ps = super::super::kernel_log::plain_lines("UID          PID    PPID  C STIME TTY          TIME CMD\nroot        1021       1  0 10:05 ?        00:00:00 /usr/bin/nvidia-persistenced --user nvidia-persistenced\n", "p");
        let h = parse(&ps.iter().collect::<Vec<_>>());
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].command, "nvidia-persistenced");
    }

    /// `fuser -v` on the GPU Operator's driver root puts the long name alone on its line and
    /// the process (its 15-character command name) below (kubernetes-sigs/dra-driver-nvidia-gpu#1037).
    #[test]
    fn fuser_driver_root_and_truncated_comm() {
        let fuser = super::super::kernel_log::plain_lines(
            "                     USER        PID ACCESS COMMAND
/run/nvidia/driver/dev/nvidia0:
                     root      37526 F.... nvidia-persiste
",
            "f",
        );
        let h = parse(&fuser.iter().collect::<Vec<_>>());
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].file.as_str(), h[0].command.as_str(), h[0].is_nvidia()), ("/run/nvidia/driver/dev/nvidia0", "nvidia-persistenced", true));
        assert!(nvidia_daemon("nvidia-persiste") && !nvidia_daemon("nvidia-persis") && !nvidia_daemon("bash"));
    }
}
