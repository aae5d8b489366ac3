//! The memory-lock limit (RLIMIT_MEMLOCK) from pasted `ulimit -a` / `ulimit -l` (bash, zsh and
//! dash wordings), `prlimit` (util-linux) and `/proc/PID/limits` output, or systemd's
//! `LimitMEMLOCK=`: what VFIO's DMA pinning of guest RAM is charged against.

use super::LogLine;

/// A limit value in bytes, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Bytes(u64),
    Unlimited,
}

impl Limit {
    fn parse(value: &str, unit_bytes: u64) -> Option<Limit> {
        match value.trim() {
            "unlimited" | "infinity" => Some(Limit::Unlimited),
            v => v.parse::<u64>().ok().map(|n| Limit::Bytes(n.saturating_mul(unit_bytes))),
        }
    }

    /// `64 KiB`, `8 MiB`, `unlimited`.
    pub fn human(self) -> String {
        match self {
            Limit::Unlimited => "unlimited".into(),
            Limit::Bytes(b) if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
            Limit::Bytes(b) if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
            Limit::Bytes(b) if b >= 1 << 20 => format!("{} MiB", b >> 20),
            Limit::Bytes(b) => format!("{} KiB", b >> 10),
        }
    }
}

/// One reading of the memory-lock limit.
#[derive(Debug, Clone)]
pub struct Memlock {
    /// The soft limit (what `ulimit -l` prints, what the kernel enforces).
    pub soft: Limit,
    /// The hard limit, when the output shows it (prlimit, /proc/PID/limits).
    pub hard: Option<Limit>,
    pub line: LogLine,
}

/// Every memory-lock reading in the lines of limits outputs. A lone number is `ulimit -l`'s
/// whole output (KiB).
pub fn parse(lines: &[&LogLine]) -> Vec<Memlock> {
    let mut out = Vec::new();
    let lone = lines.len() == 1;
    for l in lines {
        let t = l.message.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        let found = if t.starts_with("max locked memory") || t.starts_with("-l: ") || t.starts_with("locked memory") {
            // bash `max locked memory (kbytes, -l) 8192`, zsh `-l: locked-in-memory size (kbytes) 8192`.
            let unit = if t.contains("kbytes") || t.contains("(kb)") { 1024 } else { 1 };
            words.last().and_then(|v| Limit::parse(v, unit)).map(|soft| (soft, None))
        } else if words.first() == Some(&"MEMLOCK") && words.len() >= 4 {
            // prlimit: `MEMLOCK max locked-in-memory address space 8388608 8388608 bytes`.
            let n = words.len();
            let (soft, hard) = if words[n - 1] == "bytes" { (words[n - 3], words[n - 2]) } else { (words[n - 2], words[n - 1]) };
            Limit::parse(soft, 1).map(|s| (s, Limit::parse(hard, 1)))
        } else if t.starts_with("Max locked memory") && words.len() >= 5 {
            // /proc/PID/limits: `Max locked memory 65536 65536 bytes`.
            Limit::parse(words[3], 1).map(|s| (s, Limit::parse(words[4], 1)))
        } else if let Some(v) = t.strip_prefix("LimitMEMLOCK=") {
            Limit::parse(v, 1).map(|s| (s, None))
        } else if lone && (t == "unlimited" || (!t.is_empty() && t.chars().all(|c| c.is_ascii_digit()))) {
            Limit::parse(t, 1024).map(|s| (s, None))
        } else {
            None
        };
        if let Some((soft, hard)) = found {
            out.push(Memlock { soft, hard, line: (*l).clone() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<LogLine> {
        super::super::kernel_log::plain_lines(text, "limits.txt")
    }

    #[test]
    fn every_wording() {
        let bash = lines("core file size              (blocks, -c) 0\nmax locked memory           (kbytes, -l) 5128731\nopen files                          (-n) 1024\n");
        let m = parse(&bash.iter().collect::<Vec<_>>());
        assert_eq!((m.len(), m[0].soft, m[0].line.line_no), (1, Limit::Bytes(5128731 * 1024), 2));
        let zsh = lines("-l: locked-in-memory size (kbytes) 64\n");
        assert_eq!(parse(&zsh.iter().collect::<Vec<_>>())[0].soft, Limit::Bytes(64 * 1024));
        let pr = lines("RESOURCE DESCRIPTION                         SOFT    HARD UNITS\nMEMLOCK  max locked-in-memory address space 8388608 8388608 bytes\n");
        let m = parse(&pr.iter().collect::<Vec<_>>());
        assert_eq!((m[0].soft, m[0].hard), (Limit::Bytes(8388608), Some(Limit::Bytes(8388608))));
        let proc = lines("Limit                     Soft Limit           Hard Limit           Units\nMax locked memory         unlimited            unlimited            bytes\n");
        assert_eq!(parse(&proc.iter().collect::<Vec<_>>())[0].soft, Limit::Unlimited);
        assert_eq!(parse(&lines("65536\n").iter().collect::<Vec<_>>())[0].soft.human(), "64 MiB");
        assert!(parse(&lines("hello 12\n").iter().collect::<Vec<_>>()).is_empty());
    }
}
