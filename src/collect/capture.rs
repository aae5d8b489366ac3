//! Keeping a long text small: its head and tail within a cap, the middle counted in a [`Cut`].

use crate::bundle::Cut;

/// How much of one text source a bundle keeps.
pub const TEXT_CAP: u64 = 4 * 1024 * 1024;

/// Decode `bytes` (lossy UTF-8) and, if longer than [`TEXT_CAP`], keep the first and last half
/// at line boundaries. `capped` says the reader already stopped early.
pub fn capture_text(bytes: &[u8], capped: bool) -> (String, Option<Cut>) {
    let total_lines = memchr::memchr_iter(b'\n', bytes).count() as u64;
    if bytes.len() as u64 <= TEXT_CAP && !capped {
        return (String::from_utf8_lossy(bytes).into_owned(), None);
    }
    let half = (TEXT_CAP / 2) as usize;
    let head_end = if bytes.len() > half {
        memchr::memrchr(b'\n', &bytes[..half]).map(|i| i + 1).unwrap_or(half)
    } else {
        bytes.len()
    };
    let tail_start = if bytes.len() > head_end + half {
        let from = bytes.len() - half;
        memchr::memchr(b'\n', &bytes[from..]).map(|i| from + i + 1).unwrap_or(from)
    } else {
        head_end
    };
    let head = &bytes[..head_end];
    let tail = &bytes[tail_start..];
    let cut_lines = memchr::memchr_iter(b'\n', &bytes[head_end..tail_start]).count() as u64;
    let mut text = String::from_utf8_lossy(head).into_owned();
    text.push_str(&String::from_utf8_lossy(tail));
    let cut = Cut {
        original_bytes: bytes.len() as u64,
        original_lines: total_lines,
        kept_bytes: text.len() as u64,
        cut_lines,
        folded: Vec::new(),
    };
    (text, Some(cut))
}
