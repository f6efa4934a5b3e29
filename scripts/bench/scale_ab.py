#!/usr/bin/env python3
"""Compare the 100k / 10k scale ratio of several `mspack` binaries in interleaved rounds: each
round runs every binary on the 100k corpus and then on the 10k corpus, one thread, so a slow
spell of a shared machine falls on all of them alike. Prints, per binary, the best and median CPU
seconds (user + system, from rusage) of each corpus, the ratio of the bests and the median of the
per-round ratios.

Usage: scale_ab.py ROUNDS BINARY [BINARY...]
The corpora are the ones scripts/bench-vs-libyaml.sh generates (target/bench-libyaml/c100k and
c10k); run it once first."""
import os
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CORPUS = os.path.join(ROOT, "target", "bench-libyaml")


def cpu_seconds(binary, corpus):
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    child = subprocess.Popen(
        [binary, "lint", "--no-config", "--format", "json", os.path.join(CORPUS, corpus)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(f"{binary} failed on {corpus}")
    return usage.ru_utime + usage.ru_stime


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds, binaries = int(sys.argv[1]), sys.argv[2:]
    for corpus in ("c100k", "c10k"):
        if not os.path.isfile(os.path.join(CORPUS, corpus, ".done")):
            sys.exit(f"no {corpus} corpus: run scripts/bench-vs-libyaml.sh once")
    big = {b: [] for b in binaries}
    small = {b: [] for b in binaries}
    for _ in range(rounds):
        for b in binaries:
            big[b].append(cpu_seconds(b, "c100k"))
            small[b].append(cpu_seconds(b, "c10k"))
    for b in binaries:
        ratios = [x / y for x, y in zip(big[b], small[b])]
        print(
            f"{b}: 100k best {min(big[b]):.3f} s, median {statistics.median(big[b]):.3f} s; "
            f"10k best {min(small[b]):.3f} s, median {statistics.median(small[b]):.3f} s; "
            f"100k / 10k: best over best {min(big[b]) / min(small[b]):.2f}x, "
            f"median of rounds {statistics.median(ratios):.2f}x"
        )


main()
