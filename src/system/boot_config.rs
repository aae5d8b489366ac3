//! Boot loader configuration as kernel options with where each was written, to compare with
//! the command line the running kernel got: GRUB's defaults (`/etc/default/grub`, `grub.d`),
//! `/etc/kernel/cmdline`, systemd-boot / BLS entries and kernelstub's JSON. Files and pastes
//! are told apart by path where there is one, else by content.

use super::{Cmdline, System};
use crate::bundle::{Bundle, SourceKind};
use super::Evidence;

/// Which tool owns a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Loader {
    /// `GRUB_CMDLINE_LINUX` / `GRUB_CMDLINE_LINUX_DEFAULT` in /etc/default/grub (and grub.d).
    Grub,
    /// `/etc/kernel/cmdline`: kernel-install, Proxmox's proxmox-boot-tool, UKIs.
    KernelCmdline,
    /// `options` lines of a systemd-boot (or BLS) entry, `loader/entries/*.conf`.
    Entry,
    /// Pop!_OS: `kernel_options` of `/etc/kernelstub/configuration`.
    Kernelstub,
}

/// One kernel option as configured, with the file and line it is in.
#[derive(Debug, Clone)]
pub struct ConfiguredOption {
    pub key: String,
    pub value: Option<String>,
    pub evidence: Evidence,
}

impl ConfiguredOption {
    /// `key=value`, or the bare flag.
    pub fn text(&self) -> String {
        match &self.value {
            Some(v) if v.contains(char::is_whitespace) => format!("{}=\"{v}\"", self.key),
            Some(v) => format!("{}={v}", self.key),
            None => self.key.clone(),
        }
    }
}

/// The kernel options one boot loader configuration asks for.
#[derive(Debug, Clone)]
pub struct BootConfig {
    pub loader: Loader,
    /// The source it came from (`etc/default/grub`, `grub.txt`).
    pub path: String,
    /// For an entry: its `linux` and `version` values, to tell which kernel it boots.
    pub kernel: Option<String>,
    pub options: Vec<ConfiguredOption>,
}

/// Every boot configuration of the bundle. GRUB's variables carry over from /etc/default/grub
/// into grub.d snippets (update-grub sources them in that order), so GRUB yields one config.
pub fn parse(bundle: &Bundle) -> Vec<BootConfig> {
    let mut out = Vec::new();
    let mut grub = Grub::default();
    for s in bundle.sources.iter().filter(|s| s.kind == SourceKind::BootConfig && s.is_ok()) {
        let Some(text) = s.text.as_deref() else { continue };
        let path = s.path.as_str();
        let loader = if path.contains("kernelstub") || text.contains("\"kernel_options\"") {
            Loader::Kernelstub
        } else if path.contains("kernel/cmdline") {
            Loader::KernelCmdline
        } else if path.contains("loader/entries/") || entry_text(text) {
            Loader::Entry
        } else {
            Loader::Grub
        };
        match loader {
            Loader::Grub => grub.read(text, path),
            Loader::KernelCmdline => out.push(kernel_cmdline(text, path)),
            Loader::Entry => out.push(entry(text, path)),
            Loader::Kernelstub => out.extend(kernelstub(text, path)),
        }
    }
    if let Some(path) = grub.path.clone() {
        let mut options = grub.get("GRUB_CMDLINE_LINUX");
        options.extend(grub.get("GRUB_CMDLINE_LINUX_DEFAULT"));
        out.insert(0, BootConfig { loader: Loader::Grub, path, kernel: None, options });
    }
    out
}

fn evidence(path: &str, line_no: usize, text: &str) -> Evidence {
    Evidence::new(display_path(path), format!("line {line_no}"), text.trim())
}

/// `etc/default/grub` → `/etc/default/grub`; a pasted file keeps its own name.
fn display_path(path: &str) -> String {
    let known = ["etc/", "boot/", "efi/"];
    if known.iter().any(|k| path.starts_with(k)) {
        format!("/{path}")
    } else {
        path.to_string()
    }
}

/// Options of a command-line string, each with the same evidence.
fn options_of(text: &str, ev: &Evidence) -> Vec<ConfiguredOption> {
    Cmdline::parse(text, "")
        .options
        .into_iter()
        .map(|(key, value)| ConfiguredOption { key, value, evidence: ev.clone() })
        .collect()
}

// ---- GRUB ------------------------------------------------------------------------------

/// Shell variables of /etc/default/grub, as the options each holds.
#[derive(Default)]
struct Grub {
    path: Option<String>,
    vars: Vec<(String, Vec<ConfiguredOption>)>,
}

impl Grub {
    fn get(&self, name: &str) -> Vec<ConfiguredOption> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    fn read(&mut self, text: &str, path: &str) {
        let mut seen = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            let Some((name, rhs)) = line.split_once('=') else { continue };
            if !name.starts_with("GRUB_") {
                continue;
            }
            seen = true;
            if name != "GRUB_CMDLINE_LINUX" && name != "GRUB_CMDLINE_LINUX_DEFAULT" {
                continue;
            }
            let ev = evidence(path, i + 1, raw);
            let mut value = Vec::new();
            for (key, val) in Cmdline::parse(&shell_word(rhs), "").options {
                // `GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT iommu=pt"` (grub.d)
                let reference = key.strip_prefix("${").and_then(|k| k.strip_suffix('}')).or_else(|| key.strip_prefix('$'));
                match reference {
                    Some(var) if val.is_none() => value.extend(self.get(var)),
                    _ => value.push(ConfiguredOption { key, value: val, evidence: ev.clone() }),
                }
            }
            self.vars.retain(|(n, _)| n != name);
            self.vars.push((name.to_string(), value));
        }
        if seen && self.path.is_none() {
            self.path = Some(path.to_string());
        }
    }
}

/// The value of a shell assignment's right-hand side: quotes removed (a `\"` inside double
/// quotes stays as `"` for the kernel's own quoting), `$VAR` kept as text, and an unquoted
/// `#` after whitespace starting a comment.
fn shell_word(rhs: &str) -> String {
    let mut out = String::new();
    let mut single = false;
    let mut double = false;
    let mut chars = rhs.chars().peekable();
    let mut prev_space = true;
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '\\' if !single => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '#' if !single && !double && prev_space => break,
            c if c.is_whitespace() && !single && !double => {
                // An unquoted blank ends the assignment (`VAR=x cmd`); keep it simple: stop.
                break;
            }
            c => out.push(c),
        }
        prev_space = c.is_whitespace();
    }
    out
}

// ---- /etc/kernel/cmdline, entries, kernelstub ----------------------------------------------

fn kernel_cmdline(text: &str, path: &str) -> BootConfig {
    let mut options = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        options.extend(options_of(line, &evidence(path, i + 1, raw)));
    }
    BootConfig { loader: Loader::KernelCmdline, path: path.to_string(), kernel: None, options }
}

/// A pasted entry: `title`, `linux` and `options` keys (systemd-boot / BLS).
fn entry_text(text: &str) -> bool {
    let key = |k: &str| text.lines().any(|l| l.split_whitespace().next() == Some(k));
    key("options") && (key("linux") || key("title") || key("efi"))
}

fn entry(text: &str, path: &str) -> BootConfig {
    let mut options = Vec::new();
    let mut kernel: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let (key, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match key {
            "options" => options.extend(options_of(rest.trim(), &evidence(path, i + 1, raw))),
            "linux" | "version" => kernel.push(rest.trim().to_string()),
            _ => {}
        }
    }
    // The file name often carries the kernel release (`…-6.8.4-200.fc39.x86_64.conf`).
    kernel.push(path.rsplit('/').next().unwrap_or(path).to_string());
    BootConfig { loader: Loader::Entry, path: path.to_string(), kernel: Some(kernel.join(" ")), options }
}

/// kernelstub's configuration: `{"default": {…}, "user": {"kernel_options": [...], …}}`;
/// kernelstub writes the `user` options into the loader entry.
fn kernelstub(text: &str, path: &str) -> Option<BootConfig> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let opts = json.get("user").or_else(|| json.get("default"))?.get("kernel_options")?.as_array()?;
    let lines: Vec<&str> = text.lines().collect();
    let user_line = lines.iter().position(|l| l.contains("\"user\"")).unwrap_or(0);
    let mut options = Vec::new();
    for o in opts.iter().filter_map(|o| o.as_str()) {
        let quoted = format!("\"{o}\"");
        let at = lines.iter().enumerate().skip(user_line).find(|(_, l)| l.contains(&quoted)).map(|(i, _)| i);
        let ev = match at {
            Some(i) => evidence(path, i + 1, lines[i]),
            None => Evidence::new(display_path(path), "kernel_options", o),
        };
        options.extend(options_of(o, &ev));
    }
    Some(BootConfig { loader: Loader::Kernelstub, path: path.to_string(), kernel: None, options })
}

// ---- the running command line and what is in effect ------------------------------------------

/// The command line the running kernel got, with evidence: /proc/cmdline, or the kernel log's
/// `Command line:` / `Kernel command line:` line when only a log was given.
pub fn running(sys: &System) -> Option<(Cmdline, Evidence)> {
    if let Some(c) = &sys.cmdline {
        let ev = Evidence::new(display_cmdline_path(&c.path), "line 1", c.raw.clone());
        return Some((c.clone(), ev));
    }
    let line = sys
        .lines(SourceKind::KernelLog)
        .chain(sys.lines(SourceKind::Text))
        .find(|l| l.message.starts_with("Command line: ") || l.message.starts_with("Kernel command line: "))?;
    let (_, rest) = line.message.split_once("line: ")?;
    Some((Cmdline::parse(rest, &line.source), Evidence::from(line)))
}

fn display_cmdline_path(path: &str) -> String {
    if path == "proc/cmdline" {
        "/proc/cmdline".into()
    } else {
        path.to_string()
    }
}

/// The configurations that decide this boot's command line. With several boot loaders'
/// files present: GRUB puts `BOOT_IMAGE=` on the command line, systemd-boot and kernelstub
/// do not, so a GRUB boot uses GRUB's defaults (and, on Fedora, the BLS entries it reads),
/// and any other boot leaves a stale /etc/default/grub out. Entries that name the running
/// kernel release, when some do, stand for all entries.
pub fn in_effect<'a>(configs: &'a [BootConfig], running: &Cmdline, kernel_release: Option<&str>) -> Vec<&'a BootConfig> {
    let mut kinds: Vec<Loader> = configs.iter().map(|c| c.loader).collect();
    kinds.sort();
    kinds.dedup();
    let grub_boot = running.has("BOOT_IMAGE");
    let keep = |l: Loader| -> bool {
        if kinds.len() == 1 {
            return true;
        }
        match l {
            Loader::Grub => grub_boot,
            Loader::Entry => true,
            Loader::KernelCmdline | Loader::Kernelstub => !grub_boot || !kinds.contains(&Loader::Grub),
        }
    };
    let entries_for_kernel: Vec<&BootConfig> = match kernel_release {
        Some(r) if !r.is_empty() => configs
            .iter()
            .filter(|c| c.loader == Loader::Entry && c.kernel.as_deref().is_some_and(|k| k.contains(r)))
            .collect(),
        _ => Vec::new(),
    };
    configs
        .iter()
        .filter(|c| keep(c.loader))
        .filter(|c| c.loader != Loader::Entry || entries_for_kernel.is_empty() || entries_for_kernel.iter().any(|e| std::ptr::eq(*e, *c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Source;

    fn bundle(files: &[(&str, &str)]) -> Bundle {
        let mut b = Bundle::new();
        for (path, text) in files {
            b.sources.push(Source::ok(SourceKind::BootConfig, *path, "file", text.to_string()));
        }
        b
    }

    fn texts(c: &BootConfig) -> Vec<String> {
        c.options.iter().map(ConfiguredOption::text).collect()
    }

    #[test]
    fn grub_defaults_and_grub_d() {
        let b = bundle(&[
            (
                "etc/default/grub",
                "GRUB_DEFAULT=0\n#GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash amd_iommu=on\" # edited\nGRUB_CMDLINE_LINUX='root=/dev/sda1'\n",
            ),
            ("etc/default/grub.d/vfio.cfg", "GRUB_CMDLINE_LINUX_DEFAULT=\"${GRUB_CMDLINE_LINUX_DEFAULT} iommu=pt vfio-pci.ids=10de:1c02\"\n"),
        ]);
        let c = parse(&b);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].loader, Loader::Grub);
        assert_eq!(texts(&c[0]), ["root=/dev/sda1", "quiet", "splash", "amd_iommu=on", "iommu=pt", "vfio-pci.ids=10de:1c02"]);
        assert_eq!(c[0].options[3].evidence.source, "/etc/default/grub");
        assert_eq!(c[0].options[3].evidence.location, "line 3");
        assert_eq!(c[0].options[5].evidence.source, "/etc/default/grub.d/vfio.cfg");
    }

    #[test]
    fn double_quoted_inner_quotes() {
        let b = bundle(&[("grub.txt", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet acpi_osi=\\\"Windows 2015\\\" video=efifb:off\"\n")]);
        let c = parse(&b);
        assert_eq!(texts(&c[0]), ["quiet", "acpi_osi=\"Windows 2015\"", "video=efifb:off"]);
        assert_eq!(c[0].options[2].evidence.source, "grub.txt");
    }

    #[test]
    fn entries_kernel_cmdline_and_kernelstub() {
        let b = bundle(&[
            ("etc/kernel/cmdline", "root=ZFS=rpool/ROOT/pve-1 boot=zfs quiet amd_iommu=on iommu=pt\n"),
            (
                "boot/loader/entries/fedora-6.8.4-200.fc39.x86_64.conf",
                "title Fedora Linux (6.8.4-200.fc39.x86_64) 39\nversion 6.8.4-200.fc39.x86_64\nlinux /vmlinuz-6.8.4-200.fc39.x86_64\noptions root=UUID=abc ro rhgb quiet intel_iommu=on\n",
            ),
            (
                "etc/kernelstub/configuration",
                "{\n  \"default\": {\n    \"kernel_options\": [\n      \"quiet\"\n    ]\n  },\n  \"user\": {\n    \"kernel_options\": [\n      \"quiet\",\n      \"splash\",\n      \"intel_iommu=on\"\n    ],\n    \"esp_path\": \"/boot/efi\"\n  }\n}\n",
            ),
        ]);
        let c = parse(&b);
        assert_eq!(c.iter().map(|c| c.loader).collect::<Vec<_>>(), [Loader::KernelCmdline, Loader::Entry, Loader::Kernelstub]);
        assert_eq!(texts(&c[0])[4], "iommu=pt");
        assert_eq!(texts(&c[1]), ["root=UUID=abc", "ro", "rhgb", "quiet", "intel_iommu=on"]);
        assert!(c[1].kernel.as_deref().is_some_and(|k| k.contains("6.8.4-200.fc39.x86_64")));
        assert_eq!(texts(&c[2]), ["quiet", "splash", "intel_iommu=on"]);
        assert_eq!(c[2].options[2].evidence.location, "line 11");
    }

    #[test]
    fn which_config_is_in_effect() {
        let b = bundle(&[
            ("etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"),
            ("etc/kernel/cmdline", "root=ZFS=rpool/ROOT/pve-1 boot=zfs quiet\n"),
        ]);
        let c = parse(&b);
        let sdboot = Cmdline::parse("initrd=\\EFI\\proxmox\\6.8.12-4-pve\\initrd.img-6.8.12-4-pve root=ZFS=rpool/ROOT/pve-1 boot=zfs", "proc/cmdline");
        let grub = Cmdline::parse("BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet", "proc/cmdline");
        assert_eq!(in_effect(&c, &sdboot, None).iter().map(|c| c.loader).collect::<Vec<_>>(), [Loader::KernelCmdline]);
        assert_eq!(in_effect(&c, &grub, None).iter().map(|c| c.loader).collect::<Vec<_>>(), [Loader::Grub]);
    }
}
