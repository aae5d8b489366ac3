//! README examples that show vfio-doctor's output are its real output: each code block after a
//! `<!-- output: vfio-doctor ARGS [| head -n N] -->` line is what that command prints today
//! (run from the checkout, 80 columns, no colour; cut to its first N lines, then `…`).
//! `UPDATE_README=1 cargo test --test readme` rewrites the blocks from the real output.

mod support;

const MARK: &str = "<!-- output: vfio-doctor ";

struct Example {
    args: Vec<String>,
    head: Option<usize>,
    /// Byte range of the block's content (between the fence lines) in the README.
    body: std::ops::Range<usize>,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = readme[at..].find(MARK) {
        let start = at + i + MARK.len();
        let end = start + readme[start..].find("-->").expect("marker closed");
        let spec = readme[start..end].trim();
        let (cmd, head) = match spec.split_once("| head -n") {
            Some((c, n)) => (c.trim(), Some(n.trim().parse::<usize>().expect("head -n N"))),
            None => (spec, None),
        };
        let fence_open = end + readme[end..].find("```\n").expect("a code block follows the marker");
        let body_start = fence_open + 4;
        let body_end = if readme[body_start..].starts_with("```\n") {
            body_start
        } else {
            body_start + readme[body_start..].find("\n```\n").expect("code block closed") + 1
        };
        out.push(Example { args: cmd.split_whitespace().map(String::from).collect(), head, body: body_start..body_end });
        at = body_end;
    }
    out
}

fn real_output(e: &Example) -> String {
    let out = support::binary()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(&e.args)
        .env("COLUMNS", "80")
        .env("NO_COLOR", "1")
        .output()
        .expect("run vfio-doctor");
    assert!(matches!(out.status.code(), Some(0 | 1)), "vfio-doctor {}: {}", e.args.join(" "), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    let lines: Vec<&str> = text.lines().collect();
    let mut shown = match e.head {
        Some(n) if n < lines.len() => format!("{}\n…\n", lines[..n].join("\n")),
        _ => lines.iter().map(|l| format!("{l}\n")).collect(),
    };
    if shown.is_empty() {
        shown.push('\n');
    }
    shown
}

#[test]
fn readme_examples_are_real_output() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let examples = examples(&readme);
    assert!(examples.len() >= 3, "README has {} checked examples", examples.len());
    let update = std::env::var_os("UPDATE_README").is_some();
    let mut new = readme.clone();
    let mut stale = Vec::new();
    // From the last block back, so earlier ranges stay valid while rewriting.
    for e in examples.iter().rev() {
        let real = real_output(e);
        if readme[e.body.clone()] != real {
            stale.push(format!("vfio-doctor {}", e.args.join(" ")));
            new.replace_range(e.body.clone(), &real);
        }
    }
    if update {
        if new != readme {
            std::fs::write(&path, new).expect("write README.md");
        }
        return;
    }
    assert!(stale.is_empty(), "README examples differ from the real output of: {stale:?}; run `UPDATE_README=1 cargo test --test readme` and read the diff");
}
