//! Bytes of a loose input → text, or "binary" (option ROMs are told apart before, in rom.rs). Windows writes
//! DxDiag `/t` reports as UTF-16 LE with a BOM; pastes may be UTF-8, UTF-8 with BOM, or
//! Windows-1252; terminal captures carry ANSI colour sequences.

use std::borrow::Cow;

/// What the bytes of an input are.
#[derive(Debug)]
pub enum Content {
    /// Nothing but whitespace.
    Empty,
    Text(String),
    /// Binary that is not a ROM.
    Binary,
}

/// Tell text from binary and decode text to UTF-8 (BOM first, then a NUL-pattern guess for
/// BOM-less UTF-16, then UTF-8, then Windows-1252), with LF line ends. Never panics, odd
/// lengths included.
pub fn decode(bytes: &[u8]) -> Content {
    let text: Cow<'_, str> = if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        text
    } else if let Some(enc) = utf16_without_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(bytes);
        text
    } else {
        if is_binary(bytes) {
            return Content::Binary;
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => {
                let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
                text
            }
        }
    };
    let text = strip_ansi(&text).replace("\r\n", "\n");
    if text.trim().is_empty() {
        return Content::Empty;
    }
    Content::Text(text)
}

/// Whether the bytes are UTF-16 text (by BOM, or by the NUL pattern of its ASCII part).
pub fn is_utf16(bytes: &[u8]) -> bool {
    match encoding_rs::Encoding::for_bom(bytes) {
        Some((enc, _)) => enc != encoding_rs::UTF_8,
        None => utf16_without_bom(bytes).is_some(),
    }
}

/// UTF-16 text without a BOM has a NUL in every other byte of its ASCII part.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let sample = &bytes[..bytes.len().min(4096)];
    if sample.len() < 8 {
        return None;
    }
    let pairs = sample.len() / 2;
    let odd_nul = sample.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    let even_nul = sample.iter().step_by(2).filter(|&&b| b == 0).count();
    if odd_nul * 10 >= pairs * 8 && even_nul * 10 <= pairs {
        Some(encoding_rs::UTF_16LE)
    } else if even_nul * 10 >= pairs * 8 && odd_nul * 10 <= pairs {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

/// NUL bytes, or many control bytes other than tab, newline, CR, form feed and ESC.
fn is_binary(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(64 * 1024)];
    if memchr::memchr(0, sample).is_some() {
        return true;
    }
    let control = sample.iter().filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)).count();
    control * 100 > sample.len() * 5
}

/// Remove ANSI CSI/OSC sequences (`ESC [ … m`, `ESC ] … BEL`) left by `script` or a coloured
/// terminal copy.
fn strip_ansi(text: &str) -> String {
    if !text.contains('\u{1b}') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                // parameters and intermediates, then one final byte in @..~
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str, bom: bool) -> Vec<u8> {
        let mut v = if bom { vec![0xff, 0xfe] } else { Vec::new() };
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    }

    #[test]
    fn utf16_with_and_without_bom_and_odd_length() {
        let s = "------------------\r\nSystem Information\r\n------------------\r\n";
        for bom in [true, false] {
            match decode(&utf16le(s, bom)) {
                Content::Text(t) => assert_eq!(t, s.replace("\r\n", "\n")),
                other => panic!("{other:?}"),
            }
        }
        let mut odd = utf16le(s, true);
        odd.push(0x41);
        assert!(matches!(decode(&odd), Content::Text(t) if t.starts_with("------------------\nSystem")));
    }

    #[test]
    fn binary_latin1_ansi_and_empty() {
        assert!(matches!(decode(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0]), Content::Binary));
        assert!(matches!(decode(b"Ger\xe4t\n"), Content::Text(t) if t == "Gerät\n"));
        assert!(matches!(decode(b"\x1b[01;32muser@host\x1b[00m:~$ lspci\n"), Content::Text(t) if t == "user@host:~$ lspci\n"));
        assert!(matches!(decode(b" \n\t\n"), Content::Empty));
        assert!(matches!(decode(b""), Content::Empty));
    }
}
