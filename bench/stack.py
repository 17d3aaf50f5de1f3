#!/usr/bin/env python3
"""Benchmark: a three-module stack compose against one repoclosure over the
union of the stack, on the 63,440-package debian-bookworm-main dataset.

The issue's requirement: the closure check over the whole stack must cost
about what one repoclosure over the union costs (the lower composes'
parsed metadata is reused from the cache, nothing is re-parsed per layer).

1. Three disjoint, seeded-random package sets out of the dataset (names
   with a single build only, minus the packages the dataset itself leaves
   unresolved, so every gate passes): base-runtime:f40 (--base, default
   6,000), apache:2.4 requiring base-runtime (--apache, 3,000) and php:8.2
   requiring apache (--php, 1,500). Platform f40 and every source = the
   dataset; every compose is --metadata-only.
2. base-runtime, then apache, then php, cold cache; then --runs warm php
   stack composes (each makes a new compose; base and apache stay put).
3. Side by side, same data: `strata repoclosure` (warm cache) and
   `dnf repoclosure` (warm solv cache) over the union: the three published
   module repos checked, the dataset as lookaside. dnf's modular filtering
   would hide platform packages that provide the name of a module
   artifact, so the timed dnf runs exempt the platform (module_hotfixes=1);
   the filtered view is checked once and its differences printed.

Before timing it checks that the php compose finished with apache (compose)
and base-runtime (stack_compose) as inputs, and that strata and dnf agree
on the union. Reports medians, peak RSS (GNU time) and ratios.

    python3 bench/stack.py [--strata PATH] [--runs 5] [--base 6000 --apache 3000 --php 1500]
"""

import argparse
import gzip
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT.parent / "shared" / "datasets" / "debian-bookworm-main"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import dnforacle  # noqa: E402
from compose import primary_packages  # noqa: E402

# name, stream, what it requires besides the platform
LAYERS = [("base-runtime", "f40", {}), ("apache", "2.4", {"base-runtime": "f40"}),
          ("php", "8.2", {"apache": "2.4"})]


def run(cmd, env=None):
    """Runs cmd under GNU time; returns (seconds, peak RSS MiB, exit code,
    stdout). GNU time is the child, so this big Python's own peak RSS does
    not leak into the number."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *map(str, cmd)], stdout=out, stderr=err, env=env)
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
        return elapsed, int(stderr.strip().splitlines()[-1]) / 1024, proc.returncode, stdout, stderr


def run_ok(cmd, env=None):
    t, m, rc, out, err = run(cmd, env)
    if rc != 0:
        raise SystemExit(f"{Path(str(cmd[0])).name} failed ({rc}):\n{out[-2000:]}\n{err[-3000:]}")
    return t, m, out


def measure(label, make_cmd, runs, env=None, ok_codes=(0,)):
    """Median wall time and max peak RSS of `runs` runs (exit codes in ok_codes)."""
    times, rss, outs = [], [], []
    for _ in range(runs):
        t, m, rc, out, err = run(make_cmd(), env)
        if rc not in ok_codes:
            raise SystemExit(f"{label} failed ({rc}):\n{out[-2000:]}\n{err[-3000:]}")
        times.append(t)
        rss.append(m)
        outs.append(out)
    row = (label, statistics.median(times), max(rss))
    print("  {:<46} {:>8.3f} s {:>8.1f} MiB".format(*row), file=sys.stderr, flush=True)
    return row, outs


def pick_sets(strata, sizes, rng):
    """Disjoint name sets of the given sizes. Names are taken only if they
    have one build (the dataset repeats some names across arches, and a
    module package must be unambiguous, as in bench/compose.py), not if
    the dataset itself leaves the package unresolved, and not if another
    package provides the name: with the module's stream active, dnf (and
    strata's gate) would hide that provider from the platform (modular
    filtering), which would break the platform rather than test the stack."""
    counts = {}
    for name, _arch, _href in primary_packages(DATASET):
        counts[name] = counts.get(name, 0) + 1
    provided_by_others = set()
    prim = next((DATASET / "repodata").glob("*-primary.xml.gz"))
    for block in gzip.decompress(prim.read_bytes()).decode().split("<package ")[1:]:
        own = re.search(r"<name>([^<]+)</name>", block).group(1)
        prov = re.search(r"<rpm:provides>(.*?)</rpm:provides>", block, re.S)
        for n in re.findall(r'<rpm:entry name="([^"]+)"', prov.group(1) if prov else ""):
            if n != own:
                provided_by_others.add(n)
    out = subprocess.run([strata, "repoclosure", "--repo", f"d={DATASET}", "--json", "--no-cache"],
                         capture_output=True, text=True)
    bad = {u["package"].rsplit("-", 2)[0] for u in json.loads(out.stdout)["unresolved"]}
    pool = sorted(n for n, c in counts.items()
                  if c == 1 and n not in bad and n not in provided_by_others)
    chosen = rng.sample(pool, sum(sizes))
    print(f"  {len(pool)} candidate names ({len(bad)} unresolved in the dataset and "
          f"{len(provided_by_others)} provided by other packages left out)", file=sys.stderr)
    sets, i = [], 0
    for s in sizes:
        sets.append(sorted(chosen[i:i + s]))
        i += s
    return sets


def write_definition(path, name, stream, requires, packages):
    import yaml
    doc = {"document": "strata-module", "version": 1, "data": {
        "name": name, "stream": stream, "summary": f"{name} (benchmark)",
        "description": f"{name}, a layer of the benchmark stack", "license": ["MIT"],
        "arches": ["x86_64"], "source": {"repos": [str(DATASET)]},
        "requires": {"platform": "f40", **requires}, "packages": {p: None for p in packages}}}
    Path(path).write_text(yaml.safe_dump(doc))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strata", default=str(ROOT / "target" / "release" / "strata"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--base", type=int, default=6000)
    ap.add_argument("--apache", type=int, default=3000)
    ap.add_argument("--php", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--work", help="keep generated data here (default: a temporary directory)")
    args = ap.parse_args()
    strata = str(Path(args.strata).resolve())
    if not Path(strata).exists():
        raise SystemExit(f"{strata} missing: cargo build --release -p strata-cli, or pass --strata")
    started = time.perf_counter()
    tmp = None
    if args.work:
        work = Path(args.work)
        shutil.rmtree(work, ignore_errors=True)  # the registry must start empty
        work.mkdir(parents=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="strata-bench-stack-")
        work = Path(tmp.name)
    try:
        bench(args, strata, work)
    finally:
        if tmp:
            tmp.cleanup()
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


def bench(args, strata, work):
    sizes = (args.base, args.apache, args.php)
    print(f"== stack base-runtime ({sizes[0]}) <- apache ({sizes[1]}) <- php ({sizes[2]}) out of"
          f" {DATASET.name}", file=sys.stderr)
    sets = pick_sets(strata, sizes, random.Random(args.seed))
    config, cache = work / "strata.toml", work / "cache"
    config.write_text(f'[registry]\npath = "{work / "registry.sqlite"}"\n'
                      f'[compose]\nout = "{work / "out"}"\n'
                      f'[platform.f40]\nrepos = ["{DATASET}"]\n')
    defs = {}
    for (name, stream, req), pkgs in zip(LAYERS, sets):
        defs[name] = work / f"{name}.yaml"
        write_definition(defs[name], name, stream, req, pkgs)

    def compose_cmd(name):
        return [strata, "compose", "module", defs[name], "--config", config, "--cache-dir", cache,
                "--metadata-only", "--json"]

    # Cold: each layer composed once in order, on an empty cache.
    records, cold = {}, {}
    for name, _, _ in LAYERS:
        t, m, out = run_ok(compose_cmd(name))
        records[name], cold[name] = json.loads(out), (t, m)
        print("  {:<46} {:>8.3f} s {:>8.1f} MiB  timings {}".format(
            f"compose {name}, cold cache", t, m,
            {k: round(v, 3) for k, v in records[name]["timings"].items()}), file=sys.stderr)

    # Correctness of the stack compose before any timing.
    php = records["php"]
    kinds = {i["name"].split(":")[0]: i["kind"] for i in php["inputs"]}
    if php["state"] != "finished" or kinds.get("apache") != "compose" \
            or kinds.get("base-runtime") != "stack_compose":
        raise SystemExit(f"unexpected php compose: state {php['state']}, inputs {php['inputs']}")
    for name in ("apache", "base-runtime"):
        ident = next(i["ident"] for i in php["inputs"] if i["name"].startswith(name + ":"))
        if ident != records[name]["id"]:
            raise SystemExit(f"php used {ident} for {name}, not the compose just made ({records[name]['id']})")
    print(f"  php {php['id']}: finished; inputs apache=compose, base-runtime=stack_compose", file=sys.stderr)

    # The union: the three published module repos, checked; the dataset as lookaside.
    repos = {n.replace("-", "_"): records[n]["outputs"]["repos"]["x86_64"] for n, _, _ in LAYERS}
    rc_cache = work / "rc-cache"
    strata_union = [strata, "repoclosure", *[a for rid, p in repos.items() for a in ("--repo", f"{rid}={p}")],
                    "--repo", f"platform={DATASET}", *[a for rid in repos for a in ("--check", rid)],
                    "--cache-dir", rc_cache]
    dnf_env = dnforacle._env()

    def dnf_union(conf):
        return [*dnforacle.DNF, "-q", "-c", conf, "--disableplugin=local", "--releasever=40",
                "--setopt=module_platform_id=platform:f40", "repoclosure",
                *[a for rid in [*repos, "platform"] for a in ("--repo", rid)],
                *[a for rid in repos for a in ("--check", rid)]]

    # dnf applies modular filtering: the module repos carry modules.yaml
    # (default streams), so libdnf hides every non-modular package named
    # like, or providing the name of, a module artifact (Debian's perl
    # provides libversion-perl). The compose gate does the same; `strata
    # repoclosure` over plain repos does not. The package sets avoid names
    # other packages provide, so both views should agree: dnf runs once
    # filtered and once with the platform exempt (module_hotfixes=1), and
    # the differences, if any, are printed.
    dnf_conf = {}
    for view, hotfix in (("filtered", False), ("same data", True)):
        d = work / f"dnf-{view.replace(' ', '-')}"
        dnf_conf[view] = dnforacle._write_conf(d, {**repos, "platform": DATASET})
        text = dnf_conf[view].read_text().replace("metadata_expire=0", "metadata_expire=-1")  # warm = cached
        if hotfix:
            text = text.replace("[platform]\n", "[platform]\nmodule_hotfixes=1\n")
        dnf_conf[view].write_text(text)

    # Same answer first (these runs also warm every cache). strata prints
    # dnf's format, so one parser reads both.
    _, _, s_rc, s_out, _ = run(strata_union)
    s_pairs = dnforacle.pairs(dnforacle.parse_repoclosure(s_out))
    print(f"  union repoclosure: strata exit {s_rc}, {len(s_pairs)} unresolved (package, dep) pairs",
          file=sys.stderr)
    d_rc = {}
    for view in dnf_conf:
        _, _, d_rc[view], d_out, d_err = run(dnf_union(dnf_conf[view]), dnf_env)
        d_pairs = dnforacle.pairs(dnforacle.parse_repoclosure(d_out))
        print(f"  union repoclosure: dnf ({view}) exit {d_rc[view]}, {len(d_pairs)} unresolved pairs",
              file=sys.stderr)
        if s_pairs != d_pairs:
            only_d = sorted(d_pairs - s_pairs)
            print(f"    differs from strata: strata-only {sorted(s_pairs - d_pairs)[:5]}\n"
                  f"    dnf-only ({len(only_d)}) {only_d[:5]}", file=sys.stderr)
    ok = (0,) if not (s_rc or d_rc["same data"]) else (0, 1)

    # Timed runs, one after the other.
    print(f"\n== timed, {args.runs} runs each", file=sys.stderr)
    stack_row, outs = measure("strata compose php (stack), warm cache", lambda: compose_cmd("php"), args.runs)
    warm = [json.loads(o) for o in outs]
    if any(r["state"] != "finished" for r in warm):
        raise SystemExit("a warm php stack compose did not finish")
    union_row, _ = measure("strata repoclosure over the union, warm cache", lambda: strata_union,
                           args.runs, ok_codes=ok)
    dnf_row, _ = measure("dnf repoclosure over the union, warm cache", lambda: dnf_union(dnf_conf["same data"]),
                         args.runs, env=dnf_env, ok_codes=ok)

    med = {k: statistics.median(r["timings"][k] for r in warm) for k in warm[0]["timings"]}
    layers_gate = records["base-runtime"]["timings"]["gate_s"] + records["apache"]["timings"]["gate_s"]
    n_union = sum(sizes)

    print(f"\nstack: {sizes[0]} + {sizes[1]} + {sizes[2]} = {n_union} module packages checked,"
          f" {DATASET.name} (63,440) as platform lookaside; {args.runs} warm runs, medians\n")
    print("| run | median s | peak RSS MiB |\n|---|---:|---:|")
    print("| php stack compose, cold cache (1 run) | {:.3f} | {:.1f} |".format(*cold["php"]))
    for label, t, m in (stack_row, union_row, dnf_row):
        print(f"| {label} | {t:.3f} | {m:.1f} |")
    print("\n| php stack compose timings (record) | cold s | warm median s |\n|---|---:|---:|")
    for k in ("load_s", "select_s", "gate_s", "publish_s"):
        print(f"| {k} | {php['timings'][k]:.3f} | {med[k]:.3f} |")
    print("\n| comparison | value |\n|---|---:|")
    print(f"| stack gate_s / strata union repoclosure wall | {med['gate_s'] / union_row[1]:.2f}x |")
    print(f"| stack compose total / strata union repoclosure wall | {stack_row[1] / union_row[1]:.2f}x |")
    print(f"| dnf union repoclosure / stack compose total | {dnf_row[1] / stack_row[1]:.2f}x |")
    print(f"| dnf union repoclosure / strata union repoclosure | {dnf_row[1] / union_row[1]:.2f}x |")
    # What re-checking each layer in its own compose costs: base's gate
    # (base alone) + apache's (apache + base) + the stack's (all three).
    print(f"| sum of the layers' own gate_s (cold base {records['base-runtime']['timings']['gate_s']:.3f}"
          f" + apache {records['apache']['timings']['gate_s']:.3f} + php {med['gate_s']:.3f}) |"
          f" {layers_gate + med['gate_s']:.3f} s |")
    print(f"\nlayers from cache: php load_s {php['timings']['load_s']:.3f} s on its cold run (base and"
          f" apache repos parsed, dataset already cached by the lower composes), median"
          f" {med['load_s']:.3f} s warm (min {min(r['timings']['load_s'] for r in warm):.3f},"
          f" max {max(r['timings']['load_s'] for r in warm):.3f}); cold base-runtime load_s"
          f" {records['base-runtime']['timings']['load_s']:.3f} s (dataset parsed)")


if __name__ == "__main__":
    main()
