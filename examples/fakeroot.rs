//! Regenerates the committed fake host roots from their specs:
//! `cargo run --example fakeroot` writes fixtures/hosts/NAME/ for every fixtures/hosts/NAME.toml.
//! tests/scenarios.rs fails when a committed tree differs from what this writes.

#[path = "../tests/support/fakeroot.rs"]
mod fakeroot;

fn main() {
    let hosts = fakeroot::fixtures_dir().join("hosts");
    let mut specs: Vec<_> = std::fs::read_dir(&hosts).expect("fixtures/hosts").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    specs.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    specs.sort();
    for spec_path in specs {
        let name = spec_path.file_stem().expect("name").to_string_lossy().into_owned();
        let out = hosts.join(&name);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).expect("mkdir");
        fakeroot::build(&fakeroot::load_spec(&spec_path), &out);
        println!("wrote {}", out.display());
    }
}
