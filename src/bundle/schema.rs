//! The bundle's JSON Schema, generated from the types with schemars and shipped as
//! `schema/bundle.schema.json`; tests/schema.rs fails when the shipped file is stale.

use super::{Bundle, VERSION};

/// The schema as pretty JSON (what `cargo run --example bundle-schema` prints).
pub fn json() -> String {
    let mut schema = schemars::schema_for!(Bundle);
    schema.insert("title".into(), "vfio-doctor bundle".into());
    schema.insert(
        "description".into(),
        format!(
            "What `vfio-doctor collect` writes (bundle format version {VERSION}): what was read from a host or from \
             pasted files, with each source's status. Readers ignore unknown fields and refuse a newer version."
        )
        .into(),
    );
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
