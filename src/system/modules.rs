//! Loaded kernel modules from /proc/modules or a pasted `lsmod` (or an excerpt of it, `lsmod |
//! grep kvm`): name, use count and the modules that use it.

use super::LogLine;

#[derive(Debug, Clone)]
pub struct LoadedModule {
    /// With `-` written `_`, as the kernel names modules.
    pub name: String,
    /// The use count (third column), when shown.
    pub count: Option<u32>,
    /// The modules that use it (`kvm 1105920 1 kvm_amd` → `kvm_amd`).
    pub used_by: Vec<String>,
    pub line: LogLine,
}

/// `lsmod` / /proc/modules rows: `kvm_amd  155648  0`, `kvm 1105920 1 kvm_amd`,
/// `vfio_pci 16384 0 - Live 0xffffffffc0a1e000`.
pub fn lsmod_line(line: &str) -> bool {
    static_regex!(r"^[a-z][a-z0-9_]*\s+\d+\s+(?:\d+|-)(?:\s+(?:[a-z0-9_]+(?:,[a-z0-9_]+)*,?|-|\[permanent\]))?(?:\s+(?:Live|Loading|Unloading)\s+0x[0-9a-f]+(?:\s+\(\S+\))?)?\s*$")
        .is_match(line.trim_end())
}

/// Every module row; the `Module Size Used by` header and other lines are skipped.
pub fn parse(lines: &[&LogLine]) -> Vec<LoadedModule> {
    lines
        .iter()
        .filter(|l| lsmod_line(&l.message))
        .filter_map(|l| {
            let mut w = l.message.split_whitespace();
            let name = w.next()?.replace('-', "_");
            let _size = w.next()?;
            let count = w.next().and_then(|c| c.parse().ok());
            let used_by = w
                .next()
                .filter(|u| *u != "-" && !u.starts_with('['))
                .map(|u| u.split(',').filter(|x| !x.is_empty()).map(|x| x.replace('-', "_")).collect())
                .unwrap_or_default();
            Some(LoadedModule { name, count, used_by, line: (*l).clone() })
        })
        .collect()
}

/// KVM's core module is loaded but neither vendor module (`kvm_amd`, `kvm_intel`) is, nor uses
/// it: the vendor module refused to load, which it does when the firmware has SVM/VT-x off
/// (or the CPU has none). The kvm row is the evidence.
pub fn kvm_without_vendor_module(modules: &[LoadedModule]) -> Option<&LoadedModule> {
    let vendor = |n: &str| n == "kvm_amd" || n == "kvm_intel";
    let kvm = modules.iter().find(|m| m.name == "kvm")?;
    let vendor_loaded = modules.iter().any(|m| vendor(&m.name)) || kvm.used_by.iter().any(|u| vendor(u));
    // `kvm 1105920 1` with a user not listed (a cut line) is not evidence either way.
    let users_unknown = kvm.count.is_some_and(|c| c > 0) && kvm.used_by.is_empty();
    (!vendor_loaded && !users_unknown).then_some(kvm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_alone_and_with_its_vendor_module() {
        // https://github.com/QaidVoid/Complete-Single-GPU-Passthrough/issues/19 (SVM off).
        let off = super::super::kernel_log::plain_lines("kvm                  1105920  0\nirqbypass              16384  1 kvm\n", "lsmod.txt");
        let m = parse(&off.iter().collect::<Vec<_>>());
        assert_eq!((m.len(), m[1].used_by.clone()), (2, vec!["kvm".to_string()]));
        assert_eq!(kvm_without_vendor_module(&m).map(|k| k.line.line_no), Some(1));
        // https://github.com/vvaltchev/tilck/issues/75 (working).
        let on = super::super::kernel_log::plain_lines("kvm_intel             335872  0\nkvm                  1036288  1 kvm_intel\nirqbypass              16384  1 kvm\n", "l");
        assert!(kvm_without_vendor_module(&parse(&on.iter().collect::<Vec<_>>())).is_none());
        let proc = super::super::kernel_log::plain_lines("kvm 1105920 1 kvm_amd, Live 0xffffffffc0a00000\n", "m");
        assert!(kvm_without_vendor_module(&parse(&proc.iter().collect::<Vec<_>>())).is_none());
    }
}
