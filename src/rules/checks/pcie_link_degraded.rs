//! Logic for `pcie-link-degraded`; its documentation is rules/pcie-link-degraded.md.
//! A passed GPU's PCIe link (sysfs current_link_width/speed, drivers/pci/pci-sysfs.c) runs below
//! what the card supports (max_link_width/speed).

use crate::rules::Findings;
use crate::system::System;

/// `8.0 GT/s PCIe` → 8.0; `Unknown speed` → None (drivers/pci/probe.c `pci_speed_string()`).
fn gts(speed: &str) -> Option<f64> {
    speed.split_whitespace().next()?.parse().ok()
}

/// PCIe generation of a transfer rate, for the message.
fn generation(rate: f64) -> &'static str {
    match rate {
        r if r <= 2.5 => "1.0",
        r if r <= 5.0 => "2.0",
        r if r <= 8.0 => "3.0",
        r if r <= 16.0 => "4.0",
        r if r <= 32.0 => "5.0",
        _ => "6.0",
    }
}

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for d in sys.devices.iter().filter(|d| d.is_gpu()) {
        let vms = sys.vms_taking(&d.address);
        if vms.is_empty() && !d.driver_is("vfio-pci") {
            continue;
        }
        let (Some(cw), Some(mw)) = (d.current_link_width, d.max_link_width) else { continue };
        let cs = d.current_link_speed.as_deref().and_then(gts);
        let ms = d.max_link_speed.as_deref().and_then(gts);
        let narrow = cw > 0 && cw < mw;
        let slow = matches!((cs, ms), (Some(c), Some(m)) if c < m);
        if !narrow && !slow {
            continue;
        }
        let cur = d.current_link_speed.clone().unwrap_or_default();
        let max = d.max_link_speed.clone().unwrap_or_default();
        let mut evidence = vec![
            d.evidence("current_link_width", &cw.to_string()),
            d.evidence("max_link_width", &mw.to_string()),
        ];
        if slow {
            evidence.push(d.evidence("current_link_speed", &cur));
            evidence.push(d.evidence("max_link_speed", &max));
        }
        let who = if vms.is_empty() {
            "bound to vfio-pci".to_string()
        } else {
            format!("passed to {}", vms.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", "))
        };
        let message = if narrow {
            let mut m = format!(
                "{} ({who}) runs its PCIe link at x{cw} of the x{mw} it supports",
                d.label()
            );
            if let (Some(c), Some(mx)) = (cs, ms) {
                m.push_str(&format!(" (PCIe {} x{cw} now, PCIe {} x{mw} possible)", generation(c), generation(mx)));
            }
            m.push_str(": the slot (or its riser/chipset wiring) has fewer lanes, which costs bandwidth for uploads and frame transfers");
            if slow {
                m.push_str(&format!("; the speed is also below maximum ({cur} of {max}), which may be power saving while the card is idle"));
            }
            m
        } else {
            format!(
                "{} ({who}) currently links at {cur} of {max} at full width x{cw}: this may be power saving (an idle GPU, or one parked on vfio-pci, drops to a lower speed); check again under load",
                d.label()
            )
        };
        let a = &d.address;
        let remediation = if narrow {
            format!(
                "Check the link while the guest runs a 3D load (GPU-Z's \"Bus Interface\" render test, or on the host):\n\n```sh\nsudo lspci -vv -s {} | grep -E 'LnkCap|LnkSta'\n```\n\n\
                 If it stays at x{cw}, the slot is wired with x{cw}: move the card to a full-width slot wired to the CPU (the board manual's block diagram tells which), \
                 and check that no M.2 drive shares lanes with this slot. A x4 chipset slot also shares the chipset's uplink with USB, SATA and network.",
                a.short()
            )
        } else {
            format!(
                "Nothing to do unless it stays at {cur} under load. Check while the guest runs a 3D load:\n\n```sh\nsudo lspci -vv -s {} | grep -E 'LnkCap|LnkSta'\n```\n\n\
                 If it stays low under load, set the slot's PCIe generation explicitly in the firmware setup (instead of Auto) and reseat the card or its riser.",
                a.short()
            )
        };
        let f = out.emit(d.label(), message, evidence);
        f.remediation = remediation;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds() {
        assert_eq!(gts("8.0 GT/s PCIe"), Some(8.0));
        assert_eq!(gts("2.5 GT/s"), Some(2.5));
        assert_eq!(gts("Unknown speed"), None);
        assert_eq!(generation(16.0), "4.0");
    }
}
