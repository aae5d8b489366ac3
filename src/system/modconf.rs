//! Module configuration as facts: modprobe.d `softdep`, `install` and `options` lines, the
//! initramfs tool's module list (initramfs-tools, mkinitcpio, dracut) and module parameters
//! read from sysfs, each with the file and line it came from.

use super::System;
use crate::bundle::{Bundle, SourceKind};
use super::Evidence;

/// `softdep MODULE pre: A B post: C` (modprobe.d(5)).
#[derive(Debug, Clone)]
pub struct Softdep {
    pub module: String,
    pub pre: Vec<String>,
    pub post: Vec<String>,
    pub evidence: Evidence,
}

/// `install MODULE COMMAND…`.
#[derive(Debug, Clone)]
pub struct Install {
    pub module: String,
    pub command: String,
    pub evidence: Evidence,
}

/// `options MODULE key=value` (one per key).
#[derive(Debug, Clone)]
pub struct ModOption {
    pub module: String,
    pub key: String,
    pub value: String,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitramfsTool {
    /// Debian, Ubuntu, Proxmox: /etc/initramfs-tools/modules, `update-initramfs -u`.
    InitramfsTools,
    /// Arch and derivatives: `MODULES=(…)` in /etc/mkinitcpio.conf, `mkinitcpio -P`.
    Mkinitcpio,
    /// Fedora, RHEL, openSUSE: `force_drivers+="…"` in /etc/dracut.conf.d/, `dracut -f`.
    Dracut,
}

impl InitramfsTool {
    /// The configuration file a fix writes to.
    pub fn config_file(self) -> &'static str {
        match self {
            InitramfsTool::InitramfsTools => "/etc/initramfs-tools/modules",
            InitramfsTool::Mkinitcpio => "/etc/mkinitcpio.conf",
            InitramfsTool::Dracut => "/etc/dracut.conf.d/vfio.conf",
        }
    }

    /// The command that rebuilds the initramfs of every installed kernel.
    pub fn rebuild_command(self) -> &'static str {
        match self {
            InitramfsTool::InitramfsTools => "sudo update-initramfs -u -k all",
            InitramfsTool::Mkinitcpio => "sudo mkinitcpio -P",
            InitramfsTool::Dracut => "sudo dracut -f --regenerate-all",
        }
    }

    /// The tool a distribution uses (os-release `ID` and `ID_LIKE`).
    pub fn for_distro(distro_id: &str) -> Option<InitramfsTool> {
        let is = |x: &str| distro_id.split_whitespace().any(|w| w == x);
        if is("debian") || is("ubuntu") {
            Some(InitramfsTool::InitramfsTools)
        } else if is("arch") || is("manjaro") || is("endeavouros") {
            Some(InitramfsTool::Mkinitcpio)
        } else if is("fedora") || is("rhel") || is("centos") || is("suse") || is("opensuse") {
            Some(InitramfsTool::Dracut)
        } else {
            None
        }
    }
}

/// One module an initramfs configuration puts into the image.
#[derive(Debug, Clone)]
pub struct InitramfsModule {
    pub name: String,
    /// dracut's `add_drivers` only copies a module; `force_drivers` (and the other tools'
    /// lists) also load it early, before udev.
    pub forced: bool,
    pub evidence: Evidence,
}

/// One initramfs configuration file.
#[derive(Debug, Clone)]
pub struct InitramfsConfig {
    pub tool: InitramfsTool,
    pub path: String,
    pub modules: Vec<InitramfsModule>,
    /// mkinitcpio's `HOOKS=(…)` (`modconf` puts modprobe.d into the image, `kms` the GPU
    /// drivers).
    pub hooks: Vec<String>,
    /// The line that declares the module list (`MODULES=()`, `force_drivers+=…`), when any.
    pub declared_at: Option<Evidence>,
    /// The `HOOKS=` line.
    pub hooks_at: Option<Evidence>,
}

#[derive(Debug, Clone, Default)]
pub struct ModuleConfig {
    pub softdeps: Vec<Softdep>,
    pub installs: Vec<Install>,
    pub options: Vec<ModOption>,
    pub initramfs: Vec<InitramfsConfig>,
    /// The configuration was collected from a root (every file that exists was read), not
    /// pasted: a file that is not there is known to be absent.
    pub collected: bool,
}

/// Module names treat `-` and `_` as the same character.
pub fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

impl ModuleConfig {
    pub fn parse(bundle: &Bundle) -> ModuleConfig {
        let mut out = ModuleConfig::default();
        for s in bundle.sources.iter().filter(|s| s.kind == SourceKind::Modprobe && s.is_ok()) {
            let Some(text) = s.text.as_deref() else { continue };
            out.collected |= s.origin == "file";
            let path = s.path.as_str();
            match initramfs_tool(path, text) {
                Some(tool) => out.initramfs.push(initramfs(tool, path, text)),
                None if path.contains("modules-load.d") || path.ends_with("etc/modules") => {}
                None => out.modprobe_d(path, text),
            }
        }
        out
    }

    fn modprobe_d(&mut self, path: &str, text: &str) {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            let mut words = line.split_whitespace();
            let (Some(verb), Some(module)) = (words.next(), words.next()) else { continue };
            let ev = || evidence(path, i + 1, raw);
            let module = module_name(module);
            match verb {
                "softdep" => {
                    let (mut pre, mut post) = (Vec::new(), Vec::new());
                    let mut into_pre = None;
                    for w in words {
                        match w {
                            "pre:" => into_pre = Some(true),
                            "post:" => into_pre = Some(false),
                            m => match into_pre {
                                Some(true) => pre.push(module_name(m)),
                                Some(false) => post.push(module_name(m)),
                                None => {}
                            },
                        }
                    }
                    self.softdeps.push(Softdep { module, pre, post, evidence: ev() });
                }
                "install" => {
                    let command = words.collect::<Vec<_>>().join(" ");
                    self.installs.push(Install { module, command, evidence: ev() });
                }
                "options" => {
                    for w in words {
                        let (key, value) = w.split_once('=').unwrap_or((w, ""));
                        self.options.push(ModOption { module: module.clone(), key: key.to_string(), value: value.trim_matches('"').to_string(), evidence: ev() });
                    }
                }
                _ => {}
            }
        }
    }

    /// The `softdep MODULE pre: … vfio-pci …` line, or an `install MODULE` hook that loads
    /// vfio-pci first.
    pub fn vfio_pci_before(&self, module: &str) -> Option<&Evidence> {
        let m = module_name(module);
        self.softdeps
            .iter()
            .find(|s| s.module == m && s.pre.iter().any(|p| p == "vfio_pci"))
            .map(|s| &s.evidence)
            .or_else(|| {
                self.installs
                    .iter()
                    .find(|i| i.module == m && (i.command.contains("vfio-pci") || i.command.contains("vfio_pci")))
                    .map(|i| &i.evidence)
            })
    }

    /// The `options MODULE KEY=…` lines, last one last.
    pub fn option<'a>(&'a self, module: &'a str, key: &'a str) -> impl Iterator<Item = &'a ModOption> + 'a {
        let m = module_name(module);
        self.options.iter().filter(move |o| o.module == m && o.key == key)
    }
}

fn evidence(path: &str, line_no: usize, text: &str) -> Evidence {
    let source = if path.starts_with("etc/") || path.starts_with("usr/") || path.starts_with("lib/") {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Evidence::new(source, format!("line {line_no}"), text.trim())
}

/// Which initramfs tool a file configures: by its path, or for a paste by its content.
fn initramfs_tool(path: &str, text: &str) -> Option<InitramfsTool> {
    if path.contains("initramfs-tools/modules") {
        return Some(InitramfsTool::InitramfsTools);
    }
    if path.contains("mkinitcpio") {
        return Some(InitramfsTool::Mkinitcpio);
    }
    if path.contains("dracut") {
        return Some(InitramfsTool::Dracut);
    }
    let assigns = |name: &str| {
        text.lines().any(|l| {
            let l = l.trim_start();
            l.strip_prefix(name).is_some_and(|r| r.starts_with('=') || r.starts_with("+="))
        })
    };
    if assigns("MODULES") || assigns("HOOKS") {
        Some(InitramfsTool::Mkinitcpio)
    } else if assigns("force_drivers") || assigns("add_drivers") {
        Some(InitramfsTool::Dracut)
    } else {
        None
    }
}

fn initramfs(tool: InitramfsTool, path: &str, text: &str) -> InitramfsConfig {
    let mut cfg = InitramfsConfig { tool, path: path.to_string(), modules: Vec::new(), hooks: Vec::new(), declared_at: None, hooks_at: None };
    match tool {
        InitramfsTool::InitramfsTools => {
            for (i, raw) in text.lines().enumerate() {
                let line = raw.split('#').next().unwrap_or("").trim();
                if let Some(name) = line.split_whitespace().next() {
                    cfg.modules.push(InitramfsModule { name: module_name(name), forced: true, evidence: evidence(path, i + 1, raw) });
                }
            }
        }
        InitramfsTool::Mkinitcpio => {
            cfg.declared_at = assignment_line(text, path, &["MODULES"]);
            cfg.hooks_at = assignment_line(text, path, &["HOOKS"]);
            for (var, i, raw, word) in shell_arrays(text, &["MODULES", "HOOKS"]) {
                if var == "MODULES" {
                    cfg.modules.push(InitramfsModule { name: module_name(&word), forced: true, evidence: evidence(path, i + 1, raw) });
                } else {
                    cfg.hooks.push(word);
                }
            }
        }
        InitramfsTool::Dracut => {
            cfg.declared_at = assignment_line(text, path, &["force_drivers", "add_drivers"]);
            for (var, i, raw, word) in shell_arrays(text, &["force_drivers", "add_drivers"]) {
                cfg.modules.push(InitramfsModule { name: module_name(&word), forced: var == "force_drivers", evidence: evidence(path, i + 1, raw) });
            }
        }
    }
    cfg
}

/// The first line that assigns one of `names` (`MODULES=(…)`), as evidence.
fn assignment_line(text: &str, path: &str, names: &[&str]) -> Option<Evidence> {
    text.lines().enumerate().find_map(|(i, raw)| {
        let l = raw.trim_start();
        names
            .iter()
            .any(|n| l.strip_prefix(n).is_some_and(|r| r.starts_with('=') || r.starts_with("+=")))
            .then(|| evidence(path, i + 1, raw))
    })
}

/// The words of shell assignments `NAME=(a b)`, `NAME+=( … )` over several lines, or
/// `NAME="a b"`, as (name, line index, line text, word). Comments are skipped.
fn shell_arrays<'t>(text: &'t str, names: &[&'static str]) -> Vec<(&'static str, usize, &'t str, String)> {
    let mut out = Vec::new();
    // (variable, closing character) while inside a value that spans lines
    let mut open: Option<(&'static str, char)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let mut rest = line.trim();
        if open.is_none() {
            let Some(name) = names.iter().find(|n| {
                rest.strip_prefix(**n).is_some_and(|r| r.starts_with('=') || r.starts_with("+="))
            }) else {
                continue;
            };
            rest = rest[name.len()..].trim_start_matches('+').trim_start_matches('=');
            let close = match rest.chars().next() {
                Some('(') => ')',
                Some('"') => '"',
                Some('\'') => '\'',
                _ => ' ',
            };
            if close != ' ' {
                rest = &rest[1..];
            }
            open = Some((name, close));
        }
        let Some((name, close)) = open else { continue };
        let (inside, closed) = match rest.find(close) {
            Some(at) if close != ' ' => (&rest[..at], true),
            _ => (rest, close == ' '),
        };
        for w in inside.split_whitespace() {
            let w = w.trim_matches(['"', '\'']);
            if !w.is_empty() {
                out.push((name, i, raw, w.to_string()));
            }
        }
        if closed {
            open = None;
        }
    }
    out
}

/// A module parameter as sysfs showed it (`sys/module/NAME/parameters/PARAM`), with evidence.
pub fn module_param(sys: &System, module: &str, param: &str) -> Option<(String, Evidence)> {
    let want = format!("{}.{param}=", module_name(module));
    sys.lines(SourceKind::ModuleParams).find_map(|l| {
        let value = l.message.strip_prefix(&want)?;
        let ev = if &*l.source == "sys/module" {
            Evidence::new(format!("/sys/module/{}/parameters/{param}", module_name(module)), "value", value.trim())
        } else {
            Evidence::from(l)
        };
        Some((value.trim().to_string(), ev))
    })
}

/// Whether a boolean module parameter value means on (`Y`, `1`, `on`, `true`).
pub fn truthy(value: &str) -> bool {
    matches!(value.trim().trim_matches('"').to_ascii_lowercase().as_str(), "y" | "yes" | "1" | "on" | "true")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Source;

    fn parse(files: &[(&str, &str)]) -> ModuleConfig {
        let mut b = Bundle::new();
        for (path, text) in files {
            b.sources.push(Source::ok(SourceKind::Modprobe, *path, "file", text.to_string()));
        }
        ModuleConfig::parse(&b)
    }

    #[test]
    fn modprobe_lines() {
        let c = parse(&[(
            "etc/modprobe.d/vfio.conf",
            "# vfio\noptions vfio-pci ids=10de:1c02,10de:10f1 disable_vga=1\nsoftdep nvidia pre: vfio-pci post: nvidia-drm\nsoftdep drm pre: vfio-pci # early\ninstall amdgpu /sbin/modprobe vfio_pci; /sbin/modprobe --ignore-install amdgpu\noptions vfio_iommu_type1 allow_unsafe_interrupts=1\n",
        )]);
        assert_eq!(c.vfio_pci_before("nvidia").map(|e| e.location.as_str()), Some("line 3"));
        assert_eq!(c.vfio_pci_before("amdgpu").map(|e| e.location.as_str()), Some("line 5"));
        assert!(c.vfio_pci_before("nouveau").is_none());
        assert_eq!(c.softdeps[0].post, ["nvidia_drm"]);
        assert_eq!(c.option("vfio-iommu-type1", "allow_unsafe_interrupts").map(|o| o.value.as_str()).collect::<Vec<_>>(), ["1"]);
        assert_eq!(c.option("vfio_pci", "disable_vga").count(), 1);
        assert!(c.collected);
    }

    #[test]
    fn initramfs_configs() {
        let c = parse(&[
            ("etc/initramfs-tools/modules", "# List of modules\nvfio_pci ids=10de:1c02\nvfio\n"),
            ("etc/mkinitcpio.conf", "# vim:set ft=sh\nMODULES=(\n  vfio_pci vfio\n  vfio_iommu_type1 # vfio\n  amdgpu)\nBINARIES=()\nHOOKS=(base udev autodetect modconf kms block filesystems fsck)\n"),
            ("etc/dracut.conf.d/vfio.conf", "add_drivers+=\" amdgpu \"\nforce_drivers+=\" vfio_pci vfio vfio_iommu_type1 \"\n"),
            ("mkinitcpio.txt", "MODULES=\"nvidia vfio-pci\"\n"),
        ]);
        let names = |i: usize| c.initramfs[i].modules.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        assert_eq!(c.initramfs[0].tool, InitramfsTool::InitramfsTools);
        assert_eq!(names(0), ["vfio_pci", "vfio"]);
        assert_eq!(names(1), ["vfio_pci", "vfio", "vfio_iommu_type1", "amdgpu"]);
        assert_eq!(c.initramfs[1].modules[3].evidence.location, "line 5");
        assert!(c.initramfs[1].hooks.contains(&"modconf".to_string()));
        assert_eq!(c.initramfs[1].declared_at.as_ref().map(|e| e.location.as_str()), Some("line 2"));
        assert_eq!(c.initramfs[1].hooks_at.as_ref().map(|e| e.location.as_str()), Some("line 7"));
        assert_eq!(names(2), ["amdgpu", "vfio_pci", "vfio", "vfio_iommu_type1"]);
        assert!(!c.initramfs[2].modules[0].forced && c.initramfs[2].modules[1].forced);
        assert_eq!(c.initramfs[3].tool, InitramfsTool::Mkinitcpio);
        assert_eq!(names(3), ["nvidia", "vfio_pci"]);
        assert!(c.softdeps.is_empty());
    }
}
