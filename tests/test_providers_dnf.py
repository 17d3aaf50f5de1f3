"""Who provides what, held to dnf: the cases strata-solve's random
agreement test (rust/solve/src/agreement.rs) found against libsolv, built
as real RPMs and compared with `dnf repoclosure` and libdnf's solver. And a
filelists.xml that cannot be read, as the CLI and Python report it."""

from __future__ import annotations

import pytest

from conftest import assert_same_closure, strata_args

MAIN = [
    # Paths inside rich dependencies, listed in filelists.xml only.
    dict(name="owner", files=["/usr/share/owner/data"]),
    dict(name="rich-path", requires=["(/usr/share/owner/data or nothere)"]),
    dict(name="rich-with", requires=["(owner with /usr/share/owner/data)"]),
    # Names holding parentheses inside a rich dependency.
    dict(name="fontprov", provides=["font(sans)"]),
    dict(name="fontuser", requires=["(font(sans) if owner)"]),
    # A package that provides a path by name (and cannot be installed)
    # must not hide the package that lists the file.
    dict(name="alt", provides=["/usr/share/alt/data"], requires=["missing"]),
    dict(name="alt-owner", files=["/usr/share/alt/data"]),
    dict(name="alt-user", requires=["/usr/share/alt/data"]),
    # Needs a lookaside package that needs a filelists-only path.
    dict(name="app", requires=["lib"]),
]
LOOKASIDE = [
    dict(name="lib", requires=["/usr/share/libdata/data"]),
    dict(name="libdata", files=["/usr/share/libdata/data"]),
]


@pytest.fixture(scope="module")
def repos(build_repo):
    return {"base": build_repo(MAIN, name="base"), "look": build_repo(LOOKASIDE, name="look")}


def test_repoclosure_same_as_dnf(repos, dnf_repoclosure, strata_repoclosure):
    dnf = dnf_repoclosure(repos, check="base")
    assert_same_closure(dnf, strata_repoclosure(repos, check="base"))
    assert {n for n, _ in dnf.pairs} == {"alt-1-1.noarch"}


def test_installability_same_as_libdnf(repos, installcheck_oracle, strata_json):
    oracle = installcheck_oracle(repos, check=["base"])
    run = strata_json(repos, check="base", installable=True)
    got = {(u["package"], u["repo"]) for u in run.data["installable"]["uninstallable"]}
    assert got == set(oracle) == {("alt-1-1.noarch", "base")}


def _break_filelists(repo, tmp_path):
    import shutil
    copy = tmp_path / "broken"
    shutil.copytree(repo, copy)
    (fl,) = (copy / "repodata").glob("*-filelists.xml*")
    fl.write_bytes(b"not gzip")
    return copy, fl


def test_unreadable_filelists_on_the_cli(repos, tmp_path, run_strata):
    broken, fl = _break_filelists(repos["base"], tmp_path)
    r = run_strata(strata_args({"base": broken}, no_cache=True))
    assert r.returncode == 2 and r.stdout == ""
    assert "cannot read the file lists of repository `base`" in r.stderr, r.stderr
    assert fl.name in r.stderr, r.stderr


def test_unreadable_filelists_in_python(repos, tmp_path):
    import strata
    broken, fl = _break_filelists(repos["base"], tmp_path)
    repo = strata.Repo.load("base", str(broken), use_cache=False)
    with pytest.raises(strata.RepodataError) as e:
        strata.repoclosure([repo])
    assert "file lists of repository `base`" in str(e.value)
    assert fl.name in str(e.value)
