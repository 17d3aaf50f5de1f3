"""The koji CLI plugin (koji_plugin/cli/strata_cli.py), run through the
REAL `koji` command (PyPI koji) against the loopback XML-RPC hub stand-in
(tests/kojihub_standin.py), which routes the plugin's calls to the REAL hub
plugin (koji_plugin/hub/strata_hub.py) over the kojihub module stand-in."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import koji
import pytest

import composekit as ck
import kojihub_standin as ks
from test_koji_hub import (GOOD, apache, composes, load_hub_plugin, repos, setup_hub,  # noqa: F401
                           use_registry)

ROOT = Path(__file__).resolve().parent.parent
CLI_PLUGINS = ROOT / "koji_plugin" / "cli"
SRC = "git+https://src.example.org/modules/apache.git?apache.yaml#3f2a9c1"


def koji_bin() -> str:
    k = shutil.which("koji")
    if not k:
        pytest.fail("the koji CLI is not installed (python3 -m pip install koji)", pytrace=False)
    return k


class Koji:
    def __init__(self, tmp: Path, url: str):
        self.tmp = tmp
        self.url = url
        self.home = tmp / "home"
        self.home.mkdir(exist_ok=True)

    def config(self, user):
        cfg = self.tmp / f"koji-{user}.conf"
        cfg.write_text(f"[koji]\nserver = {self.url}\nweburl = http://koji.example.org/koji\n"
                       f"topurl = http://127.0.0.1:9/kojifiles\nauthtype = password\n"
                       f"poll_interval = 1\n")
        return cfg

    def argv(self, user, *args):
        # koji's configuration has no user/password keys: password auth
        # takes them from the global options
        return [koji_bin(), f"--config={self.config(user)}", f"--plugin-paths={CLI_PLUGINS}",
                f"--user={user}", "--password=pw", *map(str, args)]

    def env(self):
        e = dict(os.environ)
        e["HOME"] = str(self.home)
        return e

    def run(self, user, *args, timeout=60):
        return subprocess.run(self.argv(user, *args), capture_output=True, text=True,
                              env=self.env(), timeout=timeout)

    def popen(self, user, *args):
        return subprocess.Popen(self.argv(user, *args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env())


@pytest.fixture
def site(tmp_path):
    fake = setup_hub(tmp_path, tmp_path / "registry.sqlite")
    _, exports = load_hub_plugin()
    hub = ks.Hub(koji_hub=fake, exports=exports)
    with ks.HubServer(hub) as srv:
        yield fake, hub, Koji(tmp_path, srv.url)


def wait_for_task(fake, proc, n=1, timeout=30):
    end = time.time() + timeout
    while len(fake.tasks) < n:
        if proc.poll() is not None or time.time() > end:
            out, err = proc.communicate()
            pytest.fail(f"no task created (rc {proc.returncode}):\n{out}\n{err}")
        time.sleep(0.05)
    return max(fake.tasks)


def assert_clean(r, rc):
    assert r.returncode == rc, f"rc {r.returncode}\n--- stdout ---\n{r.stdout}\n--- stderr ---\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr


def test_module_build_waits_until_closed(site):
    fake, hub, k = site
    fake.as_user("root")
    fake.new_build({"name": "httpd", "version": "2.4.58", "release": "1.fc40", "epoch": None})
    p = k.popen("alice", "module-build", "--wait", "--arch", "x86_64", "--compose-type", "test",
                "--priority", "3", "--wait-build", "httpd-2.4.58-1.fc40", SRC)
    tid = wait_for_task(fake, p)
    fake.open_task(tid, "builder1")
    time.sleep(1.5)
    fake.close_task(tid, {"compose_id": "apache-2.4-20261125.t.0", "state": "finished",
                          "repos": {}, "build_id": 7})
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, out + err
    assert f"Created task: {tid}" in out
    assert "Watching tasks" in out and f"{tid} moduleCompose" in out
    assert f"{tid} moduleCompose (noarch): free" in out or "open (builder1)" in out, out
    assert "completed successfully" in out, out
    t = fake.tasks[tid]
    assert t["owner"] == fake.user("alice")["id"] and t["priority"] == koji.PRIO_DEFAULT + 3
    from kojihub_module_standin import Task
    assert list(Task(tid).getRequest()) == [SRC, {"arches": ["x86_64"], "compose_type": "test",
                                            "priority": 3,
                                            "wait_builds": ["httpd-2.4.58-1.fc40"]}]
    assert any(c[0] == "login" for c in hub.calls) and any(c[0] == "logout" for c in hub.calls)


def test_module_build_wait_reports_failure(site):
    fake, hub, k = site
    p = k.popen("alice", "module-build", "--wait", SRC)
    tid = wait_for_task(fake, p)
    fake.open_task(tid, "builder1")
    fake.fail_task(tid, koji.BuildError("apache.yaml: repoclosure failed: mod_lua requires "
                                        "lua-libs"))
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1, out + err
    assert "FAILED: BuildError: apache.yaml: repoclosure failed: mod_lua requires lua-libs" in out
    assert f"{tid} moduleCompose" in out and "failed" in out


def test_module_build_uploads_a_scratch_definition(site, tmp_path):
    fake, hub, k = site
    d = ck.write_definition(tmp_path / "apache.yaml",
                            ck.definition(repos=["https://mirror.example.org/f40"]))
    r = k.run("alice", "module-build", "--scratch", "--nowait", "--noprogress", d)
    assert_clean(r, 0)
    assert "Uploading definition" in r.stdout and "Created task: 1" in r.stdout
    src, opts = __import__("kojihub_module_standin").Task(1).getRequest()
    assert opts == {"scratch": True}
    assert src.startswith("cli-build/") and src.endswith("/apache.yaml")
    assert (Path(koji.pathinfo.work()) / src).read_text() == d.read_text()
    # koji's fast upload: rawUpload chunks, then checkUpload verifies the size
    assert [c[0] for c in hub.calls if c[0] in ("checkUpload", "rawUpload")] == [
        "rawUpload", "checkUpload"]


def test_module_build_local_file_needs_scratch(site, tmp_path):
    """The builder composes an uploaded definition as a scratch compose only,
    so the CLI refuses it without --scratch before uploading, for admins too."""
    fake, hub, k = site
    d = ck.write_definition(tmp_path / "apache.yaml", ck.definition())
    for user in ("alice", "root"):
        r = k.run(user, "module-build", "--nowait", d)
        assert_clean(r, 2)
        assert "A local definition file makes a scratch compose only: add --scratch" in r.stderr
    assert not fake.tasks and not any(c[0] in ("rawUpload", "login") for c in hub.calls)
    r = k.run("alice", "module-build", "--nowait", tmp_path / "missing.yaml")
    assert_clean(r, 2)
    assert "No such definition file" in r.stderr


def test_module_build_uploaded_relative_repos_refused_by_the_hub(site, tmp_path):
    fake, hub, k = site
    d = ck.write_definition(tmp_path / "apache.yaml", ck.definition(repos=["repos/f40"]))
    r = k.run("alice", "module-build", "--scratch", "--nowait", "--noprogress", d)
    assert_clean(r, 1)
    assert "names repositories by relative path (repos/f40): an uploaded definition travels " \
        "alone" in r.stderr
    assert not fake.tasks


def test_module_build_tag_option(site):
    fake, hub, k = site
    fake.as_user("root")
    fake.new_build({"name": "httpd", "version": "2.4.58", "release": "1.fc40", "epoch": None})
    r = k.run("alice", "module-build", "--nowait", "--tag", "f40-build", "--wait-build",
              "httpd-2.4.58-1.fc40", SRC)
    assert_clean(r, 0)
    assert list(__import__("kojihub_module_standin").Task(1).getRequest()) == [
        SRC, {"wait_builds": ["httpd-2.4.58-1.fc40"], "tag": "f40-build"}]
    r = k.run("alice", "module-build", "--nowait", "--tag", "f99", SRC)
    assert_clean(r, 1)
    assert "no such tag: f99 (option tag)" in r.stderr


@pytest.mark.parametrize("user, args, message", [
    ("bob", [SRC], "module-build permission required (logged in as bob)"),
    ("alice", ["git+https://evil.example.com/modules/a.git?a.yaml#1"],
     "evil.example.com:/modules/a.git is not in the list of allowed SCMs"),
    ("alice", ["git+https://src.example.org/modules/a.git#1"], "names no definition file"),
    ("alice", ["--wait-build", "nope-1-1", SRC], "no such build: nope-1-1 (in wait_builds)"),
    ("alice", ["--priority", "-3", SRC], "only admins may create high-priority tasks"),
])
def test_module_build_hub_refusals(site, user, args, message):
    fake, hub, k = site
    r = k.run(user, "module-build", "--nowait", *args)
    assert_clean(r, 1)
    assert message in r.stderr
    assert not fake.tasks


def test_module_build_usage_errors(site):
    fake, hub, k = site
    r = k.run("alice", "module-build", "--compose-type", "weekly", SRC)
    assert_clean(r, 2)
    assert "invalid choice: 'weekly'" in r.stderr
    r = k.run("alice", "module-build")
    assert_clean(r, 2)
    assert "Exactly one argument" in r.stderr
    r = k.run("alice", "module-build", "--priority", "high", SRC)
    assert_clean(r, 2)
    assert "invalid integer value: 'high'" in r.stderr
    assert not fake.tasks


def test_compose_info_list_latest(site, composes, tmp_path):  # noqa: F811
    fake, hub, k = site
    use_registry(tmp_path, composes["registry"])
    fin, failed = composes["finished"], composes["failed"]
    r = k.run("bob", "module-compose-info", fin["id"])
    assert_clean(r, 0)
    lines = r.stdout.splitlines()
    assert f"Compose: {fin['id']}" in lines and "Module: apache:2.4" in lines
    assert "State: finished" in lines and f"Context: {fin['context']}" in lines
    assert f"Repo x86_64: {fin['outputs']['repos']['x86_64']}" in lines
    assert f"Packages x86_64: {len(fin['packages']['x86_64'])}" in lines
    r = k.run("bob", "module-compose-info", failed["id"])
    assert_clean(r, 0)
    assert "State: failed" in r.stdout and "Error: " in r.stdout
    r = k.run("bob", "module-compose-info", "nope-1-20261125.n.0")
    assert_clean(r, 1)
    assert "No such module compose: nope-1-20261125.n.0" in r.stderr

    r = k.run("bob", "list-module-composes", "apache:2.4")
    assert_clean(r, 0)
    ids = [ln.split()[0] for ln in r.stdout.splitlines()[2:]]
    assert ids == [failed["id"], fin["id"]]
    r = k.run("bob", "list-module-composes", "--state", "finished", "--quiet")
    assert_clean(r, 0)
    assert [ln.split()[:2] for ln in r.stdout.splitlines()] == [[fin["id"], "finished"]]
    r = k.run("bob", "list-module-composes", "--limit", "1", "--quiet", "apache")
    assert [ln.split()[0] for ln in r.stdout.splitlines()] == [failed["id"]]
    r = k.run("bob", "list-module-composes", "php", "--quiet")
    assert_clean(r, 0)
    assert r.stdout == ""
    r = k.run("bob", "list-module-composes", "apache:")
    assert_clean(r, 2)
    assert "expected NAME[:STREAM], not 'apache:'" in r.stderr

    r = k.run("bob", "latest-module-compose", "apache:2.4")
    assert_clean(r, 0)
    assert r.stdout.strip() == fin["id"]
    r = k.run("bob", "latest-module-compose", "apache:9")
    assert_clean(r, 1)
    assert "No finished compose of apache:9" in r.stderr
    r = k.run("bob", "latest-module-compose", "apache")
    assert_clean(r, 2)
    assert "expected NAME:STREAM, not 'apache'" in r.stderr
