//! IOMMU groups from sys/kernel/iommu_groups/*/devices/*.

use super::{Collector, Options};
use crate::bundle::{Bundle, IommuGroup, Source, SourceKind};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::IommuGroups,
    about: "IOMMU groups and their member functions",
    reads: &["sys/kernel/iommu_groups/*/devices/*"],
    runs: &[],
    needs_root: false,
    collect,
};

const DIR: &str = "sys/kernel/iommu_groups";

fn collect(root: &Root, _: &Options, bundle: &mut Bundle) {
    let ids = match root.list_dir(DIR) {
        Ok(ids) => ids,
        Err(e) => {
            bundle.sources.push(super::unreadable(SourceKind::IommuGroups, root, DIR, &e, false));
            return;
        }
    };
    let mut groups: Vec<IommuGroup> = Vec::new();
    let mut notes = Vec::new();
    for id in ids {
        match root.list_dir(&format!("{DIR}/{id}/devices")) {
            Ok(devices) => groups.push(IommuGroup { id, devices }),
            Err(e) => notes.push(format!("group {id}: {e}")),
        }
    }
    groups.sort_by_key(|g| (g.id.parse::<u64>().unwrap_or(u64::MAX), g.id.clone()));
    let mut source = Source::ok(SourceKind::IommuGroups, DIR, "sysfs", String::new());
    source.text = None;
    if !notes.is_empty() {
        source.reason = Some(notes.join("; "));
    }
    bundle.iommu_groups = groups;
    bundle.sources.push(source);
}
