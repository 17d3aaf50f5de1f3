"""Arches, --arch, --forcearch, --newest, --check with lookaside repos, and the
same package in several repos — strata against dnf (ORACLE.md §6, §7)."""

from __future__ import annotations

import pytest

from conftest import assert_same_closure

ARCH_PKGS = [
    dict(name="p-x86", arch="x86_64", requires=["cap-i686", "cap-aarch64", "cap-noarch", "missing-x", "cap-ppc"]),
    dict(name="p-i686", arch="i686", requires=["missing-i", "cap-x86"]),
    dict(name="p-aarch64", arch="aarch64", requires=["missing-a", "cap-x86", "cap-aarch64"]),
    dict(name="p-noarch", requires=["missing-n", "cap-aarch64", "cap-i686"]),
    dict(name="p-ppc", arch="ppc64le", requires=["missing-ppc"]),
    dict(name="prov-i686", arch="i686", provides=["cap-i686"]),
    dict(name="prov-aarch64", arch="aarch64", provides=["cap-aarch64"]),
    dict(name="prov-noarch", provides=["cap-noarch"]),
    dict(name="prov-x86", arch="x86_64", provides=["cap-x86"]),
    dict(name="prov-ppc", arch="ppc64le", provides=["cap-ppc"]),
]


@pytest.fixture(scope="module")
def arch_repo(build_repo):
    return build_repo(ARCH_PKGS, name="arches")


ARCH_VARIANTS = {
    "default": {},
    "arch-x86_64": dict(arch=["x86_64"]),
    "arch-aarch64": dict(arch=["aarch64"]),
    "arch-noarch": dict(arch=["noarch"]),
    "arch-i686": dict(arch=["i686"]),
    "arch-x86_64+noarch": dict(arch=["x86_64", "noarch"]),
    "forcearch-aarch64": dict(forcearch="aarch64"),
    "forcearch-aarch64-arch-aarch64": dict(forcearch="aarch64", arch=["aarch64"]),
    "forcearch-i686": dict(forcearch="i686"),
    "forcearch-ppc64le": dict(forcearch="ppc64le"),
}


@pytest.mark.parametrize("variant", list(ARCH_VARIANTS))
def test_arches_same_as_dnf(variant, arch_repo, dnf_repoclosure, strata_repoclosure):
    kw = ARCH_VARIANTS[variant]
    dnf = dnf_repoclosure({"a": arch_repo}, **kw)
    strata = strata_repoclosure({"a": arch_repo}, **kw)
    assert_same_closure(dnf, strata)


def test_default_checks_every_arch_but_only_compatible_provide(arch_repo, strata_repoclosure):
    s = strata_repoclosure({"a": arch_repo})
    checked = {n for n, _ in s.pairs}
    # every arch is checked on an x86_64 host ...
    assert {"p-aarch64-1-1.aarch64", "p-ppc-1-1.ppc64le", "p-i686-1-1.i686"} <= checked
    # ... but aarch64/ppc64le packages provide nothing there; i686 does.
    assert ("p-x86-1-1.x86_64", "cap-aarch64") in s.pairs
    assert ("p-aarch64-1-1.aarch64", "cap-aarch64") in s.pairs
    assert ("p-x86-1-1.x86_64", "cap-i686") not in s.pairs
    assert ("p-i686-1-1.i686", "cap-x86") not in s.pairs


# ---------------------------------------------------------------- newest / check

REPO_A = [
    dict(name="keep", version="1", requires=["only-old-cap"]),
    dict(name="keep", version="2", requires=["only-old-cap"]),
    dict(name="oldprov", version="1", provides=["only-old-cap"]),
    dict(name="oldprov", version="2"),
    dict(name="ma", version="2", arch="x86_64", requires=["miss-ma2"]),
    dict(name="ma", version="1", arch="i686", requires=["miss-ma1"]),
    dict(name="mn", version="2", requires=["miss-mn2"]),
    dict(name="mn", version="1", arch="x86_64", requires=["miss-mn1"]),
    dict(name="ep", epoch=1, version="1", requires=["miss-ep1"]),
    dict(name="ep", version="5", requires=["miss-ep5"]),
    dict(name="needl", requires=["lookaside-cap", "lookaside-broken-cap"]),
    dict(name="dup", requires=["miss-dup"]),
    dict(name="rel", version="1", release="9", requires=["miss-rel9"]),
    dict(name="rel", version="1", release="10", requires=["miss-rel10"]),
]
REPO_L = [
    dict(name="lprov", provides=["lookaside-cap"]),
    dict(name="lbroken", provides=["lookaside-broken-cap"], requires=["miss-in-lookaside"]),
    dict(name="dup", requires=["miss-dup"]),
    dict(name="keep", version="0.5", requires=["miss-keep-old"]),
]


@pytest.fixture(scope="module")
def two_repos(build_repo):
    return {"A": build_repo(REPO_A, name="A"), "L": build_repo(REPO_L, name="L")}


VARIANTS = {
    "A": (["A"], {}),
    "A-newest": (["A"], dict(newest=True)),
    "A+L": (["A", "L"], {}),
    "A+L-check-A": (["A", "L"], dict(check=["A"])),
    "A+L-check-L": (["A", "L"], dict(check=["L"])),
    "A+L-check-A-check-L": (["A", "L"], dict(check=["A", "L"])),
    "A+L-newest": (["A", "L"], dict(newest=True)),
    "A+L-newest-check-L": (["A", "L"], dict(newest=True, check=["L"])),
    "A+L-check-A-arch-x86_64": (["A", "L"], dict(check=["A"], arch=["x86_64"])),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_options_same_as_dnf(variant, two_repos, dnf_repoclosure, strata_repoclosure):
    ids, kw = VARIANTS[variant]
    repos = {i: two_repos[i] for i in ids}
    assert_same_closure(dnf_repoclosure(repos, **kw), strata_repoclosure(repos, **kw))


def test_newest_drops_old_providers(two_repos, strata_repoclosure):
    default = strata_repoclosure({"A": two_repos["A"]})
    newest = strata_repoclosure({"A": two_repos["A"]}, newest=True)
    # keep-2 is fine while oldprov-1 counts as a provider; not with --newest
    assert not any(n.startswith("keep-") for n, _ in default.pairs)
    assert ("keep-2-1.noarch", "only-old-cap") in newest.pairs
    assert not any(n.startswith("keep-1-") for n, _ in newest.pairs)
    # latest per (name, arch): both arches of ma stay; epoch beats version
    assert ("ma-1-1.i686", "miss-ma1") in newest.pairs
    assert ("ep-1:1-1.noarch", "miss-ep1") in newest.pairs
    assert ("ep-5-1.noarch", "miss-ep5") not in newest.pairs
    assert ("rel-1-10.noarch", "miss-rel10") in newest.pairs
    assert ("rel-1-9.noarch", "miss-rel9") not in newest.pairs


def test_check_uses_lookaside_for_providers(two_repos, strata_repoclosure):
    s = strata_repoclosure(two_repos, check=["A"])
    assert not any(n.startswith("needl-") for n, _ in s.pairs)
    assert {r for _, r, _ in s.triples} == {"A"}
    alone = strata_repoclosure({"A": two_repos["A"]})
    assert ("needl-1-1.noarch", "lookaside-cap") in alone.pairs


def test_same_nevra_in_two_repos_reported_per_repo(two_repos, strata_repoclosure):
    s = strata_repoclosure(two_repos)
    assert ("dup-1-1.noarch", "A", "miss-dup") in s.triples
    assert ("dup-1-1.noarch", "L", "miss-dup") in s.triples
    assert s.stderr.strip().endswith(
        f"({sum(len(d) for _, _, d in s.blocks)}) across {len(s.blocks)} packages.")


def test_unknown_check_repo_is_an_error(two_repos, run_strata, strata_cache):
    from conftest import strata_args
    r = run_strata(strata_args({"A": two_repos["A"]}, check=["nosuchrepo"], cache_dir=strata_cache))
    assert r.returncode == 2, r
    assert "nosuchrepo" in r.stderr
