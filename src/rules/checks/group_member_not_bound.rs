//! Logic for `group-member-not-bound`; its documentation is rules/group-member-not-bound.md.
//! Another function of a passed card (typically its HDMI audio) stays on a host driver, or
//! QEMU reported the group as not viable (hw/vfio `vfio_get_group`/`vfio_group_get`).

use std::collections::BTreeMap;

use regex::Regex;

use crate::bundle::SourceKind;
use crate::rules::{fix, Evidence, Findings};
use crate::system::vm::qemu_line_device;
use crate::system::isolation::{self, HostCritical};
use crate::system::{vfio_ids, Device, PciAddress, System, Vm};

/// What one finding is about: a group, the VM (if any), the unbound members and the evidence.
#[derive(Default)]
struct Case<'a> {
    vm: Option<&'a Vm>,
    passed: Vec<PciAddress>,
    unbound: Vec<&'a Device>,
    evidence: Vec<Evidence>,
    from_log: bool,
    /// The device QEMU was realizing when it found the group not viable.
    log_device: Option<PciAddress>,
}

/// QEMU ≤2.6: `vfio: error, group 1 is not viable, please ensure all devices within the
/// iommu_group are bound to their vfio bus driver.`; 2.8+: `… vfio 0000:0b:00.0: group 83 is not
/// viable` with the hint `Please ensure all devices within the iommu_group are bound to their
/// vfio bus driver.` on the next line (signatures.md §3.5).
fn not_viable_re() -> &'static Regex {
    static_regex!(r"group (?P<group>\d+) is not viable")
}


const HINT: &str = "Please ensure all devices within the iommu_group are bound to their vfio bus driver";

fn on_vfio(d: &Device) -> bool {
    d.driver_is("vfio-pci") || d.driver_is("pci-stub")
}

/// Held by a host driver: not a bridge, has a driver, and that driver is not vfio-pci/pci-stub.
fn host_bound(d: &Device) -> bool {
    !d.is_bridge() && d.driver.is_some() && !on_vfio(d)
}

/// The log lines this rule reads: long logs keep them from between head and tail
/// (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    r"group \d+ is not viable",
    r"Please ensure all devices within the iommu_group are bound to their vfio bus driver",
];

/// A line that alone shows this fault, even when the check cannot tell the group's members
/// (QEMU hw/vfio `vfio_get_group`/`vfio_group_get`: "group %d is not viable").
pub(crate) const FAILURE_SIGNATURES: &[&str] = &[r"group \d+ is not viable"];

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let mut cases: BTreeMap<String, Case<'_>> = BTreeMap::new();

    // sysfs: other functions of a passed card, in its group, on a host driver.
    for vm in &sys.vms {
        for h in &vm.hostdevs {
            let Some(g) = sys.group_of(&h.address) else { continue };
            for m in g.members.iter().filter(|m| *m != &h.address && m.slot() == h.address.slot()) {
                let Some(d) = sys.device_at(m) else { continue };
                // libvirt rebinds a managed hostdev to vfio-pci when the VM starts.
                let managed_here = vm.hostdevs.iter().any(|x| &x.address == m && x.managed != Some(false));
                if !host_bound(d) || managed_here {
                    continue;
                }
                let c = cases.entry(key(&g.id, Some(vm))).or_default();
                c.vm = Some(vm);
                if !c.passed.contains(&h.address) {
                    c.passed.push(h.address.clone());
                    c.evidence.push(vm.hostdev_evidence(h));
                }
                if !c.unbound.iter().any(|u| u.address == d.address) {
                    c.unbound.push(d);
                    c.evidence.push(d.evidence("driver", d.driver.as_deref().unwrap_or("")));
                }
            }
        }
    }
    for d in sys.devices.iter().filter(|d| d.driver_is("vfio-pci") && !sys.is_assigned(&d.address)) {
        let Some(g) = sys.group_of(&d.address) else { continue };
        for m in g.members.iter().filter(|m| *m != &d.address && m.slot() == d.address.slot()) {
            let Some(o) = sys.device_at(m) else { continue };
            if !host_bound(o) || sys.is_assigned(m) {
                continue;
            }
            let c = cases.entry(key(&g.id, None)).or_default();
            if !c.passed.contains(&d.address) {
                c.passed.push(d.address.clone());
                c.evidence.push(d.evidence("driver", "vfio-pci"));
            }
            if !c.unbound.iter().any(|u| u.address == o.address) {
                c.unbound.push(o);
                c.evidence.push(o.evidence("driver", o.driver.as_deref().unwrap_or("")));
            }
        }
    }

    // QEMU's verdict, with the hint line that follows it.
    for kind in [SourceKind::QemuLog, SourceKind::Text] {
        let lines: Vec<_> = sys.lines(kind).collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(c) = not_viable_re().captures(&l.message) else { continue };
            let group = c["group"].to_string();
            // The VM whose QEMU log it is (libvirt's per-domain log), when its definition is known.
            let log_vm = sys
                .sources
                .iter()
                .find(|s| s.path == *l.source)
                .and_then(|s| s.vm.as_deref())
                .and_then(|name| sys.vms.iter().find(|v| v.name == name));
            // Fold into the sysfs case of the same group, whatever VM it was keyed by.
            let k = cases.keys().find(|k| k.split('\u{0}').next() == Some(group.as_str())).cloned().unwrap_or_else(|| key(&group, log_vm));
            let case = cases.entry(k).or_default();
            if case.vm.is_none() {
                case.vm = log_vm;
            }
            case.from_log = true;
            if case.log_device.is_none() {
                case.log_device = qemu_line_device(&l.message);
            }
            case.evidence.push(Evidence::from(*l));
            if let Some(next) = lines.get(i + 1) {
                if next.source == l.source && next.line_no == l.line_no + 1 && next.message.contains(HINT) {
                    case.evidence.push(Evidence::from(*next));
                }
            }
            if case.unbound.is_empty() {
                if let Some(g) = sys.group(&group) {
                    for m in &g.members {
                        // libvirt moves a managed hostdev of this VM to vfio-pci itself when it starts.
                        let managed = case.vm.is_some_and(|vm| vm.hostdevs.iter().any(|h| &h.address == m && h.managed != Some(false)));
                        if let Some(d) = sys.device_at(m).filter(|d| host_bound(d) && !managed) {
                            if !case.unbound.iter().any(|u| u.address == d.address) {
                                case.unbound.push(d);
                                case.evidence.push(d.evidence("driver", d.driver.as_deref().unwrap_or("")));
                            }
                        }
                    }
                }
            }
        }
    }

    for (k, case) in cases {
        let group = k.split('\u{0}').next().unwrap_or("?").to_string();
        emit(sys, out, &group, case);
    }
}

fn key(group: &str, vm: Option<&Vm>) -> String {
    format!("{group}\u{0}{}", vm.map(|v| v.name.as_str()).unwrap_or(""))
}

fn emit(sys: &System, out: &mut Findings<'_>, group: &str, mut case: Case<'_>) {
    let label = |a: &PciAddress| sys.device_at(a).map(Device::label).unwrap_or_else(|| a.to_string());
    let unbound: Vec<String> = case
        .unbound
        .iter()
        .map(|d| format!("{} (on {})", d.label(), d.driver.as_deref().unwrap_or("no driver")))
        .collect();
    let passed: Vec<String> = case.passed.iter().map(label).collect();
    let mut message = match (case.vm, passed.is_empty()) {
        (Some(vm), false) => format!("VM {} passes {} but", vm.name, passed.join(" and ")),
        (None, false) => format!("{} is bound to vfio-pci but", passed.join(" and ")),
        _ => "QEMU reports".into(),
    };
    if unbound.is_empty() {
        let starting = case.log_device.as_ref().map(|a| format!(" when it started {a}")).unwrap_or_default();
        message = format!("QEMU reports IOMMU group {group} as not viable{starting}: a device in that group is not bound to vfio-pci");
    } else if case.passed.is_empty() {
        message = format!("{message} IOMMU group {group} as not viable: {} still on a host driver", unbound.join(", "));
    } else {
        message = format!(
            "{message} {} in the same IOMMU group ({group}) is still on a host driver; vfio needs every device of the group on vfio-pci, so the VM cannot start",
            unbound.join(", ")
        );
        if case.from_log {
            message.push_str(" (QEMU said so: group not viable)");
        }
    }

    // What the host needs stays with it, whatever the group: no step below binds it.
    let needed: Vec<(&Device, HostCritical)> = case.unbound.iter().filter_map(|d| isolation::host_needs(sys, d).map(|n| (*d, n))).collect();
    case.unbound.retain(|d| isolation::host_needs(sys, d).is_none());
    let mut r = String::new();
    if !needed.is_empty() {
        r.push_str(&format!(
            "The group also holds devices the host needs: {}. Do not bind them to vfio-pci or pass them to the VM — \
             the host would lose its disks, network or keyboard. vfio takes whole groups, so the ways out are:\n\n{}",
            fix::host_needed_list(&needed),
            fix::isolation_ways_out(sys, group, 1)
        ));
        if !case.unbound.is_empty() {
            r.push_str("\nOnce the card has a group of its own, its other functions still need vfio-pci:\n\n");
        }
    }
    if case.unbound.is_empty() && !needed.is_empty() {
        // Nothing of the card's own is left to bind.
    } else if case.unbound.is_empty() {
        r.push_str(&format!(
            "List the group and its drivers; every endpoint that is not on vfio-pci (bridges aside) is in the way:\n\n```sh\nfor d in /sys/kernel/iommu_groups/{group}/devices/*; do lspci -nnks \"${{d##*/}}\"; done\n```\n\n"
        ));
        match &case.log_device {
            Some(a) => r.push_str(&format!(
                "The usual culprit is another function of the same card — the HDMI/DP audio at `{}.1` on `snd_hda_intel`. \
                 Put every function of the card on vfio-pci (their `vendor:device` ids in `options vfio-pci ids=…` in `/etc/modprobe.d/vfio.conf`, \
                 with `softdep snd_hda_intel pre: vfio-pci`; rebuild the initramfs and reboot), or move them now:\n\n```sh\n\
                 for f in /sys/bus/pci/devices/{}.*; do\n  [ \"${{f##*/}}\" = {a} ] && continue\n  echo vfio-pci | sudo tee \"$f/driver_override\"\n  \
                 [ -e \"$f/driver\" ] && echo \"${{f##*/}}\" | sudo tee \"$f/driver/unbind\"\n  echo \"${{f##*/}}\" | sudo tee /sys/bus/pci/drivers_probe\ndone\n```\n\n\
                 If the group also holds devices of other cards (USB, SATA, network), see `iommu-group-not-isolated`.",
                a.slot(),
                a.slot()
            )),
            None => r.push_str("If they are other functions of the passed card, bind them to vfio-pci too; if they belong to other cards, see `iommu-group-not-isolated`."),
        }
    } else {
        // The ids of every function of the affected cards, so one line covers the card.
        let mut ids: Vec<String> = Vec::new();
        let mut slots: Vec<&str> = case.passed.iter().map(|a| a.slot()).collect();
        slots.extend(case.unbound.iter().map(|d| d.address.slot()));
        for d in sys.devices.iter().filter(|d| slots.contains(&d.address.slot()) && !d.is_bridge()) {
            if !ids.contains(&d.ids()) {
                ids.push(d.ids());
            }
        }
        let ids = vfio_ids::merged_ids(sys, &ids);
        let drivers: Vec<&str> = {
            let mut v: Vec<&str> = case.unbound.iter().filter_map(|d| d.driver.as_deref()).collect();
            v.dedup();
            v
        };
        let mut n = 1;
        if let Some((vm, p)) = case.vm.and_then(|vm| vm.pve.as_ref().map(|p| (vm, p))) {
            let addrs: Vec<&crate::system::PciAddress> = case.unbound.iter().map(|d| &d.address).collect();
            r.push_str(&format!("{n}. Pass the rest of the card to {} too; qemu-server binds it to vfio-pci when the VM starts:\n\n", vm.name));
            r.push_str(&fix::in_step(&fix::render_pve(p, &fix::pve_pass_devices(p, &addrs, ""))));
            r.push_str("\n\n");
            n += 1;
        } else if let Some(vm) = case.vm {
            r.push_str(&format!(
                "{n}. Pass the rest of the card to {} too (`virsh edit {}`, inside `<devices>`); with `managed='yes'` libvirt moves it to vfio-pci when the VM starts:\n\n   ```xml\n",
                vm.name, vm.name
            ));
            for d in &case.unbound {
                r.push_str(&fix::in_step(&fix::hostdev_xml(&d.address, None, None)));
                r.push('\n');
            }
            r.push_str("   ```\n\n");
            n += 1;
        }
        let already: Vec<_> = case
            .unbound
            .iter()
            .flat_map(|d| match (d.vendor_id, d.device_id) {
                (Some(v), Some(i)) => vfio_ids::configured_for(sys, v, i),
                _ => Vec::new(),
            })
            .collect();
        let softdeps: String = drivers.iter().map(|drv| format!("   softdep {drv} pre: vfio-pci\n")).collect();
        let all_configured = case.unbound.iter().all(|d| already.iter().any(|i| Some(i.vendor) == d.vendor_id && Some(i.device) == d.device_id));
        if all_configured {
            let mut named: Vec<String> = already.iter().map(|i| format!("`{}`", i.ids())).collect();
            named.dedup();
            let places: Vec<String> = already.iter().map(|i| format!("{} {}", i.evidence.source, i.evidence.location)).collect();
            r.push_str(&format!(
                "{n}. vfio-pci's ids already name {} ({}), so {} took the device because it loaded first. \
                 Make vfio-pci load before it, in `/etc/modprobe.d/vfio.conf`:\n\n   ```text\n{softdeps}   ```\n\n   \
                 and put vfio-pci into the initramfs (Debian/Ubuntu: add `vfio_pci` to `/etc/initramfs-tools/modules`; \
                 Fedora: `force_drivers+=\" vfio_pci \"` in `/etc/dracut.conf.d/vfio.conf`; Arch: `MODULES=(vfio_pci vfio vfio_iommu_type1)` in `/etc/mkinitcpio.conf`), \
                 then `{}` and reboot",
                named.join(", "),
                places.join(", "),
                drivers.join("/"),
                fix::initramfs_update_command(sys)
            ));
            case.evidence.extend(already.iter().map(|i| i.evidence.clone()));
        } else {
            r.push_str(&format!(
                "{n}. Bind the whole card to vfio-pci at boot: put `{ids}` in vfio-pci's ids and load vfio-pci before {}. In `/etc/modprobe.d/vfio.conf`:\n\n   ```text\n   options vfio-pci ids={ids}\n{softdeps}   ```\n\n   then `{}` and reboot",
                drivers.join("/"),
                fix::initramfs_update_command(sys)
            ));
            match sys.cmdline.as_ref().and_then(|c| c.get("vfio_pci.ids")) {
                Some(v) => r.push_str(&format!(
                    ". The kernel command line sets `vfio-pci.ids={v}`: change it to `vfio-pci.ids={ids}` there as well"
                )),
                None => r.push_str(&format!(" (or add `vfio-pci.ids={ids}` to the kernel command line)")),
            }
        }
        r.push_str(".\n");
        n += 1;
        r.push_str(&format!("{n}. Or move them now, until the next boot:\n\n   ```sh\n"));
        for d in &case.unbound {
            let a = &d.address;
            r.push_str(&format!(
                "   echo vfio-pci | sudo tee /sys/bus/pci/devices/{a}/driver_override\n   echo {a} | sudo tee /sys/bus/pci/devices/{a}/driver/unbind\n   echo {a} | sudo tee /sys/bus/pci/drivers_probe\n"
            ));
        }
        r.push_str("   ```");
    }
    let subject = match case.vm {
        Some(vm) => format!("IOMMU group {group} (VM {})", vm.name),
        None => format!("IOMMU group {group}"),
    };
    let f = out.emit(subject, message, case.evidence);
    f.remediation = r;
}

