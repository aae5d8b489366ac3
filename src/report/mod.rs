//! Reports: the findings, what was not evaluated, and a summary, rendered as text, Markdown,
//! HTML or JSON. Reports never decide anything; every fact they show is on the [`Report`].

pub mod html;
pub mod json;
pub mod markdown;
pub mod picture;
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

/// The output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
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
