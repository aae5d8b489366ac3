//! `vfio-doctor rules`: the catalog as a table (or JSON).

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use super::emit;
use crate::rules::Catalog;
use crate::Error;

pub fn run(json: bool) -> Result<(), Error> {
    let catalog = Catalog::builtin()?;
    if json {
        let list: Vec<serde_json::Value> = catalog
            .rules()
            .iter()
            .map(|r| {
                serde_json::json!({
                    "code": r.code, "name": r.name, "severity": r.severity, "title": r.title,
                    "needs": r.needs.iter().map(|any| any.iter().map(|k| k.name()).collect::<Vec<_>>().join("|")).collect::<Vec<_>>(),
                    "uses": r.uses.iter().map(|any| any.iter().map(|k| k.name()).collect::<Vec<_>>().join("|")).collect::<Vec<_>>(),
                    "kind": if r.patterns.is_empty() { "logic" } else { "pattern" },
                    "severity_when": r.severity_when.iter().map(|(s, why)| serde_json::json!({"severity": s, "when": why})).collect::<Vec<_>>(),
                    "status": if r.retired { "retired" } else { "stable" },
                })
            })
            .collect();
        return emit(&(serde_json::to_string_pretty(&list).unwrap_or_default() + "\n"), None);
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(crate::report::text::Style::detect().width)
        .set_header(vec!["code", "name", "severity", "title"]);
    for r in catalog.rules() {
        let name = if r.retired { format!("{} (retired)", r.name) } else { r.name.clone() };
        table.add_row(vec![r.code.clone(), name, r.severity_text(), r.title.clone()]);
    }
    // Codes and names are what a user types after `explain`: never broken across lines.
    for i in [0, 1] {
        if let Some(c) = table.column_mut(i) {
            c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
        }
    }
    table.force_no_tty();
    emit(&format!("{table}\n{} rules. `vfio-doctor explain NAME` prints one.\n", catalog.rules().len()), None)
}

/// `rules --patterns` / `--literals`: the signature set long logs are captured with, one regex
/// (or prefilter literal) a line, so other tools (ripgrep in bench/compare.sh) can use the same.
pub fn signatures(literals: bool) -> Result<(), Error> {
    let set = crate::rules::signatures(&Catalog::builtin()?);
    if literals {
        return emit(&set.literals().iter().map(|l| format!("{l}\n")).collect::<String>(), None);
    }
    // Capture names are dropped: `rg -f` joins the lines into one regex, where two
    // `(?P<device>…)` would clash.
    let named = regex::Regex::new(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>").map_err(|e| Error::Usage(e.to_string()))?;
    emit(&set.patterns().iter().map(|p| format!("{}\n", named.replace_all(p, "(?:"))).collect::<String>(), None)
}
