"""bench/engine's measuring half (bench/engine installs the tools and calls this).

Runs N GET probes against one local server with testrunner, Chaos Toolkit and Hurl,
alternately, RUNS times each; measures `testrunner check` of the shipped scenarios and of
generated 1,000 / 10,000-step files; measures polling accuracy against a server that flips
at a known time, with background polls loading the engine. Prints min / median / max per
tool and N, and a last line:
  ratio_vs_ctk=… ratio_vs_hurl=… ms_per_step=… rss_10k_mb=… check_all_ms=…
(ratios: the lower of N = 1,000 and N = 10,000, medians; ms_per_step: testrunner's median
wall time at 10,000 over 10,000; rss_10k_mb: its largest max RSS at 10,000).
"""
import argparse
import glob
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def measure(cmd, cwd=None):
    """Wall seconds and max RSS (MB) of one command; stops the benchmark if it fails."""
    t = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()  # read to the end, so a chatty tool never blocks on a full pipe
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err.decode(errors='replace')[-3000:]}")
    return wall, ru.ru_maxrss / 1024.0


def write_probes(work, url, n):
    """The same N probes in each tool's format: GET <url>/status, expect 200."""
    d = os.path.join(work, f"n{n}")
    os.makedirs(d, exist_ok=True)
    target = f"{url}/status"
    with open(os.path.join(d, "probes.yaml"), "w") as f:
        f.write(f"scenario: bench-probes\ntitle: {n} GET probes\ntimeout: 30m\n")
        f.write("defaults: { step_timeout: 10s }\nphases:\n  - name: probes\n    steps:\n")
        for i in range(n):
            f.write(f'      - {{ id: p{i}, http.get: {{ url: "{target}", expect_status: 200 }} }}\n')
    exp = {
        "version": "1.0.0",
        "title": f"{n} GET probes",
        "description": "bench/engine",
        "method": [
            {"type": "probe", "name": f"p{i}", "provider": {"type": "http", "url": target, "timeout": 10}}
            for i in range(n)
        ],
    }
    with open(os.path.join(d, "experiment.json"), "w") as f:
        json.dump(exp, f)
    with open(os.path.join(d, "probes.hurl"), "w") as f:
        for _ in range(n):
            f.write(f"GET {target}\nHTTP 200\n\n")
    return d


def stats(xs):
    xs = sorted(xs)
    return xs[0], statistics.median(xs), xs[-1]


def fmt(xs, unit="s", scale=1.0):
    lo, med, hi = stats([x * scale for x in xs])
    spread = (hi - lo) / med * 100 if med else 0
    return f"min {lo:.3f}{unit}  median {med:.3f}{unit}  max {hi:.3f}{unit}  (spread {spread:.0f}%)"


def flip_scenario(work, url):
    path = os.path.join(work, "flip.yaml")
    with open(path, "w") as f:
        f.write(
            f"""scenario: bench-flip
title: polling accuracy under load
timeout: 2m
defaults: {{ step_timeout: 20s }}
vars: {{ url: "{url}", after_ms: 1000 }}
phases:
  - name: flip
    steps:
      # Load: two background polls hitting the server as fast as the engine goes.
      - {{ id: load1, background: true, allow_failure: true, http.get: {{ url: "${{url}}/status" }}, until: load1.status == 999, interval: 1ms }}
      - {{ id: load2, background: true, allow_failure: true, http.get: {{ url: "${{url}}/status" }}, until: load2.status == 999, interval: 1ms }}
      - id: arm
        http.get: {{ url: "${{url}}/arm?after_ms=${{string(after_ms)}}" }}
      - id: flip
        http.get: {{ url: "${{url}}/flip" }}
        until: flip.json.up == true
        interval: 50ms
        timeout: 10s
"""
        )
    return path


def accuracy(tr, work, url, runs):
    """The true flip lies in [arm.started + after, arm.finished + after] (run clock, ms);
    the engine's [last_miss_ms, first_match_ms] must contain it. Also: the poll period."""
    scen = flip_scenario(work, url)
    held, gaps = 0, []
    for i in range(runs):
        after = 500 + random.randint(0, 49)
        out = os.path.join(work, f"flip-{i}")
        measure([tr, "run", scen, "--out", out, "-q", "--no-baseline", "--var", f"after_ms={after}"])
        rep = json.load(open(os.path.join(out, "report.json")))
        steps = {s["step"]: s for s in rep["steps"]}
        arm, flip = steps["arm"], steps["flip"]
        lo_true, hi_true = arm["started_ms"] + after, arm["finished_ms"] + after
        miss, match = flip["last_miss_ms"], flip["first_match_ms"]
        if miss is not None and match is not None and miss <= hi_true and lo_true <= match:
            held += 1
        else:
            print(f"  flip run {i}: NOT contained: truth [{lo_true}, {hi_true}], "
                  f"measured [{miss}, {match}]", file=sys.stderr)
        starts = [p["started_ms"] for p in flip["polls"]]
        gaps += [b - a for a, b in zip(starts, starts[1:])]
        shutil.rmtree(out, ignore_errors=True)
    return held, gaps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--testrunner", required=True)
    ap.add_argument("--chaos", required=True)
    ap.add_argument("--hurl", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ns", default="100,1000,10000")
    ap.add_argument("--flips", type=int, default=20)
    ap.add_argument("--repo", required=True)
    a = ap.parse_args()
    ns = [int(x) for x in a.ns.split(",")]

    work = tempfile.mkdtemp(prefix="trbench-engine.")
    server = subprocess.Popen([sys.executable, os.path.join(a.repo, "bench/engine_server.py")],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        print(f"server {url} (threaded, HTTP/1.1 keep-alive, TCP_NODELAY); runs={a.runs}", file=sys.stderr)
        tools = {
            "testrunner": lambda d, k: [a.testrunner, "run", f"{d}/probes.yaml", "--out", f"{d}/run{k}", "-q",
                                        "--no-baseline"],
            "chaostoolkit": lambda d, k: [a.chaos, "--no-version-check", "--no-log-file", "run",
                                          "--journal-path", f"{d}/ctk{k}.json", f"{d}/experiment.json"],
            "hurl": lambda d, k: [a.hurl, "--test", "--no-color", f"{d}/probes.hurl"],
        }
        if a.hurl == "none":  # a partial run (Hurl not installed): no ratio against it
            del tools["hurl"]
        names = list(tools)
        wall = {(t, n): [] for t in names for n in ns}
        rss = {(t, n): [] for t in names for n in ns}
        for n in ns:
            d = write_probes(work, url, n)
            for k in range(a.runs):
                # Alternate the order every run: no tool always runs first (or after another).
                order = names[k % len(names):] + names[:k % len(names)]
                for t in order:
                    w, m = measure(tools[t](d, k), cwd=d)
                    wall[(t, n)].append(w)
                    rss[(t, n)].append(m)
                    if t == "testrunner":
                        shutil.rmtree(f"{d}/run{k}", ignore_errors=True)
            for t in names:
                print(f"N={n:<6} {t:<13} wall {fmt(wall[(t, n)])}  max RSS {max(rss[(t, n)]):.0f} MB",
                      file=sys.stderr)

        med = {k: statistics.median(v) for k, v in wall.items()}
        big = [n for n in ns if n >= 1000] or ns
        ratio_ctk = min(med[("chaostoolkit", n)] / med[("testrunner", n)] for n in big)
        ratio_hurl = (min(med[("hurl", n)] / med[("testrunner", n)] for n in big)
                      if "hurl" in tools else float("nan"))
        top = max(ns)
        ms_per_step = med[("testrunner", top)] / top * 1000
        rss_top = max(rss[("testrunner", top)])
        for n in big:
            vs_hurl = med[("hurl", n)] / med[("testrunner", n)] if "hurl" in tools else float("nan")
            print(f"N={n}: ratio_vs_ctk {med[('chaostoolkit', n)] / med[('testrunner', n)]:.2f}  "
                  f"ratio_vs_hurl {vs_hurl:.2f}", file=sys.stderr)

        # `check`: all shipped scenarios at once, then generated 1,000 / 10,000-step files.
        shipped = sorted(f for f in glob.glob(os.path.join(a.repo, "scenarios/**/*.yaml"), recursive=True)
                         if "/fragments/" not in f)
        root = os.path.join(a.repo, "scenarios")
        checks = [measure([a.testrunner, "check", "--include-root", root, *shipped], cwd=a.repo)[0]
                  for _ in range(a.runs)]
        check_all_ms = statistics.median(checks) * 1000
        print(f"check of {len(shipped)} shipped files: {fmt(checks, 'ms', 1000)}", file=sys.stderr)
        load = {}
        for n in (1000, 10000):
            d = write_probes(work, url, n)
            load[n] = [measure([a.testrunner, "check", f"{d}/probes.yaml"])[0] for _ in range(a.runs)]
            print(f"check of {n} steps: {fmt(load[n], 'ms', 1000)}", file=sys.stderr)
        lin = statistics.median(load[10000]) / statistics.median(load[1000])
        print(f"load_10k_over_1k={lin:.1f} (target <= 12) load_10k_ms={statistics.median(load[10000]) * 1000:.0f} "
              f"(target < 500)", file=sys.stderr)

        if a.flips:
            held, gaps = accuracy(a.testrunner, work, url, a.flips)
            g = sorted(gaps)
            within = sum(1 for x in g if abs(x - 50) <= 2)
            print(f"polling: transition inside [last_miss_ms, first_match_ms] in {held} of {a.flips} runs; "
                  f"interval 50ms: median {statistics.median(g)}ms, min {g[0]}ms, max {g[-1]}ms, "
                  f"{within} of {len(g)} within 50±2ms (2 background polls at 1ms loading the engine)",
                  file=sys.stderr)
        print(f"ratio_vs_ctk={ratio_ctk:.2f} ratio_vs_hurl={ratio_hurl:.2f} ms_per_step={ms_per_step:.3f} "
              f"rss_10k_mb={rss_top:.0f} check_all_ms={check_all_ms:.0f}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
