#!/usr/bin/env bash
# Fuzz every target for a while, each starting from a corpus seeded with the repository's own
# fixtures (real pastes, fixture roots' logs and XML, synthetic ROMs, a collected bundle).
#   fuzz/run.sh [SECONDS_PER_TARGET]      (default 60; needs: rustup nightly, cargo install cargo-fuzz)
# A crash is saved under fuzz/artifacts/TARGET/; turn it into a regression test (tests/hostile.rs
# or the unit tests of the module it broke) before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"

seed() { mkdir -p "fuzz/corpus/$1"; shift; for f in "$@"; do [ -f "$f" ] && cp "$f" "fuzz/corpus/${TARGET}/$(basename "$(dirname "$f")")-$(basename "$f")"; done; true; }

# The same files as src/untrusted.rs's paste_seeds() (its test checks every paste kind has one).
TARGET=paste_import; seed $TARGET fixtures/inputs/*/* fixtures/real/*/* fixtures/rules/*/*/* \
  fixtures/hosts/*/etc/pve/qemu-server/* fixtures/hosts/*/etc/pve/mapping/* fixtures/hosts/*/var/log/pve/tasks/*/*
rm -f fuzz/corpus/paste_import/*.toml fuzz/corpus/paste_import/*.md
TARGET=domain_xml;   seed $TARGET fixtures/rules/*/*/*.xml fixtures/hosts/*/etc/libvirt/qemu/*.xml fixtures/inputs/pastes/domain-xml-*.txt
TARGET=rom_parse;    seed $TARGET fixtures/roms/*.rom
TARGET=bundle_load;  mkdir -p fuzz/corpus/bundle_load
for h in fixtures/hosts/*/; do
  name=$(basename "$h")
  cargo run -q --release -- collect --root "$h" -o "fuzz/corpus/bundle_load/$name.json" >/dev/null 2>&1 || true
done

for t in bundle_load paste_import domain_xml rom_parse; do
  echo "== $t (${secs}s)"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -max_len=262144 -rss_limit_mb=2048
done
