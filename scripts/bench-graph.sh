#!/usr/bin/env bash
# `mspack graph --check` against `mspack lint` on the same files: generates SERVICES (default
# 10,000) services' manifests into target/bench-graph (scripts/bench/graph_corpus.py: Deployment +
# Service each, sync calls by URL and host:port in env, events in annotations, database URLs;
# 1,000 files) and prints the best of RUNS (default 3) CPU times (user + system, from the
# kernel's rusage via scripts/bench/cpu_time.py) of
#   - mspack graph --check   (builds the graph, runs MSP501-509)
#   - mspack lint            (the default rule set)
#   - mspack graph --format html (draws it)
# and the ratio graph --check / lint (the bar: below 1). A benchmark, not a test: CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
services="${SERVICES:-10000}"
runs="${RUNS:-3}"
target="${CARGO_TARGET_DIR:-target}"
out=target/bench-graph
mkdir -p "$out"
cargo build -q --release -p mspack
mspack="$target/release/mspack"

corpus="$out/s$services"
if [[ ! -f "$corpus/.done" ]]; then
  rm -rf "$corpus"
  python3 scripts/bench/graph_corpus.py "$corpus" "$services"
  touch "$corpus/.done"
fi

# best CPU seconds (user + system) and peak RSS (KiB) of RUNS runs; exit 1 (findings) is fine
measure() {
  local best_s="" best_kb=""
  for _ in $(seq "$runs"); do
    python3 scripts/bench/cpu_time.py "$@" </dev/null >"$out/time" 2>"$out/stderr" ||
      [[ $? == 1 ]] || { cat "$out/stderr"; exit 1; }
    read -r s kb < <(tail -n 1 "$out/time")
    if [[ -z "$best_s" ]] || awk "BEGIN{exit !($s < $best_s)}"; then best_s=$s; fi
    if [[ -z "$best_kb" ]] || (( kb < best_kb )); then best_kb=$kb; fi
  done
  echo "$best_s $best_kb"
}

files=$(find "$corpus" -name '*.yaml' | wc -l)
read -r t_check kb_check < <(measure "$mspack" graph --no-config --check "$corpus")
read -r t_lint kb_lint < <(measure "$mspack" lint --no-config "$corpus")
read -r t_html _ < <(measure "$mspack" graph --no-config --format html "$corpus")
echo "$services services, $((services * 2)) resources, $files files; best of $runs, CPU seconds (user + system):"
printf '  mspack graph --check       %8.3f s  (peak RSS %d MiB)\n' "$t_check" $((kb_check / 1024))
printf '  mspack lint                %8.3f s  (peak RSS %d MiB)\n' "$t_lint" $((kb_lint / 1024))
printf '  mspack graph --format html %8.3f s\n' "$t_html"
awk -v c="$t_check" -v l="$t_lint" 'BEGIN { printf "  graph --check / lint: %.2fx\n", c / l }'
