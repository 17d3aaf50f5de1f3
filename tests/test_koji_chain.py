"""The three Koji plugins together, through one stand-in hub: the REAL
`koji` CLI (PyPI koji) with the CLI plugin submits to the XML-RPC hub
stand-in, which serves the REAL hub plugin's exports (loaded as kojihub
loads plugins, over the kojihub module stand-in); a kojid stand-in takes
the task the hub plugin made and runs the REAL builder plugin through
koji's own TaskManager.runTask against the same hub, whose moduleCompose
then calls the hub plugin's moduleComposeImport. An option, a source or a
result one plugin hands the next in a shape the next does not take fails
here (each plugin's own suite tests it against its own stand-in only).

Then the module build is read back as stock Pungi 4.3.6 reads module
builds from Koji (pungi/phases/pkgset/sources/source_koji.py,
`_get_modules_from_koji_tags` with `pkgset_koji_module_tag` and
`_add_module_to_variant`), call for call, over XML-RPC."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import types
from pathlib import Path

import koji
import koji.daemon
import pytest

import composekit as ck
import kojihub_module_standin as khs
from kojid_standin import CLOSED, FAILED
from test_koji_builder import (HOST, TAG, definition, handler_class, make_repo,  # noqa: F401
                               site)
from test_koji_cli import Koji
from test_koji_hub import load_hub_plugin, write_hub_config

import strata_builder

MODULAR_TAG = "f40-modular"


class Kojid:
    """Plays kojid on HOST: takes each FREE top-level task of METHODS
    (as the scheduler assigns it), opens it and runs the builder plugin's
    handler through TaskManager.runTask, as kojid's forked task process does."""

    def __init__(self, site, methods=("moduleCompose",)):
        self.site = site
        self.methods = methods
        self.done: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.error: BaseException | None = None

    def _loop(self):
        fake = self.site.hub.koji_hub
        try:
            while not self.stop.is_set():
                free = [t["id"] for t in list(fake.tasks.values())
                        if t["state"] == koji.TASK_STATES["FREE"] and t["parent"] is None
                        and t["method"] in self.methods]
                for task_id in free:
                    self.run(task_id)
                time.sleep(0.05)
        except BaseException as e:  # reported by the test, not lost in a thread
            self.error = e

    def run(self, task_id):
        fake = self.site.hub.koji_hub
        fake.open_task(task_id, HOST)
        params = list(khs.Task(task_id).getRequest())
        method = fake.tasks[task_id]["method"]
        cls = handler_class(strata_builder, method)
        strata_builder.CONFIG_FILE = str(self.site.conf)
        handler = cls(task_id, method, params, self.site.session, self.site.options)
        manager = types.SimpleNamespace(session=self.site.session,
                                        logger=logging.getLogger("test.kojid"))
        koji.daemon.TaskManager.runTask(manager, handler)
        self.done.append(task_id)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=600)


@pytest.fixture
def chain(site, tmp_path):
    """The builder site's hub, also serving the real hub plugin on the
    shared registry; users as an admin would set them up."""
    plugin, exports = load_hub_plugin()
    fake = site.hub.koji_hub
    fake.add_btype("module")
    fake.add_user("alice", perms=["module-build"], password="pw")
    fake.add_user("root", perms=["admin"], password="pw")
    plugin.CONFIG_FILE = str(write_hub_config(tmp_path / "strata_hub.conf", site.shared_registry,
                                              allowed="127.0.0.1*:/modules/*:no"))
    plugin.CONFIG = None
    site.hub.exports.update(exports)
    # The tag's build as Koji has it: all the RPMs the repo holds.
    build = fake.get_build("httpd-2.4.57-1.fc40", strict=True)
    for name, arch in (("httpd-tools", "x86_64"), ("mod_ssl", "x86_64"), ("httpd", "src")):
        fake.add_rpm(build["id"], arch, name=name)
    return site, Koji(tmp_path, site.server.url)


def _cli(k, *args):
    r = k.run("alice", "module-build", "--wait", "--noprogress", *args, timeout=600)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_module_build_wait_cli_hub_builder_import(chain, tmp_path):
    site, k = chain
    fake = site.hub.koji_hub
    rev = site.git.commit({"apache.yaml": definition()})
    src = site.git.url("apache.yaml", rev)
    with Kojid(site) as kojid:
        # every option the CLI offers, as the hub checks and passes them on
        ok = _cli(k, "--arch", "x86_64", "--compose-type", "test", "--priority", "1",
                  "--tag", TAG, "--wait-build", "httpd-2.4.57-1.fc40", src)
        # a failing gate: the task fails with the core's report
        rev2 = site.git.commit({"lua.yaml": definition(packages=("httpd", "mod_ssl"))})
        bad = _cli(k, site.git.url("lua.yaml", rev2))
        # a scratch compose from an uploaded file
        local = ck.write_definition(tmp_path / "mine" / "apache.yaml", definition())
        scratch = _cli(k, "--scratch", local)
    assert kojid.error is None, kojid.error
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "completed successfully" in ok.stdout, ok.stdout
    first, second, third = sorted(kojid.done)
    task = site.hub.task(first)
    assert task["state"] == CLOSED, task["result"]
    assert task["params"][1] == {"arches": ["x86_64"], "compose_type": "test", "priority": 1,
                                 "tag": TAG, "wait_builds": ["httpd-2.4.57-1.fc40"]}
    res = task["result"]
    # the import ran in the hub plugin: a module build with modulemd archives
    build = fake.get_build(res["build_id"])
    info = build["extra"]["typeinfo"]["module"]
    assert info["strata_compose_id"] == res["compose_id"] and build["task_id"] == first
    assert {a["filename"] for a in fake.list_archives(buildID=build["id"])} == {
        "modulemd.txt", "modulemd.x86_64.txt"}
    tagged = {b["nvr"] for b in fake.readTaggedBuilds(info["content_koji_tag"])}
    assert tagged == {"httpd-2.4.57-1.fc40"}
    # the gate failure
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAILED" in bad.stdout and "hint: `httpd-tools" in bad.stdout, bad.stdout
    assert site.hub.task(second)["state"] == FAILED
    # the scratch compose: never imported
    assert scratch.returncode == 0, scratch.stdout + scratch.stderr
    sres = site.hub.task(third)["result"]
    assert "build_id" not in sres and sres["state"] == "finished"
    assert sres["compose_id"].startswith("apache-2.4-%d.scratch-" % third), sres
    assert len([b for b in fake.builds.values() if b["name"] == "apache"]) == 1


def test_module_build_is_read_as_stock_pungi_reads_it(chain):
    site, k = chain
    fake = site.hub.koji_hub
    rev = site.git.commit({"apache.yaml": definition()})
    with Kojid(site) as kojid:
        r = _cli(k, site.git.url("apache.yaml", rev))
    assert kojid.error is None, kojid.error
    assert r.returncode == 0, r.stdout + r.stderr
    build_id = site.hub.task(kojid.done[0])["result"]["build_id"]
    # the release engineer tags the module build where Pungi looks
    # (pkgset_koji_module_tag), as `koji tag-build` does
    fake.add_tag(MODULAR_TAG)
    fake._direct_pkglist_add(MODULAR_TAG, "apache", "root", False, None, False, False)
    fake._direct_tag_build(fake.get_tag(MODULAR_TAG), fake.get_build(build_id),
                           fake.get_user("root"))

    # Pungi 4.3.6, _get_modules_from_koji_tags and _add_module_to_variant
    proxy = koji.ClientSession(site.server.url)
    event = proxy.getLastEvent()
    module_builds = proxy.listTagged(MODULAR_TAG, event=event["id"], inherit=True, type="module")
    assert [b["build_id"] for b in module_builds] == [build_id]
    inheritance = [t["name"] for t in proxy.getFullInheritance(MODULAR_TAG, event=event["id"])]
    assert all(b["tag_name"] in [MODULAR_TAG] + inheritance for b in module_builds)
    ver, ctx = module_builds[0]["release"].split(".", 1)  # Pungi's sort key
    assert int(ver) > 0 and ctx
    build = proxy.getBuild(module_builds[0]["build_id"])
    mmds = {}
    for archive in proxy.listArchives(build["id"]):
        if archive["btype"] != "module":
            continue
        typedir = koji.pathinfo.typedir(build, archive["btype"])
        filename = archive["filename"]
        path = os.path.join(typedir, filename)
        try:
            _, arch, _ = filename.split(".")
            filename = "modulemd.%s.txt" % arch  # getBaseArch(x86_64) is x86_64
        except ValueError:
            pass
        mmds[filename] = path
    assert len(mmds) > 1, "Pungi skips module builds with one modulemd file: %s" % mmds
    info = build["extra"]["typeinfo"]["module"]
    nsvc = "%(name)s:%(stream)s:%(version)s:%(context)s" % info
    assert nsvc == "apache:2.4:%s:%s" % (ver, ctx)
    # read_single_module_stream_from_file: one stream of that NSVC per arch file
    text = Path(mmds["modulemd.x86_64.txt"]).read_bytes()
    read = ck.load_with_libmodulemd(text)
    streams = read["apache"]["streams"]
    assert [(s["name"], s["stream"], str(s["version"]), s["context"], s["arch"])
            for s in streams] == [("apache", "2.4", ver, ctx, "x86_64")]
    assert streams[0]["artifacts"] == ["httpd-0:2.4.57-1.fc40.x86_64",
                                       "httpd-tools-0:2.4.57-1.fc40.x86_64",
                                       "mod_ssl-0:2.4.57-1.fc40.x86_64"]
    # the RPMs come from the content tag (variant_tags, then a package set per tag)
    content = build["extra"]["typeinfo"]["module"]["content_koji_tag"]
    assert content == "module-apache-2.4-%s-%s" % (ver, ctx)
    assert proxy.getTag(content)["name"] == content
    assert [b["nvr"] for b in proxy.listTagged(content, event=proxy.getLastEvent()["id"],
                                               inherit=False)] == ["httpd-2.4.57-1.fc40"]
    # the same stream document in the build's extra data, as MBS put it
    assert json.dumps(ck.load_with_libmodulemd(info["modulemd_str"].encode())["apache"]["streams"]
                      [0]["artifacts"]) == json.dumps(streams[0]["artifacts"])
