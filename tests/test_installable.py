"""`strata repoclosure --installable`: every checked package must be
installable with its dependencies (a real SAT solve). Hand-made cases with
expected verdicts, cross-checked against libdnf's own solver (one
hawkey.Goal install job per package, the same libsolv dnf uses)."""

from __future__ import annotations

import pytest

from conftest import assert_same_closure

INST = [
    # A needs B and C, but B conflicts with C
    dict(name="A", requires=["B", "C"]), dict(name="B", conflicts=["C"]), dict(name="C"),
    # chain D -> E -> F -> (nothing)
    dict(name="D", requires=["E"]), dict(name="E", requires=["F"]), dict(name="F", requires=["nothing-here"]),
    # alternatives: one provider conflicts, the other works
    dict(name="G", requires=["gcap"]), dict(name="G1", provides=["gcap"], conflicts=["G"]),
    dict(name="G2", provides=["gcap"]),
    # requires what it obsoletes
    dict(name="H", requires=["H2"], obsoletes=["H2"]), dict(name="H2"),
    # the only provider obsoletes the requirer
    dict(name="O1", obsoletes=["O2"]), dict(name="O2", requires=["O1"]),
    # alternatives: one provider obsoletes the requirer, the other works
    dict(name="Q", requires=["qcap"]), dict(name="q1", provides=["qcap"], obsoletes=["Q"]),
    dict(name="q2", provides=["qcap"]),
    # same name, two versions: only the old one's deps work
    dict(name="lib", version="1", provides=["libapi = 1"]),
    dict(name="lib", version="2", provides=["libapi = 2"], requires=["gone"]),
    dict(name="app", requires=["lib"]), dict(name="app2", requires=["libapi = 2"]),
    # needs two versions of one name at once
    dict(name="pair", requires=["sv = 1", "sw"]), dict(name="sw", requires=["sv = 2"]),
    dict(name="sv", version="1"), dict(name="sv", version="2"),
    # rich alternatives with a conflicting provider
    dict(name="K", requires=["(kx or ky)"]), dict(name="kx", conflicts=["K"]),
    dict(name="K2", requires=["(kx2 or ky2)"]), dict(name="kx2", conflicts=["K2"]), dict(name="ky2"),
    # libsolv ignores self-conflicts
    dict(name="self", conflicts=["self"]),
    # versioned conflict picks the newer version
    dict(name="mv", version="1", requires=["nn"]), dict(name="mv", version="2", requires=["nn"]),
    dict(name="nn", conflicts=["mv < 2"]),
    # repoclosure and SAT disagree on rich deps (whatprovides vs. satisfiability)
    dict(name="andreq", requires=["(ax and ay)"]), dict(name="ax"),        # resolved, not installable
    dict(name="ifreq", requires=["(ia if ib)"]), dict(name="ib-free"),   # unresolved, installable
    dict(name="withreq", requires=["(wa with wb)"]), dict(name="wab", provides=["wa", "wb"]),
    # Requires(pre) counts
    dict(name="premiss", requires_pre=["no-pre-provider"]),
    # versioned conflict with the newest, older works
    dict(name="T", requires=["tlib", "tplug"]), dict(name="tplug", conflicts=["tlib < 2"]),
    dict(name="tlib", version="1"), dict(name="tlib", version="2"),
]

UNINSTALLABLE = {
    "A-1-1.noarch", "D-1-1.noarch", "E-1-1.noarch", "F-1-1.noarch", "H-1-1.noarch",
    "O2-1-1.noarch", "lib-2-1.noarch", "app2-1-1.noarch", "pair-1-1.noarch", "K-1-1.noarch",
    "mv-1-1.noarch", "andreq-1-1.noarch", "premiss-1-1.noarch",
}


@pytest.fixture(scope="module")
def inst_repo(build_repo):
    return build_repo(INST, name="inst")


@pytest.fixture(scope="module")
def oracle(inst_repo, installcheck_oracle):
    return installcheck_oracle({"inst": inst_repo})


@pytest.fixture(scope="module")
def inst_json(inst_repo, strata_json):
    return strata_json({"inst": inst_repo}, installable=True)


def _uninstallable(run) -> dict[str, list[str]]:
    inst = run.data["installable"]
    assert inst is not None, "--installable must fill the 'installable' object"
    return {u["package"]: u["problems"] for u in inst["uninstallable"]}


def test_oracle_agrees_with_expectations(oracle):
    assert {n for n, _ in oracle} == UNINSTALLABLE


def test_uninstallable_set(inst_json):
    got = _uninstallable(inst_json)
    assert set(got) == UNINSTALLABLE
    assert inst_json.rc == 1


def test_every_uninstallable_has_problems(inst_json):
    got = _uninstallable(inst_json)
    for pkg, problems in got.items():
        assert problems and all(isinstance(p, str) and p for p in problems), pkg
    assert {u["repo"] for u in inst_json.data["installable"]["uninstallable"]} == {"inst"}


def test_installable_checked_count(inst_json):
    assert inst_json.data["installable"]["checked"] == len(INST)
    assert inst_json.data["checked"] == len(INST)


def test_problem_nothing_provides(inst_json):
    got = _uninstallable(inst_json)
    assert "nothing provides nothing-here needed by F-1-1.noarch" in got["F-1-1.noarch"]
    assert "nothing provides no-pre-provider needed by premiss-1-1.noarch" in got["premiss-1-1.noarch"]


def test_problem_conflict(inst_json):
    got = _uninstallable(inst_json)
    assert "package B-1-1.noarch conflicts with C provided by C-1-1.noarch" in got["A-1-1.noarch"]


def test_problem_chain_names_the_root_cause(inst_json):
    got = _uninstallable(inst_json)
    for pkg in ("D-1-1.noarch", "E-1-1.noarch"):
        text = "\n".join(got[pkg])
        assert "nothing-here" in text or "F-1-1.noarch" in text, (pkg, got[pkg])


def test_problem_obsoletes(inst_json):
    got = _uninstallable(inst_json)
    assert any("obsoletes" in p and "H2" in p for p in got["H-1-1.noarch"]), got["H-1-1.noarch"]
    assert any("obsoletes" in p and "O2" in p for p in got["O2-1-1.noarch"]), got["O2-1-1.noarch"]


def test_problem_same_name(inst_json):
    text = "\n".join(_uninstallable(inst_json)["pair-1-1.noarch"])
    assert "sv-1-1.noarch" in text and "sv-2-1.noarch" in text, text


def test_repoclosure_part_unchanged(inst_repo, dnf_repoclosure, strata_repoclosure, inst_json):
    # --installable adds a verdict; the unresolved list is still dnf's
    dnf = dnf_repoclosure({"inst": inst_repo})
    assert_same_closure(dnf, strata_repoclosure({"inst": inst_repo}, installable=True))
    assert inst_json.triples == dnf.triples
    # the two notions differ on rich deps:
    assert ("andreq-1-1.noarch", "(ax and ay)") not in dnf.pairs
    assert ("ifreq-1-1.noarch", "(ia if ib)") in dnf.pairs
    assert "ifreq-1-1.noarch" not in _uninstallable(inst_json)


def test_installable_alone_exit_status(build_repo, strata_json, strata_repoclosure):
    # closed by whatprovides but not installable -> exit 1 only with --installable
    repo = build_repo([dict(name="x", requires=["(y and z)"]), dict(name="y")], name="andonly")
    plain = strata_json({"r": repo})
    assert plain.rc == 0 and plain.data["unresolved"] == [] and plain.data["installable"] is None
    inst = strata_json({"r": repo}, installable=True)
    assert inst.rc == 1
    assert set(_uninstallable(inst)) == {"x-1-1.noarch"}
    text = strata_repoclosure({"r": repo}, installable=True)
    assert text.rc == 1
    assert "x-1-1.noarch" in text.stdout + text.stderr


def test_installable_all_fine(build_repo, strata_json):
    repo = build_repo([dict(name="x", requires=["y"]), dict(name="y", conflicts=["z"]),
                       dict(name="z", requires=["(w or y2)"]), dict(name="y2")], name="fine")
    r = strata_json({"r": repo}, installable=True)
    assert r.rc == 0, r.stderr
    assert r.data["installable"]["uninstallable"] == []
    assert r.data["installable"]["checked"] == 4


def test_installable_with_lookaside(build_repo, strata_json, installcheck_oracle):
    main = build_repo([dict(name="m1", requires=["lcap"]), dict(name="m2", requires=["lbad"])], name="imain")
    look = build_repo([dict(name="lp", provides=["lcap"]),
                       dict(name="lb", provides=["lbad"], requires=["nowhere"]),
                       dict(name="lbroken", requires=["nowhere2"])], name="ilook")
    repos = {"base": main, "look": look}
    r = strata_json(repos, check=["base"], installable=True)
    got = _uninstallable(r)
    assert set(got) == {"m2-1-1.noarch"}  # lookaside packages are used, not checked
    assert r.data["installable"]["checked"] == 2
    assert {n for n, _ in installcheck_oracle(repos, check=["base"])} == set(got)


def test_installable_arch_mix(build_repo, strata_json, installcheck_oracle):
    repo = build_repo([
        dict(name="xa", arch="x86_64", requires=["i686cap"]),
        dict(name="xi", arch="i686", provides=["i686cap"]),
        dict(name="xn", requires=["xa"]),
        dict(name="xb", arch="x86_64", requires=["xc"]), dict(name="xc", arch="x86_64", conflicts=["xn"]),
        dict(name="xd", requires=["xn", "xb"]),
    ], name="iarch")
    r = strata_json({"r": repo}, installable=True)
    expected = {n for n, _ in installcheck_oracle({"r": repo})}
    assert expected == {"xd-1-1.noarch"}
    assert set(_uninstallable(r)) == expected
