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
from the installed wheel. Both must install the same packages, every run.

Needs the wheel installed where Python finds it, as scripts/test does:

    PYTHONPATH=target/pylib python3 bench/dnf_stack.py [--extra 120] [--runs 5] [--smoke]
"""

import argparse
import shutil
import statistics
import sys
import time

import benchkit as bk
from benchkit import fail, log

import composekit as ck  # noqa: E402  (tests/, on the path through benchkit)
import dnfkit  # noqa: E402

FULL_SMOKE = {"extra": (120, 2), "runs": (5, 1)}


def timed(fn):
    start = time.perf_counter()
    r = fn()
    return time.perf_counter() - start, r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bk.size_option(ap, FULL_SMOKE, "--extra", "filler packages per module (3 x N + 6 RPMs installed)")
    args = bk.parse_args(ap, FULL_SMOKE, strata=False)
    try:
        plugins = dnfkit.plugin_dir()
    except (ImportError, AssertionError) as e:
        raise fail(f"the strata wheel is not importable with its dnf plugin ({e}): "
                   f"bash scripts/test installs it into target/pylib; run with PYTHONPATH=target/pylib") from None
    log(f"dnf stack plugin and strata from {plugins.parent}")
    started = time.perf_counter()
    with bk.workdir(args, "strata-bench-dnf-stack-") as work:
        bench(args, work)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


def bench(args, work):
    log(f"building repos ({args.extra} filler packages per module) in {work} ...")
    t, repos = timed(lambda: dnfkit.build_layout(work / "repos", extra=args.extra, with_next=False))
    n_rpms = len(list(repos["stack"].glob("*.rpm")))
    log(f"  {n_rpms} RPMs in the stack repo, built in {t:.1f} s")
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
                raise fail(f"{name} exited with {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
            pkgs = ck.rpm_qa(root, work / ("dnf-stack" if "stack" in name else "dnf-module"))
            if not pkgs:
                raise fail(f"{name} exited 0 and installed nothing")
            installed.setdefault(name, pkgs)
            if pkgs != installed[name]:
                raise fail(f"{name}: run {i} installed something else")
            if i > 0:
                times[name].append(t)
            shutil.rmtree(root, ignore_errors=True)
        log(f"  run {i}{' (warm-up)' if i == 0 else ''} done")

    a, b = (installed[name] for name, _ in variants)
    if a != b:
        raise fail(f"different results:\n only stack: {sorted(a - b)}\n only module: {sorted(b - a)}")
    expected = dnfkit.PHP_DEFAULT_INSTALL | {f"{m}-extra{i}" for m in ("base", "httpd", "php")
                                             for i in range(args.extra)}
    if a != expected:
        raise fail(f"php:8.2's default profile is not what was installed: missing {sorted(expected - a)},"
                   f" more {sorted(a - expected)}")

    med = {name: statistics.median(ts) for name, ts in times.items()}
    base = med["dnf module install php:8.2/default"]
    print()
    print(f"{len(a)} packages installed by each command; median of {args.runs} runs, "
          f"fresh installroot each, warm metadata cache")
    print()
    bk.table(("command", "median s", "min s", "max s", "vs plain"),
             ((name, f"{med[name]:.2f}", f"{min(times[name]):.2f}", f"{max(times[name]):.2f}",
               f"{med[name] / base:.3f}") for name, _ in variants))
    overhead = med["dnf stack install php:8.2"] / base - 1
    print()
    print(f"overhead of dnf stack: {overhead * 100:+.1f}% (target: below 20%)")


if __name__ == "__main__":
    sys.exit(main())
