"""What the benchmarks in bench/ share, so that each script says only what
it measures: where the dataset and the built binaries are, the common
options (--smoke, --runs, --strata, --work, --seed), running a command
under GNU time with its exit status checked, medians, markdown tables,
strata definitions and configurations, and the choice of package sets
that pass the compose gate.

A benchmark that cannot do what it claims (a command fails, the peers
disagree, a check does not hold) stops through `fail()`: a message on
stderr and exit status 1, so that bench/smoke, which CI runs, fails.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
# CI checks the repository out with ../shared beside it.
DATASET = ROOT.parent / "shared" / "datasets" / "debian-bookworm-main"
sys.path.insert(0, str(ROOT / "tests"))
import dnforacle  # noqa: E402  (tests/dnforacle.py: dnf's repoclosure format)

# No single command of a full-size run takes more than about 30 s (the
# naive installability loop); a hung dnf or strata must not hang CI.
TIMEOUT_S = 1800
# The largest output read back from one command (the --installable report
# of all 63,440 packages is a few MiB).
MAX_OUTPUT = 256 << 20
# The largest primary.xml read (the dataset's is 94.6 MB open).
MAX_PRIMARY = 1 << 30


class BenchFailure(SystemExit):
    """The benchmark cannot stand for what it claims; exit status 1."""


def fail(message: str) -> BenchFailure:
    """Raise it: `raise fail("...")`, so that the caller's flow is plain."""
    return BenchFailure(f"benchmark FAILED: {message}")


# --- options -------------------------------------------------------------

def size_option(ap: argparse.ArgumentParser, sizes: dict[str, tuple], flag: str, help: str, type=int) -> None:
    """An option whose default is its full size, or under --smoke its
    smoke size: sizes = {"payload_kb": (full, smoke), ...}."""
    full, smoke = sizes[flag.lstrip("-").replace("-", "_")]
    ap.add_argument(flag, type=type, help=f"{help} (default {full}; --smoke {smoke})")


def parse_args(ap: argparse.ArgumentParser, sizes: dict[str, tuple], strata: bool = True) -> argparse.Namespace:
    """Adds the common options, parses the command line, and fills every
    option of `sizes` (see size_option; "runs" is common) the command line
    left out. With `strata`, --strata and --seed, and args.strata is
    checked and made absolute."""
    ap.add_argument("--smoke", action="store_true",
                    help="a small size for CI: every peer and every check, in seconds")
    size_option(ap, sizes, "--runs", "timed runs of each command (median)")
    ap.add_argument("--work", help="keep generated data here (default: a temporary directory)")
    if strata:
        ap.add_argument("--strata", default=os.environ.get("STRATA_BIN", str(ROOT / "target" / "release" / "strata")),
                        help="the strata binary (default: $STRATA_BIN, else target/release/strata)")
        ap.add_argument("--seed", type=int, default=20261125, help="of the random package sets")
    args = ap.parse_args()
    for key, (full, smoke) in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, smoke if args.smoke else full)
    if strata:
        path = Path(args.strata).resolve()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise fail(f"strata binary {path} missing or not executable: build it "
                       f"(cargo build --release -p strata-cli, or bash scripts/test), or pass --strata")
        args.strata = str(path)
    return args


def require_dataset(repo: Path = DATASET) -> Path:
    if not (repo / "repodata" / "repomd.xml").is_file():
        raise fail(f"dataset {repo} missing: its repodata/repomd.xml is not there "
                   f"(the benchmarks expect ../shared beside the repository)")
    return repo


@contextlib.contextmanager
def workdir(args: argparse.Namespace, prefix: str, fresh: bool = False) -> Iterator[Path]:
    """--work (emptied first if `fresh`), else a temporary directory that is
    removed at the end."""
    if args.work:
        work = Path(args.work).resolve()
        if fresh:
            shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
        yield work
    else:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield Path(tmp)


def wiper(*paths: Path) -> Callable[[], None]:
    """A `before` for measure(): removes the paths (a cache, an output)."""
    def wipe() -> None:
        for p in paths:
            shutil.rmtree(p, ignore_errors=True)
    return wipe


# --- running and timing --------------------------------------------------

@dataclass
class Run:
    seconds: float
    rss_mib: float
    rc: int
    stdout: str
    stderr: str


@dataclass
class Row:
    label: str
    seconds: float  # median wall time
    rss_mib: float  # largest peak RSS


def _read_bounded(f, what: str) -> str:
    size = f.seek(0, os.SEEK_END)
    if size > MAX_OUTPUT:
        raise fail(f"{what} wrote {size} bytes, more than the {MAX_OUTPUT >> 20} MiB a benchmark reads back")
    f.seek(0)
    return f.read().decode(errors="replace")


def run(cmd: Sequence, env: dict | None = None, ok: Iterable[int] | None = (0,),
        timeout: float = TIMEOUT_S) -> Run:
    """Runs cmd under GNU time: wall time, peak RSS, exit code and output.
    GNU time is the child that measures, so this (big) Python's own peak
    RSS does not leak into the number, as it would into a direct child's
    rusage. An exit code outside `ok` (None: any) fails the benchmark with
    the command's output."""
    cmd = [str(c) for c in cmd]
    name = Path(cmd[0]).name
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as rss:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd],
                                    stdout=out, stderr=err, env=env)
        except FileNotFoundError:
            raise fail("/usr/bin/time (GNU time, Debian package `time`) is not installed") from None
        # A blocking wait, ended by a timer at the timeout: Popen.wait with
        # a timeout polls with sleeps doubling up to 50 ms, which rounded a
        # 70 ms command up to 113 ms and a 42 ms one up to 64 ms.
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - start
        if proc.returncode == -9 and elapsed >= timeout:
            raise fail(f"{name} did not finish within {timeout:.0f} s: {' '.join(cmd)}")
        stdout, stderr = _read_bounded(out, name), _read_bounded(err, name)
        lines = rss.read().split()
    if ok is not None and proc.returncode not in ok:
        raise fail(f"{name} exited with {proc.returncode} (expected {' or '.join(map(str, ok))}): "
                   f"{' '.join(cmd)}\n--- stdout (end)\n{stdout[-2000:]}\n--- stderr (end)\n{stderr[-3000:]}")
    if not lines or not lines[-1].isdigit():
        raise fail(f"GNU time gave no peak RSS for {' '.join(cmd)}")
    return Run(elapsed, int(lines[-1]) / 1024, proc.returncode, stdout, stderr)


def measure(label: str, make_cmd: Callable[[], Sequence], runs: int, before: Callable[[], object] | None = None,
            env: dict | None = None, ok: Iterable[int] = (0,)) -> tuple[Row, list[Run]]:
    """`runs` runs of make_cmd() (each after before()): median wall time and
    largest peak RSS, and every run for the caller's checks."""
    if runs < 1:
        raise fail(f"{label}: --runs must be at least 1")
    done = []
    for _ in range(runs):
        if before:
            before()
        done.append(run(make_cmd(), env=env, ok=ok))
    row = Row(label, statistics.median(r.seconds for r in done), max(r.rss_mib for r in done))
    log(f"  {label:<56} {row.seconds:>8.3f} s {row.rss_mib:>8.1f} MiB")
    return row, done


def repoclosure(label: str, cmd: Sequence, env: dict | None = None) -> tuple[Run, set[tuple[str, str]]]:
    """Runs a repoclosure (dnf's or strata's, which prints dnf's format)
    and returns the run and its unresolved (package, dep) pairs; its exit
    status must be 1 exactly when there are some, as dnf's."""
    r = run(cmd, env=env, ok=(0, 1))
    try:
        found = dnforacle.pairs(dnforacle.parse_repoclosure(r.stdout))
    except ValueError as e:
        raise fail(f"{label}: unreadable repoclosure output ({e})") from None
    if bool(found) != (r.rc == 1):
        raise fail(f"{label}: exit {r.rc} with {len(found)} unresolved pairs")
    log(f"  {label}: exit {r.rc}, {len(found)} unresolved (package, dep) pairs")
    return r, found


def same_pairs(what: str, ours: set, theirs: set, peer: str = "dnf") -> None:
    if ours != theirs:
        raise fail(f"strata and {peer} disagree on {what}: strata only ({len(ours - theirs)})"
                   f" {sorted(ours - theirs)[:5]}, {peer} only ({len(theirs - ours)}) {sorted(theirs - ours)[:5]}")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def table(head: Sequence[str], rows: Iterable[Sequence], first_left: bool = True) -> None:
    """Prints a markdown table; every column but the first right-aligned."""
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i == 0 and first_left else "---:" for i in range(len(head))) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


@dataclass
class Case:
    """One command measured by measure_in_turn()."""
    label: str
    make_cmd: Callable[[], Sequence]
    before: Callable[[], object] | None = None
    env: dict | None = None


def measure_in_turn(cases: Sequence[Case], runs: int) -> list[tuple[Row, list[Run]]]:
    """measure() of several commands taken in turn (run 1 of each, then run
    2 of each, ...), so that a machine that slows down or speeds up during
    the benchmark weighs on every command alike, not on the last ones."""
    if runs < 1:
        raise fail("--runs must be at least 1")
    done: list[list[Run]] = [[] for _ in cases]
    for _ in range(runs):
        for case, runs_of in zip(cases, done):
            if case.before:
                case.before()
            runs_of.append(run(case.make_cmd(), env=case.env))
    out = []
    for case, runs_of in zip(cases, done):
        row = Row(case.label, statistics.median(r.seconds for r in runs_of), max(r.rss_mib for r in runs_of))
        log(f"  {case.label:<56} {row.seconds:>8.3f} s {row.rss_mib:>8.1f} MiB"
            f"  (runs: {' '.join(f'{r.seconds:.3f}' for r in runs_of)})")
        out.append((row, runs_of))
    return out


def row_table(rows: Iterable[Row]) -> None:
    table(("run", "median s", "peak RSS MiB"), ((r.label, f"{r.seconds:.3f}", f"{r.rss_mib:.1f}") for r in rows))


# --- repositories --------------------------------------------------------

@dataclass(frozen=True)
class Package:
    name: str
    arch: str
    href: str
    provides: frozenset[str]


_LOCATION = re.compile(r'<data type="primary">.*?<location href="([^"]+)"', re.S)
_NAME = re.compile(r"<name>([^<]+)</name>\s*<arch>([^<]+)</arch>")
_HREF = re.compile(r'<location (?:xml:base="[^"]*" )?href="([^"]+)"')
_PROVIDES = re.compile(r"<rpm:provides>(.*?)</rpm:provides>", re.S)
_ENTRY = re.compile(r'<rpm:entry name="([^"]+)"')


def read_primary(repo: Path) -> list[Package]:
    """Every package of a local repository's primary.xml(.gz), through
    repomd.xml. Only the few fields the benchmarks choose by; the
    repositories read here are the dataset and what createrepo_c and
    strata wrote from it."""
    repomd = Path(repo) / "repodata" / "repomd.xml"
    try:
        m = _LOCATION.search(repomd.read_text())
    except OSError as e:
        raise fail(f"cannot read {repomd}: {e}") from None
    if not m:
        raise fail(f"{repomd} names no primary metadata")
    path = Path(repo) / m.group(1)
    try:
        with (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read(MAX_PRIMARY + 1)
    except (OSError, EOFError) as e:
        raise fail(f"cannot read {path}: {e}") from None
    if len(raw) > MAX_PRIMARY:
        raise fail(f"{path} opens to more than {MAX_PRIMARY >> 20} MiB, the most a benchmark reads")
    out = []
    for i, block in enumerate(raw.decode().split("<package ")[1:]):
        n, h = _NAME.search(block), _HREF.search(block)
        if not (n and h):
            raise fail(f"{path}: package {i + 1} has no name, arch or location")
        prov = _PROVIDES.search(block)
        out.append(Package(n.group(1), n.group(2), h.group(1),
                           frozenset(_ENTRY.findall(prov.group(1))) if prov else frozenset()))
    return out


def placeholders(dest: Path, hrefs: Iterable[str]) -> None:
    """Empty files at the given hrefs under dest: with `createrepo_reuse`
    they make a repository of those packages out of the source's own
    metadata records, without RPMs."""
    for h in hrefs:
        p = dest / h
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()


def createrepo_reuse(dest: Path, source: Path, *extra: str) -> list[str]:
    """createrepo_c's own way to write repodata without reading RPMs: the
    records of `source` for the placeholder files under dest."""
    return ["createrepo_c", "--quiet", "--update", "--update-md-path", str(source), "--skip-stat",
            *extra, str(dest)]


def unresolved_names(strata: str, repo: Path) -> set[str]:
    """Names of the packages that `repo` on its own leaves unresolved."""
    r = run([strata, "repoclosure", "--repo", f"d={repo}", "--json", "--no-cache"], ok=(0, 1))
    try:
        unresolved = json.loads(r.stdout)["unresolved"]
    except (ValueError, KeyError, TypeError) as e:
        raise fail(f"strata repoclosure --json over {repo} printed no report ({e})") from None
    if bool(unresolved) != (r.rc == 1):
        raise fail(f"strata repoclosure over {repo} exited {r.rc} with {len(unresolved)} unresolved packages")
    return {u["package"].rsplit("-", 2)[0] for u in unresolved}


def gate_safe_names(strata: str, packages: list[Package], repo: Path = DATASET) -> list[str]:
    """Names that a module composed out of `repo`, with `repo` as its
    platform, can carry and still pass the gate:
    - one build only (the dataset repeats some names across arches, and a
      module package must be unambiguous);
    - not left unresolved by the repository itself;
    - not provided by another package: with the module's stream active the
      gate hides, as dnf's modular filtering does, every platform package
      named like or providing the name of a module package
      (rust/compose/src/module.rs `modular_filter`; Debian's perl provides
      libversion-perl, elpa-yasnippet provides yasnippet), which would
      break the module's own dependencies on that provider rather than
      measure anything."""
    counts: dict[str, int] = {}
    provided_by_others: set[str] = set()
    for p in packages:
        counts[p.name] = counts.get(p.name, 0) + 1
        provided_by_others.update(n for n in p.provides if n != p.name)
    bad = unresolved_names(strata, repo)
    several = {n for n, c in counts.items() if c > 1}
    provided = provided_by_others.intersection(counts)
    pool = sorted(set(counts) - several - bad - provided)
    log(f"  {len(pool)} candidate names of {len(counts)}; left out: {len(several)} with several builds,"
        f" {len(bad)} unresolved in {repo.name}, {len(provided)} provided by other packages")
    return pool


def pick_sets(pool: Sequence[str], set_sizes: Sequence[int], rng) -> list[list[str]]:
    """Disjoint, seeded-random, sorted name sets of the given sizes."""
    if sum(set_sizes) > len(pool):
        raise fail(f"{sum(set_sizes)} packages asked for, only {len(pool)} candidates")
    chosen = rng.sample(list(pool), sum(set_sizes))
    sets, i = [], 0
    for s in set_sizes:
        sets.append(sorted(chosen[i:i + s]))
        i += s
    return sets


# --- strata --------------------------------------------------------------

def write_definition(path: Path, name: str, stream: str, packages: Iterable[str], source: Path,
                     requires: dict[str, str] | None = None, arches: Sequence[str] = ("x86_64",)) -> Path:
    import yaml
    data = {"name": name, "stream": stream, "summary": f"{name} (benchmark)",
            "description": f"{name}, a benchmark module", "license": ["MIT"], "arches": list(arches),
            "source": {"repos": [str(source)]}, "packages": {p: None for p in packages}}
    if requires:
        data["requires"] = dict(requires)
    Path(path).write_text(yaml.safe_dump({"document": "strata-module", "version": 1, "data": data}))
    return Path(path)


def write_config(work: Path, platform: str, repos: Sequence[Path]) -> Path:
    """strata.toml with the registry and the composes under work."""
    config = work / "strata.toml"
    config.write_text(f'[registry]\npath = "{work / "registry.sqlite"}"\n'
                      f'[compose]\nout = "{work / "out"}"\n'
                      f'[platform.{platform}]\nrepos = [{", ".join(json.dumps(str(r)) for r in repos)}]\n')
    return config


def compose_record(r: Run, what: str) -> dict:
    """The record `strata compose module --json` printed; a finished one."""
    try:
        rec = json.loads(r.stdout)
    except ValueError as e:
        raise fail(f"{what}: strata compose --json printed no record ({e}):\n{r.stdout[-2000:]}") from None
    if rec.get("state") != "finished":
        raise fail(f"{what}: compose {rec.get('id')} is {rec.get('state')}, not finished")
    return rec
