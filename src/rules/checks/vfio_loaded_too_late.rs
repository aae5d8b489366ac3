//! Logic for `vfio-loaded-too-late`; its documentation is rules/vfio-loaded-too-late.md.
//! vfio-pci's ids name a GPU, yet its native driver holds it: the configuration that makes
//! vfio-pci load first is missing (no `softdep DRIVER pre: vfio-pci`, or vfio-pci absent from
//! the initramfs). `gpu-not-bound-to-vfio` reports the binding; this rule says why.

use crate::bundle::SourceKind;
use crate::rules::{Evidence, Findings};
use crate::system::modconf::{InitramfsConfig, InitramfsTool};
use crate::system::host_keeps::host_keeps;
use crate::system::{vfio_ids, Device, LogLine, System};

const NATIVE: &[&str] = &["nvidia", "nouveau", "amdgpu", "radeon"];

/// vfio-pci registering its ids: `vfio_pci: add [10de:1c02[ffffffff:ffffffff]] class …`
/// (drivers/vfio/pci/vfio_pci.c `vfio_pci_fill_ids()`).
const VFIO_PCI: &str = "vfio_pci: ";
const VFIO_ADD: &str = "add [";

/// The kernel-log lines [`race_note`] reads: a `NATIVE` driver's `dev_printk` lines (the
/// kernel-log parser's device prefix, unanchored so that a stamp the capture does not strip
/// cannot hide it) and vfio-pci's `add [` lines (the unit test ties both to the code): long logs
/// keep them from between head and tail (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    r"(?:nvidia |nouveau |amdgpu |radeon )[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]: ",
    r"vfio_pci: .*add \[[0-9a-f]{4}:[0-9a-f]{4}\[",
];

/// What the initramfs configuration says about vfio-pci.
enum Initramfs<'a> {
    /// It loads vfio-pci early (the line that says so).
    Loads(&'a Evidence),
    /// These configurations exist and none loads vfio-pci.
    Lacks(Vec<&'a InitramfsConfig>),
    /// A collected root has no configuration file of the distribution's tool.
    NoFile(InitramfsTool),
    /// Not known (a paste without it, or an unknown distribution).
    Unknown,
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for d in sys.devices.iter().filter(|d| d.is_gpu()) {
        let Some(driver) = d.driver.as_deref().filter(|x| NATIVE.contains(x)) else { continue };
        let (Some(v), Some(i)) = (d.vendor_id, d.device_id) else { continue };
        let ids = vfio_ids::configured_for(sys, v, i);
        // A card the host keeps is in the ids by mistake (vfio-ids-match-host-gpu): loading
        // vfio-pci earlier would take it from the host.
        if ids.is_empty() || host_keeps(sys, d).is_some() {
            continue;
        }
        let softdep = sys.modconf.vfio_pci_before(driver);
        let initramfs = initramfs_state(sys);
        let initramfs_missing = matches!(initramfs, Initramfs::Lacks(_) | Initramfs::NoFile(_));
        if softdep.is_some() && !initramfs_missing {
            continue;
        }

        let mut evidence = vec![d.evidence("driver", driver)];
        evidence.extend(ids.iter().map(|x| x.evidence.clone()));
        let mut causes: Vec<String> = Vec::new();
        match softdep {
            Some(ev) => evidence.push(ev.clone()),
            None => causes.push(format!("no `softdep {driver} pre: vfio-pci` in modprobe.d, so nothing makes modprobe load vfio-pci before {driver}")),
        }
        match &initramfs {
            Initramfs::Lacks(configs) => {
                let files: Vec<String> = configs.iter().map(|c| format!("`{}`", shown_path(&c.path))).collect();
                causes.push(format!("the initramfs configuration ({}) does not load vfio_pci early", files.join(", ")));
                for c in configs {
                    match (&c.declared_at, c.modules.first()) {
                        (Some(ev), _) => evidence.push(ev.clone()),
                        (None, Some(m)) => evidence.push(m.evidence.clone()),
                        (None, None) => evidence.push(Evidence::new(shown_path(&c.path), "whole file", "no module listed")),
                    }
                    // mkinitcpio's kms hook copies amdgpu, radeon, nouveau and i915 into the image.
                    if c.hooks.iter().any(|h| h == "kms") && ["amdgpu", "radeon", "nouveau"].contains(&driver) {
                        causes.push(format!("its `kms` hook puts {driver} into the initramfs, so {driver} loads before the root file system is even mounted"));
                        if let Some(ev) = &c.hooks_at {
                            evidence.push(ev.clone());
                        }
                    }
                }
            }
            Initramfs::NoFile(tool) => causes.push(format!("there is no `{}`, so the initramfs does not load vfio_pci", tool.config_file())),
            Initramfs::Loads(ev) => evidence.push((*ev).clone()),
            Initramfs::Unknown => {}
        }
        let race = race_note(sys, d, driver, v, i, &mut evidence);
        let message = format!(
            "{} is configured for vfio-pci ({}), but {driver} bound it first: {}.{race}",
            d.label(),
            ids.iter().map(|x| format!("{} in {}", x.ids(), x.evidence.source)).collect::<Vec<_>>().join(", "),
            causes.join("; and ")
        );
        let f = out.emit(d.label(), message, evidence);
        f.remediation = remediation(sys, d, driver, softdep.is_none(), &initramfs);
    }
}

fn shown_path(path: &str) -> String {
    if path.starts_with("etc/") {
        format!("/{path}")
    } else {
        path.to_string()
    }
}

fn initramfs_state(sys: &System) -> Initramfs<'_> {
    let cmdline_pre = sys.cmdline.as_ref().is_some_and(|c| c.all("rd.driver.pre").iter().any(|v| v.split(',').any(|m| m.replace('-', "_") == "vfio_pci")));
    let configs = &sys.modconf.initramfs;
    for c in configs {
        if let Some(m) = c.modules.iter().find(|m| m.name == "vfio_pci" && (m.forced || cmdline_pre)) {
            return Initramfs::Loads(&m.evidence);
        }
    }
    if !configs.is_empty() {
        return Initramfs::Lacks(configs.iter().collect());
    }
    let tool = sys.host.distro_id.as_deref().and_then(InitramfsTool::for_distro);
    match tool {
        Some(t) if sys.modconf.collected => Initramfs::NoFile(t),
        _ => Initramfs::Unknown,
    }
}

/// When the kernel log shows both the native driver taking the card and vfio-pci registering
/// the ids, say in which order (dmesg seconds since boot).
fn race_note(sys: &System, d: &Device, driver: &str, vendor: u16, device: u16, evidence: &mut Vec<Evidence>) -> String {
    let lines: Vec<&LogLine> = sys.lines(SourceKind::KernelLog).collect();
    let native = lines.iter().find(|l| l.device.as_ref().is_some_and(|r| r.address == d.address && r.driver == driver));
    let add = format!("{VFIO_ADD}{vendor:04x}:{device:04x}[");
    let vfio = lines.iter().find(|l| l.message.starts_with(VFIO_PCI) && l.message.contains(&add));
    if let Some(l) = native {
        evidence.push(Evidence::from(*l));
    }
    if let Some(l) = vfio {
        evidence.push(Evidence::from(*l));
    }
    match (native.and_then(|l| l.seconds), vfio.and_then(|l| l.seconds)) {
        (Some(a), Some(b)) if a < b => format!(" The kernel log shows {driver} on {} at {a:.2} s and vfio-pci registering the ids only at {b:.2} s.", d.address.short()),
        // "No such line" holds only for a log that starts at boot, not for an excerpt.
        (Some(a), None) if sys.kernel_log_from_boot() => format!(" The kernel log shows {driver} on {} at {a:.2} s and no `vfio_pci: add` line for these ids.", d.address.short()),
        _ => String::new(),
    }
}

fn remediation(sys: &System, d: &Device, driver: &str, softdep_missing: bool, initramfs: &Initramfs<'_>) -> String {
    let mut steps: Vec<String> = Vec::new();
    if softdep_missing {
        // Every driver that can claim this vendor's cards, the bound one first.
        let mut drivers = vec![driver];
        for x in match driver {
            "nvidia" | "nouveau" => ["nvidia", "nouveau"],
            _ => ["amdgpu", "radeon"],
        } {
            if !drivers.contains(&x) && sys.modconf.vfio_pci_before(x).is_none() {
                drivers.push(x);
            }
        }
        let file = sys
            .modconf
            .options
            .iter()
            .find(|o| o.module == "vfio_pci" && o.key == "ids")
            .map(|o| o.evidence.source.clone())
            .unwrap_or_else(|| "/etc/modprobe.d/vfio.conf".into());
        let mut s = format!("Make modprobe load vfio-pci before the graphics drivers. Add to `{file}`:\n\n```text\n");
        for x in &drivers {
            s.push_str(&format!("softdep {x} pre: vfio-pci\n"));
        }
        s.push_str("```");
        steps.push(s);
    }
    let legacy_virqfd = vfio_ids::kernel_version(sys).is_some_and(|(maj, min)| (maj, min) < (6, 2));
    let modules: Vec<&str> = if legacy_virqfd { vec!["vfio_pci", "vfio", "vfio_iommu_type1", "vfio_virqfd"] } else { vec!["vfio_pci", "vfio", "vfio_iommu_type1"] };
    let tool = match initramfs {
        Initramfs::Lacks(configs) => configs.first().map(|c| c.tool),
        Initramfs::NoFile(t) => Some(*t),
        Initramfs::Loads(_) => None,
        Initramfs::Unknown => sys.host.distro_id.as_deref().and_then(InitramfsTool::for_distro),
    };
    let needs_initramfs = !matches!(initramfs, Initramfs::Loads(_));
    if needs_initramfs {
        steps.push(match tool {
            Some(InitramfsTool::InitramfsTools) => format!(
                "Load the vfio modules from the initramfs. Append to `/etc/initramfs-tools/modules`:\n\n```text\n{}\n```\n\nand rebuild it:\n\n```sh\nsudo update-initramfs -u -k all\n```",
                modules.join("\n")
            ),
            Some(InitramfsTool::Mkinitcpio) => {
                let path = match initramfs {
                    Initramfs::Lacks(c) => c.iter().find(|c| c.tool == InitramfsTool::Mkinitcpio).map(|c| shown_path(&c.path)),
                    _ => None,
                }
                .unwrap_or_else(|| "/etc/mkinitcpio.conf".into());
                let existing: Vec<String> = match initramfs {
                    Initramfs::Lacks(c) => c.iter().flat_map(|c| c.modules.iter().map(|m| m.name.clone())).filter(|m| !modules.contains(&m.as_str())).collect(),
                    _ => Vec::new(),
                };
                let mut all: Vec<String> = modules.iter().map(|m| m.to_string()).collect();
                all.extend(existing);
                format!(
                    "Put the vfio modules first in the initramfs: in `{path}` set\n\n```text\nMODULES=({})\n```\n\nkeep `modconf` in `HOOKS` (it copies the softdep into the image), then:\n\n```sh\nsudo mkinitcpio -P\n```",
                    all.join(" ")
                )
            }
            Some(InitramfsTool::Dracut) => format!(
                "Make dracut load the vfio modules early. `/etc/dracut.conf.d/vfio.conf`:\n\n```text\nforce_drivers+=\" {} \"\n```\n\nthen:\n\n```sh\nsudo dracut -f --regenerate-all\n```",
                modules.join(" ")
            ),
            None => format!(
                "Load the vfio modules ({}) from the initramfs: Debian/Ubuntu: `/etc/initramfs-tools/modules`, then `sudo update-initramfs -u -k all`; \
                 Arch: `MODULES=({})` in `/etc/mkinitcpio.conf`, then `sudo mkinitcpio -P`; Fedora: `force_drivers+=\" {} \"` in \
                 `/etc/dracut.conf.d/vfio.conf`, then `sudo dracut -f --regenerate-all`.",
                modules.join(", "),
                modules.join(" "),
                modules.join(" ")
            ),
        });
    } else if softdep_missing {
        // modprobe.d reaches the image only when it is rebuilt.
        let cmd = tool.map(|t| t.rebuild_command()).unwrap_or_else(|| crate::rules::fix::initramfs_update_command(sys));
        steps.push(format!("Rebuild the initramfs so it carries the softdep:\n\n```sh\n{cmd}\n```"));
    }
    let numbered: Vec<String> = steps.iter().enumerate().map(|(i, s)| format!("{}. {s}", i + 1)).collect();
    format!(
        "{}\n\nReboot; `lspci -nnk -s {}` must then say `Kernel driver in use: vfio-pci`, and `dmesg | grep -i vfio` must show `vfio_pci: add [{}…` before any {driver} line.",
        numbered.join("\n\n"),
        d.address.short(),
        d.ids()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every native driver's device lines and vfio-pci's `add [` lines (the seed's dmesg,
    /// signatures.md §1.2) are kept by a long log.
    #[test]
    fn long_logs_keep_every_line_the_check_reads() {
        for driver in NATIVE {
            let line = format!("[    2.917433] {driver} 0000:04:00.0: enabling device (0006 -> 0007)");
            let l = &crate::system::kernel_log::parse(&line, "dmesg")[0];
            assert_eq!(l.device.as_ref().map(|d| d.driver.as_str()), Some(*driver));
            assert!(super::super::keeps(LOG_SIGNATURES, &line), "a long log keeps {line}");
        }
        let line = "[    1.228190] vfio_pci: add [10de:1c02[ffffffff:ffffffff]] class 0x000000/00000000";
        let l = &crate::system::kernel_log::parse(line, "dmesg")[0];
        assert!(l.message.starts_with(VFIO_PCI) && l.message.contains(&format!("{VFIO_ADD}{:04x}:{:04x}[", 0x10de, 0x1c02)));
        assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
    }
}
