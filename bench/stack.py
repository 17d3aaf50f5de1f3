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
   Sets are chosen as benchkit.gate_safe_names says.
2. base-runtime, then apache, then php, cold cache; then --runs warm php
   stack composes (each makes a new compose; base and apache stay put).
3. Side by side, same data: `strata repoclosure` (warm cache) and
   `dnf repoclosure` (warm solv cache) over the union: the three published
   module repos checked, the dataset as lookaside. dnf's modular filtering
   would hide platform packages that provide the name of a module
   artifact, so the timed dnf runs exempt the platform (module_hotfixes=1);
   the filtered view is checked once. Both views must agree with strata.

Before timing it checks that the php compose finished with apache (compose)
and base-runtime (stack_compose) as inputs, and that strata and dnf agree
on the union; any difference fails the benchmark. Reports medians, peak
RSS (GNU time) and ratios.

    python3 bench/stack.py [--strata PATH] [--runs 5] [--base 6000 --apache 3000 --php 1500] [--smoke]
"""

import argparse
import random
import statistics
import time

import benchkit as bk
from benchkit import DATASET, fail, log

import dnforacle  # noqa: E402  (tests/, on the path through benchkit)

# name, stream, what it requires besides the platform
LAYERS = [("base-runtime", "f40", {}), ("apache", "2.4", {"base-runtime": "f40"}),
          ("php", "8.2", {"apache": "2.4"})]
FULL_SMOKE = {"base": (6000, 200), "apache": (3000, 100), "php": (1500, 50), "runs": (5, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for layer, _, _ in LAYERS:
        bk.size_option(ap, FULL_SMOKE, f"--{layer.split('-')[0]}", f"{layer}'s packages")
    args = bk.parse_args(ap, FULL_SMOKE)
    bk.require_dataset()
    started = time.perf_counter()
    with bk.workdir(args, "strata-bench-stack-", fresh=True) as work:  # the registry must start empty
        bench(args, args.strata, work)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


def bench(args, strata, work):
    sizes = (args.base, args.apache, args.php)
    log(f"== stack base-runtime ({sizes[0]}) <- apache ({sizes[1]}) <- php ({sizes[2]}) out of {DATASET.name}")
    pool = bk.gate_safe_names(strata, bk.read_primary(DATASET))
    sets = bk.pick_sets(pool, sizes, random.Random(args.seed))
    config, cache = bk.write_config(work, "f40", [DATASET]), work / "cache"
    defs = {name: bk.write_definition(work / f"{name}.yaml", name, stream, pkgs, DATASET,
                                      requires={"platform": "f40", **req})
            for (name, stream, req), pkgs in zip(LAYERS, sets)}

    def compose_cmd(name):
        return [strata, "compose", "module", defs[name], "--config", config, "--cache-dir", cache,
                "--metadata-only", "--json"]

    # Cold: each layer composed once in order, on an empty cache.
    records, cold = {}, {}
    for name, _, _ in LAYERS:
        r = bk.run(compose_cmd(name))
        records[name], cold[name] = bk.compose_record(r, f"compose {name}"), r
        log("  {:<46} {:>8.3f} s {:>8.1f} MiB  timings {}".format(
            f"compose {name}, cold cache", r.seconds, r.rss_mib,
            {k: round(v, 3) for k, v in records[name]["timings"].items()}))

    # Correctness of the stack compose before any timing.
    php = records["php"]
    kinds = {i["name"].split(":")[0]: i["kind"] for i in php["inputs"]}
    if kinds.get("apache") != "compose" or kinds.get("base-runtime") != "stack_compose":
        raise fail(f"unexpected php compose inputs {php['inputs']}")
    for name in ("apache", "base-runtime"):
        ident = next(i["ident"] for i in php["inputs"] if i["name"].startswith(name + ":"))
        if ident != records[name]["id"]:
            raise fail(f"php used {ident} for {name}, not the compose just made ({records[name]['id']})")
    log(f"  php {php['id']}: finished; inputs apache=compose, base-runtime=stack_compose")

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
    # other packages provide, so both views must agree with strata: dnf
    # runs once filtered and once with the platform exempt
    # (module_hotfixes=1, the view the timed runs use).
    dnf_conf = {}
    for view, hotfix in (("filtered", False), ("same data", True)):
        d = work / f"dnf-{view.replace(' ', '-')}"
        dnf_conf[view] = dnforacle._write_conf(d, {**repos, "platform": DATASET})
        text = dnf_conf[view].read_text().replace("metadata_expire=0", "metadata_expire=-1")  # warm = cached
        if hotfix:
            text = text.replace("[platform]\n", "[platform]\nmodule_hotfixes=1\n")
        dnf_conf[view].write_text(text)

    # Same answer first (these runs also warm every cache).
    s_run, s_pairs = bk.repoclosure("union repoclosure, strata", strata_union)
    for view in dnf_conf:
        _, d_pairs = bk.repoclosure(f"union repoclosure, dnf ({view})", dnf_union(dnf_conf[view]), dnf_env)
        bk.same_pairs(f"the union, dnf {view}", s_pairs, d_pairs)
    ok = (s_run.rc,)  # every timed run must give the same verdict

    # Timed runs, one after the other.
    log(f"\n== timed, {args.runs} runs each")
    stack_row, runs = bk.measure("strata compose php (stack), warm cache", lambda: compose_cmd("php"), args.runs)
    warm = [bk.compose_record(r, "warm php stack compose") for r in runs]
    union_row, _ = bk.measure("strata repoclosure over the union, warm cache", lambda: strata_union,
                              args.runs, ok=ok)
    dnf_row, _ = bk.measure("dnf repoclosure over the union, warm cache", lambda: dnf_union(dnf_conf["same data"]),
                            args.runs, env=dnf_env, ok=ok)

    med = {k: statistics.median(r["timings"][k] for r in warm) for k in warm[0]["timings"]}
    layers_gate = records["base-runtime"]["timings"]["gate_s"] + records["apache"]["timings"]["gate_s"]
    n_union = sum(sizes)

    print(f"\nstack: {sizes[0]} + {sizes[1]} + {sizes[2]} = {n_union} module packages checked,"
          f" {DATASET.name} (63,440) as platform lookaside; {args.runs} warm runs, medians\n")
    bk.row_table([bk.Row("php stack compose, cold cache (1 run)", cold["php"].seconds, cold["php"].rss_mib),
                  stack_row, union_row, dnf_row])
    print()
    bk.table(("php stack compose timings (record)", "cold s", "warm median s"),
             ((k, f"{php['timings'][k]:.3f}", f"{med[k]:.3f}") for k in ("load_s", "select_s", "gate_s", "publish_s")))
    print()
    # The last row: what re-checking each layer in its own compose costs:
    # base's gate (base alone) + apache's (apache + base) + the stack's (all three).
    bk.table(("comparison", "value"), (
        ("stack gate_s / strata union repoclosure wall", f"{med['gate_s'] / union_row.seconds:.2f}x"),
        ("stack compose total / strata union repoclosure wall", f"{stack_row.seconds / union_row.seconds:.2f}x"),
        ("dnf union repoclosure / stack compose total", f"{dnf_row.seconds / stack_row.seconds:.2f}x"),
        ("dnf union repoclosure / strata union repoclosure", f"{dnf_row.seconds / union_row.seconds:.2f}x"),
        (f"sum of the layers' own gate_s (cold base {records['base-runtime']['timings']['gate_s']:.3f}"
         f" + apache {records['apache']['timings']['gate_s']:.3f} + php {med['gate_s']:.3f})",
         f"{layers_gate + med['gate_s']:.3f} s")))
    print(f"\nlayers from cache: php load_s {php['timings']['load_s']:.3f} s on its cold run (base and"
          f" apache repos parsed, dataset already cached by the lower composes), median"
          f" {med['load_s']:.3f} s warm (min {min(r['timings']['load_s'] for r in warm):.3f},"
          f" max {max(r['timings']['load_s'] for r in warm):.3f}); cold base-runtime load_s"
          f" {records['base-runtime']['timings']['load_s']:.3f} s (dataset parsed)")


if __name__ == "__main__":
    main()
