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

/// Returns whether findings at or above `--fail-on` exist (exit 1).
pub fn run(opts: &CheckOptions) -> Result<bool, Error> {
    let mut catalog = Catalog::builtin()?;
    if let Some(dir) = &opts.rules_dir {
        catalog.add_dir(dir)?;
    }
    // Long logs keep the lines of this catalog, `--rules DIR` included, parsed once.
    let origin = super::Origin { signatures: Some(std::sync::Arc::new(crate::rules::signatures(&catalog))), ..opts.origin.clone() };
    let bundle = obtain_bundle(&origin)?;
    let report = diagnose(&bundle, &catalog);
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
    Ok(match (threshold, report.worst()) {
        (Some(t), Some(w)) => w >= t,
        _ => false,
    })
}
