//! Builds fake host roots from a TOML spec (fixtures/hosts/*.toml, and per-rule overlays in
//! fixtures/rules/*/*/case.toml): sysfs with the real layout and relative links (as lspci and
//! vfio-doctor expect), /proc files, logs and configs. Shared by the tests and by
//! `cargo run --example fakeroot`, which regenerates the committed trees.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Another spec in fixtures/hosts/ this one starts from.
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub host: HostFacts,
    /// Files to write, path relative to the root → contents. Later specs replace earlier ones.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Files of the base to leave out.
    #[serde(default)]
    pub remove_files: Vec<String>,
    /// Devices; one with the address of a base device changes only the fields it sets.
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceSpec>,
    /// Devices of the base to leave out.
    #[serde(default)]
    pub remove_devices: Vec<String>,
    /// Network interfaces (sys/class/net); one with the name of a base interface replaces it.
    #[serde(default, rename = "net")]
    pub nets: Vec<NetSpec>,
}

/// One sys/class/net entry: `bridge/` marks a bridge, `wireless/` a Wi-Fi interface, and
/// `master` is a relative link to the bridge it is a port of, as in real sysfs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetSpec {
    pub name: String,
    /// `bridge`, `wireless` or `ether`.
    pub kind: String,
    pub master: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    pub hostname: Option<String>,
    pub cpu_vendor: Option<String>,
    pub cpu_model: Option<String>,
    /// The whole flags line of /proc/cpuinfo.
    pub cpu_flags: Option<String>,
    pub cpus: Option<u32>,
    /// `uname -r`.
    pub kernel: Option<String>,
    pub os_release: Option<String>,
    pub kvm: Option<bool>,
    pub efi: Option<bool>,
    /// Write empty sys/kernel/iommu_groups (IOMMU off) instead of the devices' groups.
    pub no_iommu: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    pub addr: String,
    /// `10de:1c02`
    pub ids: Option<String>,
    /// `19da:2438`
    pub subsys: Option<String>,
    /// `0x030000`
    pub class: Option<String>,
    /// `0xa1`
    pub rev: Option<String>,
    pub group: Option<u32>,
    /// Driver name; "" for none.
    pub driver: Option<String>,
    pub boot_vga: Option<u8>,
    pub driver_override: Option<String>,
    pub reset_method: Option<String>,
    /// [current speed, current width, max speed, max width]
    pub link: Option<(String, u32, String, u32)>,
    /// Lines of the `resource` file.
    pub resource: Option<String>,
}

impl DeviceSpec {
    fn merge(&mut self, o: &DeviceSpec) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* };
        }
        take!(ids, subsys, class, rev, group, driver, boot_vga, driver_override, reset_method, link, resource);
    }
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Load a spec, following `base` chains through fixtures/hosts/NAME.toml.
pub fn load_spec(path: &Path) -> HostSpec {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec: HostSpec = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    resolve(spec)
}

pub fn resolve(spec: HostSpec) -> HostSpec {
    let Some(base_name) = spec.base.clone() else { return spec };
    let mut base = load_spec(&fixtures_dir().join("hosts").join(format!("{base_name}.toml")));
    macro_rules! take {
        ($($f:ident),*) => { $( if spec.host.$f.is_some() { base.host.$f = spec.host.$f.clone(); } )* };
    }
    take!(hostname, cpu_vendor, cpu_model, cpu_flags, cpus, kernel, os_release, kvm, efi, no_iommu);
    for f in &spec.remove_files {
        base.files.remove(f);
    }
    for (k, v) in spec.files {
        base.files.insert(k, v);
    }
    base.devices.retain(|d| !spec.remove_devices.contains(&d.addr));
    for d in spec.devices {
        match base.devices.iter_mut().find(|b| b.addr == d.addr) {
            Some(b) => b.merge(&d),
            None => base.devices.push(d),
        }
    }
    for n in spec.nets {
        base.nets.retain(|b| b.name != n.name);
        base.nets.push(n);
    }
    base.base = None;
    base
}

fn write(root: &Path, rel: &str, contents: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
    std::fs::write(p, contents).expect("write");
}

/// Write the fake root for `spec` into `root` (which should be empty).
pub fn build(spec: &HostSpec, root: &Path) {
    let h = &spec.host;
    let cpus = h.cpus.unwrap_or(2);
    let mut cpuinfo = String::new();
    for n in 0..cpus {
        cpuinfo.push_str(&format!(
            "processor\t: {n}\nvendor_id\t: {}\ncpu family\t: 25\nmodel name\t: {}\nflags\t\t: {}\n\n",
            h.cpu_vendor.as_deref().unwrap_or("AuthenticAMD"),
            h.cpu_model.as_deref().unwrap_or("AMD Ryzen 7 5800X 8-Core Processor"),
            h.cpu_flags.as_deref().unwrap_or("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr svm"),
        ));
    }
    write(root, "proc/cpuinfo", &cpuinfo);
    let kernel = h.kernel.as_deref().unwrap_or("6.8.0-45-generic");
    write(root, "proc/version", &format!("Linux version {kernel} (buildd@lcy02-amd64-075) (x86_64-linux-gnu-gcc-12) #45-Ubuntu SMP PREEMPT_DYNAMIC\n"));
    write(root, "etc/os-release", h.os_release.as_deref().unwrap_or("PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nNAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n"));
    if let Some(name) = &h.hostname {
        write(root, "etc/hostname", &format!("{name}\n"));
    }
    if h.kvm.unwrap_or(true) {
        write(root, "dev/kvm", "");
    }
    if h.efi.unwrap_or(true) {
        std::fs::create_dir_all(root.join("sys/firmware/efi/efivars")).expect("mkdir");
    }
    std::fs::create_dir_all(root.join("sys/bus/pci/devices")).expect("mkdir");
    std::fs::create_dir_all(root.join("sys/kernel/iommu_groups")).expect("mkdir");
    let no_iommu = h.no_iommu.unwrap_or(false);
    for d in &spec.devices {
        let dev_rel = format!("sys/devices/pci0000:00/{}", d.addr);
        let (vendor, device) = d.ids.as_deref().and_then(|i| i.split_once(':')).expect("device ids");
        let (sv, sd) = d.subsys.as_deref().and_then(|i| i.split_once(':')).unwrap_or(("0000", "0000"));
        let attrs = [
            ("vendor", format!("0x{vendor}")),
            ("device", format!("0x{device}")),
            ("subsystem_vendor", format!("0x{sv}")),
            ("subsystem_device", format!("0x{sd}")),
            ("class", d.class.clone().unwrap_or_else(|| "0x000000".into())),
            ("revision", d.rev.clone().unwrap_or_else(|| "0x00".into())),
            ("resource", d.resource.clone().unwrap_or_else(|| "0x0000000000000000 0x0000000000000000 0x0000000000000000\n".repeat(13))),
            ("driver_override", d.driver_override.clone().unwrap_or_else(|| "(null)".into())),
        ];
        for (name, value) in attrs {
            write(root, &format!("{dev_rel}/{name}"), &format!("{}\n", value.trim_end()));
        }
        if let Some(b) = d.boot_vga {
            write(root, &format!("{dev_rel}/boot_vga"), &format!("{b}\n"));
        }
        if let Some(r) = &d.reset_method {
            write(root, &format!("{dev_rel}/reset_method"), &format!("{r}\n"));
        }
        if let Some((cs, cw, ms, mw)) = &d.link {
            write(root, &format!("{dev_rel}/current_link_speed"), &format!("{cs}\n"));
            write(root, &format!("{dev_rel}/current_link_width"), &format!("{cw}\n"));
            write(root, &format!("{dev_rel}/max_link_speed"), &format!("{ms}\n"));
            write(root, &format!("{dev_rel}/max_link_width"), &format!("{mw}\n"));
        }
        let dev_dir = root.join(&dev_rel);
        if let Some(drv) = d.driver.as_deref().filter(|x| !x.is_empty()) {
            std::fs::create_dir_all(root.join(format!("sys/bus/pci/drivers/{drv}"))).expect("mkdir");
            symlink(format!("../../../bus/pci/drivers/{drv}"), dev_dir.join("driver")).expect("link");
        }
        if let (Some(g), false) = (d.group, no_iommu) {
            let gdir = root.join(format!("sys/kernel/iommu_groups/{g}/devices"));
            std::fs::create_dir_all(&gdir).expect("mkdir");
            symlink(format!("../../../../devices/pci0000:00/{}", d.addr), gdir.join(&d.addr)).expect("link");
            symlink(format!("../../../kernel/iommu_groups/{g}"), dev_dir.join("iommu_group")).expect("link");
        }
        symlink(format!("../../../devices/pci0000:00/{}", d.addr), root.join(format!("sys/bus/pci/devices/{}", d.addr))).expect("link");
    }
    for n in &spec.nets {
        let dir = root.join(format!("sys/class/net/{}", n.name));
        std::fs::create_dir_all(&dir).expect("mkdir");
        match n.kind.as_str() {
            "bridge" | "wireless" => std::fs::create_dir_all(dir.join(&n.kind)).expect("mkdir"),
            "ether" => {}
            other => panic!("net {}: kind {other} is not bridge, wireless or ether", n.name),
        }
        if let Some(m) = &n.master {
            symlink(format!("../{m}"), dir.join("master")).expect("link");
        }
    }
    for (rel, contents) in &spec.files {
        write(root, rel, contents);
    }
    keep_empty_dirs(root);
}

/// git does not keep empty directories (an empty sys/kernel/iommu_groups means "IOMMU off"),
/// so each gets a `.gitkeep`; `Root::list_dir` ignores hidden names.
fn keep_empty_dirs(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut empty = true;
    for e in entries.filter_map(|e| e.ok()) {
        empty = false;
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            keep_empty_dirs(&e.path());
        }
    }
    if empty {
        std::fs::write(dir.join(".gitkeep"), "").expect("write .gitkeep");
    }
}
