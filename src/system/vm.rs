//! Virtual machines: libvirt domain XML parsed into what the rules ask about — passed-through
//! PCI devices (`<hostdev>`), firmware, hypervisor features, CPU and network interfaces — with
//! line numbers for evidence. A VM known only from its QEMU log (a paste without XML) still
//! yields its `-device vfio-pci,host=…` devices.

use std::sync::{Arc, OnceLock};

use regex::Regex;

use super::PciAddress;
use super::Evidence;

#[derive(Debug, Clone)]
pub struct Vm {
    pub name: String,
    /// The source this VM was read from (a domain XML, or a QEMU log when there is no XML).
    pub source: Arc<str>,
    /// Whether the VM's whole definition was read — a libvirt domain XML or a Proxmox VE VM
    /// configuration (`pve` says which) — rather than only a QEMU command line.
    pub from_xml: bool,
    /// `kvm`, `qemu`, …
    pub domain_type: Option<String>,
    pub hostdevs: Vec<Hostdev>,
    pub firmware: Firmware,
    pub features: Features,
    pub cpu: Cpu,
    pub interfaces: Vec<Interface>,
    /// The libosinfo id (`http://microsoft.com/win/10`) when virt-manager recorded it.
    pub os_id: Option<String>,
    /// Line of the `<domain>` element (or 1).
    pub line: usize,
    /// `<memory>`, `<memtune>`, `<memoryBacking>`.
    pub memory: Memory,
    /// `<qemu:arg value='…'/>` values of `<qemu:commandline>` that pass a device to vfio-pci
    /// behind libvirt's back (line, value).
    pub raw_vfio_args: Vec<(usize, String)>,
    /// Extra ACPI tables given to the guest (line, what): `-acpitable …` arguments
    /// (`<qemu:commandline>`, Proxmox VE `args:`) and libvirt's `<os><acpi><table>`.
    pub acpi_tables: Vec<(usize, String)>,
    /// The Proxmox VE configuration this VM was read from (`None`: libvirt or a QEMU log). The
    /// remediation speaks `qm set` for these (`rules::fix::VmFix`).
    pub pve: Option<super::pve::PveVm>,
}

/// The guest's memory as the domain defines it, in KiB.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// `<memory unit='KiB'>16777216</memory>`
    pub kib: Option<u64>,
    /// `<memtune><hard_limit unit='KiB'>…</hard_limit></memtune>`
    pub hard_limit_kib: Option<u64>,
    /// `<memoryBacking><locked/></memoryBacking>`
    pub locked: bool,
    /// Line of `<memory>` (or of the `<domain>` element).
    pub line: usize,
}

/// An amount of a libvirt scaled integer (`<memory unit='GiB'>16</memory>`) in KiB; libvirt's
/// units: b/bytes, KB, k/KiB, MB, M/MiB, GB, G/GiB, TB, T/TiB (default KiB).
fn kib(value: &str, unit: Option<&str>) -> Option<u64> {
    let v: u64 = value.trim().parse().ok()?;
    let bytes_per: u64 = match unit.unwrap_or("KiB") {
        "b" | "bytes" => 1,
        "KB" => 1000,
        "k" | "K" | "KiB" => 1024,
        "MB" => 1_000_000,
        "M" | "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "G" | "GiB" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "T" | "TiB" => 1 << 40,
        _ => return None,
    };
    v.checked_mul(bytes_per).map(|b| b / 1024)
}

/// A PCI device passed to the VM (`<hostdev mode='subsystem' type='pci'>` or `-device vfio-pci`).
#[derive(Debug, Clone)]
pub struct Hostdev {
    /// The host device (`<source><address …/>`).
    pub address: PciAddress,
    pub managed: Option<bool>,
    /// `<rom file='…'/>`
    pub rom_file: Option<String>,
    /// `<rom bar='on|off'/>`
    pub rom_bar: Option<String>,
    /// The guest-side `<address type='pci' …/>`, as written.
    pub guest_address: Option<String>,
    pub multifunction: bool,
    pub line: usize,
    /// The element's opening text, for evidence.
    pub excerpt: String,
}

#[derive(Debug, Clone, Default)]
pub struct Firmware {
    /// `<os firmware='efi'>` (libvirt ≥ 5.2 auto-selection).
    pub firmware_attr: Option<String>,
    /// `<loader>` path, e.g. /usr/share/OVMF/OVMF_CODE_4M.fd.
    pub loader: Option<String>,
    /// `<loader type='pflash|rom'>`
    pub loader_type: Option<String>,
    /// `<type machine='pc-q35-6.2'>`
    pub machine: Option<String>,
    pub line: usize,
}

impl Firmware {
    /// UEFI (OVMF/AAVMF/edk2) rather than SeaBIOS.
    pub fn is_uefi(&self) -> bool {
        if self.firmware_attr.as_deref() == Some("efi") {
            return true;
        }
        self.loader.as_deref().is_some_and(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("ovmf") || l.contains("edk2") || l.contains("aavmf") || l.contains("uefi")
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Features {
    /// `<kvm><hidden state='on'/></kvm>`
    pub kvm_hidden: Option<bool>,
    /// `<hyperv><vendor_id state='on' value='…'/></hyperv>`
    pub hyperv_vendor_id: Option<String>,
    /// hyperv enlightenments present with state='on' (relaxed, vapic, spinlocks, …).
    pub hyperv_on: Vec<String>,
    /// `<hyperv mode='passthrough'>` turns every enlightenment on.
    pub hyperv_mode: Option<String>,
    pub line: usize,
    /// The child elements of `<hyperv>` and of `<kvm>` as written (`<spinlocks state='on'
    /// retries='8191'/>`), so a fix that shows a new `<hyperv>`/`<kvm>` keeps every one of them.
    pub hyperv_children: Vec<(String, String)>,
    pub kvm_children: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct Cpu {
    /// `host-passthrough`, `host-model`, `custom`; `None` when there is no `<cpu>`.
    pub mode: Option<String>,
    pub sockets: Option<u32>,
    pub dies: Option<u32>,
    pub cores: Option<u32>,
    pub threads: Option<u32>,
    /// `<feature policy='require' name='topoext'/>` → ("require", "topoext").
    pub features: Vec<(String, String)>,
    pub line: usize,
    /// `<model>EPYC-Rome</model>` (a named CPU model: custom or host-model's expansion), with its line.
    pub model: Option<(String, usize)>,
}

#[derive(Debug, Clone)]
pub struct Interface {
    /// `network`, `bridge`, `direct`, `user`, …
    pub kind: String,
    pub network: Option<String>,
    pub bridge: Option<String>,
    pub dev: Option<String>,
    pub line: usize,
    pub excerpt: String,
}

impl Vm {
    /// Evidence pointing at a line of this VM's definition.
    pub fn evidence(&self, line: usize, excerpt: impl Into<String>) -> Evidence {
        Evidence::new(self.source.to_string(), format!("line {line}"), excerpt)
    }

    pub fn hostdev_evidence(&self, h: &Hostdev) -> Evidence {
        self.evidence(h.line, h.excerpt.clone())
    }

    /// Whether `name` names this VM: its name, or for a Proxmox VM its VMID or `name:`.
    pub fn is_named(&self, name: &str) -> bool {
        self.name == name || self.pve.as_ref().is_some_and(|p| p.vmid.as_deref() == Some(name) || p.name.as_deref() == Some(name))
    }

    pub fn takes(&self, address: &PciAddress) -> bool {
        self.hostdevs.iter().any(|h| &h.address == address)
    }

    /// Windows guest, judging by libosinfo metadata or Proxmox's `ostype:`, or failing that, the name.
    pub fn looks_windows(&self) -> bool {
        if let Some(ostype) = self.pve.as_ref().and_then(|p| p.get("ostype")) {
            return ostype.value.trim().starts_with('w');
        }
        match &self.os_id {
            Some(id) => id.contains("microsoft.com/win"),
            None => self.name.to_ascii_lowercase().contains("win"),
        }
    }
}

/// A device a VM passes through that is a GPU (class 0x03 in sysfs or lspci) or, with no PCI
/// data for it (a pasted XML), is taken to be one: the kernel log enumerated it with class 0x03
/// (or a GPU driver bound it), or failing that, function 0 is passed with its function 1 (the
/// HDMI audio), or given a `<rom file>`. The last two are guesses; [`PassedGpu::assumption`]
/// says which one was made, for a finding's `assumed`.
#[derive(Debug, Clone)]
pub struct PassedGpu<'a> {
    pub hostdev: &'a Hostdev,
    /// The host's view of the device; `None` when the input has no PCI data for it.
    pub device: Option<&'a super::Device>,
    /// Without PCI data: what a log line says sits at the address.
    pub seen: Option<super::inferred::SeenIds>,
}

impl PassedGpu<'_> {
    /// `0000:08:00.0 NVIDIA Corporation GP106 [GeForce GTX 1060 3GB] [10de:1c02]`, or the address.
    pub fn label(&self) -> String {
        match (self.device, &self.seen) {
            (Some(d), _) => d.label(),
            (None, Some(s)) => {
                let (vendor, device) = super::pci::names(Some(s.vendor), s.device);
                let name = match (vendor, device) {
                    (Some(v), Some(d)) => format!("{v} {d} "),
                    (Some(v), None) => format!("{v} "),
                    _ => String::new(),
                };
                match s.device {
                    Some(dev) => format!("{} {name}[{:04x}:{dev:04x}]", self.hostdev.address, s.vendor),
                    None => format!("{} {name}(vendor {:04x})", self.hostdev.address, s.vendor),
                }
            }
            (None, None) => format!("{} (no PCI data; taken to be the GPU)", self.hostdev.address),
        }
    }

    /// The PCI vendor id, from sysfs/lspci or a log line.
    pub fn vendor(&self) -> Option<u16> {
        self.device.and_then(|d| d.vendor_id).or(self.seen.as_ref().map(|s| s.vendor))
    }

    /// What was taken on trust to call this device a GPU, when PCI data for it is missing.
    pub fn assumption(&self) -> Option<String> {
        if self.device.is_some() {
            return None;
        }
        let a = &self.hostdev.address;
        Some(match &self.seen {
            Some(s) => format!("no sysfs or lspci for {a}: what it is comes from {}", s.how),
            None if self.hostdev.rom_file.is_some() => format!("no PCI data for {a}: taken to be the GPU because its <hostdev> has a <rom file>"),
            None if self.hostdev.excerpt.contains("x-vga=1") => format!("no PCI data for {a}: taken to be the GPU because its hostpci line has x-vga=1"),
            None => format!("no PCI data for {a}: taken to be the GPU because its function 1 (the HDMI audio) is passed with it"),
        })
    }

    /// The log line that stood in for PCI data, to cite with the finding.
    pub fn seen_evidence(&self) -> Option<Evidence> {
        self.seen.as_ref().filter(|_| self.device.is_none()).map(|s| s.evidence.clone())
    }
}

impl super::System {
    /// The GPUs `vm` passes through (see [`PassedGpu`]).
    pub fn passed_gpus<'a>(&'a self, vm: &'a Vm) -> Vec<PassedGpu<'a>> {
        vm.hostdevs
            .iter()
            .filter_map(|h| match self.devices.iter().find(|d| d.address == h.address) {
                Some(d) => d.is_gpu().then_some(PassedGpu { hostdev: h, device: Some(d), seen: None }),
                None => match self.ids_in_logs(&h.address) {
                    // A GPU driver's line names no class; the driver binds only GPUs.
                    Some(seen) => seen.class.is_none_or(|c| c >> 16 == 0x03).then_some(PassedGpu { hostdev: h, device: None, seen: Some(seen) }),
                    None => {
                        let is_fn0 = h.address.as_str().ends_with(".0");
                        let with_audio = vm.hostdevs.iter().any(|o| o.address.slot() == h.address.slot() && o.address.as_str().ends_with(".1"));
                        // Proxmox's x-vga=1 is only ever set on a GPU.
                        let x_vga = vm.pve.as_ref().and_then(|p| p.hostpci_of(&h.address)).is_some_and(|p| p.x_vga);
                        (is_fn0 && (with_audio || h.rom_file.is_some() || x_vga)).then_some(PassedGpu { hostdev: h, device: None, seen: None })
                    }
                },
            })
            .collect()
    }
}

/// Parse a domain XML source. `Err` is a one-line problem for a report note.
/// (tag name, text as written) of each child element of `node`; `xml` is the parsed text.
fn verbatim_children(xml: &str, node: roxmltree::Node<'_, '_>) -> Vec<(String, String)> {
    node.children()
        .filter(|c| c.is_element())
        .filter_map(|c| Some((c.tag_name().name().to_string(), xml.get(c.range())?.to_string())))
        .collect()
}

pub fn parse_domain(text: &str, path: &str) -> Result<Vm, String> {
    parse_domain_noting(text, path).map(|(vm, _)| vm)
}

/// [`parse_domain`], reading a document that stops half way (or has `...` where the poster
/// left something out) as far as it goes: the second value says where it stops.
pub fn parse_domain_noting(text: &str, path: &str) -> Result<(Vm, Option<String>), String> {
    // Pastes carry a prompt line (`$ sudo virsh dumpxml win10`) or text after the document.
    let start = text.find("<domain").ok_or("no <domain> element")?;
    let end = match text.rfind("</domain>").map(|e| e + "</domain>".len()) {
        Some(e) if e > start => e,
        _ => text.len(),
    };
    let line_offset = text[..start].matches('\n').count();
    fn options<'a>() -> roxmltree::ParsingOptions<'a> {
        roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 200_000, ..Default::default() }
    }
    let mut xml: &str = &text[start..end];
    let repaired;
    let mut note = None;
    if let Err(e) = roxmltree::Document::parse_with_options(xml, options()) {
        let r = super::xml_repair::repair(xml).filter(|r| roxmltree::Document::parse_with_options(&r.text, options()).is_ok());
        match r {
            Some(r) => {
                let mut r = r;
                r.stop_line += line_offset;
                r.last_complete = r.last_complete.map(|(n, l)| (n, l + line_offset));
                r.elisions.iter_mut().for_each(|l| *l += line_offset);
                note = Some(r.describe());
                repaired = r.text;
                xml = &repaired;
            }
            None if !text[start..].contains("</domain>") => return Err("no closing </domain>, and the XML before the cut does not parse".into()),
            None => return Err(format!("not valid XML: {e}")),
        }
    }
    let doc = roxmltree::Document::parse_with_options(xml, options()).map_err(|e| format!("not valid XML: {e}"))?;
    let line_of = |n: roxmltree::Node<'_, '_>| doc.text_pos_at(n.range().start).row as usize + line_offset;
    let opening = |n: roxmltree::Node<'_, '_>| {
        let r = n.range();
        let s = &xml[r.start..r.end.min(xml.len())];
        let first = s.find('>').map(|i| &s[..=i]).unwrap_or(s);
        first.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let root = doc.root_element();
    if root.tag_name().name() != "domain" {
        return Err(format!("root element is <{}>, not <domain>", root.tag_name().name()));
    }
    let name = child(root, "name").and_then(|n| n.text()).map(|t| t.trim().to_string()).unwrap_or_else(|| {
        path.rsplit('/').next().unwrap_or(path).trim_end_matches(".xml").to_string()
    });

    let mut vm = Vm {
        name,
        source: path.into(),
        from_xml: true,
        domain_type: root.attribute("type").map(str::to_string),
        hostdevs: Vec::new(),
        firmware: Firmware::default(),
        features: Features::default(),
        cpu: Cpu::default(),
        interfaces: Vec::new(),
        os_id: None,
        line: line_of(root),
        memory: Memory { line: line_of(root), ..Memory::default() },
        raw_vfio_args: Vec::new(),
        acpi_tables: Vec::new(),
        pve: None,
    };

    if let Some(m) = child(root, "memory") {
        vm.memory.kib = m.text().and_then(|t| kib(t, m.attribute("unit")));
        vm.memory.line = line_of(m);
    }
    if let Some(h) = child(root, "memtune").and_then(|t| child(t, "hard_limit")) {
        vm.memory.hard_limit_kib = h.text().and_then(|t| kib(t, h.attribute("unit")));
    }
    vm.memory.locked = child(root, "memoryBacking").and_then(|b| child(b, "locked")).is_some();
    // <qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:arg value='…'/>
    for c in root.children().filter(|c| c.tag_name().name() == "commandline") {
        for a in c.children().filter(|a| a.tag_name().name() == "arg") {
            if let Some(v) = a.attribute("value").filter(|v| v.contains("vfio-pci")) {
                vm.raw_vfio_args.push((line_of(a), v.to_string()));
            }
        }
        // `-acpitable` then its `file=…` (or both in one value).
        let args: Vec<(usize, &str)> = c.children().filter(|a| a.tag_name().name() == "arg").filter_map(|a| Some((line_of(a), a.attribute("value")?))).collect();
        for (i, (line, v)) in args.iter().enumerate() {
            if v.trim_start().starts_with("-acpitable") {
                let rest = v.trim_start().trim_start_matches("-acpitable").trim();
                let what = if rest.is_empty() { args.get(i + 1).map(|(_, n)| n.to_string()).unwrap_or_default() } else { rest.to_string() };
                vm.acpi_tables.push((*line, format!("-acpitable {what}")));
            }
        }
    }
    // libvirt's own `<os><acpi><table type='slic'>/path</table></acpi></os>`.
    if let Some(tables) = child(root, "os").and_then(|os| child(os, "acpi")) {
        for t in tables.children().filter(|t| t.tag_name().name() == "table") {
            vm.acpi_tables.push((line_of(t), format!("<table type='{}'>{}</table>", t.attribute("type").unwrap_or(""), t.text().unwrap_or("").trim())));
        }
    }

    if let Some(os) = child(root, "os") {
        vm.firmware.line = line_of(os);
        vm.firmware.firmware_attr = os.attribute("firmware").map(str::to_string);
        if let Some(t) = child(os, "type") {
            vm.firmware.machine = t.attribute("machine").map(str::to_string);
        }
        if let Some(l) = child(os, "loader") {
            vm.firmware.loader = l.text().map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
            vm.firmware.loader_type = l.attribute("type").map(str::to_string);
            vm.firmware.line = line_of(l);
        }
    }
    if let Some(f) = child(root, "features") {
        vm.features.line = line_of(f);
        if let Some(kvm) = child(f, "kvm") {
            vm.features.kvm_children = verbatim_children(xml, kvm);
            if let Some(h) = child(kvm, "hidden") {
                vm.features.kvm_hidden = Some(h.attribute("state") == Some("on"));
            }
        }
        if let Some(hv) = child(f, "hyperv") {
            vm.features.hyperv_children = verbatim_children(xml, hv);
            vm.features.hyperv_mode = hv.attribute("mode").map(str::to_string);
            for e in hv.children().filter(|c| c.is_element()) {
                if e.attribute("state") != Some("on") {
                    continue;
                }
                if e.has_tag_name("vendor_id") {
                    vm.features.hyperv_vendor_id = e.attribute("value").map(str::to_string);
                }
                vm.features.hyperv_on.push(e.tag_name().name().to_string());
            }
        }
    }
    if let Some(c) = child(root, "cpu") {
        vm.cpu.line = line_of(c);
        vm.cpu.mode = Some(c.attribute("mode").unwrap_or("custom").to_string());
        if let Some(m) = child(c, "model").and_then(|m| m.text().map(|t| (t.trim().to_string(), line_of(m)))).filter(|(t, _)| !t.is_empty()) {
            vm.cpu.model = Some(m);
        }
        if let Some(t) = child(c, "topology") {
            let n = |a: &str| t.attribute(a).and_then(|v| v.parse().ok());
            vm.cpu.sockets = n("sockets");
            vm.cpu.dies = n("dies");
            vm.cpu.cores = n("cores");
            vm.cpu.threads = n("threads");
        }
        for f in c.children().filter(|x| x.has_tag_name("feature")) {
            if let Some(name) = f.attribute("name") {
                vm.cpu.features.push((f.attribute("policy").unwrap_or("require").to_string(), name.to_string()));
            }
        }
    }
    // libosinfo metadata: <metadata><libosinfo:libosinfo …><libosinfo:os id="…"/></…></metadata>
    if let Some(meta) = child(root, "metadata") {
        vm.os_id = meta.descendants().find(|n| n.tag_name().name() == "os").and_then(|n| n.attribute("id")).map(str::to_string);
    }
    if let Some(devices) = child(root, "devices") {
        for h in devices.children().filter(|c| c.has_tag_name("hostdev")) {
            if h.attribute("type") != Some("pci") {
                continue;
            }
            let Some(src) = child(h, "source").and_then(|s| child(s, "address")) else { continue };
            let num = |a: &str| {
                let v = src.attribute(a)?;
                let v = v.trim();
                match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => v.parse::<u32>().ok(),
                }
            };
            let (Some(bus), Some(slot), Some(function)) = (num("bus"), num("slot"), num("function")) else { continue };
            let domain = num("domain").unwrap_or(0);
            let Some(address) = PciAddress::parse(&format!("{domain:04x}:{bus:02x}:{slot:02x}.{function:x}")) else { continue };
            let rom = child(h, "rom");
            let guest = h.children().find(|c| c.has_tag_name("address"));
            vm.hostdevs.push(Hostdev {
                address,
                managed: h.attribute("managed").map(|m| m == "yes"),
                rom_file: rom.and_then(|r| r.attribute("file")).map(str::to_string),
                rom_bar: rom.and_then(|r| r.attribute("bar")).map(str::to_string),
                guest_address: guest.map(opening),
                multifunction: guest.and_then(|g| g.attribute("multifunction")) == Some("on"),
                line: line_of(h),
                excerpt: format!("{} … {}", opening(h), opening(src)),
            });
        }
        for i in devices.children().filter(|c| c.has_tag_name("interface")) {
            let source = child(i, "source");
            vm.interfaces.push(Interface {
                kind: i.attribute("type").unwrap_or("").to_string(),
                network: source.and_then(|s| s.attribute("network")).map(str::to_string),
                bridge: source.and_then(|s| s.attribute("bridge")).map(str::to_string),
                dev: source.and_then(|s| s.attribute("dev")).map(str::to_string),
                line: line_of(i),
                excerpt: source.map(opening).unwrap_or_else(|| opening(i)),
            });
        }
    }
    Ok((vm, note))
}

/// The first child element of `n` called `name`.
fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

/// `-device vfio-pci,host=0000:08:00.0,…` or `-device {"driver":"vfio-pci","host":"0000:0b:00.0",…}`.
const VFIO_DEVICE: &str = r#"-device\s+'?(?:vfio-pci,(?:[^ ]*,)?host=(?P<a>[0-9a-fA-F:.]+)|\{"driver":"vfio-pci","host":"(?P<b>[0-9a-fA-F:.]+)")"#;

/// `guest=win10,` in libvirt's `-name` argument.
const GUEST_NAME: &str = r"-name\s+'?guest=(?P<n>[^,' ]+)";

/// The QEMU log lines [`qemu_hostdevs`] reads: long logs keep them from between head and tail.
pub const LOG_SIGNATURES: &[&str] = &[VFIO_DEVICE, GUEST_NAME];

fn vfio_device_re() -> &'static Regex {
    static_regex!(VFIO_DEVICE)
}

fn guest_name_re() -> &'static Regex {
    static_regex!(GUEST_NAME)
}

/// The device a QEMU error line is about, from its prefix: `-device vfio-pci,host=0000:0b:00.0,…: `,
/// `-device {"driver":"vfio-pci","host":"0000:0b:00.0",…}: ` or `vfio 0000:0b:00.0: `.
pub fn qemu_line_device(message: &str) -> Option<PciAddress> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| {
            Regex::new(r#"vfio (?P<a>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]): |host=(?P<b>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])|"host":"(?P<c>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])""#).ok()
        })
        .as_ref()?;
    let c = re.captures(message)?;
    c.name("a").or_else(|| c.name("b")).or_else(|| c.name("c")).and_then(|m| PciAddress::parse(m.as_str()))
}

/// The VM name of a QEMU command line without libvirt's `guest=`: Proxmox's
/// `-name 'win11,debug-threads=on'`.
pub fn qemu_plain_name(text: &str) -> Option<String> {
    let i = text.find("-name ")?;
    let rest = text[i + "-name ".len()..].trim_start().trim_start_matches(['\'', '"']);
    let name: String = rest.chars().take_while(|c| *c != ',' && *c != '\'' && *c != '"' && !c.is_whitespace()).collect();
    (!name.is_empty() && !name.starts_with("guest=")).then_some(name)
}

/// The guest memory of a QEMU command line, in KiB: `-m 16384` (MiB), `-m 16G`, `-m size=16777216k`.
pub fn qemu_memory_kib(text: &str) -> Option<u64> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"(?:^|\s)-m\s+'?(?:size=)?(?P<n>\d+)(?P<u>[kKmMgGtT]?)\b").ok()).as_ref()?;
    let c = text.lines().find_map(|l| re.captures(l))?;
    let n: u64 = c["n"].parse().ok()?;
    // QEMU's default suffix for -m is M.
    let shift = match &c["u"] {
        "k" | "K" => 0,
        "" | "m" | "M" => 10,
        "g" | "G" => 20,
        _ => 30,
    };
    n.checked_mul(1 << shift)
}

/// The PCI devices a QEMU command line (as logged by libvirt) passes through, with line numbers.
pub fn qemu_hostdevs(text: &str) -> (Option<String>, Vec<Hostdev>) {
    let mut name = None;
    let mut devs: Vec<Hostdev> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if name.is_none() {
            if let Some(c) = guest_name_re().captures(line) {
                name = Some(c["n"].to_string());
            }
        }
        // Command-line lines, and error lines that quote the option text: either proves that
        // QEMU was given the device.
        for c in vfio_device_re().captures_iter(line) {
            let Some(addr) = c.name("a").or_else(|| c.name("b")).and_then(|m| PciAddress::parse(m.as_str())) else { continue };
            if devs.iter().any(|d| d.address == addr) {
                continue;
            }
            devs.push(Hostdev {
                address: addr,
                managed: None,
                rom_file: None,
                rom_bar: None,
                guest_address: None,
                multifunction: line.contains("multifunction=on") || line.contains("\"multifunction\":true"),
                line: i + 1,
                excerpt: line.trim().trim_end_matches('\\').trim().to_string(),
            });
        }
    }
    (name, devs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn qemu_error_lines_name_their_device() {
        let lines = [
            ("qemu-system-x86_64: -device vfio-pci,host=0000:4c:00.0,multifunction=on: VFIO_MAP_DMA: -12", Some("0000:4c:00.0")),
            ("kvm: -device vfio-pci,host=0b:00.0,id=hostdev0: vfio 0000:0b:00.0: group 25 is not viable", Some("0000:0b:00.0")),
            (r#"qemu-system-x86_64: -device {"driver":"vfio-pci","host":"0000:08:00.1","id":"hostdev1"}: vfio: Cannot reset device"#, Some("0000:08:00.1")),
            ("qemu-system-x86_64: vfio 0000:0a:00.0: failed to setup container for group 25", Some("0000:0a:00.0")),
            ("qemu-system-x86_64: vfio: Unable to power on device, stuck in D3", None),
        ];
        for (line, want) in lines {
            assert_eq!(super::qemu_line_device(line).as_ref().map(|a| a.as_str()), want, "{line}");
        }
    }

    use super::*;

    const XML: &str = r#"$ sudo virsh dumpxml win10
<domain type='kvm'>
  <name>win10</name>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://microsoft.com/win/10"/>
    </libosinfo:libosinfo>
  </metadata>
  <os>
    <type arch='x86_64' machine='pc-q35-6.2'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
  </os>
  <features>
    <hyperv mode='custom'>
      <relaxed state='on'/>
      <vendor_id state='on' value='0123456789ab'/>
    </hyperv>
    <kvm><hidden state='on'/></kvm>
  </features>
  <cpu mode='host-passthrough'>
    <topology sockets='1' dies='1' cores='4' threads='2'/>
    <feature policy='require' name='topoext'/>
  </cpu>
  <devices>
    <interface type='network'>
      <source network='default'/>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x0000' bus='0x08' slot='0x00' function='0x0'/>
      </source>
      <rom file='/home/yfy/vbios.rom'/>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0' multifunction='on'/>
    </hostdev>
    <hostdev mode='subsystem' type='usb'><source><vendor id='0x046d'/></source></hostdev>
  </devices>
</domain>
"#;

    #[test]
    fn domain_xml_with_a_prompt_line() {
        let vm = parse_domain(XML, "win10.xml").unwrap();
        assert_eq!(vm.name, "win10");
        assert!(vm.looks_windows());
        assert!(vm.firmware.is_uefi());
        assert_eq!(vm.features.kvm_hidden, Some(true));
        assert_eq!(vm.features.hyperv_vendor_id.as_deref(), Some("0123456789ab"));
        assert_eq!(vm.features.hyperv_on, vec!["relaxed", "vendor_id"]);
        assert_eq!(vm.cpu.mode.as_deref(), Some("host-passthrough"));
        assert_eq!(vm.cpu.threads, Some(2));
        assert_eq!(vm.cpu.features, vec![("require".to_string(), "topoext".to_string())]);
        assert_eq!(vm.hostdevs.len(), 1);
        let h = &vm.hostdevs[0];
        assert_eq!(h.address.as_str(), "0000:08:00.0");
        assert_eq!(h.rom_file.as_deref(), Some("/home/yfy/vbios.rom"));
        assert!(h.multifunction);
        assert_eq!(h.line, 28);
        assert_eq!(vm.interfaces[0].network.as_deref(), Some("default"));
    }

    #[test]
    fn memory_and_raw_qemu_args() {
        let xml = "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n  <name>w</name>\n  <memory unit='GiB'>16</memory>\n  <memtune><hard_limit unit='KiB'>17825792</hard_limit></memtune>\n  <memoryBacking><locked/></memoryBacking>\n  <qemu:commandline>\n    <qemu:arg value='-device'/>\n    <qemu:arg value='vfio-pci,host=0000:08:00.0,multifunction=on'/>\n  </qemu:commandline>\n</domain>\n";
        let vm = parse_domain(xml, "w.xml").unwrap();
        assert_eq!(vm.memory.kib, Some(16 * 1024 * 1024));
        assert_eq!(vm.memory.line, 3);
        assert_eq!(vm.memory.hard_limit_kib, Some(17825792));
        assert!(vm.memory.locked);
        assert_eq!(vm.raw_vfio_args, vec![(8, "vfio-pci,host=0000:08:00.0,multifunction=on".to_string())]);
        assert_eq!(kib("16777216", None), Some(16777216));
        assert_eq!(kib("2", Some("M")), Some(2048));
        assert_eq!(kib("x", None), None);
    }

    #[test]
    fn broken_xml_is_a_problem_not_a_panic() {
        // Cut short: read as far as it goes, and said so.
        let (vm, note) = parse_domain_noting("<domain><name>x</name>", "x.xml").expect("read as far as it goes");
        assert_eq!((vm.name.as_str(), note.as_deref()), ("x", Some("the XML stops at line 1, inside <domain>; the last complete element is <name> (line 1); analysed as far as it goes")));
        assert!(parse_domain("<domain><name>x</name><devices><hostdev", "x.xml").is_ok());
        assert!(parse_domain("<domain <<<", "x.xml").is_err());
        assert!(parse_domain("hello", "x.xml").is_err());
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><domain>&b;</domain>";
        assert!(parse_domain(bomb, "bomb.xml").is_err());
    }

    #[test]
    fn qemu_command_lines_old_and_json() {
        let log = "-name guest=win10,debug-threads=on \\\n-device vfio-pci,host=0000:08:00.0,id=hostdev0,bus=pci.5,multifunction=on,addr=0x0 \\\n-device '{\"driver\":\"vfio-pci\",\"host\":\"0000:08:00.1\",\"id\":\"hostdev1\"}' \\\n2022-07-21T06:50:56.222055Z qemu-system-x86_64: -device vfio-pci,host=0000:0a:00.0,id=hostdev3: Failed to mmap 0000:0a:00.0 BAR 0. Performance may be slow\n";
        let (name, devs) = qemu_hostdevs(log);
        assert_eq!(name.as_deref(), Some("win10"));
        let addrs: Vec<&str> = devs.iter().map(|d| d.address.as_str()).collect();
        assert_eq!(addrs, vec!["0000:08:00.0", "0000:08:00.1", "0000:0a:00.0"]);
        assert_eq!(qemu_memory_kib("-accel kvm \\\n-m 16384 \\\n"), Some(16 * 1024 * 1024));
        assert_eq!(qemu_memory_kib("-m size=8388608k \\\n"), Some(8388608));
        assert_eq!(qemu_memory_kib("-machine q35 -m 4G -smp 4"), Some(4 * 1024 * 1024));
        assert_eq!(qemu_memory_kib("-msg timestamp=on"), None);
        assert!(devs[0].multifunction);
    }
}
