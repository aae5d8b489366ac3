//! `vfio-doctor check`: collect (or load, or import), diagnose, report, and say by exit code
//! whether anything at or above `--fail-on` was found.

use std::path::PathBuf;

use super::{emit, obtain_bundle, Origin};
use crate::report::{self, Format, Report};
use crate::rules::{self, Catalog, Severity};
use crate::system::System;
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub origin: Origin,
    pub format: Option<Format>,
    pub output: Option<PathBuf>,
    pub fail_on: FailOn,
    pub rules_dir: Option<PathBuf>,
    /// List every not-evaluated rule instead of the "to check more" list.
    pub all_not_evaluated: bool,
}

/// Run the rules over a bundle: the whole diagnosis, with no I/O.
pub fn diagnose(bundle: &crate::bundle::Bundle, catalog: &Catalog) -> Report {
    let sys = System::from_bundle(bundle);
    let outcome = rules::run(&sys, catalog);
    let mut report = Report::new(bundle, &sys, outcome);
    // Problems met while parsing (a domain XML that is not XML) are notes too.
    for note in &sys.notes {
        if !report.notes.contains(note) {
            report.notes.push(note.clone());
        }
    }
    report
}

/// The `iommu` command line for the same material: `--root DIR`, `--bundle FILE` and pasted
/// files as the user gave them.
fn iommu_command(origin: &Origin) -> String {
    let quote = |s: &str| {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:+=,@".contains(c)) {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    let mut cmd = String::from("vfio-doctor iommu");
    if let Some(root) = &origin.root {
        cmd.push_str(&format!(" --root {}", quote(&root.display().to_string())));
    }
    if let Some(bundle) = &origin.bundle {
        cmd.push_str(&format!(" --bundle {}", quote(&bundle.display().to_string())));
    }
    for input in &origin.inputs {
        cmd.push(' ');
        cmd.push_str(&quote(input));
    }
    cmd
}

/// Findings at or above `--fail-on` exist: exit 1; too little was checked to mean anything
/// (the report says so first, and one line on stderr): exit 2.
pub fn run(opts: &CheckOptions) -> Result<crate::Exit, Error> {
    let mut catalog = Catalog::builtin()?;
    if let Some(dir) = &opts.rules_dir {
        catalog.add_dir(dir)?;
    }
    // Long logs keep the lines of this catalog, `--rules DIR` included, parsed once.
    let origin = super::Origin { signatures: Some(std::sync::Arc::new(crate::rules::signatures(&catalog))), ..opts.origin.clone() };
    let bundle = obtain_bundle(&origin)?;
    let mut report = diagnose(&bundle, &catalog);
    report.all_not_evaluated = opts.all_not_evaluated;
    report.iommu_command = Some(iommu_command(&opts.origin));
    let format = opts
        .format
        .or_else(|| opts.output.as_deref().and_then(Format::from_extension))
        .unwrap_or(Format::Text);
    let text = match format {
        Format::Json => report::json::render(&report),
        Format::Text => {
            let style = if opts.output.is_some() { report::text::Style::plain() } else { report::text::Style::detect() };
            report::text::render(&report, style)
        }
        Format::Markdown => report::markdown::render(&report),
        Format::MarkdownCompact => report::markdown::render_compact(&report),
        Format::Html => report::html::render(&report),
    };
    emit(&text, opts.output.as_deref())?;
    let threshold = match opts.fail_on {
        FailOn::Error => Some(Severity::Error),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Info => Some(Severity::Info),
        FailOn::Never => None,
    };
    if let Some(why) = &report.nothing_checked {
        eprintln!("vfio-doctor: nothing was checked: {why}");
        return Ok(crate::Exit::NothingChecked);
    }
    Ok(match (threshold, report.worst()) {
        (Some(t), Some(w)) if w >= t => crate::Exit::Findings,
        _ => crate::Exit::Clean,
    })
}
