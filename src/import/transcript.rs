//! Terminal transcripts: a paste that mixes several commands' outputs under shell prompts is
//! split at its prompt lines (bash, zsh/oh-my-zsh, fish, root `#`, `bash -x` traces,
//! PowerShell, cmd.exe), and each part keeps the command that produced it as a hint.

use std::sync::OnceLock;

use regex::Regex;

/// One command's output (or the text before the first prompt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The command line after the prompt, `sudo` and all.
    pub command: Option<String>,
    pub text: String,
}

/// Commands a root prompt (`# cmd`) or a bare zsh `% cmd` must start with to be told from a
/// comment line or from prose ("% of the time").
const ROOT_PROMPT_COMMANDS: &[&str] = &[
    "lsusb", "lshw", "inxi", "modinfo", "dkms", "efibootmgr", "bootctl", "kernelstub", "ip", "cd",
    "git", "apt", "dnf", "pacman", "yay", "zypper", "virt-install", "virt-host-validate", "qemu-img", "ls-iommu",
    "grub2-mkconfig", "doas", "su", "sleep", "wmic", "Get-PnpDevice",
    "lspci", "dmesg", "journalctl", "virsh", "cat", "grep", "egrep", "less", "tail", "head", "modprobe", "lsmod",
    "echo", "ls", "find", "qemu-system-x86_64", "qemu-kvm", "kvm", "update-grub", "update-initramfs", "grub-mkconfig",
    "mkinitcpio", "dracut", "uname", "systemctl", "sudo", "bash", "sh", "./iommu.sh", "ls-iommu", "lsblk", "for",
    "nvidia-smi", "rom-parser", "pnputil", "dmidecode", "readlink", "proxmox-boot-tool", "qm", "ulimit", "prlimit",
    "fuser", "lsof", "ps",
];

fn prompt_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    super::re(
        &RE,
        concat!(
            r"^(?:",
            // [user@host ~]$ cmd   [root@host dir]# cmd
            r"\[[^\]\s@]+@[^\]]+\]\s?[$#]",
            // user@host:~$ cmd   root@pve:~# cmd
            r"|[\w.-]+@[\w.-]+:[^\s$#]*[$#]",
            // zsh default: user@host ~ % cmd
            r"|[\w.-]+@[\w.-]+ \S+ [%#]",
            // fish: user@host ~> cmd
            r"|[\w.-]+@[\w.-]+ \S*>",
            // oh-my-zsh robbyrussell: ➜  ~ cmd  /  ➜  dir git:(main) ✗ cmd
            r"|➜\s+\S+(?:\s+git:\([^)]*\))?(?:\s+✗)?",
            // sh-5.1$ cmd   bash-5.2# cmd
            r"|(?:ba|z|k)?sh-[\d.]+[$#]",
            // PowerShell and cmd.exe
            r"|PS [A-Za-z]:\\[^>]*>",
            r"|[A-Za-z]:\\[^>]*>",
            // bare $ / % / bash -x trace
            r"|\$|%|\++",
            r")\s*(?P<cmd>.*)$"
        ),
    )
}

/// A bare `# cmd` root prompt (told from comments by its command).
fn root_prompt(line: &str) -> Option<&str> {
    let cmd = line.strip_prefix("# ")?;
    let first = cmd.split_whitespace().next()?;
    ROOT_PROMPT_COMMANDS.contains(&first).then_some(cmd)
}

/// The command of a prompt line, `Some("")` for a prompt with no command, `None` if the line
/// is not a prompt.
pub fn prompt_command(line: &str) -> Option<&str> {
    let line = line.trim_end();
    if let Some(cmd) = root_prompt(line) {
        return Some(cmd.trim());
    }
    let c = prompt_re()?.captures(line)?;
    let whole = c.get(0)?.as_str();
    let cmd = c.name("cmd").map(|m| m.as_str().trim()).unwrap_or("");
    let prompt = &whole[..whole.len() - c.name("cmd").map(|m| m.as_str().len()).unwrap_or(0)];
    let prompt = prompt.trim();
    // zsh's bare `%` is common in prose: only known commands or paths.
    if prompt == "%" {
        let first = cmd.split_whitespace().next()?;
        if !(ROOT_PROMPT_COMMANDS.contains(&first) || first.starts_with("./") || first.starts_with('/')) {
            return None;
        }
    }
    // The bare forms need a command that looks like one, and `+` traces need `+ ` exactly.
    let bare = matches!(prompt, "$" | "%") || prompt.starts_with('+');
    if bare {
        if !line.starts_with(&format!("{prompt} ")) {
            return None;
        }
        let first = cmd.split_whitespace().next()?;
        let commandish = first.chars().all(|ch| ch.is_ascii_alphanumeric() || "._/-=".contains(ch))
            && first.chars().next().is_some_and(|ch| ch.is_ascii_lowercase() || ch == '.' || ch == '/');
        if !commandish {
            return None;
        }
    }
    Some(cmd)
}

/// Split a paste at its prompt lines. A text without prompts is one part without a command.
/// Fence lines of Markdown code blocks (```) are dropped.
pub fn split(text: &str) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    let mut current = Part { command: None, text: String::new() };
    let mut saw_prompt = false;
    // A hook script's `set -x` trace is output, not prompts: its `+ modprobe -r …` lines stay
    // with what they printed, to be read as one trace.
    let hook_trace = text.lines().any(super::sniff::hook_step);
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed == "~~~" {
            continue;
        }
        let traced = hook_trace && trimmed.starts_with('+');
        if let Some(cmd) = prompt_command(line.trim_start_matches(['\u{feff}', ' '])).filter(|_| !traced) {
            saw_prompt = true;
            parts.push(std::mem::replace(
                &mut current,
                Part { command: (!cmd.is_empty()).then(|| cmd.to_string()), text: String::new() },
            ));
            continue;
        }
        current.text.push_str(line);
        current.text.push('\n');
    }
    parts.push(current);
    if !saw_prompt {
        return parts.into_iter().filter(|p| !p.text.trim().is_empty()).collect();
    }
    // Drop parts with no output (a command that printed nothing), keep order.
    parts.retain(|p| !p.text.trim().is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_of_every_shell() {
        for (line, cmd) in [
            ("$ lspci -nnk", "lspci -nnk"),
            ("[user@host ~]$ sudo dmesg | grep vfio", "sudo dmesg | grep vfio"),
            ("[root@host ~]# virsh start win10", "virsh start win10"),
            ("# virsh start win10", "virsh start win10"),
            ("user@host:~$ cat /proc/cmdline", "cat /proc/cmdline"),
            ("root@pve:~# qm start 100", "qm start 100"),
            ("➜  ~ sudo virsh start win10", "sudo virsh start win10"),
            ("➜  vfio git:(main) ✗ ./iommu.sh", "./iommu.sh"),
            ("+ modprobe -r nvidia_drm", "modprobe -r nvidia_drm"),
            ("++ lspci -nns 08:00.0", "lspci -nns 08:00.0"),
            ("% cat logs", "cat logs"),
            ("user@host ~ % lspci", "lspci"),
            ("PS C:\\Users\\user> Get-PnpDevice -Class Display", "Get-PnpDevice -Class Display"),
            ("C:\\>pnputil /enum-devices /problem", "pnputil /enum-devices /problem"),
            ("sh-5.2$ dmesg", "dmesg"),
        ] {
            assert_eq!(prompt_command(line), Some(cmd), "{line}");
        }
        for line in [
            "# If you change this file, run 'update-grub' afterwards",
            "# options vfio-pci ids=10de:1c02",
            "$ 5 per month",
            "% of the time the GPU resets",
            "+ ACPI: Power Button",
            "[    1.234] kernel: x",
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"",
            "<domain type='kvm'>",
        ] {
            assert_eq!(prompt_command(line), None, "{line}");
        }
    }

    #[test]
    fn splits_at_prompts_and_keeps_leading_text() {
        let t = "my output:\n```\n$ lspci -nnk\n08:00.0 VGA [0300]: x [10de:1c02]\n$ sudo modprobe vfio-pci\n$ dmesg | grep vfio\n[ 1.0] vfio-pci 0000:08:00.0: x\n```\n";
        let parts = split(t);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].command, None);
        assert_eq!(parts[1].command.as_deref(), Some("lspci -nnk"));
        assert_eq!(parts[2].command.as_deref(), Some("dmesg | grep vfio"));
        assert_eq!(parts[2].text, "[ 1.0] vfio-pci 0000:08:00.0: x\n");
    }
}
