//! The layers of ARCHITECTURE.md, enforced: imports only run downwards,
//! commands → report → rules → system → bundle. A module may name its own layer and any layer
//! below it, never one above. Every `crate::…` path in the source counts (a `use`, a `use
//! crate::{a, b}` group, or a path written inline), and so does a `super::…` chain that climbs
//! out of its layer.
//!
//! The input side (`collect`, `import`) produces bundles for `commands`; `system` and `bundle`
//! must not reach it either. The leaf modules (`error`, `root`, `rom`, `signatures`) depend on
//! no layer and may be used from anywhere.

use std::path::{Path, PathBuf};

/// Rank of each layer: higher may import lower.
const LAYERS: &[(&str, u8)] = &[("bundle", 0), ("system", 1), ("rules", 2), ("report", 3), ("commands", 4)];
/// Modules outside the chain that a layer at or below `system` must not import.
const INPUT_SIDE: &[&str] = &["collect", "import", "untrusted", "cli"];

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate-level modules a line of Rust names: `crate::x`, `crate::{x, y::z}`, and
/// `super::super::x` when the chain of `super`s climbs to the crate root from a module
/// `depth` levels below it.
fn named_modules(code: &str, depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if boundary && rest.starts_with("crate::") {
            let after = rest["crate::".len()..].trim_start();
            if let Some(group) = after.strip_prefix('{') {
                // `crate::{a, b::c, d as e}`: the first segment of each item (nesting inside
                // an item does not matter: it starts with that item's module).
                let mut level = 0;
                let mut item_start = true;
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => level += 1,
                        '}' if level == 0 => break,
                        '}' => level -= 1,
                        ',' if level == 0 => item_start = true,
                        c if item_start && !c.is_whitespace() => {
                            out.push(ident(&group[j..]));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                out.push(ident(after));
            }
            i += "crate::".len();
            continue;
        }
        if boundary && rest.starts_with("super::") {
            let mut ups = 0;
            let mut r = rest;
            while let Some(next) = r.strip_prefix("super::") {
                ups += 1;
                r = next.trim_start();
            }
            if ups >= depth {
                out.push(ident(r));
            }
            i += "super::".len() * ups;
            continue;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out.retain(|m| !m.is_empty());
    out
}

/// The code of a line without its `//` comment (doc comments name modules freely).
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

/// How many modules deep `file` is below the crate root: `src/system/pci.rs` is 2
/// (`crate::system::pci`), `src/system/mod.rs` is 1.
fn depth(src: &Path, file: &Path) -> usize {
    let rel = file.strip_prefix(src).expect("under src");
    let parts = rel.components().count();
    if file.file_name().is_some_and(|n| n == "mod.rs") { parts - 1 } else { parts }
}

fn violations() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (layer, own) in LAYERS {
        let mut files = Vec::new();
        rs_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer} has no Rust file");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            let d = depth(&src, &file);
            for (n, line) in text.lines().enumerate() {
                for m in named_modules(code_of(line), d) {
                    let above = rank(&m).is_some_and(|r| r > *own);
                    let input_side = *own <= 1 && INPUT_SIDE.contains(&m.as_str());
                    if above || input_side {
                        found.push(format!("{}:{}: src/{layer} imports crate::{m}: {}", file.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn imports_only_run_downwards() {
    let found = violations();
    assert!(
        found.is_empty(),
        "a module imports from a layer above it (ARCHITECTURE.md: commands → report → rules → system → bundle):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_sees_every_form_of_path() {
    assert_eq!(named_modules("use crate::rules::Evidence;", 2), ["rules"]);
    assert_eq!(named_modules("use crate::{bundle::Bundle, report::{self, Report}};", 2), ["bundle", "report"]);
    assert_eq!(named_modules("let e = crate::rules::Evidence::new(a, b, c);", 2), ["rules"]);
    assert_eq!(named_modules("use super::super::commands::emit;", 2), ["commands"]);
    // A `super` that stays inside the layer names nothing at the crate level.
    assert!(named_modules("use super::Evidence;", 2).is_empty());
    assert!(named_modules("my_crate::rules::x()", 2).is_empty());
    // A layer above is caught wherever it is written.
    assert_eq!(
        named_modules("fn f() -> crate::report::Report { todo!() }", 1)
            .into_iter()
            .filter(|m| rank(m).is_some_and(|r| r > 1))
            .collect::<Vec<_>>(),
        ["report"]
    );
}
