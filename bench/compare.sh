#!/usr/bin/env bash
# Performance figures (issue 7), as quoted in the README:
#   1. `vfio-doctor check qemu-log:FILE` on a generated QEMU log (real line shapes, failure
#      signatures scattered through it) against `rg -c -f PATTERNS FILE` with the same
#      signature set (`vfio-doctor rules --patterns`): median wall time of interleaved runs,
#      median CPU time (user + system: steadier than wall time on a machine shared with other
#      jobs), and peak RSS;
#   2. `check --root fixtures/hosts/seed-b550` and live `check` wall time;
#   3. `vfio-doctor iommu --root` against the classic `for g in /sys/kernel/iommu_groups/*` …
#      `lspci -nns` script (from the seed) on the same fixture sysfs.
# Needs ripgrep, GNU time and pciutils (apt-get install ripgrep time pciutils).
# Usage: bench/compare.sh [LOG_MIB] (default 256); RUNS=N (default 7) runs of each.
set -euo pipefail
cd "$(dirname "$0")/.."

MIB=${1:-256}
RUNS=${RUNS:-7}
for tool in rg lspci /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench/compare.sh: needs $tool (apt-get install ripgrep pciutils time)" >&2; exit 2; }
done

cargo build --release --locked --quiet --bin vfio-doctor --example qemu_log
BIN=$PWD/target/release/vfio-doctor
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOG=$WORK/win10.log
target/release/examples/qemu_log "$MIB" >"$LOG"
"$BIN" rules --patterns >"$WORK/patterns.txt"
cat "$LOG" >/dev/null # page cache, for both

# run NAME CMD… : append "wall-microseconds peak-RSS-KiB cpu-microseconds" of one run to $WORK/NAME
run() {
  local name=$1 start end
  shift
  start=$(date +%s%N)
  /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/err" || true
  end=$(date +%s%N)
  echo "$(((end - start) / 1000)) $(tail -n1 "$WORK/rss" | awk '{ printf "%d %d", $1, ($2 + $3) * 1e6 }')" >>"$WORK/$name"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.1f ms", us / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
col() { awk -v c="$2" '{ print $c }' "$WORK/$1"; }

for _ in $(seq "$RUNS"); do
  run doctor "$BIN" check --format json --fail-on never "qemu-log:$LOG"
  run rg rg -c -f "$WORK/patterns.txt" "$LOG"
done
d=$(col doctor 1 | median)
r=$(col rg 1 | median)
dc=$(col doctor 3 | median)
rc=$(col rg 3 | median)
size=$(stat -c %s "$LOG")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== ${MIB} MiB QEMU log ($(wc -l <"$LOG") lines), $(wc -l <"$WORK/patterns.txt") signatures, median of $RUNS interleaved runs"
echo "vfio-doctor check qemu-log:FILE   $(ms "$d")   CPU $(ms "$dc")   peak RSS $(mib "$(col doctor 2 | sort -n | tail -n1)")"
echo "rg -c -f PATTERNS FILE            $(ms "$r")   CPU $(ms "$rc")   peak RSS $(mib "$(col rg 2 | sort -n | tail -n1)")"
awk -v d="$d" -v r="$r" -v s="$size" 'BEGIN { printf "ratio vfio-doctor / rg: %.2f   (vfio-doctor: %.0f MiB/s)\n", d / r, s / 1048576 / (d / 1e6) }'
awk -v d="$dc" -v r="$rc" 'BEGIN { printf "CPU-time ratio vfio-doctor / rg: %.2f\n", d / r }'

echo "== check wall time, median of $RUNS"
for _ in $(seq "$RUNS"); do
  run root "$BIN" check --fail-on never --root fixtures/hosts/seed-b550
  run bsod "$BIN" check --fail-on never --root fixtures/hosts/seed-b550-bsod
  run live "$BIN" check --fail-on never
  # Without journalctl and virsh on PATH: the tool's own time on this host.
  run live_own env PATH=/nonexistent "$BIN" check --fail-on never
done
echo "check --root fixtures/hosts/seed-b550        $(ms "$(col root 1 | median)")"
echo "check --root fixtures/hosts/seed-b550-bsod   $(ms "$(col bsod 1 | median)")"
echo "check (live, this host)                      $(ms "$(col live 1 | median)")"
echo "check (live, no journalctl/virsh on PATH)    $(ms "$(col live_own 1 | median)")"

echo "== iommu listing of fixtures/hosts/seed-b550, median of $RUNS"
cat >"$WORK/iommu.sh" <<'EOF'
#!/bin/bash
# The seed's script, with a root prefix (lspci reads that root's sysfs).
ROOT=$1
shopt -s nullglob
for g in $(find "$ROOT"/sys/kernel/iommu_groups/* -maxdepth 0 -type d | sort -V); do
    echo "IOMMU Group ${g##*/}:"
    for d in $g/devices/*; do
        echo -e "\t$(lspci -A linux-sysfs -O sysfs.path="$ROOT"/sys/bus/pci -nns ${d##*/} 2>/dev/null)"
    done;
done;
EOF
for _ in $(seq "$RUNS"); do
  run iommu "$BIN" iommu --root fixtures/hosts/seed-b550
  run script bash "$WORK/iommu.sh" fixtures/hosts/seed-b550
done
i=$(col iommu 1 | median)
s=$(col script 1 | median)
echo "vfio-doctor iommu --root   $(ms "$i")"
echo "shell loop + lspci -nns    $(ms "$s")   ($(ls fixtures/hosts/seed-b550/sys/bus/pci/devices | wc -l) devices)"
awk -v i="$i" -v s="$s" 'BEGIN { printf "ratio script / vfio-doctor: %.1f\n", s / i }'
