#!/usr/bin/env bash
# mspack lint against libyaml (C), on the same files, in one run. Installs Debian's libyaml-dev if
# missing, builds a small C program that reads every libyaml event of each file
# (scripts/bench/libyaml_events.c), generates the 100k-resource corpus into target/ (Services,
# Deployments, VirtualServices, DestinationRules; ~63 MB in ~4,000 files) and prints:
#   - full lint on one thread (RAYON_NUM_THREADS=1) / libyaml reading every event  (bar <= 2.0x)
#   - peak RSS of the lint / input bytes                                        (bar <= 10x)
#   - one 60 MB file / the same documents over ~4,000 files                      (bar <= 1.5x)
#   - 100k resources / 10k resources, one thread                                (bar <= 10.5x)
# Each time is the best of RUNS interleaved rounds (default 7) of the CPU time (user + system,
# read to the microsecond from the kernel's rusage by scripts/bench/cpu_time.py), which other
# work on a shared machine disturbs far less than wall time; each ratio also as the median of
# its per-round ratios; peak RSS is rusage's maximum resident set size.
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

# RUNS rounds; each round runs every command once, in the same order, so a slow spell of this
# shared machine (it drifts by half within minutes) falls on both sides of a ratio instead of on
# whichever command's block it hit. A command's figure is its best CPU seconds (user + system,
# the usual benchmark statistic); a ratio is printed as the ratio of the bests and as the median
# of the per-round ratios. Peak RSS is the smallest of the rounds.
bytes=$(find "$out/c100k" -name '*.yaml' -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "$out/c100k" -name '*.yaml' | wc -l)
find "$out/c100k" -name '*.yaml' | sort >"$out/files.txt"
one_thread=(env RAYON_NUM_THREADS=1 "$mspack" lint --no-config --format json)
names=(yaml lint one 10k par)
run() { # name -> CPU seconds and peak RSS (KiB) of one run
  local input=/dev/null cmd
  case $1 in
    yaml) cmd=("$out/libyaml_events"); input="$out/files.txt" ;;
    lint) cmd=("${one_thread[@]}" "$out/c100k") ;;
    one) cmd=("${one_thread[@]}" "$out/one") ;;
    10k) cmd=("${one_thread[@]}" "$out/c10k") ;;
    par) cmd=("$mspack" lint --no-config --format json "$out/c100k") ;;
  esac
  python3 scripts/bench/cpu_time.py "${cmd[@]}" <"$input" >"$out/time" 2>"$out/stderr" ||
    [[ $? == 1 ]] || { cat "$out/stderr" >&2; exit 1; }
  tail -n 1 "$out/time"
}
rm -f "$out/rounds"
for round in $(seq "$runs"); do
  for name in "${names[@]}"; do
    line=$(run "$name")
    echo "$round $name $line" >>"$out/rounds"
  done
done
# figure NAME best|rss ; pair NUM DEN -> median of the per-round ratios
figure() {
  python3 - "$out/rounds" "$@" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
t = [float(r[2]) for r in rows if r[1] == sys.argv[2]]
kb = [int(r[3]) for r in rows if r[1] == sys.argv[2]]
print({"best": f"{min(t):.3f}", "rss": min(kb)}[sys.argv[3]])
PY
}
pair() {
  python3 - "$out/rounds" "$@" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r[0], {})[r[1]] = float(r[2])
print(f"{statistics.median(v[sys.argv[2]] / v[sys.argv[3]] for v in by.values()):.2f}")
PY
}
t_yaml=$(figure yaml best); t_lint=$(figure lint best); t_one=$(figure one best)
t_10k=$(figure 10k best); t_par=$(figure par best)
kb_lint=$(figure lint rss); kb_par=$(figure par rss)

ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
echo "corpus: 100,000 resources, $files files, $bytes bytes"
echo "libyaml, every event, one thread:     ${t_yaml} s CPU"
echo "mspack lint, RAYON_NUM_THREADS=1:     ${t_lint} s CPU   ratio $(ratio "$t_lint" "$t_yaml")x, median $(pair lint yaml)x   (bar <= 2.0x, aim <= 1.0x)"
echo "mspack lint, all cores:               ${t_par} s CPU (all threads)"
echo "peak RSS, one thread:                 $((kb_lint / 1024)) MiB   RSS / input $(ratio "$((kb_lint * 1024))" "$bytes")x   (bar <= 10x, aim <= 4x)"
echo "peak RSS, all cores:                  $((kb_par / 1024)) MiB   RSS / input $(ratio "$((kb_par * 1024))" "$bytes")x"
echo "one file / many files, one thread:    ${t_one} s / ${t_lint} s = $(ratio "$t_one" "$t_lint")x, median $(pair one lint)x   (bar <= 1.5x)"
echo "100k / 10k resources, one thread:     ${t_lint} s / ${t_10k} s = $(ratio "$t_lint" "$t_10k")x, median $(pair lint 10k)x   (bar <= 10.5x)"
