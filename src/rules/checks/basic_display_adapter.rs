//! Logic for `basic-display-adapter`; its documentation is rules/basic-display-adapter.md.

use crate::rules::Findings;
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    let mut done: Vec<String> = Vec::new();
    for g in sys.guest.basic_display_adapters() {
        let ids = g.ids().map(|(v, d)| format!("{v:04x}:{d:04x}")).unwrap_or_else(|| "unknown IDs".into());
        if done.contains(&ids) {
            continue;
        }
        done.push(ids.clone());
        let evidence = sys
            .guest
            .basic_display_adapters()
            .into_iter()
            .filter(|o| o.ids() == g.ids())
            .flat_map(|o| o.evidence.iter().cloned())
            .collect();
        let host = g.ids().and_then(|(v, d)| sys.devices.iter().find(|x| x.vendor_id == Some(v) && x.device_id == Some(d)));
        let (what, fix) = match (g.ids(), host) {
            (_, Some(h)) => (
                format!("the passed-through {} {}", h.address, h.name()),
                format!("Install the {} driver in the guest for {}; if it was installed, Windows fell back after the driver failed: look for Code 43 (`pnputil /enum-devices /problem`).", h.vendor_name.clone().unwrap_or_else(|| "GPU vendor's".into()), h.name()),
            ),
            (Some((0x1b36, 0x0100)), None) => ("the QXL adapter".into(), "Install the QXL display driver (`qxldod`) from the virtio-win ISO.".into()),
            (Some((0x1af4, 0x1050)), None) => ("the virtio-gpu adapter".into(), "Install the virtio-gpu display driver (`viogpudo`) from the virtio-win ISO.".into()),
            (Some((0x1234, 0x1111)), None) => (
                "QEMU's standard VGA".into(),
                "QEMU's standard VGA has no WDDM driver: switch the domain's video model to virtio (`<video><model type='virtio'/></video>`) and install `viogpudo` from the virtio-win ISO, or use `type='none'` when the passed-through GPU is the only display.".into(),
            ),
            (Some((0x10de | 0x1002 | 0x8086, _)), None) => (
                format!("a GPU ({ids})"),
                "Install the GPU vendor's driver in the guest.".into(),
            ),
            _ => (format!("an adapter ({ids})"), "Install the adapter's display driver in the guest (QXL/virtio-gpu: from the virtio-win ISO; a GPU: from its vendor).".into()),
        };
        let f = out.emit(
            format!("guest display adapter {ids}"),
            format!("The Windows guest drives {what} with \"Microsoft Basic Display Adapter\" ({}): no display driver is loaded for it", g.instance_id.as_deref().unwrap_or(&ids)),
            evidence,
        );
        f.remediation = fix;
    }
}
