//! The System: the parsed view of a bundle that rules query. Parsing happens once, here; rules
//! never re-parse raw text. Nothing in here does I/O, and nothing here is serialized but the
//! [`Evidence`] that findings carry. It imports only from `bundle` and the leaf modules
//! (ARCHITECTURE.md, `tests/layers.rs`).

pub mod boot_config;
pub mod cmdline;
pub mod evidence;
pub mod guest;
pub mod holders;
pub mod hook_trace;
pub mod host_keeps;
pub mod inferred;
pub mod iomem;
pub mod isolation;
pub mod kept;
pub mod kernel_log;
pub mod limits;
pub mod modules;
pub mod modconf;
pub mod net;
pub mod pci;
pub mod pve;
pub mod rom;
pub mod vfio_ids;
pub mod vm;
pub mod xml_repair;
pub mod xorg;

pub use cmdline::Cmdline;
pub use evidence::Evidence;
pub use kernel_log::{DeviceRef, LogLine};
pub use pci::{Device, Group, PciAddress};
pub use vm::{Hostdev, Vm};

use crate::bundle::{Bundle, Host, SourceKind, Status};

/// One source as the rules see it: what it is, where it came from, and whether it is usable.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub kind: SourceKind,
    pub path: String,
    pub origin: String,
    pub status: Status,
    pub reason: Option<String>,
    pub vm: Option<String>,
}

#[derive(Debug, Default)]
pub struct System {
    pub host: Host,
    pub devices: Vec<Device>,
    pub groups: Vec<Group>,
    pub cmdline: Option<Cmdline>,
    /// Virtual machines from domain XML (and, without XML, from QEMU command lines).
    pub vms: Vec<Vm>,
    /// Lines of every text source, by source; index with [`System::lines`].
    logs: Vec<(SourceKind, Vec<LogLine>)>,
    pub sources: Vec<SourceInfo>,
    pub notes: Vec<String>,
    /// Windows guest evidence (DxDiag, pnputil, PowerShell).
    pub guest: guest::Guest,
    /// Option ROMs (a domain's `<rom file=…>`, or a loose dump), parsed.
    pub roms: Vec<rom::RomFile>,
    /// Kernel options the boot loader configuration asks for (GRUB, entries, kernelstub).
    pub boot_configs: Vec<boot_config::BootConfig>,
    /// modprobe.d softdeps, installs and options, and the initramfs module lists.
    pub modconf: modconf::ModuleConfig,
    /// Xorg logs, parsed (their plain lines are in [`System::lines`] too).
    pub xorg: Vec<xorg::XorgLog>,
    /// /proc/iomem, when collected with root (addresses are zero otherwise).
    pub iomem: Option<iomem::Iomem>,
    /// Proxmox VE's PCI resource mappings (etc/pve/mapping/pci.cfg).
    pub pve_mappings: Vec<pve::Mapping>,
    /// Loaded modules (/proc/modules, a pasted lsmod).
    pub modules: Vec<modules::LoadedModule>,
    /// Memory-lock limits from pasted ulimit/prlimit output.
    pub memlock: Vec<limits::Memlock>,
    /// Processes holding the GPU's device files (pasted fuser/lsof/ps).
    pub holders: Vec<holders::Holder>,
    /// `set -x` traces of hook scripts, one per source.
    pub hook_traces: Vec<hook_trace::Trace>,
}

impl System {
    pub fn from_bundle(bundle: &Bundle) -> System {
        let mut sys = System {
            host: bundle.host.clone(),
            notes: bundle.notes.clone(),
            ..System::default()
        };
        sys.devices = pci::devices(bundle);
        // What collection could not read of a device (a symlink loop, an unreadable attribute).
        for d in bundle.pci_devices.iter().filter(|d| !d.notes.is_empty()) {
            sys.notes.push(format!("PCI device {}: {}", d.address, d.notes.join(", ")));
        }
        sys.groups = pci::groups(bundle, &sys.devices);
        // Proxmox's PCI mappings first: a VM configuration's `mapping=NAME` resolves through them.
        for s in bundle.sources.iter().filter(|s| s.kind == SourceKind::PveMapping && s.is_ok()) {
            sys.pve_mappings.extend(pve::parse_mappings(s.text.as_deref().unwrap_or(""), &s.path));
        }
        for s in &bundle.sources {
            sys.sources.push(SourceInfo {
                kind: s.kind,
                path: s.path.clone(),
                origin: s.origin.clone(),
                status: s.status,
                reason: s.reason.clone(),
                vm: s.vm.clone(),
            });
            let Some(text) = s.text.as_deref() else { continue };
            if !s.is_ok() {
                continue;
            }
            if let Some(cut) = &s.cut {
                sys.notes.push(kept::describe(&s.path, cut));
            }
            if matches!(s.kind, SourceKind::Dxdiag | SourceKind::Pnputil | SourceKind::Powershell) {
                sys.guest.add(s.kind, &s.path, text);
            }
            match s.kind {
                SourceKind::Cmdline if sys.cmdline.is_none() => sys.cmdline = Some(Cmdline::parse(text, &s.path)),
                SourceKind::Iomem if sys.iomem.is_none() => sys.iomem = Some(iomem::Iomem::parse(text, &s.path)),
                SourceKind::KernelLog | SourceKind::KernelLogPrevious | SourceKind::Text => {
                    let kept = kept::Kept::of(text, s.cut.as_ref());
                    let mut lines = kernel_log::parse(&kept.text, &s.path);
                    kept.renumber(&mut lines);
                    sys.logs.push((s.kind, lines));
                }
                SourceKind::Rom => {}
                SourceKind::XorgLog => {
                    let kept = kept::Kept::of(text, s.cut.as_ref());
                    let mut log = xorg::parse(&kept.text, &s.path);
                    for x in &mut log.lines {
                        kept.renumber(std::slice::from_mut(&mut x.line));
                    }
                    let mut lines = kernel_log::plain_lines(&kept.text, &s.path);
                    kept.renumber(&mut lines);
                    sys.xorg.push(log);
                    sys.logs.push((s.kind, lines));
                }
                SourceKind::DomainXml => match vm::parse_domain_noting(text, &s.path) {
                    Ok((parsed, note)) => {
                        if let Some(note) = note {
                            sys.notes.push(format!("{}: {note}", s.path));
                        }
                        sys.add_vm(parsed)
                    }
                    Err(problem) => sys.notes.push(format!("{}: {problem}; this domain was not analysed", s.path)),
                },
                SourceKind::QmConfig => {
                    let node = bundle.host.hostname.as_deref();
                    match pve::parse_config(text, &s.path, s.vm.as_deref(), &sys.devices, &sys.pve_mappings, node) {
                        Ok(parsed) => sys.add_vm(parsed),
                        Err(problem) => sys.notes.push(format!("{}: {problem}; this VM was not analysed", s.path)),
                    }
                }
                SourceKind::PveMapping => {}
                kind => {
                    let kept = kept::Kept::of(text, s.cut.as_ref());
                    let mut lines = kernel_log::plain_lines(&kept.text, &s.path);
                    kept.renumber(&mut lines);
                    // A Proxmox task log or `qm showcmd` is read as the QEMU log it holds.
                    sys.logs.push((kind.reads_as(), lines));
                }
            }
        }
        // A VM known only from its QEMU log (no XML in the input) still passes devices.
        for s in bundle.sources.iter().filter(|s| s.kind.reads_as() == SourceKind::QemuLog && s.is_ok()) {
            let Some(text) = s.text.as_deref() else { continue };
            let kept = kept::Kept::of(text, s.cut.as_ref());
            let (name, mut hostdevs) = vm::qemu_hostdevs(&kept.text);
            for h in &mut hostdevs {
                h.line = kept.line(h.line);
            }
            if hostdevs.is_empty() {
                continue;
            }
            // `qm showcmd` names the VM `-name 'win11,debug-threads=on'`, without libvirt's guest=.
            let name = name.or_else(|| if s.kind == SourceKind::QmShowcmd { vm::qemu_plain_name(&kept.text) } else { None });
            let name = s.vm.clone().or(name).unwrap_or_else(|| s.path.clone());
            if sys.vms.iter().any(|v| v.is_named(&name)) {
                continue;
            }
            sys.vms.push(Vm {
                name,
                source: s.path.as_str().into(),
                from_xml: false,
                domain_type: None,
                hostdevs,
                firmware: Default::default(),
                features: Default::default(),
                cpu: Default::default(),
                interfaces: Vec::new(),
                os_id: None,
                line: 1,
                memory: vm::Memory { kib: vm::qemu_memory_kib(text), line: 1, ..Default::default() },
                raw_vfio_args: Vec::new(),
                acpi_tables: Vec::new(),
                pve: None,
            });
        }
        sys.name_pve_sources();
        let of = |sys: &System, kind: SourceKind| -> Vec<LogLine> { sys.lines(kind).cloned().collect() };
        sys.modules = modules::parse(&of(&sys, SourceKind::Modules).iter().collect::<Vec<_>>());
        sys.memlock = limits::parse(&of(&sys, SourceKind::Limits).iter().collect::<Vec<_>>());
        sys.holders = holders::parse(&of(&sys, SourceKind::Holders).iter().collect::<Vec<_>>());
        for s in sys.sources.iter().filter(|s| s.kind == SourceKind::HookTrace) {
            let lines: Vec<&LogLine> = sys.lines(SourceKind::HookTrace).filter(|l| *l.source == *s.path).collect();
            sys.hook_traces.push(hook_trace::parse(&s.path, &lines));
        }
        sys.roms = rom::roms(bundle, &sys.devices, &sys.vms, &mut sys.notes);
        sys.boot_configs = boot_config::parse(bundle);
        sys.modconf = modconf::ModuleConfig::parse(bundle);
        sys
    }

    /// A Proxmox source says its VM by VMID (`100`); rules compare a source's VM with a VM's name
    /// (`100 (win11)`), so it is said by that name here. A pasted task log that names no VM
    /// belongs to the only Proxmox VM of the input.
    fn name_pve_sources(&mut self) {
        let pve: Vec<(Option<String>, String)> =
            self.vms.iter().filter_map(|v| v.pve.as_ref().map(|p| (p.vmid.clone(), v.name.clone()))).collect();
        for s in self.sources.iter_mut().filter(|s| matches!(s.kind, SourceKind::QmConfig | SourceKind::PveTaskLog | SourceKind::QmShowcmd)) {
            match &s.vm {
                Some(id) => {
                    if let Some((_, label)) = pve.iter().find(|(vmid, _)| vmid.as_deref() == Some(id.as_str())) {
                        s.vm = Some(label.clone());
                    }
                }
                None if pve.len() == 1 && s.kind == SourceKind::PveTaskLog => s.vm = Some(pve[0].1.clone()),
                None => {}
            }
        }
    }

    /// Keep one definition per domain name: the running one (run/libvirt, live addresses)
    /// wins over the defined one.
    fn add_vm(&mut self, vm: Vm) {
        match self.vms.iter_mut().find(|v| v.name == vm.name) {
            Some(existing) if vm.source.contains("run/libvirt") => *existing = vm,
            Some(_) => {}
            None => self.vms.push(vm),
        }
    }

    /// The VMs that pass `address` through.
    pub fn vms_taking(&self, address: &PciAddress) -> Vec<&Vm> {
        self.vms.iter().filter(|v| v.takes(address)).collect()
    }

    /// Every (VM, passed device) pair.
    pub fn assigned(&self) -> impl Iterator<Item = (&Vm, &Hostdev)> {
        self.vms.iter().flat_map(|v| v.hostdevs.iter().map(move |h| (v, h)))
    }

    pub fn is_assigned(&self, address: &PciAddress) -> bool {
        self.vms.iter().any(|v| v.takes(address))
    }

    /// Every line of every source of `kind`, in source order.
    pub fn lines(&self, kind: SourceKind) -> impl Iterator<Item = &LogLine> {
        self.logs.iter().filter(move |(k, _)| *k == kind).flat_map(|(_, lines)| lines.iter())
    }

    /// Whether a usable source of `kind` exists. For `pci` and `iommu-groups` a rebuilt view
    /// (from pasted lspci or a group listing) counts too.
    pub fn has(&self, kind: SourceKind) -> bool {
        match kind {
            SourceKind::Pci if !self.devices.is_empty() => true,
            SourceKind::IommuGroups if !self.groups.is_empty() => true,
            SourceKind::Cpuinfo if self.host.cpu_flags.is_some() => true,
            // A Proxmox VM configuration counts as a VM definition, its task log as a QEMU log.
            _ => self.sources.iter().any(|s| (s.kind == kind || s.kind.reads_as() == kind) && s.status == Status::Ok),
        }
    }

    /// Whether anything was collected from a host or a `--root` tree (not only pasted files).
    pub fn collected(&self) -> bool {
        self.sources.iter().any(|s| s.origin != "input")
    }

    /// Why the sources of `kind` that were looked for could not be read (empty when none was).
    fn failures(&self, kind: SourceKind) -> Vec<String> {
        self.sources
            .iter()
            .filter(|s| s.kind == kind && s.status != Status::Ok)
            .map(|s| s.reason.clone().unwrap_or_else(|| format!("{}: {}", s.path, s.status)))
            .collect()
    }

    /// Why a source of `kind` is not usable, phrased for "not evaluated: …".
    pub fn why_missing(&self, kind: SourceKind) -> String {
        let reasons = self.failures(kind);
        if !reasons.is_empty() {
            format!("no {} ({})", kind.human(), reasons.join("; "))
        } else if self.collected() {
            // Collection never reads it (a guest report, a ROM dump): only a file given as INPUT.
            format!("no {} (read only from a file given as INPUT)", kind.human())
        } else {
            format!("no {} in the input", kind.human())
        }
    }

    /// Why none of `any_of` (one `needs` entry of a rule, any kind of which would do) is usable:
    /// "needs a kernel log or a QEMU log; none in the input". Unrecognised text, the fallback
    /// kind of pastes, is left out when other kinds would do.
    pub fn why_none(&self, any_of: &[SourceKind]) -> String {
        let kinds: Vec<SourceKind> = any_of.iter().copied().filter(|k| *k != SourceKind::Text || any_of.len() == 1).collect();
        match kinds.as_slice() {
            [] => String::new(),
            [one] => self.why_missing(*one),
            [init @ .., last] => {
                let names = format!("{} or {}", init.iter().map(|k| k.human()).collect::<Vec<_>>().join(", "), last.human());
                let details: Vec<String> = kinds
                    .iter()
                    .filter_map(|k| {
                        let r = self.failures(*k);
                        (!r.is_empty()).then(|| format!("{}: {}", k.human(), r.join("; ")))
                    })
                    .collect();
                if !details.is_empty() {
                    format!("needs {names}; none present ({})", details.join("; "))
                } else if self.collected() {
                    format!("needs {names}; none present")
                } else {
                    format!("needs {names}; none in the input")
                }
            }
        }
    }

    pub fn device(&self, address: &str) -> Option<&Device> {
        let addr = PciAddress::parse(address)?;
        self.devices.iter().find(|d| d.address == addr)
    }

    /// The device at a parsed address.
    pub fn device_at(&self, address: &PciAddress) -> Option<&Device> {
        self.devices.iter().find(|d| &d.address == address)
    }

    /// The IOMMU group that holds `address`.
    pub fn group_of(&self, address: &PciAddress) -> Option<&Group> {
        self.groups.iter().find(|g| g.members.contains(address))
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// The device the firmware booted on (boot_vga = 1), if sysfs says.
    pub fn boot_vga(&self) -> Option<&Device> {
        self.devices.iter().find(|d| d.boot_vga)
    }

    /// Whether the IOMMU is known to be on: groups exist, or the kernel log says so.
    pub fn iommu_groups_present(&self) -> bool {
        !self.groups.is_empty()
    }

    /// Is the CPU vendor AMD / Intel (from cpuinfo)?
    pub fn cpu_is_amd(&self) -> bool {
        self.host.cpu_vendor.as_deref().is_some_and(|v| v.contains("AMD") || v.contains("Hygon"))
    }
    pub fn cpu_is_intel(&self) -> bool {
        self.host.cpu_vendor.as_deref().is_some_and(|v| v.contains("Intel"))
    }
}
