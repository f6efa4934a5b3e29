#!/usr/bin/env bash
# mspack lint against libyaml (C), on the same files, in one run. Installs Debian's libyaml-dev if
# missing, builds a small C program that reads every libyaml event of each file
# (scripts/bench/libyaml_events.c), generates the 100k-resource corpus into target/ (Services,
# Deployments, VirtualServices, DestinationRules; ~63 MB in ~4,000 files) and prints:
#   - full lint on one thread (RAYON_NUM_THREADS=1) / libyaml reading every event  (bar <= 2.0x)
#   - peak RSS of the lint / input bytes                                        (bar <= 10x)
#   - one 60 MB file / the same documents over ~4,000 files                      (bar <= 1.5x)
#   - 100k resources / 10k resources, one thread                                (bar <= 10.5x)
# Each time is the best (and the median) of RUNS runs (default 7) of the CPU time (user +
# system, read to the microsecond from the kernel's rusage by scripts/bench/cpu_time.py), which
# other work on a shared machine disturbs far less than wall time; peak RSS is rusage's maximum
# resident set size.
# A benchmark, not a test: CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-7}"
out=target/bench-libyaml
mkdir -p "$out"

if [[ ! -f /usr/include/yaml.h ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq libyaml-dev >/dev/null
fi
cc -O2 -o "$out/libyaml_events" scripts/bench/libyaml_events.c -lyaml
cargo build -q --release -p mspack
mspack=target/release/mspack

corpus() { # dir resources [--one-file]
  if [[ ! -f "$1/.done" ]]; then
    rm -rf "$1"
    python3 scripts/bench/corpus.py "$@"
    touch "$1/.done"
  fi
}
corpus "$out/c100k" 100000
corpus "$out/c10k" 10000
corpus "$out/one" 100000 --one-file

# best and median CPU seconds (user + system) and peak RSS (KiB) of RUNS runs of a command;
# stdin from $input. The best is the usual benchmark statistic; the median is printed beside it
# because a lucky short run (the 10k corpus takes 0.15 s) moves the best of a ratio more than
# its median.
input=/dev/null
measure() {
  local best_kb="" times=()
  for _ in $(seq "$runs"); do
    python3 scripts/bench/cpu_time.py "$@" <"$input" >"$out/time" 2>"$out/stderr" ||
      [[ $? == 1 ]] || { cat "$out/stderr"; exit 1; }
    read -r s kb < <(tail -n 1 "$out/time")
    times+=("$s")
    if [[ -z "$best_kb" ]] || (( kb < best_kb )); then best_kb=$kb; fi
  done
  local sorted
  sorted=$(printf '%s\n' "${times[@]}" | sort -g)
  echo "$(head -n 1 <<<"$sorted") $(sed -n "$(( (${#times[@]} + 1) / 2 ))p" <<<"$sorted") $best_kb"
}

bytes=$(find "$out/c100k" -name '*.yaml' -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "$out/c100k" -name '*.yaml' | wc -l)
find "$out/c100k" -name '*.yaml' | sort >"$out/files.txt"
input="$out/files.txt"
read -r t_yaml m_yaml _ < <(measure "$out/libyaml_events")
input=/dev/null
read -r t_lint m_lint kb_lint < <(measure env RAYON_NUM_THREADS=1 "$mspack" lint --no-config --format json "$out/c100k")
read -r t_one m_one _ < <(measure env RAYON_NUM_THREADS=1 "$mspack" lint --no-config --format json "$out/one")
read -r t_10k m_10k _ < <(measure env RAYON_NUM_THREADS=1 "$mspack" lint --no-config --format json "$out/c10k")
read -r t_par _ kb_par < <(measure "$mspack" lint --no-config --format json "$out/c100k")

ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
echo "corpus: 100,000 resources, $files files, $bytes bytes"
echo "libyaml, every event, one thread:     ${t_yaml} s CPU"
echo "mspack lint, RAYON_NUM_THREADS=1:     ${t_lint} s CPU   ratio $(ratio "$t_lint" "$t_yaml")x, median $(ratio "$m_lint" "$m_yaml")x   (bar <= 2.0x, aim <= 1.0x)"
echo "mspack lint, all cores:               ${t_par} s CPU (all threads)"
echo "peak RSS, one thread:                 $((kb_lint / 1024)) MiB   RSS / input $(ratio "$((kb_lint * 1024))" "$bytes")x   (bar <= 10x, aim <= 4x)"
echo "peak RSS, all cores:                  $((kb_par / 1024)) MiB   RSS / input $(ratio "$((kb_par * 1024))" "$bytes")x"
echo "one file / many files, one thread:    ${t_one} s / ${t_lint} s = $(ratio "$t_one" "$t_lint")x, median $(ratio "$m_one" "$m_lint")x   (bar <= 1.5x)"
echo "100k / 10k resources, one thread:     ${t_lint} s / ${t_10k} s = $(ratio "$t_lint" "$t_10k")x, median $(ratio "$m_lint" "$m_10k")x   (bar <= 10.5x)"
