"""Chains in Koji (issue 13), through one stand-in hub as test_koji_chain.py
does: a build tagged into a watched tag runs the REAL hub plugin's postTag
callback, which makes one moduleChain task; a kojid stand-in runs the REAL
builder plugin's moduleChain (koji's TaskManager.runTask), which waits for
the tag's repo to have the build, computes the impact with the core and
runs the chain with strata.run_chain, each step a moduleCompose subtask
(host.subtask) that another kojid task process composes with
strata.compose_chain_step and imports as a module build. The REAL `koji`
CLI with the CLI plugin asks module-impact (by NVR and by --tag, which
asks the hub for the tag's latest builds) and module-chain-info.

The catalog: apache:2.4 from the Koji tag f40-build, and php:8.2 above it
(its own repository); rebuilding httpd recomposes apache, then php."""

from __future__ import annotations

import json
import logging
import threading
import time
import types
from pathlib import Path

import koji
import koji.daemon
import pytest

import composekit as ck
import kojihub_module_standin as khs
import rpmfactory
import strata
from kojid_standin import CLOSED, FAILED
from test_compose_koji import BUILDS, make_repo
from test_koji_builder import HOST, TAG, definition, handler_class, site  # noqa: F401
from test_koji_chain import chain  # noqa: F401 (fixture)
from test_koji_hub import load_hub_plugin

import strata_builder

NEW = "httpd-2.4.58-1.fc40"


class Kojid:
    """Plays kojid on HOST with one process per task, as kojid forks one:
    every FREE task of METHODS, top-level or subtask, runs on a thread of
    its own with a session of its own, so a parent can wait for its
    subtasks. As kojid's TaskManager.updateTasks, it asks the hub for the
    host's open tasks (host.getHostTasks) and wakes each task the hub
    alerts (a waiting task with an awaited subtask ended): kojid sends
    SIGUSR2 to the task's process, which every thread but the moduleChain
    waiter's blocks; here, a process being a thread, the waiter gets it
    (SubtaskWaiter.wake). Nothing else wakes a waiting task."""

    def __init__(self, site, methods=("moduleChain", "moduleCompose")):
        self.site, self.methods = site, methods
        self.done: list[int] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.threads: list[threading.Thread] = []
        self.handlers: dict[int, object] = {}
        self.woken: list[int] = []

    def _loop(self):
        try:
            self._poll()
        except BaseException as e:  # a dead kojid fails the test, not a 600 s wait
            self.errors.append(e)

    def _poll(self):
        fake = self.site.hub.koji_hub
        session = koji.ClientSession(self.site.server.url,
                                     {"user": HOST, "password": "host-password"})
        assert session.login()
        while not self.stop.is_set():
            with self.lock:
                free = [t["id"] for t in list(fake.tasks.values())
                        if t["state"] == koji.TASK_STATES["FREE"] and t["method"] in self.methods]
                for task_id in free:
                    fake.open_task(task_id, HOST)
                    th = threading.Thread(target=self.run, args=(task_id,), daemon=True)
                    self.threads.append(th)
                    th.start()
            for task in session.host.getHostTasks():
                waiter = getattr(self.handlers.get(task["id"]), "waiter", None)
                if task.get("alert") and waiter is not None and waiter.thread.is_alive():
                    self.woken.append(task["id"])
                    waiter.wake()
            time.sleep(0.05)

    def run(self, task_id):
        try:
            session = koji.ClientSession(self.site.server.url,
                                         {"user": HOST, "password": "host-password"})
            assert session.login()
            method = self.site.hub.koji_hub.tasks[task_id]["method"]
            params = list(khs.Task(task_id).getRequest())
            cls = handler_class(strata_builder, method)
            strata_builder.CONFIG_FILE = str(self.site.conf)
            handler = cls(task_id, method, params, session, self.site.options)
            self.handlers[task_id] = handler
            manager = types.SimpleNamespace(session=session, logger=logging.getLogger("test.kojid"))
            koji.daemon.TaskManager.runTask(manager, handler)
            self.done.append(task_id)
        except BaseException as e:  # reported by the test, not lost in a thread
            self.errors.append(e)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=60)
        for th in self.threads:
            th.join(timeout=600)

    def wait_for(self, count, timeout=600):
        end = time.monotonic() + timeout
        while len(self.done) < count and not self.errors and time.monotonic() < end:
            time.sleep(0.1)

    def wait_for_task(self, task_id, timeout=600):
        """Until task TASK_ID (and so its subtasks) has run."""
        end = time.monotonic() + timeout
        while task_id not in self.done and not self.errors and time.monotonic() < end:
            time.sleep(0.1)


@pytest.fixture
def world(chain, tmp_path):  # noqa: F811
    """The chain site with a catalog (apache from the Koji tag, php above
    it) in a strata.toml the hub and the builder share, f40-build watched,
    and both modules composed once (last good)."""
    site, k = chain
    plugin, _ = load_hub_plugin()
    mods = tmp_path / "catalog"
    ck.write_definition(mods / "apache.yaml", definition())
    php_src = rpmfactory.make_repo(tmp_path / "php-src", [{"name": "php", "version": "8.2.13"}])
    ck.write_definition(mods / "php.yaml", ck.definition(
        "php", "8.2", packages=["php"], repos=[php_src], requires={"apache": "2.4"},
        profiles={"default": ["php"]}))
    config = site.strata.config
    (tmp_path / "policy.yaml").write_text(
        "document: strata-policy\nversion: 1\ndata:\n  parallel: 2\n  rules:\n"
        "    - match: '*:*'\n")
    with open(config, "a") as f:
        f.write('[chain]\ncatalog = ["%s/*.yaml"]\npolicy = "%s"\n'
                % (mods, tmp_path / "policy.yaml"))
    conf = Path(plugin.CONFIG_FILE)
    conf.write_text(conf.read_text() + "config = %s\nwatch_tags = %s\n" % (config, TAG))
    plugin.CONFIG = None
    first = {}
    for name in ("apache", "php"):
        res = strata.compose_module(mods / ("%s.yaml" % name), site.shared_out, config=config,
                                    registry=site.shared_registry)
        assert res["ok"], res
        first[name] = res["record"]["id"]
    yield site, k, first
    # later suites' taggings must not see a watched tag
    conf.write_text(conf.read_text().replace("watch_tags = %s\n" % TAG, ""))
    plugin.CONFIG = None


def _tag_httpd(site, version="2.4.58"):
    """httpd VERSION built and tagged into f40-build by alice (postTag runs)."""
    fake = site.hub.koji_hub
    bid = fake.new_build({"name": "httpd", "version": version, "release": "1.fc40",
                          "epoch": None, "owner": fake.user("alice")["id"]})
    fake.build_types[bid].add("rpm")
    for name in ("httpd", "httpd-tools", "mod_ssl"):
        fake.add_rpm(bid, "x86_64", name=name)
    fake._direct_tag_build(fake.get_tag(TAG), fake.get_build(bid), fake.get_user("alice"))


def _new_repo(site, version="2.4.58"):
    """The tag's repo regenerated with httpd VERSION, as kojira would; its
    RPMs built first when the topdir has none of that version."""
    dest = site.top / "packages" / "httpd" / version / "1.fc40" / "x86_64"
    if not dest.is_dir():
        (_, _, _, pkgs), = [b for b in BUILDS if b[1] == "2.4.58"]
        rpmfactory.build_rpms([dict(p, version=version, release="1.fc40") for p in pkgs], dest,
                              srpm=("httpd", version, "1.fc40"))
    repo = site.hub.new_repo(TAG)
    make_repo(site.top, TAG, repo["id"], [("httpd", version, "1.fc40")])


def _repo_done(site, tag=TAG, version="2.4.58", task_id=None, expire=False):
    """A new repo of TAG made as kojid's newRepo makes one: INIT, written,
    then host.repoDone from the builder host (the postRepoDone callback)."""
    if tag == TAG:
        dest = site.top / "packages" / "httpd" / version / "1.fc40" / "x86_64"
        if not dest.is_dir():
            (_, _, _, pkgs), = [b for b in BUILDS if b[1] == "2.4.58"]
            rpmfactory.build_rpms([dict(p, version=version, release="1.fc40") for p in pkgs],
                                  dest, srpm=("httpd", version, "1.fc40"))
    repo = site.hub.new_repo(tag, state=koji.REPO_INIT, task_id=task_id)
    if tag == TAG:
        make_repo(site.top, TAG, repo["id"], [("httpd", version, "1.fc40")])
    site.session.host.repoDone(repo["id"], {"x86_64": ["tasks/repo-upload", []]}, expire)
    return repo


def _one_chain(site, parent, methods=("moduleChain", "moduleCompose")):
    """Runs the moduleChain task PARENT (and its subtasks) on kojid; the
    one chain it ran, as its result lists it."""
    with Kojid(site, methods=methods) as kojid:
        kojid.wait_for_task(parent)
    assert not kojid.errors, kojid.errors
    task = site.hub.task(parent)
    assert task["state"] == CLOSED, task["result"]
    (res,) = task["result"]["chains"]
    return res


def _rebuild_httpd(site):
    _tag_httpd(site)
    _new_repo(site)


def test_module_impact_by_nvr_and_by_tag(world):
    site, k, first = world
    fake = site.hub.koji_hub
    _rebuild_httpd(site)
    # the callback's task is not run here
    assert [t["method"] for t in fake.tasks.values()] == ["moduleChain"]
    by_nvr = k.run("alice", "module-impact", NEW)
    assert by_nvr.returncode == 0, by_nvr.stdout + by_nvr.stderr
    assert "apache:2.4" in by_nvr.stdout and "php:8.2" in by_nvr.stdout, by_nvr.stdout
    assert "2.4.57" in by_nvr.stdout and "2.4.58" in by_nvr.stdout, by_nvr.stdout
    by_tag = k.run("alice", "module-impact", "--tag", TAG, "--json")
    assert by_tag.returncode == 0, by_tag.stdout + by_tag.stderr
    plan = json.loads(by_tag.stdout)
    assert [(s["name"], s["stream"]) for s in plan["plan"]["steps"]] == [
        ("apache", "2.4"), ("php", "8.2")]
    # the hub asked: listTagged(f40-build, latest=True)
    assert any(c[0] == "listTagged" and c[2].get("latest") for c in site.hub.calls)
    unknown = k.run("alice", "module-impact", "nope-1-1")
    assert unknown.returncode == 1 and "moduleImpact: no such build: nope-1-1" in unknown.stderr
    bad_tag = k.run("alice", "module-impact", "--tag", "f99-build")
    assert bad_tag.returncode == 1 and "No such tagInfo: 'f99-build'" in bad_tag.stderr


def test_module_impact_right_after_a_tagging_says_the_repo_lacks_the_build(world):
    """Tagged, the tag's repo not regenerated yet: module-impact does not
    call the modules up to date, it says the build is not in their
    repository yet; once the repo has it, the stack is in the plan."""
    site, k, first = world
    _tag_httpd(site)
    early = k.run("alice", "module-impact", NEW)
    assert early.returncode == 0, early.stdout + early.stderr
    for module in ("apache:2.4", "php:8.2"):
        assert "  %s: build %s not in the repository yet\n" % (module, NEW) in early.stdout, (
            early.stdout)
    assert "up to date" not in early.stdout, early.stdout
    _new_repo(site)
    later = k.run("alice", "module-impact", NEW, "--json")
    assert later.returncode == 0, later.stdout + later.stderr
    plan = json.loads(later.stdout)["plan"]
    assert [(s["name"], s["stream"]) for s in plan["steps"]] == [("apache", "2.4"), ("php", "8.2")]


def test_a_repo_done_on_a_watched_tag_queues_an_event_and_a_consumer(world):
    """Koji's postRepoDone (host.repoDone, as kojid's newRepo ends) on a
    watched tag queues a repository event and makes sure a moduleChain
    task takes the queue: a build tagged before its repo, which the core
    holds back (no repository has it), runs once the repo lands, with the
    repo as a cause. An unwatched tag's repo, or an expired one, queues
    nothing; with no consumer waiting, the new one is owned by the owner
    of the task that made the repo."""
    site, k, first = world
    fake = site.hub.koji_hub
    _tag_httpd(site)
    (consumer,) = fake.tasks
    # Taken now, the build is held back: the tag's repo does not have it.
    chain, until, lines = strata.take_pending_chain(config=site.strata.config,
                                                    registry=site.shared_registry)
    assert (chain, until) == (None, None)
    assert ["(build %s) waits: the build is in no repository" % NEW in line
            for line in lines] == [True], lines
    fake.add_tag("f40-other")
    _repo_done(site, tag="f40-other")
    _repo_done(site, expire=True)
    assert [q["event"] for q in strata.pending_events(registry=site.shared_registry)] == [
        {"event": "build", "nvr": NEW}]
    repo = _repo_done(site)
    location = koji.pathinfo.repo(repo["id"], TAG)
    assert [q["event"] for q in strata.pending_events(registry=site.shared_registry)] == [
        {"event": "build", "nvr": NEW}, {"event": "repo", "location": location}]
    # the waiting consumer takes the repo event too: no second task
    assert list(fake.tasks) == [consumer]
    res = _one_chain(site, consumer)
    assert res["state"] == "finished", res
    assert [(s["name"], s["state"]) for s in res["steps"]] == [("apache", "finished"),
                                                               ("php", "finished")]
    shown = json.loads(site.strata.run("chain", "show", res["chain_id"], "--json", "--registry",
                                       site.shared_registry, check_rc=0).stdout)
    assert shown["events"] == [{"event": "build", "nvr": NEW},
                               {"event": "repo", "location": location}]
    assert not strata.pending_events(registry=site.shared_registry)
    # no consumer waiting: a new one, owned by the owner of the newRepo task
    kojira = fake.add_user("kojira", perms=["repo"])
    newrepo = fake.make_task("newRepo", [TAG], owner=kojira["id"])
    _repo_done(site, task_id=newrepo)
    (again,) = [t for t in fake.tasks.values()
                if t["method"] == "moduleChain" and t["state"] == koji.TASK_STATES["FREE"]]
    assert again["owner"] == kojira["id"]
    assert list(khs.Task(again["id"]).getRequest()) == [{}, {"pending": True, "tags": [TAG]}]


def test_the_consumer_never_holds_a_builder_slot_waiting_for_a_repo(world):
    """A tagged build whose repo is not there yet: the consumer logs it as
    held back, leaves it queued and ends, with no waitrepo subtask (under
    the real kojid, two consumers each waiting in one filled maxjobs, so
    newRepo's createrepo never ran)."""
    site, k, first = world
    fake = site.hub.koji_hub
    _tag_httpd(site)
    (consumer,) = fake.tasks
    with Kojid(site) as kojid:
        kojid.wait_for_task(consumer)
    assert not kojid.errors, kojid.errors
    task = site.hub.task(consumer)
    assert task["state"] == CLOSED, task
    assert task["result"] == {"chains": []}, task["result"]
    assert [t["method"] for t in fake.tasks.values()] == ["moduleChain"]
    log = (Path(site.uploaded(consumer)) / "chain.log").read_text()
    assert "(build %s) waits: the build is in no repository" % NEW in log, log
    assert "no chain to run now: 1 queued event(s) stay queued" in log, log
    assert [q["event"] for q in strata.pending_events(registry=site.shared_registry)] == [
        {"event": "build", "nvr": NEW}]
    # (the repo's postRepoDone then makes the consumer that takes it:
    # test_a_repo_done_on_a_watched_tag_queues_an_event_and_a_consumer)


def test_a_tagged_build_recomposes_the_stack_as_subtasks(world):
    site, k, first = world
    fake = site.hub.koji_hub
    # a build tagged somewhere unwatched starts nothing
    fake.add_tag("f40-other")
    fake.pkglists["f40-other"] = {"httpd": None}
    fake._direct_tag_build(fake.get_tag("f40-other"), fake.get_build("httpd-2.4.57-1.fc40"),
                           fake.get_user("alice"))
    assert not fake.tasks
    _rebuild_httpd(site)
    # the tagging is queued; one moduleChain task takes the queue
    assert [q["event"] for q in strata.pending_events(registry=site.shared_registry)] == [
        {"event": "build", "nvr": NEW}]
    (parent,) = fake.tasks
    assert fake.tasks[parent]["owner"] == fake.user("alice")["id"]
    assert list(khs.Task(parent).getRequest()) == [{}, {"pending": True, "tags": [TAG]}]
    with Kojid(site) as kojid:
        kojid.wait_for(3)
    assert not kojid.errors, kojid.errors
    task = site.hub.task(parent)
    assert task["state"] == CLOSED, task["result"]
    (res,) = task["result"]["chains"]
    assert not strata.pending_events(registry=site.shared_registry)
    assert res["state"] == "finished" and res["chain_id"].startswith("chain-"), res
    assert [(s["name"], s["state"]) for s in res["steps"]] == [("apache", "finished"),
                                                               ("php", "finished")]
    # each step a moduleCompose subtask of the chain, bottom-up, imported
    children = sorted(khs.Task(parent).getChildren(request=True), key=lambda t: t["id"])
    assert [(c["method"], c["request"][1]["chain"]["name"]) for c in children] == [
        ("moduleCompose", "apache"), ("moduleCompose", "php")]
    # the chain waited for its subtasks as kojid's tasks wait: awaited on
    # the hub (taskSetWait/taskWait/taskWaitResults) and woken by kojid,
    # never polling the subtasks' state
    child_ids = [c["id"] for c in children]
    calls = site.hub.calls
    assert sorted({tuple(c[1][1]) for c in calls
                   if c[0] == "host.taskSetWait" and c[1][0] == parent}) == [
        (i,) for i in child_ids]
    assert any(c[0] == "host.taskWaitResults" and c[1][:2] == [parent, [i]]
               for c in calls for i in child_ids)
    assert not [c for c in calls if c[0] == "getTaskResult" and c[1][0] in child_ids]
    assert parent in kojid.woken
    for c, step in zip(children, res["steps"]):
        sub = site.hub.task(c["id"])
        assert sub["state"] == CLOSED and sub["result"]["compose_id"] == step["compose_id"]
        build = fake.get_build(sub["result"]["build_id"])
        assert build["extra"]["typeinfo"]["module"]["strata_compose_id"] == step["compose_id"]
    # the compose records the chain and its cause; the new httpd is in apache
    rec = strata.get_compose(res["steps"][0]["compose_id"], registry=site.shared_registry)
    assert "httpd-0:2.4.58-1.fc40.x86_64" in rec["packages"]["x86_64"]
    shown = json.loads(site.strata.run("chain", "show", res["chain_id"], "--json", "--registry",
                                       site.shared_registry, check_rc=0).stdout)
    for step in res["steps"]:
        assert shown["composes"][step["compose_id"]]["chain"] == {
            "chain_id": res["chain_id"], "event": "build " + NEW}
    # module-chain-info
    info = k.run("alice", "module-chain-info", res["chain_id"])
    assert info.returncode == 0, info.stdout + info.stderr
    assert "State: finished" in info.stdout
    # numbered from 1, as `strata chain show` numbers them
    assert "Step 1: apache:2.4 finished %s" % res["steps"][0]["compose_id"] in info.stdout
    assert "Step 2: php:8.2 finished" in info.stdout
    text = site.strata.run("chain", "show", res["chain_id"], "--registry", site.shared_registry,
                           check_rc=0).stdout
    assert "  1. apache:2.4 finished %s" % res["steps"][0]["compose_id"] in text, text
    assert "  2. php:8.2 finished" in text, text
    missing = k.run("alice", "module-chain-info", "chain-19990101.1")
    assert missing.returncode == 1 and "No such chain: chain-19990101.1" in missing.stderr


def test_approve_steps_wait_and_a_chain_by_hand(world, tmp_path):
    site, k, first = world
    fake = site.hub.koji_hub
    plugin, _ = load_hub_plugin()
    plugin._config()["watch_tags"] = []  # this chain is started by hand
    (tmp_path / "policy.yaml").write_text(
        "document: strata-policy\nversion: 1\ndata:\n  rules:\n"
        "    - match: 'php:*'\n      trigger: approve\n    - match: '*:*'\n")
    _rebuild_httpd(site)
    assert not fake.tasks
    with Kojid(site) as kojid:
        r = k.run("alice", "module-chain", "--wait", "--tag", TAG, "--compose-type", "test",
                  timeout=600)
    assert not kojid.errors, kojid.errors
    assert r.returncode == 0, r.stdout + r.stderr
    (parent,) = [t["id"] for t in fake.tasks.values() if t["method"] == "moduleChain"]
    assert list(khs.Task(parent).getRequest()) == [
        {"builds": [NEW], "tags": [TAG]}, {"compose_type": "test"}]
    res = site.hub.task(parent)["result"]
    assert res["state"] == "waiting", res
    assert [(s["name"], s["state"]) for s in res["steps"]] == [("apache", "finished"),
                                                               ("php", "waiting")]
    # php waits for approval: no subtask for it
    children = khs.Task(parent).getChildren(request=True)
    assert [c["request"][1]["chain"]["name"] for c in children] == ["apache"]
    assert ".t." in res["steps"][0]["compose_id"]
    info = k.run("alice", "module-chain-info", res["chain_id"])
    assert "State: waiting" in info.stdout, info.stdout
    assert "Step 2: php:8.2 waiting (waiting for approval (policy: approve))" in info.stdout
    # the task's log shows each step as module-chain-info does, with only what
    # it has: the finished step no reason, the waiting one no compose
    log = (Path(site.uploaded(parent)) / "chain.log").read_text()
    lines = [line.split(" ", 2)[2] for line in log.splitlines()]
    steps = [line for line in lines if line.startswith(("apache:2.4 ", "php:8.2 "))]
    assert steps == ["apache:2.4 finished %s" % res["steps"][0]["compose_id"],
                     "php:8.2 waiting (waiting for approval (policy: approve))"], log
    assert "None" not in log, log
    # approved and resumed through Koji: module-build permission, as module-chain
    fake.add_user("bob", password="pw")
    refused = k.run("bob", "module-chain-approve", res["chain_id"], "php:8.2")
    assert refused.returncode == 1 and "ActionNotAllowed" in refused.stderr, refused.stderr
    not_waiting = k.run("alice", "module-chain-approve", res["chain_id"], "apache:2.4")
    assert not_waiting.returncode == 1, not_waiting.stdout
    assert "moduleChainApprove: apache:2.4" in not_waiting.stderr, not_waiting.stderr
    unknown = k.run("alice", "module-chain-resume", "chain-19990101.1")
    assert unknown.returncode == 1
    assert "moduleChainResume: no such chain: chain-19990101.1" in unknown.stderr, unknown.stderr
    approved = k.run("alice", "module-chain-approve", res["chain_id"], "php:8.2")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert "Step 2: php:8.2 approved" in approved.stdout, approved.stdout
    assert "waiting for approval" not in approved.stdout, approved.stdout
    # approving composes nothing
    assert [t["method"] for t in fake.tasks.values()].count("moduleChain") == 1
    with Kojid(site) as kojid:
        r = k.run("bob", "module-chain-resume", res["chain_id"])
        assert r.returncode == 1 and "ActionNotAllowed" in r.stderr, r.stderr
        r = k.run("alice", "module-chain-resume", "--wait", res["chain_id"], timeout=600)
    assert not kojid.errors, kojid.errors
    assert r.returncode == 0, r.stdout + r.stderr
    (resumed,) = [t["id"] for t in fake.tasks.values()
                  if t["method"] == "moduleChain" and t["id"] != parent]
    assert list(khs.Task(resumed).getRequest()) == [{}, {"resume": res["chain_id"]}]
    done = site.hub.task(resumed)["result"]
    assert done["chain_id"] == res["chain_id"] and done["state"] == "finished", done
    assert [(s["name"], s["state"]) for s in done["steps"]] == [("apache", "finished"),
                                                                ("php", "finished")]
    # only php was composed by the resumed chain, as its subtask
    children = khs.Task(resumed).getChildren(request=True)
    assert [c["request"][1]["chain"]["name"] for c in children] == ["php"]
    assert done["steps"][0]["compose_id"] == res["steps"][0]["compose_id"]
    again = k.run("alice", "module-chain-resume", res["chain_id"])
    assert again.returncode == 1
    assert "chain %s is finished: nothing to resume" % res["chain_id"] in again.stderr


def test_a_burst_of_taggings_is_one_chain(world):
    """Three builds tagged in a burst, before any builder runs: three
    queued events, ONE moduleChain task (the later taggings find it not
    started), which, run once the tag's repo has the newest (a consumer
    that runs before holds that build back and ends; the repo's
    postRepoDone makes the next), takes them all and recomposes apache and
    php once."""
    site, k, first = world
    fake = site.hub.koji_hub
    nvrs = []
    for version in ("2.4.58", "2.4.59", "2.4.60"):
        _tag_httpd(site, version)
        nvrs.append("httpd-%s-1.fc40" % version)
    _new_repo(site, "2.4.60")
    queued = strata.pending_events(registry=site.shared_registry)
    assert [q["event"]["nvr"] for q in queued] == nvrs
    (parent,) = fake.tasks
    res = _one_chain(site, parent)
    assert res["state"] == "finished", res
    assert [(s["name"], s["state"]) for s in res["steps"]] == [("apache", "finished"),
                                                               ("php", "finished")]
    assert [t["method"] for t in fake.tasks.values()] == [
        "moduleChain", "moduleCompose", "moduleCompose"]
    assert not strata.pending_events(registry=site.shared_registry)
    shown = json.loads(site.strata.run("chain", "show", res["chain_id"], "--json", "--registry",
                                       site.shared_registry, check_rc=0).stdout)
    assert [e["nvr"] for e in shown["events"]] == nvrs, shown["events"]
    rec = strata.get_compose(res["steps"][0]["compose_id"], registry=site.shared_registry)
    assert "httpd-0:2.4.60-1.fc40.x86_64" in rec["packages"]["x86_64"]
    # a later tagging, once the consumer has closed, gets a consumer of its own
    _tag_httpd(site, "2.4.61")
    assert [t["id"] for t in fake.tasks.values()
            if t["method"] == "moduleChain" and t["state"] == koji.TASK_STATES["FREE"]] != []


def _add_iso(site, first):
    """php's install media in the catalog, beside the module definitions."""
    import test_artifacts as ta
    catalog = Path(strata.get_compose(first["php"], registry=site.shared_registry)
                   .to_dict()["definition_path"]).parent
    ck.write_definition(catalog / "php-iso.yaml", ta.artifact_doc(
        "php-iso", "iso", iso={"volume_id": "PHP"}))


ALL = ("moduleChain", "moduleCompose", "artifactCompose")


def test_a_chain_builds_its_artifact_in_an_artifactCompose_subtask(world):
    """An artifact of the plan is built by an artifactCompose subtask with
    the chain's options, after the stack it installs, and imported as an
    image build (CGImport) whose compose records the chain: the hub checks
    it is the chain's step, not an SCM URL's build."""
    site, k, first = world
    fake = site.hub.koji_hub
    fake.grant_cg_access(HOST, "strata")
    _add_iso(site, first)
    _rebuild_httpd(site)
    (parent,) = fake.tasks
    res = _one_chain(site, parent, ALL)
    assert res["state"] == "finished", res
    assert [(s["name"], s["state"]) for s in res["steps"]] == [
        ("apache", "finished"), ("php", "finished"), ("php-iso", "finished")], res
    children = sorted(khs.Task(parent).getChildren(request=True), key=lambda t: t["id"])
    assert [(c["method"], c["request"][1]["chain"]["name"]) for c in children] == [
        ("moduleCompose", "apache"), ("moduleCompose", "php"), ("artifactCompose", "php-iso")]
    iso_task = children[2]
    src, opts = iso_task["request"]
    assert src.endswith("php-iso.yaml") and opts["compose_type"] == "nightly"
    assert {k: opts["chain"][k] for k in ("chain_id", "position", "kind", "stream")} == {
        "chain_id": res["chain_id"], "position": 2, "kind": "artifact", "stream": "x86_64"}
    sub = site.hub.task(iso_task["id"])
    assert sub["state"] == CLOSED, sub["result"]
    compose_id = res["steps"][2]["compose_id"]
    assert sub["result"]["compose_id"] == compose_id and sub["result"]["kind"] == "iso"
    build = fake.get_build(sub["result"]["build_id"])
    assert build["name"] == "php-iso" and build["task_id"] == iso_task["id"]
    assert build["extra"]["typeinfo"]["image"]["strata_compose_id"] == compose_id
    assert fake.image_builds == {build["id"]}
    # the build's source is the catalog's definition, the record names the chain
    assert build["source"] == src
    shown = json.loads(site.strata.run("chain", "show", res["chain_id"], "--json", "--registry",
                                       site.shared_registry, check_rc=0).stdout)
    assert shown["composes"][compose_id]["chain"] == {"chain_id": res["chain_id"],
                                                      "event": "build " + NEW}
    info = k.run("alice", "module-chain-info", res["chain_id"])
    assert "Step 3: artifact php-iso:x86_64 finished %s" % compose_id in info.stdout, info.stdout
    # a task claiming another step of the chain cannot import the compose
    plugin, _ = load_hub_plugin()
    opts["chain"]["position"] = 1
    fake.tasks[iso_task["id"]].update(
        state=koji.TASK_STATES["OPEN"],
        request=koji.xmlrpcplus.dumps((src, opts), methodname="artifactCompose", allow_none=1))
    fake.as_host(HOST)
    with pytest.raises(koji.GenericError, match="compose %s is not step 2 of chain %s"
                       % (compose_id, res["chain_id"])):
        plugin.artifactComposeImport(iso_task["id"], compose_id, [])


def test_a_failed_artifact_step_fails_the_chain_with_the_subtask_fault(world):
    """Without content generator access the artifact cannot be imported:
    its subtask fails, the step fails with the subtask's fault, the
    module steps stand, and the chain ends failed; no image build."""
    site, k, first = world
    fake = site.hub.koji_hub
    _add_iso(site, first)
    _rebuild_httpd(site)
    (parent,) = fake.tasks
    with Kojid(site, methods=ALL) as kojid:
        kojid.wait_for_task(parent)
    assert not kojid.errors, kojid.errors
    # the consumer task fails as its chain did, as a Koji build fails with
    # its subtask; the chain's result stays readable beside its log
    task = site.hub.task(parent)
    assert task["state"] == FAILED, task
    (res,) = json.loads((Path(site.uploaded(parent)) / "chains.json").read_text())["chains"]
    assert res["state"] == "failed", res
    assert [(s["name"], s["state"]) for s in res["steps"]] == [
        ("apache", "finished"), ("php", "finished"), ("php-iso", "failed")], res
    fault = str(task["result"])
    assert "chain %s failed: php-iso:x86_64 (subtask" % res["chain_id"] in fault, fault
    assert "koji module-chain-info %s" % res["chain_id"] in fault, fault
    iso_task = max(c["id"] for c in khs.Task(parent).getChildren())
    assert site.hub.task(iso_task)["state"] == FAILED
    reason = res["steps"][2]["reason"]
    assert reason.startswith("subtask %d: " % iso_task), reason
    assert "No such entry in table content_generator: strata" in reason, reason
    assert not [b for b in fake.builds.values() if b["name"] == "php-iso"]
