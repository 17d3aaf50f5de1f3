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
3. Scaling: warm composes of growing modules out of the big source, and of
   the same module out of a small source, to show that a compose costs
   what the module holds, not what the source holds.

Every strata run has the dataset itself as its platform lookaside, so the
repoclosure gate runs for real (and passes). Reports medians, peak RSS and
ratios. Build first: cargo build --release -p strata-cli

    python3 bench/compose.py [--size 5000] [--rpms 1000] [--runs 5]
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
STRATA = ROOT / "target" / "release" / "strata"
sys.path.insert(0, str(ROOT / "tests"))


def run(cmd, env=None, check=True):
    """Runs cmd; returns (seconds, peak RSS MiB). The RSS comes from GNU
    time's own child: a child of this (big) Python would report this
    process's peak as its own, even through vfork."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *map(str, cmd)], stdout=out, stderr=err, env=env)
        elapsed = time.perf_counter() - start
        err.seek(0)
        text = err.read().decode()
        if check and proc.returncode != 0:
            out.seek(0)
            raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{out.read().decode()[-2000:]}\n{text[-3000:]}")
        rss_kib = int(text.strip().splitlines()[-1])
        return elapsed, rss_kib / 1024


def measure(label, make_cmd, runs, before=None):
    times, rss = [], []
    for _ in range(runs):
        if before:
            before()
        t, m = run(make_cmd())
        times.append(t)
        rss.append(m)
    row = (label, statistics.median(times), max(rss))
    print("  {:<52} {:>8.3f} s {:>8.1f} MiB".format(*row), file=sys.stderr)
    return row


def primary_packages(repo):
    """(name, arch, href) of every package in a repo's primary.xml.gz."""
    prim = next((Path(repo) / "repodata").glob("*-primary.xml.gz"))
    text = gzip.decompress(prim.read_bytes()).decode()
    out = []
    for m in re.finditer(r'<name>([^<]+)</name>\s*<arch>([^<]+)</arch>.*?<location href="([^"]+)"', text, re.S):
        out.append(m.groups())
    return out


def write_definition(path, name, packages, source, arches=("x86_64",), platform=True):
    import yaml
    doc = {"document": "strata-module", "version": 1, "data": {
        "name": name, "stream": "1", "summary": "benchmark module", "description": "benchmark module",
        "license": ["MIT"], "arches": list(arches), "source": {"repos": [str(source)]},
        "packages": {p: None for p in packages}}}
    if platform:
        doc["data"]["requires"] = {"platform": "bench"}
    Path(path).write_text(yaml.safe_dump(doc))


class Strata:
    def __init__(self, work, platform):
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.config = self.work / "strata.toml"
        self.config.write_text(
            f'[registry]\npath = "{self.work / "registry.sqlite"}"\n'
            f'[compose]\nout = "{self.work / "out"}"\n'
            f'[platform.bench]\nrepos = ["{platform}"]\n')
        self.cache = self.work / "cache"

    def cmd(self, definition, *extra, cache=True):
        c = [str(STRATA), "compose", "module", str(definition), "--config", str(self.config)]
        c += ["--cache-dir", str(self.cache)] if cache else ["--no-cache"]
        return c + list(extra)

    def drop_cache(self):
        shutil.rmtree(self.cache, ignore_errors=True)

    def clear_out(self):
        shutil.rmtree(self.work / "out", ignore_errors=True)


def closed_names(strata, source, candidates, size, rng):
    """`size` package names whose compose passes the gate (the dataset has a
    few packages with unresolved dependencies; those are left out)."""
    out = subprocess.run([str(STRATA), "repoclosure", "--repo", f"src={source}", "--json", "--no-cache"],
                         capture_output=True, text=True)
    bad = {u["package"].rsplit("-", 2)[0] for u in json.loads(out.stdout)["unresolved"]}
    pool = sorted(n for n in candidates if n not in bad)
    return sorted(rng.sample(pool, size))


def bench_metadata_only(args, work, rng):
    print(f"\n== metadata only: {args.size} of the packages of {DATASET.name}", file=sys.stderr)
    pkgs = primary_packages(DATASET)
    by_name = {}
    for name, arch, href in pkgs:
        by_name.setdefault(name, []).append(href)
    s = Strata(work / "md", DATASET)
    names = closed_names(s, DATASET, [n for n, h in by_name.items() if len(h) == 1], args.size, rng)
    d = work / "md.yaml"
    write_definition(d, "bench", names, DATASET)
    # createrepo_c: the same hrefs as placeholder files, old metadata reused.
    cr = work / "cr-md"
    for n in names:
        for h in by_name[n]:
            p = cr / h
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch()

    def cr_cmd(*extra):
        return ["createrepo_c", "--quiet", "--update", "--update-md-path", str(DATASET), "--skip-stat",
                *extra, str(cr)]

    def cr_clean():
        shutil.rmtree(cr / "repodata", ignore_errors=True)

    rows = [
        measure("createrepo_c --update --skip-stat", lambda: cr_cmd(), args.runs, cr_clean),
        measure("createrepo_c --update --skip-stat --no-database", lambda: cr_cmd("--no-database"),
                args.runs, cr_clean),
        measure("strata compose --metadata-only, cold cache", lambda: s.cmd(d, "--metadata-only"),
                args.runs, lambda: (s.drop_cache(), s.clear_out())),
        measure("strata compose --metadata-only, warm cache", lambda: s.cmd(d, "--metadata-only"),
                args.runs, s.clear_out),
    ]
    check_same_packages(cr, s)
    return rows


def check_same_packages(cr_repo, strata):
    """Both published the same NEVRAs (the comparison is of equal work)."""
    import glob
    last = sorted(glob.glob(str(strata.work / "out" / "*" / "compose" / "*" / "*" / "os")))[-1]
    a = {(n, ar) for n, ar, _ in primary_packages(cr_repo)}
    b = {(n, ar) for n, ar, _ in primary_packages(last)}
    if a != b:
        raise SystemExit(f"createrepo_c and strata published different packages: {len(a ^ b)} differ")


def bench_rpms(args, work, rng):
    import rpmfactory
    print(f"\n== real RPMs: a {args.rpms}-package module out of a {2 * args.rpms}-RPM source"
          f" ({args.payload_kb} KiB each)", file=sys.stderr)
    src = work / f"rpm-src-{args.rpms}-{args.payload_kb}"
    if not (src / "repodata").exists():
        pkgs = [{"name": f"pkg{i:05d}", "version": "1.0", "release": "1",
                 "files": [f"/usr/share/pkg{i:05d}/data.bin"], "file_size": args.payload_kb * 1024}
                for i in range(2 * args.rpms)]
        t = time.perf_counter()
        rpmfactory.make_repo(src, pkgs)
        print(f"  (built {len(pkgs)} RPMs in {time.perf_counter() - t:.1f} s)", file=sys.stderr)
    names = sorted(rng.sample([f"pkg{i:05d}" for i in range(2 * args.rpms)], args.rpms))
    # The benchmark packages have no dependencies: the same work as
    # createrepo_c's, plus a gate over the module itself. A second
    # definition adds the 63k-package dataset as platform lookaside.
    d = work / "rpm.yaml"
    write_definition(d, "rpms", names, src, platform=False)
    dp = work / "rpm-platform.yaml"
    write_definition(dp, "rpmsp", names, src)
    cr = work / "cr-rpms"
    shutil.rmtree(cr, ignore_errors=True)
    cr.mkdir()
    for n in names:
        f = next(src.glob(f"{n}-1.0-1.*.rpm"))
        os.link(f, cr / f.name)
    s = Strata(work / "rpm", DATASET)

    def cr_clean():
        shutil.rmtree(cr / "repodata", ignore_errors=True)

    rows = [
        measure("createrepo_c (fresh)", lambda: ["createrepo_c", "--quiet", str(cr)], args.runs, cr_clean),
        measure("createrepo_c --no-database (fresh)",
                lambda: ["createrepo_c", "--quiet", "--no-database", str(cr)], args.runs, cr_clean),
        measure("createrepo_c --update (all cached)",
                lambda: ["createrepo_c", "--quiet", "--update", str(cr)], args.runs),
        measure("strata compose, cold cache", lambda: s.cmd(d),
                args.runs, lambda: (s.drop_cache(), s.clear_out())),
        measure("strata compose, warm cache", lambda: s.cmd(d), args.runs, s.clear_out),
        measure("strata compose, warm cache, --verify-payloads", lambda: s.cmd(d, "--verify-payloads"),
                args.runs, s.clear_out),
        measure("strata compose, warm cache, 63k platform lookaside", lambda: s.cmd(dp),
                args.runs, s.clear_out),
    ]
    check_same_packages(cr, s)
    return rows


def bench_scaling(args, work, rng):
    print("\n== scaling (warm cache, --metadata-only)", file=sys.stderr)
    pkgs = primary_packages(DATASET)
    by_name = {}
    for name, arch, href in pkgs:
        by_name.setdefault(name, []).append(href)
    s = Strata(work / "scale", DATASET)
    pool = closed_names(s, DATASET, [n for n, h in by_name.items() if len(h) == 1], 20000, rng)
    rows = []
    for size in (500, 2000, 5000, 20000):
        d = work / f"scale-{size}.yaml"
        write_definition(d, f"scale{size}", sorted(rng.sample(pool, size)), DATASET)
        subprocess.run(s.cmd(d, "--metadata-only"), capture_output=True)  # warm the cache
        rows.append(measure(f"{size:>6} packages out of {len(pkgs)}", lambda: s.cmd(d, "--metadata-only"),
                            args.runs, s.clear_out))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--rpms", type=int, default=1000)
    ap.add_argument("--payload-kb", type=int, default=256,
                    help="payload of each benchmark RPM (random, uncompressed)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", help="keep generated data here (default: a temporary directory)")
    ap.add_argument("--skip-scaling", action="store_true")
    args = ap.parse_args()
    if not STRATA.exists():
        raise SystemExit(f"{STRATA} missing: cargo build --release -p strata-cli")
    rng = random.Random(20261125)
    tmp = None
    if args.work:
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="strata-bench-")
        work = Path(tmp.name)
    md = bench_metadata_only(args, work, rng)
    rp = bench_rpms(args, work, rng)
    sc = [] if args.skip_scaling else bench_scaling(args, work, rng)

    def ratio(rows, peer, ours):
        p = next(r for r in rows if r[0] == peer)
        o = next(r for r in rows if r[0] == ours)
        return p[1] / o[1]

    print("\nratios (peer time / strata time):")
    for peer in ("createrepo_c --update --skip-stat", "createrepo_c --update --skip-stat --no-database"):
        for ours in ("strata compose --metadata-only, cold cache", "strata compose --metadata-only, warm cache"):
            print(f"  {peer}  vs  {ours}: {ratio(md, peer, ours):.1f}x")
    for peer in ("createrepo_c (fresh)", "createrepo_c --no-database (fresh)", "createrepo_c --update (all cached)"):
        for ours in ("strata compose, cold cache", "strata compose, warm cache",
                     "strata compose, warm cache, --verify-payloads"):
            print(f"  {peer}  vs  {ours}: {ratio(rp, peer, ours):.1f}x")
    print("\nall rows (label, median s, peak MiB):")
    for r in md + rp + sc:
        print("  {:<52} {:>8.3f} {:>8.1f}".format(*r))


if __name__ == "__main__":
    main()
