"""The moduleCompose builder plugin (koji_plugin/builder/strata_builder.py)
run as kojid runs a task: the handler class found through its Methods,
constructed with (task_id, method, params, session, options), run() and its
result passed to host.closeTask (a fault to host.failTask) by koji's own
TaskManager.runTask, with a real koji.ClientSession logged in as a host to
the hub stand-in (kojid_standin.py). The definitions come from a real git
repository served by dumb HTTP on loopback and checked out by
koji.daemon.SCM; the Koji tag's repos are real (rpmbuild, createrepo_c),
laid out as kojid lays them out (test_compose_koji.py)."""

from __future__ import annotations

import functools
import gzip
import http.server
import inspect
import json
import logging
import os
import re
import subprocess
import sys
import threading
import types
from pathlib import Path

import koji
import koji.daemon
import koji.tasks
import pytest
import yaml

import composekit as ck
from kojid_standin import CLOSED, FAILED, BuilderHub
from kojihub_standin import HubServer
from test_compose_koji import make_repo, make_topdir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "koji_plugin" / "builder"))
import strata_builder  # noqa: E402

HOST = "builder-01.example.org"
TAG = "f40-build"


def handler_class(module, method):
    """As kojid's TaskManager.registerEntries/findHandlers: the
    BaseTaskHandler subclass that lists the method."""
    for v in vars(module).values():
        if inspect.isclass(v) and issubclass(v, koji.tasks.BaseTaskHandler) and method in v.Methods:
            return v
    raise AssertionError("no handler for %s" % method)


# -- a git repository of definitions, served by dumb HTTP

def git(*args, cwd):
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                       env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
                                GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org"))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class GitServer:
    def __init__(self, root: Path):
        self.root = root
        self.bare = root / "srv" / "modules" / "defs.git"
        self.work = root / "defs-work"
        self.bare.parent.mkdir(parents=True)
        git("init", "-q", "--bare", str(self.bare), cwd=root)
        git("init", "-q", "-b", "main", str(self.work), cwd=root)
        handler = functools.partial(_QuietHTTP, directory=str(root / "srv"))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = "git+http://127.0.0.1:%d/modules/defs.git" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def commit(self, files: dict[str, dict | str]) -> str:
        for name, doc in files.items():
            p = self.work / name
            p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", "definitions", cwd=self.work)
        git("push", "-q", str(self.bare), "main", cwd=self.work)
        git("update-server-info", cwd=self.bare)
        return git("rev-parse", "HEAD", cwd=self.work)

    def url(self, name, rev):
        return "%s?%s#%s" % (self.base, name, rev)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHTTP(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def definition(packages=("httpd", "httpd-tools", "mod_ssl"), **extra):
    doc = ck.definition(packages=packages, repos=["unused"], **extra)
    doc["data"]["source"] = {"koji": {"tag": TAG}}
    doc["data"]["profiles"] = {"default": ["httpd"]}
    return doc


# -- the site: hub stand-in, topdir, kojid options, plugin configuration

class Site:
    def __init__(self, strata_bin, root: Path, hub: BuilderHub, server: HubServer, gitsrv):
        self.root, self.hub, self.server, self.git = root, hub, server, gitsrv
        self.top = Path(koji.pathinfo.topdir)
        self.work = Path(koji.pathinfo.work())
        self.strata = ck.Site(strata_bin, root / "strata")
        with open(self.strata.config, "a") as f:
            f.write('[koji]\nhub = "%s"\ntopurl = "%s"\n' % (server.url, self.top))
        self.shared_registry = root / "shared" / "registry.sqlite"
        self.shared_out = root / "shared" / "composes"
        self.shared_out.mkdir(parents=True)
        conf = root / "strata_builder.conf"
        conf.write_text("[strata]\nregistry = %s\nconfig = %s\nout = %s\n"
                        "allowed_scms = 127.0.0.1*:/modules/*:no\n"
                        % (self.shared_registry, self.strata.config, self.shared_out))
        self.conf = conf
        self.options = types.SimpleNamespace(workdir=str(root / "kojid-work"), topdir=str(self.top),
                                             topurl=None)
        self.session = koji.ClientSession(server.url, {"user": HOST, "password": "host-password",
                                                       "use_fast_upload": True})
        assert self.session.login()

    def open_task(self, params):
        """A moduleCompose task as the hub's moduleBuild makes it, opened on
        HOST as the scheduler and kojid do."""
        fake = self.hub.koji_hub
        task_id = fake.make_task("moduleCompose", params, owner=fake.user("packager")["id"],
                                 channel="strata")
        fake.open_task(task_id, HOST)
        return task_id

    def run_task(self, src, opts=None):
        """Creates the task as the hub's moduleBuild does and runs it as
        kojid does; returns the task as the hub has it afterwards."""
        params = koji.encode_args(src, opts) if opts is not None else [src]
        task_id = self.open_task(params)
        cls = handler_class(strata_builder, "moduleCompose")
        strata_builder.CONFIG_FILE = str(self.conf)
        handler = cls(task_id, "moduleCompose", params, self.session, self.options)
        assert handler.weight() == 1.5
        manager = types.SimpleNamespace(session=self.session, logger=logging.getLogger("test.kojid"))
        koji.daemon.TaskManager.runTask(manager, handler)
        return self.hub.task(task_id)

    def uploaded(self, task_id) -> Path:
        return self.work / koji.pathinfo.taskrelpath(task_id)


def _list(site, registry: Path):
    r = site.run("composes", "list", "--json", "--registry", str(registry), check_rc=0)
    return json.loads(r.stdout)


@pytest.fixture
def site(strata_bin, tmp_path, monkeypatch):
    top = make_topdir(tmp_path)
    (top / "work").mkdir()
    hub = BuilderHub(top)
    hub.koji_hub.add_host(HOST, channels=["strata"], password="host-password")
    hub.koji_hub.add_user("packager", password="user-password")
    hub.add_tag(TAG)
    hub.tag_build(TAG, "httpd", "2.4.57", "1.fc40")
    repo = hub.new_repo(TAG)
    make_repo(top, TAG, repo["id"], [("httpd", "2.4.57", "1.fc40")])
    gitsrv = GitServer(tmp_path / "git")
    with HubServer(hub) as srv:
        s = Site(strata_bin, tmp_path, hub, srv, gitsrv)
        # kojid's handlers read the plugin's configuration when made: this
        # site's, never one an earlier test left (and pytest removed).
        monkeypatch.setattr(strata_builder, "CONFIG_FILE", str(s.conf))
        yield s
    gitsrv.close()


def test_compose_from_scm_is_recorded_published_uploaded_and_imported(site):
    rev = site.git.commit({"apache.yaml": definition()})
    src = site.git.url("apache.yaml", rev)
    task = site.run_task(src, {"arches": ["x86_64"], "compose_type": "test"})
    assert task["state"] == CLOSED, task["result"]
    res = task["result"]
    cid = res["compose_id"]
    assert cid.startswith("apache-2.4-") and ".t." in cid, cid
    assert res["state"] == "finished" and res["build_id"] == site.hub.next_build
    assert site.hub.imports == [(task["id"], cid)]
    # the shared registry has it, finished, with the SCM URL as its reference
    rec = site.strata.run("composes", "show", cid, "--json", "--registry", site.shared_registry,
                          check_rc=0)
    rec = json.loads(rec.stdout)
    assert rec["state"] == "finished" and rec["scm_ref"] == src, rec
    assert sorted(rec["packages"]["x86_64"]) == [
        "httpd-0:2.4.57-1.fc40.x86_64", "httpd-tools-0:2.4.57-1.fc40.x86_64",
        "mod_ssl-0:2.4.57-1.fc40.x86_64"]
    # the repo is published under the configured out and is a real yum repo
    repo = Path(res["repos"]["x86_64"])
    assert site.shared_out in repo.parents and (repo / "repodata" / "repomd.xml").is_file()
    assert next(repo.rglob("mod_ssl-2.4.57-1.fc40.x86_64.rpm")).is_file()
    # logs went to the task's output directory through the real upload calls
    up = site.uploaded(task["id"])
    assert "moduleCompose" in (up / "compose.log").read_text()
    assert cid in (up / "compose.log").read_text()
    assert "git" in (up / "checkout.log").read_text()
    assert (up / "repoclosure.x86_64.log").is_file()
    assert any(c[0] == "rawUpload" for c in site.hub.calls)


def test_the_compose_names_the_definition_as_the_repository_does(site):
    rev = site.git.commit({"apache.yaml": definition()})
    task = site.run_task(site.git.url("apache.yaml", rev))
    assert task["state"] == CLOSED, task["result"]
    cid = task["result"]["compose_id"]
    rec = json.loads(site.strata.run("composes", "show", cid, "--json", "--registry",
                                     site.shared_registry, check_rc=0).stdout)
    # never the builder's temporary checkout (kojid's workdir)
    assert rec["definition_path"] == "apache.yaml", rec["definition_path"]
    mmd = rec["modulemd"]["x86_64"]
    assert site.options.workdir not in mmd, mmd
    xmd = yaml.safe_load(mmd)["data"]["xmd"]["strata"]
    assert xmd["definition"]["path"] == "apache.yaml", xmd
    assert xmd["definition"]["scm_ref"] == site.git.url("apache.yaml", rev)


def test_scratch_compose_uses_a_task_local_registry(site):
    # The CLI uploads the file, as `koji build --scratch` does with an SRPM.
    local = ck.write_definition(site.root / "mine" / "apache.yaml", definition())
    user = koji.ClientSession(site.server.url, {"user": "packager", "password": "user-password"})
    assert user.login()
    user.uploadWrapper(str(local), "cli-build/1234.abcd")
    task = site.run_task("cli-build/1234.abcd/apache.yaml", {"scratch": True})
    assert task["state"] == CLOSED, task["result"]
    res = task["result"]
    assert "build_id" not in res and res["state"] == "finished"
    assert site.hub.imports == []
    assert not site.shared_registry.exists() or _list(site.strata, site.shared_registry) == []
    assert list(site.shared_out.iterdir()) == []
    # the scratch compose went to the task output
    up = site.uploaded(task["id"])
    repo = site.work / res["repos"]["x86_64"]
    assert up in repo.parents and (repo / "repodata" / "repomd.xml").is_file()
    assert next(repo.rglob("httpd-2.4.57-1.fc40.x86_64.rpm")).is_file()


def test_scratch_ids_are_unmistakable_and_never_a_real_one(site):
    user = koji.ClientSession(site.server.url, {"user": "packager", "password": "user-password"})
    assert user.login()
    local = ck.write_definition(site.root / "mine" / "apache.yaml", definition())
    ids = []
    for n in (1, 2):
        user.uploadWrapper(str(local), "cli-build/%d.abcd" % n)
        task = site.run_task("cli-build/%d.abcd/apache.yaml" % n, {"scratch": True})
        assert task["state"] == CLOSED, task["result"]
        cid = task["result"]["compose_id"]
        # the scratch compose's modulemd carries the same ID
        repo = site.work / task["result"]["repos"]["x86_64"]
        modules = next(repo.glob("repodata/*modules.yaml*"))
        text = gzip.decompress(modules.read_bytes()) if modules.suffix == ".gz" else (
            modules.read_bytes())
        assert ("compose_id: %s" % cid).encode() in text
        assert cid.startswith("apache-2.4-%d.scratch-" % task["id"]), cid
        ids.append(cid)
    rev = site.git.commit({"apache.yaml": definition()})
    real = site.run_task(site.git.url("apache.yaml", rev))
    assert real["state"] == CLOSED, real["result"]
    ids.append(real["result"]["compose_id"])
    assert len(set(ids)) == 3 and "scratch" not in ids[2], ids


def test_gate_failure_fails_the_task_with_the_report_and_a_suggestion(site):
    rev = site.git.commit({"apache.yaml": definition(packages=("httpd", "mod_ssl"))})
    task = site.run_task(site.git.url("apache.yaml", rev))
    assert task["state"] == FAILED
    fault = task["result"]
    assert fault.faultCode == koji.GenericError.faultCode
    assert "FAILED" in fault.faultString
    assert "package: httpd-2.4.57-1.fc40.x86_64 from" in fault.faultString, fault.faultString
    assert "httpd-tools" in fault.faultString and "hint: `httpd-tools" in fault.faultString
    assert site.hub.imports == []
    failed = _list(site.strata, site.shared_registry)
    assert [r["state"] for r in failed] == ["failed"]
    up = site.uploaded(task["id"])
    report = json.loads((up / "closure-report.json").read_text())
    assert report["x86_64"]["unresolved"][0]["deps"] == ["httpd-tools"]
    assert "hint: `httpd-tools-2.4.57-1.fc40.x86_64`" in (up / "closure-report.txt").read_text()
    # the report as the core renders it, and the log a failed compose never published
    log = (up / "repoclosure.x86_64.log").read_text()
    assert "package: httpd-2.4.57-1.fc40.x86_64 from" in log and "httpd-tools" in log, log
    assert log in (up / "closure-report.txt").read_text()


def test_malformed_definition_names_file_line_and_key(site):
    doc = definition()
    doc["data"]["bogus"] = 1
    del doc["data"]["summary"]
    doc["data"]["stream"] = "2..4"
    rev = site.git.commit({"bad.yaml": doc})
    task = site.run_task(site.git.url("bad.yaml", rev))
    assert task["state"] == FAILED
    msg = task["result"].faultString
    assert "malformed module definition bad.yaml" in msg, msg
    # Every problem at once, each at its line and column.
    problems = [line for line in msg.splitlines() if line.startswith("bad.yaml:")]
    assert len(problems) == 3, msg
    assert any(re.match(r"bad\.yaml:\d+:\d+: data: missing required field `summary`", p)
               for p in problems), msg
    assert any(re.match(r"bad\.yaml:\d+:\d+: data\.stream: the stream `2\.\.4`", p)
               for p in problems), msg
    assert any(re.match(r"bad\.yaml:\d+:\d+: data: unknown field `bogus`", p)
               for p in problems), msg
    assert "Traceback" not in msg
    assert site.hub.imports == [] and not site.shared_registry.exists()


def test_disallowed_scm_fails_as_koji_says(site):
    rev = site.git.commit({"apache.yaml": definition()})
    port = site.git.httpd.server_address[1]
    src = "git+http://127.0.0.1:%d/other/defs.git?apache.yaml#%s" % (port, rev)
    task = site.run_task(src)
    assert task["state"] == FAILED
    fault = task["result"]
    assert fault.faultCode == koji.BuildError.faultCode
    assert fault.faultString == "127.0.0.1:%d:/other/defs.git is not in the list of allowed SCMs" % port
    assert site.hub.imports == []


def test_wait_builds_waits_for_the_repo_in_a_waitrepo_subtask(site):
    top = Path(site.top)

    def another_builder(task):
        # kojid's WaitrepoTask elsewhere: the build gets tagged, a newer repo appears
        # RepoWatcher.task_args(): [tag, newer_than, nvrs, min_event]
        assert task["params"] == [TAG, None, ["httpd-2.4.58-1.fc40"], None]
        site.hub.tag_build(TAG, "httpd", "2.4.58", "1.fc40")
        repo = site.hub.new_repo(TAG)
        make_repo(top, TAG, repo["id"], [("httpd", "2.4.57", "1.fc40"), ("httpd", "2.4.58", "1.fc40")])
        site.hub.koji_hub.close_task(task["id"], repo)

    site.hub.on_subtask["waitrepo"] = another_builder
    rev = site.git.commit({"apache.yaml": definition()})
    task = site.run_task(site.git.url("apache.yaml", rev), {"wait_builds": ["httpd-2.4.58-1.fc40"]})
    assert task["state"] == CLOSED, task["result"]
    subs = [t for t in site.hub.koji_hub.tasks.values() if t["parent"] == task["id"]]
    assert [(t["method"], t["label"], t["state"]) for t in subs] == [("waitrepo", "waitrepo", CLOSED)]
    names = [c[0] for c in site.hub.calls]
    assert "host.taskSetWait" in names and "host.taskWait" in names and "host.taskWaitResults" in names
    rec = json.loads(site.strata.run("composes", "show", task["result"]["compose_id"], "--json",
                                     "--registry", site.shared_registry, check_rc=0).stdout)
    assert "httpd-0:2.4.58-1.fc40.x86_64" in rec["packages"]["x86_64"], rec["packages"]


def test_wait_builds_waits_on_the_tag_option(site):
    """`tag` (the hub accepts and checks it) names the tag wait_builds waits
    on, before the definition's."""
    top = Path(site.top)
    site.hub.add_tag("f40-override")

    def another_builder(task):
        assert task["params"] == ["f40-override", None, ["httpd-2.4.58-1.fc40"], None]
        site.hub.tag_build("f40-override", "httpd", "2.4.58", "1.fc40")
        repo = site.hub.new_repo("f40-override")
        make_repo(top, "f40-override", repo["id"], [("httpd", "2.4.58", "1.fc40")])
        site.hub.koji_hub.close_task(task["id"], repo)

    site.hub.on_subtask["waitrepo"] = another_builder
    rev = site.git.commit({"apache.yaml": definition()})
    task = site.run_task(site.git.url("apache.yaml", rev),
                         {"tag": "f40-override", "wait_builds": ["httpd-2.4.58-1.fc40"]})
    assert task["state"] == CLOSED, task["result"]
    assert [t["method"] for t in site.hub.koji_hub.tasks.values()
            if t["parent"] == task["id"]] == ["waitrepo"]


def test_bad_options_are_parameter_faults(site):
    task = site.run_task("git+http://127.0.0.1:1/modules/defs.git?a.yaml#x", {"colour": "red"})
    assert task["state"] == FAILED
    assert task["result"].faultCode == koji.ParameterError.faultCode
    assert "unknown option 'colour'" in task["result"].faultString


def test_host_calls_need_the_host_running_the_task(site):
    user = koji.ClientSession(site.server.url, {"user": "packager", "password": "user-password"})
    assert user.login()
    task_id = site.open_task(["x"])
    with pytest.raises(koji.ActionNotAllowed):
        user.moduleComposeImport(task_id, "apache-2.4-20261204.n.0")
    with pytest.raises(koji.ActionNotAllowed):
        user.host.subtask("waitrepo", [TAG, None, []], task_id)
    assert site.session.host.getID() == 1
    assert site.session.moduleComposeImport(task_id, "apache-2.4-20261204.n.0") == site.hub.next_build
    assert site.hub.imports == [(task_id, "apache-2.4-20261204.n.0")]


def test_wait_builds_already_in_the_repo_needs_no_subtask(site):
    rev = site.git.commit({"apache.yaml": definition()})
    task = site.run_task(site.git.url("apache.yaml", rev), {"wait_builds": ["httpd-2.4.57-1.fc40"]})
    assert task["state"] == CLOSED, task["result"]
    assert [t for t in site.hub.koji_hub.tasks.values() if t["parent"] == task["id"]] == []
    # checkForBuilds asked the tag, then a repo was requested and found
    names = [c[0] for c in site.hub.calls]
    assert "repo.request" in names and "host.subtask" not in names
    assert ("listTagged", [1], {"event": None, "package": "httpd", "inherit": True}) in site.hub.calls
