//! Host facts: CPU vendor, model and virtualization flags (/proc/cpuinfo), kernel release
//! (/proc/version), distribution (/etc/os-release), loaded modules (/proc/modules), and
//! whether /dev/kvm and /sys/firmware/efi exist.

use super::{text_file, unreadable, Collector, Options};
use crate::bundle::{Bundle, Source, SourceKind};
use crate::root::Root;

pub const COLLECTOR: Collector = Collector {
    source: SourceKind::Cpuinfo,
    about: "CPU, kernel, distribution, loaded modules, /dev/kvm and EFI boot",
    reads: &[
        "proc/cpuinfo",
        "proc/version",
        "proc/modules",
        "etc/os-release",
        "usr/lib/os-release",
        "etc/hostname",
        "proc/sys/kernel/hostname",
        "dev/kvm",
        "sys/firmware/efi",
    ],
    runs: &[],
    needs_root: false,
    collect,
};

/// The CPU flags that matter for virtualization; the rest of the 100-odd flags are noise.
const VIRT_FLAGS: &[&str] = &["vmx", "svm", "hypervisor"];

fn collect(root: &Root, _: &Options, bundle: &mut Bundle) {
    match root.read_text("proc/cpuinfo", 8 * 1024 * 1024) {
        Ok((text, _)) => {
            let first_cpu = text.split("\n\n").next().unwrap_or("");
            let field = |name: &str| {
                first_cpu.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim() == name).then(|| v.trim().to_string())
                })
            };
            bundle.host.cpu_vendor = field("vendor_id");
            bundle.host.cpu_model = field("model name");
            let flags = field("flags").unwrap_or_default();
            let present = VIRT_FLAGS
                .iter()
                .filter(|f| flags.split_whitespace().any(|x| x == **f))
                .map(|f| f.to_string())
                .collect();
            bundle.host.cpu_flags = Some(present);
            // Only the facts are kept; the whole file is per-CPU repetition.
            let summary = format!(
                "vendor_id\t: {}\nmodel name\t: {}\nflags (virtualization)\t: {}\n",
                bundle.host.cpu_vendor.as_deref().unwrap_or("?"),
                bundle.host.cpu_model.as_deref().unwrap_or("?"),
                bundle.host.cpu_flags.as_deref().unwrap_or_default().join(" ")
            );
            bundle.sources.push(Source::ok(SourceKind::Cpuinfo, "proc/cpuinfo", "file", summary));
        }
        Err(e) => bundle.sources.push(unreadable(SourceKind::Cpuinfo, root, "proc/cpuinfo", &e, false)),
    }

    let version = text_file(root, SourceKind::KernelVersion, "proc/version", false);
    if let Some(text) = &version.text {
        // "Linux version 6.8.0-45-generic (buildd@…) …"
        bundle.host.kernel = text.split_whitespace().nth(2).map(str::to_string);
    }
    bundle.sources.push(version);

    let mut os = text_file(root, SourceKind::OsRelease, "etc/os-release", false);
    if !os.is_ok() {
        let fallback = text_file(root, SourceKind::OsRelease, "usr/lib/os-release", false);
        if fallback.is_ok() {
            os = fallback;
        }
    }
    if let Some(text) = &os.text {
        let value = |key: &str| {
            text.lines().find_map(|l| {
                let v = l.strip_prefix(key)?.strip_prefix('=')?;
                Some(v.trim().trim_matches('"').to_string())
            })
        };
        bundle.host.distro = value("PRETTY_NAME").or_else(|| value("NAME"));
        let ids: Vec<String> = [value("ID"), value("ID_LIKE")].into_iter().flatten().collect();
        bundle.host.distro_id = (!ids.is_empty()).then(|| ids.join(" "));
    }
    bundle.sources.push(os);

    bundle.sources.push(text_file(root, SourceKind::Modules, "proc/modules", false));

    let hostname = ["proc/sys/kernel/hostname", "etc/hostname"]
        .iter()
        .find_map(|p| root.read_attr(p).ok().filter(|h| !h.is_empty()));
    bundle.host.hostname = hostname;
    bundle.host.kvm_device = Some(root.exists("dev/kvm"));
    bundle.host.efi = Some(root.exists("sys/firmware/efi"));
    if root.is_live() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        bundle.host.collected_as_root = Some(unsafe { libc::geteuid() } == 0);
    }
}
