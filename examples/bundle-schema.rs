//! Prints the bundle's JSON Schema, generated from the types:
//! `cargo run --example bundle-schema > schema/bundle.schema.json` regenerates the shipped file
//! (or `UPDATE_SCHEMA=1 cargo test --test schema`). tests/schema.rs fails when it is stale.

fn main() {
    print!("{}", vfio_doctor::bundle::schema::json());
}
