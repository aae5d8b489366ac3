//! Benchmarks (issue 7): the log capture — head, tail and the signature lines of a long QEMU
//! log, the hot path of `check` on big logs — and `System::from_bundle` plus the rules on a
//! fixture host. `cargo bench --bench scan`; bench/compare.sh times the whole binary.

#[path = "../examples/qemu_log.rs"]
#[allow(dead_code)]
mod qemu_log;

use std::sync::OnceLock;

use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use vfio_doctor::bundle::Bundle;
use vfio_doctor::collect::{capture_bytes, LOG_CAPS};
use vfio_doctor::commands::{obtain_bundle, Origin};
use vfio_doctor::rules::{self, Catalog};
use vfio_doctor::signatures::SignatureSet;
use vfio_doctor::system::System;

fn main() {
    divan::main();
}

/// 16 MiB of generated QEMU log (see examples/qemu_log.rs).
fn log() -> &'static [u8] {
    static LOG: OnceLock<Vec<u8>> = OnceLock::new();
    LOG.get_or_init(|| {
        let mut v = Vec::new();
        qemu_log::generate(&mut v, 16 << 20, 7).expect("generate");
        v
    })
}

fn keep() -> &'static SignatureSet {
    static KEEP: OnceLock<SignatureSet> = OnceLock::new();
    KEEP.get_or_init(|| rules::signatures(&Catalog::builtin().expect("catalog")))
}

fn host(name: &str) -> Bundle {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hosts").join(name);
    obtain_bundle(&Origin { root: Some(root), ..Origin::default() }).expect("fixture host")
}

/// Head, tail and folded signature lines of 16 MiB of QEMU log.
#[divan::bench]
fn capture_qemu_log(bencher: Bencher) {
    let (log, keep) = (log(), keep());
    bencher.counter(BytesCount::of_slice(log)).bench(|| capture_bytes(black_box(log), LOG_CAPS, keep));
}

/// The same 16 MiB with no signatures: line counting and the tail window alone.
#[divan::bench]
fn capture_head_tail_only(bencher: Bencher) {
    let log = log();
    let none = SignatureSet::default();
    bencher.counter(BytesCount::of_slice(log)).bench(|| capture_bytes(black_box(log), LOG_CAPS, &none));
}

/// Building the signature set from the built-in catalog (once per `check`).
#[divan::bench]
fn signature_set() -> SignatureSet {
    rules::signatures(black_box(&Catalog::builtin().expect("catalog")))
}

#[divan::bench(args = ["seed-b550", "seed-b550-bsod"])]
fn system_from_bundle(bencher: Bencher, name: &str) {
    let bundle = host(name);
    bencher.bench(|| System::from_bundle(black_box(&bundle)));
}

#[divan::bench(args = ["seed-b550", "seed-b550-bsod"])]
fn system_and_rules(bencher: Bencher, name: &str) {
    let bundle = host(name);
    let catalog = Catalog::builtin().expect("catalog");
    bencher.bench(|| rules::run(&System::from_bundle(black_box(&bundle)), &catalog));
}
