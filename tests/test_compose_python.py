"""The compose engine through Python (`import strata`), as the Koji and
Pungi plugins will call it: same records as the CLI, typed exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest

import composekit as ck
import rpmfactory
import strata
from test_compose import GOOD, SOURCE, apache, repos  # noqa: F401 (fixture)


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


def test_typed_results_and_records(strata_bin, tmp_path, repos):  # noqa: F811
    """compose_module, get_compose, latest_compose and list_composes give
    typed objects whose to_json() is what the CLI prints for the same
    compose, and whose reports render as the CLI renders them."""
    import json

    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})
    res = strata.compose_module(apache(tmp_path, repos), site.out, config=site.config,
                                cache_dir=site.cache)
    assert isinstance(res, strata.ComposeResult) and res.ok is True
    rec = res.record
    assert isinstance(rec, strata.ComposeRecord)
    assert (rec.name, rec.stream, rec.state, rec.compose_type) == ("apache", "2.4", "finished",
                                                                   "nightly")
    # The record is the CLI's, to the byte.
    shown = site.run("composes", "show", rec.id, "--json", "--config", site.config,
                     check_rc=0).stdout
    assert rec.to_json() + "\n" == shown
    assert rec.to_dict() == json.loads(shown) == res["record"]
    assert rec.packages == json.loads(shown)["packages"]
    assert isinstance(rec.outputs, strata.Outputs)
    assert rec.outputs.repos == {"x86_64": str(ck.repo_dir(rec.to_dict(), "x86_64"))}
    assert rec.outputs.to_dict() == json.loads(shown)["outputs"] == res.outputs.to_dict()
    assert rec.inputs and all(isinstance(i, strata.Input) for i in rec.inputs)
    assert [i.to_dict() for i in rec.inputs] == json.loads(shown)["inputs"]
    assert {i.kind for i in rec.inputs} <= {"source_repo", "koji_repo", "compose",
                                           "stack_compose", "platform"}
    assert rec.modulemd == res.modulemd and rec.modulemd["x86_64"].startswith("---\n")
    assert rec.finished_at >= rec.started_at and rec.error is None and rec.report is None
    assert rec.owner is None or (isinstance(rec.owner, strata.Owner) and rec.owner.pid > 0)
    # Every arch's gate report, though the gate passed (the dict keeps none).
    assert list(res.reports) == ["x86_64"] and res.reports["x86_64"].ok
    assert res.report_text == "" and res.report_texts == {} and res["reports"] == {}
    assert json.loads(res.to_json()) == res.to_dict()
    assert rec.id in repr(res) and rec.id in repr(rec)

    # The stack as `strata tree` shows it, text and JSON.
    tree = strata.stack_tree("apache:2.4", config=site.config)
    assert isinstance(tree, strata.StackTree)
    assert (tree.module, tree.compose_id, tree.state) == ("apache:2.4", rec.id, "finished")
    for args, got in ((), tree.to_text()), (("--json",), tree.to_json() + "\n"):
        cli = site.run("tree", "apache:2.4", *args, "--config", site.config, check_rc=0)
        assert got == cli.stdout
    assert tree == json.loads(cli.stdout) and tree["module"] == "apache:2.4"

    # The definition, typed.
    d = strata.validate_definition(apache(tmp_path, repos, name="again.yaml"))
    assert isinstance(d, strata.ModuleDefinition)
    assert (d.name, d.stream, d.requires) == ("apache", "2.4", {"platform": "f40"})
    assert d.profiles == {"default": ["httpd", "mod_ssl"]} and d.api == ["httpd"]
    assert set(d.packages) == set(GOOD) and d["name"] == "apache"
    assert json.loads(d.to_json()) == d.to_dict() == d

    # Reading the registry gives the same record, typed.
    got = strata.get_compose(rec.id, config=site.config)
    assert isinstance(got, strata.ComposeRecord) and got.to_json() == rec.to_json()
    assert got == rec and got == rec.to_dict() and got != res.record.summary()
    assert strata.latest_compose("apache", "2.4", config=site.config).to_json() == rec.to_json()
    summaries = strata.list_composes(config=site.config)
    assert all(isinstance(s, strata.ComposeSummary) for s in summaries)
    assert [s.to_dict() for s in summaries] == site.list()
    assert summaries[0].package_counts == {"x86_64": len(rec.packages["x86_64"])}
    assert summaries[0].to_dict() == rec.summary().to_dict()

    # The mapping view: the old dicts' keys and nested shapes, read-only.
    assert rec["outputs"]["repos"] == rec.outputs.repos and rec["state"] == rec.state
    assert "id" in rec and "nope" not in rec and rec.get("nope", 7) == 7
    assert list(rec) == list(rec.keys()) == list(rec.to_dict()) and len(rec) == len(rec.to_dict())
    with pytest.raises(KeyError, match="nope"):
        rec["nope"]
    mine = rec.to_dict()
    mine["id"] = "changed"
    assert rec["id"] == rec.id != "changed"

    # A failed gate: its reports are ClosureReport objects, rendered as the
    # CLI renders them.
    bad = apache(tmp_path, repos, packages=GOOD + ("mod_lua",), name="lua.yaml")
    res = strata.compose_module(bad, site.out, config=site.config, cache_dir=site.cache)
    assert res.ok is False and res.record.state == "failed" and res.outputs is None
    report = res.reports["x86_64"]
    assert isinstance(report, strata.ClosureReport) and not report.ok
    assert [a.package for a in report.suggestions.additions] == ["lua-libs-5.4.6-5.fc40.x86_64"]
    assert json.loads(report.to_json()) == res["reports"]["x86_64"]
    cli = site.compose(bad, check_rc=1)
    assert cli.stdout == "# x86_64\n" + report.to_text()
    assert res.report_text == cli.stdout + cli.stderr.split("Error: compose")[0]
    assert res.report_texts == {"x86_64": res.report_text}
    assert res.record.error and res.record.report == res["record"]["report"]
    shown = site.run("composes", "show", res.record.id, "--json", "--config", site.config,
                     check_rc=0).stdout
    assert res.record.to_json() + "\n" == shown


def test_repository_modules_and_merge(strata_bin, tmp_path, repos):  # noqa: F811
    """read_repo_modules reads a published repository's modules through the
    core; merge_repositories combines two composes' repositories, each
    package and stream once, and refuses a destination that is not new."""
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})
    a = strata.compose_module(apache(tmp_path, repos), site.out, config=site.config,
                              cache_dir=site.cache).record
    nxt = apache(tmp_path, repos, name="next.yaml", stream="next")
    b = strata.compose_module(nxt, site.out, config=site.config, cache_dir=site.cache).record
    assert a.state == b.state == "finished", (a.error, b.error)
    repo_a, repo_b = a.outputs.repos["x86_64"], b.outputs.repos["x86_64"]

    streams = [d for d in strata.read_repo_modules(repo_a) if isinstance(d, strata.ModuleStream)]
    assert [s.nsvca for s in streams] == [f"apache:2.4:{a.version}:{a.context}:x86_64"]
    assert sorted(streams[0].artifacts) == a.packages["x86_64"]
    assert streams[0].profiles == {"default": ["httpd", "mod_ssl"]}
    assert streams[0].requires == [{"platform": ["f40"]}]
    assert streams[0].xmd["strata"]["compose_id"] == a.id
    # The document the core writes is the one the record keeps.
    assert streams[0].to_yaml().replace("...\n", "") == a.modulemd["x86_64"].replace("...\n", "")
    assert strata.read_repo_modules(str(repos["platform"])) == []
    with pytest.raises(strata.RepodataError, match="nowhere"):
        strata.read_repo_modules(str(tmp_path / "nowhere"))

    merged = strata.merge_repositories([repo_a, repo_b], tmp_path / "merged", timestamp=1)
    assert isinstance(merged, strata.MergedRepo) and merged.path == str(tmp_path / "merged")
    assert sorted(p.nevra for p in merged.packages) == sorted(
        set(a.packages["x86_64"]) | set(b.packages["x86_64"]))
    # The second has the first's packages: each is taken from the first.
    assert {p.source for p in merged.packages} == {repo_a}
    assert [(s.name, s.stream) for s in merged.streams] == [("apache", "2.4"), ("apache", "next")]
    again = [d.nsvca for d in strata.read_repo_modules(merged.path)
             if isinstance(d, strata.ModuleStream)]
    assert sorted(again) == sorted(s.nsvca for s in merged.streams)
    with pytest.raises(strata.ComposeError, match="merged"):
        strata.merge_repositories([repo_a], tmp_path / "merged")


def test_a_stack_compose_gives_its_repo_file(strata_bin, tmp_path, tmp_path_factory):
    """A stack compose from Python names its `.repo` file (the layers' own
    repositories, bottom first, then its own), the one the CLI prints; a
    compose without layers has none."""
    import configparser
    import rpmfactory
    import test_stack
    root = tmp_path_factory.mktemp("py-stack-src")
    src = {name: rpmfactory.make_repo(root / name, pkgs) for name, pkgs in (
        ("platform", test_stack.PLATFORM), ("base", test_stack.BASE_SRC),
        ("apache", test_stack.APACHE_SRC))}
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [src["platform"]]})
    kw = {"config": site.config, "cache_dir": site.cache}
    base = strata.compose_module(test_stack.base(tmp_path, src), site.out, **kw)
    assert base.ok and base.stack_repo_file is None
    top = strata.compose_module(test_stack.apache(tmp_path, src), site.out, **kw)
    assert top.ok and top.stack_repos == {}
    repo_file = top.stack_repo_file
    assert repo_file == str(Path(top.outputs.path) / "compose" / "ApacheStack.repo")
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read(repo_file)
    assert parsed.sections() == [base.record.id, top.record.id]
    own = Path(base.outputs.repos["x86_64"]).as_uri()
    assert parsed[base.record.id]["baseurl"] == own.replace("/x86_64/os", "/$basearch/os") + "/"
    assert top.to_dict()["record"]["id"] == top.record.id


def test_if_changed_reuses_the_last_good_compose_until_a_package_is_rebuilt(
        strata_bin, tmp_path, repos):  # noqa: F811
    # A source of its own: this test rebuilds a package in it.
    source = rpmfactory.make_repo(tmp_path / "source", SOURCE)
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})
    d = ck.write_definition(tmp_path / "defs" / "apache.yaml", ck.definition(
        packages=GOOD, repos=[source], requires={"platform": "f40"}))
    kw = dict(config=site.config, cache_dir=site.cache, if_changed=True)
    first = strata.compose_module(d, site.out, **kw)
    assert first.ok and not first.reused
    again = strata.compose_module(d, site.out, **kw)
    assert again.reused and again.ok and again.record.id == first.record.id
    # The CLI says so too, and neither recorded a compose.
    r = site.compose(d, "--if-changed", check_rc=0)
    assert r.stdout.startswith("%s REUSED: nothing it would use changed" % first.record.id)
    assert [c["id"] for c in site.list("apache")] == [first.record.id]
    # A rebuilt mod_ssl in the source: composed again, with the new build.
    rpmfactory.build_rpms([{"name": "mod_ssl", "version": "2.4.58", "release": "2.fc40",
                            "arch": "x86_64", "epoch": 1, "requires": ["httpd"]}], source)
    rpmfactory.createrepo(source)
    third = strata.compose_module(d, site.out, **kw)
    assert third.ok and not third.reused and third.record.id != first.record.id
    assert "mod_ssl-1:2.4.58-2.fc40.x86_64" in third.record["packages"]["x86_64"]
    # Without if_changed, a compose is always made.
    fourth = strata.compose_module(d, site.out, config=site.config, cache_dir=site.cache)
    assert not fourth.reused and fourth.record.id not in (first.record.id, third.record.id)
