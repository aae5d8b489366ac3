//! The text of a long log as collection kept it (see `collect::capture`): head, the folded
//! signature lines from the middle, tail — laid out again in the original's line order, with
//! each line's original number and how often it occurred, so evidence cites the real file.

use std::borrow::Cow;

use super::LogLine;
use crate::bundle::Cut;

/// Where a line of the laid-out text came from.
#[derive(Debug, Clone, Copy)]
struct Origin {
    line: usize,
    last: usize,
    count: u64,
}

/// A source's text in original line order, and the original number of each of its lines.
pub struct Kept<'a> {
    pub text: Cow<'a, str>,
    /// `None`: the text is the whole original (or a cut without line information).
    origins: Option<Vec<Origin>>,
}

impl<'a> Kept<'a> {
    pub fn of(text: &'a str, cut: Option<&Cut>) -> Kept<'a> {
        let Some((cut, head_lines, tail_first)) = cut.and_then(|c| Some((c, c.head_lines?, c.tail_first_line?))) else {
            return Kept { text: Cow::Borrowed(text), origins: None };
        };
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let head = (head_lines as usize).min(lines.len());
        let mut folded: Vec<_> = cut.folded.iter().collect();
        folded.sort_by_key(|f| f.first_line);
        let mut out = String::with_capacity(text.len() + folded.iter().map(|f| f.line.len() + 1).sum::<usize>());
        let mut origins = Vec::with_capacity(lines.len() + folded.len());
        for (i, l) in lines[..head].iter().enumerate() {
            push_line(&mut out, l);
            origins.push(Origin { line: i + 1, last: i + 1, count: 1 });
        }
        for f in folded {
            // One line each, whatever a hand-edited bundle holds.
            push_line(&mut out, &f.line.replace(['\n', '\r'], " "));
            origins.push(Origin { line: f.first_line as usize, last: f.last_line as usize, count: f.count.max(1) });
        }
        for (i, l) in lines[head..].iter().enumerate() {
            push_line(&mut out, l);
            let line = tail_first as usize + i;
            origins.push(Origin { line, last: line, count: 1 });
        }
        Kept { text: Cow::Owned(out), origins: Some(origins) }
    }

    /// The original line number of line `n` (1-based) of [`text`](Self::text).
    pub fn line(&self, n: usize) -> usize {
        self.origin(n).map(|o| o.line).unwrap_or(n)
    }

    fn origin(&self, n: usize) -> Option<Origin> {
        self.origins.as_ref()?.get(n.checked_sub(1)?).copied()
    }

    /// Give lines parsed from [`text`](Self::text) their original numbers and counts.
    pub fn renumber(&self, lines: &mut [LogLine]) {
        if self.origins.is_none() {
            return;
        }
        for l in lines {
            if let Some(o) = self.origin(l.line_no) {
                l.line_no = o.line;
                l.last_line_no = o.last;
                l.count = o.count;
            }
        }
    }
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push('\n');
    }
}

/// What a note says about a cut source: how big it was, what was kept and what was left out.
pub fn describe(path: &str, cut: &Cut) -> String {
    let folded: u64 = cut.folded.iter().map(|f| f.count).sum();
    let mut s = format!(
        "{path}: {} in {} lines, too long to keep whole; kept ",
        size(cut.original_bytes),
        cut.original_lines
    );
    match (cut.head_lines, cut.tail_first_line) {
        (Some(head), Some(tail)) => s.push_str(&format!(
            "lines 1-{head} and {tail}-{}, and from between them {folded} line(s) that match known signatures ({} distinct, identical ones counted once)",
            cut.original_lines,
            cut.folded.len()
        )),
        _ => s.push_str("its beginning and end"),
    }
    s.push_str(&format!("; {} line(s) were left out", cut.cut_lines.saturating_sub(folded)));
    if cut.unkept_matches > 0 {
        s.push_str(&format!(", {} of them matching a signature (too many distinct lines to keep)", cut.unkept_matches));
    }
    s
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Folded;

    #[test]
    fn lines_get_their_original_numbers_back() {
        let cut = Cut {
            original_bytes: 1000,
            original_lines: 100,
            kept_bytes: 20,
            cut_lines: 96,
            folded: vec![Folded { line: "busy".into(), count: 40, first_line: 10, last_line: 60, similar: 0 }],
            head_lines: Some(2),
            tail_first_line: Some(99),
            unkept_matches: 0,
        };
        let kept = Kept::of("h1\nh2\nt99\nt100\n", Some(&cut));
        assert_eq!(kept.text, "h1\nh2\nbusy\nt99\nt100\n");
        let mut lines = super::super::kernel_log::plain_lines(&kept.text, "q.log");
        kept.renumber(&mut lines);
        let got: Vec<(usize, u64, usize)> = lines.iter().map(|l| (l.line_no, l.count, l.last_line_no)).collect();
        assert_eq!(got, vec![(1, 1, 1), (2, 1, 2), (10, 40, 60), (99, 1, 99), (100, 1, 100)]);
        assert_eq!(kept.line(4), 99);
        assert!(describe("q.log", &cut).contains("kept lines 1-2 and 99-100, and from between them 40 line(s)"));
    }

    #[test]
    fn whole_text_is_untouched() {
        let kept = Kept::of("a\nb\n", None);
        assert_eq!((kept.text.as_ref(), kept.line(2)), ("a\nb\n", 2));
    }
}
