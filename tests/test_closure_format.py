"""`strata repoclosure` output, exit codes and JSON, compared with the real
`dnf repoclosure` on a repo of real RPMs (see ORACLE.md §1, §2)."""

from __future__ import annotations

import json

import pytest

from conftest import assert_same_closure, summary_line

BASIC = [
    dict(name="zeta", requires=["missing-z"]),
    dict(name="alpha", epoch=0, requires=[
        "missing-b", "missing-a", "missing-c >= 1.0", "missing-d = 1:2.0-3",
        "missing-e < 2.0-1", "missing-f > 1", "missing-g <= 3", "shared-missing",
        "p5 = 0:1.0", "p6 >= 0:1-0", "p12 >= 1~~", "p13 >= 1.0^post1"]),
    dict(name="beta", epoch=2, version="1.5", release="3.fc40", requires=["shared-missing", "ok"]),
    dict(name="okp", provides=["ok"]),
    dict(name="Capital", requires=["shared-missing"]),
    dict(name="rich", requires=[
        "(m1 or m2)", "(m1 and m2)", "(m1 if m2)", "(m1 if m2 else m3)", "(m1 with m2)",
        "(m1 without m2)", "(m1 or (m2 >= 2 and m3))", "(m2 < 2)", "(m1 or m2 or m3)",
        "(m1 and m2 and m3)", "(m1 and (m2 or m3))", "(m1 >= 1.0-1 or m2 = 3:4-5)",
        "((m1 or m2) and m3)", "(m1 if (m2 or m3))", "(m1 with m2 with m3)",
        "(m0 or (m1 unless m2))", "(m1 or m2 >= 3 or m3)", "(p8 = 0:1 or p9 >= 2:3-4.fc40)",
        "(p10 < 2~rc1 and p11 >= 1^post)", "(p1  or   p2)"]),
    dict(name="multi", version="1"),
    dict(name="multi", version="2", requires=["m9"]),
    dict(name="ep", epoch=1, version="1", requires=["miss-ep1"]),
    dict(name="ep", version="5", requires=["miss-ep5"]),
    dict(name="ma", version="2", arch="x86_64", requires=["miss-ma2"]),
    dict(name="ma", version="1", arch="i686", requires=["miss-ma1"]),
    dict(name="fine", requires=["ok", "okp >= 1", "alpha = 1-1"]),
    # byte order of names, then arch order for the same EVR
    *[dict(name=n, requires=["miss-order"]) for n in ("foo", "foo-bar", "foo_bar", "foo2", "Foo", "foo.x")],
    dict(name="sa", arch="x86_64", requires=["miss-sa"]),
    dict(name="sa", arch="i686", requires=["miss-sa"]),
    dict(name="sa", requires=["miss-sa"]),
    dict(name="rv", version="1.10", requires=["miss-rv"]),
    dict(name="rv", version="1.9", requires=["miss-rv"]),
    dict(name="rv", version="1.9~rc1", requires=["miss-rv"]),
]

# What dnf prints for each of these (ORACLE.md §2); checked against dnf too.
EXPECTED_PRINT = {
    "alpha-1-1.noarch": {
        "missing-a", "missing-b", "missing-c >= 1.0", "missing-d = 1:2.0-3", "missing-e < 2.0-1",
        "missing-f > 1", "missing-g <= 3", "shared-missing", "p5 = 1.0", "p6 >= 1-0",
        "p12 >= 1~~", "p13 >= 1.0^post1"},
    "rich-1-1.noarch": {
        "(m1 or m2)", "(m1 and m2)", "(m1 if m2)", "(m1 if m2 else m3)", "(m1 with m2)",
        "(m1 without m2)", "(m1 or (m2 >= 2 and m3))", "m2 < 2", "(m1 or m2 or m3)",
        "(m1 and m2 and m3)", "(m1 and (m2 or m3))", "(m1 >= 1.0-1 or m2 = 3:4-5)",
        "((m1 or m2) and m3)", "(m1 if (m2 or m3))", "(m1 with m2 with m3)",
        "(m0 or (m1 unless m2))", "(m1 or m2 >= 3 or m3)", "(p8 = 1 or p9 >= 2:3-4.fc40)",
        "(p10 < 2~rc1 and p11 >= 1^post)", "(p1 or p2)"},
    "beta-2:1.5-3.fc40.noarch": {"shared-missing"},
}


@pytest.fixture(scope="module")
def basic_repo(build_repo):
    return build_repo(BASIC, name="basic")


@pytest.fixture(scope="module")
def closed_repo(build_repo):
    return build_repo([dict(name="a", requires=["b", "(c or nothing)"]), dict(name="b"),
                       dict(name="c", requires=["a"])], name="closed")


@pytest.fixture(scope="module")
def dnf_basic(dnf_repoclosure, basic_repo):
    return dnf_repoclosure({"basic": basic_repo})


@pytest.fixture(scope="module")
def strata_basic(strata_repoclosure, basic_repo):
    return strata_repoclosure({"basic": basic_repo})


def test_oracle_prints_as_documented(dnf_basic):
    got = {n: set(d) for n, _, d in dnf_basic.blocks}
    for nevra, deps in EXPECTED_PRINT.items():
        assert got[nevra] == deps


def test_same_unresolved_as_dnf(dnf_basic, strata_basic):
    assert_same_closure(dnf_basic, strata_basic)
    assert strata_basic.rc == 1


def test_dependency_strings_printed_like_dnf(strata_basic):
    got = {n: set(d) for n, _, d in strata_basic.blocks}
    for nevra, deps in EXPECTED_PRINT.items():
        assert got.get(nevra) == deps, nevra


def test_package_order_and_layout_like_dnf(dnf_basic, strata_basic):
    # Package blocks in dnf's order: name (bytes), EVR (rpm order), arch.
    assert strata_basic.packages == dnf_basic.packages
    assert [n for n, _ in strata_basic.packages][:3] == ["Capital-1-1.noarch", "Foo-1-1.noarch", "alpha-1-1.noarch"]
    # Same lines as dnf once the (unordered) dependency lines of each block are sorted.
    def canon(out: str) -> list[str]:
        lines, block = [], []
        for line in out.splitlines():
            if line.startswith("    "):
                block.append(line)
            else:
                lines += sorted(block) + [line]
                block = []
        return lines + sorted(block)
    assert canon(strata_basic.stdout) == canon(dnf_basic.stdout)


def test_epoch_only_when_nonzero(strata_basic):
    names = [n for n, _ in strata_basic.packages]
    assert "beta-2:1.5-3.fc40.noarch" in names
    assert "alpha-1-1.noarch" in names and not any(n.startswith("alpha-0:") for n in names)
    # EVR order, not string order: 0:5 sorts before 1:1.
    assert names.index("ep-5-1.noarch") < names.index("ep-1:1-1.noarch")
    assert names.index("ma-1-1.i686") < names.index("ma-2-1.x86_64")
    sa = [n for n in names if n.startswith("sa-")]
    assert sa == ["sa-1-1.i686", "sa-1-1.noarch", "sa-1-1.x86_64"]
    rv = [n for n in names if n.startswith("rv-")]
    assert rv == ["rv-1.9~rc1-1.noarch", "rv-1.9-1.noarch", "rv-1.10-1.noarch"]
    foo = [n.split("-1-1.")[0] for n in names if n.lower().startswith("foo")]
    assert foo == ["Foo", "foo", "foo-bar", "foo.x", "foo2", "foo_bar"]


def test_summary_line_on_stderr(dnf_basic, strata_basic):
    # D counts (package, dep) pairs, P packages; identical text to dnf's.
    expected = summary_line(dnf_basic.blocks)
    assert expected in dnf_basic.stderr
    assert strata_basic.stderr.strip().splitlines()[-1] == expected
    assert "Error:" not in strata_basic.stdout


def test_closed_repo(dnf_repoclosure, strata_repoclosure, closed_repo):
    d = dnf_repoclosure({"closed": closed_repo})
    s = strata_repoclosure({"closed": closed_repo})
    assert d.rc == 0 and d.stdout == ""
    assert s.rc == 0, s.describe()
    assert s.stdout == ""
    assert "Error" not in s.stderr


def test_file_url_same_as_path(strata_repoclosure, basic_repo, strata_basic):
    s = strata_repoclosure({"basic": f"file://{basic_repo}"})
    assert s.triples == strata_basic.triples
    assert s.rc == 1


def test_http_url_same_as_path(strata_repoclosure, basic_repo, strata_basic, tmp_path):
    import functools
    import http.server
    import threading
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(basic_repo))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/"
        s = strata_repoclosure({"basic": url}, cache_dir=tmp_path / "c")
    finally:
        srv.shutdown()
        srv.server_close()
    assert s.triples == strata_basic.triples, s.describe()
    assert s.rc == 1


# ---------------------------------------------------------------- JSON


@pytest.fixture(scope="module")
def json_basic(strata_json, basic_repo):
    return strata_json({"basic": basic_repo})


def test_json_matches_text(json_basic, strata_basic, basic_repo):
    data, rc = json_basic
    assert rc == 1
    assert json_basic.triples == strata_basic.triples
    assert [(u["package"], u["repo"]) for u in data["unresolved"]] == strata_basic.packages
    assert data["checked"] == len(BASIC)
    assert data["installable"] is None
    assert data["suggestions"] is None


def test_json_repos(json_basic, basic_repo):
    data, _ = json_basic
    (repo,) = data["repos"]
    assert repo["id"] == "basic"
    assert repo["packages"] == len(BASIC)
    assert str(basic_repo) in repo["location"]
    assert isinstance(repo["checksum"], str) and len(repo["checksum"]) >= 32


def test_json_closed(strata_json, closed_repo):
    data, rc = strata_json({"closed": closed_repo})
    assert rc == 0
    assert data["unresolved"] == []
    assert data["checked"] == 3


def test_json_is_single_object(json_basic):
    # one JSON document, nothing else on stdout
    assert isinstance(json.loads(json_basic.stdout), dict)
    assert json_basic.stdout.strip().startswith("{")
