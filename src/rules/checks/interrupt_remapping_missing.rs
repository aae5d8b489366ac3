//! Logic for `interrupt-remapping-missing`; its documentation is
//! rules/interrupt-remapping-missing.md. The kernel runs without interrupt remapping (it says
//! so, or a command-line option turns it off), or VFIO is told to do without it
//! (`allow_unsafe_interrupts`).

use crate::bundle::SourceKind;
use crate::rules::{fix, Evidence, Findings};
use crate::system::boot_config;
use crate::system::{modconf, LogLine, System};

/// What a kernel-log line says about interrupt remapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    /// vfio_iommu_type1 refused a group: `No interrupt remapping support.  Use the module param…`
    VfioRefused,
    /// iommufd: `MSI interrupts are not secure, they cannot be isolated by the platform.`
    IommufdUnsafe,
    /// AMD-Vi / DMAR-IR turned it off or could not turn it on.
    Disabled,
    /// `[Firmware Bug]: AMD-Vi: IOAPIC[4] not in IVRS table` / `No southbridge IOAPIC found`.
    IvrsBug,
    /// `AMD-Vi: Interrupt remapping enabled`, `DMAR-IR: Enabled IRQ remapping in x2apic mode`.
    Enabled,
}

// The texts [`sign`] looks for (signatures.md §1.3, §1.10; rules/interrupt-remapping-missing.md).
const VFIO_REFUSED: &str = "No interrupt remapping support.";
const UNSAFE_PARAM: &str = "allow_unsafe_interrupts";
const IOMMUFD_UNSAFE: &str = "MSI interrupts are not secure, they cannot be isolated by the platform";
const AMD_DISABLING: &str = "Disabling interrupt remapping";
const DMAR_FAILED: &str = "Failed to enable irq remapping";
const DMAR_NOT_ENABLED: &str = "Not enable interrupt remapping";
const WILL_BE_DISABLED: &str = "interrupt remapping will be disabled";
const ERRATUM: &str = "This system BIOS has enabled interrupt remapping";
const NOT_IN_IVRS: &str = "not in IVRS table";
const NO_SOUTHBRIDGE_IOAPIC: &str = "No southbridge IOAPIC found";
const AMD_ENABLED: &str = "AMD-Vi: Interrupt remapping enabled";
const DMAR_ENABLED: &str = "Enabled IRQ remapping in";

/// The log lines [`sign`] reads: long logs keep them from between head and tail
/// (`rules::signatures`). Eight of its literals contain `interrupt remapping`, `Interrupt
/// remapping`, `irq remapping` or `IRQ remapping`, so one signature keeps them all (and the few
/// other remapping lines of a boot) with one prefilter literal; the others are declared as
/// themselves. The unit test checks that every literal, as a line, is kept.
pub(crate) const LOG_SIGNATURES: &[&str] = &[r"(?:interrupt|Interrupt|irq|IRQ) remapping", IOMMUFD_UNSAFE, NOT_IN_IVRS, NO_SOUTHBRIDGE_IOAPIC];

/// Lines that alone show this fault: the kernel's refusal (drivers/vfio/vfio_iommu_type1.c) and
/// QEMU's EPERM on VFIO_SET_IOMMU, "failed to set iommu for container: Operation not
/// permitted" (hw/vfio, every version; /work/shared/reference/signatures.md §3.6).
pub(crate) const FAILURE_SIGNATURES: &[&str] = &[r"No interrupt remapping support\.", r"[Ff]ailed to set iommu for container: Operation not permitted"];

fn sign(message: &str) -> Option<Sign> {
    let m = message;
    if m.contains(VFIO_REFUSED) && m.contains(UNSAFE_PARAM) {
        Some(Sign::VfioRefused)
    } else if m.contains(IOMMUFD_UNSAFE) {
        Some(Sign::IommufdUnsafe)
    } else if m.contains(AMD_DISABLING) || m.contains(DMAR_FAILED) || m.starts_with(DMAR_NOT_ENABLED) || m.contains(WILL_BE_DISABLED) || m.contains(ERRATUM) {
        Some(Sign::Disabled)
    } else if m.contains(NOT_IN_IVRS) || m.contains(NO_SOUTHBRIDGE_IOAPIC) {
        Some(Sign::IvrsBug)
    } else if m.contains(AMD_ENABLED) || m.contains(DMAR_ENABLED) {
        Some(Sign::Enabled)
    } else {
        None
    }
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let mut lines: Vec<(Sign, &LogLine)> = Vec::new();
    for l in sys.lines(SourceKind::KernelLog).chain(sys.lines(SourceKind::Text)) {
        if let Some(s) = sign(&l.message) {
            lines.push((s, l));
        }
    }
    let has = |s: Sign| lines.iter().any(|(x, _)| *x == s);
    let running = boot_config::running(sys);

    // Where the safety check is switched off.
    let mut overrides: Vec<(String, Evidence)> = Vec::new();
    if let Some((c, ev)) = &running {
        for key in ["vfio_iommu_type1.allow_unsafe_interrupts", "iommufd.allow_unsafe_interrupts"] {
            if let Some(v) = c.get(key).filter(|v| modconf::truthy(v) || v.is_empty()) {
                let text = if v.is_empty() { key.to_string() } else { format!("{key}={v}") };
                overrides.push((format!("`{text}` on the kernel command line"), Evidence { excerpt: text, ..ev.clone() }));
            }
        }
    }
    for module in ["vfio_iommu_type1", "iommufd"] {
        if let Some(o) = sys.modconf.option(module, "allow_unsafe_interrupts").last().filter(|o| modconf::truthy(&o.value)) {
            overrides.push((format!("`options {module} allow_unsafe_interrupts={}` in {}", o.value, o.evidence.source), o.evidence.clone()));
        }
        if let Some((v, ev)) = modconf::module_param(sys, module, "allow_unsafe_interrupts").filter(|(v, _)| modconf::truthy(v)) {
            overrides.push((format!("in effect: {} reads {v}", ev.source), ev));
        }
    }
    // Command-line options that turn remapping off.
    let mut turned_off: Vec<(String, Evidence)> = Vec::new();
    if let Some((c, ev)) = &running {
        if c.get("intremap") == Some("off") {
            turned_off.push(("intremap=off".into(), Evidence { excerpt: "intremap=off".into(), ..ev.clone() }));
        }
        if c.has("nointremap") {
            turned_off.push(("nointremap".into(), Evidence { excerpt: "nointremap".into(), ..ev.clone() }));
        }
    }

    let missing = has(Sign::VfioRefused) || has(Sign::IommufdUnsafe) || has(Sign::Disabled) || !turned_off.is_empty();
    if !missing && overrides.is_empty() {
        return;
    }

    let mut evidence: Vec<Evidence> = Vec::new();
    for (s, l) in &lines {
        let wanted = match s {
            Sign::Enabled => !missing,
            _ => true,
        };
        let ev = Evidence::from(*l);
        if wanted && !evidence.iter().any(|e| e.source == ev.source && e.excerpt == ev.excerpt) {
            evidence.push(ev);
        }
    }
    evidence.extend(turned_off.iter().map(|(_, e)| e.clone()));
    evidence.extend(overrides.iter().map(|(_, e)| e.clone()));

    let mut message = String::new();
    if missing {
        message.push_str("The kernel runs without interrupt remapping");
        let mut why: Vec<String> = Vec::new();
        if has(Sign::Disabled) {
            why.push(if has(Sign::IvrsBug) {
                "it disabled it at boot because the firmware's IVRS table does not describe the IOAPICs".into()
            } else {
                "it disabled it at boot (or could not enable it)".into()
            });
        }
        if !turned_off.is_empty() {
            why.push(format!("`{}` is on the command line", turned_off.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(" ")));
        }
        if !why.is_empty() {
            message.push_str(&format!(": {}", why.join(", and ")));
        }
        message.push('.');
        if has(Sign::VfioRefused) {
            message.push_str(
                " vfio_iommu_type1 refused to attach a device's group for that reason; QEMU then fails with \
                 `failed to set iommu for container: Operation not permitted`.",
            );
        }
        if !overrides.is_empty() {
            message.push_str(&format!(
                " VFIO is told to accept that ({}): a passed device can send MSI writes the host never set up, so the guest can inject interrupts into the host.",
                overrides.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join("; ")
            ));
        }
    } else if has(Sign::Enabled) {
        message = format!(
            "VFIO's interrupt-isolation check is switched off ({}), although the kernel says interrupt remapping is enabled: \
             the override buys nothing here and would silently keep VFIO running, unprotected, if remapping ever fails.",
            overrides.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join("; ")
        );
    } else {
        message = format!(
            "VFIO's interrupt-isolation check is switched off ({}): VFIO assigns devices even on a platform without interrupt remapping, \
             where a guest can inject interrupts into the host through the passed device's MSI writes.",
            overrides.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join("; ")
        );
    }
    let f = out.emit("interrupt remapping", message, evidence);
    f.remediation = remediation(sys, missing, &lines, &turned_off, &overrides);
}

/// IOAPIC ids the firmware's IVRS table lacks (`IOAPIC[4] not in IVRS table`).
fn missing_ioapics(lines: &[(Sign, &LogLine)]) -> Vec<u32> {
    let mut ids = Vec::new();
    for (_, l) in lines.iter().filter(|(s, _)| *s == Sign::IvrsBug) {
        let Some(at) = l.message.find("IOAPIC[") else { continue };
        let rest = &l.message[at + 7..];
        if let Some(id) = rest.split(']').next().and_then(|n| n.parse::<u32>().ok()) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

fn remediation(sys: &System, missing: bool, lines: &[(Sign, &LogLine)], turned_off: &[(String, Evidence)], overrides: &[(String, Evidence)]) -> String {
    let mut r: Vec<String> = Vec::new();
    let amd = sys.cpu_is_amd() || lines.iter().any(|(_, l)| l.message.contains("AMD-Vi"));
    if missing {
        if !turned_off.is_empty() {
            let opts: Vec<&str> = turned_off.iter().map(|(t, _)| t.as_str()).collect();
            r.push(fix::remove_kernel_options(sys, &opts));
        }
        if lines.iter().any(|(s, _)| *s == Sign::Disabled) {
            if amd {
                let ids = missing_ioapics(lines);
                let mut s = String::from(
                    "Update the mainboard firmware (BIOS): interrupt remapping needs the IOAPICs listed in its ACPI IVRS table, and with IOMMU/AMD-Vi enabled there.",
                );
                if !ids.is_empty() {
                    let params: Vec<String> = ids
                        .iter()
                        .enumerate()
                        .map(|(i, id)| format!("ivrs_ioapic[{id}]={}", if i == 0 { "00:14.0" } else { "00:00.2" }))
                        .collect();
                    s.push_str(&format!(
                        " Until then the kernel can be told where the missing IOAPIC{} {} (`00:14.0` is the southbridge/FCH on AMD boards, `00:00.2` the IOMMU; confirm the mapping for this board before relying on it):\n\n{}",
                        if ids.len() == 1 { "" } else { "s" },
                        if ids.len() == 1 { "is" } else { "are" },
                        fix::add_kernel_options(sys, &params.iter().map(String::as_str).collect::<Vec<_>>())
                    ));
                }
                r.push(s);
            } else {
                r.push(
                    "Enable VT-d and, where the setup offers it, x2APIC / interrupt remapping in the firmware, and update the BIOS: \
                     the kernel turns remapping off when the DMAR table is broken or the chipset has a known erratum."
                        .into(),
                );
            }
        }
        if overrides.is_empty() {
            r.push(format!(
                "Only if the platform cannot remap interrupts and you accept that a guest may inject interrupts into the host, let VFIO run without it. `/etc/modprobe.d/vfio.conf`:\n\n```text\noptions vfio_iommu_type1 allow_unsafe_interrupts=1\n```\n\nthen rebuild the initramfs (`{}`) and reboot.",
                fix::initramfs_update_command(sys)
            ));
        } else {
            r.push("Once remapping works, remove the `allow_unsafe_interrupts` override again.".into());
        }
    } else {
        let mut s = String::from("Remove the override and let VFIO check interrupt isolation again:");
        let mut configured = false;
        for (text, ev) in overrides.iter().filter(|(_, ev)| !ev.source.starts_with("/sys/")) {
            configured = true;
            s.push_str(&format!("\n- {text}: delete it (`{}` {})", ev.source, ev.location));
        }
        if !configured {
            s.push_str(
                "\n- sysfs shows it on, but no configuration in the input sets it: look for `allow_unsafe_interrupts` in \
                 `/etc/modprobe.d/`, `/usr/lib/modprobe.d/` and `/proc/cmdline`",
            );
        }
        r.push(s);
        r.push(format!(
            "Rebuild the initramfs (`{}`, it carries a copy of modprobe.d) and reboot; `cat /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts` must then print `N`.",
            fix::initramfs_update_command(sys)
        ));
    }
    r.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every literal `sign` looks for is kept as a line of its own, and every real line shape (signatures.md §1.3, §1.10; kernel 3.x `printk`s without
    /// prefix) is one `sign` reads and one a long log keeps.
    #[test]
    fn long_logs_keep_every_line_the_check_reads() {
        let literals = [
            VFIO_REFUSED,
            UNSAFE_PARAM,
            IOMMUFD_UNSAFE,
            AMD_DISABLING,
            DMAR_FAILED,
            DMAR_NOT_ENABLED,
            WILL_BE_DISABLED,
            ERRATUM,
            NOT_IN_IVRS,
            NO_SOUTHBRIDGE_IOAPIC,
            AMD_ENABLED,
            DMAR_ENABLED,
        ];
        for l in literals.into_iter().filter(|l| *l != UNSAFE_PARAM) {
            assert!(super::super::keeps(LOG_SIGNATURES, l), "{l}");
        }
        let lines = [
            (Sign::VfioRefused, "[  212.552019] vfio_iommu_type1_attach_group: No interrupt remapping support.  Use the module param \"allow_unsafe_interrupts\" to enable VFIO IOMMU support on this platform"),
            (Sign::IommufdUnsafe, "[  212.552019] MSI interrupts are not secure, they cannot be isolated by the platform. Check that platform features like interrupt remapping are enabled. Use the \"allow_unsafe_interrupts\" module parameter to override"),
            (Sign::Disabled, "[    0.072378] AMD-Vi: Disabling interrupt remapping"),
            (Sign::Disabled, "[    0.125243] DMAR-IR: Failed to enable irq remapping.  You are vulnerable to irq-injection attacks."),
            (Sign::Disabled, "[    0.025213] [Firmware Bug]: ioapic 2 has no mapping iommu, interrupt remapping will be disabled"),
            (Sign::Disabled, "[    0.025214] Not enable interrupt remapping"),
            (Sign::Disabled, "[    0.000000] This system BIOS has enabled interrupt remapping"),
            (Sign::IvrsBug, "[    0.072365] AMD-Vi: [Firmware Bug]: : IOAPIC[4] not in IVRS table"),
            (Sign::IvrsBug, "[    0.072375] AMD-Vi: [Firmware Bug]: : No southbridge IOAPIC found"),
            (Sign::Enabled, "Oct 24 14:18:36 myhost kernel: [    7.020000] AMD-Vi: Interrupt remapping enabled"),
            (Sign::Enabled, "[    0.125300] DMAR-IR: Enabled IRQ remapping in x2apic mode"),
        ];
        for (want, line) in lines {
            let message = std::str::from_utf8(crate::collect::strip_stamp(line.as_bytes())).unwrap();
            assert_eq!(sign(message), Some(want), "{line}");
            assert!(super::super::keeps(LOG_SIGNATURES, line), "a long log keeps {line}");
        }
    }
}
