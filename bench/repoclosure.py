#!/usr/bin/env python3
"""Side-by-side benchmark: `strata repoclosure` against `dnf repoclosure`,
and `--installable` against a naive one-solve-per-package libsolv loop.

All runs use the same repository (by default the 63,440-package
debian-bookworm-main dataset) on the same machine, one after the other.
Reports the median wall time and the peak RSS of each, and the ratios.
Before timing, it checks that strata and dnf report the same unresolved
(package, dependency) pairs, so the numbers compare equal work.

    python3 bench/repoclosure.py [--repo DIR] [--runs N] [--skip-naive]
Build first: cargo build --release -p strata-cli -p strata-solve --examples
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPO = ROOT.parent / "shared" / "datasets" / "debian-bookworm-main"


def run(cmd, env=None):
    """Runs cmd; returns (seconds, peak RSS in MiB, exit code, stdout)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        out.seek(0)
        return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), out.read().decode()


def parse_dnf_format(text):
    pairs, pkg = set(), None
    for line in text.splitlines():
        if line.startswith("package: "):
            pkg = line.split()[1]
        elif line.startswith("    ") and pkg:
            pairs.add((pkg, line.strip()))
    return pairs


class Dnf:
    def __init__(self, repo, work):
        self.work = Path(work)
        (self.work / "repos.d").mkdir(parents=True, exist_ok=True)
        self.conf = self.work / "dnf.conf"
        self.conf.write_text(
            "[main]\ngpgcheck=0\nreposdir={}\nmodule_platform_id=platform:f40\n"
            "[bench]\nbaseurl=file://{}\n".format(self.work / "repos.d", Path(repo).resolve())
        )

    def cmd(self, cachedir):
        return ["dnf", "-q", "-c", str(self.conf), "--releasever=40", "--disableplugin=local",
                "--setopt=cachedir={}".format(cachedir), "repoclosure", "--repo", "bench"]


def measure(label, make_cmd, runs, before=None):
    times, rss, out = [], [], ""
    for _ in range(runs):
        if before:
            before()
        t, m, _, out = run(make_cmd())
        times.append(t)
        rss.append(m)
    row = (label, statistics.median(times), max(rss))
    print("  {:<38} {:>8.3f} s {:>8.1f} MiB".format(*row), file=sys.stderr)
    return row, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=str(DEFAULT_REPO))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--strata", default=str(ROOT / "target" / "release" / "strata"))
    ap.add_argument("--naive", default=str(ROOT / "target" / "release" / "examples" / "naive_installcheck"))
    ap.add_argument("--skip-naive", action="store_true", help="skip the slow naive loop")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="strata-bench-"))
    try:
        dnf = Dnf(args.repo, work)
        dnf_cache = work / "dnf-cache"
        strata_cache = work / "strata-cache"
        strata = [args.strata, "repoclosure", "--repo", "bench=" + args.repo]

        # Same answer first, or the timing means nothing.
        _, _, _, dnf_out = run(dnf.cmd(dnf_cache))
        _, _, _, strata_out = run(strata + ["--no-cache"])
        a, b = parse_dnf_format(dnf_out), parse_dnf_format(strata_out)
        if a != b:
            sys.exit("strata and dnf disagree: dnf-only {} strata-only {}".format(
                sorted(a - b)[:5], sorted(b - a)[:5]))
        print("same {} unresolved (package, dep) pairs from both".format(len(a)), file=sys.stderr)

        rows = {}
        wipe = lambda d: (lambda: shutil.rmtree(d, ignore_errors=True))  # noqa: E731
        rows["dnf cold"], _ = measure("dnf repoclosure, cold", lambda: dnf.cmd(dnf_cache), args.runs, wipe(dnf_cache))
        run(dnf.cmd(dnf_cache))
        rows["dnf warm"], _ = measure("dnf repoclosure, warm (solv cache)", lambda: dnf.cmd(dnf_cache), args.runs)
        rows["strata cold"], _ = measure("strata repoclosure, cold", lambda: strata + ["--no-cache"], args.runs)
        run(strata + ["--cache-dir", str(strata_cache)])
        rows["strata warm"], _ = measure(
            "strata repoclosure, warm (cache)", lambda: strata + ["--cache-dir", str(strata_cache)], args.runs)
        rows["strata inst"], inst_out = measure(
            "strata repoclosure --installable", lambda: strata + ["--cache-dir", str(strata_cache), "--installable"],
            args.runs)
        env = dict(os.environ, XDG_CACHE_HOME=str(work / "naive-cache"))
        if not args.skip_naive:
            t, m, _, naive_out = run([args.naive, args.repo], env=env)
            rows["naive"] = ("naive libsolv loop (1 solve/package)", t, m)
            print("  {:<38} {:>8.3f} s {:>8.1f} MiB   ({})".format(*rows["naive"], naive_out.strip()), file=sys.stderr)
            t, m, _, fast_out = run([args.naive, "--fast", args.repo], env=env)
            rows["fast"] = ("strata installcheck (same pool)", t, m)
            print("  {:<38} {:>8.3f} s {:>8.1f} MiB   ({})".format(*rows["fast"], fast_out.strip()), file=sys.stderr)
            if naive_out.split(",")[1] != fast_out.split(",")[1]:
                sys.exit("naive and fast installcheck disagree: {} vs {}".format(naive_out, fast_out))

        def ratio(a, b):
            return rows[a][1] / rows[b][1]

        print("\n| run | median s | peak RSS MiB |\n|---|---:|---:|")
        for label, t, m in rows.values():
            print("| {} | {:.3f} | {:.1f} |".format(label, t, m))
        print("\n| comparison | ratio |\n|---|---:|")
        print("| cold: dnf / strata | {:.1f}x |".format(ratio("dnf cold", "strata cold")))
        print("| warm: dnf / strata | {:.1f}x |".format(ratio("dnf warm", "strata warm")))
        print("| peak RSS: dnf cold / strata cold | {:.1f}x |".format(rows["dnf cold"][2] / rows["strata cold"][2]))
        if "naive" in rows:
            print("| installability: naive loop / strata (same pool) | {:.1f}x |".format(ratio("naive", "fast")))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
