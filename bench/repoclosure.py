#!/usr/bin/env python3
"""Side-by-side benchmark: `strata repoclosure` against `dnf repoclosure`,
and `--installable` against a naive one-solve-per-package libsolv loop.

All runs use the same repository (by default the 63,440-package
debian-bookworm-main dataset; with --subset N a seeded-random N of its
packages, written by createrepo_c from the dataset's own records) on the
same machine, one after the other. Reports the median wall time and the
peak RSS of each, and the ratios. Before timing, it checks that strata and
dnf report the same unresolved (package, dependency) pairs, so the numbers
compare equal work; and that the naive loop, strata's installcheck on the
same pool and `strata repoclosure --installable` find the same
uninstallable packages (a digest of their names, not just the count).

    python3 bench/repoclosure.py [--repo DIR | --subset N] [--runs N] [--skip-naive] [--smoke]
Build first: cargo build --release -p strata-cli -p strata-solve --examples
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

import benchkit as bk
from benchkit import DATASET, ROOT, fail, log

import dnforacle  # noqa: E402  (tests/, on the path through benchkit)

FULL_SMOKE = {"subset": (0, 2000), "runs": (3, 1)}


class Dnf:
    def __init__(self, repo, work):
        self.work = Path(work)
        (self.work / "repos.d").mkdir(parents=True, exist_ok=True)
        self.conf = self.work / "dnf.conf"
        # metadata_expire is left at its default, so that a second run
        # reads dnf's solv cache (warm).
        self.conf.write_text(
            "[main]\ngpgcheck=0\nreposdir={}\nmodule_platform_id=platform:f40\n"
            "[bench]\nbaseurl=file://{}\n".format(self.work / "repos.d", Path(repo).resolve())
        )

    def cmd(self, cachedir):
        return [*dnforacle.DNF, "-q", "-c", str(self.conf), "--releasever=40", "--disableplugin=local",
                "--setopt=cachedir={}".format(cachedir), "repoclosure", "--repo", "bench"]


def digest(names):
    """naive_installcheck's digest of the uninstallable packages: FNV-1a 64
    over the sorted names, each followed by a newline."""
    h = 0xcbf29ce484222325
    for n in sorted(names):
        for b in n.encode() + b"\n":
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def installcheck_verdict(label, r):
    """'N uninstallable (digest D)' out of naive_installcheck's line
    'C checked, N uninstallable (digest D), T s'."""
    parts = r.stdout.strip().split(", ")
    if len(parts) != 3 or "uninstallable (digest" not in parts[1]:
        raise fail(f"{label}: unexpected output {r.stdout.strip()!r}")
    return parts[1]


def make_subset(source, n, seed, dest):
    packages = bk.read_primary(source)
    if n > len(packages):
        raise fail(f"--subset {n}: {source} has only {len(packages)} packages")
    chosen = random.Random(seed).sample(packages, n)
    bk.placeholders(dest, (p.href for p in chosen))
    bk.run(bk.createrepo_reuse(dest, source))
    log(f"  subset: {n} packages of {source.name} in {dest}")
    return dest


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=str(DATASET))
    bk.size_option(ap, FULL_SMOKE, "--subset", "check a seeded-random N packages of --repo (0: all)")
    ap.add_argument("--naive", default=str(ROOT / "target" / "release" / "examples" / "naive_installcheck"))
    ap.add_argument("--skip-naive", action="store_true", help="skip the slow naive loop")
    args = bk.parse_args(ap, FULL_SMOKE)
    repo = bk.require_dataset(Path(args.repo).resolve())
    naive = Path(args.naive).resolve()
    if not args.skip_naive and not naive.is_file():
        raise fail(f"{naive} missing: cargo build --release -p strata-solve --examples, or pass --naive")
    started = time.perf_counter()
    with bk.workdir(args, "strata-bench-repoclosure-", fresh=True) as work:
        if args.subset:
            repo = make_subset(repo, args.subset, args.seed, work / "subset")
        bench(args, args.strata, naive, repo, work)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


def bench(args, strata_bin, naive, repo, work):
    dnf = Dnf(repo, work)
    dnf_env = dnforacle._env()
    dnf_cache = work / "dnf-cache"
    strata_cache = work / "strata-cache"
    strata = [strata_bin, "repoclosure", "--repo", f"bench={repo}"]

    # Same answer first, or the timing means nothing.
    _, theirs = bk.repoclosure("dnf repoclosure", dnf.cmd(dnf_cache), dnf_env)
    r, ours = bk.repoclosure("strata repoclosure", strata + ["--no-cache"])
    bk.same_pairs(repo.name, ours, theirs)
    ok = (r.rc,)  # every timed run must give the same verdict

    rows = {}
    rows["dnf cold"], _ = bk.measure("dnf repoclosure, cold", lambda: dnf.cmd(dnf_cache), args.runs,
                                     bk.wiper(dnf_cache), env=dnf_env, ok=ok)
    bk.run(dnf.cmd(dnf_cache), env=dnf_env, ok=ok)
    rows["dnf warm"], _ = bk.measure("dnf repoclosure, warm (solv cache)", lambda: dnf.cmd(dnf_cache), args.runs,
                                     env=dnf_env, ok=ok)
    rows["strata cold"], _ = bk.measure("strata repoclosure, cold", lambda: strata + ["--no-cache"], args.runs,
                                        ok=ok)
    warm = strata + ["--cache-dir", strata_cache]
    bk.run(warm, ok=ok)
    rows["strata warm"], _ = bk.measure("strata repoclosure, warm (cache)", lambda: warm, args.runs, ok=ok)

    # --installable: exit 1 also when only installability fails.
    r = bk.run(warm + ["--installable", "--json"], ok=(0, 1))
    try:
        inst = json.loads(r.stdout)["installable"]
        uninstallable = [u["package"] for u in inst["uninstallable"]]
    except (ValueError, KeyError, TypeError) as e:
        raise fail(f"strata repoclosure --installable --json printed no installability report ({e})") from None
    verdict = f"{len(uninstallable)} uninstallable (digest {digest(uninstallable)})"
    log(f"  strata repoclosure --installable: {inst['checked']} checked, {verdict}")
    rows["strata inst"], _ = bk.measure("strata repoclosure --installable", lambda: warm + ["--installable"],
                                        args.runs, ok=(r.rc,))
    if not args.skip_naive:
        env = dict(dnf_env, XDG_CACHE_HOME=str(work / "naive-cache"))
        bk.run([naive, "--fast", repo], env=env)  # parses and caches the repo: both timed loops start warm
        for key, label, extra in (("naive", "naive libsolv loop (1 solve/package)", []),
                                  ("fast", "strata installcheck (same pool)", ["--fast"])):
            rows[key], runs = bk.measure(label, lambda: [naive, *extra, repo], 1, env=env)
            got = installcheck_verdict(label, runs[0])
            log(f"    ({runs[0].stdout.strip()})")
            if got != verdict:
                raise fail(f"{label} and strata repoclosure --installable disagree: {got} against {verdict}")

    def ratio(a, b):
        return rows[a].seconds / rows[b].seconds

    print()
    bk.row_table(rows.values())
    print()
    comparisons = [("cold: dnf / strata", f"{ratio('dnf cold', 'strata cold'):.1f}x"),
                   ("warm: dnf / strata", f"{ratio('dnf warm', 'strata warm'):.1f}x"),
                   ("peak RSS: dnf cold / strata cold",
                    f"{rows['dnf cold'].rss_mib / rows['strata cold'].rss_mib:.1f}x")]
    if "naive" in rows:
        comparisons.append(("installability: naive loop / strata (same pool)", f"{ratio('naive', 'fast'):.1f}x"))
    bk.table(("comparison", "ratio"), comparisons)


if __name__ == "__main__":
    sys.exit(main())
