//! `set -x` traces of libvirt hook scripts (the single-GPU guides' `prepare/begin/start.sh`,
//! `vfio-startup.sh`): each traced command (`+ modprobe -r nvidia_drm`, `++ virsh
//! nodedev-detach pci_0000_01_00_0`) with what it printed, and the step where the script went
//! wrong: a module still in use, a display manager that would not stop, a write that failed,
//! or a detach/unbind after which nothing more came (it hung).

use super::LogLine;

/// One traced command and the lines it printed.
#[derive(Debug, Clone)]
pub struct Step {
    /// The command, without the `+` marks.
    pub command: String,
    pub line: LogLine,
    pub output: Vec<LogLine>,
}

/// What went wrong at a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `modprobe: FATAL: Module nvidia_drm is in use.`, `rmmod: ERROR: Module nvidia is in use by: …`
    ModuleInUse { module: String },
    /// `modprobe: FATAL: Module drm is builtin.`
    ModuleBuiltin { module: String },
    /// `systemctl stop display-manager` printed `Failed to stop …` (the unit has another name,
    /// or is not there): the desktop keeps the GPU.
    ServiceNotStopped { unit: String },
    /// The trace ends at a detach or unbind: the command never returned.
    Hung,
    /// Any other error the step printed (`echo: write error: No such device`, …).
    Error,
}

/// A step that went wrong.
#[derive(Debug, Clone)]
pub struct Failed {
    pub step: Step,
    pub failure: Failure,
    /// The line that says so (the step's own line for a hang).
    pub evidence: LogLine,
}

#[derive(Debug, Clone)]
pub struct Trace {
    pub source: String,
    pub steps: Vec<Step>,
    pub failed: Vec<Failed>,
}

/// A `set -x` trace line (`+ modprobe -r nvidia_drm`, `++ virsh nodedev-detach …`).
pub fn trace_line(line: &str) -> bool {
    let t = line.trim_start();
    let plus = t.len() - t.trim_start_matches('+').len();
    (1..=6).contains(&plus) && t[plus..].starts_with(' ') && t[plus..].trim().chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || "/.[$_".contains(c))
}

fn traced(message: &str) -> Option<String> {
    trace_line(message).then(|| message.trim_start().trim_start_matches('+').trim().to_string())
}

/// Whether a step detaches or unbinds a device (what hangs while the driver is held).
/// `set -x` does not print redirections, so `echo 0000:01:00.0 > …/driver/unbind` shows as
/// `+ echo 0000:01:00.0`: an echo of a PCI address is taken as a bind/unbind.
pub fn detaches(command: &str) -> bool {
    let mut words = command.split_whitespace();
    let echo_address = words.next() == Some("echo")
        && words.next().is_some_and(|w| super::PciAddress::parse(w.trim_matches(['"', '\''])).is_some());
    command.contains("nodedev-detach") || command.contains("/unbind") || echo_address
}

fn module_of(line: &str, marker: &str) -> Option<String> {
    let rest = &line[line.find("Module ")? + "Module ".len()..];
    let name = rest.split_whitespace().next()?;
    rest.contains(marker).then(|| name.trim_end_matches(['.', ':']).replace('-', "_"))
}

/// Units that run the desktop, and so hold the GPU.
const DISPLAY_MANAGERS: &[&str] = &["display-manager", "gdm", "gdm3", "sddm", "lightdm", "lxdm", "xdm", "ly", "greetd", "nodm", "slim", "entrance"];

fn failure(step: &Step, out: &LogLine) -> Option<Failure> {
    let m = out.message.as_str();
    if let Some(module) = module_of(m, " is in use") {
        return Some(Failure::ModuleInUse { module });
    }
    if let Some(module) = module_of(m, " is builtin") {
        return Some(Failure::ModuleBuiltin { module });
    }
    if step.command.starts_with("systemctl stop") && m.starts_with("Failed to stop") {
        let unit = m.trim_start_matches("Failed to stop ").split([':', ' ']).next().unwrap_or("").to_string();
        // An optional service the host does not have (`x11vnc.service`) is not a failure; the
        // display manager is the one that holds the GPU.
        let base = unit.trim_end_matches(".service");
        if DISPLAY_MANAGERS.contains(&base) {
            return Some(Failure::ServiceNotStopped { unit });
        }
        return None;
    }
    let lower = m.to_ascii_lowercase();
    (lower.contains("error") || lower.contains("fatal") || lower.starts_with("failed") || lower.contains("no such device") || lower.contains("permission denied"))
        .then_some(Failure::Error)
}

/// The trace in the lines of one source.
pub fn parse(source: &str, lines: &[&LogLine]) -> Trace {
    let mut steps: Vec<Step> = Vec::new();
    for l in lines {
        match traced(&l.message) {
            Some(command) => steps.push(Step { command, line: (*l).clone(), output: Vec::new() }),
            None => {
                if let Some(s) = steps.last_mut() {
                    s.output.push((*l).clone());
                }
            }
        }
    }
    let mut failed = Vec::new();
    for s in &steps {
        if let Some((f, l)) = s.output.iter().find_map(|o| failure(s, o).map(|f| (f, o))) {
            failed.push(Failed { step: s.clone(), failure: f, evidence: l.clone() });
        }
    }
    if let Some(last) = steps.last().filter(|s| detaches(&s.command) && s.output.is_empty() && steps.len() >= 2) {
        failed.push(Failed { step: last.clone(), failure: Failure::Hung, evidence: last.line.clone() });
    }
    Trace { source: source.to_string(), steps, failed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_that_ends_at_an_unbind_hung_there() {
        let text = "+ systemctl stop display-manager\n+ echo 0000:01:00.0\n";
        let lines = super::super::kernel_log::plain_lines(text, "t");
        let t = parse("t", &lines.iter().collect::<Vec<_>>());
        assert_eq!(t.failed.iter().map(|f| &f.failure).collect::<Vec<_>>(), vec![&Failure::Hung]);
        assert!(!detaches("echo 0") && detaches("echo '0000:01:00.0'"));
    }

    #[test]
    fn the_guides_start_script() {
        // The trace of https://github.com/joeknock90/Single-GPU-Passthrough/issues/11, with the
        // display-manager step of the guides' script in place of its sddm one.
        let text = "+ systemctl stop x11vnc.service\nFailed to stop x11vnc.service: Unit x11vnc.service not loaded.\n+ systemctl stop display-manager\nFailed to stop display-manager.service: Unit display-manager.service not loaded.\n+ echo 0\n+ sleep 2\n+ modprobe -r nvidia_drm\nmodprobe: FATAL: Module nvidia_drm is in use.\n+ modprobe -r nvidia_uvm\n+ virsh nodedev-detach pci_0000_2e_00_0\n";
        let lines = super::super::kernel_log::plain_lines(text, "start.sh.txt");
        let t = parse("start.sh.txt", &lines.iter().collect::<Vec<_>>());
        assert_eq!(t.steps.len(), 7);
        // x11vnc is optional; the display manager is not.
        let f: Vec<(&str, &Failure)> = t.failed.iter().map(|f| (f.step.command.as_str(), &f.failure)).collect();
        assert_eq!(
            f,
            vec![
                ("systemctl stop display-manager", &Failure::ServiceNotStopped { unit: "display-manager.service".into() }),
                ("modprobe -r nvidia_drm", &Failure::ModuleInUse { module: "nvidia_drm".into() }),
                ("virsh nodedev-detach pci_0000_2e_00_0", &Failure::Hung),
            ]
        );
    }
}
