#!/usr/bin/env python3
"""Run a command and print its CPU seconds (user + system, to the microsecond, from the kernel's
rusage) and peak RSS in KiB: `cpu_time.py CMD ARGS...`. Standard input is passed through and
standard output discarded; the exit status is the command's. GNU time prints CPU time to the
hundredth of a second, which is a 6% error on the 0.17 s of the 10k-resource run."""
import os
import subprocess
import sys

child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(f"{usage.ru_utime + usage.ru_stime:.6f} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
