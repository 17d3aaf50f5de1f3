#!/usr/bin/env python3
"""Benchmark: a distribution split into hundreds of modules, every module
composed metadata-only in dependency order (issue 18: compose cost follows
the module, not the stack).

1. The world, from the 63,440-package debian-bookworm-main dataset: binary
   packages grouped by source package; a source depends on another when one
   of its packages requires a name only the other's packages provide
   (first provider by name; rich `(a or b)` dependencies take the first
   alternative with a provider); cycles are merged (Tarjan), and the
   groups are ordered topologically. Names with several builds, names
   another package provides (dnf's modular filtering would hide the
   platform's provider, see benchkit.gate_safe_names) and their groups go
   to the platform, as do the first --platform fraction of the order;
   packages the dataset leaves unresolved, and everything that needs them,
   are left out. The rest, in order, is cut into N modules of about equal
   size: every module requires the lower modules that hold what its
   packages need, so its stack is the transitive closure and every gate
   passes. The platform (f40) is a repository of the platform packages'
   own records (createrepo_c, no RPMs); every module's source is the
   dataset.
2. Every module composed in order (`strata compose module --metadata-only`),
   one process each under GNU time.
3. Reported per size: total time, median / max compose, the compose with
   the deepest stack against the median, max RSS (and the deepest
   stack's), out/ size against the source metadata, stack size mean/max,
   registry bytes per compose.
4. Like for like, as a new module is first composed: the definitions of
   the module with the deepest stack and of one of median stack depth
   composed for the first time, under new names each round (no compose,
   stack memo or output of their own), alternating (--recompose times
   each): their median times and ratio. One sample of step 2 is at the
   mercy of whatever else the machine does.
5. Like for like, as a chain recomposes: the same two modules composed
   again, alternating (as many times each; the deepest's first when the
   other is in its stack), their median times and ratio, and each step's
   median.

    python3 bench/scale.py [--modules 100,300,1000] [--stack-repo merged|repo-file] [--recompose N] [--smoke]

--stack-repo writes `[compose] stack_repo` into the configuration (left
out: the binary's default, so older binaries can be measured too). The
generated worlds can be large (out/ of every size is removed after it is
measured, unless --keep); --work puts them somewhere other than a
temporary directory.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import benchkit as bk
from benchkit import DATASET, fail, log

FULL_SMOKE = {"runs": (1, 1)}
MODULES = {"full": "100,300,1000", "smoke": "12"}
# Under --smoke only the first packages of the order (the platform's
# share kept), so the smoke run takes seconds.
SMOKE_PACKAGES = 1500
RICH_KEYWORDS = {"and", "or", "if", "unless", "else", "with", "without"}


def world_options(ap: argparse.ArgumentParser, modules: dict[str, str]) -> None:
    """--modules and --platform, for this world (bench/chain.py too)."""
    ap.add_argument("--modules", help=f"module counts, comma-separated (default {modules['full']};"
                                      f" --smoke {modules['smoke']})")
    ap.add_argument("--platform", type=float, default=0.1,
                    help="share of the ordered packages that go to the platform (default 0.1)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    world_options(ap, MODULES)
    ap.add_argument("--stack-repo", choices=("merged", "repo-file"),
                    help="[compose] stack_repo in the configuration (default: left out)")
    ap.add_argument("--keep", action="store_true", help="keep every size's out/ and registry")
    ap.add_argument("--recompose", type=int,
                    help="after the world is composed, compose the deepest module and one of median"
                         " stack depth again this many times each, alternating (default 31; --smoke 1)")
    args = bk.parse_args(ap, FULL_SMOKE)
    counts = [int(n) for n in (args.modules or MODULES["smoke" if args.smoke else "full"]).split(",")]
    bk.require_dataset()
    started = time.perf_counter()
    with bk.workdir(args, "strata-bench-scale-", fresh=True) as work:
        world = build_world(args, work)
        rows = [bench(args, work, world, n) for n in counts]
    print(f"\nsource metadata {mib(world['source_bytes']):.1f} MiB; platform {world['platform_n']}"
          f" packages; {world['module_n']} packages in modules; stack_repo"
          f" {args.stack_repo or '(binary default)'}; {Path(args.strata).name}\n")
    bk.table(("modules", "stack size mean/max", "total s", "median / max compose s",
              "deepest stack s (x median)", "recomposed: deepest / median-depth s (x)",
              "first composes: deepest / median-depth s (x)",
              "max RSS MiB (deepest)", "out/ MiB (x source)", "registry KiB/compose"), rows)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


def mib(n: float) -> float:
    return n / (1 << 20)


# --- the world -------------------------------------------------------------

_PKG = re.compile(r"<name>([^<]+)</name>\s*<arch>([^<]+)</arch>.*?<rpm:sourcerpm>([^<]*)</rpm:sourcerpm>", re.S)
_SECTION = {k: re.compile(rf"<rpm:{k}>(.*?)</rpm:{k}>", re.S) for k in ("provides", "requires")}
_ENTRY = re.compile(r'<rpm:entry name="([^"]+)"')
_SRC = re.compile(r"^(.*)-[^-]+-[^-]+\.src\.rpm$")


def parse_dataset() -> list[dict]:
    repomd = (DATASET / "repodata" / "repomd.xml").read_text()
    m = re.search(r'<data type="primary">.*?<location href="([^"]+)"', repomd, re.S)
    if not m:
        raise fail(f"{DATASET}/repodata/repomd.xml names no primary metadata")
    with gzip.open(DATASET / m.group(1)) as f:
        raw = f.read(bk.MAX_PRIMARY + 1)
    if len(raw) > bk.MAX_PRIMARY:
        raise fail(f"{DATASET} primary opens to more than {bk.MAX_PRIMARY >> 20} MiB")
    out = []
    for i, block in enumerate(raw.decode().split("<package ")[1:]):
        p = _PKG.search(block)
        if not p:
            raise fail(f"{DATASET}: package {i + 1} has no name, arch or sourcerpm")
        src = _SRC.match(p.group(3))
        sections = {k: (s.group(1) if (s := r.search(block)) else "") for k, r in _SECTION.items()}
        out.append({"name": p.group(1), "src": src.group(1) if src else p.group(1),
                    "provides": set(_ENTRY.findall(sections["provides"])) | {p.group(1)},
                    "requires": [r for r in _ENTRY.findall(sections["requires"]) if not r.startswith("rpmlib(")]})
    return out


def alternatives(req: str) -> list[list[str]]:
    """A requirement as groups of names, one of each group needed: a plain
    name is one group of one; `(a or b)` one group of the alternatives
    without a version (a version the world does not check); any other rich
    dependency, each name its own group. A group left empty cannot be met
    here, and its package is left out."""
    if not req.startswith("("):
        return [[req]]
    inner = req[1:-1] if req.endswith(")") else req[1:]
    if " or " in inner and not any(f" {k} " in inner for k in RICH_KEYWORDS - {"or"}) and "(" not in inner:
        return [[a.strip() for a in inner.split(" or ") if re.fullmatch(r"[^\s<>=]+", a.strip())]]
    words = [w for w in re.split(r"[()\s]+", req) if w and w not in RICH_KEYWORDS]
    if any(re.match(r"^[<>=]+$", w) for w in words):
        return [[]]
    return [[w] for w in words]


def sccs(nodes: list[int], edges: dict[int, set[int]]) -> list[list[int]]:
    """Tarjan, iteratively; components come out dependencies first."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    out.append(comp)
    return out


def build_world(args, work: Path) -> dict:
    log(f"== the world, from {DATASET.name}")
    t = time.perf_counter()
    pkgs = parse_dataset()
    builds = collections.Counter(p["name"] for p in pkgs)
    providers: dict[str, list[int]] = collections.defaultdict(list)
    for i, p in enumerate(pkgs):
        for name in p["provides"]:
            providers[name].append(i)
    bad = bk.unresolved_names(args.strata, DATASET)
    # Left out: unresolved, and (to a fixpoint) whatever needs them.
    gone = {i for i, p in enumerate(pkgs) if p["name"] in bad}
    while True:
        more = {i for i, p in enumerate(pkgs) if i not in gone and any(
            not any(j not in gone for n in group for j in providers.get(n, ()))
            for r in p["requires"] for group in alternatives(r))}
        if not more:
            break
        gone |= more
    # Groups: source packages; their dependencies on each other.
    group_of = {}
    for i, p in enumerate(pkgs):
        if i not in gone:
            group_of[i] = p["src"]
    names = sorted(set(group_of.values()))
    gid = {n: k for k, n in enumerate(names)}
    members: dict[int, list[int]] = collections.defaultdict(list)
    for i, g in group_of.items():
        members[gid[g]].append(i)
    edges: dict[int, set[int]] = collections.defaultdict(set)
    for i, g in group_of.items():
        for r in pkgs[i]["requires"]:
            for group in alternatives(r):
                cands = sorted(j for n in group for j in providers.get(n, ()) if j not in gone)
                if cands and not any(group_of[j] == g for j in cands):
                    edges[gid[g]].add(gid[group_of[cands[0]]])
    comps = sccs(list(range(len(names))), edges)
    comp_of = {g: c for c, comp in enumerate(comps) for g in comp}
    # Platform: groups holding a name with several builds or a name other
    # packages provide, with everything they need (so the platform does
    # not need modules), then the first share of the order.
    provided = {n for p in pkgs for n in p["provides"] if n != p["name"]}
    forced = {comp_of[gid[group_of[i]]] for i in group_of
              if builds[pkgs[i]["name"]] > 1 or pkgs[i]["name"] in provided}
    comp_edges = collections.defaultdict(set)
    for g, ds in edges.items():
        comp_edges[comp_of[g]] |= {comp_of[d] for d in ds if comp_of[d] != comp_of[g]}
    todo = list(forced)
    while todo:
        c = todo.pop()
        for d in comp_edges[c]:
            if d not in forced:
                forced.add(d)
                todo.append(d)
    size = {c: sum(len(members[g]) for g in comp) for c, comp in enumerate(comps)}
    total = sum(size.values())
    platform, share = set(forced), sum(size[c] for c in forced)
    for c in range(len(comps)):
        if share >= args.platform * total:
            break
        if c not in platform:
            platform.add(c)
            share += size[c]
    order = [c for c in range(len(comps)) if c not in platform]
    if args.smoke:
        kept, n = [], 0
        for c in order:
            if n >= SMOKE_PACKAGES:
                break
            kept.append(c)
            n += size[c]
        order = kept
    plat_pkgs = sorted(i for c in platform for g in comps[c] for i in members[g])
    platform_repo = work / "platform"
    bk.placeholders(platform_repo, [bk_href(i, pkgs) for i in plat_pkgs])
    bk.run(bk.createrepo_reuse(platform_repo, DATASET))
    source_bytes = sum(f.stat().st_size for f in (DATASET / "repodata").iterdir())
    log(f"  {len(pkgs)} packages, {len(gone)} left out (unresolved or needing them), {len(names)} source groups,"
        f" {len(comps)} after merging cycles; platform {len(plat_pkgs)} packages ({len(forced)} groups forced);"
        f" {sum(size[c] for c in order)} packages to split; {time.perf_counter() - t:.1f} s")
    return {"pkgs": pkgs, "comps": comps, "members": members, "comp_edges": comp_edges, "order": order,
            "size": size, "platform": platform, "platform_repo": platform_repo, "platform_n": len(plat_pkgs),
            "module_n": sum(size[c] for c in order), "source_bytes": source_bytes}


_HREFS: dict[int, str] = {}


def bk_href(i: int, pkgs: list[dict]) -> str:
    if not _HREFS:
        for k, p in enumerate(bk.read_primary(DATASET)):
            _HREFS[k] = p.href
        if len(_HREFS) != len(pkgs):
            raise fail("the dataset's primary read twice gave different package counts")
    return _HREFS[i]


def split(world: dict, n: int) -> list[dict]:
    """The ordered components cut into n modules of about equal size; each
    module's direct requirements and its stack (transitive)."""
    order, size = world["order"], world["size"]
    total = sum(size[c] for c in order)
    if n > len(order):
        raise fail(f"{n} modules asked for, only {len(order)} groups to split")
    module_of, mods, acc = {}, [], 0
    for k, c in enumerate(order):
        # Start a new module once this one has its share, leaving at least
        # one group for each module still to come.
        if not mods or (acc >= total * len(mods) / n and len(mods) < n) or len(order) - k <= n - len(mods):
            if len(mods) < n:
                mods.append({"name": f"m{len(mods):04d}", "comps": []})
        mods[-1]["comps"].append(c)
        module_of[c] = len(mods) - 1
        acc += size[c]
    for m, mod in enumerate(mods):
        mod["requires"] = sorted({module_of[d] for c in mod["comps"] for d in world["comp_edges"][c]
                                  if d in module_of and module_of[d] != m})
        if any(r > m for r in mod["requires"]):
            raise fail(f"module {mod['name']} requires a later module: the order is not topological")
        stack = set()
        for r in mod["requires"]:
            stack |= {r} | mods[r]["stack"]
        mod["stack"] = stack
        mod["packages"] = sorted({world["pkgs"][i]["name"] for c in mod["comps"] for g in world["comps"][c]
                                  for i in world["members"][g]})
    return mods


# --- the run ---------------------------------------------------------------

def write_module(folder: Path, mods: list[dict], m: dict, **extra) -> Path:
    """Module M of a split world as a definition in FOLDER: its packages
    from the dataset, requiring the platform and the modules below it;
    EXTRA adds to the document's data."""
    req = {"platform": "f40", **{mods[r]["name"]: "1" for r in m["requires"]}}
    d = bk.write_definition(folder / f"{m['name']}.yaml", m["name"], "1", m["packages"], DATASET,
                            requires=req)
    if extra:
        import yaml
        doc = yaml.safe_load(d.read_text())
        doc["data"].update(extra)
        d.write_text(yaml.safe_dump(doc))
    return d


def du(path: Path) -> int:
    r = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise fail(f"du {path}: {r.stderr.strip()}")
    return int(r.stdout.split()[0])


def check(mods: list[dict], depth: list[int], runs: list) -> None:
    """What every compose must have made: its own packages, and for a
    stack its layers, in rpms.json; with a `.repo` file, one section for
    each module of the stack."""
    for m, d, (_, rec) in zip(mods, depth, runs):
        if len(rec["packages"]["x86_64"]) != len(m["packages"]):
            raise fail(f"{rec['id']} published {len(rec['packages']['x86_64'])} packages,"
                       f" not the {len(m['packages'])} of its manifest")
        out = Path(rec["outputs"]["path"]) / "compose"
        repo_file = out / f"{m['name'].capitalize()}Stack.repo"
        if d > 1 and repo_file.is_file():
            sections = sum(1 for line in repo_file.read_text().splitlines() if line.startswith("["))
            if sections != d:
                raise fail(f"{repo_file} has {sections} sections, not one for each of the {d} modules of the stack")
            payload = json.loads((out / "metadata" / "rpms.json").read_text())["payload"]
            # with stack_repo "merged", also the whole stack's variant
            variants = sorted(set(payload["rpms"]) - {m["name"].capitalize() + "Stack"})
            if len(payload.get("layers", ())) != d - 1 or variants != [m["name"].capitalize()]:
                raise fail(f"{out}/metadata/rpms.json does not list only {rec['id']}'s packages and its"
                           f" {d - 1} layers")


def bench(args, work: Path, world: dict, n: int) -> tuple:
    mods = split(world, n)
    here = work / f"m{n}"
    shutil.rmtree(here, ignore_errors=True)
    here.mkdir()
    config = bk.write_config(here, "f40", [world["platform_repo"]])
    if args.stack_repo:
        text = config.read_text().replace("[compose]\n", f'[compose]\nstack_repo = "{args.stack_repo}"\n')
        config.write_text(text)
    cache = here / "cache"
    depth = [len(m["stack"]) + 1 for m in mods]
    log(f"== {n} modules: {world['module_n']} packages, stack size mean {statistics.mean(depth):.1f}"
        f" max {max(depth)}")
    runs = []
    t = time.perf_counter()
    for m in mods:
        d = write_module(here, mods, m)
        r = bk.run([args.strata, "compose", "module", d, "--config", config, "--cache-dir", cache,
                    "--metadata-only", "--json"])
        rec = bk.compose_record(r, f"compose {m['name']}")
        runs.append((r, rec))
    total = time.perf_counter() - t
    check(mods, depth, runs)
    secs = [r.seconds for r, _ in runs]
    med = statistics.median(secs)
    top = max(range(len(mods)), key=lambda k: (depth[k], secs[k]))
    out_bytes = du(here / "out")
    reg = (here / "registry.sqlite").stat().st_size
    log(f"  total {total:.1f} s; median {med:.3f} s, max {max(secs):.3f} s; deepest stack ({depth[top]} modules,"
        f" {mods[top]['name']}) {secs[top]:.3f} s, {runs[top][0].rss_mib:.0f} MiB, timings"
        f" {({k: round(v, 3) for k, v in runs[top][1]['timings'].items()})}; out {mib(out_bytes):.0f} MiB")
    # The first pass's deepest compose is one sample: like for like, the
    # deepest and the median-depth definitions composed for the first
    # time, each round under new names (no compose, memo or output of
    # their own yet; what they require is as the first pass left it),
    # alternating. Before the composes again below: once the median-depth
    # module is composed again, a deepest with it in its stack would gate
    # every layer above it in full.
    mid = sorted(range(len(mods)), key=lambda k: (depth[k], k))[len(mods) // 2]
    # 31 each: with 7 or 11, the ratio of two medians moved by a tenth or
    # more between runs of one binary on this 2-core machine; with 31,
    # runs of one binary agreed within 0.07.
    rounds = args.recompose or (1 if args.smoke else 31)
    first = {top: [], mid: []}
    os.sync()
    for i in range(rounds):
        for k in (top, mid):
            d = write_module(here, mods, {**mods[k], "name": f"{mods[k]['name']}f{i}"})
            r = bk.run([args.strata, "compose", "module", d, "--config", config, "--cache-dir", cache,
                        "--metadata-only", "--json"])
            bk.compose_record(r, f"compose {d.stem}, a first compose of {mods[k]['name']}")
            first[k].append(r.seconds)
    deep_first, mid_first = statistics.median(first[top]), statistics.median(first[mid])
    log(f"  first composes, {rounds} of each under new names: {mods[top]['name']} median {deep_first:.3f} s,"
        f" {mods[mid]['name']} {mid_first:.3f} s: {deep_first / mid_first:.2f}x")
    # One sample of the deepest compose is at the mercy of the machine:
    # the same two composes again, alternating, like for like (a chain
    # recomposes a module on a stack that was composed before it). Unless
    # the median-depth one is in the deepest's stack: composed again, it
    # would leave every layer above it checked against its old compose, and
    # each compose of the deepest after it would gate them all again. Then
    # the deepest is composed again first.
    inside = mid in mods[top]["stack"]
    order = [top] * rounds + [mid] * rounds if inside else [top, mid] * rounds
    again = {top: [], mid: []}
    # The first pass left its output to be written back: without this the
    # deepest's composes, which come first, waited on that writeback in
    # their own fsyncs, and the median-depth ones much less.
    os.sync()
    # Where the time went, step by step (the record's timings; the rest
    # is the process, the registry and putting the compose in place).
    steps = {top: collections.defaultdict(list), mid: collections.defaultdict(list)}
    for k in order:
        r = bk.run([args.strata, "compose", "module", here / f"{mods[k]['name']}.yaml", "--config",
                    config, "--cache-dir", cache, "--metadata-only", "--json"])
        rec = bk.compose_record(r, f"compose {mods[k]['name']} again")
        again[k].append(r.seconds)
        timings = rec.get("timings") or {}
        for step, took in timings.items():
            steps[k][step].append(took)
        # walk_s is a part of load_s, not a step of its own.
        steps[k]["rest_s"].append(r.seconds - sum(v for s, v in timings.items() if s != "walk_s"))
    deep_again, mid_again = statistics.median(again[top]), statistics.median(again[mid])
    log(f"  composed again {len(again[top])} times: {mods[top]['name']} ({depth[top]} modules) median"
        f" {deep_again:.3f} s, {mods[mid]['name']} ({depth[mid]} modules, the median depth"
        f"{', in its stack: composed after it' if inside else ''}) {mid_again:.3f} s:"
        f" {deep_again / mid_again:.2f}x")
    for k, what in ((top, "deepest"), (mid, "median depth")):
        log(f"    {what}, median ms: " + ", ".join(
            f"{step[:-2]} {statistics.median(v) * 1000:.1f}" for step, v in sorted(steps[k].items())))
    if not args.keep:
        shutil.rmtree(here / "out", ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    return (n, f"{statistics.mean(depth):.0f} / {max(depth)}", f"{total:.1f}", f"{med:.3f} / {max(secs):.3f}",
            f"{secs[top]:.3f} ({secs[top] / med:.2f}x)",
            f"{deep_again:.3f} / {mid_again:.3f} ({deep_again / mid_again:.2f}x)",
            f"{deep_first:.3f} / {mid_first:.3f} ({deep_first / mid_first:.2f}x)",
            f"{max(r.rss_mib for r, _ in runs):.0f} ({runs[top][0].rss_mib:.0f})",
            f"{mib(out_bytes):.0f} ({out_bytes / world['source_bytes']:.1f}x)", f"{reg / 1024 / n:.1f}")


if __name__ == "__main__":
    main()
