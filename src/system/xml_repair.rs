//! A domain XML as forums carry it, made parseable without inventing anything: a document cut
//! off by the poster (or a paste limit) is closed after its last complete tag, a tag cut in
//! half is dropped, and the lines posters put in for what they left out (`...`, `[...]`, `…`)
//! are blanked. Line numbers stay those of the paste. What was done is described, for a note.

/// The repaired document and where the original stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    pub text: String,
    /// 1-based line of the last character kept (the end of the last complete tag).
    pub stop_line: usize,
    /// The last element that ended before the cut (`hostdev`, its start line).
    pub last_complete: Option<(String, usize)>,
    /// Elements that were open at the cut, outermost first (closed by the repair).
    pub closed: Vec<String>,
    /// Elision lines blanked (`...`), by line.
    pub elisions: Vec<usize>,
}

impl Repaired {
    /// `stops at line 41, inside <domain> <devices> <hostdev>; the last complete element is
    /// <source> (line 38)`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if !self.closed.is_empty() {
            s.push_str(&format!(
                "the XML stops at line {}, inside {}",
                self.stop_line,
                self.closed.iter().map(|c| format!("<{c}>")).collect::<Vec<_>>().join(" ")
            ));
            if let Some((name, line)) = &self.last_complete {
                s.push_str(&format!("; the last complete element is <{name}> (line {line})"));
            }
            s.push_str("; analysed as far as it goes");
        }
        if !self.elisions.is_empty() {
            if !s.is_empty() {
                s.push_str("; ");
            }
            let lines: Vec<String> = self.elisions.iter().map(|l| l.to_string()).collect();
            s.push_str(&format!("`...` where the poster left something out (line {}) was skipped", lines.join(", ")));
        }
        s
    }
}

fn is_elision(line: &str) -> bool {
    matches!(line.trim(), "..." | "…" | "[...]" | "[…]" | "(...)" | "<!-- ... -->" | "...snip..." | "[snip]")
}

fn name_of(tag: &str) -> &str {
    let end = tag.find(|c: char| c.is_whitespace() || c == '/' || c == '>').unwrap_or(tag.len());
    &tag[..end]
}

/// Repair `xml` (which starts at `<domain`). `None` when there is nothing to repair.
pub fn repair(xml: &str) -> Option<Repaired> {
    // Blank elision lines first, keeping line numbers.
    let mut elisions = Vec::new();
    let mut text = String::with_capacity(xml.len());
    for (i, line) in xml.split_inclusive('\n').enumerate() {
        if is_elision(line) {
            elisions.push(i + 1);
            text.push_str(if line.ends_with('\n') { "\n" } else { "" });
        } else {
            text.push_str(line);
        }
    }
    let b = text.as_bytes();
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut last_complete: Option<(String, usize)> = None;
    // The end (exclusive) of what is kept: after the last complete tag or text.
    let mut keep = 0;
    let mut i = 0;
    let line_at = |pos: usize| text[..pos].matches('\n').count() + 1;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            keep = i;
            continue;
        }
        let rest = &text[i..];
        let end = if rest.starts_with("<!--") {
            rest.find("-->").map(|e| i + e + 3)
        } else if rest.starts_with("<![CDATA[") {
            rest.find("]]>").map(|e| i + e + 3)
        } else if rest.starts_with("<?") {
            rest.find("?>").map(|e| i + e + 2)
        } else {
            // A tag: `>` outside quotes.
            let mut quote: Option<u8> = None;
            let mut found = None;
            for (j, &c) in b[i + 1..].iter().enumerate() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, b'"' | b'\'') => quote = Some(c),
                    (None, b'>') => {
                        found = Some(i + 1 + j + 1);
                        break;
                    }
                    (None, b'<') => break,
                    _ => {}
                }
            }
            found
        };
        let Some(end) = end else { break };
        let tag = &text[i..end];
        if let Some(close) = tag.strip_prefix("</") {
            let name = name_of(close);
            if let Some(pos) = stack.iter().rposition(|(n, _)| n == name) {
                let (n, line) = stack[pos].clone();
                stack.truncate(pos);
                last_complete = Some((n, line));
            }
        } else if !tag.starts_with("<!") && !tag.starts_with("<?") {
            let name = name_of(&tag[1..]).to_string();
            if tag.ends_with("/>") {
                last_complete = Some((name, line_at(i)));
            } else if !name.is_empty() {
                stack.push((name, line_at(i)));
            }
        }
        i = end;
        keep = end;
    }
    let cut = keep < text.len() && !text[keep..].trim().is_empty();
    if stack.is_empty() && elisions.is_empty() && !cut {
        return None;
    }
    let mut out = text[..keep].to_string();
    let stop_line = line_at(keep.max(1).min(text.len()));
    let closed: Vec<String> = stack.iter().map(|(n, _)| n.clone()).collect();
    for (n, _) in stack.iter().rev() {
        out.push_str(&format!("</{n}>"));
    }
    Some(Repaired { text: out, stop_line, last_complete, closed, elisions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_in_a_tag_and_elided() {
        let xml = "<domain type='kvm'>\n  <name>win10</name>\n  <devices>\n    <hostdev mode='subsystem' type='pci' managed='yes'>\n      <source>\n        <address domain='0x0000' bus='0x08' slot='0x00' function='0x0'/>\n      </source>\n    </hostdev>\n    ...\n    <hostdev mode='subsystem' ty";
        let r = repair(xml).expect("repaired");
        assert_eq!(r.closed, vec!["domain", "devices"]);
        assert_eq!(r.last_complete, Some(("hostdev".to_string(), 4)));
        assert_eq!((r.stop_line, r.elisions.clone()), (10, vec![9]));
        assert!(r.text.ends_with("    </devices></domain>") || r.text.ends_with("</devices></domain>"));
        let doc = roxmltree::Document::parse(&r.text).expect("parses");
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("hostdev")).count(), 1);
        assert!(r.describe().starts_with("the XML stops at line 10, inside <domain> <devices>; the last complete element is <hostdev> (line 4)"));
        assert_eq!(repair("<domain><name>x</name></domain>"), None);
        // Quotes with `>` inside and comments.
        let r = repair("<domain><!-- a > b --><name a='x>y'>w</name><devices>").expect("r");
        assert_eq!(r.closed, vec!["domain", "devices"]);
        assert!(roxmltree::Document::parse(&r.text).is_ok());
    }
}
