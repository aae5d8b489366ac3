//! Xorg server logs (`/var/log/Xorg.0.log`, the server's stderr, GDM's journal lines): each line
//! with its type marker (`(EE)`, `(WW)`, `(--)`, …) split off, the cards the server probed on
//! the PCI bus (`(--) PCI:*(8@0:0:0) 10de:1c02:…`, `*` = the one it takes as primary), and the
//! probe failures that stop it. Formats: xorg-server `os/log.c`, `hw/xfree86/common/xf86pciBus.c`
//! (signatures.md §5).


use regex::Regex;

use super::{LogLine, PciAddress};

/// One line of an Xorg log.
#[derive(Debug, Clone)]
pub struct XorgLine {
    /// The line; `message` holds the text after the stamp and the marker.
    pub line: LogLine,
    /// `EE`, `WW`, `II`, `--`, `**`, `==`, `++`, `!!`, `NI`, `??`, or none (continuations,
    /// the header, `Fatal server error:`).
    pub marker: Option<String>,
}

impl XorgLine {
    pub fn is_error(&self) -> bool {
        self.marker.as_deref() == Some("EE")
    }
}

/// A card from the server's PCI probe summary (`xf86pciBus.c`: `PCI:%s(%u@%u:%u:%u) %04x:%04x:%04x:%04x`,
/// bus@domain:dev:func in decimal).
#[derive(Debug, Clone)]
pub struct XorgPci {
    /// Marked `*`: the server takes it as the primary card (the boot VGA device).
    pub primary: bool,
    pub address: PciAddress,
    pub vendor: u16,
    pub device: u16,
    /// Index into [`XorgLog::lines`].
    pub at: usize,
}

/// One Xorg log, parsed.
#[derive(Debug, Clone)]
pub struct XorgLog {
    pub source: std::sync::Arc<str>,
    pub lines: Vec<XorgLine>,
    pub pci: Vec<XorgPci>,
}

/// The messages with which the server gives up on finding a screen (signatures.md §5.2):
/// `dix/main.c`, `xf86Init.c`, `xf86Bus.c`. Matched as substrings: `no screens found` is
/// glued to the next `(EE)`, and the framebuffer message carries eight spaces before `for`.
pub(crate) const PROBE_FAILURES: &[&str] = &[
    "no screens found",
    "Cannot run in framebuffer mode",
    "Screen(s) found, but none have a usable configuration",
    "No devices detected",
    "Device(s) detected, but none match those in the config file",
    "No drivers available",
];

impl XorgLog {
    /// Lines with which the server gave up on finding a screen.
    pub fn probe_failures(&self) -> impl Iterator<Item = &XorgLine> {
        self.lines.iter().filter(|l| PROBE_FAILURES.iter().any(|f| l.line.message.contains(f)))
    }

    /// The `Fatal server error:` banner, if the server died.
    pub fn fatal_banner(&self) -> Option<&XorgLine> {
        self.lines.iter().find(|l| l.line.message.trim() == "Fatal server error:" || l.line.message.starts_with("Fatal server error: "))
    }

    /// The card the server marked primary.
    pub fn primary(&self) -> Option<&XorgPci> {
        self.pci.iter().find(|p| p.primary)
    }
}

fn line_re() -> &'static Regex {
    static_regex!(concat!(
        r"^(?:",
        // `[    28.052] ` (uptime) or XLibre's `[2025-08-07 10:03:29] `
        r"\[(?P<stamp>\s*\d+\.\d+|\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] ?",
        // `Oct 24 14:18:36 host /usr/lib/gdm3/gdm-x-session[3189]: ` and the like
        r"|.*?(?:gdm-x-session|Xorg|Xorg\.wrap|X)\[\d+\]: (?:\[(?P<jstamp>\s*\d+\.\d+)\] )?",
        r")?",
        r"(?:\((?P<marker>--|\*\*|==|\+\+|!!|II|WW|EE|NI|\?\?)\) ?)?",
        r"(?P<msg>.*)$"
    ))
}

fn pci_re() -> &'static Regex {
    static_regex!(r"^PCI:(?P<prim>[* ])\((?P<bus>\d+)@(?P<dom>\d+):(?P<dev>\d+):(?P<func>\d+)\) (?P<ven>[0-9a-fA-F]{4}):(?P<did>[0-9a-fA-F]{4})")
}

/// Parse the text of an Xorg log.
pub fn parse(text: &str, path: &str) -> XorgLog {
    let source: std::sync::Arc<str> = path.into();
    let mut lines = Vec::new();
    let mut pci = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let text = raw.trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        let (timestamp, marker, message) = match line_re().captures(text) {
            Some(c) => (
                c.name("stamp").or_else(|| c.name("jstamp")).map(|m| m.as_str().trim().to_string()),
                c.name("marker").map(|m| m.as_str().to_string()),
                c.name("msg").map(|m| m.as_str()).unwrap_or(text).to_string(),
            ),
            None => (None, None, text.to_string()),
        };
        if marker.as_deref() == Some("--") {
            if let Some(c) = pci_re().captures(&message) {
                let n = |k: &str| c[k].parse::<u32>().ok();
                let hex = |k: &str| u16::from_str_radix(&c[k], 16).ok();
                if let (Some(bus), Some(dom), Some(dev), Some(func), Some(vendor), Some(device)) =
                    (n("bus"), n("dom"), n("dev"), n("func"), hex("ven"), hex("did"))
                {
                    if let Some(address) = PciAddress::parse(&format!("{dom:04x}:{bus:02x}:{dev:02x}.{func:x}")) {
                        pci.push(XorgPci { primary: &c["prim"] == "*", address, vendor, device, at: lines.len() });
                    }
                }
            }
        }
        let seconds = timestamp.as_deref().and_then(|s| s.parse::<f64>().ok());
        lines.push(XorgLine {
            line: LogLine { source: source.clone(), line_no: i + 1, timestamp, seconds, message, text: text.to_string(), device: None, count: 1, last_line_no: i + 1 },
            marker,
        });
    }
    XorgLog { source, lines, pci }
}

/// Xorg's `BusID` notation of a PCI address: decimal `PCI:bus:device:function`, with the
/// domain as `PCI:bus@domain:device:function` when it is not 0 (xorg.conf(5), Device section).
pub fn bus_id(address: &PciAddress) -> String {
    let (bus, dev, func) = address.bus_slot_function();
    let domain = address.as_str().split(':').next().and_then(|d| u32::from_str_radix(d, 16).ok()).unwrap_or(0);
    if domain == 0 {
        format!("PCI:{bus}:{dev}:{func}")
    } else {
        format!("PCI:{bus}@{domain}:{dev}:{func}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines_and_failures() {
        // Real Xorg 1.21.1.7 lines (fixtures/inputs/pastes/xorg-probe.log).
        let text = "[ 11979.346] (--) PCI: (1@0:0:0) 10de:2204:1043:87b3 rev 161\n\
                    [ 11979.346] (--) PCI:*(1@0:0:2) 1002:73bf:1043:87b3 rev 161\n\
                    [ 11979.346] (--) PCI: (22@0:0:4) 10de:2204:1043:87b3 rev 161\n\
                    [ 11979.348] (EE) Device(s) detected, but none match those in the config file.\n\
                    [ 11979.348] (EE) \n\
                    Fatal server error:\n\
                    [ 11979.348] (EE) no screens found(EE) \n";
        let log = parse(text, "Xorg.0.log");
        assert_eq!(log.pci.len(), 3);
        let p = log.primary().unwrap();
        assert_eq!(p.address.as_str(), "0000:01:00.2");
        assert_eq!((p.vendor, p.device), (0x1002, 0x73bf));
        assert_eq!(log.pci[2].address.as_str(), "0000:16:00.4");
        assert_eq!(log.probe_failures().count(), 2);
        assert!(log.fatal_banner().is_some());
        assert_eq!(log.lines[3].marker.as_deref(), Some("EE"));
        assert_eq!(log.lines[3].line.seconds, Some(11979.348));
        assert_eq!(log.lines[3].line.line_no, 4);
    }

    #[test]
    fn journal_and_stderr_shapes() {
        let text = "Oct 24 14:18:36 host /usr/lib/gdm3/gdm-x-session[3189]: (EE) Cannot run in framebuffer mode. Please specify busIDs        for all framebuffer devices\n\
                    (EE) no screens found(EE) \n";
        let log = parse(text, "journal.txt");
        assert_eq!(log.lines[0].marker.as_deref(), Some("EE"));
        assert!(log.lines[0].line.message.starts_with("Cannot run in framebuffer mode"));
        assert_eq!(log.probe_failures().count(), 2);
        assert!(log.fatal_banner().is_none());
    }

    #[test]
    fn bus_ids_are_decimal() {
        assert_eq!(bus_id(&PciAddress::parse("0000:04:00.0").unwrap()), "PCI:4:0:0");
        assert_eq!(bus_id(&PciAddress::parse("0000:0a:1f.1").unwrap()), "PCI:10:31:1");
        assert_eq!(bus_id(&PciAddress::parse("0001:0a:00.0").unwrap()), "PCI:10@1:0:0");
    }
}
