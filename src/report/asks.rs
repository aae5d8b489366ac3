//! "To check more": what a helper should ask for next, derived from the rules that could not
//! run. Each unmet need names source kinds; each kind has a paste command
//! ([`SourceKind::paste_command`]); the commands are listed once each, greedily: first those
//! that settle an open question (a rule whose finding is an unconfirmed known message, by a
//! source that is not another log), then by
//! how many more rules each would let run. Live and `--root` reports first say what needs root.

use serde::{Deserialize, Serialize};

use crate::bundle::{SourceKind, Status};
use crate::rules::NotEvaluated;
use crate::system::System;

/// How many asks the text, Markdown and HTML reports show (JSON has them all).
pub const SHOWN: usize = 6;

/// One thing to ask for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ask {
    /// `paste` (the output of `command`, pasted or given as a file) or `root` (run vfio-doctor
    /// again as root, so it can read what it was denied).
    pub how: String,
    /// The command, with the VM and device address filled in when the report knows them.
    pub command: String,
    /// What it gives, in words ("kernel log").
    pub gives: Vec<String>,
    /// For a paste that is not told by its content: the `KIND:` to give it with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_kind: Option<String>,
    /// The codes of the rules it would let run (or bring closer to running).
    pub rules: Vec<String>,
}

/// The asks for these not-evaluated rules, most useful first; `unconfirmed`: the codes of rules
/// whose findings are unconfirmed, asked for before any other.
pub fn derive(sys: &System, not_evaluated: &[NotEvaluated], unconfirmed: &[String]) -> Vec<Ask> {
    let mut asks = Vec::new();
    // Still open: per rule, its unmet needs.
    let mut open: Vec<(String, Vec<Vec<SourceKind>>)> = not_evaluated.iter().map(|n| (n.code.clone(), n.missing.clone())).collect();
    if sys.collected() {
        // Sources this run was not allowed to read: one ask, to run again as root.
        let denied: Vec<SourceKind> = kinds_in(&open).into_iter().filter(|k| sys.sources.iter().any(|s| s.kind == *k && s.status == Status::PermissionDenied)).collect();
        if !denied.is_empty() {
            let rules = settle(&mut open, &denied);
            asks.push(Ask {
                how: "root".into(),
                command: "sudo vfio-doctor check".into(),
                gives: denied.iter().map(|k| k.human().to_string()).collect(),
                as_kind: None,
                rules,
            });
        }
    }
    let vm = one_vm(sys);
    let addr = one_address(sys);
    loop {
        // (command, kinds it gives, whether sniffed) for every kind an open need names.
        let mut candidates: Vec<(String, Vec<SourceKind>, bool)> = Vec::new();
        for kind in kinds_in(&open) {
            let Some((template, sniffed)) = kind.paste_command() else { continue };
            // Kinds collection reads but could not (a --root tree without them) are pasted too.
            let command = fill(template, vm.as_deref(), addr.as_deref());
            match candidates.iter_mut().find(|(c, _, _)| *c == command) {
                Some((_, kinds, _)) => kinds.push(kind),
                None => candidates.push((command, vec![kind], sniffed)),
            }
        }
        let best = candidates
            .into_iter()
            .map(|(c, kinds, sniffed)| {
                // An unconfirmed finding came from a log line: what settles it is the state a
                // log does not show (the groups, the devices, the command line, the XML).
                let settles = if kinds.iter().all(|k| k.is_log()) {
                    0
                } else {
                    open.iter().filter(|(code, _)| unconfirmed.contains(code)).filter(|r| helped(std::slice::from_ref(r), &kinds) > 0).count()
                };
                ((settles, helped(&open, &kinds)), c, kinds, sniffed)
            })
            .filter(|(n, ..)| n.1 > 0)
            .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
        let Some((_, command, kinds, sniffed)) = best else { break };
        let rules = settle(&mut open, &kinds);
        asks.push(Ask {
            how: "paste".into(),
            command,
            gives: kinds
                .iter()
                .map(|k| match k {
                    SourceKind::Dxdiag | SourceKind::Pnputil | SourceKind::Powershell => format!("{} (run in the Windows guest)", k.human()),
                    _ => k.human().to_string(),
                })
                .collect(),
            as_kind: (!sniffed).then(|| kinds[0].name().to_string()),
            rules,
        });
    }
    asks
}

/// Every kind an open need names, in kind order.
fn kinds_in(open: &[(String, Vec<Vec<SourceKind>>)]) -> Vec<SourceKind> {
    let mut kinds: Vec<SourceKind> = open.iter().flat_map(|(_, needs)| needs.iter().flatten().copied()).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// How many open rules `kinds` would meet a need of.
fn helped(open: &[(String, Vec<Vec<SourceKind>>)], kinds: &[SourceKind]) -> usize {
    open.iter().filter(|(_, needs)| needs.iter().any(|any_of| any_of.iter().any(|k| kinds.contains(k)))).count()
}

/// Mark the needs `kinds` meet as met; return the rules that were helped. A rule leaves the
/// open list when all its needs are met.
fn settle(open: &mut Vec<(String, Vec<Vec<SourceKind>>)>, kinds: &[SourceKind]) -> Vec<String> {
    let mut helped = Vec::new();
    for (code, needs) in open.iter_mut() {
        let before = needs.len();
        needs.retain(|any_of| !any_of.iter().any(|k| kinds.contains(k)));
        if needs.len() < before {
            helped.push(code.clone());
        }
    }
    open.retain(|(_, needs)| !needs.is_empty());
    helped
}

/// `virsh dumpxml {vm}` with the VM, `lspci -nnk[ -s {addr}]` with or without the address.
fn fill(template: &str, vm: Option<&str>, addr: Option<&str>) -> String {
    let mut out = template.to_string();
    if let (Some(open), Some(close)) = (out.find('['), out.find(']')) {
        if open < close && out[open..close].contains("{addr}") {
            let inner = out[open + 1..close].to_string();
            let replacement = match addr {
                Some(a) => inner.replace("{addr}", a),
                None => String::new(),
            };
            out.replace_range(open..=close, &replacement);
        }
    }
    out.replace("{vm}", vm.unwrap_or("VM"))
}

/// The VM the report is about, when there is exactly one.
fn one_vm(sys: &System) -> Option<String> {
    // A VM known only from a QEMU log that names no domain is called after its file: no name.
    let mut names: Vec<&str> =
        sys.vms.iter().filter(|v| *v.name != *v.source).map(|v| v.name.as_str()).chain(sys.sources.iter().filter_map(|s| s.vm.as_deref())).collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

/// The device the report is about, when there is exactly one: the one passed to a VM, else the
/// one log lines name as vfio-pci's, else the only GPU.
fn one_address(sys: &System) -> Option<String> {
    let only = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        (v.len() == 1).then(|| v.remove(0))
    };
    let assigned: Vec<String> = sys.assigned().map(|(_, h)| h.address.to_string()).collect();
    if !assigned.is_empty() {
        return only(assigned);
    }
    let in_logs: Vec<String> = SourceKind::ALL
        .iter()
        .flat_map(|k| sys.lines(*k))
        .filter_map(|l| l.device.as_ref())
        .filter(|d| d.driver == "vfio-pci")
        .map(|d| d.address.to_string())
        .collect();
    if !in_logs.is_empty() {
        return only(in_logs);
    }
    only(sys.devices.iter().filter(|d| d.is_gpu()).map(|d| d.address.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_or_drop_their_optional_part() {
        assert_eq!(fill("lspci -nnk[ -s {addr}]", None, Some("0000:08:00.0")), "lspci -nnk -s 0000:08:00.0");
        assert_eq!(fill("lspci -nnk[ -s {addr}]", None, None), "lspci -nnk");
        assert_eq!(fill("virsh dumpxml {vm}", Some("win10"), None), "virsh dumpxml win10");
        assert_eq!(fill("virsh dumpxml {vm}", None, None), "virsh dumpxml VM");
        // A bracket that is shell syntax, not an optional part, stays.
        assert_eq!(fill("echo ${g##*/} [x]", None, None), "echo ${g##*/} [x]");
    }

    /// Live without root: the first ask is to run again as root, naming the denied sources;
    /// a source nobody collects (a guest report) is still a paste.
    #[test]
    fn live_report_first_asks_for_root() {
        use crate::bundle::{Bundle, Source};
        let mut b = Bundle::new();
        b.sources.push(Source::failed(SourceKind::KernelLog, "/dev/kmsg", "/dev/kmsg", Status::PermissionDenied, "permission denied: /dev/kmsg (run as root)"));
        b.sources.push(Source::failed(SourceKind::DomainXml, "etc/libvirt/qemu", "file", Status::PermissionDenied, "permission denied: /etc/libvirt/qemu (run as root)"));
        b.sources.push(Source::ok(SourceKind::Cmdline, "proc/cmdline", "file", "BOOT_IMAGE=/vmlinuz quiet\n".into()));
        let sys = System::from_bundle(&b);
        let ne = |code: &str, missing: Vec<Vec<SourceKind>>| NotEvaluated { code: code.into(), rule: code.into(), reason: String::new(), missing };
        let asks = derive(
            &sys,
            &[
                ne("VD301", vec![vec![SourceKind::KernelLog, SourceKind::QemuLog]]),
                ne("VD402", vec![vec![SourceKind::DomainXml], vec![SourceKind::Pci]]),
                ne("VD702", vec![vec![SourceKind::Dxdiag]]),
            ],
            &[],
        );
        assert_eq!(asks[0].how, "root");
        assert_eq!(asks[0].command, "sudo vfio-doctor check");
        assert_eq!(asks[0].gives, ["kernel log", "libvirt domain XML"]);
        assert_eq!(asks[0].rules, ["VD301", "VD402"]);
        let rest: Vec<&str> = asks[1..].iter().map(|a| a.command.as_str()).collect();
        assert_eq!(rest, ["dxdiag /t dxdiag.txt", "lspci -nnk"]);
    }

    #[test]
    fn greedy_lists_each_command_once_by_rules_it_helps() {
        use SourceKind::*;
        let mut open = vec![
            ("VD701".to_string(), vec![vec![Pnputil, Powershell, Dxdiag]]),
            ("VD702".to_string(), vec![vec![Dxdiag]]),
            ("VD703".to_string(), vec![vec![Dxdiag, Pnputil, Powershell]]),
        ];
        assert_eq!(helped(&open, &[Dxdiag]), 3);
        assert_eq!(settle(&mut open, &[Dxdiag]), ["VD701", "VD702", "VD703"]);
        assert!(open.is_empty());
    }
}
