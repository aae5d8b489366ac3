//! `vfio-doctor iommu`: the IOMMU groups with device names, drivers, boot VGA, link and reset
//! method, and each group's passthrough verdict — what the guides' shell loops print, judged.
//! Live or `--root`, it runs only the host, PCI, IOMMU and libvirt-domain collectors (file
//! reads, no lspci, no virsh).

use super::{emit, obtain_bundle, Origin};
use crate::bundle::{Bundle, SourceKind};
use crate::cli::IommuView;
use crate::collect::{Options, COLLECTORS};
use crate::report::{self, HostPicture};
use crate::root::Root;
use crate::system::System;
use crate::Error;

/// `iommu --format`: the report formats that make sense for a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IommuFormat {
    Text,
    Json,
    Markdown,
}

/// The sources the picture needs: CPU vendor (for the "no groups" advice), devices, groups, and
/// the libvirt domains (which VM takes which device). All plain file reads.
const NEEDS: &[SourceKind] = &[SourceKind::Cpuinfo, SourceKind::Pci, SourceKind::IommuGroups, SourceKind::DomainXml];

fn bundle_for(origin: &Origin) -> Result<Bundle, Error> {
    if origin.bundle.is_some() || (origin.root.is_none() && !origin.inputs.is_empty()) {
        return obtain_bundle(origin);
    }
    let root = match &origin.root {
        Some(dir) => Root::at(dir)?,
        None => Root::live(),
    };
    let mut b = Bundle::new();
    // No log is collected here, so no signature set is needed.
    super::vm_exists(&root, origin.vm.as_deref())?;
    let options = Options { vm: origin.vm.clone(), ..Options::default() };
    for c in COLLECTORS.iter().filter(|c| NEEDS.contains(&c.source)) {
        (c.collect)(&root, &options, &mut b);
    }
    if !origin.inputs.is_empty() {
        let inputs: Vec<crate::import::Input> = origin.inputs.iter().map(|a| crate::import::Input::parse(a)).collect();
        crate::import::add_inputs(&mut b, &inputs, &*origin.keep()?)?;
    }
    super::redact_if_asked(origin, &mut b);
    Ok(b)
}

/// The picture of `origin`'s host.
pub fn picture(origin: &Origin) -> Result<HostPicture, Error> {
    Ok(picture_and_notes(origin)?.0)
}

/// The picture, plus the notes of collection/import (an input of unknown kind, …) that explain
/// an empty picture.
fn picture_and_notes(origin: &Origin) -> Result<(HostPicture, Vec<String>), Error> {
    let bundle = bundle_for(origin)?;
    let sys = System::from_bundle(&bundle);
    let mut notes = bundle.notes.clone();
    notes.extend(sys.notes.iter().filter(|n| !bundle.notes.contains(n)).cloned());
    Ok((HostPicture::from_system(&sys), notes))
}

/// `iommu`'s text layouts: a group per block with its verdict and a device table, or one line
/// per device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Long,
    Compact,
}

pub fn render(p: &HostPicture, format: IommuFormat, style: report::text::Style) -> String {
    render_as(p, format, Layout::Long, style)
}

pub fn render_as(p: &HostPicture, format: IommuFormat, layout: Layout, style: report::text::Style) -> String {
    match format {
        IommuFormat::Text if layout == Layout::Compact => report::text::picture_lines(p),
        IommuFormat::Text => report::text::picture(p, style),
        IommuFormat::Markdown => {
            let count = if p.groups.is_empty() { String::new() } else { format!(" ({})", p.groups.len()) };
            format!("### IOMMU groups{count}\n\n{}", report::markdown::picture(p))
        }
        IommuFormat::Json => {
            let mut s = serde_json::to_string_pretty(p).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            s.push('\n');
            s
        }
    }
}

/// Keep only what `--gpu` / `--group N` ask for; a group that does not exist is an error that
/// names the groups there are.
pub fn filter(p: &mut HostPicture, view: &IommuView) -> Result<(), Error> {
    if let Some(id) = &view.group {
        if !p.groups.iter().any(|g| &g.id == id) {
            let mut ids: Vec<&str> = p.groups.iter().map(|g| g.id.as_str()).collect();
            ids.sort_by_key(|i| i.parse::<u64>().unwrap_or(u64::MAX));
            let there = if ids.is_empty() { "this host has no IOMMU groups".to_string() } else { format!("the groups are {}", ids.join(", ")) };
            return Err(Error::Usage(format!("--group {id}: no IOMMU group {id}; {there}")));
        }
    }
    p.filter(view.gpu, view.group.as_deref());
    Ok(())
}

pub fn run(origin: &Origin, format: IommuFormat, view: &IommuView) -> Result<(), Error> {
    let (mut p, notes) = picture_and_notes(origin)?;
    filter(&mut p, view)?;
    use std::io::IsTerminal;
    let layout = if view.compact || (!view.long && !std::io::stdout().is_terminal()) { Layout::Compact } else { Layout::Long };
    let mut out = render_as(&p, format, layout, report::text::Style::detect());
    // An empty picture from pasted files: say what became of them.
    if p.groups.is_empty() && !notes.is_empty() && format != IommuFormat::Json {
        out.push_str("\nNotes:\n");
        for n in &notes {
            let n = if format == IommuFormat::Markdown { report::markdown::escape(n) } else { n.clone() };
            out.push_str(&format!("- {n}\n"));
        }
    }
    emit(&out, None)
}
