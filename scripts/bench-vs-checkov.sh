#!/usr/bin/env bash
# Lint the same files with mspack and with checkov's Kubernetes checks and print the median wall
# time of each and the ratio. Usage: scripts/bench-vs-checkov.sh [DIR] [RUNS]
# (default DIR: ../shared/corpus/realworld, RUNS: 5). checkov is installed by scripts/checkov.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/../shared/corpus/realworld}"
runs="${2:-5}"
cargo build --release -q -p mspack --manifest-path "$root/Cargo.toml"
mspack="$root/target/release/mspack"
"$root/scripts/checkov.sh" --version >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
  done | median
}

files=$(find "$dir" -name '*.yaml' -o -name '*.yml' | wc -l)
m=$(time_runs "$mspack" lint "$dir" --format json)
c=$(time_runs "$root/scripts/checkov.sh" -d "$dir" --framework kubernetes --quiet --compact -o json)
printf '{"name": "mspack_lint_s", "value": %.4f, "unit": "s", "files": %d}\n' "$m" "$files"
printf '{"name": "checkov_kubernetes_s", "value": %.4f, "unit": "s", "files": %d}\n' "$c" "$files"
printf '{"name": "mspack_speedup_over_checkov", "value": %.1f, "unit": "x"}\n' "$(echo "$c / $m" | bc -l)"
