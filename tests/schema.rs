//! The shipped JSON Schema of the bundle (schema/bundle.schema.json) is what the types generate
//! — regenerate with `cargo run --example bundle-schema > schema/bundle.schema.json` or
//! `UPDATE_SCHEMA=1 cargo test --test schema` — and the bundles vfio-doctor writes conform to it.

mod support;

use std::path::PathBuf;

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/bundle.schema.json")
}

#[test]
fn shipped_schema_is_what_the_types_generate() {
    let generated = vfio_doctor::bundle::schema::json();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(shipped(), &generated).expect("write schema/bundle.schema.json");
    }
    let on_disk = std::fs::read_to_string(shipped()).unwrap_or_default();
    assert!(
        on_disk == generated,
        "schema/bundle.schema.json is stale: run `cargo run --example bundle-schema > schema/bundle.schema.json` \
         (or UPDATE_SCHEMA=1 cargo test --test schema) and commit it"
    );
}

#[test]
fn collected_bundles_conform_to_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(shipped()).expect("schema")).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let hosts = support::fixtures().join("hosts");
    let inputs = support::fixtures().join("hosts/secrets-inputs");
    let mut origins: Vec<(String, vfio_doctor::commands::Origin)> = ["seed-b550", "seed-b550-bsod", "firmware-off", "secrets"]
        .iter()
        .map(|h| (h.to_string(), vfio_doctor::commands::Origin { root: Some(hosts.join(h)), redact: true, ..Default::default() }))
        .collect();
    // Loose inputs too: pasted devices, guest reports, a transcript, an option ROM.
    let pastes: Vec<String> = [
        inputs.join("dxdiag.txt"),
        inputs.join("powershell.txt"),
        inputs.join("transcript.txt"),
        support::fixtures().join("inputs/pastes/lspci-nnk-quadro-t500.txt"),
        support::fixtures().join("inputs/pastes/seed-iommu-groups.txt"),
    ]
    .iter()
    .map(|p| p.display().to_string())
    .collect();
    origins.push(("pastes".into(), vfio_doctor::commands::Origin { inputs: pastes, redact: false, ..Default::default() }));
    let mut checked_rom = false;
    if let Some(rom) = std::fs::read_dir(support::fixtures().join("roms")).ok().and_then(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| p.is_file())) {
        origins.push(("rom".into(), vfio_doctor::commands::Origin { inputs: vec![format!("rom:{}", rom.display())], redact: true, ..Default::default() }));
        checked_rom = true;
    }
    assert!(checked_rom, "fixtures/roms has no ROM to check");
    for (name, origin) in origins {
        let bundle = vfio_doctor::commands::obtain_bundle(&origin).unwrap_or_else(|e| panic!("{name}: {e}"));
        let value: serde_json::Value = serde_json::from_str(&vfio_doctor::bundle::to_json(&bundle)).expect("bundle JSON");
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{name}: the bundle does not conform to the schema:\n{}", errors.join("\n"));
    }
}

#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(shipped()).expect("schema")).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let good = serde_json::json!({
        "format": "vfio-doctor-bundle", "version": 1, "tool": {"name": "vfio-doctor", "version": "0.1.0"},
        "collected_at": "2026-01-01T00:00:00Z", "redacted": true,
        "sources": [{"kind": "cmdline", "path": "proc/cmdline", "origin": "file", "status": "ok", "text": "ro quiet\n"}]
    });
    assert!(validator.is_valid(&good));
    assert!(vfio_doctor::bundle::load_str(&good.to_string()).is_ok());
    for (what, bad) in [
        ("another format", serde_json::json!({"format": "something-else"})),
        ("no version", serde_json::json!({"version": null})),
        ("an unknown status", serde_json::json!({"sources": [{"kind": "cmdline", "path": "p", "origin": "file", "status": "lost"}]})),
    ] {
        let mut v = good.clone();
        for (k, x) in bad.as_object().expect("object") {
            v[k] = x.clone();
        }
        assert!(!validator.is_valid(&v), "schema accepts {what}");
        assert!(vfio_doctor::bundle::load_str(&v.to_string()).is_err(), "loader accepts {what}");
    }
}
