#!/usr/bin/env python3
"""Benchmark: `strata release check` of a whole distribution of modules
(issue 14) against `dnf repoclosure` over the same packages, side by side,
and the upgrade check (`--from`) against the check alone.

1. The world of bench/scale.py (debian-bookworm-main split by source
   package into N modules, a requires DAG in topological order, a
   platform), every module composed metadata-only. Each definition has a
   lifecycle and a `default` profile (its first three packages).
2. One release of every module: `strata release check` (lifecycle of
   every module and every module below it, one stream each, a good
   compose each, one repoclosure of all their packages against the
   platform, every profile installed), warm.
3. The peer: createrepo_c over the same packages (platform and modules,
   from the dataset's own records) and `dnf repoclosure` of all of it.
4. The upgrade check from a previous release: the same release (every
   profile installed from its composes, then distro-synced to the same
   composes: the full cost of the check, with no failure to explain).

    python3 bench/release.py [--modules 300] [--smoke]

Left out so far: a loop of real `dnf distro-sync` upgrades on a sample of
the profiles. The composes here are metadata-only (the dataset has no
payloads), and dnf needs installed RPMs to upgrade from.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import yaml

import benchkit as bk
import chain
import scale
from benchkit import DATASET, fail, log

FULL_SMOKE = {"runs": (3, 1)}
MODULES = {"full": "300", "smoke": "12"}
LIFECYCLE = {"eol": "2030-12-31", "sla": {"security_fixes": "2030-12-31"}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale.world_options(ap, MODULES)
    args = bk.parse_args(ap, FULL_SMOKE)
    counts = [int(n) for n in (args.modules or MODULES["smoke" if args.smoke else "full"]).split(",")]
    bk.require_dataset()
    started = time.perf_counter()
    with bk.workdir(args, "strata-bench-release-", fresh=True) as work:
        world = scale.build_world(args, work)
        mono = chain.monolithic(args, work, world)
        rows = [bench(args, work, world, n, mono) for n in counts]
    print()
    bk.table(("modules", "packages checked", "profiles", "problems", "release check s (warm)",
              "dnf repoclosure s", "check / dnf", "check --from s", "upgrade s per profile"), rows)
    print(f"\nthe peer, over {mono['packages']} packages (platform and modules): createrepo_c"
          f" {mono['createrepo']:.1f} s (once), dnf repoclosure {mono['repoclosure']:.1f} s")
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


def bench(args, work: Path, world: dict, n: int, mono: dict) -> tuple:
    mods = scale.split(world, n)
    here = work / f"m{n}"
    shutil.rmtree(here, ignore_errors=True)
    (here / "modules").mkdir(parents=True)
    config = bk.write_config(here, "f40", [world["platform_repo"]])
    cache = here / "cache"
    log(f"== {n} modules: composing them all")
    t = time.perf_counter()
    entries = []
    for m in mods:
        req = {"platform": "f40", **{mods[r]["name"]: "1" for r in m["requires"]}}
        d = bk.write_definition(here / "modules" / f"{m['name']}.yaml", m["name"], "1",
                                m["packages"], DATASET, requires=req)
        doc = yaml.safe_load(d.read_text())
        doc["data"]["lifecycle"] = LIFECYCLE
        doc["data"]["profiles"] = {"default": m["packages"][:3]}
        d.write_text(yaml.safe_dump(doc))
        r = bk.run([args.strata, "compose", "module", d, "--config", config, "--cache-dir", cache,
                    "--metadata-only", "--json"])
        bk.compose_record(r, f"compose {m['name']}")
        entries.append({"module": f"{m['name']}:1", "definition": f"modules/{m['name']}.yaml"})
    log(f"  composed in {time.perf_counter() - t:.1f} s")
    release = here / "release.yaml"
    release.write_text(yaml.safe_dump({"document": "strata-release", "version": 1, "data": {
        "name": "bench", "version": "1", "date": "2026-06-01",
        "lifecycle": {"eol": "2029-12-31", "sla": {"security_fixes": "2029-12-31"}},
        "modules": entries}}, sort_keys=False))
    check = [args.strata, "release", "check", release, "--config", config, "--cache-dir", cache,
             "--arch", "x86_64", "--json"]
    # A profile of the dataset's packages may not install (Debian's
    # conflicts under RPM rules): a problem, exit 1, still a full check.
    bk.run(check, ok=(0, 1))  # warms the cache
    row, runs = bk.measure("release check, warm", lambda: check, args.runs, ok=(0, 1))
    report = json.loads(runs[-1].stdout)
    if report["closure"] is None:
        raise fail(f"the release-wide closure did not run: {report['problems'][:3]}")
    kinds = {p["kind"] for p in report["problems"]}
    if not kinds <= {"unresolved", "profile"}:
        raise fail(f"the release has problems of kinds {sorted(kinds)}: {report['problems'][:3]}")
    upgrade = [*check, "--from", release]
    row_from, runs = bk.measure("release check --from (itself), warm", lambda: upgrade,
                                args.runs, ok=(0, 1))
    up = json.loads(runs[-1].stdout)["upgrade"]
    if not up["checked"]:
        raise fail("the upgrade check did not run")
    upgraded = sum(1 for p in up["profiles"] if p["outcome"]["result"] == "upgrades")
    installed = report["closure"]["profiles"] - sum(1 for p in report["problems"]
                                                    if p["kind"] == "profile")
    # Every profile that installs upgrades to itself, changing nothing.
    if upgraded != installed:
        raise fail(f"{upgraded} profiles upgrade to the same release, not the {installed} that install")
    changed = [p for p in up["profiles"] if p["outcome"]["result"] == "upgrades"
               and any(p["outcome"][k] for k in ("upgraded", "downgraded", "obsoleted", "erased"))]
    if changed:
        raise fail(f"an upgrade to the same composes changes packages: {changed[:2]}")
    per = (row_from.seconds - row.seconds) / max(len(up["profiles"]), 1)
    shutil.rmtree(here / "out", ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    return (n, report["closure"]["packages"], report["closure"]["profiles"], len(report["problems"]),
            f"{row.seconds:.3f}", f"{mono['repoclosure']:.1f}",
            f"{row.seconds / mono['repoclosure']:.2f}", f"{row_from.seconds:.3f}", f"{per:.4f}")


if __name__ == "__main__":
    main()
