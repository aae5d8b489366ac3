//! Logic for `display-scaling-blur`; its documentation is rules/display-scaling-blur.md.

use crate::rules::Findings;
use crate::system::System;

pub(crate) fn check(sys: &System, out: &mut Findings<'_>) {
    for dx in &sys.guest.dxdiag {
        // The user's setting is what the desktop uses; Windows 7 says "Using System DPI".
        let scaled = [dx.user_dpi.as_ref(), dx.system_dpi.as_ref()].into_iter().flatten().find(|d| d.is_scaled());
        let Some(dpi) = scaled else { continue };
        let (Some(percent), dpi_value) = (dpi.percent, dpi.dpi) else { continue };
        let mut evidence: Vec<_> = [dx.user_dpi.as_ref(), dx.system_dpi.as_ref()].into_iter().flatten().map(|d| d.field.evidence()).collect();
        evidence.extend(dx.dwm_dpi_scaling.iter().map(|f| f.evidence()));
        let cards: Vec<String> = dx.displays.iter().filter_map(|d| d.card_name.as_ref().map(|f| f.value.clone())).collect();
        let on = if cards.is_empty() { String::new() } else { format!(" on {}", cards.join(" and ")) };
        let f = out.emit(
            format!("guest display scaling ({})", dx.source.rsplit(['/', '\\']).next().unwrap_or(&dx.source)),
            format!(
                "The Windows guest scales its desktop to {percent} %{}{on}: Parsec, Steam Link and RDP stream the stretched desktop, so text and games look blurry",
                dpi_value.map(|d| format!(" ({d} DPI)")).unwrap_or_default()
            ),
            evidence,
        );
        f.remediation = format!(
            "In the guest: Settings → System → Display → Scale: set **100 %** (it is {percent} % now), then sign out and back in. \
             If text is too small at 100 %, lower the guest display's resolution instead of scaling it."
        );
    }
}
