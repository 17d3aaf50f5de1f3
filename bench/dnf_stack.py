#!/usr/bin/env python3
"""Side-by-side benchmark: `dnf stack install php:8.2` against plain
`dnf module install php:8.2/default`, same repos, fresh installroots.

The stack of tests/dnfkit.py (base-runtime:f40 <- apache:2.4 <- php:8.2)
with --extra filler packages per module (a dependency chain through all
three, all in php's default profile), so each install puts 3 x extra + 6
real RPMs into the root. Both commands run the real dnf 4 under
/usr/bin/python3 against the combined stack repo, each with its own warm
metadata cache (one discarded warm-up run each), one after the other,
--runs times; every run installs into a new, empty installroot. The plain
runs load no plugin at all; the stack runs load only dnf_plugin/stack.py
from the installed wheel. Both must install the same packages.

Needs the wheel installed where Python finds it, as scripts/test does:

    PYTHONPATH=target/pylib python3 bench/dnf_stack.py [--extra 120] [--runs 5]
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import composekit as ck  # noqa: E402
import dnfkit  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    r = fn()
    return time.perf_counter() - start, r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extra", type=int, default=120,
                    help="filler packages per module (default 120: 366 RPMs installed)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", help="keep generated data here (default: a temporary directory)")
    args = ap.parse_args()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-dnf-stack-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"building repos ({args.extra} filler packages per module) in {work} ...", flush=True)
    t, repos = timed(lambda: dnfkit.build_layout(work / "repos", extra=args.extra, with_next=False))
    n_rpms = len(list(repos["stack"].glob("*.rpm")))
    print(f"  {n_rpms} RPMs in the stack repo, built in {t:.1f} s", flush=True)
    stack_repo = {"stack": repos["stack"]}
    no_plugins = work / "no-plugins"
    no_plugins.mkdir(exist_ok=True)

    def stack_install(root):
        return dnfkit.dnf(stack_repo, root, work / "dnf-stack", ["stack", "install", "php:8.2"])

    def module_install(root):
        return ck.dnf_install(stack_repo, root, work / "dnf-module",
                              [f"--setopt=pluginpath={no_plugins}", "module", "install",
                               "php:8.2/default"])

    variants = [("dnf stack install php:8.2", stack_install),
                ("dnf module install php:8.2/default", module_install)]
    times = {name: [] for name, _ in variants}
    installed = {}
    for i in range(args.runs + 1):  # run 0 warms the metadata caches
        for name, fn in variants:
            root = work / "roots" / f"{i}-{name.split()[1]}"
            shutil.rmtree(root, ignore_errors=True)
            t, r = timed(lambda: fn(root))
            if r.returncode != 0:
                raise SystemExit(f"{name} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
            pkgs = ck.rpm_qa(root, work / ("dnf-stack" if "stack" in name else "dnf-module"))
            installed.setdefault(name, pkgs)
            if pkgs != installed[name]:
                raise SystemExit(f"{name}: run {i} installed something else")
            if i > 0:
                times[name].append(t)
            shutil.rmtree(root, ignore_errors=True)
        print(f"  run {i}{' (warm-up)' if i == 0 else ''} done", flush=True)

    a, b = (installed[name] for name, _ in variants)
    if a != b:
        raise SystemExit(f"different results:\n only stack: {sorted(a - b)}\n only module: {sorted(b - a)}")

    med = {name: statistics.median(ts) for name, ts in times.items()}
    base = med["dnf module install php:8.2/default"]
    print()
    print(f"{len(a)} packages installed by each command; median of {args.runs} runs, "
          f"fresh installroot each, warm metadata cache")
    print()
    w = max(len(n) for n in med)
    print(f"| {'command'.ljust(w)} | median s |  min s |  max s | vs plain |")
    print(f"|{'-' * (w + 2)}|---------:|-------:|-------:|---------:|")
    for name, _ in variants:
        ts = times[name]
        print(f"| {name.ljust(w)} | {med[name]:8.2f} | {min(ts):6.2f} | {max(ts):6.2f} | "
              f"{med[name] / base:8.3f} |")
    overhead = med["dnf stack install php:8.2"] / base - 1
    print()
    print(f"overhead of dnf stack: {overhead * 100:+.1f}% (target: below 20%)")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
