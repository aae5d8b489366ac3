//! Remediation and rule-document Markdown rendered for the HTML page and the terminal, parsed by
//! pulldown-cmark (CommonMark) so emphasis, nested lists and code blocks come out as a reader
//! expects. The text is untrusted (a rule from `--rules DIR`, a device name from a paste): in
//! HTML every raw HTML tag is shown as text and only https links become links; on a terminal
//! control characters are neutralised.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// Markdown to an HTML fragment. Raw HTML (inline or block) is escaped and shown as text
/// (a block as preformatted text), images become their alt text, and a link whose target is
/// not `https://` keeps its text but loses the link.
pub fn to_html(md: &str) -> String {
    let mut in_dropped_link = false;
    let events = Parser::new_ext(md, OPTIONS).filter_map(move |ev| match ev {
        Event::Html(s) | Event::InlineHtml(s) => Some(Event::Text(s)),
        Event::Start(Tag::HtmlBlock) => Some(Event::Start(Tag::CodeBlock(CodeBlockKind::Indented))),
        Event::End(TagEnd::HtmlBlock) => Some(Event::End(TagEnd::CodeBlock)),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::Link { ref dest_url, .. }) => {
            if is_safe_link(dest_url) {
                Some(ev)
            } else {
                in_dropped_link = true;
                None
            }
        }
        Event::End(TagEnd::Link) if in_dropped_link => {
            in_dropped_link = false;
            None
        }
        other => Some(other),
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

/// Only plain https URLs become `<a href>` (no `javascript:`, no `data:`, no local file).
pub fn is_safe_link(url: &str) -> bool {
    url.starts_with("https://") && !url.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '<' || c == '>')
}

/// How the terminal shows emphasis: with ANSI attributes, or as plain text.
#[derive(Debug, Clone, Copy)]
pub struct Term {
    pub color: bool,
    pub width: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Look {
    bold: bool,
    underline: bool,
}

/// One piece of a word: its text and how it looks.
type Piece = (String, Look);

/// Markdown for a terminal, every line prefixed with `indent`: paragraphs and list items
/// re-wrapped to `width` (hanging indent under the marker, nested lists indented under their
/// item), `**strong**` bold and `*emphasis*` underlined with colour on and plain without,
/// `inline code` kept with its backticks as one unbreakable word, code blocks and raw HTML/XML
/// blocks kept line for line (a user copies them).
pub fn to_terminal(md: &str, indent: &str, term: Term) -> String {
    let mut r = TermRenderer { term, out: String::new(), words: Vec::new(), cur: Vec::new(), look: Look::default(), code: None, lists: Vec::new(), pending_marker: None, prefix: indent.to_string(), blank: false, link: None };
    // A table is shown as written, row by row: the columns of a rule's table line up there.
    let mut table_until: Option<usize> = None;
    for (ev, range) in Parser::new_ext(md, OPTIONS).into_offset_iter() {
        if let Some(end) = table_until {
            if range.end <= end {
                continue;
            }
            table_until = None;
        }
        if let Event::Start(Tag::Table(_)) = ev {
            r.block_start();
            for line in clean(&md[range.clone()]).lines() {
                r.out.push_str(format!("{}{}", r.prefix, line.trim()).trim_end());
                r.out.push('\n');
            }
            r.blank = true;
            table_until = Some(range.end);
            continue;
        }
        r.event(ev);
    }
    r.flush();
    r.out
}

/// CommonMark plus tables, which GitHub and Reddit both have.
const OPTIONS: Options = Options::ENABLE_TABLES;

struct List {
    next: Option<u64>,
    /// The prefix (indent) of the item's content, set when an item starts.
    content: String,
    outer: String,
}

struct TermRenderer {
    term: Term,
    out: String,
    /// Words of the paragraph being built; `cur` is the word being built.
    words: Vec<Vec<Piece>>,
    cur: Vec<Piece>,
    look: Look,
    /// Inside a code block: its text so far.
    code: Option<String>,
    lists: Vec<List>,
    /// The marker (`1. `, `- `) the next block's first line starts with.
    pending_marker: Option<String>,
    /// The indent of the current block's lines.
    prefix: String,
    /// A blank line is due before the next block.
    blank: bool,
    /// The URL of the link being read, shown after its text when it differs.
    link: Option<String>,
}

impl TermRenderer {
    fn event(&mut self, ev: Event<'_>) {
        match ev {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => {
                if let Some(code) = &mut self.code {
                    code.push_str(&t);
                } else {
                    self.text(&t);
                }
            }
            Event::Code(t) => {
                let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
                let tick = if t.contains('`') { "`` " } else { "`" };
                let close = if t.contains('`') { " ``" } else { "`" };
                self.cur.push((format!("{tick}{}{close}", clean(&t)), self.look));
            }
            Event::Html(t) | Event::InlineHtml(t) => {
                if let Some(code) = &mut self.code {
                    code.push_str(&t);
                } else {
                    self.text(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => self.end_word(),
            Event::Rule => {
                self.block_start();
                let w = self.term.width.saturating_sub(self.prefix.chars().count()).min(40);
                self.out.push_str(&format!("{}{}\n", self.prefix, "─".repeat(w)));
                self.blank = true;
            }
            _ => self.text(&ev_text(&ev)),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph | Tag::Heading { .. } => self.block_start(),
            Tag::CodeBlock(_) | Tag::HtmlBlock => {
                self.block_start();
                self.code = Some(String::new());
            }
            Tag::List(first) => {
                self.flush();
                if self.blank {
                    self.out.push('\n');
                }
                self.blank = false;
                let outer = self.prefix.clone();
                self.lists.push(List { next: first, content: outer.clone(), outer });
            }
            Tag::Item => {
                self.flush();
                let Some(list) = self.lists.last_mut() else { return };
                let marker = match &mut list.next {
                    Some(n) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    None => "- ".to_string(),
                };
                list.content = format!("{}{}", list.outer, " ".repeat(marker.chars().count()));
                self.prefix = list.outer.clone();
                self.pending_marker = Some(marker);
            }
            Tag::Strong => self.look.bold = true,
            Tag::Emphasis => self.look.underline = true,
            Tag::Link { dest_url, .. } => self.link = Some(dest_url.to_string()),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => {
                self.flush();
                self.blank = true;
            }
            TagEnd::Heading(_) => {
                for w in self.words.iter_mut().chain(std::iter::once(&mut self.cur)) {
                    for p in w.iter_mut() {
                        p.1.bold = true;
                    }
                }
                self.flush();
                self.blank = true;
            }
            TagEnd::CodeBlock | TagEnd::HtmlBlock => {
                let code = self.code.take().unwrap_or_default();
                let first = self.take_first_prefix();
                let rest = self.prefix.clone();
                let code = clean(&code);
                // Code goes two columns in from the prose around it.
                for (i, line) in code.trim_end_matches('\n').lines().enumerate() {
                    let p = if i == 0 { &first } else { &rest };
                    let line = format!("{p}  {line}");
                    self.out.push_str(line.trim_end());
                    self.out.push('\n');
                }
                self.blank = true;
            }
            TagEnd::Item => {
                self.flush();
                if let Some(list) = self.lists.last() {
                    self.prefix = list.outer.clone();
                }
            }
            TagEnd::List(_) => {
                self.flush();
                if let Some(list) = self.lists.pop() {
                    self.prefix = list.outer;
                }
                // Back in the enclosing item: its content indent.
                if let Some(list) = self.lists.last() {
                    self.prefix = list.content.clone();
                }
                self.blank = true;
            }
            TagEnd::Strong => self.look.bold = false,
            TagEnd::Emphasis => self.look.underline = false,
            TagEnd::Link => {
                if let Some(url) = self.link.take() {
                    let text: String = self.words.iter().chain(std::iter::once(&self.cur)).flatten().map(|p| p.0.as_str()).collect();
                    if !text.ends_with(url.as_str()) {
                        self.end_word();
                        self.cur.push((format!("<{}>", clean(&url)), Look::default()));
                    }
                }
            }
            _ => {}
        }
    }

    /// A block begins: finish the paragraph before it, and leave a blank line when one is due.
    fn block_start(&mut self) {
        self.flush();
        if self.blank {
            self.out.push('\n');
            self.blank = false;
        }
        if let Some(list) = self.lists.last() {
            if self.pending_marker.is_none() {
                self.prefix = list.content.clone();
            }
        }
    }

    /// The first line's prefix: the list marker when a new item starts here.
    fn take_first_prefix(&mut self) -> String {
        match self.pending_marker.take() {
            Some(m) => {
                let first = format!("{}{m}", self.prefix);
                if let Some(list) = self.lists.last() {
                    self.prefix = list.content.clone();
                }
                first
            }
            None => self.prefix.clone(),
        }
    }

    fn text(&mut self, t: &str) {
        let t = clean(t);
        let mut parts = t.split(char::is_whitespace).peekable();
        while let Some(part) = parts.next() {
            if !part.is_empty() {
                match self.cur.last_mut() {
                    Some(last) if last.1 == self.look => last.0.push_str(part),
                    _ => self.cur.push((part.to_string(), self.look)),
                }
            }
            if parts.peek().is_some() {
                self.end_word();
            }
        }
    }

    fn end_word(&mut self) {
        if !self.cur.is_empty() {
            self.words.push(std::mem::take(&mut self.cur));
        }
    }

    /// Write the paragraph being built, filled to the width.
    fn flush(&mut self) {
        self.end_word();
        if self.words.is_empty() {
            return;
        }
        if self.blank && self.pending_marker.is_some() {
            self.blank = false;
        }
        let first = self.take_first_prefix();
        let rest = self.prefix.clone();
        let words = std::mem::take(&mut self.words);
        self.out.push_str(&fill(&words, &first, &rest, self.term.width, self.term.color));
    }
}

fn ev_text(ev: &Event<'_>) -> String {
    match ev {
        Event::FootnoteReference(s) => format!("[{s}]"),
        Event::TaskListMarker(done) => if *done { "[x]" } else { "[ ]" }.to_string(),
        _ => String::new(),
    }
}

fn width_of(word: &[Piece]) -> usize {
    word.iter().map(|p| p.0.chars().count()).sum()
}

fn paint(word: &[Piece], color: bool) -> String {
    let mut s = String::new();
    for (text, look) in word {
        if color && (look.bold || look.underline) {
            let code = match (look.bold, look.underline) {
                (true, true) => "1;4",
                (true, false) => "1",
                _ => "4",
            };
            s.push_str(&format!("\x1b[{code}m{text}\x1b[0m"));
        } else {
            s.push_str(text);
        }
    }
    s
}

/// Fill words into lines of at most `width` columns (a longer word gets a line of its own).
fn fill(words: &[Vec<Piece>], first: &str, rest: &str, width: usize, color: bool) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut len = first.chars().count();
    let mut empty = true;
    for w in words {
        let wl = width_of(w);
        if !empty && len + 1 + wl > width {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            len = rest.chars().count();
            empty = true;
        }
        if !empty {
            line.push(' ');
            len += 1;
        }
        line.push_str(&paint(w, color));
        len += wl;
        empty = false;
    }
    if !empty {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Text with terminal control characters (ESC, BEL, CR, …) made visible as `�`, so a hostile
/// line cannot move the cursor, retitle the window or hide the text after it.
pub fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() && c != '\n' && c != '\t' { '\u{fffd}' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = "The framebuffer sits in BAR 1.\n\n\
        1. **Make the host boot on another GPU**: set the primary display in the firmware setup.\n\
        2. Or hide it from the VM's firmware ({edit}):\n\n   ```xml\n   <rom bar='off'/>\n   ```\n\n   \
        - a nested *point*\n   - another\n\
        3. Then check `grep -A3 0000:08:00.0 /proc/iomem`.\n";

    #[test]
    fn html_renders_emphasis_nested_lists_and_code() {
        let h = to_html(FIX);
        assert!(h.contains("<strong>Make the host boot on another GPU</strong>"), "{h}");
        assert!(!h.contains("**"), "{h}");
        assert!(h.contains("<pre><code class=\"language-xml\">&lt;rom bar='off'/&gt;\n</code></pre>"), "{h}");
        // The XML block and the nested list sit inside step 2's <li>.
        let step2 = &h[h.find("Or hide it").unwrap()..];
        let end = step2.find("</li>\n<li>").unwrap();
        assert!(step2[..end].contains("<pre>") && step2[..end].contains("<ul>"), "{h}");
        assert!(h.contains("<em>point</em>"), "{h}");
        assert!(h.contains("<code>grep -A3 0000:08:00.0 /proc/iomem</code>"), "{h}");
    }

    #[test]
    fn html_escapes_raw_html_and_unsafe_links() {
        let h = to_html("Hi <script>alert(1)</script> <img src=x onerror=alert(2)>\n\n<iframe src=\"https://evil\"></iframe>\n\n[x](javascript:alert(3)) [ok](https://example.com) ![i](https://t/p.png)");
        assert!(!h.contains("<script") && !h.contains("<img") && !h.contains("<iframe"), "{h}");
        assert!(h.contains("&lt;script&gt;") && h.contains("&lt;iframe"), "{h}");
        assert!(!h.contains("javascript:"), "{h}");
        assert!(h.contains("<a href=\"https://example.com\">ok</a>"), "{h}");
    }

    #[test]
    fn terminal_emphasis_plain_and_coloured() {
        let plain = to_terminal(FIX, "    ", Term { color: false, width: 80 });
        assert!(!plain.contains("**") && !plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("    1. Make the host boot on another GPU: set the primary display in the"), "{plain}");
        let color = to_terminal(FIX, "    ", Term { color: true, width: 80 });
        assert!(color.contains("\x1b[1mMake\x1b[0m \x1b[1mthe\x1b[0m"), "{color:?}");
        assert!(color.contains("\x1b[4mpoint\x1b[0m"), "{color:?}");
    }

    #[test]
    fn terminal_nests_code_and_lists_under_their_step() {
        let t = to_terminal(FIX, "  ", Term { color: false, width: 80 });
        assert!(t.contains("\n  2. Or hide it from the VM's firmware ({edit}):\n\n       <rom bar='off'/>\n\n     - a nested point\n     - another\n\n  3."), "{t}");
        assert!(t.contains("  3. Then check `grep -A3 0000:08:00.0 /proc/iomem`."), "{t}");
        for line in to_terminal(FIX, "  ", Term { color: false, width: 40 }).lines() {
            assert!(line.chars().count() <= 40 || line.contains('`'), "{line:?}");
        }
    }

    #[test]
    fn tables_are_tables() {
        let md = "Options:\n\n| option | effect |\n|---|---|\n| `a` | one *b* |\n\nDone.";
        assert!(to_html(md).contains("<table>"), "{}", to_html(md));
        let t = to_terminal(md, "  ", Term { color: false, width: 80 });
        assert_eq!(t, "  Options:\n\n  | option | effect |\n  |---|---|\n  | `a` | one *b* |\n\n  Done.\n");
    }

    #[test]
    fn terminal_tight_lists_stay_tight() {
        let t = to_terminal("Steps:\n\n1. one\n2. two\n   - a\n   - b\n3. three\n\nDone.", "", Term { color: false, width: 80 });
        assert_eq!(t, "Steps:\n\n1. one\n2. two\n   - a\n   - b\n3. three\n\nDone.\n");
    }

    #[test]
    fn terminal_control_characters_are_neutralised() {
        let out = to_terminal("evil \x1b]0;owned\x07 title\n```\nrm \x1b[2J\n```", "  ", Term { color: false, width: 80 });
        assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    }
}
