#!/usr/bin/env python3
"""Benchmark: `strata compose artifact` (a container image) against the
same work done by hand, on the bundled example stack and on a larger
generated stack of real RPMs.

The issue's goal: within 1.2x of a bare `dnf --installroot` install (the
physical floor of this job), and reproducible where the hand-made image
is not.

1. Two stacks:
   - the bundled example (examples/): apache:2.4 and php:8.2 composed from
     examples/repos on the f40 platform, and
     examples/artifacts/php-container.yaml;
   - real RPMs made here (tests/rpmfactory.py; metadata-only packages, as
     the 63k dataset's, cannot be installed): a platform of --base
     packages, apache:2.4 (--apache) on it and php:8.2 (--php) on apache,
     each package with --files files of --file-kb KiB (incompressible).
2. For each, timed in turn (run 1 of each, then run 2 of each ...), each
   --runs times, medians and peak RSS:
   - strata: `strata compose artifact` of a container with php:8.2's
     default profile, at one SOURCE_DATE_EPOCH;
   - dnf: `dnf --installroot` module install of the same profile from the
     same repositories (the composes' and the platform), no scriptlets;
   - by hand: that install, then `umoci init/new/unpack`, `cp -a` of the
     root into the bundle and `umoci repack` (what a person would script).
3. Checks: every strata build has the same build ID (manifest digest); the
   files of strata's image (umoci unpack) are those dnf installed, less
   the rpm database and dnf's state, which strata leaves out; the two
   hand-made images are compared too (they differ: timestamps).

    python3 bench/artifacts.py [--strata PATH] [--runs 3] [--base 300 --apache 200 --php 100] [--smoke]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import benchkit as bk
from benchkit import fail, log

import composekit as ck  # noqa: E402  (tests/, on the path through benchkit)
import dnforacle  # noqa: E402
import rpmfactory  # noqa: E402

FULL_SMOKE = {"base": (300, 10), "apache": (200, 6), "php": (100, 4), "files": (4, 2),
              "file_kb": (64, 4), "runs": (3, 1)}
EPOCH = "1764900000"
# What strata leaves out of an image: the transaction's own state.
LEFT_OUT = ("var/lib/rpm", "var/lib/dnf", "var/cache/dnf", "var/log")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, what in (("--base", "platform packages"), ("--apache", "apache:2.4 packages"),
                       ("--php", "php:8.2 packages"), ("--files", "files in each package"),
                       ("--file-kb", "KiB in each file")):
        bk.size_option(ap, FULL_SMOKE, flag, what)
    args = bk.parse_args(ap, FULL_SMOKE)
    for tool in ("umoci", "skopeo"):
        if not shutil.which(tool):
            raise fail(f"{tool} is not installed (Debian package {tool})")
    started = time.perf_counter()
    with bk.workdir(args, "strata-bench-artifacts-", fresh=True) as work:
        bench(args, args.strata, work)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


def packages(prefix: str, n: int, args, requires=()) -> list[dict]:
    return [{"name": f"{prefix}-{i}", "version": "1", "requires": list(requires),
             "files": [f"/usr/share/{prefix}/{i}/f{j}" for j in range(args.files)],
             "file_size": args.file_kb * 1024}
            for i in range(n)]


def bench(args, strata, work):
    log(f"== real RPMs for php:8.2 ({args.php}) <- apache:2.4 ({args.apache}) <- platform ({args.base}), "
        f"{args.files} files of {args.file_kb} KiB each")
    t = time.perf_counter()
    base = rpmfactory.make_repo(work / "repos" / "base", packages("base", args.base, args))
    apache_src = rpmfactory.make_repo(work / "repos" / "apache",
                                      packages("httpd", args.apache, args, ["base-0"]))
    php_src = rpmfactory.make_repo(work / "repos" / "php",
                                   packages("php", args.php, args, ["httpd-0"]))
    log(f"  built {args.base + args.apache + args.php} RPMs in {time.perf_counter() - t:.1f} s")
    config = bk.write_config(work, "f40", [base])
    defs = {}
    for name, stream, src, n, req in (("apache", "2.4", apache_src, args.apache, {}),
                                      ("php", "8.2", php_src, args.php, {"apache": "2.4"})):
        names = [f"{'httpd' if name == 'apache' else name}-{i}" for i in range(n)]
        doc = ck.definition(name, stream, packages=names, repos=[src],
                            requires={"platform": "f40", **req}, profiles={"default": names})
        defs[name] = ck.write_definition(work / f"{name}.yaml", doc)
    records = {}
    for name in ("apache", "php"):
        records[name] = bk.compose_record(
            bk.run([strata, "compose", "module", defs[name], "--config", config, "--json"]),
            f"compose {name}")
    artifact = work / "php-container.yaml"
    artifact.write_text(json.dumps({"document": "strata-artifact", "version": 1, "data": {
        "name": "php-container", "kind": "container", "summary": "benchmark", "arches": ["x86_64"],
        "contents": [{"module": "php:8.2", "profile": "default"}],
        "container": {"entrypoint": ["/bin/sh"]}}}))
    rows = [example(args, strata, work / "example"),
            container(f"generated: php:8.2 ({args.php}) <- apache:2.4 ({args.apache}) <- platform ({args.base})",
                      args, strata, work, config, artifact, records, base)]
    print("\n### Container artifact: strata against a bare dnf --installroot (the floor) and by hand\n")
    bk.table(("stack", "strata s", "dnf --installroot s", "by hand s", "strata / dnf (goal 1.2x)",
              "strata / dnf, run by run: median (min-max)", "strata / by hand", "strata: one build ID", "hand-made: same twice", "packages"), rows)


def example(args, strata, work):
    """The bundled example stack (examples/): apache:2.4 and php:8.2 composed
    from its repositories, then examples/artifacts/php-container.yaml."""
    examples = bk.ROOT / "examples"
    work.mkdir(parents=True)
    config = bk.write_config(work, "f40", [examples / "repos" / "base"])
    records = {}
    for name in ("apache", "php"):
        records[name] = bk.compose_record(
            bk.run([strata, "compose", "module", examples / "modules" / f"{name}.yaml", "--config", config,
                    "--json"]), f"compose example {name}")
    return container("bundled example: php:8.2 <- apache:2.4 <- f40", args, strata, work, config,
                     examples / "artifacts" / "php-container.yaml", records, examples / "repos" / "base")


def container(title, args, strata, work, config, artifact, records, base):
    """A container artifact of php:8.2's default profile, timed against the
    floor and the hand-made image and checked: a row of the summary."""
    log(f"== {title}")
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    env.pop("STRATA_CONFIG", None)

    repos = {"apache": ck.repo_dir(records["apache"], "x86_64"),
             "php": ck.repo_dir(records["php"], "x86_64"), "base": base}
    root, dnf_work = work / "dnf-root", work / "dnf-work"

    def fresh_root():
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(dnf_work, ignore_errors=True)
        dnf_work.mkdir(parents=True)
        (dnf_work / "home").mkdir()
        (dnf_work / "home" / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")

    def dnf_cmd():
        conf = dnforacle._write_conf(dnf_work, {k: Path(v) for k, v in repos.items()})
        return ["env", f"HOME={dnf_work / 'home'}", *dnforacle.DNF, "-y", "-c", conf,
                f"--installroot={root}", "--releasever=40", "--forcearch=x86_64",
                "--disableplugin=*", "--setopt=module_platform_id=platform:f40",
                "--setopt=tsflags=noscripts", "--setopt=install_weak_deps=0",
                "module", "install", "php:8.2/default"]

    layout, bundle = work / "hand-image", work / "hand-bundle"

    def hand_clean():
        fresh_root()
        shutil.rmtree(layout, ignore_errors=True)
        shutil.rmtree(bundle, ignore_errors=True)

    def by_hand():
        dnf = " ".join(f"'{c}'" for c in map(str, dnf_cmd()))
        script = (f"set -e; {dnf} >/dev/null; umoci init --layout {layout}; "
                  f"umoci new --image {layout}:latest; "
                  f"umoci unpack --image {layout}:latest {bundle} >/dev/null; "
                  f"cp -a {root}/. {bundle}/rootfs/; umoci repack --image {layout}:latest {bundle}")
        return ["bash", "-c", script]

    def settled(before=None):
        """Each run starts with nothing of the run before still being
        written back: a run after the hand-made image (cp -a, repack) would
        otherwise pay for its writes in its own syncs."""
        def prepare():
            if before:
                before()
            os.sync()
        return prepare

    # In turn, so that the machine's drift weighs on the three alike.
    (strata_row, strata_runs), (dnf_row, dnf_runs), (hand_row, _) = bk.measure_in_turn([
        bk.Case("strata compose artifact (container)",
                lambda: [strata, "compose", "artifact", artifact, "--config", config, "--json"],
                before=settled(), env=env),
        bk.Case("dnf --installroot (the floor)", dnf_cmd, before=settled(fresh_root)),
        bk.Case("by hand: dnf + cp + umoci repack", by_hand, before=settled(hand_clean)),
    ], args.runs)
    strata_recs = [json.loads(r.stdout) for r in strata_runs]
    ids = {r["outputs"]["build_id"] for r in strata_recs}
    if len(ids) != 1:
        raise fail(f"strata's builds of the same inputs have different build IDs: {sorted(ids)}")
    first_hand = digest(layout)
    hand_clean()
    bk.run(by_hand())
    hand_same = digest(layout) == first_hand

    # The image holds what dnf installed, less the transaction's state.
    fresh_root()
    bk.run(dnf_cmd())
    out = Path(strata_recs[-1]["outputs"]["path"])
    unpacked = work / "strata-bundle"
    shutil.rmtree(unpacked, ignore_errors=True)
    bk.run(["umoci", "unpack", "--image", f"{out / 'image'}:latest", unpacked])
    # dnf puts its cache, logs and history under the installroot, at the
    # paths its configuration names (here under the work folder).
    state = Path(str(dnf_work).lstrip("/"))
    ours, theirs = tree(unpacked / "rootfs"), tree(root, state)
    if ours != theirs:
        raise fail(f"strata's image and dnf's root differ: image only {sorted(ours - theirs)[:5]}, "
                   f"root only {sorted(theirs - ours)[:5]}")
    log(f"  strata's image holds the {len(ours)} files and directories dnf installed")

    pairs = [a.seconds / b.seconds for a, b in zip(strata_runs, dnf_runs)]
    log(f"  timings of the last strata run: {json.dumps(strata_recs[-1]['timings'])}")
    return (title, f"{strata_row.seconds:.3f}", f"{dnf_row.seconds:.3f}", f"{hand_row.seconds:.3f}",
            f"{strata_row.seconds / dnf_row.seconds:.2f}x",
            # Each strata run against the floor's run right after it: the
            # pairs share the machine's state of the moment.
            f"{statistics.median(pairs):.2f}x ({min(pairs):.2f}-{max(pairs):.2f})",
            f"{strata_row.seconds / hand_row.seconds:.2f}x",
            f"yes ({len(strata_recs)} runs, {next(iter(ids))[:19]}…)", "yes" if hand_same else "no",
            str(len(strata_recs[-1]["packages"]["x86_64"])))


def digest(layout: Path) -> str:
    index = json.loads((layout / "index.json").read_text())
    return index["manifests"][0]["digest"]


def tree(root: Path, state: Path | None = None) -> set[str]:
    """The paths under root, less what strata leaves out of an image and
    `state` (relative) with the folders above it."""
    left_out = LEFT_OUT + ((str(state),) if state else ())
    above = {str(p) for p in state.parents if str(p) != "."} if state else set()
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for n in dirnames + filenames:
            p = os.path.normpath(os.path.join(rel, n))
            if p not in above and not any(p == x or p.startswith(x + "/") for x in left_out):
                found.add(p)
    # dnf's own folders that hold only its state.
    return {p for p in found if p not in ("var/lib", "var/cache", "var")}


if __name__ == "__main__":
    main()
