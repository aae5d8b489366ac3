//! Logic for `virtualization-disabled`; its documentation is rules/virtualization-disabled.md.

use crate::bundle::SourceKind;
use crate::rules::{Evidence, Findings};
use crate::system::System;

/// Kernel messages that say KVM cannot use the CPU's virtualization (signatures.md §1.4,
/// every wording from ≤5.15 `kvm: disabled by bios` to 6.3+ `kvm_amd: SVM disabled (by BIOS)`).
fn kvm_refused(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    (m.starts_with("kvm") && (m.contains("disabled by bios") || m.contains("no hardware support")))
        || m.contains("svm disabled (by bios)")
        || m.contains("vmx not enabled (by bios)")
        || m.contains("vmx (outside txt) disabled by bios")
        || m.contains("vmx not fully enabled")
        || (m.starts_with("kvm") && (m.contains("svm not supported") || m.contains("vmx not supported")))
}

/// The log lines this rule reads: long logs keep them from between head and tail
/// (`rules::signatures`).
pub(crate) const LOG_SIGNATURES: &[&str] = &[
    // Case spelled out (not `(?i)`) so the prefilter stays a SIMD search: every kernel wording.
    r"kvm.*(?:disabled by bios|no hardware support|(?:SVM|svm|VMX|vmx) not supported)",
    r"(?:SVM|svm) disabled \((?:by BIOS|by bios)\)",
    r"(?:VMX|vmx) not enabled \((?:by BIOS|by bios)\)",
    r"(?:VMX|vmx) \((?:outside TXT|outside txt)\) disabled by (?:BIOS|bios)",
    r"(?:VMX|vmx) not fully enabled",
];

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let mut evidence = Vec::new();
    let flags = sys.host.cpu_flags.as_deref();
    let no_flag = flags.is_some_and(|f| !f.iter().any(|x| x == "vmx" || x == "svm"));
    if no_flag {
        let flags_text = flags.map(|f| f.join(" ")).unwrap_or_default();
        let shown = if flags_text.is_empty() { "no vmx or svm flag".to_string() } else { format!("virtualization flags: {flags_text}") };
        evidence.push(Evidence::new("/proc/cpuinfo", "flags", shown));
    }
    let no_kvm = sys.host.kvm_device == Some(false);
    if no_kvm {
        evidence.push(Evidence::new("/dev/kvm", "exists", "no"));
    }
    let refused: Vec<_> = sys.lines(SourceKind::KernelLog).filter(|l| kvm_refused(&l.message)).collect();
    if let Some(first) = refused.first() {
        let mut e = Evidence::from(*first);
        let count: u64 = refused.iter().map(|l| l.count).sum();
        if count > 1 {
            e.count = Some(count);
        }
        evidence.push(e);
    }
    // lsmod / /proc/modules: kvm loaded, its vendor module not (it refuses to load without
    // SVM/VT-x); the kvm row shows who uses kvm.
    let lone_kvm = crate::system::modules::kvm_without_vendor_module(&sys.modules);
    if let Some(kvm) = lone_kvm {
        let mut e = Evidence::from(&kvm.line);
        e.excerpt = format!("{}   (kvm is loaded; neither kvm_amd nor kvm_intel is, or uses it)", kvm.line.text.trim_end());
        evidence.push(e);
    }
    if evidence.is_empty() {
        return;
    }
    let nested = sys.host.cpu_flags.as_deref().is_some_and(|f| f.iter().any(|x| x == "hypervisor"));
    let (vendor, setting) = if sys.cpu_is_amd() {
        ("AMD", "SVM Mode (AMD-V), usually under Advanced → CPU Configuration")
    } else if sys.cpu_is_intel() {
        ("Intel", "Intel Virtualization Technology (VT-x), usually under Advanced → CPU Configuration")
    } else {
        ("the", "SVM Mode (AMD) or Intel Virtualization Technology (VT-x)")
    };
    let cpu = sys.host.cpu_model.clone().unwrap_or_else(|| "this CPU".into());
    let what = match (no_flag, no_kvm, !refused.is_empty()) {
        (true, _, _) => format!("{cpu} does not show hardware virtualization (no vmx/svm flag)"),
        (false, true, _) => format!("{cpu} has hardware virtualization but /dev/kvm does not exist"),
        (false, false, true) => "the kernel reports that KVM cannot use hardware virtualization".to_string(),
        _ => "kvm is loaded but neither kvm_amd nor kvm_intel: the CPU vendor's KVM module did not load, which it refuses to do while virtualization (SVM / VT-x) is off in the firmware".to_string(),
    };
    let mut remediation = format!(
        "Enable {setting} in the firmware setup of {vendor} platform, save, and power-cycle. After booting, \
         `grep -cE 'vmx|svm' /proc/cpuinfo` must be non-zero and `ls -l /dev/kvm` must exist."
    );
    if !no_flag && no_kvm {
        remediation.push_str(
            "\n\nIf the flag is present, load the module: `sudo modprobe kvm_amd` (AMD) or `sudo modprobe kvm_intel` (Intel), \
             and check `dmesg | grep -i kvm` for why it refused.",
        );
    }
    if nested {
        remediation.push_str(
            "\n\nThis host is itself a virtual machine (`hypervisor` flag): GPU passthrough needs bare metal, \
             or nested virtualization and a virtual IOMMU enabled by the outer hypervisor.",
        );
    }
    let f = out.emit("host CPU", format!("{what}: KVM cannot run accelerated guests, so nothing can be passed through"), evidence);
    f.remediation = remediation;
}
