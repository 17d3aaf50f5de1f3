"""`koji release-check` and `koji release-compose` (issue 14), through one
stand-in hub as test_koji_chain.py does: the REAL `koji` CLI with the CLI
plugin submits to the REAL hub plugin's releaseCheck/releaseCompose, which
make the task; a kojid stand-in runs the REAL builder plugin's handler
through koji's own TaskManager.runTask: it checks the release document
out of git over HTTP and runs the core (strata.release_check,
strata.release_compose) against the shared registry.

The release: php:8.2 (its own repository) above apache:2.4 (from the Koji
tag f40-build), both composed once; the release document and both
definitions in one git commit, the release naming them by relative path."""

from __future__ import annotations

import json
from pathlib import Path

import koji
import pytest

import composekit as ck
import rpmfactory
import strata
from kojid_standin import CLOSED, FAILED
from test_koji_builder import definition, site  # noqa: F401 (fixture)
from test_koji_chain import Kojid, chain  # noqa: F401 (fixture)

METHODS = ("releaseCheck", "releaseCompose")
LIFECYCLE = {"eol": "2028-12-31", "sla": {"security_fixes": "2028-06-30"}}


def release_doc(name, sla="2027-06-30", eol="2027-12-31", default=True):
    return {"document": "strata-release", "version": 1, "data": {
        "name": name, "version": "41", "date": "2026-10-01",
        "lifecycle": {"eol": eol, "sla": {"security_fixes": sla}},
        "modules": [{"module": "php:8.2", "definition": "../modules/php.yaml", "default": default},
                    {"module": "apache:2.4", "definition": "../modules/apache.yaml"}]}}


@pytest.fixture
def rel(chain, tmp_path):  # noqa: F811
    """The chain site; apache:2.4 and php:8.2 composed into the shared
    registry from the definitions committed beside the release documents
    (releases/f41.yaml passes; releases/late.yaml promises security fixes
    past apache's)."""
    site, k = chain
    php_src = rpmfactory.make_repo(tmp_path / "php-src", [{"name": "php", "version": "8.2.13"}])
    apache = definition(lifecycle=LIFECYCLE)
    php = ck.definition("php", "8.2", packages=["php"], repos=[php_src],
                        requires={"apache": "2.4"}, profiles={"default": ["php"]},
                        lifecycle=LIFECYCLE)
    for folder in ("modules", "releases"):
        (site.git.work / folder).mkdir()
    rev = site.git.commit({"modules/apache.yaml": apache, "modules/php.yaml": php,
                           "releases/f41.yaml": release_doc("f41"),
                           "releases/late.yaml": release_doc("late", sla="2028-09-30", eol="2028-12-31"),
                           "releases/bad.yaml": release_doc("bad", sla="2029-01-31")})
    ids = {}
    for name in ("apache", "php"):
        res = strata.compose_module(site.git.work / "modules" / ("%s.yaml" % name),
                                    site.shared_out, config=site.strata.config,
                                    registry=site.shared_registry)
        assert res["ok"], res
        ids["%s:%s" % (res["record"]["name"], res["record"]["stream"])] = res["record"]["id"]
    return site, k, rev, ids


def _run(k, *args):
    r = k.run("alice", *args, timeout=600)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def _submit(site, k, *args):
    """The koji command ARGS, its task run by a kojid stand-in."""
    with Kojid(site, methods=METHODS) as kojid:
        r = _run(k, *args)
    assert kojid.error is None, kojid.error
    return r


def _task(site, method):
    (task_id,) = [t["id"] for t in site.hub.koji_hub.tasks.values() if t["method"] == method]
    return task_id, site.hub.task(task_id)


def _output(site, task_id, name) -> str:
    return (site.uploaded(task_id) / name).read_text()


def _release_records(site) -> list[dict]:
    r = site.strata.run("releases", "list", "--json", "--registry", site.shared_registry,
                        check_rc=0)
    return json.loads(r.stdout)


def test_a_release_that_passes_its_check(rel):
    site, k, rev, ids = rel
    src = site.git.url("releases/f41.yaml", rev)
    r = _submit(site, k, "release-check", "--wait", "--arch", "x86_64", src)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Release f41 41 (2026-10-01, x86_64): no problems, 2 module(s)" in r.stdout, r.stdout
    task_id, task = _task(site, "releaseCheck")
    assert task["params"] == [src, {"arch": "x86_64"}]
    assert task["state"] == CLOSED, task["result"]
    assert task["result"]["modules"] == ids
    # the core's report, as `strata release check` gives it, is the task's output
    report = json.loads(_output(site, task_id, "release-report.json"))
    assert report["problems"] == [] and report["release"] == "f41", report
    assert report["file"] == "releases/f41.yaml"  # as in the repository, not the checkout
    assert "f41" in _output(site, task_id, "release-report.txt")
    # a check composes and records nothing
    assert _release_records(site) == []


def test_a_failing_check_fails_the_task_naming_the_problem(rel):
    site, k, rev, ids = rel
    src = site.git.url("releases/late.yaml", rev)
    before = sorted(p.name for p in site.shared_out.iterdir())
    with Kojid(site, methods=METHODS) as kojid:
        check = _run(k, "release-check", "--wait", src)
        compose = _run(k, "release-compose", "--wait", src)
    assert kojid.error is None, kojid.error
    lifecycle = "security_fixes end 2028-06-30, before the release's 2028-09-30"
    assert check.returncode == 1, check.stdout + check.stderr
    assert "FAILED" in check.stdout and lifecycle in check.stdout, check.stdout
    task_id, task = _task(site, "releaseCheck")
    assert task["state"] == FAILED
    assert "release late 41 (releases/late.yaml): 2 problem(s)" in task["result"].faultString
    # the report is the task's output, failed or not
    report = json.loads(_output(site, task_id, "release-report.json"))
    assert {p["kind"] for p in report["problems"]} == {"lifecycle"}, report["problems"]
    # release-compose: the same problems, nothing composed nor recorded
    assert compose.returncode == 1, compose.stdout + compose.stderr
    assert lifecycle in compose.stdout and "nothing was composed" in compose.stdout
    task_id, task = _task(site, "releaseCompose")
    assert task["state"] == FAILED
    assert not (site.uploaded(task_id) / "release.json").exists()
    assert sorted(p.name for p in site.shared_out.iterdir()) == before
    assert _release_records(site) == []


def test_a_malformed_release_document_is_named_with_its_line(rel):
    site, k, rev, ids = rel
    r = _submit(site, k, "release-check", "--wait", site.git.url("releases/bad.yaml", rev))
    assert r.returncode == 1, r.stdout + r.stderr
    assert ("malformed release document releases/bad.yaml:\nreleases/bad.yaml:10:7: "
            "data.lifecycle.sla.security_fixes: security_fixes ends 2029-01-31, after the end "
            "of life 2027-12-31") in r.stdout, r.stdout


def test_a_release_compose_is_published_and_recorded(rel):
    site, k, rev, ids = rel
    src = site.git.url("releases/f41.yaml", rev)
    r = _submit(site, k, "release-compose", "--wait", "--compose-type", "test", src)
    assert r.returncode == 0, r.stdout + r.stderr
    task_id, task = _task(site, "releaseCompose")
    assert task["params"] == [src, {"compose_type": "test"}]
    res = task["result"]
    assert res["state"] == "finished" and ".t." in res["release_id"], res
    assert "Release compose: %s" % res["release_id"] in r.stdout, r.stdout
    # published where the builders publish composes, in Pungi's layout
    top = site.shared_out / res["release_id"]
    assert res["path"] == str(top) and "Path: %s" % top in r.stdout
    assert (top / "STATUS").read_text() == "FINISHED\n"
    assert (top / "compose" / "metadata" / "composeinfo.json").is_file()
    assert (top / "compose" / "Modular" / "x86_64" / "os" / "repodata" / "repomd.xml").is_file()
    # recorded in the shared registry, with every compose it ships
    (record,) = _release_records(site)
    assert record["id"] == res["release_id"] and record["state"] == "finished"
    shown = json.loads(site.strata.run("releases", "show", res["release_id"], "--json",
                                       "--registry", site.shared_registry, check_rc=0).stdout)
    assert [(i["name"], i["compose_id"]) for i in shown["inputs"]] == [
        ("php:8.2", ids["php:8.2"]), ("apache:2.4", ids["apache:2.4"])]
    assert [list(i) for i in res["inputs"]] == [[i["kind"], i["name"], i["compose_id"]]
                                               for i in shown["inputs"]]
    assert json.loads(_output(site, task_id, "release.json")) == shown
    # the record names the document by the task's SCM URL, as module composes do
    assert shown["scm_ref"] == src
    text = site.strata.run("releases", "show", res["release_id"], "--registry",
                           site.shared_registry, check_rc=0).stdout
    assert "  scm         %s\n" % src in text, text

    # the next release checked against it: by release name (the registry's),
    # and against the previous document, checked out of SCM beside it
    with Kojid(site, methods=METHODS) as kojid:
        by_name = _run(k, "release-check", "--wait", "--from", "f41", src)
        by_scm = _run(k, "release-check", "--wait", "--from", src, src)
    assert kojid.error is None, kojid.error
    assert by_name.returncode == 0, by_name.stdout + by_name.stderr
    assert by_scm.returncode == 0, by_scm.stdout + by_scm.stderr
    first, second = sorted(t["id"] for t in site.hub.koji_hub.tasks.values()
                           if t["method"] == "releaseCheck")
    report = json.loads(_output(site, first, "release-report.json"))
    assert report["upgrade"]["from"] == res["release_id"], report["upgrade"]
    assert report["upgrade"]["checked"], report["upgrade"]
    # named by the SCM URL given, not by the builder's checkout of it
    report = json.loads(_output(site, second, "release-report.json"))
    assert report["upgrade"]["from"] == src, report["upgrade"]
    assert report["upgrade"]["checked"], report["upgrade"]
    assert "upgrade from f41 41 (%s)" % src in _output(
        site, second, "release-report.txt")
    assert (site.uploaded(second) / "checkout-previous.log").is_file()


def test_release_requests_the_hub_refuses(rel):
    site, k, rev, ids = rel
    fake = site.hub.koji_hub
    fake.add_user("bob", password="pw")
    src = site.git.url("releases/f41.yaml", rev)
    cases = [
        (("bob", "release-check", src), "ActionNotAllowed: module-build permission required"),
        (("alice", "release-compose", "--from", "../etc/f40.yaml", src),
         "releaseCompose: option previous must be a release compose ID"),
        (("alice", "release-check", "--from", "f40.yaml", src),
         "releaseCheck: option previous must be a release compose ID"),
        (("alice", "release-check", "git+https://evil.example.org/x.git?r.yaml#1"),
         "releaseCheck: "),
        (("alice", "release-check", "--from", "git+https://evil.example.org/x.git?r.yaml#1",
          src), "is not in the list of allowed SCMs"),
        (("alice", "release-check", "--arch", "sparc", src),
         "releaseCheck: unknown arch(es) sparc"),
        (("alice", "release-compose", "--priority", "-5", src),
         "releaseCompose: only admins may create high-priority tasks"),
    ]
    for (user, *args), message in cases:
        r = k.run(user, *args, "--nowait")
        assert r.returncode == 1 and message in r.stderr, (args, r.stdout, r.stderr)
    local = k.run("alice", "release-check", "releases/f41.yaml")
    assert local.returncode == 2 and "Releases are checked from SCM only" in local.stderr
    assert not fake.tasks


def test_definitions_out_of_the_repository_or_allowed_scms_are_refused(rel, tmp_path):
    """A release names its definitions: each is checked before the core
    reads or fetches any, as the release's own SCM URL is."""
    site, k, rev, ids = rel
    secret = tmp_path / "secret.yaml"
    secret.write_text("not for releases\n")
    (site.git.work / "modules" / "link.yaml").symlink_to(secret)
    hostile = {
        "abs": str(secret),
        "up": "../../../../../../../../%s" % secret,
        "link": "../modules/link.yaml",
        "evil": "git+https://evil.example.org/modules/x.git?php.yaml#1",
        "file": "git+file:///%s?php.yaml#1" % site.git.work,
    }
    files = {}
    for name, location in hostile.items():
        doc = release_doc(name)
        doc["data"]["modules"][0]["definition"] = location
        files["releases/%s.yaml" % name] = doc
    rev = site.git.commit(files)
    for name, location in hostile.items():
        r = _submit(site, k, "release-check", "--wait",
                    site.git.url("releases/%s.yaml" % name, rev))
        assert r.returncode == 1, (name, r.stdout + r.stderr)
        assert "release releases/%s.yaml: definition %s" % (name, location) in r.stdout, (
            name, r.stdout)
        # refused before the core ran: no report
        (task_id,) = [t["id"] for t in site.hub.koji_hub.tasks.values()
                      if t["method"] == "releaseCheck" and t["state"] == FAILED
                      and site.hub.task(t["id"])["params"][0].endswith("%s.yaml#%s" % (name, rev))]
        assert not (site.uploaded(task_id) / "release-report.json").exists()
