//! Logic for `romfile-unusable`; its documentation is rules/romfile-unusable.md. Judged from the
//! bundle only (collected `rom` sources, QEMU and kernel lines): the ROM path named in someone
//! else's XML is never opened here.

use std::sync::OnceLock;

use regex::Regex;

use crate::bundle::{SourceKind, Status};
use crate::rules::{fix, Evidence, Findings, Severity};
use crate::system::{Hostdev, LogLine, PciAddress, System, Vm};

/// QEMU hw/pci/pci.c pci_add_option_rom(): `failed to find romfile "%s"` (missing, or unreadable
/// by the QEMU process), `romfile "%s" is empty`, `romfile "%s" too large (…)`,
/// `romfile "%s" (%u bytes) is too large for ROM size %u`.
fn qemu_romfile_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?:failed to find romfile "(?P<a>[^"]+)"|romfile "(?P<b>[^"]+)" (?:is empty|too large|\(\d+ bytes\) is too large))"#).ok()
    })
    .as_ref()
}

/// Kernel audit lines: AppArmor (`apparmor="DENIED" operation="open" profile="libvirt-<uuid>"
/// name="/home/…rom" … comm="qemu-system-x86"`) names the full path; SELinux
/// (`avc:  denied  { read } for  pid=… comm="qemu-kvm" name="vbios.rom" …`) only the file name.
fn denied_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r#"(?:apparmor="DENIED".*?profile="libvirt-[^"]*".*?name="(?P<aa>[^"]+)""#,
            r#"|avc:\s+denied\s+\{[^}]*\bread\b[^}]*\}.*?comm="(?:qemu-kvm|qemu-system-[^"]*|kvm)".*?name="(?P<se>[^"]+)")"#
        ))
        .ok()
    })
    .as_ref()
}

/// QEMU hw/vfio/pci.c vfio_pci_load_rom(): `vfio-pci: Cannot read device rom at %s`.
fn device_rom_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"Cannot read device rom at (?P<addr>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])").ok()).as_ref()
}

fn audit_lines(sys: &System) -> impl Iterator<Item = &LogLine> {
    [SourceKind::KernelLog, SourceKind::KernelLogPrevious, SourceKind::Text].into_iter().flat_map(|k| sys.lines(k))
}

fn qemu_lines(sys: &System) -> impl Iterator<Item = &LogLine> {
    [SourceKind::QemuLog, SourceKind::Text].into_iter().flat_map(|k| sys.lines(k))
}

/// The ROM path a QEMU line says it could not use.
fn qemu_romfile(line: &LogLine) -> Option<String> {
    let c = qemu_romfile_re()?.captures(&line.message)?;
    c.name("a").or_else(|| c.name("b")).map(|m| m.as_str().to_string())
}

/// Whether an audit line denies QEMU the file `path`.
fn denies(line: &LogLine, path: &str) -> bool {
    let Some(c) = denied_re().and_then(|re| re.captures(&line.message)) else { return false };
    match (c.name("aa"), c.name("se")) {
        (Some(full), _) => full.as_str() == path,
        (None, Some(base)) => path.rsplit('/').next() == Some(base.as_str()),
        _ => false,
    }
}

/// `/home/…` and `/root/…`: the default AppArmor/SELinux policies of confined QEMU do not let it
/// read there, and home directories are often mode 0750.
fn under_home(path: &str) -> bool {
    path.starts_with("/home/") || path.starts_with("/root/")
}

/// The VM's name, unless the input never named it (the System then names it after its file).
fn named(vm: &Vm) -> Option<&str> {
    (vm.name != *vm.source).then_some(vm.name.as_str())
}

/// The VM a QEMU line belongs to: its log's domain, or the one VM known from that log.
fn domain_of<'a>(sys: &'a System, line: &LogLine) -> Option<&'a Vm> {
    match vm_of_line(sys, line) {
        Some(name) => sys.vms.iter().find(|v| v.name == name),
        None => sys.vms.iter().find(|v| *v.source == *line.source),
    }
}

/// "VM win10", or "the VM of virsh-start.txt" when the input does not name it.
fn vm_words(name: Option<&str>, line: &LogLine) -> String {
    match name {
        Some(n) => format!("VM {n}"),
        None => format!("the VM of {}", line.source),
    }
}

/// The VM a line's source belongs to (collected per-domain logs carry it).
fn vm_of_line<'a>(sys: &'a System, line: &LogLine) -> Option<&'a str> {
    sys.sources.iter().find(|s| *s.path == *line.source).and_then(|s| s.vm.as_deref())
}

/// Why QEMU cannot use the file, as far as the bundle tells.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The collector found no file, or QEMU says it is empty.
    Missing,
    /// Under a home directory: confinement or directory modes keep QEMU out.
    UnderHome,
    /// QEMU cannot open it (missing or denied; `failed to find romfile` does not say which).
    Unreadable,
}

fn cause_of(path: &str, missing: bool) -> Cause {
    if missing {
        Cause::Missing
    } else if under_home(path) {
        Cause::UnderHome
    } else {
        Cause::Unreadable
    }
}

/// `vm` is `None` when the input does not name the domain (a pasted QEMU error).
fn remediation(vm: Option<&str>, hostdev: Option<&Hostdev>, path: &str, cause: Cause) -> String {
    let file = path.rsplit('/').next().filter(|f| !f.is_empty()).unwrap_or("vbios.rom");
    let target = format!("/usr/share/vgabios/{file}");
    let addr = hostdev.map(|h| h.address.as_str().to_string()).unwrap_or_else(|| "ADDRESS".into());
    let dump = format!(
        "```sh\necho 1 | sudo tee /sys/bus/pci/devices/{addr}/rom\nsudo cat /sys/bus/pci/devices/{addr}/rom > {file}\n\
         echo 0 | sudo tee /sys/bus/pci/devices/{addr}/rom\n```"
    );
    let mut r = match cause {
        Cause::Missing => format!(
            "`{path}` does not exist or is empty. Dump the card's ROM on the host while no driver uses it (or download the one for \
             this exact card) and check it with `vfio-doctor rom {file}`:\n\n{dump}\n\nThen install it where QEMU may read it:\n\n"
        ),
        Cause::UnderHome => "Confined QEMU (AppArmor on Debian/Ubuntu, SELinux on Fedora/RHEL) may not read files under home \
                             directories. Move the ROM to `/usr/share/vgabios/`, which the libvirt AppArmor abstraction allows, owned \
                             by root and world-readable:\n\n"
            .to_string(),
        Cause::Unreadable => format!(
            "QEMU (user `libvirt-qemu` on Debian/Ubuntu, `qemu` on Fedora) could not open `{path}`. Check that it exists and is \
             readable: `ls -lL {path}` and `sudo -u libvirt-qemu head -c 2 {path} | xxd` (must print `55aa`). If it is missing, \
             dump it (`{dump_short}`), check it with `vfio-doctor rom FILE`, and install it root-owned and world-readable:\n\n",
            dump_short = format_args!("echo 1 > /sys/bus/pci/devices/{addr}/rom; cat /sys/bus/pci/devices/{addr}/rom > {file}")
        ),
    };
    let src = match cause {
        Cause::UnderHome => path,
        _ => file,
    };
    r.push_str("```sh\nsudo mkdir -p /usr/share/vgabios\n");
    if src != target {
        r.push_str(&format!("sudo cp {src} {target}\n"));
    }
    r.push_str(&format!(
        "sudo chown root:root {target}\nsudo chmod 0644 {target}\nsudo restorecon -v {target}   # SELinux hosts only\n```\n\n"
    ));
    let edit = format!("sudo virsh edit {}", vm.unwrap_or("NAME"));
    match hostdev {
        Some(h) => {
            // The whole element, with the guest-side address it has, so pasting it over the old one keeps that.
            let xml = fix::hostdev_xml(&h.address, h.guest_address.as_deref(), Some(&format!("<rom file='{target}'/>")));
            r.push_str(&format!("Then `{edit}` and point the device's `<rom>` at it:\n\n```xml\n{xml}\n```"));
        }
        None => r.push_str(&format!("Then `{edit}` and set `<rom file='{target}'/>` in the GPU's `<hostdev>`.")),
    }
    r
}

/// Proxmox: qemu-server hands QEMU `romfile=NAME` as `/usr/share/kvm/NAME`; QEMU runs as root
/// there, so the file only has to exist in that directory and be a good ROM.
fn pve_fix(p: &crate::system::pve::PveVm, hostdev: Option<&Hostdev>, path: &str, cause: Cause) -> fix::PveFix {
    let file = path.rsplit('/').next().filter(|f| !f.is_empty()).unwrap_or("vbios.rom").to_string();
    let addr = hostdev.map(|h| h.address.to_string()).unwrap_or_else(|| "ADDRESS".into());
    let get = match cause {
        Cause::Missing | Cause::Unreadable if path == format!("/usr/share/kvm/{file}") => format!(
            "`{path}` is missing or empty. Dump the card's ROM while no driver uses it (or download the one for this exact card), check it, \
             and put it there:\n\n```sh\necho 1 > /sys/bus/pci/devices/{addr}/rom\ncat /sys/bus/pci/devices/{addr}/rom > /usr/share/kvm/{file}\n\
             echo 0 > /sys/bus/pci/devices/{addr}/rom\nvfio-doctor rom /usr/share/kvm/{file}\n```"
        ),
        _ => format!(
            "qemu-server reads `romfile=` from `/usr/share/kvm/` only, by file name. Copy the ROM there and check it:\n\n\
             ```sh\ncp {path} /usr/share/kvm/{file}\nvfio-doctor rom /usr/share/kvm/{file}\n```"
        ),
    };
    let set = match hostdev.and_then(|h| p.hostpci_of(&h.address)) {
        // Already named by file name: putting the file in place is the whole fix.
        Some(entry) if entry.romfile.as_deref() == Some(file.as_str()) => Vec::new(),
        Some(entry) => vec![fix::QmSet::set(entry.key(), entry.value_with(&[("romfile", Some(&file))]))],
        None => Vec::new(),
    };
    let lead = if set.is_empty() { format!("{get}\n\nThen start the VM again (`qm start {}`).", p.id()) } else { format!("{get}\n\nThen name it by file name only:") };
    fix::PveFix { lead, set, note: String::new() }
}

/// Evidence that `path`, given to `vm`, could not be used; and whether it is missing (not just denied).
fn failures(sys: &System, vm: &Vm, path: &str) -> (Vec<Evidence>, bool) {
    let mut evidence = Vec::new();
    let mut missing = false;
    // The collector's own attempt (a `rom` source per `<rom file>`).
    // Its path is the XML's, or relative to the collected root (no leading `/`).
    for s in sys.sources.iter().filter(|s| s.kind == SourceKind::Rom && (s.path == path || s.path == path.trim_start_matches('/'))) {
        if s.vm.as_deref().is_some_and(|v| v != vm.name) || s.status == Status::Ok {
            continue;
        }
        missing |= s.status == Status::Missing;
        let why = s.reason.clone().unwrap_or_else(|| s.status.to_string());
        evidence.push(Evidence::new(path, format!("collected rom ({})", s.origin), why));
    }
    for l in qemu_lines(sys) {
        if qemu_romfile(l).as_deref() == Some(path) && vm_of_line(sys, l).is_none_or(|v| v == vm.name) {
            missing |= l.message.contains("is empty");
            evidence.push(Evidence::from(l));
        }
    }
    for l in audit_lines(sys).filter(|l| denies(l, path)) {
        evidence.push(Evidence::from(l));
    }
    (evidence, missing)
}

/// The log lines this rule reads: long logs keep them from between head and tail
/// (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    r#"(?:failed to find romfile "|romfile "[^"]+" (?:is empty|too large|\(\d+ bytes\) is too large))"#,
    r#"apparmor="DENIED".*profile="libvirt-"#,
    r#"avc:\s+denied\s+\{[^}]*\bread\b"#,
    r"Cannot read device rom at ",
];

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let mut judged: Vec<String> = Vec::new();
    for vm in &sys.vms {
        for h in vm.hostdevs.iter() {
            let Some(path) = h.rom_file.as_deref() else { continue };
            judged.push(path.to_string());
            let (mut evidence, missing) = failures(sys, vm, path);
            let failed = !evidence.is_empty();
            if !failed && !under_home(path) {
                continue;
            }
            if vm.from_xml {
                evidence.insert(0, vm.hostdev_evidence(h));
            }
            let label = sys.device(h.address.as_str()).map(|d| d.label()).unwrap_or_else(|| h.address.to_string());
            let message = if failed {
                format!("QEMU cannot use the ROM file {path} given to {label} in VM {}: the VM does not start", vm.name)
            } else {
                format!("The ROM file {path} of {label} in VM {} is under a home directory, which confined QEMU cannot read", vm.name)
            };
            let f = out.emit(format!("VM {} / {}", vm.name, h.address), message, evidence);
            if !failed {
                f.severity = Severity::Warning;
            }
            let cause = cause_of(path, missing);
            f.remediation = fix::vm_remediation(vm, || remediation(Some(&vm.name), Some(h), path, cause), |p| pve_fix(p, Some(h), path, cause));
        }
    }
    // ROM paths seen only in logs (a pasted QEMU error without the XML).
    let mut seen_paths: Vec<String> = Vec::new();
    for l in qemu_lines(sys) {
        let Some(path) = qemu_romfile(l) else { continue };
        if judged.contains(&path) || seen_paths.contains(&path) {
            continue;
        }
        seen_paths.push(path.clone());
        let vm = domain_of(sys, l);
        let mut evidence = vec![Evidence::from(l)];
        evidence.extend(audit_lines(sys).filter(|a| denies(a, &path)).map(Evidence::from));
        // The QEMU line quotes its `-device vfio-pci,host=…` option: the device it belongs to.
        let hostdev = vm.and_then(|v| v.hostdevs.iter().find(|h| l.message.contains(h.address.as_str())));
        let name = vm.and_then(named);
        let f = out.emit(
            name.map(|n| format!("VM {n} / {path}")).unwrap_or_else(|| format!("ROM file {path}")),
            format!("QEMU cannot use the ROM file {path} of {}: the VM does not start", vm_words(name, l)),
            evidence,
        );
        let cause = cause_of(&path, l.message.contains("is empty"));
        f.remediation = match vm {
            Some(v) => fix::vm_remediation(v, || remediation(name, hostdev, &path, cause), |p| pve_fix(p, hostdev, &path, cause)),
            None => remediation(name, hostdev, &path, cause),
        };
    }
    // No romfile, and the card's own ROM (the BAR) cannot be read.
    let mut seen_devices: Vec<String> = Vec::new();
    for l in qemu_lines(sys) {
        let Some(c) = device_rom_re().and_then(|re| re.captures(&l.message)) else { continue };
        let Some(addr) = PciAddress::parse(&c["addr"]) else { continue };
        if seen_devices.contains(&addr.to_string()) {
            continue;
        }
        seen_devices.push(addr.to_string());
        let label = sys.device(addr.as_str()).map(|d| d.label()).unwrap_or_else(|| addr.to_string());
        let name = vm_of_line(sys, l).or_else(|| sys.vms_taking(&addr).first().and_then(|v| named(v)));
        let f = out.emit(
            name.map(|n| format!("VM {n} / {addr}")).unwrap_or_else(|| addr.to_string()),
            format!("QEMU cannot read the option ROM of {label} ({}): the guest firmware gets no usable ROM for the card", vm_words(name, l)),
            vec![Evidence::from(l)],
        );
        let vm = name.unwrap_or("NAME");
        f.remediation = format!(
            "Give QEMU a good ROM file instead of the card's own ROM BAR: dump or download the vBIOS for this exact card, check it with \
             `vfio-doctor rom FILE`, install it as `/usr/share/vgabios/vbios.rom` (root-owned, mode 0644) and set \
             `<rom file='/usr/share/vgabios/vbios.rom'/>` in the `<hostdev>` of {addr} (`sudo virsh edit {vm}`). If the guest does not \
             need the ROM (a secondary GPU), `<rom bar='off'/>` skips it."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_compile() {
        assert!(qemu_romfile_re().is_some() && denied_re().is_some() && device_rom_re().is_some());
    }
}
