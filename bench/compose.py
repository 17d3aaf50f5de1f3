#!/usr/bin/env python3
"""Side-by-side benchmark: `strata compose module` against createrepo_c
publishing the same package set, run one after the other on this machine.

1. Metadata only, out of the 63,440-package debian-bookworm-main dataset:
   a module of --size packages (default 5,000) composed with
   `--metadata-only`, against `createrepo_c --update --skip-stat` over
   placeholder files, reusing the source's metadata records (createrepo_c's
   own way to write repodata without reading RPMs), with and without its
   sqlite databases.
2. Real RPMs: --rpms packages (default 1,000) built with rpmbuild, composed
   with payloads (hardlinked, every checksum verified), against a fresh
   `createrepo_c` run over the same RPMs and a rerun with `--update`.
3. Scaling: warm composes of growing modules (--scaling) out of the big
   source, to show that a compose costs what the module holds, not what
   the source holds.

Every strata run has the dataset itself as its platform lookaside, so the
repoclosure gate runs for real and must pass: the package sets are chosen
as benchkit.gate_safe_names says. Each section checks that strata and
createrepo_c published the same packages. Reports medians, peak RSS and
ratios. Build first: cargo build --release -p strata-cli

    python3 bench/compose.py [--size 5000] [--rpms 1000] [--runs 5] [--smoke]
"""

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path

import benchkit as bk
from benchkit import DATASET, fail, log

FULL_SMOKE = {"size": (5000, 200), "rpms": (1000, 20), "payload_kb": (256, 4), "runs": (5, 1),
              "scaling": ("500,2000,5000,20000", "50,200")}


class Strata:
    """One strata setup (registry, output, cache) in its own folder."""

    def __init__(self, strata, work):
        self.bin = strata
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.config = bk.write_config(self.work, "bench", [DATASET])
        self.cache = self.work / "cache"
        self.drop_cache = bk.wiper(self.cache, self.work / "out")  # and the output: a cold run from scratch
        self.clear_out = bk.wiper(self.work / "out")

    def cmd(self, definition, *extra):
        return [self.bin, "compose", "module", definition, "--config", self.config, "--json",
                "--cache-dir", self.cache, *extra]


def published(runs, what):
    """The x86_64 repository of the last of these compose runs."""
    return Path(bk.compose_record(runs[-1], what)["outputs"]["repos"]["x86_64"])


def check_same_packages(cr_repo, strata_repo, expected):
    """Both published the same packages (the comparison is of equal work),
    and the ones asked for."""
    def nevras(repo):
        return {(p.name, p.arch, Path(p.href).name) for p in bk.read_primary(repo)}
    a, b = nevras(cr_repo), nevras(strata_repo)
    if a != b:
        raise fail(f"createrepo_c and strata published different packages: {len(a - b)} only by"
                   f" createrepo_c ({sorted(a - b)[:3]}), {len(b - a)} only by strata ({sorted(b - a)[:3]})")
    if {n for n, _, _ in b} != set(expected):
        raise fail(f"strata published {len(b)} packages, not the {len(expected)} of the module")
    log(f"  same {len(a)} packages published by createrepo_c and strata")


def bench_metadata_only(args, work, packages, pool, rng):
    log(f"\n== metadata only: {args.size} of the packages of {DATASET.name}")
    href = {p.name: p.href for p in packages}
    names = bk.pick_sets(pool, [args.size], rng)[0]
    s = Strata(args.strata, work / "md")
    d = bk.write_definition(work / "md.yaml", "bench", "1", names, DATASET, requires={"platform": "bench"})
    cr = work / "cr-md"
    bk.placeholders(cr, (href[n] for n in names))
    cr_clean = bk.wiper(cr / "repodata")
    rows = [
        bk.measure("createrepo_c --update --skip-stat", lambda: bk.createrepo_reuse(cr, DATASET),
                   args.runs, cr_clean)[0],
        bk.measure("createrepo_c --update --skip-stat --no-database",
                   lambda: bk.createrepo_reuse(cr, DATASET, "--no-database"), args.runs, cr_clean)[0],
        bk.measure("strata compose --metadata-only, cold cache", lambda: s.cmd(d, "--metadata-only"),
                   args.runs, s.drop_cache)[0],
    ]
    row, runs = bk.measure("strata compose --metadata-only, warm cache", lambda: s.cmd(d, "--metadata-only"),
                           args.runs, s.clear_out)
    check_same_packages(cr, published(runs, "metadata-only compose"), names)
    return rows + [row]


def bench_rpms(args, work, rng):
    import rpmfactory
    log(f"\n== real RPMs: a {args.rpms}-package module out of a {2 * args.rpms}-RPM source"
        f" ({args.payload_kb} KiB each)")
    src = work / f"rpm-src-{args.rpms}-{args.payload_kb}"
    if not (src / "repodata").exists():
        pkgs = [{"name": f"pkg{i:05d}", "version": "1.0", "release": "1",
                 "files": [f"/usr/share/pkg{i:05d}/data.bin"], "file_size": args.payload_kb * 1024}
                for i in range(2 * args.rpms)]
        t = time.perf_counter()
        rpmfactory.make_repo(src, pkgs)
        log(f"  (built {len(pkgs)} RPMs in {time.perf_counter() - t:.1f} s)")
    names = sorted(rng.sample([f"pkg{i:05d}" for i in range(2 * args.rpms)], args.rpms))
    # The benchmark packages have no dependencies: the same work as
    # createrepo_c's, plus a gate over the module itself. A second
    # definition adds the 63k-package dataset as platform lookaside.
    d = bk.write_definition(work / "rpm.yaml", "rpms", "1", names, src)
    dp = bk.write_definition(work / "rpm-platform.yaml", "rpmsp", "1", names, src, requires={"platform": "bench"})
    cr = work / "cr-rpms"
    shutil.rmtree(cr, ignore_errors=True)
    cr.mkdir()
    for n in names:
        f = next(src.glob(f"{n}-1.0-1.*.rpm"))
        os.link(f, cr / f.name)
    s = Strata(args.strata, work / "rpm")
    cr_clean = bk.wiper(cr / "repodata")
    rows = [
        bk.measure("createrepo_c (fresh)", lambda: ["createrepo_c", "--quiet", cr], args.runs, cr_clean)[0],
        bk.measure("createrepo_c --no-database (fresh)",
                   lambda: ["createrepo_c", "--quiet", "--no-database", cr], args.runs, cr_clean)[0],
        bk.measure("createrepo_c --update (all cached)",
                   lambda: ["createrepo_c", "--quiet", "--update", cr], args.runs)[0],
    ]
    # The warm runs reuse what the cold runs cached; the lookaside runs
    # first need the dataset cached (one run), so one run is warm as well.
    for label, make, before, warm_up in (
            ("strata compose, cold cache", lambda: s.cmd(d), s.drop_cache, False),
            ("strata compose, warm cache", lambda: s.cmd(d), s.clear_out, False),
            ("strata compose, warm cache, --verify-payloads", lambda: s.cmd(d, "--verify-payloads"), s.clear_out,
             False),
            ("strata compose, warm cache, 63k platform lookaside", lambda: s.cmd(dp), s.clear_out, True)):
        if warm_up:
            bk.run(make())
        row, runs = bk.measure(label, make, args.runs, before)
        check_same_packages(cr, published(runs, label), names)  # before the next run clears it
        rows.append(row)
    return rows


def bench_scaling(args, work, packages, pool, rng):
    log("\n== scaling (warm cache, --metadata-only)")
    s = Strata(args.strata, work / "scale")
    steps = [int(x) for x in args.scaling.split(",")]
    rows = []
    for size in steps:
        names = bk.pick_sets(pool, [size], rng)[0]
        d = bk.write_definition(work / f"scale-{size}.yaml", f"scale{size}", "1", names, DATASET,
                                requires={"platform": "bench"})
        bk.run(s.cmd(d, "--metadata-only"))  # warms the cache
        row, runs = bk.measure(f"{size:>6} packages out of {len(packages)}", lambda: s.cmd(d, "--metadata-only"),
                               args.runs, s.clear_out)
        got = {p.name for p in bk.read_primary(published(runs, f"scaling compose of {size}"))}
        if got != set(names):
            raise fail(f"the scaling compose of {size} packages published {len(got)}")
        rows.append(row)
    return rows


def ratio(rows, peer, ours):
    p = next(r for r in rows if r.label == peer)
    o = next(r for r in rows if r.label == ours)
    return p.seconds / o.seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bk.size_option(ap, FULL_SMOKE, "--size", "metadata-only module size")
    bk.size_option(ap, FULL_SMOKE, "--rpms", "real-RPM module size")
    bk.size_option(ap, FULL_SMOKE, "--payload-kb", "KiB of payload of each benchmark RPM, random, uncompressed")
    bk.size_option(ap, FULL_SMOKE, "--scaling", "module sizes of the scaling runs", type=str)
    ap.add_argument("--skip-scaling", action="store_true")
    args = bk.parse_args(ap, FULL_SMOKE)
    bk.require_dataset()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    with bk.workdir(args, "strata-bench-compose-") as work:
        packages = bk.read_primary(DATASET)
        pool = bk.gate_safe_names(args.strata, packages)
        md = bench_metadata_only(args, work, packages, pool, rng)
        rp = bench_rpms(args, work, rng)
        sc = [] if args.skip_scaling else bench_scaling(args, work, packages, pool, rng)

    pairs = [(md, peer, ours)
             for peer in ("createrepo_c --update --skip-stat", "createrepo_c --update --skip-stat --no-database")
             for ours in ("strata compose --metadata-only, cold cache", "strata compose --metadata-only, warm cache")]
    pairs += [(rp, peer, ours)
              for peer in ("createrepo_c (fresh)", "createrepo_c --no-database (fresh)",
                           "createrepo_c --update (all cached)")
              for ours in ("strata compose, cold cache", "strata compose, warm cache",
                           "strata compose, warm cache, --verify-payloads")]
    print()
    bk.table(("comparison", "peer / strata"), ((f"{p} vs {o}", f"{ratio(rows, p, o):.1f}x") for rows, p, o in pairs))
    print()
    bk.row_table(md + rp + sc)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
