//! Kernel log lines in every shape people paste: `dmesg` (`[    8.838926] msg`), `dmesg -T`
//! (`[Tue Aug 26 16:02:52 2025] msg`), syslog/journal (`Oct 24 14:18:36 host kernel: msg`,
//! with or without the bracketed stamp), ISO journal (`2024-05-01T18:22:07+0200 host kernel:`)
//! and bare messages. The timestamp and the device prefix (`vfio-pci 0000:08:00.0: `) are split
//! off; the original text is kept for evidence.


use regex::Regex;

use super::PciAddress;

/// One line of a log, with where it came from.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// The source path (`var/log/dmesg`, `dmesg.txt`).
    pub source: std::sync::Arc<str>,
    /// 1-based line number in the original text (a long log's kept lines keep theirs).
    pub line_no: usize,
    /// How many times this line occurred: more than 1 for identical lines a long log folded
    /// into one (from `line_no` to `last_line_no`).
    pub count: u64,
    /// The line number of the last occurrence (= `line_no` unless folded).
    pub last_line_no: usize,
    /// The timestamp as printed, if any.
    pub timestamp: Option<String>,
    /// Seconds since boot, when the stamp is dmesg's monotonic one.
    pub seconds: Option<f64>,
    /// The message without timestamp and syslog prefix.
    pub message: String,
    /// The line as it was.
    pub text: String,
    /// `vfio-pci 0000:08:00.0:` at the start of the message (kernel `dev_printk` prefix).
    pub device: Option<DeviceRef>,
}

/// The `<driver-or-bus> <address>:` prefix that `dev_info()`/`pci_info()` put before a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRef {
    pub driver: String,
    pub address: PciAddress,
}

fn dmesg_re() -> &'static Regex {
    static_regex!(concat!(
        r"^(?:",
        // syslog / journal short: "Oct 24 14:18:36 host kernel: " (optionally ISO stamp)
        // journalctl prints the locale's month abbreviation (`Oct`, `sie`, `déc.`)
        r"(?P<sys>(?:\p{L}{2,5}\.? [ \d]\d \d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:?\d{2}|Z)?) \S+ kernel: )",
        r")?",
        r"(?:\[(?P<stamp>\s*\d+\.\d+|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})\] ?)?",
        r"(?P<msg>.*)$"
    ))
}

fn device_re() -> &'static Regex {
    static_regex!(r"^(?P<drv>[A-Za-z0-9_.-]+) (?P<addr>[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]): ")
}

/// Parse kernel-log text (any of the shapes above) into lines.
pub fn parse(text: &str, path: &str) -> Vec<LogLine> {
    let source: std::sync::Arc<str> = path.into();
    let re = dmesg_re();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (timestamp, seconds, message) = match re.captures(line) {
            Some(c) => {
                let stamp = c.name("stamp").map(|m| m.as_str().trim().to_string());
                let sys = c.name("sys").map(|m| m.as_str().trim_end_matches(" kernel: ").to_string());
                let seconds = stamp.as_deref().and_then(|s| s.parse::<f64>().ok());
                let timestamp = stamp.or(sys);
                let msg = c.name("msg").map(|m| m.as_str()).unwrap_or(line);
                (timestamp, seconds, msg.to_string())
            }
            None => (None, None, line.to_string()),
        };
        let device = device_re().captures(&message).and_then(|c| {
            Some(DeviceRef { driver: c["drv"].to_string(), address: PciAddress::parse(&c["addr"])? })
        });
        let message = as_typed(message);
        out.push(LogLine { source: source.clone(), line_no: i + 1, count: 1, last_line_no: i + 1, timestamp, seconds, message, text: line.to_string(), device });
    }
    out
}

/// The message as the program printed it: forums and word processors turn `can't` into
/// `can’t` and `"x"` into `“x”`, which no signature matches. `text` keeps the paste as posted.
pub fn as_typed(message: String) -> String {
    if !message.contains(['\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}']) {
        return message;
    }
    message.replace(['\u{2018}', '\u{2019}'], "'").replace(['\u{201c}', '\u{201d}'], "\"")
}

/// Lines of a text whose format has no timestamp convention of its own (yet): message = text.
pub fn plain_lines(text: &str, path: &str) -> Vec<LogLine> {
    let source: std::sync::Arc<str> = path.into();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let l = l.trim_end_matches('\r');
            LogLine {
                source: source.clone(),
                line_no: i + 1,
                count: 1,
                last_line_no: i + 1,
                timestamp: None,
                seconds: None,
                message: as_typed(l.to_string()),
                text: l.to_string(),
                device: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape() {
        let text = "\
[   44.702115] vfio-pci 0000:05:00.0: BAR 0: can't reserve [mem 0xd0000000-0xdfffffff 64bit pref]
[Tue Aug 26 16:02:52 2025] NVRM: No NVIDIA devices probed.
Oct 24 14:18:36 myhost kernel: [    7.020000] AMD-Vi: Interrupt remapping enabled
Oct 24 14:18:36 myhost kernel: pci 0000:00:00.2: AMD-Vi: Found IOMMU cap 0x40
2024-05-01T18:22:07+0200 myhost kernel: DMAR: IOMMU enabled
vfio_pci: add [10de:1c02[ffffffff:ffffffff]] class 0x000000/00000000
";
        let lines = parse(text, "dmesg.txt");
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0].seconds, Some(44.702115));
        assert_eq!(lines[0].device.as_ref().unwrap().driver, "vfio-pci");
        assert_eq!(lines[0].device.as_ref().unwrap().address.as_str(), "0000:05:00.0");
        assert_eq!(lines[1].message, "NVRM: No NVIDIA devices probed.");
        // A typographic apostrophe from a forum is read as the kernel printed it; the text stays.
        let cut = parse("[Wed Jun 12 02:42:37 2024] vfio-pci 0000:b3:00.0: BAR 1: can\u{2019}t reserve [mem 0xe0000000-0xefffffff 64bit pref]\n", "d");
        assert_eq!(cut[0].message, "vfio-pci 0000:b3:00.0: BAR 1: can't reserve [mem 0xe0000000-0xefffffff 64bit pref]");
        assert!(cut[0].text.contains('\u{2019}'));
        assert_eq!(lines[1].timestamp.as_deref(), Some("Tue Aug 26 16:02:52 2025"));
        assert_eq!(lines[2].message, "AMD-Vi: Interrupt remapping enabled");
        assert_eq!(lines[2].seconds, Some(7.02));
        assert_eq!(lines[3].device.as_ref().unwrap().driver, "pci");
        assert_eq!(lines[4].message, "DMAR: IOMMU enabled");
        assert_eq!(lines[5].timestamp, None);
        assert_eq!(lines[5].line_no, 6);
    }

    #[test]
    fn localised_journal_month() {
        let lines = parse("sie 25 20:19:17 host kernel: vfio-pci 0000:01:00.0: resetting\n", "journal.txt");
        assert_eq!(lines[0].message, "vfio-pci 0000:01:00.0: resetting");
        assert_eq!(lines[0].device.as_ref().map(|d| d.driver.as_str()), Some("vfio-pci"));
    }
}
