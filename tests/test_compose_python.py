"""The compose engine through Python (`import strata`), as the Koji and
Pungi plugins will call it: same records as the CLI, typed exceptions."""

from __future__ import annotations

import pytest

import composekit as ck
import strata
from test_compose import GOOD, apache, repos  # noqa: F401 (fixture)


def test_compose_and_registry_from_python(strata_bin, tmp_path, repos):  # noqa: F811
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})
    d = apache(tmp_path, repos)
    assert strata.validate_definition(d)["name"] == "apache"
    res = strata.compose_module(d, site.out, config=site.config, cache_dir=site.cache)
    assert res["ok"] is True
    rec = res["record"]
    assert rec["state"] == "finished" and rec["id"].startswith("apache-2.4-")
    assert sorted(rec["packages"]["x86_64"])[0] == "httpd-0:2.4.58-1.fc40.x86_64"
    # The CLI sees the same registry.
    assert site.show(rec["id"])["packages"] == rec["packages"]
    assert strata.latest_compose("apache", "2.4", config=site.config)["id"] == rec["id"]
    assert [r["id"] for r in strata.list_composes(name="apache", config=site.config)] == [rec["id"]]
    assert strata.get_compose("nope-1-20261125.n.0", config=site.config) is None
    # The record carries the stream's modulemd document as published (what
    # the Koji hub puts into a module build), so nobody reads it back from
    # the repository.
    published = ck.modules_yaml(ck.repo_dir(rec, "x86_64")).decode()
    stream = [d for d in published.split("---\n") if d.startswith("document: modulemd\n")]
    assert rec["modulemd"] == {"x86_64": "---\n" + stream[0]}
    assert strata.get_compose(rec["id"], config=site.config)["modulemd"] == rec["modulemd"]
    assert site.show(rec["id"])["modulemd"] == rec["modulemd"]

    # A failed gate is a result, not an exception.
    bad = apache(tmp_path, repos, packages=GOOD + ("mod_lua",), name="lua.yaml")
    res = strata.compose_module(bad, site.out, config=site.config, cache_dir=site.cache)
    assert res["ok"] is False and res["record"]["state"] == "failed"
    assert res["record"]["modulemd"] == {}
    adds = res["reports"]["x86_64"]["suggestions"]["additions"]
    assert [a["package"] for a in adds] == ["lua-libs-5.4.6-5.fc40.x86_64"]
    # The report as the CLI shows it: dnf's format, the suggestion, the hint.
    cli = site.compose(bad, check_rc=1)
    assert res["report_text"] == cli.stdout + cli.stderr.split("Error: compose")[0]
    assert res["report_text"].startswith("# x86_64\npackage: mod_lua-2.4.58-1.fc40.x86_64 from")
    assert res["report_texts"] == {"x86_64": res["report_text"]}
    # The one from Python and the one from the CLI.
    assert [r["state"] for r in strata.list_composes(state="failed", config=site.config)] == ["failed"] * 2


def test_python_errors_are_typed(strata_bin, tmp_path, repos):  # noqa: F811
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("document: strata-module\nversion: 1\ndata:\n  name: x\n  bogus: 1\n")
    with pytest.raises(strata.DefinitionError) as e:
        strata.validate_definition(bad)
    assert isinstance(e.value, strata.StrataError)
    assert any("bad.yaml:5:3" in p and "bogus" in p for p in e.value.args[1]), e.value.args
    missing = apache(tmp_path, repos, packages=GOOD + ("nonexistent",), name="m.yaml")
    with pytest.raises(strata.ComposeError, match="nonexistent"):
        strata.compose_module(missing, site.out, config=site.config, cache_dir=site.cache)
    with pytest.raises(strata.ComposeError, match="unknown compose type `weekly`"):
        strata.compose_module(apache(tmp_path, repos, name="t.yaml"), site.out, config=site.config,
                              compose_type="weekly")


def test_compose_types_are_productmds():
    """One list of compose types, the registry's, and it is productmd's:
    every front end takes it from `strata.COMPOSE_TYPES`."""
    import productmd.composeinfo

    assert isinstance(strata.COMPOSE_TYPES, tuple)
    assert sorted(strata.COMPOSE_TYPES) == sorted(productmd.composeinfo.COMPOSE_TYPES)
    assert "development" in strata.COMPOSE_TYPES
