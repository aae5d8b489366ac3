//! Telling the kind of a loose text from its content (formats in
//! /work/shared/reference/signatures.md §0, §5, §6; lspci from pciutils' lspci.c), or from the
//! command a transcript shows above it.

use std::sync::OnceLock;

use regex::Regex;

use crate::bundle::SourceKind;

/// Short names a user may write for a kind in `KIND:PATH`, besides every kind's bundle name
/// (`kernel-log`, `net`, `module-params`, …). `iommu-groups:` is the pasted listing (the
/// structured sysfs groups are never pasted).
pub const ALIASES: &[(&str, SourceKind)] = &[
    ("dmesg", SourceKind::KernelLog),
    ("journal", SourceKind::KernelLog),
    ("iommu-groups", SourceKind::IommuScript),
    ("xml", SourceKind::DomainXml),
    ("grub", SourceKind::BootConfig),
    ("lsmod", SourceKind::Modules),
    ("ulimit", SourceKind::Limits),
    ("prlimit", SourceKind::Limits),
    ("fuser", SourceKind::Holders),
    ("lsof", SourceKind::Holders),
    ("ps", SourceKind::Holders),
    ("hook", SourceKind::HookTrace),
    ("set-x", SourceKind::HookTrace),
];

/// The kind `KIND:PATH` forces: an alias, else a kind by its bundle name (any kind but
/// `unknown`).
pub fn forced_kind(name: &str) -> Option<SourceKind> {
    if let Some((_, kind)) = ALIASES.iter().find(|(a, _)| *a == name) {
        return Some(*kind);
    }
    SourceKind::from_name(name).filter(|k| *k != SourceKind::Unknown)
}

/// Every word `KIND:` accepts, grouped by kind in the kind enum's order: the bundle name first
/// (when it forces that kind), then its aliases. Generated, so a new kind is listed by itself.
pub fn kind_words() -> Vec<(SourceKind, Vec<&'static str>)> {
    SourceKind::ALL
        .iter()
        .copied()
        .filter(|k| *k != SourceKind::Unknown)
        .map(|k| {
            let own = (forced_kind(k.name()) == Some(k)).then_some(k.name());
            let words = own.into_iter().chain(ALIASES.iter().filter(|(_, a)| *a == k).map(|(w, _)| *w)).collect::<Vec<_>>();
            (k, words)
        })
        .filter(|(_, w)| !w.is_empty())
        .collect()
}

/// The accepted `KIND:` words as one line: `kernel-log (dmesg, journal), lspci, …`.
pub fn kind_list() -> String {
    kind_words()
        .iter()
        .map(|(_, w)| match w.split_first() {
            Some((first, rest)) if !rest.is_empty() => format!("{first} ({})", rest.join(", ")),
            Some((first, _)) => first.to_string(),
            None => String::new(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

use super::re;

/// `[    8.838926] `, `[Tue Aug 26 16:02:52 2025] `, journal short and ISO forms with `kernel:`.
fn kernel_line(line: &str) -> bool {
    static STAMP: OnceLock<Option<Regex>> = OnceLock::new();
    static BARE: OnceLock<Option<Regex>> = OnceLock::new();
    let stamp = re(
        &STAMP,
        concat!(
            r"^(?:\[\s*\d+\.\d{4,}\] ",
            r"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}\] ",
            r"|\p{L}{2,5}\.? [ \d]\d \d{2}:\d{2}:\d{2} \S+ kernel: ",
            r"|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\S* \S+ kernel: )"
        ),
    );
    // grep output without timestamps: a dev_printk prefix or a well-known pr_fmt prefix.
    let bare = re(
        &BARE,
        concat!(
            r"^(?:[a-z][\w-]* [0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]: ",
            r"|(?:NVRM|DMAR|AMD-Vi|vfio_pci|VFIO|vfio_iommu_type1|kvm|kvm_amd|kvm_intel|efifb|simple-framebuffer|iommu|pci_bus|PCI|ACPI|Command line|Kernel command line|x86/cpu|pcieport|nvidia|amdgpu|nouveau): |\[drm\] )"
        ),
    );
    stamp.is_some_and(|r| r.is_match(line)) || bare.is_some_and(|r| r.is_match(line))
}

/// Journal lines of other programs (`Oct 24 14:18:36 host libvirtd[812]: …`).
fn journal_line(line: &str) -> bool {
    static J: OnceLock<Option<Regex>> = OnceLock::new();
    re(&J, r"^(?:\p{L}{2,5}\.? [ \d]\d \d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\S*) \S+ [\w.@/-]+(?:\[\d+\])?: ").is_some_and(|r| r.is_match(line))
}

/// QEMU stderr as libvirt logs it, or libvirt's own error around it.
fn qemu_line(line: &str) -> bool {
    static Q: OnceLock<Option<Regex>> = OnceLock::new();
    re(
        &Q,
        concat!(
            r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z (?:qemu-system-[\w]+|qemu-kvm|kvm|qemu): ",
            r"|^(?:qemu-system-[\w]+|qemu-kvm|qemu): ",
            // Proxmox names QEMU `kvm`; the kernel's own `kvm: disabled by bios` is not QEMU.
            r"|^kvm: (?:-\w|warning: |error: |vfio|VFIO|terminating|failed|Failed)",
            r"|^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\+\d{4}: (?:starting up|shutting down|Domain id=)",
            r"|^(?:error: )?(?:internal error: )?(?:qemu|QEMU) unexpectedly closed the monitor",
            r"|^(?:error: )?internal error: process exited while connecting to monitor",
            r"|^error: Failed to start domain",
            r"|^char device redirected to /dev/pts/",
            r"|^LC_ALL=C ",
            r"|^-device (?:vfio-pci,|\{.?\x22driver\x22:\x22vfio-pci)"
        ),
    )
    .is_some_and(|r| r.is_match(line))
}

fn xorg_line(line: &str) -> bool {
    static X: OnceLock<Option<Regex>> = OnceLock::new();
    re(&X, r"^(?:\[\s*\d+\.\d{3}\]|\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\]) \((?:--|\*\*|==|\+\+|!!|II|WW|EE|NI|\?\?)\) ").is_some_and(|r| r.is_match(line))
        || line.contains("gdm-x-session[") && line.contains(") ")
}

/// `08:00.0 VGA compatible controller [0300]: …` or `0000:08:00.0 …`
pub fn lspci_header(line: &str) -> bool {
    static L: OnceLock<Option<Regex>> = OnceLock::new();
    re(&L, r"^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7] [0-9A-Za-z][^:]*: ").is_some_and(|r| r.is_match(line))
}

fn iommu_listing_line(line: &str) -> bool {
    static G: OnceLock<Option<Regex>> = OnceLock::new();
    re(
        &G,
        r"^(?:IOMMU [Gg]roup:? \S+?:?(?:\s|$)|### Group \d+ ###$|Group:?\s+\d+\s+(?:-\s+)?(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]|Group Device: (?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7] |/sys/kernel/iommu_groups/\d+/devices/)",
    )
    .is_some_and(|r| r.is_match(line))
        || ids_first_row(line)
}

/// A row of r15ch13's iommu.sh (`Group 9:\t[10de:1d01] [R] 01:00.0  VGA compatible …`).
fn ids_first_row(line: &str) -> bool {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    re(&R, crate::import::iommu_listing::IDS_FIRST_ROW).is_some_and(|r| r.is_match(line))
}

/// iommu.sh's `USB:\t\t[1d6b:0002]\t\t Bus 001 Device 001 …` lines (devices behind a listed
/// USB controller): part of a listing, never one by themselves.
pub(crate) fn iommu_usb_line(line: &str) -> bool {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    re(&R, r"^USB:\s+\[[0-9a-fA-F]{4}:[0-9a-fA-F]{4}\]\s+Bus \d+ Device \d+").is_some_and(|r| r.is_match(line))
}

fn modprobe_line(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    matches!(first, "options" | "blacklist" | "softdep" | "install" | "alias" | "remove") && line.split_whitespace().count() >= 2
}

fn cmdline_text(lines: &[&str]) -> bool {
    let [line] = lines else { return false };
    let line = line.trim();
    // dmesg's own `[    0.000000] Command line: BOOT_IMAGE=…` is a kernel log line.
    if kernel_line(line) {
        return false;
    }
    if line.starts_with("BOOT_IMAGE=") || line.starts_with("initrd=") {
        return true;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let iommuish = ["iommu", "vfio", "video=", "pcie_acs_override", "initcall_blacklist", "modprobe.blacklist", "rd.driver"];
    words.iter().any(|w| w.starts_with("root=")) && words.iter().any(|w| iommuish.iter().any(|i| w.contains(i)) || *w == "quiet" || *w == "ro" || *w == "rw")
}

/// A systemd-boot / BLS entry (`title`, `linux`, `options` keys) or kernelstub's JSON.
fn boot_entry_or_kernelstub(content: &[&str]) -> bool {
    let key = |k: &str| content.iter().any(|l| l.split_whitespace().next() == Some(k));
    (key("options") && (key("linux") || key("efi")) && key("title")) || content.iter().any(|l| l.trim_start().starts_with("\"kernel_options\""))
}

/// mkinitcpio's `MODULES=(…)` / `HOOKS=(…)` or dracut's `force_drivers+="…"` / `add_drivers+="…"`:
/// module configuration of the initramfs, analysed with modprobe.d.
fn initramfs_config(content: &[&str]) -> bool {
    content.iter().any(|l| {
        let l = l.trim_start();
        l.starts_with("MODULES=(") || l.starts_with("HOOKS=(") || l.starts_with("force_drivers+=") || l.starts_with("add_drivers+=")
    })
}

/// The kind of a text; [`SourceKind::Text`] when it cannot be told.
pub fn sniff(text: &str) -> SourceKind {
    // Terminal colour codes (a script that colours group numbers with tput) are not content.
    let plain;
    let text = if text.contains('\x1b') {
        static ANSI: OnceLock<Option<Regex>> = OnceLock::new();
        plain = re(&ANSI, r"\x1b(?:\[[0-9;?]*[A-Za-z]|\(B)").map(|r| r.replace_all(text, "").into_owned());
        plain.as_deref().unwrap_or(text)
    } else {
        text
    };
    let head = head(text, 256 * 1024);
    let lines: Vec<&str> = head.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return SourceKind::Text;
    }
    // Markers that decide by themselves.
    if dxdiag(&lines) {
        return SourceKind::Dxdiag;
    }
    if lines.iter().any(|l| l.trim() == "Microsoft PnP Utility")
        || lines.iter().any(|l| l.trim_start().starts_with("Instance ID:"))
            && lines.iter().any(|l| l.trim_start().starts_with("Device Description:") || l.trim_start().starts_with("Class Name:"))
    {
        return SourceKind::Pnputil;
    }
    if lines.iter().any(|l| powershell_line(l)) {
        return SourceKind::Powershell;
    }
    if domain_xml_start(&lines).is_some() {
        return SourceKind::DomainXml;
    }
    if lines.iter().any(|l| l.trim_start().starts_with("Valid ROM signature found @"))
        && lines.iter().filter(|l| crate::rom::listing::is_report_line(l)).count() * 10 >= lines.len() * 6
    {
        return SourceKind::RomParser;
    }
    if let Some(kind) = proxmox(&lines) {
        return kind;
    }
    if let Some(kind) = command_output_kind(&lines) {
        return kind;
    }
    if lines.iter().any(|l| l.contains("starting up libvirt version")) {
        return SourceKind::QemuLog;
    }
    if lines.iter().take(40).any(|l| l.starts_with("X.Org X Server") || l.contains("Markers: (--) probed")) {
        return SourceKind::XorgLog;
    }
    if lines.iter().filter(|l| iommu_listing_line(l.trim_start())).count() >= 1
        && lines
            .iter()
            .filter(|l| iommu_listing_line(l.trim_start()) || iommu_usb_line(l.trim_start()) || lspci_header(l.trim_start()) || l.starts_with(char::is_whitespace))
            .count()
            * 10
            >= lines.len() * 6
    {
        return SourceKind::IommuScript;
    }
    if cmdline_text(&lines) {
        return SourceKind::Cmdline;
    }
    let content: Vec<&str> = lines.iter().copied().filter(|l| !l.trim_start().starts_with('#')).collect();
    if boot_entry_or_kernelstub(&content) {
        return SourceKind::BootConfig;
    }
    if initramfs_config(&content) {
        return SourceKind::Modprobe;
    }
    if content.iter().any(|l| l.starts_with("GRUB_")) && content.iter().filter(|l| l.starts_with("GRUB_") || l.contains('=')).count() * 10 >= content.len() * 6 {
        return SourceKind::BootConfig;
    }
    if !content.is_empty() && content.iter().filter(|l| modprobe_line(l)).count() * 10 >= content.len() * 8 {
        return SourceKind::Modprobe;
    }
    // Line votes for the log-like kinds; the winner needs 30 % of the lines.
    let n = lines.len();
    let headers = lines.iter().filter(|l| lspci_header(l)).count();
    let lspci = if headers > 0 {
        lines.iter().filter(|l| lspci_header(l) || l.starts_with(char::is_whitespace) || lspci_property(l)).count()
    } else {
        0
    };
    let kernel = lines.iter().filter(|l| kernel_line(l) && !qemu_line(l)).count();
    // `2023-05-25T06:28:54Z qemu-system-x86_64: warning: …` has a journal's shape too, and so
    // has GDM's `Nov 02 10:11:12 host gdm-x-session[1234]: (EE) no screens found(EE)`.
    let journal = lines.iter().filter(|l| journal_line(l) && !qemu_line(l) && !xorg_line(l)).count();
    let qemu = lines.iter().filter(|l| qemu_line(l)).count();
    let xorg = lines.iter().filter(|l| xorg_line(l)).count();
    let votes = [
        (SourceKind::XorgLog, xorg),
        (SourceKind::QemuLog, qemu),
        (SourceKind::Lspci, lspci),
        (SourceKind::KernelLog, kernel.max(journal)),
    ];
    let Some(&(kind, count)) = votes.iter().max_by_key(|(_, c)| *c) else { return SourceKind::Text };
    if count == 0 || count * 10 < n * 3 {
        return SourceKind::Text;
    }
    kind
}

/// The keys of a Proxmox VE VM configuration (qemu-server's `$confdesc`, pve-docs qm.adoc) that
/// nearly every VM has, or that a passthrough VM has.
const QM_KEYS: &[&str] = &[
    "agent", "args", "balloon", "bios", "boot", "bootdisk", "cores", "cpu", "efidisk0", "hookscript", "machine", "memory", "meta",
    "name", "numa", "onboot", "ostype", "scsihw", "smbios1", "sockets", "tpmstate0", "vga", "vmgenid", "digest",
];

/// `hostpci0: …`, `net0: virtio=…`, `scsi0: local-lvm:vm-100-disk-0,…`, `memory: 8192`.
fn qm_config_line(line: &str) -> bool {
    let Some((key, value)) = line.split_once(": ") else { return false };
    if value.is_empty() {
        return false;
    }
    let numbered = ["hostpci", "net", "scsi", "sata", "ide", "virtio", "usb", "unused", "serial", "efidisk", "tpmstate"];
    QM_KEYS.contains(&key)
        || numbered.iter().any(|n| key.strip_prefix(n).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())))
}

/// Proxmox VE's own texts: a VM configuration (`qm config`), a task log (QEMU's `kvm:` lines
/// and `TASK ERROR: …`), `qm showcmd` output (`/usr/bin/kvm -id 100 …`), a pci.cfg mapping.
fn proxmox(lines: &[&str]) -> Option<SourceKind> {
    // `qm showcmd` prints one line; `--pretty` one option a line (`/usr/bin/kvm \`, `  -id 100 \`).
    let first = lines.first().map(|l| l.trim_start()).unwrap_or("");
    if first.starts_with("/usr/bin/kvm -id ") || first.trim_end_matches(['\\', ' ']) == "/usr/bin/kvm" && lines.get(1).is_some_and(|l| l.trim_start().starts_with("-id ")) {
        return Some(SourceKind::QmShowcmd);
    }
    if lines.iter().any(|l| l.starts_with("TASK ERROR: ") || l.trim_end() == "TASK OK") {
        return Some(SourceKind::PveTaskLog);
    }
    // The main section only; `[snapshot]` sections repeat it.
    let main: Vec<&str> = lines.iter().copied().take_while(|l| !l.starts_with('[')).filter(|l| !l.starts_with('#')).collect();
    let config = main.iter().filter(|l| qm_config_line(l)).count();
    if config >= 3 && config * 10 >= main.len() * 8 {
        return Some(SourceKind::QmConfig);
    }
    let mapping = lines.iter().filter(|l| l.trim_start().starts_with("map ") && l.contains("path=") && l.contains("node=")).count();
    (mapping > 0).then_some(SourceKind::PveMapping)
}

/// A limit line of `ulimit -a` (bash: `max locked memory (kbytes, -l) 8192`; zsh/dash:
/// `-l: locked-in-memory size (kbytes) 8192`), prlimit (`MEMLOCK  max locked-in-memory …`)
/// or /proc/PID/limits (`Max locked memory  65536  65536  bytes`).
pub fn limits_line(line: &str) -> bool {
    static L: OnceLock<Option<Regex>> = OnceLock::new();
    re(
        &L,
        r"^(?:[a-z][\w /-]*\((?:[\w ]+, )?-[a-zA-Z]\)\s+(?:\d+|unlimited)$|-[a-zA-Z]: [\w -]+(?:\([\w ]+\))?\s+(?:\d+|unlimited)$|[A-Z]+\s+(?:max|maximum|address|number|file|core|CPU|data|locked|virtual|stack|process|resident|pending|nice|real|scheduling)\b.*\s(?:\d+|unlimited)\s+(?:\d+|unlimited)(?:\s+\w+)?$|Max [\w ]+?\s{2,}(?:\d+|unlimited)\s+(?:\d+|unlimited)(?:\s+\w+)?$|RESOURCE\s+DESCRIPTION\s+SOFT\s+HARD|Limit\s+Soft Limit\s+Hard Limit)",
    )
    .is_some_and(|r| r.is_match(line.trim()))
}

/// `fuser -v` rows (`/dev/nvidia0:  root  1234 F...m Xorg`, continuation rows without the
/// file) and `lsof` rows naming a GPU device file or libnvidia-ml.
pub fn holders_line(line: &str) -> bool {
    let t = line.trim();
    let gpu_file = t.contains("/dev/nvidia") || t.contains("/dev/dri/") || t.contains("libnvidia-ml");
    static F: OnceLock<Option<Regex>> = OnceLock::new();
    let fuser = re(&F, r"^(?:/\S+:\s+)?\S+\s+(?:\d+|kernel)\s+[Ffrcem.]{1,6}\s+\S").is_some_and(|r| r.is_match(t));
    // An lsof row: COMMAND PID USER FD TYPE DEVICE SIZE/OFF NODE NAME, the PID a number and the
    // GPU file its NAME (a log line that mentions /dev/dri in prose is not one).
    let words: Vec<&str> = t.split_whitespace().collect();
    let lsof = words.len() >= 8
        && words[1].bytes().all(|b| b.is_ascii_digit())
        && words.last().is_some_and(|n| n.contains("/dev/nvidia") || n.contains("/dev/dri/") || n.contains("libnvidia-ml"));
    // fuser -v prints a long file name alone on its line (`/run/nvidia/driver/dev/nvidia0:`)
    // and its processes on the rows below, whose ACCESS column is always five flags.
    static N: OnceLock<Option<Regex>> = OnceLock::new();
    let fuser_name = gpu_file && re(&N, r"^/\S+:$").is_some_and(|r| r.is_match(t));
    static C: OnceLock<Option<Regex>> = OnceLock::new();
    let fuser_row = re(&C, r"^\S+\s+(?:\d+|kernel)\s+[Ffrcem.]{5}\s+\S+$").is_some_and(|r| r.is_match(t));
    (gpu_file && (fuser || lsof))
        || fuser_name
        || fuser_row
        || t.split_whitespace().collect::<Vec<_>>() == ["USER", "PID", "ACCESS", "COMMAND"]
        || t.starts_with("COMMAND") && t.contains(" PID ") && t.ends_with("NAME")
}


/// The program of a trace line when it is one a passthrough hook runs (`modprobe`, `virsh`,
/// `systemctl`, `echo`, …): a Markdown `+ item` list is not a trace.
pub fn traced_command(line: &str) -> Option<&str> {
    if !crate::system::hook_trace::trace_line(line) {
        return None;
    }
    let cmd = line.trim_start().trim_start_matches('+').split_whitespace().next()?;
    let program = cmd.rsplit('/').next().unwrap_or(cmd);
    const HOOK_PROGRAMS: &[&str] = &[
        "modprobe", "rmmod", "insmod", "virsh", "systemctl", "echo", "sleep", "kill", "pkill", "killall", "fuser", "lsof",
        "virt-manager", "nvidia-smi", "chvt", "lspci", "readlink", "basename", "cat", "grep", "sed", "rm", "tee", "modinfo",
        "dmesg", "printf", "test", "[", "[[", "source", "set", "export", "local",
    ];
    HOOK_PROGRAMS.contains(&program).then_some(program)
}

/// A trace line of a step that only a GPU hand-over hook takes (`+ modprobe -r nvidia_drm`,
/// `+ virsh nodedev-detach …`, `+ systemctl stop display-manager`, `+ echo 0 > /sys/class/vtconsole/…`).
pub fn hook_step(line: &str) -> bool {
    let Some(program) = traced_command(line) else { return false };
    let cmd = line.trim_start().trim_start_matches('+').trim();
    match program {
        "modprobe" => cmd.contains(" -r"),
        "rmmod" | "pkill" | "killall" => true,
        "virsh" => cmd.contains("nodedev-detach") || cmd.contains("nodedev-reattach"),
        "systemctl" => cmd.contains(" stop ") || cmd.contains(" start "),
        "echo" | "tee" => ["unbind", "efi-framebuffer", "vtcon", "driver_override", "new_id", "remove_id"].iter().any(|w| cmd.contains(w)),
        _ => false,
    }
}

/// Outputs of a few commands that a line vote would not tell: lsmod, ulimit/prlimit,
/// fuser/lsof, a `set -x` trace.
fn command_output_kind(lines: &[&str]) -> Option<SourceKind> {
    let n = lines.len();
    let share = |count: usize, pct: usize| count > 0 && count * 100 >= n * pct;
    let modules = lines.iter().filter(|l| crate::system::modules::lsmod_line(l) || l.split_whitespace().collect::<Vec<_>>() == ["Module", "Size", "Used", "by"]).count();
    if (modules >= 2 || n == 1) && share(modules, 70) {
        return Some(SourceKind::Modules);
    }
    if share(lines.iter().filter(|l| limits_line(l)).count(), 60) {
        return Some(SourceKind::Limits);
    }
    if share(lines.iter().filter(|l| holders_line(l)).count(), 50) {
        return Some(SourceKind::Holders);
    }
    let traced = lines.iter().filter(|l| crate::system::hook_trace::trace_line(l)).count();
    if traced >= 2 && share(traced, 35) && lines.iter().any(|l| traced_command(l).is_some()) {
        return Some(SourceKind::HookTrace);
    }
    None
}

/// `lspci -nnk | grep -A2 VGA` output loses its indentation in some forums.
pub(crate) fn lspci_property(line: &str) -> bool {
    ["Subsystem:", "Kernel driver in use:", "Kernel modules:", "Flags:", "IOMMU group:", "Control:", "Status:", "Region ", "Capabilities:"]
        .iter()
        .any(|p| line.trim_start().starts_with(p))
        || line.trim() == "--"
}

fn powershell_line(line: &str) -> bool {
    static P: OnceLock<Option<Regex>> = OnceLock::new();
    re(
        &P,
        r"^\s*(?:InstanceId|ConfigManagerErrorCode|PNPDeviceID|ProblemDescription)\s*:|^Status\s+Class\s+FriendlyName\s+InstanceId|^Availability\s+Caption\s.*ConfigManagerErrorCode\s.*PNPDeviceID",
    ).is_some_and(|r| r.is_match(line))
}

/// DxDiag's framed section titles: `-----` / `System Information` / `-----`.
fn dxdiag(lines: &[&str]) -> bool {
    let dashes = |l: &str| l.trim().len() >= 8 && l.trim().chars().all(|c| c == '-');
    let titles = ["System Information", "Display Devices", "DxDiag Notes", "Sound Devices", "DirectX Debug Levels"];
    lines.windows(3).any(|w| dashes(w[0]) && titles.contains(&w[1].trim()) && dashes(w[2]))
        || lines.iter().any(|l| l.trim_start().starts_with("DxDiag Version:"))
}

/// What one line of prose-mixed text is, when it is a line of a known format by itself
/// (used to lift such runs out of an unrecognised paste, see island.rs).
pub fn line_kind(line: &str) -> Option<SourceKind> {
    let t = line.trim_start();
    if crate::rom::listing::is_report_line(t) {
        Some(SourceKind::RomParser)
    } else if iommu_listing_line(t) {
        Some(SourceKind::IommuScript)
    } else if xorg_line(line) {
        Some(SourceKind::XorgLog)
    } else if qemu_line(line) {
        Some(SourceKind::QemuLog)
    } else if kernel_line(line) {
        Some(SourceKind::KernelLog)
    } else if lspci_header(line) {
        Some(SourceKind::Lspci)
    } else if line.starts_with("GRUB_") && line.contains('=') {
        Some(SourceKind::BootConfig)
    } else if traced_command(line).is_some() {
        Some(SourceKind::HookTrace)
    } else if crate::system::modules::lsmod_line(line) && line.split_whitespace().count() >= 3 && line.contains(char::is_whitespace) && line.split_whitespace().nth(1).is_some_and(|s| s.len() >= 4) {
        Some(SourceKind::Modules)
    } else if limits_line(line) {
        Some(SourceKind::Limits)
    } else if holders_line(line) {
        Some(SourceKind::Holders)
    } else if t.starts_with("BOOT_IMAGE=") {
        Some(SourceKind::Cmdline)
    } else {
        None
    }
}

/// The line where a domain's XML starts (`<domain type='kvm'>`), if the text holds one.
pub fn domain_xml_start(lines: &[&str]) -> Option<usize> {
    let start = lines.iter().position(|l| {
        let t = l.trim_start();
        t.starts_with("<domain ") || t == "<domain>" || t.starts_with("<domain\t")
    })?;
    lines[start..].iter().any(|l| l.contains("</domain>") || l.contains("<name>") || l.contains("<devices>")).then_some(start)
}

fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What a transcript's command says its output is. `sudo`, pipes into `grep` and the like
/// keep the kind of the first command; `cat FILE` is told by the file.
pub fn kind_from_command(command: &str) -> Option<SourceKind> {
    let first_stage = command.split('|').next().unwrap_or(command);
    let mut words = first_stage.split_whitespace().filter(|w| !matches!(*w, "sudo" | "doas" | "-E" | "command" | "time"));
    let program = words.next()?;
    let program = program.rsplit('/').next().unwrap_or(program);
    let args: Vec<&str> = words.collect();
    let file_kind = || args.iter().rev().filter(|a| !a.starts_with('-')).find_map(|a| kind_of_path(a));
    match program {
        "dmesg" | "journalctl" => Some(SourceKind::KernelLog),
        "lspci" => Some(SourceKind::Lspci),
        "qm" => match args.iter().find(|a| !a.starts_with('-')) {
            Some(&"config") => Some(SourceKind::QmConfig),
            Some(&"showcmd") => Some(SourceKind::QmShowcmd),
            // What `qm start` prints is its task log.
            Some(&"start") => Some(SourceKind::PveTaskLog),
            _ => None,
        },
        "lsmod" => Some(SourceKind::Modules),
        "ulimit" | "prlimit" => Some(SourceKind::Limits),
        "fuser" | "lsof" => Some(SourceKind::Holders),
        "ps" if command.contains("nvidia") => Some(SourceKind::Holders),
        "rom-parser" => Some(SourceKind::RomParser),
        "bash" | "sh" if args.first().is_some_and(|a| a.starts_with('-') && a.contains('x')) => Some(SourceKind::HookTrace),
        "virsh" => match args.iter().find(|a| !a.starts_with('-')) {
            Some(&"dumpxml") | Some(&"edit") => Some(SourceKind::DomainXml),
            _ => None,
        },
        "pnputil" | "pnputil.exe" => Some(SourceKind::Pnputil),
        "Get-PnpDevice" | "Get-WmiObject" | "Get-CimInstance" | "gwmi" | "wmic" | "wmic.exe" => Some(SourceKind::Powershell),
        "cat" | "less" | "more" | "tail" | "head" | "bat" | "grep" | "egrep" | "rg" | "zcat" | "nano" | "vim" | "vi" => file_kind(),
        p if p.contains("iommu") => Some(SourceKind::IommuScript),
        _ => None,
    }
}

/// The kind of a well-known file path (the argument of `cat`).
pub fn kind_of_path(path: &str) -> Option<SourceKind> {
    let p = path.trim_matches(['\'', '"']);
    // /etc/kernel/cmdline is what the boot entries are built from, not what booted.
    Some(if p == "/proc/cmdline" {
        SourceKind::Cmdline
    } else if p == "/proc/modules" {
        SourceKind::Modules
    } else if p.starts_with("/proc/") && p.ends_with("/limits") {
        SourceKind::Limits
    } else if p == "/etc/default/grub"
        || p == "/etc/kernel/cmdline"
        || p.starts_with("/etc/default/grub.d/")
        || p.starts_with("/etc/kernelstub/")
        || p.contains("/loader/entries/")
    {
        SourceKind::BootConfig
    } else if p.starts_with("/etc/modprobe.d/")
        || p.starts_with("/usr/lib/modprobe.d/")
        || p.starts_with("/lib/modprobe.d/")
        || p == "/etc/initramfs-tools/modules"
        || p.starts_with("/etc/mkinitcpio.conf")
        || p.starts_with("/etc/dracut.conf")
    {
        SourceKind::Modprobe
    } else if p.contains("/pve/") && p.contains("/qemu-server/") && p.ends_with(".conf") {
        SourceKind::QmConfig
    } else if p.ends_with("/pve/mapping/pci.cfg") {
        SourceKind::PveMapping
    } else if p.starts_with("/var/log/pve/tasks/") {
        SourceKind::PveTaskLog
    } else if p.starts_with("/var/log/libvirt/qemu/") {
        SourceKind::QemuLog
    } else if p.contains("Xorg.") && p.contains(".log") {
        SourceKind::XorgLog
    } else if p.starts_with("/etc/libvirt/qemu/") && p.ends_with(".xml") {
        SourceKind::DomainXml
    } else if ["/var/log/syslog", "/var/log/kern.log", "/var/log/messages", "/var/log/dmesg"].iter().any(|l| p.starts_with(l)) {
        SourceKind::KernelLog
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_tell_kinds() {
        assert_eq!(kind_from_command("sudo dmesg | grep -i vfio"), Some(SourceKind::KernelLog));
        assert_eq!(kind_from_command("lspci -nnk"), Some(SourceKind::Lspci));
        assert_eq!(kind_from_command("cat /proc/cmdline"), Some(SourceKind::Cmdline));
        assert_eq!(kind_from_command("sudo cat /etc/default/grub"), Some(SourceKind::BootConfig));
        assert_eq!(kind_from_command("cat /etc/kernel/cmdline"), Some(SourceKind::BootConfig));
        assert_eq!(kind_from_command("cat /etc/mkinitcpio.conf"), Some(SourceKind::Modprobe));
        assert_eq!(kind_from_command("sudo virsh dumpxml win10"), Some(SourceKind::DomainXml));
        assert_eq!(kind_from_command("sudo tail -n 50 /var/log/libvirt/qemu/win10.log"), Some(SourceKind::QemuLog));
        assert_eq!(kind_from_command("./ls-iommu.sh"), Some(SourceKind::IommuScript));
        assert_eq!(kind_from_command("sudo virsh start win10"), None);
        assert_eq!(kind_from_command("cat notes.txt"), None);
    }

    /// The new paste kinds, from the real pastes in fixtures/inputs/pastes (SOURCES.md).
    #[test]
    fn new_kinds_from_real_pastes() {
        let fixture = |name: &str| std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/inputs/pastes").join(name)).expect("fixture");
        assert_eq!(sniff(&fixture("seed-rom-parser-truncated.txt")), SourceKind::RomParser);
        assert_eq!(sniff(&fixture("seed-rom-parser-complete.txt")), SourceKind::RomParser);
        assert_eq!(sniff(&fixture("lsmod-kvm-only.txt")), SourceKind::Modules);
        assert_eq!(sniff(&fixture("lsmod-kvm-intel.txt")), SourceKind::Modules);
        assert_eq!(sniff(&fixture("ulimit-a-memlock-large.txt")), SourceKind::Limits);
        assert_eq!(sniff(fixture("hook-trace-start-sh.txt").split_once('\n').expect("prompt").1), SourceKind::HookTrace);
        assert_eq!(sniff(&fixture("lsof-nvidia0.txt").split_once('\n').expect("prompt").1.replace("nvidia0", "/dev/nvidia0")), SourceKind::Holders);
        assert_eq!(sniff(&fixture("iommu-tree-dmar.txt")), SourceKind::IommuScript);
        assert_eq!(sniff(&fixture("iommu-sh-r15ch13-renoir.txt")), SourceKind::IommuScript);
        assert_eq!(line_kind("Group 9:\t[10de:1d01] [R] 01:00.0  VGA compatible controller                GP108 [GeForce GT 1030]"), Some(SourceKind::IommuScript));
        assert_eq!(line_kind("USB:\t\t[1d6b:0002]\t\t Bus 001 Device 001                       Linux Foundation 2.0 root hub"), None);
        assert_eq!(sniff("\tGroup \x1b[38;5;99m16\x1b(B\x1b[m - 08:00.0 VGA compatible controller [0300]: NVIDIA Corporation GP106 [10de:1c02] (rev a1)\n"), SourceKind::IommuScript);
        assert_eq!(sniff("RESOURCE DESCRIPTION                         SOFT    HARD UNITS\nMEMLOCK  max locked-in-memory address space 8388608 8388608 bytes\n"), SourceKind::Limits);
        assert_eq!(sniff("                     USER        PID ACCESS COMMAND\n/dev/nvidia0:        root       1418 F...m Xorg\n"), SourceKind::Holders);
        // A Markdown `+` list is not a trace; an lspci line is not lsmod.
        assert_eq!(sniff("+ fast\n+ cheap\n+ good\n"), SourceKind::Text);
        assert_eq!(kind_from_command("lsmod | grep kvm"), Some(SourceKind::Modules));
        assert_eq!(kind_from_command("sudo fuser -v /dev/nvidia*"), Some(SourceKind::Holders));
        // A journal line that names a GPU file in prose is not an lsof row.
        assert!(!holders_line("gnome-shell: Failed to lock front buffer on /dev/dri/card2"));
        assert!(holders_line("Xorg      1418 root   12u   CHR 195,0      0t0  615 /dev/nvidia0"));
        assert!(holders_line("/run/nvidia/driver/dev/nvidia0:"));
        assert!(holders_line("                     root      37526 F.... nvidia-persiste"));
        assert!(!holders_line("/etc/modprobe.d/vfio.conf:"));
        assert!(!holders_line("root 37526 running fine"));
        assert_eq!(kind_from_command("cat /proc/1234/limits"), Some(SourceKind::Limits));
        assert_eq!(kind_from_command("sudo bash -x /etc/libvirt/hooks/qemu.d/win10/prepare/begin/start.sh"), Some(SourceKind::HookTrace));
    }

    #[test]
    fn short_samples() {
        assert_eq!(sniff("BOOT_IMAGE=/vmlinuz-6.1.0 root=UUID=x ro quiet amd_iommu=on iommu=pt\n"), SourceKind::Cmdline);
        assert_eq!(sniff("# comment\noptions vfio-pci ids=10de:1c02,10de:10f1\nsoftdep nvidia pre: vfio-pci\n"), SourceKind::Modprobe);
        assert_eq!(sniff("GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet amd_iommu=on\"\n"), SourceKind::BootConfig);
        assert_eq!(sniff("title Fedora Linux (6.8.4-200.fc39.x86_64) 39\nversion 6.8.4-200.fc39.x86_64\nlinux /vmlinuz-6.8.4-200.fc39.x86_64\ninitrd /initramfs-6.8.4-200.fc39.x86_64.img\noptions root=UUID=abc ro rhgb quiet intel_iommu=on\n"), SourceKind::BootConfig);
        assert_eq!(sniff("{\n  \"user\": {\n    \"kernel_options\": [\n      \"quiet\"\n    ]\n  }\n}\n"), SourceKind::BootConfig);
        assert_eq!(sniff("# vim:set ft=sh\nMODULES=(amdgpu)\nBINARIES=()\nFILES=()\nHOOKS=(base udev autodetect modconf kms keyboard block filesystems fsck)\n"), SourceKind::Modprobe);
        assert_eq!(sniff("force_drivers+=\" vfio_pci vfio vfio_iommu_type1 \"\n"), SourceKind::Modprobe);
        assert_eq!(sniff("vfio-pci 0000:08:00.0: BAR 3: can't reserve [mem 0xf0000000-0xf1ffffff 64bit pref]\n"), SourceKind::KernelLog);
        assert_eq!(sniff("[    28.052] (EE) no screens found(EE)\n[    28.052] (EE) \n"), SourceKind::XorgLog);
        let gdm = "Nov 02 10:11:12 desk /usr/lib/gdm3/gdm-x-session[1843]: (EE) no screens found(EE)\n\
                   Nov 02 10:11:12 desk /usr/lib/gdm3/gdm-x-session[1843]: (EE) Cannot run in framebuffer mode. Please specify busIDs for all framebuffer devices\n";
        assert_eq!(sniff(gdm), SourceKind::XorgLog);
        assert_eq!(sniff("hello, my GPU does not work\nplease help\n"), SourceKind::Text);
        assert_eq!(sniff("[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0b6e4a52 ro quiet\n"), SourceKind::KernelLog);
        assert_eq!(sniff("VFIO tips and tricks: IOMMU Groups, inside and out\n"), SourceKind::Text);
        assert_eq!(sniff("[drm] Initialized amdgpu 3.54.0 20150101 for 0000:0b:00.0 on minor 1\n"), SourceKind::KernelLog);
        assert_eq!(sniff("2023-05-25T06:28:54.441761Z qemu-system-x86_64: warning: This family of AMD CPU doesn't support hyperthreading(2)\n"), SourceKind::QemuLog);
        assert_eq!(sniff("kvm: -device vfio-pci,host=0000:01:00.0,id=hostpci0,bus=ich9-pcie-port-1,addr=0x0: vfio 0000:01:00.0: failed to setup container for group 1: Failed to set iommu for container: Operation not permitted\n"), SourceKind::QemuLog);
        assert_eq!(sniff("2024-05-01T18:22:07+0200 host kernel: DMAR: IOMMU enabled\n2024-05-01T18:22:07+0200 host kernel: DMAR: Host address width 39\n"), SourceKind::KernelLog);
        assert_eq!(sniff("[    3.218001] kvm: disabled by bios\nkvm: disabled by bios\n"), SourceKind::KernelLog);
        assert_eq!(sniff("Oct 24 14:18:36 host libvirtd[812]: internal error: Unknown PCI header type '127' for device '0000:08:00.0'\n"), SourceKind::KernelLog);
    }
}
