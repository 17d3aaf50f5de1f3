"""Shared fixtures: the strata binary, repo builders, and runners for both
`strata repoclosure` and the oracle `dnf repoclosure`.

Runners return a `ClosureRun`, which unpacks as `(pairs, exit_code)` where
pairs is the set of (package NEVRA, dependency) reported unresolved; the
parsed blocks, triples with the repo id, stdout and stderr are attributes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import dnforacle  # noqa: E402
import rpmfactory  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BOOKWORM = Path("/work/shared/datasets/debian-bookworm-main")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: minutes of work (the 63k-package dataset, the RPM build)")


# --------------------------------------------------------------------------
# The binary


def _find_strata() -> Path | None:
    env = os.environ.get("STRATA_BIN")
    if env:
        return Path(env)
    for p in (ROOT / "target" / "release" / "strata", ROOT / "target" / "debug" / "strata"):
        if p.is_file() and os.access(p, os.X_OK):
            return p
    return None


@pytest.fixture(scope="session")
def strata_bin() -> Path:
    """Path of the strata CLI. Missing binary is a failure, not a skip."""
    p = _find_strata()
    if p is None or not p.is_file():
        pytest.fail("strata binary not found: set STRATA_BIN or build target/release/strata "
                    "(cargo build --release)", pytrace=False)
    return p


# --------------------------------------------------------------------------
# Results


@dataclass
class ClosureRun:
    rc: int
    stdout: str
    stderr: str
    blocks: list = field(default_factory=list)  # [(nevra, repo, [deps])] in output order

    @property
    def pairs(self) -> set[tuple[str, str]]:
        return dnforacle.pairs(self.blocks)

    @property
    def triples(self) -> set[tuple[str, str, str]]:
        return dnforacle.triples(self.blocks)

    @property
    def packages(self) -> list[tuple[str, str]]:
        return [(n, r) for n, r, _ in self.blocks]

    def __iter__(self):
        return iter((self.pairs, self.rc))

    def describe(self) -> str:
        return f"rc={self.rc}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def rc_class(rc: int) -> str:
    return {0: "closed", 1: "unresolved"}.get(rc, "error")


def summary_line(blocks) -> str:
    d = sum(len(deps) for _, _, deps in blocks)
    return f"Error: Repoclosure ended with unresolved dependencies ({d}) across {len(blocks)} packages."


def assert_same_closure(dnf: ClosureRun, strata: ClosureRun):
    """The differential check: same (nevra, repo, dep) set, same exit class."""
    missing = dnf.triples - strata.triples
    extra = strata.triples - dnf.triples
    assert not missing and not extra, (
        f"strata differs from dnf repoclosure\n  only in dnf: {sorted(missing)}\n"
        f"  only in strata: {sorted(extra)}\n--- strata ---\n{strata.describe()}")
    assert rc_class(strata.rc) == rc_class(dnf.rc), (
        f"exit status: dnf {dnf.rc}, strata {strata.rc}\n{strata.describe()}")


# --------------------------------------------------------------------------
# Repos


@pytest.fixture(scope="session")
def build_repo(tmp_path_factory):
    """build_repo(pkgs, name="repo", metadata_only=False, compress="gz",
    createrepo_args=()) -> Path of a fresh repository.

    Real RPMs via rpmbuild + createrepo_c by default; metadata_only writes the
    rpm-md XML directly (for dependency strings rpmbuild refuses)."""

    def _build(pkgs: Iterable[dict], name: str = "repo", metadata_only: bool = False,
               compress: str = "gz", createrepo_args: Iterable[str] = ()) -> Path:
        d = tmp_path_factory.mktemp(name) / name
        if metadata_only:
            return rpmfactory.write_md_repo(d, pkgs, compress=compress)
        return rpmfactory.make_repo(d, pkgs, createrepo_args)

    return _build


def _as_list(x) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


@pytest.fixture(scope="session")
def dnf_repoclosure():
    """dnf_repoclosure(repos, check=None, arch=None, newest=False, forcearch=None)
    -> ClosureRun of the real `dnf repoclosure`. repos: {id: path or URL}."""

    def _run(repos: Mapping[str, str | Path], check=None, arch=None, newest=False,
             forcearch=None) -> ClosureRun:
        r = dnforacle.run_dnf(repos, check=_as_list(check), arches=_as_list(arch),
                              newest=newest, forcearch=forcearch)
        if r.returncode not in (0, 1):
            raise RuntimeError(f"dnf failed: {r.returncode}\n{r.stderr}")
        if r.returncode == 1 and not dnforacle.SUMMARY_RE.search(r.stderr):
            raise RuntimeError(f"dnf failed (not a closure result):\n{r.stderr}")
        return ClosureRun(r.returncode, r.stdout, r.stderr, dnforacle.parse_repoclosure(r.stdout))

    return _run


def strata_args(repos: Mapping[str, str | Path], check=None, arch=None, newest=False,
                forcearch=None, installable=False, suggest_from=None, json_out=False,
                cache_dir=None, no_cache=False, extra=()) -> list[str]:
    args = ["repoclosure"]
    for rid, loc in repos.items():
        args += ["--repo", f"{rid}={loc}"]
    for c in _as_list(check):
        args += ["--check", c]
    for a in _as_list(arch):
        args += ["--arch", a]
    if newest:
        args.append("--newest")
    if forcearch:
        args += ["--forcearch", forcearch]
    if installable:
        args.append("--installable")
    for rid, loc in (suggest_from or {}).items():
        args += ["--suggest-from", f"{rid}={loc}"]
    if json_out:
        args.append("--json")
    if no_cache:
        args.append("--no-cache")
    elif cache_dir is not None:
        args += ["--cache-dir", str(cache_dir)]
    return args + list(extra)


@pytest.fixture(scope="session")
def strata_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("strata-cache")


@pytest.fixture(scope="session")
def run_strata(strata_bin):
    """run_strata(args) -> CompletedProcess (raw CLI call)."""

    def _run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        env.setdefault("NO_COLOR", "1")
        return subprocess.run([str(strata_bin), *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, env=env)

    return _run


@pytest.fixture(scope="session")
def strata_repoclosure(run_strata, strata_cache):
    """strata_repoclosure(repos, check=None, arch=None, newest=False, forcearch=None,
    installable=False, suggest_from=None, cache_dir=<session cache>, no_cache=False)
    -> ClosureRun parsed from strata's dnf-format stdout."""

    def _run(repos, *, cache_dir=None, **kw) -> ClosureRun:
        args = strata_args(repos, cache_dir=cache_dir or strata_cache, **kw)
        r = run_strata(args)
        try:
            blocks = (dnforacle.parse_repoclosure(r.stdout, other_sections=bool(kw.get("installable")))
                      if r.returncode in (0, 1) else [])
        except ValueError as e:
            pytest.fail(f"strata stdout is not in dnf's format: {e}\n{r.stdout}")
        return ClosureRun(r.returncode, r.stdout, r.stderr, blocks)

    return _run


@dataclass
class JsonRun:
    rc: int
    data: dict | None
    stdout: str
    stderr: str

    @property
    def triples(self) -> set[tuple[str, str, str]]:
        return {(u["package"], u["repo"], d) for u in self.data["unresolved"] for d in u["deps"]}

    def __iter__(self):
        return iter((self.data, self.rc))


@pytest.fixture(scope="session")
def strata_json(run_strata, strata_cache):
    """strata_json(repos, **same options) -> JsonRun (data = parsed --json output)."""

    def _run(repos, *, cache_dir=None, **kw) -> JsonRun:
        args = strata_args(repos, json_out=True, cache_dir=cache_dir or strata_cache, **kw)
        r = run_strata(args)
        data = None
        if r.returncode in (0, 1):
            try:
                data = json.loads(r.stdout)
            except json.JSONDecodeError as e:
                pytest.fail(f"strata --json printed invalid JSON ({e}):\n{r.stdout[:2000]}\n{r.stderr}")
        return JsonRun(r.returncode, data, r.stdout, r.stderr)

    return _run


@pytest.fixture(scope="session")
def installcheck_oracle():
    """installcheck_oracle(repos, check=None) -> {(nevra, repo): [problems]} via libdnf."""
    return dnforacle.run_installcheck
