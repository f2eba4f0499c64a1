"""Times `testrunner check` the way bench/engine does (all shipped scenarios in one call,
fragments left out, `--include-root scenarios`; generated 1,000 / 10,000-step files), for
one or more binaries, alternately, RUNS times each. Prints per binary and input the wall
time (min / median / max) and the median CPU time (user + sys, from wait4), which moves
far less than wall time on a shared machine.

Usage: python3 bench/check_bench.py [--runs N] [--steps] BIN [BIN ...]   (from the repo root)
"""
import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time


def measure(cmd):
    """Wall and CPU seconds of one command; stops if it fails."""
    t = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err.decode(errors='replace')[-3000:]}")
    return wall, ru.ru_utime + ru.ru_stime


def probes(work, n):
    """bench/engine's generated file: N GET probes in one phase."""
    path = os.path.join(work, f"probes-{n}.yaml")
    with open(path, "w") as f:
        f.write(f"scenario: bench-probes\ntitle: {n} GET probes\ntimeout: 30m\n")
        f.write("defaults: { step_timeout: 10s }\nphases:\n  - name: probes\n    steps:\n")
        for i in range(n):
            f.write(f'      - {{ id: p{i}, http.get: {{ url: "http://127.0.0.1:1/status", expect_status: 200 }} }}\n')
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--steps", action="store_true", help="also the 1,000 / 10,000-step files")
    ap.add_argument("bins", nargs="+")
    a = ap.parse_args()
    shipped = sorted(f for f in glob.glob("scenarios/**/*.yaml", recursive=True) if "/fragments/" not in f)
    inputs = {f"shipped ({len(shipped)} files)": ["--include-root", "scenarios", *shipped]}
    with tempfile.TemporaryDirectory() as work:
        if a.steps:
            for n in (1000, 10000):
                inputs[f"{n} steps"] = [probes(work, n)]
        for name, args in inputs.items():
            res = {b: [] for b in a.bins}
            for _ in range(a.runs):
                for b in a.bins:
                    res[b].append(measure([b, "check", *args]))
            for b in a.bins:
                wall = sorted(r[0] * 1000 for r in res[b])
                cpu = statistics.median(r[1] * 1000 for r in res[b])
                print(f"{name}: {b}: wall ms min {wall[0]:.1f} median {statistics.median(wall):.1f} "
                      f"max {wall[-1]:.1f}; cpu (user+sys) median {cpu:.1f} ms")
    print(f"load average: {open('/proc/loadavg').read().split()[0]}")


if __name__ == "__main__":
    main()
