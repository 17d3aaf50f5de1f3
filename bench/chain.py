#!/usr/bin/env python3
"""Benchmark: chained recomposes over a distribution of hundreds of
modules (issue 13): the cost of `strata impact` and of the chain that
recomposes what one changed core module affects, against the monolithic
alternative on the same packages.

1. The world of bench/scale.py (debian-bookworm-main split by source
   package into N modules, a requires DAG in topological order, a
   platform), every module composed metadata-only, its definitions the
   `[chain] catalog`, a policy recomposing everything (`*:*`, auto).
2. `strata impact --build` of a core library's build on unchanged data,
   warm: every module checked by content (inputs loaded from the cache,
   selection, compared with its last good compose), nothing stale: the
   cost of proving the whole distribution up to date.
3. The lowest module's definition changed (a core library, what most of
   the distribution requires): `strata impact --definition` (warm), then
   `strata chain run` of its plan (every module whose stack holds it).
4. The monolithic alternative on the same packages: createrepo_c over all
   of them (from the dataset's own records, no RPMs) and `dnf
   repoclosure` of all.
5. Per size: modules, plan steps, impact times, chain time, monolithic
   times, and the size of the chain's record (its cause and plan, what
   the registry keeps per chain until `composes prune` removes it) for
   the core module's chain and for one leaf module's.

    python3 bench/chain.py [--modules 100,300,1000] [--smoke]

The "rebuilt core library" of the issue is a changed definition here: the
dataset's packages cannot be rebuilt, and a changed definition makes the
same plan (the module and every stack above it). The --build impact runs
on unchanged data, which is the content check every module gets.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import benchkit as bk
import scale
from benchkit import DATASET, fail, log

import dnforacle  # noqa: E402  (tests/, on the path through benchkit)

FULL_SMOKE = {"runs": (3, 1)}
MODULES = {"full": "100,300,1000", "smoke": "12"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale.world_options(ap, MODULES)
    args = bk.parse_args(ap, FULL_SMOKE)
    args.stack_repo = None
    counts = [int(n) for n in (args.modules or MODULES["smoke" if args.smoke else "full"]).split(",")]
    bk.require_dataset()
    started = time.perf_counter()
    with bk.workdir(args, "strata-bench-chain-", fresh=True) as work:
        world = scale.build_world(args, work)
        mono = monolithic(args, work, world)
        rows = [bench(args, work, world, n) for n in counts]
    print()
    bk.table(("modules", "plan steps", "impact --build s (warm)", "impact --definition s (warm)",
              "chain run s", "chain composes", "chain record KB (core / leaf)"), rows)
    print(f"\nmonolithic, {mono['packages']} packages: createrepo_c {mono['createrepo']:.1f} s,"
          f" dnf repoclosure {mono['repoclosure']:.1f} s")
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


def monolithic(args, work: Path, world: dict) -> dict:
    """createrepo_c over every package of the world (platform and modules)
    and dnf repoclosure of all of it."""
    log("== monolithic: createrepo_c and dnf repoclosure over every package")
    keep = sorted({i for c in list(world["platform"]) + world["order"] for g in world["comps"][c]
                   for i in world["members"][g]})
    repo = work / "monolithic"
    bk.placeholders(repo, [scale.bk_href(i, world["pkgs"]) for i in keep])
    cr = bk.run(bk.createrepo_reuse(repo, DATASET))
    dnf = work / "dnf"
    (dnf / "repos.d").mkdir(parents=True, exist_ok=True)
    conf = dnf / "dnf.conf"
    conf.write_text("[main]\ngpgcheck=0\nreposdir={}\nmodule_platform_id=platform:f40\n"
                    "[all]\nbaseurl=file://{}\n".format(dnf / "repos.d", repo.resolve()))
    rc = bk.run([*dnforacle.DNF, "-q", "-c", conf, "--releasever=40", "--disableplugin=local",
                 f"--setopt=cachedir={dnf / 'cache'}", "repoclosure", "--repo", "all"], ok=(0, 1))
    log(f"  {len(keep)} packages: createrepo_c {cr.seconds:.1f} s, dnf repoclosure {rc.seconds:.1f} s")
    shutil.rmtree(repo, ignore_errors=True)
    return {"packages": len(keep), "createrepo": cr.seconds, "repoclosure": rc.seconds}


def bench(args, work: Path, world: dict, n: int) -> tuple:
    mods = scale.split(world, n)
    here = work / f"m{n}"
    shutil.rmtree(here, ignore_errors=True)
    (here / "modules").mkdir(parents=True)
    config = bk.write_config(here, "f40", [world["platform_repo"]])
    config.write_text(config.read_text() + '[chain]\ncatalog = ["modules/*.yaml"]\n'
                                           'policy = "policy.yaml"\n')
    (here / "policy.yaml").write_text(
        "document: strata-policy\nversion: 1\ndata:\n  parallel: 2\n  rules:\n    - match: '*:*'\n")
    cache = here / "cache"
    log(f"== {n} modules: composing them all")
    t = time.perf_counter()
    defs = []
    for m in mods:
        d = scale.write_module(here / "modules", mods, m)
        defs.append(d)
        r = bk.run([args.strata, "compose", "module", d, "--config", config, "--cache-dir", cache,
                    "--metadata-only", "--json"])
        bk.compose_record(r, f"compose {m['name']}")
    log(f"  composed in {time.perf_counter() - t:.1f} s")
    common = ["--config", config, "--cache-dir", cache]
    # Nothing changed: every module checked, nothing stale.
    build = [args.strata, "impact", "--build", "libc6-2.36-9+deb12u4", *common, "--json"]
    bk.run(build)  # warms the cache
    row_build, runs = bk.measure("impact --build (nothing changed), warm", lambda: build, args.runs)
    plan = json.loads(runs[-1].stdout)
    if plan["plan"]["steps"]:
        raise fail(f"impact on unchanged data planned {len(plan['plan']['steps'])} recomposes")
    # The lowest module: the one most of the distribution requires.
    low = max(range(len(mods)), key=lambda k: sum(1 for m in mods if k in m["stack"]))
    above = sum(1 for m in mods if low in m["stack"])
    d = defs[low]
    d.write_text(d.read_text() + "# changed\n")
    definition = [args.strata, "impact", "--definition", d, *common, "--json"]
    row_def, runs = bk.measure("impact --definition (a core module), warm", lambda: definition, args.runs)
    steps = len(json.loads(runs[-1].stdout)["plan"]["steps"])
    if steps != above + 1:
        raise fail(f"the plan has {steps} steps, not the changed module and the {above} above it")
    chain = bk.run([args.strata, "chain", "run", "--definition", d, *common, "--metadata-only",
                    "--json"])
    rec = json.loads(chain.stdout)
    if rec["state"] != "finished":
        raise fail(f"chain {rec['id']} ended {rec['state']}")
    composed = sum(1 for s in rec["steps"] if s["state"] == "finished")
    log(f"  chain {rec['id']}: {composed} composes in {chain.seconds:.1f} s")
    core_kb = record_kb(rec)
    # A leaf: a module no other one requires, a one-step chain.
    leaf = next(k for k in reversed(range(len(mods)))
                if not any(k in m["stack"] for m in mods if m is not mods[k]))
    defs[leaf].write_text(defs[leaf].read_text() + "# changed\n")
    rec = json.loads(bk.run([args.strata, "chain", "run", "--definition", defs[leaf], *common,
                             "--metadata-only", "--json"]).stdout)
    if [s["state"] for s in rec["steps"]] != ["finished"]:
        raise fail(f"the leaf's chain {rec['id']} ran {rec['steps']}")
    leaf_kb = record_kb(rec)
    log(f"  chain records: core {core_kb:.1f} KB, leaf {leaf_kb:.1f} KB")
    shutil.rmtree(here / "out", ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    return (n, steps, f"{row_build.seconds:.3f}", f"{row_def.seconds:.3f}", f"{chain.seconds:.1f}",
            composed, f"{core_kb:.1f} / {leaf_kb:.1f}")


def record_kb(rec: dict) -> float:
    """What the registry stores of a chain: its cause and plan (JSON, as
    recorded), and a row per step."""
    steps = sum(len(json.dumps(s, separators=(",", ":"))) for s in rec["steps"])
    return (len(json.dumps(rec["events"], separators=(",", ":")))
            + len(json.dumps(rec["plan"], separators=(",", ":"))) + steps) / 1000


if __name__ == "__main__":
    main()
