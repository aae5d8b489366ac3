//! The bundle: what was collected from a host or imported from loose files, as a versioned,
//! serializable contract (DESIGN.md §3). Logs and configs stay text so a newer vfio-doctor can
//! re-analyse an old bundle; PCI devices stay their sysfs attribute values.

mod load;
pub mod redact;
mod save;
pub mod schema;

pub use load::{load, load_str};
pub use save::{save, to_json};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "vfio-doctor-bundle";
/// Bumped on every breaking change of the bundle's shape. Older bundles still load.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Bundle {
    /// Always `vfio-doctor-bundle`.
    #[schemars(extend("const" = "vfio-doctor-bundle"))]
    pub format: String,
    /// The bundle format version (bumped on every breaking change); readers refuse newer ones.
    pub version: u32,
    /// The vfio-doctor that wrote the bundle.
    pub tool: Tool,
    /// When it was collected (RFC 3339, UTC).
    pub collected_at: String,
    /// Whether identifying values were replaced by placeholders (`host-1`, `mac-1`, …).
    pub redacted: bool,
    #[serde(default)]
    pub host: Host,
    /// Everything read, one entry per file, command output or loose input, with its status.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// The PCI functions (from sysfs, or rebuilt from pasted lspci / IOMMU-group listings).
    #[serde(default)]
    pub pci_devices: Vec<PciDevice>,
    /// The IOMMU groups and their members.
    #[serde(default)]
    pub iommu_groups: Vec<IommuGroup>,
    /// Things the collector or importer wants the reader to know (a file of unknown kind, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Tool {
    /// `vfio-doctor`.
    pub name: String,
    /// Its version (`0.1.0`).
    pub version: String,
}

/// Facts about the host that are not a log or a device.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Host {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Kernel release (`uname -r`), from /proc/version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// PRETTY_NAME of /etc/os-release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro: Option<String>,
    /// `ID` and `ID_LIKE` of /etc/os-release (e.g. `ubuntu debian`): picks the fix commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// The virtualization-related CPU flags present (`vmx`, `svm`, `hypervisor`); `None` when
    /// /proc/cpuinfo was not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_flags: Option<Vec<String>>,
    /// Whether /dev/kvm exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvm_device: Option<bool>,
    /// Whether the host booted through UEFI (/sys/firmware/efi exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efi: Option<bool>,
    /// Whether the collector ran as root (live collection only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_as_root: Option<bool>,
}

/// One thing read: a file, a command's output, a loose input. Its status says what went wrong.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Source {
    /// What the source is; rule files name these in `needs`.
    pub kind: SourceKind,
    /// Path relative to the root (`proc/cmdline`), or the input's name (`dmesg.txt`).
    pub path: String,
    /// How it was obtained: `file`, `/dev/kmsg`, `journalctl -k -b 0 --no-pager`, `input`, …
    pub origin: String,
    /// Whether it was read; `text` is present only when `ok`.
    pub status: Status,
    /// Why it could not be read (`permission denied: /dev/kmsg (run as root)`), or a remark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The domain this source belongs to (domain XML, QEMU log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<String>,
    /// The content, as text (UTF-16 and Windows-1252 inputs decoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Binary content (an option ROM), base64 (standard alphabet, padded), when `text` is not fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// What was cut from `text` to keep the bundle small.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<Cut>,
}

impl Source {
    pub fn ok(kind: SourceKind, path: impl Into<String>, origin: impl Into<String>, text: String) -> Source {
        Source {
            kind,
            path: path.into(),
            origin: origin.into(),
            status: Status::Ok,
            reason: None,
            vm: None,
            text: Some(text),
            base64: None,
            cut: None,
        }
    }

    pub fn failed(
        kind: SourceKind,
        path: impl Into<String>,
        origin: impl Into<String>,
        status: Status,
        reason: impl Into<String>,
    ) -> Source {
        Source {
            kind,
            path: path.into(),
            origin: origin.into(),
            status,
            reason: Some(reason.into()),
            vm: None,
            text: None,
            base64: None,
            cut: None,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Read.
    Ok,
    /// The file or directory does not exist.
    Missing,
    /// Not readable as this user (most need root).
    PermissionDenied,
    /// Could not be read or run for another reason (given in `reason`).
    Error,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::PermissionDenied => "permission denied",
            Status::Error => "error",
        })
    }
}

/// The kinds of material vfio-doctor understands. Rule files name these in `needs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// sys/bus/pci/devices (structured, in `pci_devices`).
    Pci,
    /// sys/kernel/iommu_groups (structured, in `iommu_groups`).
    IommuGroups,
    /// The running kernel's command line (proc/cmdline).
    Cmdline,
    /// CPU vendor, model and virtualization flags, summarised from proc/cpuinfo.
    Cpuinfo,
    /// Loaded modules (proc/modules).
    Modules,
    /// The distribution (etc/os-release or usr/lib/os-release).
    OsRelease,
    /// proc/version (the kernel release and its build).
    KernelVersion,
    /// Kernel log of this boot: /dev/kmsg or `journalctl -k -b 0` live; var/log/dmesg, kern.log or
    /// the journal under a root; a pasted dmesg/journal/syslog.
    KernelLog,
    /// Kernel log of the previous boot (a forced `kernel-log-previous:` input).
    KernelLogPrevious,
    /// libvirt domain XML (etc/libvirt/qemu/*.xml, run/libvirt/qemu/*.xml; `virsh dumpxml` pasted);
    /// `vm` names the domain.
    DomainXml,
    /// libvirt's per-domain QEMU log (var/log/libvirt/qemu/NAME.log and rotations); `vm` names the
    /// domain.
    QemuLog,
    /// Xorg log (var/log/Xorg.N.log, ~/.local/share/xorg/Xorg.N.log).
    XorgLog,
    /// Module configuration: modprobe.d, modules-load.d and the initramfs configs (initramfs-tools,
    /// mkinitcpio, dracut).
    Modprobe,
    /// Boot loader configuration: etc/default/grub, etc/kernel/cmdline, systemd-boot entries,
    /// kernelstub.
    BootConfig,
    /// proc/iomem (which resource sits inside a GPU BAR; addresses read as zero without root).
    Iomem,
    /// Parameters of the loaded kvm and vfio modules (sys/module/NAME/parameters), one
    /// `module.param=value` a line.
    ModuleParams,
    /// Network interfaces (sys/class/net), one `NAME type=bridge|wireless|ether|tun master=BR` a
    /// line.
    Net,
    /// A Proxmox VE VM configuration (etc/pve/qemu-server/VMID.conf, `qm config VMID` pasted);
    /// `vm` is the VMID.
    QmConfig,
    /// Proxmox VE's PCI resource mappings (etc/pve/mapping/pci.cfg), which `hostpciN: mapping=NAME`
    /// refers to.
    PveMapping,
    /// A Proxmox VE task log of a failed `qm start` (var/log/pve/tasks/*/UPID:…:qmstart:VMID:…):
    /// QEMU's errors prefixed `kvm:`, then `TASK ERROR: …`; `vm` is the VMID. Read as a QEMU log.
    PveTaskLog,
    /// Pasted `qm showcmd VMID [--pretty]` output: the QEMU command line Proxmox VE would run.
    /// Read as a QEMU log.
    QmShowcmd,
    /// An option ROM / vBIOS dump (a loose input), in `base64`.
    Rom,
    /// A Windows guest's DxDiag text report (`dxdiag /t`; UTF-16 or UTF-8).
    Dxdiag,
    /// A Windows guest's `pnputil /enum-devices` output.
    Pnputil,
    /// A Windows guest's PowerShell `Get-PnpDevice` / `Win32_PnPEntity` / `Win32_VideoController`
    /// listing.
    Powershell,
    /// Pasted `lspci -nnk` (or -vnn) output; its devices are merged into `pci_devices`.
    Lspci,
    /// Pasted output of the guides' IOMMU-group shell loop; merged into `pci_devices` and
    /// `iommu_groups`.
    IommuScript,
    /// Pasted output of rom-parser (awilliam/rom-parser): the image chain of an option ROM
    /// as text, analysed as if the ROM itself were given.
    RomParser,
    /// Pasted `ulimit -a` / `ulimit -l` / `prlimit` output (the memory-lock limit).
    Limits,
    /// Pasted `fuser -v`, `lsof` or `ps` output: the processes holding /dev/nvidia*, /dev/dri/*
    /// or libnvidia-ml.
    Holders,
    /// A pasted `set -x` trace of a libvirt hook script (`+ modprobe -r nvidia_drm` and what
    /// each step printed).
    HookTrace,
    /// A loose input whose kind could not be told; scanned against every log signature.
    Text,
    /// A kind from a newer vfio-doctor (any other name loads as this one); kept, not analysed.
    #[serde(other)]
    Unknown,
}

impl SourceKind {
    /// The kebab-case name used in bundles, rule files and `KIND:PATH`.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Pci => "pci",
            SourceKind::IommuGroups => "iommu-groups",
            SourceKind::Cmdline => "cmdline",
            SourceKind::Cpuinfo => "cpuinfo",
            SourceKind::Modules => "modules",
            SourceKind::OsRelease => "os-release",
            SourceKind::KernelVersion => "kernel-version",
            SourceKind::KernelLog => "kernel-log",
            SourceKind::KernelLogPrevious => "kernel-log-previous",
            SourceKind::DomainXml => "domain-xml",
            SourceKind::QemuLog => "qemu-log",
            SourceKind::XorgLog => "xorg-log",
            SourceKind::Modprobe => "modprobe",
            SourceKind::BootConfig => "boot-config",
            SourceKind::Iomem => "iomem",
            SourceKind::ModuleParams => "module-params",
            SourceKind::Net => "net",
            SourceKind::QmConfig => "qm-config",
            SourceKind::PveMapping => "pve-mapping",
            SourceKind::PveTaskLog => "pve-task-log",
            SourceKind::QmShowcmd => "qm-showcmd",
            SourceKind::Rom => "rom",
            SourceKind::Dxdiag => "dxdiag",
            SourceKind::Pnputil => "pnputil",
            SourceKind::Powershell => "powershell",
            SourceKind::Lspci => "lspci",
            SourceKind::IommuScript => "iommu-script",
            SourceKind::RomParser => "rom-parser",
            SourceKind::Limits => "limits",
            SourceKind::Holders => "holders",
            SourceKind::HookTrace => "hook-trace",
            SourceKind::Text => "text",
            SourceKind::Unknown => "unknown",
        }
    }

    pub const ALL: &'static [SourceKind] = &[
        SourceKind::Pci,
        SourceKind::IommuGroups,
        SourceKind::Cmdline,
        SourceKind::Cpuinfo,
        SourceKind::Modules,
        SourceKind::OsRelease,
        SourceKind::KernelVersion,
        SourceKind::KernelLog,
        SourceKind::KernelLogPrevious,
        SourceKind::DomainXml,
        SourceKind::QemuLog,
        SourceKind::XorgLog,
        SourceKind::Modprobe,
        SourceKind::BootConfig,
        SourceKind::Iomem,
        SourceKind::ModuleParams,
        SourceKind::Net,
        SourceKind::QmConfig,
        SourceKind::PveMapping,
        SourceKind::PveTaskLog,
        SourceKind::QmShowcmd,
        SourceKind::Rom,
        SourceKind::Dxdiag,
        SourceKind::Pnputil,
        SourceKind::Powershell,
        SourceKind::Lspci,
        SourceKind::IommuScript,
        SourceKind::RomParser,
        SourceKind::Limits,
        SourceKind::Holders,
        SourceKind::HookTrace,
        SourceKind::Text,
    ];

    /// The kind whose rules also read this one: a Proxmox VM configuration is a VM definition
    /// like a libvirt domain, and a task log or `qm showcmd` output carries QEMU's own lines like
    /// libvirt's QEMU log. A rule that needs `domain-xml` or `qemu-log` runs on these too.
    pub fn reads_as(self) -> SourceKind {
        match self {
            SourceKind::QmConfig => SourceKind::DomainXml,
            SourceKind::PveTaskLog | SourceKind::QmShowcmd => SourceKind::QemuLog,
            other => other,
        }
    }

    pub fn from_name(name: &str) -> Option<SourceKind> {
        SourceKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// Whether sources of this kind are logs (long ones keep their signature lines, folded).
    pub fn is_log(self) -> bool {
        matches!(self, SourceKind::KernelLog | SourceKind::KernelLogPrevious | SourceKind::QemuLog | SourceKind::PveTaskLog | SourceKind::XorgLog | SourceKind::Text)
    }

    /// How a helper gets this source from someone else's host: the command whose output, pasted,
    /// vfio-doctor reads as this kind, and whether it is told by its content (else it must be
    /// given as `KIND:FILE`). `{vm}` is the domain and `[ -s {addr}]` an optional part with the
    /// device's address, both filled in by the report when it knows them. `None`: nothing a
    /// user would paste (a structured view, a ROM dump, unrecognised text).
    pub fn paste_command(self) -> Option<(&'static str, bool)> {
        Some(match self {
            SourceKind::Pci | SourceKind::Lspci => ("lspci -nnk[ -s {addr}]", true),
            SourceKind::IommuGroups | SourceKind::IommuScript => (
                r#"for g in /sys/kernel/iommu_groups/*; do echo "IOMMU Group ${g##*/}:"; for d in $g/devices/*; do echo -e "\t$(lspci -nnks ${d##*/})"; done; done"#,
                true,
            ),
            SourceKind::Cmdline => ("cat /proc/cmdline", true),
            SourceKind::KernelLog => ("sudo dmesg", true),
            SourceKind::KernelLogPrevious => ("journalctl -k -b -1 --no-pager", false),
            SourceKind::DomainXml => ("virsh dumpxml {vm}", true),
            SourceKind::QemuLog => ("sudo tail -n 200 /var/log/libvirt/qemu/{vm}.log", true),
            SourceKind::XorgLog => ("cat /var/log/Xorg.0.log", true),
            SourceKind::Modprobe => ("cat /etc/modprobe.d/*.conf", true),
            SourceKind::BootConfig => ("cat /etc/default/grub", true),
            SourceKind::Cpuinfo => ("grep -m2 -E '^(vendor_id|flags)' /proc/cpuinfo", false),
            SourceKind::Modules => ("lsmod", true),
            SourceKind::Limits => ("ulimit -a", true),
            SourceKind::Holders => ("sudo fuser -v /dev/nvidia* /dev/dri/*", true),
            SourceKind::Iomem => ("sudo cat /proc/iomem", false),
            SourceKind::Dxdiag => ("dxdiag /t dxdiag.txt", true),
            SourceKind::Pnputil => ("pnputil /enum-devices /class Display", true),
            SourceKind::Powershell => ("Get-PnpDevice -Class Display | Format-List", true),
            SourceKind::QmConfig => ("qm config {vm}", true),
            SourceKind::PveMapping => ("cat /etc/pve/mapping/pci.cfg", true),
            SourceKind::PveTaskLog => ("qm start {vm}", true),
            SourceKind::QmShowcmd => ("qm showcmd {vm} --pretty", true),
            SourceKind::OsRelease | SourceKind::KernelVersion | SourceKind::ModuleParams | SourceKind::Net => return None,
            // A ROM (or rom-parser's report of one) and a hook's trace matter only where a ROM or
            // a hook is used: not asked for.
            SourceKind::Rom | SourceKind::RomParser | SourceKind::HookTrace | SourceKind::Text | SourceKind::Unknown => return None,
        })
    }

    /// Whether lines of this kind are scanned against every log signature, whatever source a
    /// pattern names: unrecognised text, and a hook script's trace, whose step output is what
    /// the programs it ran (`virsh`, `modprobe`, QEMU) printed.
    pub fn scanned_against_all(self) -> bool {
        matches!(self, SourceKind::Text | SourceKind::HookTrace)
    }

    /// The words a user reads in "not evaluated: no kernel log".
    pub fn human(self) -> &'static str {
        match self {
            SourceKind::Pci => "PCI devices (sysfs)",
            SourceKind::IommuGroups => "IOMMU groups",
            SourceKind::Cmdline => "kernel command line",
            SourceKind::Cpuinfo => "CPU information",
            SourceKind::Modules => "loaded modules",
            SourceKind::OsRelease => "OS release",
            SourceKind::KernelVersion => "kernel version",
            SourceKind::KernelLog => "kernel log",
            SourceKind::KernelLogPrevious => "kernel log of the previous boot",
            SourceKind::DomainXml => "libvirt domain XML",
            SourceKind::QemuLog => "QEMU log",
            SourceKind::XorgLog => "Xorg log",
            SourceKind::Modprobe => "modprobe configuration",
            SourceKind::BootConfig => "boot loader configuration",
            SourceKind::Iomem => "/proc/iomem",
            SourceKind::ModuleParams => "module parameters",
            SourceKind::Net => "network interfaces",
            SourceKind::QmConfig => "Proxmox VE VM configuration",
            SourceKind::PveMapping => "Proxmox VE PCI mappings",
            SourceKind::PveTaskLog => "Proxmox VE task log",
            SourceKind::QmShowcmd => "qm showcmd output",
            SourceKind::Rom => "option ROM",
            SourceKind::Dxdiag => "DxDiag report",
            SourceKind::Pnputil => "pnputil output",
            SourceKind::Powershell => "PowerShell Get-PnpDevice output",
            SourceKind::Lspci => "lspci output",
            SourceKind::IommuScript => "IOMMU group listing",
            SourceKind::RomParser => "rom-parser output",
            SourceKind::Limits => "ulimit/prlimit output",
            SourceKind::Holders => "fuser/lsof/ps listing of who holds the GPU",
            SourceKind::HookTrace => "hook script trace (set -x)",
            SourceKind::Text => "unrecognised text",
            SourceKind::Unknown => "unknown source",
        }
    }
}

/// What was left out of a long text: its head and tail are kept in `text`, and from between
/// them the lines that match a known signature, folded (see `collect::capture`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
pub struct Cut {
    /// Size of the whole text.
    pub original_bytes: u64,
    /// Lines of the whole text.
    pub original_lines: u64,
    /// Size of what `text` keeps.
    pub kept_bytes: u64,
    /// Lines between head and tail, none of which is in `text` (the folded ones included).
    pub cut_lines: u64,
    /// Identical lines folded into one, with how often they occurred.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folded: Vec<Folded>,
    /// How many lines of `text` are the original's first lines; the rest of `text` is its tail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_lines: Option<u64>,
    /// The original line number (1-based) of the tail's first line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_first_line: Option<u64>,
    /// Signature lines from between head and tail that could not be kept (too many distinct).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unkept_matches: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
pub struct Folded {
    /// The first occurrence, as it was (timestamp included).
    pub line: String,
    /// How often it occurred.
    pub count: u64,
    /// Line number (1-based, in the original text) of its first occurrence.
    pub first_line: u64,
    /// Line number of its last occurrence.
    pub last_line: u64,
    /// Of `count`, the lines that differed from `line` in their `0x…` numbers only (folded by
    /// shape once too many distinct lines were kept).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub similar: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A PCI function as sysfs shows it: attribute values verbatim (`0x10de`), links by last name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct PciDevice {
    /// `0000:08:00.0`
    pub address: String,
    /// `vendor` (`0x10de`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// `device` (`0x1c02`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `subsystem_vendor` (`0x19da`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsystem_vendor: Option<String>,
    /// `subsystem_device` (`0x2438`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsystem_device: Option<String>,
    /// `class` (`0x030000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// `revision` (`0xa1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `boot_vga` (`1` for the GPU the firmware booted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_vga: Option<String>,
    /// The bound driver (last name of the `driver` link: `vfio-pci`), absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The IOMMU group (last name of the `iommu_group` link: `16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iommu_group: Option<String>,
    /// `driver_override` (`(null)` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_override: Option<String>,
    /// `reset_method` (`flr bus`), kernel 5.15 and later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_method: Option<String>,
    /// `current_link_speed` (`8.0 GT/s PCIe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_link_speed: Option<String>,
    /// `current_link_width` (`8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_link_width: Option<String>,
    /// `max_link_speed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_link_speed: Option<String>,
    /// `max_link_width`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_link_width: Option<String>,
    /// `resource`: one `start end flags` line per BAR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Where this device's facts came from: `sysfs`, or the input it was rebuilt from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Attributes that could not be read, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IommuGroup {
    /// The group number (`16`).
    pub id: String,
    /// PCI addresses of its members (`0000:08:00.0`).
    pub devices: Vec<String>,
}

impl Bundle {
    /// An empty bundle stamped with this tool and the current time.
    pub fn new() -> Bundle {
        Bundle {
            format: FORMAT.to_string(),
            version: VERSION,
            tool: Tool { name: "vfio-doctor".into(), version: env!("CARGO_PKG_VERSION").into() },
            collected_at: jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or(jiff::Timestamp::UNIX_EPOCH).to_string(),
            redacted: false,
            host: Host::default(),
            sources: Vec::new(),
            pci_devices: Vec::new(),
            iommu_groups: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn sources_of(&self, kind: SourceKind) -> impl Iterator<Item = &Source> {
        self.sources.iter().filter(move |s| s.kind == kind)
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}
