//! PCI functions from sys/bus/pci/devices/*: ids, class, boot_vga, driver, IOMMU group,
//! driver_override, reset_method, link speed and width, resources. Links are read, not
//! followed; an unreadable attribute becomes a note on the device.

use super::{Collector, Options};
use crate::bundle::{Bundle, PciDevice, Source, SourceKind, Status};
use crate::root::{ReadError, Root};

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::Pci,
    about: "PCI functions and their sysfs attributes",
    reads: &["sys/bus/pci/devices/*/*"],
    runs: &[],
    needs_root: false,
    collect,
};

const DIR: &str = "sys/bus/pci/devices";

fn collect(root: &Root, _: &Options, bundle: &mut Bundle) {
    let names = match root.list_dir(DIR) {
        Ok(n) => n,
        Err(e) => {
            bundle.sources.push(super::unreadable(SourceKind::Pci, root, DIR, &e, false));
            return;
        }
    };
    let mut problems = 0;
    for address in names {
        let dev = read_device(root, &address);
        problems += dev.notes.len();
        bundle.pci_devices.push(dev);
    }
    let mut source = Source::ok(SourceKind::Pci, DIR, "sysfs", String::new());
    source.text = None;
    if problems > 0 {
        source.reason = Some(format!("{problems} attribute(s) could not be read; see the devices' notes"));
    }
    source.status = Status::Ok;
    bundle.sources.push(source);
}

fn read_device(root: &Root, address: &str) -> PciDevice {
    let base = format!("{DIR}/{address}");
    // The device's own link (a loop, a dangling target): one note instead of one per attribute.
    if let Err(e) = root.resolve(&base) {
        return PciDevice { address: address.to_string(), origin: Some("sysfs".into()), notes: vec![format!("sysfs entry: {e}; not read")], ..Default::default() };
    }
    let mut notes = Vec::new();
    // Attributes that every PCI function has: a failure is worth a note.
    let mut required = |name: &str| match root.read_attr(&format!("{base}/{name}")) {
        Ok(v) => Some(v),
        Err(e) => {
            notes.push(format!("{name}: {e}"));
            None
        }
    };
    let vendor = required("vendor");
    let device = required("device");
    let subsystem_vendor = required("subsystem_vendor");
    let subsystem_device = required("subsystem_device");
    let class = required("class");
    let revision = required("revision");
    let resource = required("resource");
    // Attributes that only some functions have (boot_vga on VGA, link on PCIe): absent is normal.
    let optional = |name: &str, notes: &mut Vec<String>| match root.read_attr(&format!("{base}/{name}")) {
        Ok(v) => Some(v),
        Err(ReadError::Missing) => None,
        Err(e) => {
            notes.push(format!("{name}: {e}"));
            None
        }
    };
    let boot_vga = optional("boot_vga", &mut notes);
    let driver_override = optional("driver_override", &mut notes).filter(|v| v != "(null)");
    let reset_method = optional("reset_method", &mut notes);
    let current_link_speed = optional("current_link_speed", &mut notes);
    let current_link_width = optional("current_link_width", &mut notes);
    let max_link_speed = optional("max_link_speed", &mut notes);
    let max_link_width = optional("max_link_width", &mut notes);
    let link = |name: &str, notes: &mut Vec<String>| match root.link_name(&format!("{base}/{name}")) {
        Ok(v) => Some(v),
        Err(ReadError::Missing) => None,
        Err(e) => {
            notes.push(format!("{name}: {e}"));
            None
        }
    };
    let driver = link("driver", &mut notes);
    let iommu_group = link("iommu_group", &mut notes).filter(|g| {
        let numeric = !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
        if !numeric {
            notes.push(format!("iommu_group: the link points at `{g}`, not at a group number"));
        }
        numeric
    });
    PciDevice {
        address: address.to_string(),
        vendor,
        device,
        subsystem_vendor,
        subsystem_device,
        class,
        revision,
        boot_vga,
        driver,
        iommu_group,
        driver_override,
        reset_method,
        current_link_speed,
        current_link_width,
        max_link_speed,
        max_link_width,
        resource,
        origin: Some("sysfs".into()),
        notes,
    }
}
