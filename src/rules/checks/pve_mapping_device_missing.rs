//! Logic for `pve-mapping-device-missing`; its documentation is rules/pve-mapping-device-missing.md.
//! `hostpciN: mapping=NAME` whose pci.cfg entry is absent, or names an address where the host
//! has no device, or one with other ids than recorded (qemu-server's `assert_valid`).

use crate::bundle::SourceKind;
use crate::rules::fix::{self, PveFix, QmSet};
use crate::rules::{Evidence, Findings};
use crate::system::pve::{expand, Hostpci, MapEntry, Mapping};
use crate::system::{Device, System};

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    // Only a full sysfs listing proves absence.
    if !sys.devices.iter().any(|d| d.origin == "sysfs") {
        return;
    }
    let node = sys.host.hostname.as_deref();
    for vm in &sys.vms {
        let Some(p) = &vm.pve else { continue };
        for h in p.hostpci.iter().filter(|h| h.mapping.is_some()) {
            let name = h.mapping.as_deref().unwrap_or_default();
            let mapping = sys.pve_mappings.iter().find(|m| m.name == name);
            let entry = mapping.and_then(|m| m.entry_for(node));
            let Some(setting) = p.get(&h.key()) else { continue };
            let mut evidence = vec![vm.evidence(setting.line, setting.text())];
            let problem = match (mapping, entry) {
                (None, _) if !sys.has(SourceKind::PveMapping) => continue,
                (None, _) => format!("/etc/pve/mapping/pci.cfg defines no mapping {name}"),
                (Some(m), None) => {
                    evidence.push(Evidence::new(m.source.clone(), format!("line {}", m.line), m.name.clone()));
                    format!("mapping {name} has no entry for this node{}", node.map(|n| format!(" ({n})")).unwrap_or_default())
                }
                (Some(m), Some(e)) => {
                    evidence.push(Evidence::new(m.source.clone(), format!("line {}", e.line), e.text.clone()));
                    match fault(sys, e) {
                        Some(why) => why,
                        None => continue,
                    }
                }
            };
            let wanted = entry.and_then(|e| e.id.clone());
            let candidate = wanted.as_deref().and_then(|id| {
                let found: Vec<&Device> = sys.devices.iter().filter(|d| d.ids() == id).collect();
                (found.len() == 1).then(|| found[0])
            });
            if let Some(c) = candidate {
                evidence.push(c.evidence("ids", &c.ids()));
            }
            let f = out.emit(
                format!("VM {} / {} (mapping {name})", vm.name, h.key()),
                format!("VM {}'s {} passes mapping {name}, but {problem}: the VM does not start", vm.name, h.key()),
                evidence,
            );
            f.remediation = fix::vm_remediation(vm, String::new, |_| remedy(h, mapping, entry, candidate, node));
        }
    }
}

/// What is wrong with a mapping's entry on this host, if anything.
fn fault(sys: &System, e: &MapEntry) -> Option<String> {
    for id in e.path.split(';') {
        let addrs = expand(id, &sys.devices);
        let present: Vec<&Device> = addrs.iter().filter_map(|a| sys.device_at(a)).collect();
        if present.is_empty() {
            return Some(format!("the host has no device at its path {id}"));
        }
        if let Some(want) = &e.id {
            if !present.iter().any(|d| &d.ids() == want) {
                let have: Vec<String> = present.iter().map(|d| d.label()).collect();
                return Some(format!("its path {id} now holds {} instead of the recorded {want}", have.join(", ")));
            }
        }
    }
    None
}

fn remedy(h: &Hostpci, mapping: Option<&Mapping>, entry: Option<&MapEntry>, candidate: Option<&Device>, node: Option<&str>) -> PveFix {
    let name = h.mapping.as_deref().unwrap_or_default();
    let whole = entry.is_some_and(|e| !e.path.contains('.'));
    let target = candidate.map(|c| if whole { c.address.slot().to_string() } else { c.address.to_string() });
    let mut lead = String::new();
    if let (Some(c), Some(e), Some(t)) = (candidate, entry, &target) {
        let fixed = e.text.replacen(&format!("path={}", e.path), &format!("path={t}"), 1);
        lead.push_str(&format!(
            "The device the mapping recorded ({}) is now at {}. Either point the mapping at it (Datacenter → Resource Mappings → {name}, or this line for node {} in `/etc/pve/mapping/pci.cfg`):\n\n```text\n{}\n\t{fixed}\n```\n\nor give the VM the address directly:",
            e.id.as_deref().unwrap_or("?"),
            c.address,
            node.or(e.node.as_deref()).unwrap_or("this node"),
            mapping.map(|m| m.name.as_str()).unwrap_or(name),
        ));
    } else {
        lead.push_str(&format!(
            "Find the card with `lspci -nnD`, then create or fix mapping {name} for this node (Datacenter → Resource Mappings), or give the VM the address directly:"
        ));
    }
    let host = target.unwrap_or_else(|| "0000:XX:YY".into());
    let mut value = h.value_with(&[]);
    // `mapping=NAME` becomes the address.
    value = value.replacen(&format!("mapping={name}"), &host, 1);
    PveFix { lead, set: vec![QmSet::set(h.key(), value)], note: String::new() }
}
