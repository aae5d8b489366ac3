//! Logic for `hook-step-failed`; its documentation is rules/hook-step-failed.md.
//! One finding per trace: the first step that went wrong is the cause, the later failures are
//! listed with it (they usually follow from it).

use crate::rules::{Evidence, Findings};
use crate::system::hook_trace::Failure;
use crate::system::System;

fn what(f: &Failure, command: &str) -> String {
    match f {
        Failure::ModuleInUse { module } => format!("`{command}` failed: module {module} is in use, so the GPU stays on the host driver"),
        Failure::ModuleBuiltin { module } => format!("`{command}` cannot work: {module} is built into this kernel"),
        Failure::ServiceNotStopped { unit } => format!("`{command}` failed: {unit} is not a unit here, so whatever it was meant to stop keeps running"),
        Failure::Hung => format!("the trace ends at `{command}`: the detach never returned, because the host driver still has a user"),
        Failure::Error => format!("`{command}` failed"),
    }
}

fn short(f: &Failure) -> &'static str {
    match f {
        Failure::ModuleInUse { .. } => "in use",
        Failure::ModuleBuiltin { .. } => "built in",
        Failure::ServiceNotStopped { .. } => "no such unit",
        Failure::Hung => "never returned",
        Failure::Error => "failed",
    }
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for t in &sys.hook_traces {
        let Some(first) = t.failed.first() else { continue };
        let mut evidence: Vec<Evidence> = Vec::new();
        for f in &t.failed {
            evidence.push(Evidence::from(&f.step.line));
            if f.failure != Failure::Hung {
                evidence.push(Evidence::from(&f.evidence));
            }
        }
        // Who holds the GPU, when a fuser/lsof/ps listing was given too.
        evidence.extend(sys.holders.iter().map(|h| Evidence::from(&h.line)));
        let mut message = format!("The hook script stopped handing the GPU over: {}", what(&first.failure, &first.step.command));
        let later: Vec<String> = t.failed[1..].iter().map(|f| format!("`{}` ({})", f.step.command, short(&f.failure))).collect();
        if !later.is_empty() {
            message.push_str(&format!("; after it: {}", later.join(", ")));
        }
        if !sys.holders.is_empty() {
            let mut who: Vec<String> = sys.holders.iter().map(|h| h.command.clone()).collect();
            who.dedup();
            message.push_str(&format!("; the GPU is held by {}", who.join(", ")));
        }
        let in_use = t.failed.iter().any(|f| matches!(f.failure, Failure::ModuleInUse { .. } | Failure::Hung));
        let dm = t.failed.iter().find_map(|f| match &f.failure {
            Failure::ServiceNotStopped { unit } => Some(unit.clone()),
            _ => None,
        });
        let mut fix = Vec::new();
        if let Some(unit) = dm {
            fix.push(format!(
                "`{unit}` is not a unit on this host. If it was meant to be the display manager, stop the real one: `systemctl status display-manager` names it (`gdm`, `sddm`, `lightdm`), and `sudo systemctl stop gdm` (for example) is the step to use. If it was an optional service, remove the step."
            ));
        }
        if in_use {
            fix.push(
                "Find what still holds the GPU before the modules are unloaded: `sudo fuser -v /dev/nvidia* /dev/dri/*` and `lsmod | grep -E 'nvidia|amdgpu'` (the \"Used by\" column). Stop it in the script first: the display manager, `sudo systemctl stop nvidia-persistenced`, compositors or CUDA programs; then unload in dependency order (`modprobe -r nvidia_drm nvidia_modeset nvidia_uvm nvidia`) and only then `virsh nodedev-detach`.".to_string(),
            );
        }
        if t.failed.iter().any(|f| matches!(f.failure, Failure::ModuleBuiltin { .. })) {
            fix.push("A built-in module cannot be unloaded: drop that `modprobe -r` line; unbinding the device (`virsh nodedev-detach`) is enough.".to_string());
        }
        if fix.is_empty() {
            fix.push("Read what the failing step printed (in the evidence) and fix that step first; the later steps depend on it.".to_string());
        }
        let f = out.emit(format!("hook script ({})", t.source), message, evidence);
        f.remediation = fix.join("\n\n");
    }
}
