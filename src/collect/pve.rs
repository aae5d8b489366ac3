//! Proxmox VE: its VM configurations (`/etc/pve/qemu-server/VMID.conf`), the PCI resource
//! mappings they may name (`/etc/pve/mapping/pci.cfg`), and the task log of each VM's last
//! failed `qm start` (`/var/log/pve/tasks/*/UPID:…:qmstart:VMID:…`). Looked for only on a
//! Proxmox VE host (`etc/pve` or `var/log/pve/tasks` exists), so a libvirt host's bundle does not
//! fill with missing Proxmox sources.
//!
//! `qm showcmd VMID` is deliberately **not** run, although it only prints: qemu-server's
//! `vm_commandline` → `config_to_command` runs the `kvm` binary to learn its version and, for
//! `hostpciN: mapping=…` with alternatives, `choose_hostpci_devices` → `reserve_pci_usage` takes a
//! lock and rewrites `/var/run/pve-reserved-pciids` (PVE/QemuServer/PCI.pm). Collection must not
//! write; its output can be pasted instead (`qm-showcmd:FILE`).

use super::files::{collect_matching, glob};
use super::{read_source, Collector, Options};
use crate::bundle::{Bundle, SourceKind};
use crate::root::Root;

pub const VM_CONFIGS: Collector = Collector {
    source: SourceKind::QmConfig,
    about: "Proxmox VE VM configurations (this node's)",
    reads: &["etc/pve/qemu-server/*.conf", "etc/pve/nodes/*/qemu-server/*.conf"],
    runs: &[],
    needs_root: true,
    collect: collect_configs,
};

pub const MAPPINGS: Collector = Collector {
    source: SourceKind::PveMapping,
    about: "Proxmox VE PCI resource mappings",
    reads: &["etc/pve/mapping/pci.cfg"],
    runs: &[],
    needs_root: true,
    collect: collect_mappings,
};

pub const TASK_LOGS: Collector = Collector {
    source: SourceKind::PveTaskLog,
    about: "Proxmox VE task log of each VM's last failed `qm start` (newer than its last good start)",
    reads: &["var/log/pve/tasks/*/UPID:*:qmstart:*"],
    runs: &[],
    needs_root: true,
    collect: collect_task_logs,
};

/// Whether `root` is a Proxmox VE host.
pub(crate) fn is_pve(root: &Root) -> bool {
    root.exists("etc/pve") || root.exists("var/log/pve/tasks")
}

/// `etc/pve/qemu-server/100.conf` → `100`.
pub fn vmid_of_config(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let id = name.strip_suffix(".conf")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
}

fn collect_configs(root: &Root, options: &Options, bundle: &mut Bundle) {
    if !is_pve(root) {
        return;
    }
    // On a node, etc/pve/qemu-server is pmxcfs's link to nodes/THIS-NODE/qemu-server. Where the
    // link did not survive (a copied tree), read this node's directory; other nodes' VMs run on
    // other hardware and are not judged against this host's.
    let patterns: Vec<String> = if !glob(root, "etc/pve/qemu-server").is_empty() {
        vec!["etc/pve/qemu-server/*.conf".into()]
    } else {
        match root.read_text("etc/hostname", 4096).ok().map(|(t, _)| t.trim().to_string()).filter(|h| !h.is_empty() && !h.contains('/')) {
            Some(node) => vec![format!("etc/pve/nodes/{node}/qemu-server/*.conf")],
            None => vec!["etc/pve/nodes/*/qemu-server/*.conf".into()],
        }
    };
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    collect_matching(root, bundle, SourceKind::QmConfig, &patterns, true, Some(&vmid_of_config), options);
}

fn collect_mappings(root: &Root, options: &Options, bundle: &mut Bundle) {
    if !is_pve(root) {
        return;
    }
    collect_matching(root, bundle, SourceKind::PveMapping, MAPPINGS.reads, true, None, options);
}

/// A task of the task log directory: `UPID:NODE:PID:PSTART:STARTTIME:TYPE:ID:USER:` (all hex but
/// TYPE, ID and USER), as PVE::Tools::upid_decode reads it.
#[derive(Debug, PartialEq, Eq)]
pub struct Upid {
    pub kind: String,
    pub id: String,
    pub start: u64,
}

pub fn parse_upid(name: &str) -> Option<Upid> {
    let parts: Vec<&str> = name.split(':').collect();
    if parts.len() < 8 || parts[0] != "UPID" {
        return None;
    }
    Some(Upid { kind: parts[5].to_string(), id: parts[6].to_string(), start: u64::from_str_radix(parts[4], 16).ok()? })
}

/// How many of a VM's newest `qm start` logs are opened to find its last outcome.
const TASKS_PER_VM: usize = 16;

fn collect_task_logs(root: &Root, options: &Options, bundle: &mut Bundle) {
    if !is_pve(root) {
        return;
    }
    let mut by_vm: std::collections::BTreeMap<String, Vec<(u64, String)>> = Default::default();
    for path in glob(root, TASK_LOGS.reads[0]) {
        let Some(upid) = parse_upid(path.rsplit('/').next().unwrap_or("")) else { continue };
        if upid.kind != "qmstart" || options.vm.as_deref().is_some_and(|want| want != upid.id) {
            continue;
        }
        by_vm.entry(upid.id).or_default().push((upid.start, path));
    }
    for (vmid, mut tasks) in by_vm {
        tasks.sort_by_key(|t| std::cmp::Reverse(t.0));
        // The newest start decides: a failure after which the VM started fine is history.
        for (_, path) in tasks.into_iter().take(TASKS_PER_VM) {
            let mut source = read_source(root, SourceKind::PveTaskLog, &path, true, &options.keep);
            let Some(text) = source.text.as_deref().filter(|_| source.is_ok()) else {
                bundle.sources.push(source);
                break;
            };
            let outcome = text.lines().rev().find(|l| l.starts_with("TASK "));
            match outcome {
                Some(l) if l.starts_with("TASK ERROR") => {
                    source.vm = Some(vmid.clone());
                    bundle.sources.push(source);
                    break;
                }
                Some(_) => break,
                // Still running, or cut short before its end line: look at the one before.
                None => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upids_and_vmids() {
        let u = parse_upid("UPID:pve:00001A2B:0009C3D4:6540F1A2:qmstart:100:root@pam:").unwrap();
        assert_eq!(u, Upid { kind: "qmstart".into(), id: "100".into(), start: 0x6540F1A2 });
        assert!(parse_upid("index").is_none());
        assert_eq!(vmid_of_config("etc/pve/qemu-server/101.conf").as_deref(), Some("101"));
        assert_eq!(vmid_of_config("etc/pve/qemu-server/x.conf"), None);
    }
}
