"""Metadata compression variants and the parsed-repo cache."""

from __future__ import annotations

import shutil

import pytest

import rpmfactory
from conftest import assert_same_closure

PKGS = [
    dict(name="fa", requires=["fb", "/usr/share/fc/data", "missing-1", "(fb or x)", "fc >= 2"]),
    dict(name="fb", epoch=1, version="2", requires=["missing-2 >= 1:3"]),
    dict(name="fc", version="2", files=["/usr/share/fc/data", "/usr/bin/fc"]),
]


@pytest.mark.parametrize("ctype", ["gz", "xz", "bz2"])  # createrepo_c 0.17 has no zstd
def test_createrepo_compression(ctype, build_repo, dnf_repoclosure, strata_repoclosure):
    repo = build_repo(PKGS, name=f"c-{ctype}", createrepo_args=[f"--general-compress-type={ctype}"])
    prim = list((repo / "repodata").glob("*primary.xml*"))
    assert prim and all(p.name.endswith("." + ctype) for p in prim)
    strata = strata_repoclosure({"c": repo})
    assert strata.pairs == {("fa-1-1.noarch", "missing-1"), ("fb-1:2-1.noarch", "missing-2 >= 1:3")}
    assert_same_closure(dnf_repoclosure({"c": repo}), strata)


@pytest.mark.parametrize("compress", ["none", "xz", "bz2", "zst"])
def test_metadata_only_compression(compress, build_repo, strata_repoclosure, dnf_repoclosure):
    repo = build_repo(PKGS, name=f"m-{compress}", metadata_only=True, compress=compress)
    strata = strata_repoclosure({"m": repo})
    assert strata.pairs == {("fa-1-1.noarch", "missing-1"), ("fb-1:2-1.noarch", "missing-2 >= 1:3")}
    assert_same_closure(dnf_repoclosure({"m": repo}), strata)


def test_cache_is_keyed_by_content(tmp_path, strata_repoclosure):
    """dnf reuses stale cached metadata of a regenerated file:// repo; strata's
    cache must not: same path, new content, same cache dir -> new answer."""
    cache = tmp_path / "cache"
    repo = tmp_path / "repo"
    rpmfactory.make_repo(repo, [dict(name="x", requires=["y"])])
    first = strata_repoclosure({"r": repo}, cache_dir=cache)
    assert first.pairs == {("x-1-1.noarch", "y")}
    assert any(cache.rglob("*")), "the cache dir is used"
    again = strata_repoclosure({"r": repo}, cache_dir=cache)
    assert again.triples == first.triples and again.rc == first.rc
    shutil.rmtree(repo)
    rpmfactory.make_repo(repo, [dict(name="x", requires=["z"]), dict(name="y")])
    second = strata_repoclosure({"r": repo}, cache_dir=cache)
    assert second.pairs == {("x-1-1.noarch", "z")}


def test_no_cache_writes_nothing(tmp_path, build_repo, run_strata):
    from conftest import strata_args
    repo = build_repo([dict(name="x")], name="nc")
    cache = tmp_path / "unused-cache"
    r = run_strata(strata_args({"r": repo}, no_cache=True) + ["--cache-dir", str(cache)])
    assert r.returncode in (0, 2)  # either accepted (and unused) or rejected as conflicting
    if r.returncode == 0:
        assert not cache.exists() or not any(cache.rglob("*"))
    r = run_strata(strata_args({"r": repo}, no_cache=True))
    assert r.returncode == 0, r.stderr
