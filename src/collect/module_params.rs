//! Parameters of the loaded kvm and vfio modules (sys/module/NAME/parameters/*), as
//! `module.param=value` lines.

use super::{Collector, Options};
use crate::bundle::{Bundle, Source, SourceKind, Status};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::ModuleParams,
    about: "parameters of kvm, kvm_amd, kvm_intel, vfio, vfio_pci, vfio_iommu_type1",
    reads: &["sys/module/*/parameters/*"],
    runs: &[],
    needs_root: false,
    collect,
};

const MODULES: &[&str] = &["kvm", "kvm_amd", "kvm_intel", "vfio", "vfio_pci", "vfio_iommu_type1", "vfio_pci_core"];

fn collect(root: &Root, _: &Options, bundle: &mut Bundle) {
    let mut text = String::new();
    for module in MODULES {
        let dir = format!("sys/module/{module}/parameters");
        let Ok(params) = root.list_dir(&dir) else { continue };
        for p in params {
            match root.read_attr(&format!("{dir}/{p}")) {
                Ok(v) => text.push_str(&format!("{module}.{p}={v}\n")),
                Err(e) => text.push_str(&format!("# {module}.{p}: {e}\n")),
            }
        }
    }
    if text.is_empty() {
        bundle.sources.push(Source::failed(
            SourceKind::ModuleParams,
            "sys/module",
            "sysfs",
            Status::Missing,
            "none of kvm, vfio, vfio_pci, vfio_iommu_type1 is loaded (no sys/module/*/parameters)",
        ));
    } else {
        bundle.sources.push(Source::ok(SourceKind::ModuleParams, "sys/module", "sysfs", text));
    }
}
