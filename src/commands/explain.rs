//! `vfio-doctor explain CODE-OR-NAME`: one rule's documentation, as `rustc --explain` does.

use super::emit;
use crate::rules::Catalog;
use crate::Error;

pub fn run(code_or_name: &str) -> Result<(), Error> {
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
    let mut text = format!("{} ({}), {}{}\n", rule.name, rule.code, rule.severity, if rule.retired { ", retired" } else { "" });
    text.push_str(&format!("{}\n", rule.title));
    if !needs.is_empty() {
        text.push_str(&format!("reads: {}\n", needs.join(", ")));
    }
    let uses: Vec<String> = rule.uses.iter().map(|any| any.iter().map(|k| k.name()).collect::<Vec<_>>().join(" or ")).collect();
    if !uses.is_empty() {
        text.push_str(&format!("corroborates with: {} (without it, findings are likely)\n", uses.join(", ")));
    }
    text.push('\n');
    text.push_str(&rule.body);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    emit(&text, None)
}
