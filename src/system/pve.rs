//! Proxmox VE VM configurations (`/etc/pve/qemu-server/VMID.conf`, `qm config VMID`) parsed into
//! the same [`Vm`] the rules query for a libvirt domain, keeping the Proxmox settings themselves
//! in [`PveVm`] (the remediation speaks `qm set`). Also `/etc/pve/mapping/pci.cfg`, which
//! `hostpciN: mapping=NAME` refers to.
//!
//! Formats from qemu-server (`PVE/QemuServer.pm` `$confdesc`, `PVE/QemuServer/PCI.pm`
//! `$hostpci_fmt`, `PVE/QemuServer/CPUConfig.pm`) and pve-docs `qm.adoc`: one `key: value` a
//! line, `#` lines are the description, `[NAME]` starts a snapshot (or `[PENDING]`) section that
//! repeats the keys and is not what runs. A value is a property string `default,key=value,…`.

use std::sync::Arc;

use super::vm::{Cpu, Features, Firmware, Hostdev, Interface, Memory, Vm};
use super::{Device, PciAddress};

/// One `key: value` of the main section, with its line.
#[derive(Debug, Clone)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub line: usize,
}

impl Setting {
    /// The line as written in the file (`hostpci0: 0000:01:00,pcie=1`).
    pub fn text(&self) -> String {
        format!("{}: {}", self.key, self.value)
    }
}

/// `hostpciN:` as qemu-server's `$hostpci_fmt` reads it.
#[derive(Debug, Clone, Default)]
pub struct Hostpci {
    /// `hostpci0` → 0.
    pub index: u32,
    /// `host=` (the default key): `0000:01:00.0`, `01:00` (every function), `01:00.0;01:00.1`.
    pub hosts: Vec<String>,
    /// `mapping=NAME`, resolved through pci.cfg.
    pub mapping: Option<String>,
    pub pcie: bool,
    pub x_vga: bool,
    pub legacy_igd: bool,
    /// `rombar=0|1`; absent means on.
    pub rombar: Option<bool>,
    /// `romfile=NAME`, as written (relative to `/usr/share/kvm/`).
    pub romfile: Option<String>,
    pub mdev: Option<String>,
    /// The other options, verbatim (`vendor-id=0x10de`), to keep them in a suggested line.
    pub other: Vec<String>,
    /// The host functions this entry passes (a bare `01:00` expanded with the host's PCI data).
    pub addresses: Vec<PciAddress>,
    pub line: usize,
}

impl Hostpci {
    pub fn key(&self) -> String {
        format!("hostpci{}", self.index)
    }

    /// The value in qemu-server's order, with `set` options replaced or added (`("pcie", Some("1"))`)
    /// and `None` ones removed.
    pub fn value_with(&self, set: &[(&str, Option<&str>)]) -> String {
        let mut parts: Vec<(String, String)> = Vec::new();
        match &self.mapping {
            Some(m) => parts.push(("mapping".into(), m.clone())),
            None => parts.push((String::new(), self.hosts.join(";"))),
        }
        let flag = |b: bool| if b { "1".to_string() } else { "0".to_string() };
        if self.legacy_igd {
            parts.push(("legacy-igd".into(), "1".into()));
        }
        if let Some(m) = &self.mdev {
            parts.push(("mdev".into(), m.clone()));
        }
        if self.pcie {
            parts.push(("pcie".into(), "1".into()));
        }
        if let Some(r) = self.rombar {
            parts.push(("rombar".into(), flag(r)));
        }
        if let Some(r) = &self.romfile {
            parts.push(("romfile".into(), r.clone()));
        }
        if self.x_vga {
            parts.push(("x-vga".into(), "1".into()));
        }
        for o in &self.other {
            let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
            parts.push((k.to_string(), v.to_string()));
        }
        apply_settings(&mut parts, set);
        parts.iter().map(|(k, v)| if k.is_empty() { v.clone() } else { format!("{k}={v}") }).collect::<Vec<_>>().join(",")
    }
}

/// What only a Proxmox VE VM has; the rest of its definition is in the [`Vm`] fields.
#[derive(Debug, Clone, Default)]
pub struct PveVm {
    /// The VMID (`100`), when known (a pasted `qm config` may not say).
    pub vmid: Option<String>,
    /// `name:`
    pub name: Option<String>,
    /// The main section's settings, in file order.
    pub settings: Vec<Setting>,
    pub hostpci: Vec<Hostpci>,
    /// Mappings named by `hostpciN: mapping=` that pci.cfg does not define (or has no entry
    /// for this node); `(hostpci index, mapping name)`.
    pub unresolved_mappings: Vec<(u32, String)>,
}

impl PveVm {
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }

    /// `qm set VMID`'s VMID, or the placeholder `VMID`.
    pub fn id(&self) -> &str {
        self.vmid.as_deref().unwrap_or("VMID")
    }

    /// The machine type: `machine: [type=]…`; qemu-server's default is i440fx (`pc`).
    pub fn machine(&self) -> String {
        self.get("machine").map(|s| default_key(&s.value).to_string()).filter(|m| !m.is_empty()).unwrap_or_else(|| "pc".into())
    }

    pub fn is_q35(&self) -> bool {
        self.machine().contains("q35")
    }

    /// `vga: [type=]…`; qemu-server's default is `std` (but `none` when a hostpci has x-vga=1
    /// and no `vga:` is set).
    pub fn vga(&self) -> String {
        match self.get("vga") {
            Some(s) => default_key(&s.value).to_string(),
            None if self.hostpci.iter().any(|h| h.x_vga) => "none".into(),
            None => "std".into(),
        }
    }

    pub fn uses_ovmf(&self) -> bool {
        self.get("bios").is_some_and(|s| s.value.trim() == "ovmf")
    }

    /// The cpu type of `cpu: [cputype=]…`; qemu-server's default is kvm64.
    pub fn cpu_type(&self) -> Option<String> {
        self.get("cpu").map(|s| default_key(&s.value).to_string())
    }

    /// `ostype:` says Windows (win7 … win11, w2k*, wxp, wvista).
    pub fn is_windows(&self) -> bool {
        self.get("ostype").is_some_and(|s| s.value.trim().starts_with('w'))
    }

    /// The `hostpciN` entry that passes `address`.
    pub fn hostpci_of(&self, address: &PciAddress) -> Option<&Hostpci> {
        self.hostpci.iter().find(|h| h.addresses.contains(address))
    }

    /// The setting that passes the host iGPU (00:02.0) in legacy IGD mode, at guest slot 2:
    /// `hostpciN: …,legacy-igd=1`, or `args: -device vfio-pci,host=00:02.0,addr=0x02,…` (the
    /// recipe before legacy-igd existed). Its (line, text).
    pub fn legacy_igd(&self) -> Option<(usize, String)> {
        if let Some(h) = self.hostpci.iter().find(|h| h.legacy_igd) {
            return self.get(&h.key()).map(|s| (s.line, s.text()));
        }
        let args = self.get("args")?;
        let mut devices = args.value.split_whitespace().map(|w| w.trim_matches(['\'', '"'])).filter(|w| w.starts_with("vfio-pci,"));
        let at_slot2 = devices.any(|dev| {
            let opt = |k: &str| dev.split(',').find_map(|o| o.strip_prefix(k));
            let host = opt("host=").map(|h| h.trim_start_matches("0000:").to_string());
            let addr = opt("addr=").map(|a| a.trim_start_matches("0x").trim_end_matches(".0").trim_start_matches('0').to_string());
            host.as_deref() == Some("00:02.0") && addr.as_deref() == Some("2")
        });
        at_slot2.then(|| (args.line, args.text()))
    }

    /// The first `hostpciN` index not in use (0–15).
    pub fn free_hostpci(&self) -> u32 {
        (0..16).find(|i| !self.hostpci.iter().any(|h| h.index == *i) && self.get(&format!("hostpci{i}")).is_none()).unwrap_or(15)
    }
}

/// Apply `set` to the `key=value` parts of a property string: a `Some` value sets (or adds) the
/// key, `None` removes it; the other parts keep their order.
pub fn apply_settings(parts: &mut Vec<(String, String)>, set: &[(&str, Option<&str>)]) {
    for (k, v) in set {
        match (parts.iter().position(|(pk, _)| pk == k), v) {
            (Some(i), Some(v)) => parts[i].1 = v.to_string(),
            (Some(i), None) => {
                parts.remove(i);
            }
            (None, Some(v)) => parts.push((k.to_string(), v.to_string())),
            (None, None) => {}
        }
    }
}

/// The value of a property string's default key (`host,hidden=1` → `host`; `type=q35` → `q35`).
pub fn default_key(value: &str) -> &str {
    for part in value.split(',') {
        match part.split_once('=') {
            Some(("type" | "cputype" | "host" | "current", v)) => return v.trim(),
            Some(_) => continue,
            None => return part.trim(),
        }
    }
    ""
}

/// `key=value` of a property string (`hidden=1`).
pub fn property<'a>(value: &'a str, key: &str) -> Option<&'a str> {
    value.split(',').find_map(|p| p.split_once('=').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim()))
}

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "on" | "yes" | "true")
}

/// One mapping of pci.cfg: its name and the `map` lines (`node=…,path=…,id=vvvv:dddd,…`).
#[derive(Debug, Clone)]
pub struct Mapping {
    pub name: String,
    pub maps: Vec<MapEntry>,
    pub source: String,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct MapEntry {
    pub node: Option<String>,
    /// `0000:01:00` or `0000:01:00.0`, or several joined with `;`.
    pub path: String,
    /// `10de:2204`
    pub id: Option<String>,
    pub iommu_group: Option<String>,
    pub line: usize,
    pub text: String,
}

/// Parse pci.cfg (a section config: a header line `NAME` or `pci: NAME`, then indented
/// `map …`, `description …`, `mdev 1` lines).
pub fn parse_mappings(text: &str, path: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            let name = line.strip_prefix("pci:").unwrap_or(line).trim();
            if !name.is_empty() && !name.contains(char::is_whitespace) {
                out.push(Mapping { name: name.to_string(), maps: Vec::new(), source: path.to_string(), line: i + 1 });
            }
            continue;
        }
        let Some(rest) = line.trim_start().strip_prefix("map ") else { continue };
        let Some(m) = out.last_mut() else { continue };
        let Some(p) = property(rest, "path") else { continue };
        m.maps.push(MapEntry {
            node: property(rest, "node").map(str::to_string),
            path: p.to_string(),
            id: property(rest, "id").map(str::to_string),
            iommu_group: property(rest, "iommugroup").map(str::to_string),
            line: i + 1,
            text: line.trim().to_string(),
        });
    }
    out
}

impl Mapping {
    /// The map entry for `node` (the host's name); the only one when the node is not known.
    pub fn entry_for(&self, node: Option<&str>) -> Option<&MapEntry> {
        match node {
            Some(n) => self.maps.iter().find(|m| m.node.as_deref() == Some(n)).or_else(|| (self.maps.len() == 1).then(|| &self.maps[0])),
            None => (self.maps.len() == 1).then(|| &self.maps[0]),
        }
    }
}

/// The host functions a HOSTPCIID names: `0000:01:00.0` itself; `01:00` every function of the
/// device the host has (function 0 when there is no PCI data).
pub fn expand(id: &str, devices: &[Device]) -> Vec<PciAddress> {
    let id = id.trim().to_ascii_lowercase();
    let full = if id.matches(':').count() == 1 { format!("0000:{id}") } else { id };
    if let Some(a) = PciAddress::parse(&full) {
        return vec![a];
    }
    let slot = full.clone();
    let mut found: Vec<PciAddress> = devices.iter().filter(|d| d.address.slot() == slot).map(|d| d.address.clone()).collect();
    found.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    if found.is_empty() {
        PciAddress::parse(&format!("{slot}.0")).into_iter().collect()
    } else {
        found
    }
}

/// Parse a VM configuration into a [`Vm`]. `vmid` comes from the file name or the paste's
/// command; `node` is this host's name (to pick a mapping's entry). `Err` is a one-line problem
/// for a report note.
pub fn parse_config(text: &str, path: &str, vmid: Option<&str>, devices: &[Device], mappings: &[Mapping], node: Option<&str>) -> Result<Vm, String> {
    let mut pve = PveVm { vmid: vmid.map(str::to_string), ..PveVm::default() };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.starts_with('[') {
            // A snapshot or pending section: not the configuration that runs.
            break;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            continue;
        }
        pve.settings.push(Setting { key: key.to_string(), value: value.trim().to_string(), line: i + 1 });
    }
    if pve.settings.is_empty() {
        return Err("no `key: value` settings of a Proxmox VE VM configuration".into());
    }
    pve.name = pve.get("name").map(|s| s.value.clone());

    for s in &pve.settings {
        let Some(index) = s.key.strip_prefix("hostpci").and_then(|n| n.parse::<u32>().ok()) else { continue };
        let mut h = Hostpci { index, line: s.line, ..Hostpci::default() };
        for (n, part) in s.value.split(',').enumerate() {
            let (k, v) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None if n == 0 => ("host", part.trim()),
                None => (part.trim(), "1"),
            };
            match k {
                "host" => h.hosts = v.split(';').map(str::to_string).filter(|x| !x.is_empty()).collect(),
                "mapping" => h.mapping = Some(v.to_string()),
                "pcie" => h.pcie = truthy(v),
                "x-vga" => h.x_vga = truthy(v),
                "legacy-igd" => h.legacy_igd = truthy(v),
                "rombar" => h.rombar = Some(truthy(v)),
                "romfile" => h.romfile = Some(v.to_string()),
                "mdev" => h.mdev = Some(v.to_string()),
                _ => h.other.push(part.trim().to_string()),
            }
        }
        let ids: Vec<String> = match &h.mapping {
            Some(name) => match mappings.iter().find(|m| &m.name == name).and_then(|m| m.entry_for(node)) {
                Some(e) => e.path.split(';').map(str::to_string).collect(),
                None => {
                    pve.unresolved_mappings.push((index, name.clone()));
                    Vec::new()
                }
            },
            None => h.hosts.clone(),
        };
        for id in ids {
            for a in expand(&id, devices) {
                if !h.addresses.contains(&a) {
                    h.addresses.push(a);
                }
            }
        }
        pve.hostpci.push(h);
    }
    pve.hostpci.sort_by_key(|h| h.index);

    let label = match (&pve.vmid, &pve.name) {
        (Some(id), Some(n)) => format!("{id} ({n})"),
        (Some(id), None) => id.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => path.rsplit('/').next().unwrap_or(path).to_string(),
    };
    let line_of = |key: &str| pve.get(key).map(|s| s.line).unwrap_or(1);
    let mut vm = Vm {
        name: label,
        source: Arc::from(path),
        from_xml: true,
        domain_type: Some(if pve.get("kvm").is_some_and(|s| s.value.trim() == "0") { "qemu".into() } else { "kvm".into() }),
        hostdevs: Vec::new(),
        firmware: Firmware {
            firmware_attr: pve.uses_ovmf().then(|| "efi".to_string()),
            loader: None,
            loader_type: None,
            machine: Some(pve.machine()),
            line: line_of("bios"),
        },
        features: Features::default(),
        cpu: Cpu::default(),
        interfaces: Vec::new(),
        os_id: None,
        line: 1,
        memory: Memory::default(),
        raw_vfio_args: Vec::new(),
        acpi_tables: Vec::new(),
        pve: None,
    };

    // A mediated device (`mdev=TYPE`: a vGPU slice) is created by the host driver, which keeps the
    // physical card: it is not a passed-through function, and the card stays the host's.
    for h in pve.hostpci.iter().filter(|h| h.mdev.is_none()) {
        let excerpt = format!("{}: {}", h.key(), pve.get(&h.key()).map(|s| s.value.as_str()).unwrap_or(""));
        let multifunction = h.addresses.len() > 1;
        for (j, a) in h.addresses.iter().enumerate() {
            vm.hostdevs.push(Hostdev {
                address: a.clone(),
                managed: Some(true),
                // qemu-server passes the ROM options on the first function only.
                rom_file: (j == 0).then(|| h.romfile.as_ref().map(|r| if r.starts_with('/') { r.clone() } else { format!("/usr/share/kvm/{r}") })).flatten(),
                rom_bar: (j == 0).then(|| h.rombar.map(|b| if b { "on".to_string() } else { "off".to_string() })).flatten(),
                guest_address: h.legacy_igd.then(|| "addr=0x2 (legacy-igd)".to_string()),
                multifunction,
                line: h.line,
                excerpt: excerpt.clone(),
            });
        }
    }
    // `args: -device vfio-pci,host=00:02.0,addr=0x02,…` passes devices behind qemu-server's back
    // (the legacy-IGD recipe of older guides).
    if let Some(args) = pve.get("args") {
        let words: Vec<&str> = args.value.split_whitespace().collect();
        for (i, w) in words.iter().enumerate().filter(|(_, w)| **w == "-acpitable") {
            vm.acpi_tables.push((args.line, format!("{w} {}", words.get(i + 1).unwrap_or(&""))));
        }
        let (_, devs) = super::vm::qemu_hostdevs(&args.value);
        for mut d in devs {
            d.line = args.line;
            d.excerpt = args.text();
            if !vm.takes(&d.address) {
                vm.hostdevs.push(d);
            }
        }
    }

    let gpu_passthrough = pve.hostpci.iter().any(|h| h.x_vga);
    let cpu = pve.get("cpu");
    vm.features.line = cpu.map(|s| s.line).unwrap_or(1);
    // qemu-server: x-vga=1 sets kvm=off and, for Windows, hv_vendor_id=proxmox (unless given).
    let hidden = cpu.and_then(|s| property(&s.value, "hidden")).is_some_and(truthy);
    vm.features.kvm_hidden = (hidden || gpu_passthrough).then_some(true);
    vm.features.hyperv_vendor_id = cpu
        .and_then(|s| property(&s.value, "hv-vendor-id"))
        .map(str::to_string)
        .or_else(|| (gpu_passthrough && pve.is_windows()).then(|| "proxmox".to_string()));
    if pve.is_windows() {
        // qemu-server's add_hyperv_enlightenments turns these on for Windows guests itself.
        vm.features.hyperv_mode = Some("passthrough".into());
        vm.features.hyperv_on = ["relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset", "frequencies"].map(String::from).to_vec();
        if vm.features.hyperv_vendor_id.is_some() {
            vm.features.hyperv_on.push("vendor_id".into());
        }
    }
    vm.cpu.line = vm.features.line;
    vm.cpu.mode = pve.cpu_type().map(|t| match t.as_str() {
        "host" => "host-passthrough".to_string(),
        "max" => "maximum".to_string(),
        _ => "custom".to_string(),
    });
    let num = |key: &str| pve.get(key).and_then(|s| default_key(&s.value).parse::<u32>().ok());
    vm.cpu.sockets = Some(num("sockets").unwrap_or(1));
    vm.cpu.cores = Some(num("cores").unwrap_or(1));
    vm.cpu.threads = Some(1);
    if let Some(flags) = cpu.and_then(|s| property(&s.value, "flags")) {
        for f in flags.split(';') {
            if let Some(n) = f.strip_prefix('+') {
                vm.cpu.features.push(("require".into(), n.to_string()));
            } else if let Some(n) = f.strip_prefix('-') {
                vm.cpu.features.push(("disable".into(), n.to_string()));
            }
        }
    }
    // `memory: 8192` or `memory: current=8192` (MiB); qemu-server's default is 512.
    let mib = pve.get("memory").and_then(|s| default_key(&s.value).parse::<u64>().ok()).unwrap_or(512);
    vm.memory = Memory { kib: Some(mib * 1024), hard_limit_kib: None, locked: false, line: line_of("memory") };
    for s in pve.settings.iter().filter(|s| s.key.strip_prefix("net").is_some_and(|n| n.parse::<u32>().is_ok())) {
        let bridge = property(&s.value, "bridge").map(str::to_string);
        vm.interfaces.push(Interface {
            kind: if bridge.is_some() { "bridge".into() } else { "user".into() },
            network: None,
            bridge,
            dev: None,
            line: s.line,
            excerpt: s.text(),
        });
    }
    vm.pve = Some(pve);
    Ok(vm)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VM as the Proxmox GUI writes it (qm.adoc's examples, a forum paste's shape).
    const CONF: &str = "#Gaming VM%3A RTX 3070\nagent: 1\nballoon: 0\nbios: ovmf\nboot: order=scsi0;net0\ncores: 8\ncpu: host,hidden=1,flags=+pcid;+topoext,hv-vendor-id=whatever\nefidisk0: local-lvm:vm-100-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M\nhostpci0: 0000:01:00,pcie=1,x-vga=1,romfile=gpu.rom\nhostpci1: mapping=nic0\nmachine: pc-q35-8.1\nmemory: 16384\nname: win11\nnet0: virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1\nostype: win11\nscsi0: local-lvm:vm-100-disk-1,iothread=1,size=128G\nsockets: 1\nvga: none\n\n[before-update]\nbios: seabios\nhostpci0: 0000:02:00.0\n";

    #[test]
    fn a_gui_written_config() {
        let maps = parse_mappings("nic0\n\tmap id=8086:1533,iommugroup=20,node=pve,path=0000:05:00.0,subsystem-id=15d9:1533\n", "etc/pve/mapping/pci.cfg");
        let vm = parse_config(CONF, "etc/pve/qemu-server/100.conf", Some("100"), &[], &maps, Some("pve")).unwrap();
        assert_eq!(vm.name, "100 (win11)");
        assert!(vm.firmware.is_uefi());
        assert_eq!(vm.firmware.machine.as_deref(), Some("pc-q35-8.1"));
        assert_eq!(vm.cpu.mode.as_deref(), Some("host-passthrough"));
        assert_eq!(vm.features.kvm_hidden, Some(true));
        assert_eq!(vm.features.hyperv_vendor_id.as_deref(), Some("whatever"));
        assert!(vm.cpu.features.contains(&("require".into(), "topoext".into())));
        assert_eq!(vm.memory.kib, Some(16384 * 1024));
        let addrs: Vec<&str> = vm.hostdevs.iter().map(|h| h.address.as_str()).collect();
        // A bare 01:00 without PCI data is function 0; the mapping resolves to 05:00.0.
        assert_eq!(addrs, vec!["0000:01:00.0", "0000:05:00.0"]);
        assert_eq!(vm.hostdevs[0].rom_file.as_deref(), Some("/usr/share/kvm/gpu.rom"));
        assert_eq!(vm.hostdevs[0].line, 9);
        let pve = vm.pve.as_ref().unwrap();
        assert!(pve.is_q35() && pve.uses_ovmf() && pve.is_windows());
        assert_eq!(pve.vga(), "none");
        // The snapshot section does not count.
        assert_eq!(pve.hostpci.len(), 2);
        assert_eq!(pve.hostpci[0].value_with(&[("x-vga", None), ("rombar", Some("0"))]), "0000:01:00,pcie=1,romfile=gpu.rom,rombar=0");
        assert_eq!(vm.interfaces[0].bridge.as_deref(), Some("vmbr0"));
    }

    #[test]
    fn defaults_and_unresolved_mappings() {
        let vm = parse_config("name: nas\nhostpci0: mapping=gone,pcie=1\nmemory: current=2048\n", "101.conf", Some("101"), &[], &[], None).unwrap();
        let pve = vm.pve.as_ref().unwrap();
        assert_eq!(pve.machine(), "pc");
        assert!(!pve.is_q35() && !vm.firmware.is_uefi());
        assert_eq!(pve.vga(), "std");
        assert_eq!(pve.unresolved_mappings, vec![(0, "gone".to_string())]);
        assert!(vm.hostdevs.is_empty());
        assert_eq!(vm.memory.kib, Some(2048 * 1024));
        assert!(parse_config("hello there\n", "x.conf", None, &[], &[], None).is_err());
        // A vGPU slice is not the card passed through.
        let vm = parse_config("hostpci0: 0000:01:00.0,mdev=nvidia-63,pcie=1\nmachine: q35\n", "105.conf", Some("105"), &[], &[], None).unwrap();
        assert!(vm.hostdevs.is_empty());
        assert_eq!(vm.pve.as_ref().unwrap().hostpci[0].mdev.as_deref(), Some("nvidia-63"));
    }

    #[test]
    fn legacy_igd_through_args() {
        let vm = parse_config("args: -device vfio-pci,host=00:02.0,addr=0x02,x-igd-gfx=on\nmachine: pc-i440fx-7.2\nvga: std\n", "102.conf", Some("102"), &[], &[], None).unwrap();
        assert_eq!(vm.hostdevs[0].address.as_str(), "0000:00:02.0");
        assert!(vm.pve.as_ref().unwrap().legacy_igd().is_some());
        // Universal mode: any guest slot.
        let vm = parse_config("hostpci0: 0000:00:02.0,pcie=1\nmachine: q35\n", "101.conf", Some("101"), &[], &[], None).unwrap();
        assert!(vm.pve.as_ref().unwrap().legacy_igd().is_none());
        let vm = parse_config("hostpci0: 0000:00:02.0,legacy-igd=1\nvga: none\n", "104.conf", Some("104"), &[], &[], None).unwrap();
        assert!(vm.pve.as_ref().unwrap().legacy_igd().is_some());
    }
}
