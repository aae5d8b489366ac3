//! Reports: the findings, what was not evaluated, and a summary, rendered as text, Markdown,
//! HTML or JSON. Reports never decide anything; every fact they show is on the [`Report`].

pub mod asks;
pub mod html;
pub mod json;
pub mod markdown;
pub mod picture;
pub mod prose;
pub mod text;

pub use picture::HostPicture;

use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, Status};
use crate::rules::{Finding, NotEvaluated, Outcome, Severity};

pub const FORMAT: &str = "vfio-doctor-report";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub format: String,
    pub version: u32,
    pub tool: crate::bundle::Tool,
    pub redacted: bool,
    pub host: HostSummary,
    pub findings: Vec<Finding>,
    pub not_evaluated: Vec<NotEvaluated>,
    /// Sources that could not be read, and notes from collection or import.
    pub notes: Vec<String>,
    pub summary: Summary,
    /// The IOMMU groups and their devices, with each group's passthrough verdict.
    #[serde(default)]
    pub host_picture: HostPicture,
    /// What to ask for next: the commands whose output would let the not-evaluated rules run,
    /// each once, the most useful first (and, live, whether to run as root).
    #[serde(default)]
    pub to_check_more: Vec<asks::Ask>,
    /// Whether the report is on pasted files alone (nothing collected from a host or a tree).
    #[serde(default)]
    pub pasted_only: bool,
    /// Set when too little was checked for "no problems found" to mean anything: no source had
    /// any content, or no rule could run (and nothing was found). Says why; `check` exits 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nothing_checked: Option<String>,
    /// Whether the text, Markdown and HTML reports list every not-evaluated rule with its reason
    /// (`--all-not-evaluated`); otherwise they show the short "to check more" list. JSON always
    /// has both.
    #[serde(skip)]
    pub all_not_evaluated: bool,
    /// How to list the IOMMU groups of what was analysed (`vfio-doctor iommu --root DIR`);
    /// filled by `check`, which knows the arguments.
    #[serde(skip)]
    pub iommu_command: Option<String>,
    /// The VMs the input defines (libvirt domains, Proxmox VE VMs by VMID and name), with what
    /// they pass through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<VmSummary>,
}

/// One VM as the report lists it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VmSummary {
    /// `win10`; a Proxmox VE VM `100 (win11)`.
    pub name: String,
    /// `libvirt`, `proxmox` or `qemu` (known only from a QEMU command line).
    pub manager: String,
    /// The definition it was read from.
    pub source: String,
    /// `uefi` or `bios`, when the definition says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// Host PCI addresses it passes through.
    pub passes: Vec<String>,
}

impl VmSummary {
    fn of(vm: &crate::system::Vm) -> VmSummary {
        let manager = if vm.pve.is_some() {
            "proxmox"
        } else if vm.from_xml {
            "libvirt"
        } else {
            "qemu"
        };
        VmSummary {
            name: vm.name.clone(),
            manager: manager.into(),
            source: vm.source.to_string(),
            firmware: vm.from_xml.then(|| if vm.firmware.is_uefi() { "uefi".to_string() } else { "bios".to_string() }),
            machine: vm.firmware.machine.clone(),
            passes: vm.hostdevs.iter().map(|h| h.address.to_string()).collect(),
        }
    }

    /// `Proxmox VE, OVMF, q35`: what defines the VM and how it boots, as every format prints it.
    pub fn facts(&self) -> String {
        let manager = match self.manager.as_str() {
            "proxmox" => "Proxmox VE",
            "libvirt" => "libvirt",
            _ => "QEMU command line",
        };
        let mut facts: Vec<String> = vec![manager.to_string()];
        facts.extend(self.firmware.as_deref().map(|f| if f == "uefi" { "OVMF".to_string() } else { "SeaBIOS".to_string() }));
        facts.extend(self.machine.clone());
        facts.join(", ")
    }

    /// `passes 0000:01:00.0, 0000:01:00.1`, or `passes no PCI device`.
    pub fn passes_text(&self) -> String {
        if self.passes.is_empty() {
            "passes no PCI device".to_string()
        } else {
            format!("passes {}", self.passes.join(", "))
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostSummary {
    pub kernel: Option<String>,
    pub distro: Option<String>,
    pub cpu: Option<String>,
    pub collected_at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub rules_run: usize,
    pub not_evaluated: usize,
}

impl Report {
    pub fn new(bundle: &Bundle, sys: &crate::system::System, outcome: Outcome) -> Report {
        let count = |s: Severity| outcome.findings.iter().filter(|f| f.severity == s).count();
        let summary = Summary {
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            infos: count(Severity::Info),
            rules_run: outcome.rules_run,
            not_evaluated: outcome.not_evaluated.len(),
        };
        let mut notes: Vec<String> = bundle
            .sources
            .iter()
            .filter(|s| s.status != Status::Ok)
            .map(|s| s.reason.clone().unwrap_or_else(|| format!("{}: {}", s.path, s.status)))
            .collect();
        notes.extend(bundle.notes.iter().cloned());
        let nothing_checked = if !outcome.findings.is_empty() {
            None
        } else if !has_content(bundle) {
            Some(if sys.collected() {
                "every source was missing or unreadable, so no rule had anything to look at".to_string()
            } else {
                "the input holds nothing vfio-doctor could read, so no rule had anything to look at".to_string()
            })
        } else if outcome.rules_run == 0 {
            Some(format!("none of the {} rules could run on what was given", outcome.not_evaluated.len()))
        } else {
            None
        };
        // A likely finding is an open question too: ask first for what would confirm it.
        let open: Vec<NotEvaluated> = outcome.not_evaluated.iter().chain(&outcome.to_confirm).cloned().collect();
        let first: Vec<String> = outcome.unconfirmed.iter().chain(outcome.to_confirm.iter().map(|n| &n.code)).cloned().collect();
        let to_check_more = asks::derive(sys, &open, &first);
        Report {
            format: FORMAT.into(),
            version: VERSION,
            tool: bundle.tool.clone(),
            redacted: bundle.redacted,
            host: HostSummary {
                kernel: bundle.host.kernel.clone(),
                distro: bundle.host.distro.clone(),
                cpu: bundle.host.cpu_model.clone(),
                collected_at: bundle.collected_at.clone(),
            },
            findings: outcome.findings,
            not_evaluated: outcome.not_evaluated,
            notes,
            summary,
            host_picture: HostPicture::from_system(sys),
            vms: sys.vms.iter().map(VmSummary::of).collect(),
            to_check_more,
            pasted_only: !sys.collected(),
            nothing_checked,
            all_not_evaluated: false,
            iommu_command: None,
        }
    }

    /// The most severe finding, if any.
    /// "VD303 boot-gpu-passed-through (0000:08:00.0 …)" for each finding `f` cites as related,
    /// joined: what every format shows as "see also".
    pub fn see_also(&self, f: &crate::rules::Finding) -> Option<String> {
        let cited: Vec<String> = f
            .related
            .iter()
            .map(|code| match self.findings.iter().find(|o| &o.code == code && o.subject != f.subject).or_else(|| self.findings.iter().find(|o| &o.code == code)) {
                Some(o) if o.subject == f.subject => format!("{} {}", o.code, o.name),
                Some(o) => format!("{} {} ({})", o.code, o.name, o.subject),
                None => code.clone(),
            })
            .collect();
        (!cited.is_empty()).then(|| cited.join("; "))
    }

    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Whether anything was read with content: a source with text (or a ROM), or PCI devices or
/// IOMMU groups. What "nothing was checked" is measured against.
fn has_content(bundle: &Bundle) -> bool {
    !bundle.pci_devices.is_empty()
        || !bundle.iommu_groups.is_empty()
        || bundle.sources.iter().any(|s| {
            s.status == Status::Ok && (s.text.as_deref().is_some_and(|t| !t.trim().is_empty()) || s.base64.as_deref().is_some_and(|b| !b.is_empty()))
        })
}

/// The output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    /// For GitHub issues and comments (and forums that take Markdown): under 65,536 characters
    Markdown,
    /// For Reddit: no HTML, indented code, short evidence, under 10,000 characters
    #[value(name = "markdown-compact", alias = "reddit")]
    MarkdownCompact,
    Html,
    Json,
}

impl Format {
    /// The format an output file name implies (`report.html` → html).
    pub fn from_extension(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "html" | "htm" => Some(Format::Html),
            "md" | "markdown" => Some(Format::Markdown),
            "json" => Some(Format::Json),
            "txt" => Some(Format::Text),
            _ => None,
        }
    }
}
