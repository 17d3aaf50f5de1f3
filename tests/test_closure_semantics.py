"""What counts as resolved: rich dependencies (libsolv whatprovides, not
satisfiability), version matching, file dependencies and the deps
repoclosure ignores. Each table is checked three ways: dnf against the table
(ORACLE.md §3-§5, guarding our reading of the oracle), strata against dnf
(the whole repo), and strata against the table (one test per case)."""

from __future__ import annotations

import pytest

from conftest import assert_same_closure

# ---------------------------------------------------------------- rich deps

# provider layouts: lists of packages, each a list of the operands it provides
CASES2 = {"L": [["a"]], "R": [["b"]], "same": [["a", "b"]], "diff": [["a"], ["b"]], "none": []}
CASES3 = {"a": [["a"]], "b": [["b"]], "c": [["c"]], "ab_same": [["a", "b"]],
          "ab_diff": [["a"], ["b"]], "ac": [["a"], ["c"]], "bc": [["b"], ["c"]],
          "abc": [["a"], ["b"], ["c"]], "none": []}
OPS = {
    "or": ("({a} or {b})", {"L": 1, "R": 1, "same": 1, "diff": 1, "none": 0}),
    "and": ("({a} and {b})", {"L": 1, "R": 1, "same": 1, "diff": 1, "none": 0}),
    "if": ("({a} if {b})", {"L": 1, "R": 0, "same": 1, "diff": 1, "none": 0}),
    "unless": ("({a} unless {b})", {"L": 1, "R": 0, "same": 1, "diff": 1, "none": 0}),
    "with": ("({a} with {b})", {"L": 0, "R": 0, "same": 1, "diff": 0, "none": 0}),
    "without": ("({a} without {b})", {"L": 1, "R": 0, "same": 0, "diff": 1, "none": 0}),
    "ifelse": ("({a} if {b} else {c})", {"a": 1, "b": 0, "c": 1, "ab_same": 1, "ab_diff": 1,
                                         "ac": 1, "bc": 1, "abc": 1, "none": 0}),
    "unlesselse": ("({a} unless {b} else {c})", {"a": 1, "b": 0, "c": 1, "ab_same": 1,
                                                 "ab_diff": 1, "ac": 1, "bc": 1, "abc": 1,
                                                 "none": 0}),
    # nested: or of (and) — union all the way down
    "nested": ("({a} or ({b} >= 2 and {c}))", {"a": 1, "b": 1, "c": 1, "ab_same": 1,
                                               "ab_diff": 1, "ac": 1, "bc": 1, "abc": 1,
                                               "none": 0}),
    "withor": ("({a} with ({b} or {c}))", {"a": 0, "b": 0, "c": 0, "ab_same": 1, "ab_diff": 0,
                                          "ac": 0, "bc": 0, "abc": 0, "none": 0}),
}
# rpmbuild refuses `unless` at the top of a Requires: those go into a
# metadata-only repo (the rest are built as real RPMs).
MD_ONLY = {"unless", "unlesselse"}


def _rich_cases():
    out = []
    for op, (tmpl, table) in OPS.items():
        for case, resolved in table.items():
            layout = (CASES3 if "c" in tmpl else CASES2)[case]
            names = {x: f"{op}-{case}-{x}" for x in "abc"}
            dep = tmpl.format(**names)
            provs = []
            for i, pv in enumerate(layout):
                ps = [names[x] for x in pv]
                if op == "nested":  # b must satisfy `b >= 2`
                    ps = [f"{p} = 2" if p.endswith("-b") else p for p in ps]
                provs.append(dict(name=f"prov-{op}-{case}-{i}", provides=ps))
            out.append((op, case, dep, bool(resolved), dict(name=f"chk-{op}-{case}", requires=[dep]), provs))
    return out


RICH = _rich_cases()


@pytest.fixture(scope="module")
def rich_repos(build_repo):
    rpm_pkgs, md_pkgs = [], []
    for op, _case, _dep, _res, chk, provs in RICH:
        (md_pkgs if op in MD_ONLY else rpm_pkgs).extend([chk, *provs])
    return {"rich": build_repo(rpm_pkgs, name="rich"),
            "richmd": build_repo(md_pkgs, name="richmd", metadata_only=True)}


@pytest.fixture(scope="module")
def rich_runs(rich_repos, dnf_repoclosure, strata_repoclosure):
    out = {}
    for rid, path in rich_repos.items():
        out[rid] = (dnf_repoclosure({rid: path}), strata_repoclosure({rid: path}))
    return out


@pytest.mark.parametrize("rid", ["rich", "richmd"])
def test_rich_same_as_dnf(rich_runs, rid):
    dnf, strata = rich_runs[rid]
    assert_same_closure(dnf, strata)


@pytest.mark.parametrize("op,case,dep,resolved", [(o, c, d, r) for o, c, d, r, _, _ in RICH],
                         ids=[f"{o}-{c}" for o, c, *_ in RICH])
def test_rich_matrix(rich_runs, op, case, dep, resolved):
    dnf, strata = rich_runs["richmd" if op in MD_ONLY else "rich"]
    nevra = f"chk-{op}-{case}-1-1.noarch"
    assert ((nevra, dep) not in dnf.pairs) == resolved, "oracle disagrees with ORACLE.md table"
    assert ((nevra, dep) not in strata.pairs) == resolved, (
        f"strata: {dep} should be {'resolved' if resolved else 'unresolved'}")


# ---------------------------------------------------------------- versions

VERSIONS = [  # (Requires, Provides, resolved)
    ("v1 >= 1.0", "v1", True), ("v24 < 1.0", "v24", True),
    ("v2 >= 1.0", "v2 = 1.0-5", True), ("v3 = 1.0", "v3 = 1.0-5", True),
    ("v4 = 1.0-5", "v4 = 1.0", True), ("v9 > 1.0", "v9 = 1.0-1", False),
    ("v26 > 1.0-1", "v26 = 1.0", True), ("v5 >= 1:1.0", "v5 = 1.0", False),
    ("v30 = 1.0", "v30 = 1:1.0", False), ("v11 = 0:1.0-1", "v11 = 1.0-1", True),
    ("v6 >= 1.0", "v6 = 1:0.5", True), ("v7 >= 1.0", "v7 = 1.0~rc1", False),
    ("v14 <= 1.0~rc1", "v14 = 1.0~rc1", True), ("v28 > 1.0~rc1", "v28 = 1.0", True),
    ("v8 >= 1.0", "v8 = 1.0^git1", True), ("v27 >= 1.0^", "v27 = 1.0", False),
    ("v10 < 1.0-2", "v10 = 1.0-1", True), ("v17 < 1.0", "v17 = 1.0", False),
    ("v16 >= 1.0", "v16 > 2", True), ("v29 >= 1.0", "v29 < 2", True),
    ("v19 >= 1.0-1.fc40", "v19 = 1.0-1.fc39", False), ("v31 = 1.0-1", "v31 = 1.0-1.1", False),
    ("v20 >= 1.0a", "v20 = 1.0.1", True), ("v21 >= 2.0", "v21 = 10.0", True),
    ("v32 >= 1.0.0", "v32 = 1.0", False), ("v33 = 01", "v33 = 1", True),
    ("v34 >= 1.0~rc1", "v34 = 1.0~rc2", True), ("v35 < 1.0~~", "v35 = 1.0~", False),
    ("v36 >= 1.0.b", "v36 = 1.0.a", False), ("v37 > 1.0", "v37 = 1.0.0", True),
    ("v38 = 2:1", "v38 = 2:1-1", True), ("v39 <= 1:2", "v39 = 1:2.0", False),
    ("(v40 >= 2 or v41)", "v40 = 1", False), ("(v42 >= 2 and v43 < 1)", "v42 = 1", False),
    ("(v44 < 2 and v45)", "v44 = 1.9", True),
]
SELF = [  # requires against a package's own name-version
    ("v22pkg >= 2", True), ("v22pkg < 3:1.1", True), ("v13pkg >= 2", True), ("v13pkg > 3", False),
]


@pytest.fixture(scope="module")
def version_runs(build_repo, dnf_repoclosure, strata_repoclosure):
    pkgs = [dict(name="v22pkg", epoch=3, version="1"), dict(name="v13pkg", version="3")]
    pkgs += [dict(name=f"self{i}", requires=[req]) for i, (req, _) in enumerate(SELF)]
    for i, (req, prov, _) in enumerate(VERSIONS):
        pkgs += [dict(name=f"chk{i}", requires=[req]), dict(name=f"prov{i}", provides=[prov])]
    repo = build_repo(pkgs, name="versions")
    return dnf_repoclosure({"v": repo}), strata_repoclosure({"v": repo})


def test_versions_same_as_dnf(version_runs):
    assert_same_closure(*version_runs)


@pytest.mark.parametrize("i", range(len(VERSIONS)), ids=[f"{r} vs {p}" for r, p, _ in VERSIONS])
def test_version_matching(version_runs, i):
    dnf, strata = version_runs
    req, prov, resolved = VERSIONS[i]
    nevra = f"chk{i}-1-1.noarch"
    assert (nevra not in {n for n, _ in dnf.pairs}) == resolved, "oracle disagrees with table"
    assert (nevra not in {n for n, _ in strata.pairs}) == resolved, (
        f"Requires: {req} / Provides: {prov} should be {'resolved' if resolved else 'unresolved'}")


@pytest.mark.parametrize("i", range(len(SELF)), ids=[r for r, _ in SELF])
def test_self_provides_versioned(version_runs, i):
    dnf, strata = version_runs
    req, resolved = SELF[i]
    nevra = f"self{i}-1-1.noarch"
    assert ((nevra, req) not in dnf.pairs) == resolved
    assert ((nevra, req) not in strata.pairs) == resolved


# ---------------------------------------------------------------- files

FILES = [
    dict(name="filep", files=["/usr/bin/fooexe", "/usr/share/foo/data.txt", "/etc/foo.conf",
                              "/usr/lib/foo/lib.so", "/opt/x/bin/tool", "/usr/sbin/daemon"],
         dirs=["/usr/share/owned"]),
    dict(name="fchk-bin", requires=["/usr/bin/fooexe"]),
    dict(name="fchk-sbin", requires=["/usr/sbin/daemon"]),
    dict(name="fchk-share", requires=["/usr/share/foo/data.txt"]),
    dict(name="fchk-etc", requires=["/etc/foo.conf"]),
    dict(name="fchk-lib", requires=["/usr/lib/foo/lib.so"]),
    dict(name="fchk-optbin", requires=["/opt/x/bin/tool"]),
    dict(name="fchk-owned-dir", requires=["/usr/share/owned"]),
    dict(name="fchk-unowned-dir", requires=["/usr/share/foo"]),
    dict(name="fchk-missing", requires=["/usr/bin/nothere", "/usr/share/nothere.txt"]),
    dict(name="fchk-rich", requires=["(/usr/share/foo/data.txt or nothing)",
                                     "(/usr/share/nothere2 or nothing2)"]),
    dict(name="fprov", provides=["/usr/share/virtual/path"]),
    dict(name="fchk-virt", requires=["/usr/share/virtual/path"]),
    dict(name="fchk-versioned-name", requires=["fooexe"]),  # a file name is not a provide
]
FILES_UNRESOLVED = {
    ("fchk-unowned-dir-1-1.noarch", "/usr/share/foo"),
    ("fchk-missing-1-1.noarch", "/usr/bin/nothere"),
    ("fchk-missing-1-1.noarch", "/usr/share/nothere.txt"),
    ("fchk-rich-1-1.noarch", "(/usr/share/nothere2 or nothing2)"),
    ("fchk-versioned-name-1-1.noarch", "fooexe"),
}


@pytest.fixture(scope="module", params=["rpm", "metadata"])
def file_runs(request, build_repo, dnf_repoclosure, strata_repoclosure):
    repo = build_repo(FILES, name="files", metadata_only=request.param == "metadata")
    return dnf_repoclosure({"f": repo}), strata_repoclosure({"f": repo})


def test_file_deps(file_runs):
    dnf, strata = file_runs
    assert dnf.pairs == FILES_UNRESOLVED
    assert_same_closure(dnf, strata)


# ---------------------------------------------------------------- ignored / skipped


MISC = [
    dict(name="pre", requires_pre=["missing-pre", "filep"]),
    dict(name="filep"),
    dict(name="confl", conflicts=["missing-c1", "filep"], obsoletes=["missing-o1", "filep"]),
    dict(name="weak", recommends=["missing-rec"], suggests=["missing-sug"]),
    dict(name="selfreq", provides=["selfcap = 2"], requires=["selfcap >= 1", "selfreq"]),
    dict(name="dupreq", requires=["dupdep", "q = 0:1.0", "q = 1.0", "(x or y)", "(x  or y)"],
         requires_pre=["dupdep"]),
]
MISC_MD = MISC + [
    dict(name="rpmlibreq", requires=["rpmlib(Foo) <= 1", "rpmlib(Bar)", "solvable:foo", "real-missing"]),
    dict(name="unlessreq", requires=["(x1 unless x2)"]),
]
MISC_UNRESOLVED = {
    ("pre-1-1.noarch", "missing-pre"),
    ("dupreq-1-1.noarch", "dupdep"), ("dupreq-1-1.noarch", "q = 1.0"),
    ("dupreq-1-1.noarch", "(x or y)"),
}


@pytest.mark.parametrize("mode", ["rpm", "metadata"])
def test_ignored_and_skipped_deps(mode, build_repo, dnf_repoclosure, strata_repoclosure):
    md = mode == "metadata"
    repo = build_repo(MISC_MD if md else MISC, name="misc", metadata_only=md)
    dnf = dnf_repoclosure({"m": repo})
    strata = strata_repoclosure({"m": repo})
    expected = set(MISC_UNRESOLVED)
    if md:
        expected |= {("rpmlibreq-1-1.noarch", "real-missing"), ("unlessreq-1-1.noarch", "(x1 unless x2)")}
    assert dnf.pairs == expected
    assert_same_closure(dnf, strata)
    # one line per distinct dependency, as dnf
    dup = [deps for n, _, deps in strata.blocks if n == "dupreq-1-1.noarch"][0]
    assert len(dup) == 3, dup
