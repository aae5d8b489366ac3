//! `vfio-doctor explain CODE-OR-NAME`: one rule's documentation, as `rustc --explain` does.

use super::emit;
use crate::rules::Catalog;
use crate::Error;

/// `markdown`: the document as written; otherwise rendered for the terminal (headings and
/// emphasis bold with colour on, plain words without; code kept line for line).
pub fn run(code_or_name: &str, markdown: bool) -> Result<(), Error> {
    let catalog = Catalog::builtin()?;
    let Some(rule) = catalog.find(code_or_name) else {
        let mut close: Vec<&str> = catalog
            .rules()
            .iter()
            .filter(|r| r.name.contains(code_or_name) || code_or_name.contains(r.name.as_str()))
            .map(|r| r.name.as_str())
            .collect();
        close.truncate(5);
        let hint = if close.is_empty() { "run `vfio-doctor rules` for the list".to_string() } else { format!("did you mean {}?", close.join(", ")) };
        return Err(Error::Usage(format!("no rule is called \"{code_or_name}\"; {hint}")));
    };
    let needs: Vec<String> = rule.needs.iter().map(|any| any.iter().map(|k| k.name()).collect::<Vec<_>>().join(" or ")).collect();
    let mut text = format!("{} ({}), {}{}\n", rule.name, rule.code, rule.severity_text(), if rule.retired { ", retired" } else { "" });
    text.push_str(&format!("{}\n", rule.title));
    if !needs.is_empty() {
        text.push_str(&format!("reads: {}\n", needs.join(", ")));
    }
    let uses: Vec<String> = rule.uses.iter().map(|any| any.iter().map(|k| k.name()).collect::<Vec<_>>().join(" or ")).collect();
    if !uses.is_empty() {
        text.push_str(&format!("corroborates with: {} (without it, findings are likely)\n", uses.join(", ")));
    }
    for line in relations(&catalog, rule) {
        text.push_str(&format!("{line}\n"));
    }
    text.push('\n');
    if markdown {
        text.push_str(&rule.body);
    } else {
        let style = crate::report::text::Style::detect();
        let term = crate::report::prose::Term { color: style.color, width: style.width as usize };
        text.push_str(&crate::report::prose::to_terminal(&rule.body, "", term));
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    emit(&text, None)
}

/// How this rule's findings link to other rules' (`[[relation]]`, declared on either side), one
/// line each: "explains: bar-reservation-failure (same device)".
fn relations(catalog: &Catalog, rule: &crate::rules::Rule) -> Vec<String> {
    use crate::rules::catalog::{RelationKind, RelationScope};
    let scope = |s: RelationScope| match s {
        RelationScope::Device => "on the same device",
        RelationScope::Subject => "about the same subject",
        RelationScope::Host => "on the same host",
    };
    let mut lines = Vec::new();
    for rel in &rule.relations {
        let verb = match rel.kind {
            RelationKind::Supersedes => "explains (and its fix covers)",
            RelationKind::Related => "see also",
        };
        lines.push(format!("{verb}: {} {}", rel.rule, scope(rel.scope)));
    }
    for other in catalog.rules() {
        for rel in other.relations.iter().filter(|r| r.rule == rule.name) {
            let verb = match rel.kind {
                RelationKind::Supersedes => "explained by",
                RelationKind::Related => "see also",
            };
            lines.push(format!("{verb}: {} {}", other.name, scope(rel.scope)));
        }
    }
    lines
}
