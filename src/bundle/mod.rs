//! The bundle: what was collected from a host or imported from loose files, as a versioned,
//! serializable contract (DESIGN.md §3). Logs and configs stay text so a newer vfio-doctor can
//! re-analyse an old bundle; PCI devices stay their sysfs attribute values.

mod load;
pub mod redact;
mod save;

pub use load::{load, load_str};
pub use save::{save, to_json};

use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "vfio-doctor-bundle";
/// Bumped on every breaking change of the bundle's shape. Older bundles still load.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    pub format: String,
    pub version: u32,
    pub tool: Tool,
    pub collected_at: String,
    pub redacted: bool,
    #[serde(default)]
    pub host: Host,
    #[serde(default)]
    pub sources: Vec<Source>,
    #[serde(default)]
    pub pci_devices: Vec<PciDevice>,
    #[serde(default)]
    pub iommu_groups: Vec<IommuGroup>,
    /// Things the collector or importer wants the reader to know (a file of unknown kind, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// Facts about the host that are not a log or a device.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub kind: SourceKind,
    /// Path relative to the root (`proc/cmdline`), or the input's name (`dmesg.txt`).
    pub path: String,
    /// How it was obtained: `file`, `/dev/kmsg`, `journalctl -k -b 0 --no-pager`, `input`, …
    pub origin: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The domain this source belongs to (domain XML, QEMU log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<String>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    Missing,
    PermissionDenied,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// sys/bus/pci/devices (structured, in `pci_devices`).
    Pci,
    /// sys/kernel/iommu_groups (structured, in `iommu_groups`).
    IommuGroups,
    Cmdline,
    Cpuinfo,
    Modules,
    OsRelease,
    KernelVersion,
    KernelLog,
    KernelLogPrevious,
    DomainXml,
    QemuLog,
    XorgLog,
    Modprobe,
    BootConfig,
    Iomem,
    ModuleParams,
    Net,
    Rom,
    Dxdiag,
    Pnputil,
    Powershell,
    Lspci,
    IommuScript,
    /// A loose input whose kind could not be told; scanned against every log signature.
    Text,
    /// A kind from a newer vfio-doctor; kept, not analysed.
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
            SourceKind::Rom => "rom",
            SourceKind::Dxdiag => "dxdiag",
            SourceKind::Pnputil => "pnputil",
            SourceKind::Powershell => "powershell",
            SourceKind::Lspci => "lspci",
            SourceKind::IommuScript => "iommu-script",
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
        SourceKind::Rom,
        SourceKind::Dxdiag,
        SourceKind::Pnputil,
        SourceKind::Powershell,
        SourceKind::Lspci,
        SourceKind::IommuScript,
        SourceKind::Text,
    ];

    pub fn from_name(name: &str) -> Option<SourceKind> {
        SourceKind::ALL.iter().copied().find(|k| k.name() == name)
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
            SourceKind::Rom => "option ROM",
            SourceKind::Dxdiag => "DxDiag report",
            SourceKind::Pnputil => "pnputil output",
            SourceKind::Powershell => "PowerShell Get-PnpDevice output",
            SourceKind::Lspci => "lspci output",
            SourceKind::IommuScript => "IOMMU group listing",
            SourceKind::Text => "unrecognised text",
            SourceKind::Unknown => "unknown source",
        }
    }
}

/// What was left out of a long text: its head and tail are kept in `text`, and from between
/// them the lines that match a known signature, folded (see `collect::capture`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cut {
    pub original_bytes: u64,
    pub original_lines: u64,
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Folded {
    /// The first occurrence, as it was (timestamp included).
    pub line: String,
    pub count: u64,
    pub first_line: u64,
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PciDevice {
    /// `0000:08:00.0`
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsystem_vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsystem_device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_vga: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iommu_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_override: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_link_speed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_link_width: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_link_speed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_link_width: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Where this device's facts came from: `sysfs`, or the input it was rebuilt from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Attributes that could not be read, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IommuGroup {
    pub id: String,
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
