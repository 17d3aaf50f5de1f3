"""`--suggest-from ID=PATH`: providers of each unresolved dependency among the
candidate repos, and a set of additions that closes the checked set
(transitively); the verdict never changes. The additions are verified by
running the real `dnf repoclosure` on the checked repo plus a repo made of
exactly the suggested RPMs."""

from __future__ import annotations

import re
import shutil

import pytest

import rpmfactory
from dnforacle import parse_repoclosure

CHECKED = [
    dict(name="m-a", requires=["cap1"]),
    dict(name="m-b", requires=["cap2"]),              # c2 needs c3 (transitive)
    dict(name="m-c", requires=["cap4"]),              # nobody provides
    dict(name="m-d", requires=["(cap5 or cap6)"]),    # rich, one side provided
    dict(name="m-e", requires=["cap7"]),              # two candidate providers
    dict(name="m-g", requires=["vcap >= 2"]),         # only the newer candidate matches
    dict(name="m-h", requires=["/usr/share/cand/data.txt"]),  # file dep from filelists
    dict(name="m-ok", requires=["m-a"]),
]
CANDIDATES = [
    dict(name="c1", provides=["cap1"]),
    dict(name="c2", provides=["cap2"], requires=["cap3"]),
    dict(name="c3", provides=["cap3"], requires=["(cap1 or nothing)"]),
    dict(name="c6", provides=["cap6"]),
    dict(name="c7a", provides=["cap7"]),
    dict(name="c7b", provides=["cap7"]),
    dict(name="cv1", provides=["vcap = 1"]),
    dict(name="cv2", provides=["vcap = 2"]),
    dict(name="cf", files=["/usr/share/cand/data.txt"]),
    dict(name="cx", provides=["capx"], requires=["nowhere"]),  # unrelated, broken
]
PROVIDERS = {
    "cap1": {"c1-1-1.noarch"}, "cap2": {"c2-1-1.noarch"}, "cap4": set(),
    "(cap5 or cap6)": {"c6-1-1.noarch"}, "cap7": {"c7a-1-1.noarch", "c7b-1-1.noarch"},
    "vcap >= 2": {"cv2-1-1.noarch"}, "/usr/share/cand/data.txt": {"cf-1-1.noarch"},
}


@pytest.fixture(scope="module")
def repos(build_repo):
    return {"M": build_repo(CHECKED, name="M"), "C": build_repo(CANDIDATES, name="C")}


@pytest.fixture(scope="module")
def plain(repos, strata_json):
    return strata_json({"M": repos["M"]})


@pytest.fixture(scope="module")
def suggested(repos, strata_json):
    return strata_json({"M": repos["M"]}, suggest_from={"C": repos["C"]})


def test_verdict_unchanged(plain, suggested, repos, dnf_repoclosure):
    assert suggested.rc == plain.rc == 1
    assert suggested.triples == plain.triples == dnf_repoclosure({"M": repos["M"]}).triples
    assert suggested.data["checked"] == plain.data["checked"] == len(CHECKED)
    assert plain.data["suggestions"] is None


def test_providers_per_dep(suggested):
    sugg = suggested.data["suggestions"]
    got = {d["dep"]: {p["package"] for p in d["providers"]} for d in sugg["deps"]}
    assert got == PROVIDERS
    assert all(p["repo"] == "C" for d in sugg["deps"] for p in d["providers"])


def test_unsatisfiable(suggested):
    assert set(suggested.data["suggestions"]["unsatisfiable"]) == {"cap4"}


def test_additions(suggested):
    adds = {a["package"] for a in suggested.data["suggestions"]["additions"]}
    assert {"c1-1-1.noarch", "c2-1-1.noarch", "c3-1-1.noarch", "c6-1-1.noarch",
            "cv2-1-1.noarch", "cf-1-1.noarch"} <= adds
    assert len(adds & {"c7a-1-1.noarch", "c7b-1-1.noarch"}) == 1
    assert not adds & {"cx-1-1.noarch", "cv1-1-1.noarch"}, "only what is needed"
    assert all(a["repo"] == "C" for a in suggested.data["suggestions"]["additions"])


def test_additions_close_the_set(suggested, repos, tmp_path, dnf_repoclosure):
    # Put exactly the suggested RPMs in a repo next to M: dnf must then find
    # nothing unresolved except the unsatisfiable deps.
    add = tmp_path / "ADD"
    add.mkdir()
    for a in suggested.data["suggestions"]["additions"]:
        fname = re.sub(r"-\d+:", "-", a["package"]) + ".rpm"
        shutil.copy(repos["C"] / fname, add / fname)
    rpmfactory.createrepo(add)
    d = dnf_repoclosure({"M": repos["M"], "ADD": add})
    assert d.pairs == {("m-c-1-1.noarch", "cap4")}, d.describe()


def test_transitive_unsatisfiable(build_repo, strata_json, tmp_path):
    m = build_repo([dict(name="n1", requires=["d1"])], name="tM")
    c = build_repo([dict(name="d1p", provides=["d1"], requires=["d2"]),
                    dict(name="d2p", provides=["d2"], requires=["d3-nowhere"])], name="tC")
    r = strata_json({"M": m}, suggest_from={"C": c})
    assert r.rc == 1
    s = r.data["suggestions"]
    assert {d["dep"] for d in s["deps"]} == {"d1"}
    assert "d3-nowhere" in s["unsatisfiable"]
    assert {a["package"] for a in s["additions"]} >= {"d1p-1-1.noarch", "d2p-1-1.noarch"}


def test_closed_set_no_suggestions_needed(build_repo, strata_json):
    m = build_repo([dict(name="k1", requires=["k2"]), dict(name="k2")], name="kM")
    c = build_repo([dict(name="kc", provides=["k2"])], name="kC")
    r = strata_json({"M": m}, suggest_from={"C": c})
    assert r.rc == 0
    s = r.data["suggestions"]
    assert s is not None and s["deps"] == [] and s["additions"] == [] and s["unsatisfiable"] == []


def test_text_output_keeps_dnf_blocks(repos, strata_repoclosure, run_strata, strata_cache):
    from conftest import strata_args
    base = strata_repoclosure({"M": repos["M"]})
    r = run_strata(strata_args({"M": repos["M"]}, suggest_from={"C": repos["C"]}, cache_dir=strata_cache))
    assert r.returncode == 1
    # the report starts with exactly dnf's blocks; suggestions may follow
    assert r.stdout.startswith(base.stdout), r.stdout
    tail = r.stdout[len(base.stdout):] + r.stderr
    assert "c1-1-1.noarch" in tail and "cap4" in tail
    assert parse_repoclosure(base.stdout) == base.blocks
