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
5. The upgrade check against real dnf, on a sample: the dataset has no
   payloads and dnf upgrades only what is installed, so the sample is
   --sample synthetic modules of real RPMs (rpmbuild), two releases of
   each (a library and a tool pinned to it, both moving to 2.0).
   `release check --from` (less the check alone) against a loop of `dnf
   distro-sync` of each module's default profile, installed from the
   first release into its own installroot; both must agree that every
   profile upgrades.
6. The release compose of the sample's second release (`release compose`,
   less its own check: packages hardlinked, one repodata, modules.yaml
   with defaults and obsoletes, productmd metadata) against its peer over
   the same packages: hardlink them into one folder, `createrepo_c`, and
   `modifyrepo_c` of the module composes' modules.yaml. On the sample: the
   dataset of steps 1-4 has no payloads to publish.

    python3 bench/release.py [--modules 300] [--sample 20] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import yaml

import benchkit as bk
import chain
import scale
from benchkit import fail, log

import composekit as ck  # noqa: E402  (tests/, on the path through benchkit)
import rpmfactory  # noqa: E402

FULL_SMOKE = {"runs": (3, 1), "sample": (20, 3)}
MODULES = {"full": "300", "smoke": "12"}
LIFECYCLE = {"eol": "2030-12-31", "sla": {"security_fixes": "2030-12-31"}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale.world_options(ap, MODULES)
    bk.size_option(ap, FULL_SMOKE, "--sample", "synthetic modules upgraded by real dnf")
    args = bk.parse_args(ap, FULL_SMOKE)
    counts = [int(n) for n in (args.modules or MODULES["smoke" if args.smoke else "full"]).split(",")]
    bk.require_dataset()
    started = time.perf_counter()
    with bk.workdir(args, "strata-bench-release-", fresh=True) as work:
        world = scale.build_world(args, work)
        mono = chain.monolithic(args, work, world)
        rows = [bench(args, work, world, n, mono) for n in counts]
        sample = against_dnf(args, work)
    print()
    bk.table(("modules", "packages checked", "profiles", "problems", "release check s (warm)",
              "dnf repoclosure s", "check / dnf", "check --from s", "upgrade s per profile"), rows)
    print(f"\nthe peer, over {mono['packages']} packages (platform and modules): createrepo_c"
          f" {mono['createrepo']:.1f} s (once), dnf repoclosure {mono['repoclosure']:.1f} s")
    print(f"\nupgrade of {sample['profiles']} profiles (real RPMs): strata release check --from"
          f" {sample['strata']:.3f} s beyond the check alone ({sample['strata_each']:.4f} s each);"
          f" dnf distro-sync loop {sample['dnf']:.1f} s ({sample['dnf_each']:.2f} s each);"
          f" dnf / strata {sample['dnf'] / max(sample['strata'], 1e-3):.0f}x")
    print(f"\nrelease compose of {sample['packages']} packages (real RPMs): strata release compose"
          f" {sample['compose']:.3f} s beyond its check; createrepo_c + modifyrepo_c over the"
          f" same packages {sample['peer']:.3f} s; strata / peer"
          f" {sample['compose'] / max(sample['peer'], 1e-3):.2f}")
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
        d = scale.write_module(here / "modules", mods, m, lifecycle=LIFECYCLE,
                               profiles={"default": m["packages"][:3]})
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


def against_dnf(args, work: Path) -> dict:
    """Step 5: the upgrade check and real dnf on --sample modules."""
    n = args.sample
    log(f"== the upgrade check against dnf distro-sync, {n} modules of real RPMs")
    here = work / "sample"
    shutil.rmtree(here, ignore_errors=True)
    base = rpmfactory.make_repo(here / "base", [{"name": "glibc", "provides": ["libc.so.6"]}])
    site = ck.Site(Path(args.strata), here / "site", platforms={"f40": [str(base)]})
    repos: dict[str, dict[int, Path]] = {"r1": {}, "r2": {}}
    releases = {}
    for rel, version in (("r1", "1.0"), ("r2", "2.0")):
        pkgs = [p for i in range(n) for p in (
            {"name": f"lib{i}", "version": version, "requires": ["libc.so.6"]},
            {"name": f"tool{i}", "version": version, "requires": [f"lib{i} = {version}"]})]
        src = rpmfactory.make_repo(here / rel / "src", pkgs)
        entries = []
        for i in range(n):
            doc = ck.definition(f"s{i}", "1", packages=[f"lib{i}", f"tool{i}"], repos=[src],
                                requires={"platform": "f40"}, profiles={"default": [f"tool{i}"]},
                                lifecycle=LIFECYCLE)
            d = ck.write_definition(here / rel / f"s{i}-1.yaml", doc)
            rec = site.compose_json(d)
            repos[rel][i] = ck.repo_dir(site.show(rec["id"]), "x86_64")
            entries.append({"module": f"s{i}:1", "definition": d.name, "compose": rec["id"]})
        releases[rel] = here / rel / "release.yaml"
        releases[rel].write_text(yaml.safe_dump({"document": "strata-release", "version": 1, "data": {
            "name": rel, "version": "1", "date": "2026-06-01",
            "lifecycle": {"eol": "2029-12-31", "sla": {"security_fixes": "2029-12-31"}},
            "modules": entries}}, sort_keys=False))
    check = [args.strata, "release", "check", releases["r2"], "--config", site.config,
             "--cache-dir", site.cache, "--arch", "x86_64", "--json"]
    bk.run(check)  # warms the cache
    alone, _ = bk.measure("release check (sample), warm", lambda: check, args.runs)
    upgrade, runs = bk.measure("release check --from (sample), warm",
                               lambda: [*check, "--from", releases["r1"]], args.runs)
    profiles = json.loads(runs[-1].stdout)["upgrade"]["profiles"]
    if len(profiles) != n or any(p["outcome"]["result"] != "upgrades" for p in profiles):
        raise fail(f"strata: not every sample profile upgrades: {profiles[:2]}")
    dnf_total = 0.0
    for i in range(n):
        root, dwork = here / "dnf" / f"root{i}", here / "dnf" / f"work{i}"
        r = ck.dnf_install({"r1": repos["r1"][i], "platform": base}, root, dwork,
                           ["module", "install", f"s{i}:1/default"])
        if r.returncode != 0:
            raise fail(f"dnf module install s{i}:1/default: {r.stdout[-1500:]}{r.stderr[-1500:]}")
        t = time.perf_counter()
        r = ck.dnf_install({"r2": repos["r2"][i], "platform": base}, root, dwork,
                           ["--refresh", "distro-sync"])
        dnf_total += time.perf_counter() - t
        if r.returncode != 0:
            raise fail(f"dnf distro-sync of s{i}:1/default: {r.stdout[-1500:]}{r.stderr[-1500:]}")
        shutil.rmtree(root, ignore_errors=True)
    log(f"  dnf distro-sync, {n} installroots: {dnf_total:.1f} s")
    extra = max(upgrade.seconds - alone.seconds, 0.0)
    composed, runs = bk.measure(
        "release compose (sample), warm",
        lambda: [*check[:2], "compose", *check[3:], "--out", here / "out"], args.runs)
    rec = json.loads(runs[-1].stdout)["release"]
    if rec is None or rec["state"] != "finished":
        raise fail(f"strata: the sample's release compose did not finish: {runs[-1].stdout[-1500:]}")
    packages, peer = peer_compose(here, list(repos["r2"].values()), args.runs)
    return {"profiles": n, "strata": extra, "strata_each": extra / n, "dnf": dnf_total,
            "dnf_each": dnf_total / n, "compose": max(composed.seconds - alone.seconds, 0.0),
            "packages": packages, "peer": peer}


def peer_compose(here: Path, repos: list[Path], runs: int) -> tuple[int, float]:
    """Step 6's peer: the module composes' packages hardlinked into one
    folder, createrepo_c over them, modifyrepo_c of their modules.yaml
    (concatenated); the median of `runs` runs, and the package count."""
    times = []
    for i in range(runs):
        union = here / "peer" / str(i)
        shutil.rmtree(union, ignore_errors=True)
        (union / "Packages").mkdir(parents=True)
        t = time.perf_counter()
        rpms = [p for repo in repos for p in sorted((repo / "Packages").rglob("*.rpm"))]
        for p in rpms:
            os.link(p, union / "Packages" / p.name)
        subprocess.run(["createrepo_c", "--quiet", str(union)], check=True)
        modules = union.parent / f"modules-{i}.yaml"
        modules.write_bytes(b"".join(ck.modules_yaml(repo) for repo in repos))
        subprocess.run(["modifyrepo_c", "--mdtype=modules", str(modules),
                        str(union / "repodata")], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    log(f"  peer: createrepo_c + modifyrepo_c over {len(rpms)} packages, median"
        f" {sorted(times)[len(times) // 2]:.3f} s")
    return len(rpms), sorted(times)[len(times) // 2]


if __name__ == "__main__":
    main()
