//! Keeping a long text small as it streams by (a QEMU log can be gigabytes of one line): its
//! head and its tail within caps (the tail in a sliding window), and from the middle every line
//! that matches a known signature, identical messages (timestamps stripped) folded into one
//! with a count and their first and last line. What was left out is counted in a [`Cut`], with
//! what a reader needs to give kept lines their original line numbers back.

use std::collections::HashMap;
use std::io::Read;

use crate::bundle::{Cut, Folded};
use crate::signatures::SignatureSet;

/// How much of one text a bundle keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Bytes of the beginning kept verbatim (cut back to a line end).
    pub head: usize,
    /// Bytes of the end kept verbatim (from a line start).
    pub tail: usize,
    /// Bytes of distinct signature lines kept from between head and tail.
    pub middle: usize,
}

/// Logs (kernel, QEMU, Xorg, journal, pasted text): a small head and tail, and the signature
/// lines between them. A whole bundle with a few huge logs stays a few MB.
pub const LOG_CAPS: Caps = Caps { head: 1024 * 1024, tail: 1024 * 1024, middle: 512 * 1024 };

/// Other text (configuration, domain XML): kept whole up to 4 MiB, else head and tail.
pub const FILE_CAPS: Caps = Caps { head: 2 * 1024 * 1024, tail: 2 * 1024 * 1024, middle: 0 };

/// Lines longer than this are never matched (no signature is that long; it bounds the work).
const MAX_LINE: usize = 16 * 1024;

/// The window is slid (and the middle scanned) when it holds this much beyond the tail cap,
/// so each byte is moved at most once and scanned in large runs.
const SLIDE: usize = 4 * 1024 * 1024;

/// Candidate messages that matched no signature, remembered so that repeats cost one lookup.
const REJECTED_MEMORY: usize = 64 * 1024;

/// A region at least this long is searched for candidate lines in two halves at once, the
/// second on another thread, where the machine has more than one: the prefilter's search is
/// most of a long log's time, and its cost grows with the signature count.
const PARALLEL_REGION: usize = 1024 * 1024;

/// [`PARALLEL_REGION`], or never on a machine (or CPU set) of one core.
fn parallel_region() -> usize {
    static FROM: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *FROM.get_or_init(|| if std::thread::available_parallelism().is_ok_and(|n| n.get() > 1) { PARALLEL_REGION } else { usize::MAX })
}

/// What a capture kept: the head and tail bytes (the whole text when nothing was cut), and
/// the [`Cut`] that records the rest.
#[derive(Debug)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub cut: Option<Cut>,
}

impl Captured {
    /// As text (invalid UTF-8 replaced).
    pub fn into_text(self) -> (String, Option<Cut>) {
        let text = match String::from_utf8(self.bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        (text, self.cut)
    }
}

/// Capture all of `reader`. A reader that would block (a FIFO, a device) ends the text.
pub fn capture_reader(mut reader: impl Read, caps: Caps, keep: &SignatureSet) -> std::io::Result<Captured> {
    let mut c = Capture::new(caps, keep);
    let mut chunk = vec![0u8; READ_CHUNK];
    while !c.head_full {
        match reader.read(&mut chunk) {
            Ok(0) => return Ok(c.finish()),
            Ok(n) => c.feed(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(c.finish()),
            Err(e) => return Err(e),
        }
    }
    drop(chunk);
    // Past the head, straight into the window: each byte is copied once (by the kernel).
    loop {
        let before = c.window.len();
        let read = (&mut reader).take(READ_CHUNK as u64).read_to_end(&mut c.window);
        let n = c.window.len() - before;
        c.total_bytes += n as u64;
        if c.window.len() >= c.caps.tail + c.slide_every {
            c.slide(true);
        }
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(c.finish())
}

/// Bytes asked of a reader at a time.
const READ_CHUNK: usize = 256 * 1024;

/// Capture text already in memory.
pub fn capture_bytes(bytes: &[u8], caps: Caps, keep: &SignatureSet) -> Captured {
    let mut c = Capture::new(caps, keep);
    c.feed(bytes);
    c.finish()
}

/// A capture in progress: feed it bytes in any pieces, then [`finish`](Capture::finish).
pub struct Capture<'k> {
    caps: Caps,
    keep: &'k SignatureSet,
    head: Vec<u8>,
    head_full: bool,
    head_lines: u64,
    /// Everything after the head not yet slid out: the tail-to-be.
    window: Vec<u8>,
    /// 0-based number of the original line the window starts in.
    window_line: u64,
    /// The window starts inside a line (one longer than the window was split).
    window_mid_line: bool,
    /// Whether anything was slid out of the window (so head and tail are not contiguous).
    slid: bool,
    total_bytes: u64,
    folds: Folds,
    /// [`SLIDE`]; smaller in tests, to slide often.
    slide_every: usize,
}

impl<'k> Capture<'k> {
    pub fn new(caps: Caps, keep: &'k SignatureSet) -> Capture<'k> {
        Capture {
            caps,
            keep,
            head: Vec::new(),
            head_full: false,
            head_lines: 0,
            window: Vec::new(),
            window_line: 0,
            window_mid_line: false,
            slid: false,
            total_bytes: 0,
            folds: Folds { parallel_from: parallel_region(), ..Folds::default() },
            slide_every: SLIDE,
        }
    }

    pub fn feed(&mut self, mut bytes: &[u8]) {
        self.total_bytes += bytes.len() as u64;
        if !self.head_full {
            let room = self.caps.head - self.head.len();
            if bytes.len() <= room {
                self.head.extend_from_slice(bytes);
                return;
            }
            self.head.extend_from_slice(&bytes[..room]);
            bytes = &bytes[room..];
            // The head ends at its last line end; the rest of that line starts the window.
            let end = memchr::memrchr(b'\n', &self.head).map(|i| i + 1).unwrap_or(0);
            self.window = self.head.split_off(end);
            self.head_full = true;
            self.head_lines = count_lines(&self.head);
            self.window_line = self.head_lines;
        }
        self.window.extend_from_slice(bytes);
        if self.window.len() >= self.caps.tail + self.slide_every {
            self.slide(true);
        }
    }

    /// Move everything but the last `tail` bytes (from a line start) out of the window,
    /// scanning it for signature lines. With `split_lines`, a line longer than the whole window
    /// is split (memory stays bounded); without, the window keeps it.
    fn slide(&mut self, split_lines: bool) {
        let Some(from) = self.window.len().checked_sub(self.caps.tail).filter(|&f| f > 0) else { return };
        let at_line = memchr::memchr(b'\n', &self.window[from..])
            .map(|i| from + i + 1)
            .or_else(|| memchr::memrchr(b'\n', &self.window[..from]).map(|i| i + 1));
        let cut = match at_line {
            Some(c) => c,
            None if split_lines => from,
            None => return,
        };
        if cut == 0 {
            return;
        }
        let region = &self.window[..cut];
        self.window_line += self.folds.scan(region, self.window_line, self.window_mid_line, self.keep, self.caps.middle);
        self.window_mid_line = region.last() != Some(&b'\n');
        self.slid = true;
        self.window.drain(..cut);
    }

    pub fn finish(mut self) -> Captured {
        if !self.head_full {
            return Captured { bytes: self.head, cut: None };
        }
        while self.window.len() > self.caps.tail {
            let before = self.window.len();
            self.slide(false);
            if self.window.len() == before {
                break;
            }
        }
        if self.window_mid_line {
            // The tail starts with the end of a line whose beginning was cut: leave it out too.
            let end = memchr::memchr(b'\n', &self.window).map(|i| i + 1).unwrap_or(self.window.len());
            self.window_line += 1;
            self.window.drain(..end);
        }
        let partial_last_line = u64::from(!ends_line(&self.head, &self.window));
        let original_lines = self.window_line + count_lines(&self.window) + partial_last_line;
        let mut bytes = self.head;
        bytes.extend_from_slice(&self.window);
        if !self.slid {
            return Captured { bytes, cut: None };
        }
        let (folded, unkept_matches) = self.folds.into_folded();
        let cut = Cut {
            original_bytes: self.total_bytes,
            original_lines,
            kept_bytes: bytes.len() as u64,
            cut_lines: self.window_line - self.head_lines,
            folded,
            head_lines: Some(self.head_lines),
            tail_first_line: Some(self.window_line + 1),
            unkept_matches,
        };
        Captured { bytes, cut: Some(cut) }
    }
}

/// Whether the text (head then window) ends with a line end (or is empty).
fn ends_line(head: &[u8], window: &[u8]) -> bool {
    match window.last().or(head.last()) {
        Some(b) => *b == b'\n',
        None => true,
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// Message-keyed maps: one lookup per candidate line, so the hash is a fast one (seeded per
/// process, so a crafted log cannot count on collisions).
type Messages<V> = HashMap<Box<[u8]>, V, foldhash::fast::RandomState>;

/// What became of a candidate message the first time it was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Kept, as this entry.
    Kept(usize),
    /// No signature matches it.
    Rejected,
}

/// Signature lines from the middle, folded by message.
#[derive(Default)]
struct Folds {
    entries: Vec<Entry>,
    /// Kept messages, and up to [`REJECTED_MEMORY`] rejected ones.
    seen: Messages<Seen>,
    rejected: usize,
    /// Messages with their `0x…` numbers masked, for folding once the budget is spent.
    by_shape: Messages<usize>,
    /// Reused for each line's shape: nothing is allocated per line.
    shape: Vec<u8>,
    bytes: usize,
    /// The last candidate message looked up, and what it was: a run of one message (a flood)
    /// costs a comparison per line.
    last: Vec<u8>,
    last_seen: Option<Seen>,
    unkept: u64,
    /// [`parallel_region`]; smaller in tests.
    parallel_from: usize,
}

struct Entry {
    line: Box<[u8]>,
    count: u64,
    similar: u64,
    first: u64,
    last: u64,
}

impl Folds {
    /// Find the signature lines of `region` (whole lines, the first of which is original line
    /// `first_line` + 1, 0-based `first_line`; when `mid_line`, the region starts inside a line).
    /// Returns the number of line ends in `region`.
    fn scan(&mut self, region: &[u8], first_line: u64, mid_line: bool, keep: &SignatureSet, budget: usize) -> u64 {
        if keep.is_empty() {
            return count_lines(region);
        }
        let mut pos = 0;
        let mut line = first_line;
        if mid_line {
            let Some(i) = memchr::memchr(b'\n', region) else { return 0 };
            pos = i + 1;
            line += 1;
        }
        // `line` is the 0-based number of the line that starts at `counted`.
        let mut counted = pos;
        let mut visit = |folds: &mut Folds, start: usize, end: usize| {
            line += count_lines(&region[counted..start]);
            counted = start;
            folds.line(&region[start..end], line + 1, keep, budget);
        };
        // The second half starts after a line end: each half's candidate lines are the lines
        // with a hit, as in the whole region (no signature literal spans a line end).
        let half = pos + (region.len() - pos) / 2;
        let split = (region.len() - pos >= self.parallel_from).then(|| memchr::memchr(b'\n', &region[half..]).map(|i| half + i + 1)).flatten();
        match split {
            Some(mid) if mid < region.len() => std::thread::scope(|scope| {
                let second = scope.spawn(|| candidate_lines(keep, &region[mid..], 0).collect::<Vec<_>>());
                for (start, end) in candidate_lines(keep, &region[..mid], pos) {
                    visit(self, start, end);
                }
                let second = second.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                for (start, end) in second {
                    visit(self, mid + start, mid + end);
                }
            }),
            _ => {
                for (start, end) in candidate_lines(keep, region, pos) {
                    visit(self, start, end);
                }
            }
        }
        // `line - first_line` line ends lie before `counted`.
        line - first_line + count_lines(&region[counted..])
    }

    fn line(&mut self, raw: &[u8], line_no: u64, keep: &SignatureSet, budget: usize) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > MAX_LINE {
            return;
        }
        let message = strip_stamp(raw);
        let seen = match self.last_seen {
            Some(seen) if self.last == message => Some(seen),
            _ => self.seen.get(message).copied().inspect(|&seen| self.remember(message, seen)),
        };
        match seen {
            Some(Seen::Kept(i)) => return self.entries[i].bump(line_no, false),
            Some(Seen::Rejected) => return,
            None => {}
        }
        if !keep.matches(raw, message) {
            if self.rejected < REJECTED_MEMORY {
                self.seen.insert(message.into(), Seen::Rejected);
                self.rejected += 1;
                self.remember(message, Seen::Rejected);
            }
            return;
        }
        mask_hex(message, &mut self.shape);
        if self.bytes + raw.len() <= budget {
            let i = self.entries.len();
            self.entries.push(Entry { line: raw.into(), count: 1, similar: 0, first: line_no, last: line_no });
            self.seen.insert(message.into(), Seen::Kept(i));
            self.by_shape.entry(self.shape.as_slice().into()).or_insert(i);
            self.bytes += raw.len();
            self.remember(message, Seen::Kept(i));
            return;
        }
        match self.by_shape.get(self.shape.as_slice()) {
            Some(&i) => self.entries[i].bump(line_no, true),
            None => self.unkept += 1,
        }
    }

    fn remember(&mut self, message: &[u8], seen: Seen) {
        self.last.clear();
        self.last.extend_from_slice(message);
        self.last_seen = Some(seen);
    }

    fn into_folded(self) -> (Vec<Folded>, u64) {
        let folded = self
            .entries
            .into_iter()
            .map(|e| Folded {
                line: String::from_utf8_lossy(&e.line).into_owned(),
                count: e.count,
                first_line: e.first,
                last_line: e.last,
                similar: e.similar,
            })
            .collect();
        (folded, self.unkept)
    }
}

impl Entry {
    fn bump(&mut self, line_no: u64, similar: bool) {
        self.count += 1;
        self.similar += u64::from(similar);
        self.last = line_no;
    }
}

/// The lines of `region` (from `pos`, a line start) that hold a prefilter hit, as the range of
/// each without its line end, in order. Stops at a line the region ends inside (a line longer
/// than the window: not a log line).
fn candidate_lines<'a>(keep: &'a SignatureSet, region: &'a [u8], mut pos: usize) -> impl Iterator<Item = (usize, usize)> + 'a {
    let mut candidates = keep.candidates(region);
    std::iter::from_fn(move || {
        let hit = candidates.next_from(pos)?;
        let start = memchr::memrchr(b'\n', &region[pos..hit]).map(|i| pos + i + 1).unwrap_or(pos);
        let end = memchr::memchr(b'\n', &region[hit..]).map(|i| hit + i)?;
        pos = end + 1;
        Some((start, end))
    })
}

/// The message of a log line: without a leading ISO-8601 stamp (QEMU, libvirt, journal
/// `-o short-iso`), syslog stamp and host (`Oct 24 14:18:36 host kernel: `), or bracketed
/// stamp (`[   61.590114] `, `[Tue Aug 26 16:02:52 2025] `, Xorg's `[    20.123] `).
pub fn strip_stamp(line: &[u8]) -> &[u8] {
    let mut rest = line;
    if let Some(n) = iso_stamp(rest).or_else(|| syslog_stamp(rest)) {
        rest = &rest[n..];
    }
    if let Some(n) = bracket_stamp(rest) {
        rest = &rest[n..];
    }
    rest
}

fn digits(s: &[u8], n: usize) -> bool {
    s.len() >= n && s[..n].iter().all(u8::is_ascii_digit)
}

/// `2022-07-21T06:50:56.222055Z `, `2023-05-25 06:28:55.270+0000: `, `2024-05-01T18:22:07+0200 host kernel: `.
fn iso_stamp(s: &[u8]) -> Option<usize> {
    let ok = digits(s, 4)
        && s.get(4) == Some(&b'-')
        && digits(&s[5..], 2)
        && s.get(7) == Some(&b'-')
        && digits(s.get(8..)?, 2)
        && matches!(s.get(10), Some(b'T' | b' '))
        && digits(s.get(11..)?, 2)
        && s.get(13) == Some(&b':')
        && digits(s.get(14..)?, 2)
        && s.get(16) == Some(&b':')
        && digits(s.get(17..)?, 2);
    if !ok {
        return None;
    }
    let mut i = 19;
    let take_digits = |i: &mut usize| {
        while s.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
    };
    if s.get(i) == Some(&b'.') {
        i += 1;
        take_digits(&mut i);
    }
    match s.get(i) {
        Some(b'Z') => i += 1,
        Some(b'+' | b'-') => {
            i += 1;
            take_digits(&mut i);
            if s.get(i) == Some(&b':') && s.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i += 1;
                take_digits(&mut i);
            }
        }
        _ => {}
    }
    if s.get(i) == Some(&b':') {
        i += 1;
    }
    Some(i + after_stamp(&s[i..]))
}

/// `Oct 24 14:18:36 host kernel: ` (journalctl prints the locale's month: `sie`, `déc.`).
fn syslog_stamp(s: &[u8]) -> Option<usize> {
    let month = s.iter().position(|&b| b == b' ').filter(|&n| (2..=6).contains(&n))?;
    if !s[..month].iter().all(|&b| b.is_ascii_alphabetic() || b == b'.' || b >= 0x80) {
        return None;
    }
    let mut i = month + 1;
    if s.get(i) == Some(&b' ') {
        i += 1;
    }
    while s.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let t = s.get(i..)?;
    let ok = t.first() == Some(&b' ') && digits(&t[1..], 2) && t.get(3) == Some(&b':') && digits(t.get(4..)?, 2) && t.get(6) == Some(&b':') && digits(t.get(7..)?, 2);
    if !ok {
        return None;
    }
    let i = i + 9;
    Some(i + after_stamp(&s[i..]))
}

/// After a date: the spaces, and a `host kernel: ` (or `host process[pid]: `) syslog prefix.
fn after_stamp(s: &[u8]) -> usize {
    let spaces = s.iter().take_while(|&&b| b == b' ').count();
    let rest = &s[spaces..];
    // `host kernel: ` — a word, then a word ending in `:`.
    let Some(host) = rest.iter().position(|&b| b == b' ') else { return spaces };
    let after_host = &rest[host + 1..];
    match after_host.iter().position(|&b| b == b' ') {
        Some(tag) if tag > 1 && after_host[tag - 1] == b':' && !after_host[..tag].contains(&b'(') => spaces + host + 1 + tag + 1,
        _ => spaces,
    }
}

/// `[   61.590114] `, `[Tue Aug 26 16:02:52 2025] `.
fn bracket_stamp(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = s.iter().take(40).position(|&b| b == b']')?;
    let inner = &s[1..close];
    let stamp = inner.iter().any(u8::is_ascii_digit) && inner.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'.' | b':'));
    if !stamp {
        return None;
    }
    let mut i = close + 1;
    if s.get(i) == Some(&b' ') {
        i += 1;
    }
    Some(i)
}

/// The message with every `0x…` number replaced by `0x#`, into `out`: lines that differ only
/// in offsets, values or addresses share a shape.
fn mask_hex(message: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < message.len() {
        if message[i] == b'0' && matches!(message.get(i + 1), Some(b'x' | b'X')) && message.get(i + 2).is_some_and(u8::is_ascii_hexdigit) {
            out.extend_from_slice(b"0x#");
            i += 2;
            while message.get(i).is_some_and(u8::is_ascii_hexdigit) {
                i += 1;
            }
            continue;
        }
        out.push(message[i]);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUSY: &str = "qemu-system-x86_64: vfio_region_write(0000:08:00.0:region1+0x345990, 0x13801,8) failed: Device or resource busy";

    fn keep() -> SignatureSet {
        SignatureSet::new([r"vfio_region_write\((?P<device>[0-9a-f:.]+):region(?P<bar>\d+)\+0x[0-9a-f]+, ?0x[0-9a-f]+, ?\d+\) failed: Device or resource busy"])
    }

    fn small() -> Caps {
        Caps { head: 64, tail: 64, middle: 400 }
    }

    #[test]
    fn strips_every_stamp() {
        for (line, msg) in [
            ("2022-07-21T06:50:56.222055Z qemu-system-x86_64: x", "qemu-system-x86_64: x"),
            ("2023-05-25 06:28:55.270+0000: 1234: info : x", "1234: info : x"),
            ("[   61.590114] vfio-pci 0000:08:00.0: BAR 1", "vfio-pci 0000:08:00.0: BAR 1"),
            ("[Tue Aug 26 16:02:52 2025] NVRM: x", "NVRM: x"),
            ("Oct 24 14:18:36 myhost kernel: [    7.020000] AMD-Vi: x", "AMD-Vi: x"),
            ("sie 25 20:19:17 host kernel: vfio-pci x", "vfio-pci x"),
            ("2024-05-01T18:22:07+0200 myhost kernel: DMAR: IOMMU enabled", "DMAR: IOMMU enabled"),
            ("[    20.123] (II) modeset(0): x", "(II) modeset(0): x"),
            ("no stamp here", "no stamp here"),
            ("[", "["),
            ("2022-07-21", "2022-07-21"),
        ] {
            assert_eq!(String::from_utf8_lossy(strip_stamp(line.as_bytes())), msg, "{line}");
        }
    }

    #[test]
    fn short_text_is_kept_whole() {
        let c = capture_bytes(b"a\nb\n", small(), &keep());
        assert_eq!((c.bytes.as_slice(), c.cut), (&b"a\nb\n"[..], None));
    }

    #[test]
    fn head_tail_and_folded_middle_keep_original_line_numbers() {
        let mut text = String::new();
        for i in 1..=1000 {
            match i {
                500..=700 => text.push_str(&format!("2022-07-21T06:50:{:02}.{i:06}Z {BUSY}\n", i % 60)),
                _ => text.push_str(&format!("noise line {i}\n")),
            }
        }
        // Fed in odd pieces, as a pipe delivers them.
        let keep = keep();
        let mut c = Capture::new(Caps { head: 64, tail: 64, middle: 400 }, &keep);
        for piece in text.as_bytes().chunks(7) {
            c.feed(piece);
        }
        let got = c.finish();
        let cut = got.cut.expect("cut");
        let kept = String::from_utf8(got.bytes).unwrap();
        assert!(kept.starts_with("noise line 1\n"));
        assert!(kept.ends_with("noise line 1000\n"));
        let head_lines = cut.head_lines.unwrap();
        assert_eq!(kept.lines().nth(head_lines as usize - 1), Some(format!("noise line {head_lines}").as_str()));
        let tail_first = cut.tail_first_line.unwrap();
        assert_eq!(kept.lines().nth(head_lines as usize), Some(format!("noise line {tail_first}").as_str()));
        assert_eq!(cut.original_lines, 1000);
        assert_eq!(cut.cut_lines, tail_first - 1 - head_lines);
        assert_eq!(cut.folded.len(), 1, "{:?}", cut.folded);
        let f = &cut.folded[0];
        assert_eq!((f.count, f.first_line, f.last_line), (201, 500, 700));
        assert!(f.line.starts_with("2022-07-21T06:50:20.000500Z qemu-system-x86_64: vfio_region_write("));
    }

    #[test]
    fn past_the_budget_lines_fold_by_shape_or_are_counted() {
        let mut text = "head\n".repeat(20);
        for i in 0..300 {
            text.push_str(&format!("vfio_region_write(0000:08:00.0:region1+0x{i:x}, 0x1,8) failed: Device or resource busy\n"));
        }
        text.push_str(&"tail\n".repeat(20));
        let got = capture_bytes(text.as_bytes(), Caps { head: 64, tail: 64, middle: 200 }, &keep());
        let cut = got.cut.expect("cut");
        let total: u64 = cut.folded.iter().map(|f| f.count).sum();
        assert_eq!(total, 300);
        assert!(cut.folded.len() < 5);
        assert!(cut.folded.iter().any(|f| f.similar > 0));
        assert_eq!(cut.unkept_matches, 0);
    }

    #[test]
    fn a_line_longer_than_the_window_is_cut_inside() {
        let mut text = b"first\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 10 * SLIDE));
        text.extend_from_slice(b"\nlast\n");
        let got = capture_bytes(&text, Caps { head: 16, tail: 16, middle: 0 }, &keep());
        let cut = got.cut.expect("cut");
        assert_eq!(String::from_utf8_lossy(&got.bytes), "first\nlast\n");
        assert_eq!((cut.head_lines, cut.tail_first_line, cut.original_lines), (Some(1), Some(3), 3));
    }

    /// Lines the prefilter and the folding could get wrong — two signatures in one line, CRLF,
    /// invalid UTF-8, a literal cut by a feed piece or by the half where a region is split, one
    /// message under several stamps, a candidate no signature matches — kept exactly as a
    /// line-by-line reading of the text keeps them, whatever the pieces and the split.
    #[test]
    fn kept_lines_are_the_lines_a_signature_matches() {
        let patterns = [r"^vfio: Cannot reset device \S+, no available reset mechanism", r"stuck in D\d", r"(?i)group \d+ is not viable", r"Device or resource busy$"];
        let keep = SignatureSet::new(patterns);
        let regexes: Vec<regex::bytes::Regex> = patterns.iter().map(|p| regex::bytes::Regex::new(p).unwrap()).collect();
        let shapes: [&[u8]; 9] = [
            b"2023-05-26T10:00:01.000000Z vfio: Cannot reset device 0000:08:00.1, no available reset mechanism",
            b"[   61.590114] vfio: Unable to power on device, stuck in D3 and Device or resource busy\r",
            b"Oct 24 14:18:36 host kernel: vfio 0000:04:00.0: GROUP 15 IS NOT VIABLE \xff\xfe",
            b"2023-05-26T10:00:02.000000Z vfio: Cannot reset device 0000:08:00.1, no available reset mechanism\r",
            b"noise: Cannot reset device but not at the start, no available reset mechanism",
            b"stuck in Dx: a candidate (literal `stuck in D`) that no signature matches \x80",
            b"\xc3\x28 Device or resource busy",
            b"plain noise line without any literal",
            b"",
        ];
        let mut text: Vec<u8> = Vec::new();
        for i in 0..6000usize {
            text.extend_from_slice(shapes[(i * 7 + i / 13) % shapes.len()]);
            text.push(b'\n');
        }
        let caps = Caps { head: 300, tail: 300, middle: 64 * 1024 };
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        let mut outputs = Vec::new();
        for (piece, parallel_from, slide_every) in [(text.len(), usize::MAX, SLIDE), (1, usize::MAX, 4096), (7, 1000, 4096), (4096, 1, 50_000), (333, 20_000, 100_000)] {
            let mut c = Capture::new(caps, &keep);
            c.slide_every = slide_every;
            c.folds.parallel_from = parallel_from;
            for p in text.chunks(piece) {
                c.feed(p);
            }
            let got = c.finish();
            let cut = got.cut.clone().expect("cut");
            // Line by line: the middle lines a signature matches, by message, in order.
            let (head, tail) = (cut.head_lines.unwrap() as usize, cut.tail_first_line.unwrap() as usize);
            let mut expected: Vec<(String, u64, u64, u64)> = Vec::new();
            for (i, raw) in lines.iter().enumerate().take(tail - 1).skip(head) {
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                let message = strip_stamp(raw);
                if !regexes.iter().any(|r| r.is_match(message) || r.is_match(raw)) {
                    continue;
                }
                let n = i as u64 + 1;
                match expected.iter_mut().find(|e| strip_stamp(e.0.as_bytes()) == strip_stamp(String::from_utf8_lossy(raw).as_bytes())) {
                    Some(e) => (e.1, e.3) = (e.1 + 1, n),
                    None => expected.push((String::from_utf8_lossy(raw).into_owned(), 1, n, n)),
                }
            }
            let folded: Vec<(String, u64, u64, u64)> = cut.folded.iter().map(|f| (f.line.clone(), f.count, f.first_line, f.last_line)).collect();
            assert_eq!(folded, expected, "pieces of {piece}, split from {parallel_from}");
            assert!(folded.len() >= 4 && folded.iter().any(|f| f.0.contains("stuck in D3 and Device or resource busy")));
            outputs.push((got.bytes, cut));
        }
        // Read from a reader that hands out odd pieces (past the head, straight into the window).
        struct Pieces<'a>(&'a [u8], usize);
        impl Read for Pieces<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.1 = self.1 % 997 + 1;
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let read = capture_reader(Pieces(&text, 0), caps, &keep).expect("read");
        outputs.push((read.bytes, read.cut.expect("cut")));
        assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    }

    /// Random texts, caps and piece sizes: every kept line (head, tail, folded) is the original
    /// line of the number the System gives it, and every signature line is kept or counted.
    #[test]
    fn kept_lines_always_carry_their_original_numbers() {
        let keep = SignatureSet::new([r"MATCH \d"]);
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..300 {
            let mut lines: Vec<String> = Vec::new();
            for i in 0..next(400) {
                lines.push(match next(6) {
                    0 => format!("[{i:5}.000000] MATCH {}", next(3)),
                    1 => String::new(),
                    2 => "x".repeat(next(300) as usize),
                    _ => format!("noise {i}"),
                });
            }
            let mut text = lines.join("\n");
            if next(2) == 0 {
                text.push('\n');
            }
            let caps = Caps { head: 1 + next(200) as usize, tail: 1 + next(200) as usize, middle: next(100) as usize };
            let mut c = Capture::new(caps, &keep);
            // Sliding more often than the longest line splits lines: numbers must stay right,
            // but a split line is not matched (in use, only lines over 4 MiB are split).
            let longest = lines.iter().map(String::len).max().unwrap_or(0);
            let splits = next(2) == 0;
            c.slide_every = 1 + next(300) as usize + if splits { 0 } else { longest + 1 };
            // Candidate lines searched in two halves (on two threads) from any region size.
            c.folds.parallel_from = if next(2) == 0 { 1 + next(400) as usize } else { usize::MAX };
            let bytes = text.as_bytes();
            let mut at = 0;
            while at < bytes.len() {
                let n = (1 + next(64) as usize).min(bytes.len() - at);
                c.feed(&bytes[at..at + n]);
                at += n;
            }
            let got = c.finish();
            let (kept_text, cut) = got.into_text();
            let kept = crate::system::kept::Kept::of(&kept_text, cut.as_ref());
            let mut parsed = crate::system::kernel_log::plain_lines(&kept.text, "t");
            kept.renumber(&mut parsed);
            for l in &parsed {
                assert_eq!(lines.get(l.line_no - 1).map(|s| s.as_str()), Some(l.text.as_str()), "line {} of {text:?} with {caps:?}", l.line_no);
            }
            let Some(cut) = cut else {
                assert_eq!(kept_text, text);
                continue;
            };
            assert_eq!(cut.original_lines, text.lines().count() as u64, "{text:?}");
            let (head, tail) = (cut.head_lines.unwrap(), cut.tail_first_line.unwrap());
            let middle_matches = lines.iter().enumerate().filter(|(i, l)| (*i as u64) >= head && (*i as u64) + 1 < tail && l.contains("MATCH")).count() as u64;
            let folded: u64 = cut.folded.iter().map(|f| f.count).sum();
            if !splits {
                assert_eq!(folded + cut.unkept_matches, middle_matches, "{text:?} {caps:?} {cut:?}");
            }
        }
    }
}
