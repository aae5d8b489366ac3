//! Loose inputs (forum pastes, single files, stdin): decoded, split at shell prompts, sniffed
//! by content or forced with `KIND:PATH`, and added to a bundle as sources; devices and IOMMU
//! groups a paste carries (lspci, group listings) are rebuilt into the bundle's PCI view.

pub mod decode;
pub mod iommu_listing;
pub mod island;
pub mod lspci;
pub mod rom;
pub mod sniff;
pub mod transcript;

use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::bundle::{Bundle, PciDevice, Source, SourceKind};
use crate::collect::{capture_bytes, capture_reader, caps_for, is_log, LOG_CAPS};
use crate::signatures::SignatureSet;
use crate::Error;

pub use sniff::sniff;

/// A lazily compiled pattern; `None` only if a literal pattern were invalid (unit tests
/// exercise every one), so callers treat it as "no match" instead of panicking.
fn re(cell: &'static std::sync::OnceLock<Option<regex::Regex>>, pattern: &str) -> Option<&'static regex::Regex> {
    cell.get_or_init(|| regex::Regex::new(pattern).ok()).as_ref()
}

/// The largest loose input read whole when it is not a log (a log of any size is streamed).
pub const INPUT_CAP: u64 = 64 * 1024 * 1024;

/// Inputs up to this size are read whole (decoded, split at shell prompts, sniffed, dedented);
/// a larger one is told from its beginning and, being a log, streamed through a capture: its
/// head, tail and signature lines are kept, never the whole file.
pub const WHOLE_INPUT: usize = 8 * 1024 * 1024;

/// One INPUT argument: a path (or `-`), with an optional forced kind.
#[derive(Debug, Clone)]
pub struct Input {
    pub kind: Option<SourceKind>,
    pub path: PathBuf,
}

impl Input {
    /// Parse `KIND:PATH`, `PATH` or `-` (`KIND:-` too). KIND is any source kind's bundle name or
    /// an alias ([`sniff::kind_list`]). A prefix that is not a known kind is part of the path
    /// (a file named `a:b`); when no such file exists, opening it names the unknown kind.
    pub fn parse(arg: &str) -> Input {
        if let Some((kind, path)) = arg.split_once(':') {
            if let Some(kind) = sniff::forced_kind(kind) {
                return Input { kind: Some(kind), path: PathBuf::from(path) };
            }
        }
        Input { kind: None, path: PathBuf::from(arg) }
    }

    /// How the input is named in sources, notes and errors: as given, `stdin` for `-`.
    pub fn name(&self) -> String {
        if self.path == Path::new("-") {
            "stdin".into()
        } else {
            self.path.display().to_string()
        }
    }
}

/// Read each input, tell its kind, and add it to `bundle`: one source per input (per
/// transcript part), devices and groups rebuilt from lspci and group listings, and a note for
/// anything that could not be told. A binary that is not an option ROM stops with an error.
/// Long logs keep head, tail and the lines of `keep` (the rule catalog's signatures).
pub fn add_inputs(bundle: &mut Bundle, inputs: &[Input], keep: &SignatureSet) -> Result<(), Error> {
    for input in inputs {
        let name = input.name();
        let mut reader = open_input(input)?;
        let head = read_up_to(&mut reader, WHOLE_INPUT as u64 + 1).map_err(|e| Error::input(&name, format!("cannot read: {e}")))?;
        if head.len() <= WHOLE_INPUT {
            add_bytes(bundle, &name, input.kind, &head, keep)?;
        } else {
            add_stream(bundle, &name, input.kind, head, reader, keep)?;
        }
    }
    Ok(())
}

/// Add an input too large to read whole, of which `head` was read and `rest` follows: a log is
/// streamed through a capture; anything else is read up to [`INPUT_CAP`].
fn add_stream(bundle: &mut Bundle, name: &str, forced: Option<SourceKind>, head: Vec<u8>, mut rest: impl std::io::Read, keep: &SignatureSet) -> Result<(), Error> {
    if forced == Some(SourceKind::Rom) || (forced.is_none() && rom::looks_like_rom(&head)) {
        return Err(Error::input(name, format!("larger than {} MiB: too large for an option ROM", WHOLE_INPUT >> 20)));
    }
    let sample = match decode::decode(&head[..head.len().min(LOG_CAPS.head)]) {
        decode::Content::Binary => return Err(Error::input(name, "binary file that is neither text nor an option ROM (no 55 AA signature); give a log, a paste or a vBIOS dump")),
        decode::Content::Text(t) => t,
        decode::Content::Empty => String::new(),
    };
    let kind = forced.unwrap_or_else(|| sniff::sniff(&sample));
    // UTF-16 (a Windows report) and non-log kinds are not streamed: read up to the cap.
    if !is_log(kind) || decode::is_utf16(&head) {
        let mut bytes = head;
        let more = read_up_to(&mut rest, INPUT_CAP.saturating_sub(bytes.len() as u64) + 1).map_err(|e| Error::input(name, format!("cannot read: {e}")))?;
        bytes.extend(more);
        if bytes.len() as u64 > INPUT_CAP {
            bytes.truncate(INPUT_CAP as usize);
            bundle.notes.push(format!("{name}: larger than {} MiB, only the first {} MiB were read", INPUT_CAP >> 20, INPUT_CAP >> 20));
        }
        return add_bytes(bundle, name, forced.or(Some(kind)), &bytes, keep);
    }
    use std::io::Read as _;
    let captured = capture_reader(std::io::Cursor::new(head).chain(rest), LOG_CAPS, keep).map_err(|e| Error::input(name, format!("cannot read: {e}")))?;
    let cut = captured.cut;
    let text = match decode::decode(&captured.bytes) {
        decode::Content::Text(t) => t,
        _ => String::new(),
    };
    add_part(bundle, name.to_string(), kind, &text, None, Kept::Captured(cut));
    Ok(())
}

/// Read `reader` up to `limit` bytes; a reader that would block (a FIFO) ends there.
fn read_up_to(reader: &mut impl std::io::Read, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    match reader.take(limit).read_to_end(&mut buf) {
        Ok(_) => Ok(buf),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(buf),
        Err(e) => Err(e),
    }
}

/// Add one input's content (already read) under `name`.
pub fn add_bytes(bundle: &mut Bundle, name: &str, forced: Option<SourceKind>, bytes: &[u8], keep: &SignatureSet) -> Result<(), Error> {
    if forced == Some(SourceKind::Rom) || (forced.is_none() && rom::looks_like_rom(bytes)) {
        if bytes.is_empty() {
            bundle.notes.push(format!("{name}: empty, nothing to analyse"));
            return Ok(());
        }
        let mut s = Source::ok(SourceKind::Rom, name, "input", String::new());
        s.text = None;
        s.base64 = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        bundle.sources.push(s);
        return Ok(());
    }
    let text = match decode::decode(bytes) {
        decode::Content::Empty => {
            bundle.notes.push(format!("{name}: empty, nothing to analyse"));
            return Ok(());
        }
        decode::Content::Binary => {
            return Err(Error::input(
                name,
                "binary file that is neither text nor an option ROM (no 55 AA signature); give a log, a paste or a vBIOS dump",
            ))
        }
        decode::Content::Text(t) => t,
    };
    if let Some(kind) = forced {
        add_part(bundle, name.to_string(), kind, &dedent(&text), None, Kept::Capture(keep));
        return Ok(());
    }
    let parts = transcript::split(&text);
    let single = parts.len() == 1 && parts[0].command.is_none();
    for (i, part) in parts.iter().enumerate() {
        let part_name = if single {
            name.to_string()
        } else {
            match &part.command {
                Some(cmd) => format!("{name}#{} ({})", i + 1, short_command(cmd)),
                None => format!("{name}#{}", i + 1),
            }
        };
        let text = dedent(&part.text);
        let kind = match part.command.as_deref().and_then(sniff::kind_from_command) {
            // `virsh edit` prints no XML itself; a paste shows the XML under it, or not.
            Some(SourceKind::DomainXml) if sniff::domain_xml_start(&text.lines().collect::<Vec<_>>()).is_none() => sniff::sniff(&text),
            Some(kind) => kind,
            None => sniff::sniff(&text),
        };
        if kind == SourceKind::Text {
            add_text_with_islands(bundle, part_name, &text, part.command.as_deref(), keep);
        } else {
            add_part(bundle, part_name, kind, &text, part.command.as_deref(), Kept::Capture(keep));
        }
    }
    Ok(())
}

/// Remove the indentation every non-blank line shares (a paste inside a Markdown list or
/// quoted with leading spaces), so line-anchored formats are recognised.
fn dedent(text: &str) -> String {
    // E-mail and forum quoting (`> ` before every line) first.
    let quoted = text.lines().filter(|l| !l.trim().is_empty()).all(|l| l.trim_start().starts_with('>'))
        && text.lines().any(|l| !l.trim().is_empty());
    if quoted {
        let unquoted: String = text
            .lines()
            .map(|l| {
                let t = l.trim_start();
                let t = t.strip_prefix('>').unwrap_or(t);
                format!("{}\n", t.strip_prefix(' ').unwrap_or(t))
            })
            .collect();
        return dedent(&unquoted);
    }
    let common = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| &l[..l.len() - l.trim_start().len()])
        .reduce(|a, b| {
            // Compare by characters: U+2000…U+200A share their first bytes.
            let n: usize = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).map(|(x, _)| x.len_utf8()).sum();
            &a[..n]
        })
        .unwrap_or("");
    if common.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(line.strip_prefix(common).unwrap_or(line.trim_start()));
        out.push('\n');
    }
    out
}

/// An unrecognised text: known runs inside it become their own sources (`NAME [lines 5-9]`),
/// the rest is scanned as generic text.
fn add_text_with_islands(bundle: &mut Bundle, name: String, text: &str, command: Option<&str>, keep: &SignatureSet) {
    let (islands, rest) = island::split(text);
    if !islands.is_empty() {
        const SHOWN: usize = 6;
        let mut found: Vec<String> = islands
            .iter()
            .take(SHOWN)
            .map(|i| match i.first_line == i.last_line {
                true => format!("{} (line {})", i.kind.human(), i.first_line),
                false => format!("{} (lines {}-{})", i.kind.human(), i.first_line, i.last_line),
            })
            .collect();
        if islands.len() > SHOWN {
            found.push(format!("{} more", islands.len() - SHOWN));
        }
        bundle.notes.push(format!("{name}: found inside the text and read as such: {}", found.join(", ")));
    }
    for isl in &islands {
        let island_name = if isl.first_line == isl.last_line {
            format!("{name} [line {}]", isl.first_line)
        } else {
            format!("{name} [lines {}-{}]", isl.first_line, isl.last_line)
        };
        add_part(bundle, island_name, isl.kind, &isl.text, command, Kept::Capture(keep));
    }
    if !rest.trim().is_empty() {
        add_part(bundle, name, SourceKind::Text, &rest, command, Kept::Capture(keep));
    }
}

fn short_command(cmd: &str) -> String {
    const MAX: usize = 48;
    if cmd.chars().count() <= MAX {
        cmd.to_string()
    } else {
        format!("{}…", cmd.chars().take(MAX).collect::<String>())
    }
}

/// Whether a text given to [`add_part`] is whole (to be captured with these signatures) or
/// already the result of a capture.
enum Kept<'k> {
    Capture(&'k SignatureSet),
    Captured(Option<crate::bundle::Cut>),
}

/// Add one text of a known (or unknown) kind as a source, rebuilding what it carries.
fn add_part(bundle: &mut Bundle, name: String, kind: SourceKind, text: &str, command: Option<&str>, kept: Kept<'_>) {
    let mut vm = None;
    let mut text = text.to_string();
    match kind {
        SourceKind::Text => bundle.notes.push(format!("{name}: kind not recognised, scanned for known messages")),
        SourceKind::Lspci => {
            let mut devices = lspci::parse(&text, &name);
            if devices.is_empty() {
                bundle.notes.push(format!("{name}: no PCI device lines (`08:00.0 VGA compatible controller …`) in this lspci output"));
            } else if !lspci::shows_drivers(&text) {
                bundle.notes.push(format!("{name}: lspci was run without -k, so the drivers in use are not known from it"));
                mark_driver_unknown(&mut devices, &name);
            }
            merge_devices(bundle, devices);
        }
        SourceKind::IommuScript => {
            let listing = iommu_listing::parse(&text, &name);
            if listing.groups.is_empty() {
                let why = if listing.bogus_headers.is_empty() {
                    "no `IOMMU Group N` lines".to_string()
                } else {
                    format!("`{}` is what the script prints when /sys/kernel/iommu_groups is empty", listing.bogus_headers[0])
                };
                bundle.notes.push(format!("{name}: the IOMMU group listing names no groups ({why})"));
            }
            let mut devices = listing.devices;
            if !devices.is_empty() && !listing.shows_drivers {
                bundle.notes.push(format!("{name}: this IOMMU group listing does not show drivers, so the drivers in use are not known from it"));
                mark_driver_unknown(&mut devices, &name);
            }
            merge_devices(bundle, devices);
            merge_groups(bundle, listing.groups);
        }
        SourceKind::DomainXml => {
            text = domain_xml_only(&text);
            // A broken document is reported by System::from_bundle for every domain XML.
            // A document cut short still names its domain when the cut comes after <name>.
            vm = crate::system::vm::parse_domain_noting(&text, &name).ok().map(|(v, _)| v.name).filter(|n| text.contains(&format!("<name>{n}</name>")));
        }
        SourceKind::QemuLog => vm = qemu_vm_name(&text, command),
        SourceKind::QmConfig | SourceKind::QmShowcmd | SourceKind::PveTaskLog => vm = pve_vmid(&text, command, &name),
        _ => {}
    }
    let (kept, cut) = match kept {
        Kept::Capture(keep) => capture_bytes(text.as_bytes(), caps_for(kind), keep).into_text(),
        Kept::Captured(cut) => (text, cut),
    };
    let mut s = Source::ok(kind, name, "input", kept);
    s.cut = cut;
    s.vm = vm;
    bundle.sources.push(s);
}

/// From `<domain …>` to `</domain>`: drops a `virsh dumpxml` prompt, "Please be patient"
/// and prose a forum paste puts around it.
fn domain_xml_only(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = sniff::domain_xml_start(&lines).unwrap_or(0);
    // The lines before the document stay as empty lines, so evidence keeps the paste's line numbers.
    let mut out = "\n".repeat(start);
    for line in &lines[start..] {
        out.push_str(line);
        out.push('\n');
        if line.trim_end().ends_with("</domain>") {
            break;
        }
    }
    out
}

/// The VM a QEMU log or `virsh start` output is about: `-name guest=win10,` in libvirt's
/// command line, or the command's own argument.
fn qemu_vm_name(text: &str, command: Option<&str>) -> Option<String> {
    if let Some(i) = text.find("-name guest=") {
        let rest = &text[i + "-name guest=".len()..];
        let name: String = rest.chars().take_while(|c| *c != ',' && !c.is_whitespace()).collect();
        if !name.is_empty() {
            return Some(name);
        }
    }
    let cmd = command?;
    let words: Vec<&str> = cmd.split_whitespace().collect();
    if let Some(p) = words.iter().position(|w| *w == "virsh") {
        let rest: Vec<&&str> = words[p + 1..].iter().filter(|w| !w.starts_with('-')).collect();
        if let [verb, vm, ..] = rest.as_slice() {
            if matches!(**verb, "start" | "create") {
                return Some(vm.to_string());
            }
        }
    }
    words
        .iter()
        .find_map(|w| w.strip_prefix("/var/log/libvirt/qemu/"))
        .map(|f| f.split('.').next().unwrap_or(f).to_string())
        .filter(|n| !n.is_empty() && !n.contains('*'))
}

/// The VMID a pasted Proxmox text belongs to: from its command (`qm config 100`,
/// `cat /etc/pve/qemu-server/100.conf`, a task file `UPID:…:qmstart:100:…`), from `qm showcmd`'s
/// `-id 100`, or from the input's file name (`100.conf`).
fn pve_vmid(text: &str, command: Option<&str>, name: &str) -> Option<String> {
    let number = |s: &str| (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_string());
    let from_word = |w: &str| -> Option<String> {
        let file = w.rsplit('/').next().unwrap_or(w);
        if let Some(stem) = file.strip_suffix(".conf") {
            return number(stem);
        }
        let parts: Vec<&str> = file.split(':').collect();
        (parts.len() >= 8 && parts[0] == "UPID").then(|| number(parts[6])).flatten()
    };
    if let Some(cmd) = command {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        if let Some(p) = words.iter().position(|w| *w == "qm") {
            if let Some(id) = words[p + 1..].iter().filter(|w| !w.starts_with('-')).nth(1).and_then(|w| number(w)) {
                return Some(id);
            }
        }
        if let Some(id) = words.iter().find_map(|w| from_word(w)) {
            return Some(id);
        }
    }
    // `qm showcmd`: `/usr/bin/kvm -id 100 …`, or with --pretty `  -id 100 \` on its own line.
    // A task log quotes the command that failed: `TASK ERROR: start failed: command '/usr/bin/kvm -id 100 …`.
    if let Some(i) = text.find("/usr/bin/kvm") {
        let words = text[i..].split_whitespace().take(8).collect::<Vec<_>>();
        if let Some(id) = words.windows(2).find(|w| w[0] == "-id").and_then(|w| number(w[1])) {
            return Some(id);
        }
    }
    from_word(name.split('#').next().unwrap_or(name))
}

/// A device from output that never shows drivers: its `driver: None` means "not known",
/// not "unbound", and the device says so.
fn mark_driver_unknown(devices: &mut [PciDevice], name: &str) {
    for d in devices.iter_mut().filter(|d| d.driver.is_none()) {
        d.notes.push(format!("driver: not shown in {name}"));
    }
}

/// Add rebuilt devices; a device already known (from sysfs or an earlier paste) only gets
/// the fields it lacks. For sysfs devices a missing driver or group is a fact (unbound, no
/// IOMMU), so those two are never filled from a paste.
fn merge_devices(bundle: &mut Bundle, devices: Vec<PciDevice>) {
    for new in devices {
        let Some(addr) = crate::system::PciAddress::parse(&new.address) else { continue };
        let existing = bundle.pci_devices.iter_mut().find(|d| crate::system::PciAddress::parse(&d.address).as_ref() == Some(&addr));
        let Some(old) = existing else {
            bundle.pci_devices.push(new);
            continue;
        };
        let from_sysfs = old.origin.as_deref().is_none_or(|o| o == "sysfs");
        let fill = |a: &mut Option<String>, b: &Option<String>| {
            if a.is_none() {
                a.clone_from(b);
            }
        };
        fill(&mut old.vendor, &new.vendor);
        fill(&mut old.device, &new.device);
        fill(&mut old.subsystem_vendor, &new.subsystem_vendor);
        fill(&mut old.subsystem_device, &new.subsystem_device);
        fill(&mut old.class, &new.class);
        fill(&mut old.revision, &new.revision);
        if !from_sysfs {
            if old.driver.is_none() && new.driver.is_some() {
                old.notes.retain(|n| !n.starts_with("driver: not shown"));
            }
            fill(&mut old.driver, &new.driver);
            fill(&mut old.iommu_group, &new.iommu_group);
            if let (Some(o), Some(n)) = (old.origin.as_mut(), new.origin.as_ref()) {
                if !o.split(", ").any(|x| x == n) {
                    o.push_str(", ");
                    o.push_str(n);
                }
            }
        }
    }
}

/// Add groups whose id is not known yet; a known group only gains members it lacks.
fn merge_groups(bundle: &mut Bundle, groups: Vec<crate::bundle::IommuGroup>) {
    for g in groups {
        match bundle.iommu_groups.iter_mut().find(|x| x.id == g.id) {
            Some(old) => {
                for d in g.devices {
                    if !old.devices.contains(&d) {
                        old.devices.push(d);
                    }
                }
            }
            None => bundle.iommu_groups.push(g),
        }
    }
}

/// Open an input for reading: stdin for `-`, else the file (read-only, non-blocking).
fn open_input(input: &Input) -> Result<Box<dyn std::io::Read>, Error> {
    if input.path == Path::new("-") {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            eprintln!("vfio-doctor: reading the paste from standard input; end it with Ctrl-D");
        }
        return Ok(Box::new(std::io::stdin()));
    }
    let file = crate::root::open_read(&input.path).map_err(|e| {
        let why = match e {
            crate::root::ReadError::Missing => {
                if let Some(kind) = unknown_kind(&input.path) {
                    return Error::input(&input.path, format!("unknown kind '{kind}', known kinds: {}", sniff::kind_list()));
                }
                "no such file".to_string()
            }
            other => other.to_string(),
        };
        Error::input(&input.path, format!("cannot read: {why}"))
    })?;
    Ok(Box::new(file))
}

/// The `KIND` of a `KIND:PATH` argument that names no file and no known kind (`bogus:dmesg.txt`):
/// a lowercase word before the first colon. A file literally named `a:b` is read before this is
/// asked, and `C:/x` is no kind.
fn unknown_kind(path: &Path) -> Option<String> {
    let (kind, rest) = path.to_str()?.split_once(':')?;
    let word = !kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    (word && !rest.is_empty() && sniff::forced_kind(kind).is_none()).then(|| kind.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_kinds_parse_and_unknown_prefix_is_a_path() {
        assert_eq!(Input::parse("dmesg:boot.txt").kind, Some(SourceKind::KernelLog));
        assert_eq!(Input::parse("iommu-groups:g.txt").kind, Some(SourceKind::IommuScript));
        assert_eq!(Input::parse("grub:-").path, PathBuf::from("-"));
        assert_eq!(Input::parse("rom:card.rom").kind, Some(SourceKind::Rom));
        let p = Input::parse("C:/x.txt");
        assert_eq!((p.kind, p.path), (None, PathBuf::from("C:/x.txt")));
    }

    #[test]
    fn dedent_by_characters() {
        assert_eq!(dedent("\u{2000} \u{2001}x\n\u{2001}y\n"), "\u{2000} \u{2001}x\n\u{2001}y\n");
        assert_eq!(dedent("    <domain>\n      <name>w</name>\n\n    </domain>\n"), "<domain>\n  <name>w</name>\n\n</domain>\n");
        assert_eq!(dedent("> [ 1.000000] DMAR: IOMMU enabled\n>\n> [ 1.100000] x\n"), "[ 1.000000] DMAR: IOMMU enabled\n\n[ 1.100000] x\n");
    }

    #[test]
    fn never_panics_on_mangled_input() {
        // Splices of real shapes with odd whitespace, truncation and random bytes.
        let pieces: &[&[u8]] = &[
            b"$ lspci -nnk\n",
            b"08:00.0 VGA compatible controller [0300]: NVIDIA [10de:1c02] (rev a1)\n\tKernel driver in use: vfio-pci\n",
            b"IOMMU Group 1:\n\t01:00.0 VGA [0300]: X [1002:67df]\n",
            b"Group:  15  0000:04:00.0 VGA [0300]: A [1002:67ff] (rev ff)   Driver: amdgpu\n",
            b"<domain type='kvm'><name>w</name>\n",
            b"\xe2\x80\x80 \xe2\x80\x81x\n",
            b"\xe2\x80\x81y\n",
            b"\xe3\x80\x80[ 1.000000] vfio-pci 0000:08:00.0: BAR 3: can't reserve\n",
            b"\xff\xfe",
            b"\x55\xaa",
            b"+ \n# \n\xe2\x9e\x9c  \n[user@h ~]$\n",
            b"2023-05-25T06:28:55.270270Z qemu-system-x86_64: -name guest=\n",
            b"Valid ROM signature found @0h, PCIR offset 370h\n\tPCIR: type 0 (x86 PC-AT), vendor: 1002, device: 743f, class: 030000\nError, ran off the end\n",
            b"\t\tEFI: Signature Valid, Subsystem: Boot, Machine: X64\n\tLast image\n",
            b"kvm                  1105920  0\nirqbypass              16384  1 kvm\n",
            b"max locked memory       (kbytes, -l) 64\nMEMLOCK max locked-in-memory address space 65536 65536 bytes\n",
            b"/dev/nvidia0:        root       1418 F...m Xorg\nXorg 864 root 12u CHR 195,0 0t0 449 nvidia0\n",
            b"+ modprobe -r nvidia_drm\nmodprobe: FATAL: Module nvidia_drm is in use.\n++ virsh nodedev-detach pci_0000_01_00_0\n",
            b"<domain type='kvm'><name>w</name><devices><hostdev mode='subsystem' ty\n...\n",
        ];
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..400 {
            let mut input = Vec::new();
            for _ in 0..(next() % 8) {
                let p = pieces[(next() % pieces.len() as u64) as usize];
                let cut = (next() % (p.len() as u64 + 1)) as usize;
                input.extend_from_slice(&p[..cut]);
                if next() % 5 == 0 {
                    input.push((next() & 0xff) as u8);
                }
            }
            let mut b = Bundle::new();
            const FORCED: &[&str] = &["lspci", "rom-parser", "lsmod", "ulimit", "fuser", "hook", "xml", "iommu-groups"];
            let forced = if next() % 3 == 0 { sniff::forced_kind(FORCED[(next() % FORCED.len() as u64) as usize]) } else { None };
            let _ = add_bytes(&mut b, "fuzz.txt", forced, &input, &SignatureSet::default());
        }
    }

    #[test]
    fn sysfs_devices_keep_their_driver() {
        let mut b = Bundle::new();
        b.pci_devices.push(PciDevice { address: "0000:08:00.0".into(), vendor: Some("0x10de".into()), ..PciDevice::default() });
        add_bytes(&mut b, "l.txt", None, b"08:00.0 VGA compatible controller [0300]: NVIDIA [10de:1c02] (rev a1)\n\tSubsystem: X [1458:3735]\n\tKernel driver in use: nvidia\n", &SignatureSet::default())
            .expect("text");
        assert_eq!(b.pci_devices.len(), 1);
        let d = &b.pci_devices[0];
        assert_eq!((d.driver.as_deref(), d.subsystem_vendor.as_deref(), d.origin.as_deref()), (None, Some("0x1458"), None));
    }
}
