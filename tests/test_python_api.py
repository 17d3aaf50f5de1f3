"""The `strata` Python extension (built with maturin): same answers as the CLI
and as dnf repoclosure, and typed exceptions naming the broken file."""

from __future__ import annotations

import gzip
import json
import re
import shutil

import pytest

from conftest import strata_args
from dnforacle import triples as block_triples

PKGS = [
    dict(name="pa", requires=["pb", "missing-1", "(pb and nothing)", "(x1 or x2)"]),
    dict(name="pb", epoch=2, version="1.0", requires=["missing-2 >= 1.0"]),
    dict(name="pc", requires=["pa"]),
    dict(name="pd", version="1", requires=["old-only"]), dict(name="pd", version="2", requires=["old-only"]),
    dict(name="po", version="1", provides=["old-only"]), dict(name="po", version="2"),
    dict(name="px", arch="x86_64", requires=["missing-x"]),
    dict(name="conf1", requires=["conf2"], conflicts=["conf2"]), dict(name="conf2"),
]
LOOKASIDE = [dict(name="lk", provides=["missing-1"])]
CANDIDATES = [dict(name="cand", provides=["missing-2 = 1.5"]), dict(name="cx", provides=["x2"])]


@pytest.fixture(scope="module")
def strata():
    try:
        import strata as mod
    except ImportError as e:
        pytest.fail(f"the strata extension is not importable ({e}); build it with "
                    "`maturin develop` / `pip install .`", pytrace=False)
    return mod


@pytest.fixture(scope="module")
def repos(build_repo):
    return {"base": build_repo(PKGS, name="api"), "look": build_repo(LOOKASIDE, name="apilook"),
            "cand": build_repo(CANDIDATES, name="apicand")}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("api-cache")


@pytest.fixture(scope="module")
def loaded(strata, repos, cache):
    return {k: strata.Repo.load(k, str(v), cache_dir=str(cache)) for k, v in repos.items()}


def _triples(report):
    return {(u.package, u.repo, d) for u in report.unresolved for d in u.deps}


def test_exception_hierarchy(strata):
    assert issubclass(strata.StrataError, Exception)
    assert issubclass(strata.RepodataError, strata.StrataError)


def test_repo_load(loaded, repos, strata_json):
    r = loaded["base"]
    assert r.id == "base"
    assert str(repos["base"]) in r.location
    assert len(r) == len(PKGS)
    assert isinstance(r.checksum, str) and r.checksum
    cli = strata_json({"base": repos["base"]}).data["repos"][0]
    assert cli["checksum"] == r.checksum and cli["packages"] == len(r)


def test_repo_load_without_cache(strata, repos, tmp_path):
    r = strata.Repo.load("m", str(repos["base"]), cache_dir=str(tmp_path / "c"), use_cache=False)
    assert len(r) == len(PKGS)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*"))
    r2 = strata.Repo.load("m", str(repos["base"]), cache_dir=str(tmp_path / "c2"))
    assert r2.checksum == r.checksum
    assert any((tmp_path / "c2").rglob("*")), "use_cache=True writes the cache"


def test_repoclosure_same_as_dnf(strata, loaded, repos, dnf_repoclosure):
    report = strata.repoclosure([loaded["base"]])
    dnf = dnf_repoclosure({"base": repos["base"]})
    assert _triples(report) == dnf.triples
    assert report.ok is False
    assert report.checked == len(PKGS)
    assert report.uninstallable is None and report.suggestions is None
    assert [u.package for u in report.unresolved] == [n for n, _, _ in dnf.blocks]


def test_options_same_as_dnf(strata, loaded, repos, dnf_repoclosure):
    both = [loaded["base"], loaded["look"]]
    for kw, dkw in [(dict(check=["base"]), dict(check=["base"])),
                    (dict(newest=True), dict(newest=True)),
                    (dict(arches=["x86_64"]), dict(arch=["x86_64"]))]:
        report = strata.repoclosure(both, **kw)
        dnf = dnf_repoclosure({"base": repos["base"], "look": repos["look"]}, **dkw)
        expected = dnf.triples
        assert _triples(report) == expected, kw


def test_closed(strata, build_repo):
    repo = strata.Repo.load("c", str(build_repo([dict(name="a", requires=["b"]), dict(name="b")], name="apiclosed")),
                            use_cache=False)
    report = strata.repoclosure([repo])
    assert report.ok is True and report.unresolved == [] and report.checked == 2


def test_to_json_matches_cli(strata, loaded, repos, strata_json):
    report = strata.repoclosure([loaded["base"]])
    data = json.loads(report.to_json())
    cli = strata_json({"base": repos["base"]}).data
    assert data["unresolved"] == cli["unresolved"]
    assert data["checked"] == cli["checked"]
    assert data["installable"] is None and data["suggestions"] is None


def test_to_text_matches_cli(strata, loaded, repos, run_strata, cache):
    report = strata.repoclosure([loaded["base"]])
    cli = run_strata(strata_args({"base": repos["base"]}, cache_dir=cache))
    text = report.to_text()
    blocks = "\n".join(l for l in text.splitlines() if l.startswith(("package: ", "  ")))
    assert blocks.strip() == cli.stdout.strip()


def test_installable(strata, loaded, repos, strata_json):
    report = strata.repoclosure([loaded["base"]], installable=True)
    assert report.uninstallable is not None
    got = {u.package: u.problems for u in report.uninstallable}
    assert "conf1-1-1.noarch" in got and got["conf1-1-1.noarch"]
    assert all(u.repo == "base" for u in report.uninstallable)
    cli = strata_json({"base": repos["base"]}, installable=True).data["installable"]["uninstallable"]
    assert {u["package"] for u in cli} == set(got)
    assert report.ok is False


def test_suggestions(strata, loaded):
    report = strata.repoclosure([loaded["base"]], suggest_from=[loaded["cand"]])
    s = report.suggestions
    assert s is not None
    prov = {d.dep: {(p.package, p.repo) for p in d.providers} for d in s.deps}
    assert prov["missing-2 >= 1.0"] == {("cand-1-1.noarch", "cand")}
    assert prov["missing-1"] == set()
    assert "missing-1" in s.unsatisfiable
    assert ("cand-1-1.noarch", "cand") in {(a.package, a.repo) for a in s.additions}
    # the verdict is unchanged
    assert _triples(report) == _triples(strata.repoclosure([loaded["base"]]))


def test_repo_objects_are_reusable(strata, loaded):
    a = strata.repoclosure([loaded["base"], loaded["look"]], check=["base"])
    b = strata.repoclosure([loaded["base"]])
    c = strata.repoclosure([loaded["base"], loaded["look"]], check=["base"])
    assert _triples(a) == _triples(c)
    assert ("pa-1-1.noarch", "base", "missing-1") in _triples(b)
    assert ("pa-1-1.noarch", "base", "missing-1") not in _triples(a)


def _broken_copy(src, dst):
    shutil.copytree(src / "repodata", dst / "repodata")
    text = (dst / "repodata" / "repomd.xml").read_text()
    href = re.search(r'<data type="primary">.*?<location href="([^"]+)"', text, re.S).group(1)
    return dst, dst / href


def test_repodata_error_checksum(strata, repos, tmp_path):
    repo, prim = _broken_copy(repos["base"], tmp_path / "r")
    data = bytearray(prim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    prim.write_bytes(bytes(data))
    with pytest.raises(strata.RepodataError) as e:
        strata.Repo.load("b", str(repo), use_cache=False)
    assert prim.name in str(e.value)
    assert isinstance(e.value, strata.StrataError)


def test_repodata_error_missing_repomd(strata, repos, tmp_path):
    repo, _ = _broken_copy(repos["base"], tmp_path / "r")
    (repo / "repodata" / "repomd.xml").unlink()
    with pytest.raises(strata.RepodataError) as e:
        strata.Repo.load("b", str(repo), use_cache=False)
    assert "repomd.xml" in str(e.value)


def test_repodata_error_malformed_xml(strata, repos, tmp_path):
    repo, prim = _broken_copy(repos["base"], tmp_path / "r")
    xml = gzip.decompress(prim.read_bytes()).replace(b"</name>", b"</nmae>", 1)
    prim.write_bytes(gzip.compress(xml))
    # the checksum no longer matches either; either error must name the file
    with pytest.raises(strata.RepodataError) as e:
        strata.Repo.load("b", str(repo), use_cache=False)
    assert prim.name in str(e.value)


def test_stub_matches_the_module(strata, tmp_path):
    """The `.pyi` shipped in the wheel describes the built extension: every
    name, class, method, property and signature (mypy's stubtest, no
    allowlist). A binding added without its stub, or a stub left behind,
    fails here."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    ext = Path(strata._strata.__file__)
    assert (ext.parent / "_strata.pyi").is_file(), f"no _strata.pyi beside {ext}"
    # stubtest imports the module from sys.path: the same build as this test.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ext.parent.parent)] + sys.path),
               MYPY_CACHE_DIR=str(tmp_path / "mypy-cache"))
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "strata._strata"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout, r.stdout


def test_format_table_is_the_clis(strata):
    """`dnf stack`'s tables come from the core: laid out as the CLI lays
    out `strata composes list`, free text escaped onto one line (a compose
    ID from a hostile repository cannot forge a line)."""
    rows = [["php:8.2", "php-8.2-20261125.n.0\nMISMATCH", "3", "[i]"], ["über:1", "x", "12", ""]]
    assert strata.format_table(["Stack", "Compose ID", "Modules", ""], rows) == (
        "Stack    Compose ID                      Modules\n"
        "php:8.2  php-8.2-20261125.n.0\\nMISMATCH  3        [i]\n"
        "über:1   x                               12\n")
    assert strata.one_line("a\x1b[2J\u2028b") == "a\\u{1b}[2J\\u{2028}b"
