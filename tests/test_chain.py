"""Chained recomposes end to end (issue 13), with real RPMs (rpmbuild),
createrepo_c source repositories and dnf: base-runtime:f40 <- apache:2.4 <-
php:8.2, and an unrelated tools:1. A rebuilt libfoo in base's source makes
`strata impact` list base, then apache and php, and `strata chain run`
recompose exactly those, each compose naming the chain and the cause, and
`dnf stack install php:8.2` gets the new libfoo. Then the failure story
(a failing middle step, the top on its last good compose with the excuse;
a failing test keeps a compose from being good), `approve`, and kill -9
then `resume`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import composekit as ck
import rpmfactory
import strata

PLATFORM = [
    {"name": "glibc", "version": "2.39", "release": "1.fc40", "arch": "x86_64",
     "provides": ["libc.so.6()(64bit)"]},
]
BASE_SRC = [
    {"name": "libfoo", "version": "1.0", "release": "1.fc40", "arch": "x86_64",
     "requires": ["libc.so.6()(64bit)"], "provides": ["libfoo.so.1()(64bit)"]},
    {"name": "libbar", "version": "2.0", "release": "1.fc40", "arch": "x86_64",
     "provides": ["libbar.so.2()(64bit)"]},
]
LIBFOO_2 = {"name": "libfoo", "version": "1.0", "release": "2.fc40", "arch": "x86_64",
            "requires": ["libc.so.6()(64bit)"], "provides": ["libfoo.so.1()(64bit)"]}
APACHE_SRC = [
    {"name": "httpd", "version": "2.4.58", "release": "1.fc40", "arch": "x86_64",
     "requires": ["libfoo.so.1()(64bit)", "httpd-tools"]},
    {"name": "httpd-tools", "version": "2.4.58", "release": "1.fc40", "arch": "x86_64"},
]
PHP_SRC = [
    {"name": "php", "version": "8.2.13", "release": "1.fc40", "arch": "x86_64",
     "requires": ["httpd", "php-common = 8.2.13-1.fc40"]},
    {"name": "php-common", "version": "8.2.13", "release": "1.fc40", "arch": "x86_64",
     "requires": ["libbar.so.2()(64bit)"]},
]
TOOLS_SRC = [
    {"name": "tool", "version": "1", "release": "1.fc40", "arch": "x86_64"},
]
STACK = ["base-runtime:f40", "apache:2.4", "php:8.2"]
# Install media of the php stack: the cheapest artifact (xorriso).
ISO = {"document": "strata-artifact", "version": 1, "data": {
    "name": "php-iso", "kind": "iso", "summary": "PHP install media", "arches": ["x86_64"],
    "contents": [{"module": "php:8.2"}], "iso": {"volume_id": "PHP-8.2"}}}


class World:
    """Sources of their own (a test rebuilds RPMs in them), four
    definitions, a site whose [chain] catalog lists them, and a policy."""

    def __init__(self, strata_bin: Path, root: Path):
        self.root = root
        src = root / "src"
        self.repos = {
            "platform": rpmfactory.make_repo(src / "platform", PLATFORM),
            "base": rpmfactory.make_repo(src / "base", BASE_SRC),
            "apache": rpmfactory.make_repo(src / "apache", APACHE_SRC),
            "php": rpmfactory.make_repo(src / "php", PHP_SRC),
            "tools": rpmfactory.make_repo(src / "tools", TOOLS_SRC),
        }
        self.site = ck.Site(strata_bin, root / "site", platforms={"f40": [self.repos["platform"]]})
        defs = root / "site" / "modules"
        self.defs = {
            "base": self.define(defs / "base.yaml", "base-runtime", "f40", ["libfoo", "libbar"],
                                "base", {"platform": "f40"}),
            "apache": self.define(defs / "apache.yaml", "apache", "2.4",
                                  ["httpd", "httpd-tools"], "apache",
                                  {"platform": "f40", "base-runtime": "f40"}),
            "php": self.define(defs / "php.yaml", "php", "8.2", ["php", "php-common"], "php",
                               {"platform": "f40", "apache": "2.4"}),
            "tools": self.define(defs / "tools.yaml", "tools", "1", ["tool"], "tools",
                                 {"platform": "f40"}),
        }
        text = self.site.config.read_text()
        # A merged whole-stack repository, for `dnf stack install`.
        text = text.replace("[compose]\n", '[compose]\nstack_repo = "merged"\n', 1)
        self.site.config.write_text(
            text + '[chain]\ncatalog = ["modules/*.yaml"]\npolicy = "policy.yaml"\n')
        self.policy("    - match: '*:*'\n")

    def define(self, path, name, stream, packages, source, requires):
        return ck.write_definition(path, ck.definition(
            name=name, stream=stream, packages=packages, repos=[self.repos[source]],
            requires=requires, profiles={"default": packages[:1]}))

    def policy(self, rules: str) -> None:
        (self.site.root / "policy.yaml").write_text(
            "document: strata-policy\nversion: 1\ndata:\n  parallel: 2\n  rules:\n" + rules)

    def strata(self, *args, rc=0):
        return self.site.run(*args, "--config", self.site.config, check_rc=rc)

    def compose_all(self) -> dict:
        return {k: self.site.compose_json(self.defs[k]) for k in ("base", "apache", "php", "tools")}

    def add_iso(self) -> Path:
        """The php install media, in the catalog's glob beside the modules."""
        return ck.write_definition(self.site.root / "modules" / "php-iso.yaml", ISO)

    def rebuild_libfoo(self) -> None:
        rpmfactory.build_rpms([LIBFOO_2], self.repos["base"])
        rpmfactory.createrepo(self.repos["base"])

    def chain_run(self, *args, rc=0):
        return self.strata("chain", "run", *args, "--cache-dir", self.site.cache, rc=rc)

    def show(self, chain_id: str) -> dict:
        return json.loads(self.strata("chain", "show", chain_id, "--json").stdout)

    def composes(self) -> list[dict]:
        return self.site.list()

    def wait_for_pause(self) -> None:
        """Until a compose is staged and paused before publishing
        (STRATA_TEST_PAUSE_BEFORE_PUBLISH)."""
        deadline = time.time() + 120
        while time.time() < deadline and not list(self.site.out.glob(".staging/.staging-*/tree/STATUS")):
            time.sleep(0.05)
        assert list(self.site.out.glob(".staging/.staging-*/tree/STATUS")), "never reached the pause point"

    def kill_paused(self, *args, env=None) -> str:
        """Runs `strata chain ARGS`, kill -9 once its first compose is
        staged and held before publishing; the chain ID it named."""
        hold = self.root / "hold"
        hold.write_text("")
        env = dict(os.environ, **(env or {}), STRATA_TEST_PAUSE_BEFORE_PUBLISH=str(hold))
        env.pop("STRATA_CONFIG", None)
        p = subprocess.Popen([str(self.site.bin), "chain", *args, "--config", str(self.site.config),
                              "--cache-dir", str(self.site.cache)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.wait_for_pause()
            time.sleep(0.3)
            p.send_signal(signal.SIGKILL)
            _, err = p.communicate()
        finally:
            p.kill()
            hold.unlink()
        return err.decode().split(":", 1)[0].strip()


@pytest.fixture
def world(strata_bin, tmp_path):
    return World(strata_bin, tmp_path)


def steps(chain: dict) -> list[tuple[str, str]]:
    return [(f'{s["name"]}:{s["stream"]}', s["state"]) for s in chain["steps"]]


def chain_id_of(run: subprocess.CompletedProcess) -> str:
    """The chain ID `strata chain run` names on stderr (after any notes on
    queued events)."""
    lines = [line for line in run.stderr.splitlines() if line.startswith("chain-")]
    return (lines[0] if lines else run.stderr).split(":", 1)[0].strip()


def test_a_rebuilt_base_rpm_recomposes_base_and_the_stacks_above_it(world, tmp_path):
    import dnfkit
    before = world.compose_all()
    # Nothing changed: nothing to do.
    r = world.chain_run("--build", "libfoo-1.0-1.fc40")
    assert r.stdout.startswith("Nothing to recompose"), r.stdout
    world.rebuild_libfoo()

    # The plan, from the CLI and from Python: base (which NEVRA replaces
    # which), then apache and php because their input compose changes;
    # tools is up to date.
    r = world.strata("impact", "--build", "libfoo-1.0-2.fc40", "--json",
                     "--cache-dir", world.site.cache)
    plan = json.loads(r.stdout)
    assert [f'{s["name"]}:{s["stream"]}' for s in plan["plan"]["steps"]] == STACK
    assert plan["plan"]["steps"][0]["why"] == [{"why": "selection", "changes": [{
        "arch": "x86_64", "old": "libfoo-0:1.0-1.fc40.x86_64",
        "new": "libfoo-0:1.0-2.fc40.x86_64"}]}]
    assert plan["plan"]["left_alone"] == {"tools:1": {"reason": "up-to-date"}}
    found = strata.impact(builds=["libfoo-1.0-2.fc40"], config=world.site.config,
                          cache_dir=world.site.cache)
    assert [f"{s.name}:{s.stream}" for s in found.steps] == STACK
    assert found.steps[2].after == [1]
    assert found.left_alone == {"tools:1": "up to date"}
    assert json.loads(found.to_json()) == plan
    text = world.strata("impact", "--build", "libfoo-1.0-2.fc40",
                        "--cache-dir", world.site.cache).stdout
    assert "selection: x86_64: libfoo-0:1.0-1.fc40.x86_64 → libfoo-0:1.0-2.fc40.x86_64" in text
    assert "tools:1: up to date" in text

    # The chain makes exactly those three composes, each naming the chain
    # and its cause.
    r = world.chain_run("--build", "libfoo-1.0-2.fc40")
    chain = world.show(chain_id_of(r))
    assert chain["state"] == "finished"
    assert steps(chain) == [(m, "finished") for m in STACK]
    new = {c["id"] for c in world.composes()} - {c["id"] for c in before.values()}
    assert new == {s["compose_id"] for s in chain["steps"]}
    for cid in new:
        info = chain["composes"][cid]
        assert info["chain"] == {"chain_id": chain["id"], "event": "build libfoo-1.0-2.fc40"}
    assert world.site.latest("tools:1")["id"] == before["tools"]["id"]

    # dnf gets the new libfoo through the new php stack.
    php = world.site.latest("php:8.2")
    stack_repo = Path(php["outputs"]["path"]) / "compose" / "PhpStack" / "x86_64" / "os"
    root, work = tmp_path / "root", tmp_path / "dnf"
    r = dnfkit.dnf({"stack": stack_repo, "platform": world.repos["platform"]}, root, work,
                   ["stack", "install", "php:8.2"])
    assert r.returncode == 0, r.stdout + r.stderr
    import dnforacle
    env = dnforacle._env()
    env["HOME"] = str(work / "home")
    q = subprocess.run(["rpm", "--root", str(root), "-q", "libfoo"], capture_output=True,
                       text=True, env=env)
    assert q.stdout.strip() == "libfoo-1.0-2.fc40.x86_64", q.stdout + q.stderr

    # Again: everything is up to date, nothing is recomposed.
    count = len(world.composes())
    r = world.chain_run("--build", "libfoo-1.0-2.fc40")
    assert r.stdout.startswith("Nothing to recompose"), r.stdout
    assert len(world.composes()) == count


def test_a_failing_middle_step_leaves_the_top_on_last_good_with_the_excuse(world):
    before = world.compose_all()
    # apache's test fails: its new compose is recorded but not good.
    world.policy("    - match: 'apache:*'\n      tests:\n"
                 "        - {name: smoke, run: [sh, -c, 'echo no httpd here; exit 1']}\n"
                 "    - match: '*:*'\n")
    world.rebuild_libfoo()
    r = world.chain_run("--build", "libfoo-1.0-2.fc40", rc=1)
    chain = world.show(chain_id_of(r))
    assert chain["state"] == "failed"
    assert steps(chain) == [("base-runtime:f40", "finished"), ("apache:2.4", "failed"),
                            ("php:8.2", "finished")]
    apache = chain["steps"][1]
    assert apache["reason"] == "test smoke failed: no httpd here"
    tests = chain["composes"][apache["compose_id"]]["tests"]
    assert [(t["name"], t["state"]) for t in tests] == [("smoke", "failed")]
    # `composes show` says which chain made it, why, and how its test went.
    shown = world.strata("composes", "show", apache["compose_id"]).stdout
    assert f"Chain: {chain['id']} (caused by build libfoo-1.0-2.fc40)\n" in shown, shown
    assert "Test: smoke failed\n" in shown, shown
    assert world.site.latest("apache:2.4")["id"] == before["apache"]["id"]
    # php was composed on apache's last good compose (and the new base),
    # and its reason says so.
    php = chain["steps"][2]
    assert php["reason"] == (
        f"composed on {before['apache']['id']}, the last good compose of apache:2.4 (its "
        "recompose in this chain failed; policy: use-last-good)")
    rec = world.site.show(php["compose_id"])
    used = {i["name"]: i["ident"] for i in rec["inputs"] if i["kind"] in ("compose", "stack_compose")}
    assert used["apache:2.4"] == before["apache"]["id"]
    assert used["base-runtime:f40"] == chain["steps"][0]["compose_id"]


def test_a_test_that_leaves_a_process_running_neither_holds_the_chain_nor_outlives_it(world):
    """A policy test that starts a server and forgets it: the server holds
    the test's output open. The test ends, its group is killed, and the
    chain goes on (it waited for the server before)."""
    world.compose_all()
    pidfile = world.site.root / "server.pid"
    world.policy("    - match: 'apache:*'\n      tests:\n"
                 "        - {name: smoke, run: [sh, -c, 'sleep 3000 & echo $! > %s; "
                 "echo serving']}\n"
                 "    - match: '*:*'\n" % pidfile)
    world.rebuild_libfoo()
    r = world.site.run("chain", "run", "--build", "libfoo-1.0-2.fc40", "--cache-dir",
                       world.site.cache, "--config", world.site.config, timeout=300,
                       check_rc=0)
    chain = world.show(chain_id_of(r))
    assert chain["state"] == "finished", chain
    apache = chain["steps"][1]
    tests = chain["composes"][apache["compose_id"]]["tests"]
    assert [(t["name"], t["state"]) for t in tests] == [("smoke", "passed")]
    pid = int(pidfile.read_text())
    deadline = time.time() + 30  # SIGKILL is delivered asynchronously
    while _running(pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not _running(pid), "the server outlived it"


def _running(pid: int) -> bool:
    """Whether process PID runs (gone, or a zombie left to init, does not)."""
    try:
        return ") Z " not in Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return False


def test_stop_dependents_skips_the_stack_above_a_failure(world):
    world.compose_all()
    world.policy("    - match: 'apache:*'\n      on_failure: stop-dependents\n      tests:\n"
                 "        - {name: smoke, run: ['false']}\n"
                 "    - match: '*:*'\n")
    world.rebuild_libfoo()
    r = world.chain_run("--build", "libfoo-1.0-2.fc40", rc=1)
    chain = world.show(chain_id_of(r))
    assert steps(chain) == [("base-runtime:f40", "finished"), ("apache:2.4", "failed"),
                            ("php:8.2", "skipped")]
    assert chain["steps"][2]["reason"] == (
        "not composed: apache:2.4 below it failed (policy: stop-dependents)")


def test_approve_waits_and_resume_composes(world):
    world.compose_all()
    world.policy("    - match: 'php:*'\n      trigger: approve\n    - match: '*:*'\n")
    world.rebuild_libfoo()
    r = world.chain_run("--build", "libfoo-1.0-2.fc40")
    cid = chain_id_of(r)
    assert f"php:8.2 waits for approval: strata chain approve {cid} php:8.2" in r.stderr
    chain = world.show(cid)
    assert chain["state"] == "waiting"
    assert steps(chain) == [("base-runtime:f40", "finished"), ("apache:2.4", "finished"),
                            ("php:8.2", "waiting")]
    listed = world.strata("chain", "list").stdout
    assert cid in listed and "waiting" in listed
    world.strata("chain", "approve", cid, "php:8.2", "--by", "alice")
    world.strata("chain", "resume", cid, "--cache-dir", world.site.cache)
    chain = world.show(cid)
    assert chain["state"] == "finished"
    assert chain["steps"][2]["approved_by"] == "alice"
    assert chain["steps"][2]["state"] == "finished"
    # Approving what already ran is refused, naming its state.
    r = world.strata("chain", "approve", cid, "php:8.2", rc=2)
    assert "cannot be approved: it is finished" in r.stderr


def test_a_chain_killed_mid_compose_resumes_without_duplicating_a_compose(world):
    world.compose_all()
    world.rebuild_libfoo()
    # base's compose staged, not published: kill -9.
    cid = world.kill_paused("run", "--build", "libfoo-1.0-2.fc40")
    chain = world.show(cid)
    assert chain["state"] == "running"
    assert chain["steps"][0]["state"] == "running"
    # Resume: the killed compose is marked failed, each module is composed
    # once.
    world.strata("chain", "resume", cid, "--cache-dir", world.site.cache)
    chain = world.show(cid)
    assert chain["state"] == "finished", chain
    assert steps(chain) == [(m, "finished") for m in STACK]
    for module in STACK:
        recs = world.site.list(module)
        by_chain = [r for r in recs if r["state"] == "finished" and r["id"] in
                    {s["compose_id"] for s in chain["steps"]}]
        assert len(by_chain) == 1, (module, recs)
    states = sorted(r["state"] for r in world.site.list("base-runtime:f40"))
    assert states == ["failed", "finished", "finished"], states
    # Resuming a finished chain is refused.
    r = world.strata("chain", "resume", cid, rc=2)
    assert "is finished already: nothing to resume" in r.stderr


def test_bad_catalogs_and_events_are_refused_naming_what(world):
    world.compose_all()
    r = world.strata("impact", "--compose", "php-8.2-20990101.n.0", rc=2)
    assert "no compose `php-8.2-20990101.n.0` in the registry" in r.stderr
    # A cycle in module requirements: nothing is started.
    world.define(world.site.root / "modules" / "base.yaml", "base-runtime", "f40",
                 ["libfoo", "libbar"], "base", {"platform": "f40", "php": "8.2"})
    r = world.strata("impact", "--build", "libfoo-1.0-2.fc40", rc=2)
    assert "form a cycle: " in r.stderr, r.stderr
    r = world.chain_run("--build", "libfoo-1.0-2.fc40", rc=2)
    assert "form a cycle" in r.stderr
    assert world.strata("chain", "list").stdout.count("\n") == 1  # the header only
    # A catalog entry that does not parse names the file and the entry.
    text = world.site.config.read_text().replace(
        'catalog = ["modules/*.yaml"]', 'catalog = ["modules/*.yaml", "git+https://h/r.git?x"]')
    world.site.config.write_text(text)
    r = world.strata("impact", "--build", "x-1-1", rc=2)
    assert f"{world.site.config}: [chain] catalog entry 2 `git+https://h/r.git?x`" in r.stderr


def test_a_burst_of_builds_is_one_chain_after_the_debounce_window(world):
    """Three builds within the policy's debounce window make one chain, and
    only once the window has passed since the newest; a build after it
    makes a second chain. The queue's clock is moved with STRATA_TEST_NOW
    (the real time otherwise, whatever SOURCE_DATE_EPOCH says)."""
    world.compose_all()
    world.policy("    - match: '*:*'\n      debounce: 10m\n")
    world.rebuild_libfoo()
    t0 = int(time.time())

    def at(t, *args, rc=0):
        return world.site.run(*args, "--config", world.site.config,
                              env={"STRATA_TEST_NOW": str(t)}, check_rc=rc)

    # Nothing queued: nothing runs.
    r = at(t0, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    assert r.stdout == "No events are queued.\n", r.stdout
    queued = [at(t0, "chain", "submit", "--build", "libfoo-1.0-2.fc40").stdout,
              at(t0 + 60, "chain", "submit", "--build", "libbar-2.0-1.fc40").stdout]
    seqs = strata.submit_event(builds=["libfoo-1.0-2.fc40"], config=world.site.config)
    assert queued[0].startswith("queued event 1: ") and queued[1].startswith("queued event 2: ")
    assert seqs == [3]
    # Python submitted at the real time, about t0: the window runs from
    # the newest event, so 10 minutes after it nothing has run yet.
    r = at(t0 + 300, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    assert "3 queued events wait until " in r.stderr and "debounce 600 s" in r.stderr, r.stderr
    assert world.strata("chain", "list").stdout.count("\n") == 1  # the header only
    # After the window: one chain for the three, its cause all of them
    # (the same build twice planned once).
    r = at(t0 + 3600, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    cid = chain_id_of(r)
    chain = world.show(cid)
    assert chain["state"] == "finished"
    assert steps(chain) == [(m, "finished") for m in STACK]
    assert chain["events"] == [{"event": "build", "nvr": "libfoo-1.0-2.fc40"},
                               {"event": "build", "nvr": "libbar-2.0-1.fc40"}]
    assert len(json.loads(world.strata("chain", "list", "--json").stdout)) == 1
    # The queue is empty: nothing runs twice.
    r = at(t0 + 3700, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    assert r.stdout == "No events are queued.\n", r.stdout
    # An event after the window: a second chain of its own, after its own
    # window.
    tools = world.defs["tools"]
    tools.write_text(tools.read_text() + "# changed\n")
    at(t0 + 4000, "chain", "submit", "--definition", str(tools))
    r = at(t0 + 4000 + 599, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    assert "1 queued event waits until " in r.stderr, r.stderr
    r = at(t0 + 4000 + 600, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    second = chain_id_of(r)
    assert second != cid
    chain = world.show(second)
    assert steps(chain) == [("tools:1", "finished")]
    assert chain["events"] == [{"event": "definition", "location": str(tools)}]
    # Events that make nothing stale have nothing to wait for: taken at
    # once, recorded as a chain with no step.
    at(t0 + 5000, "chain", "submit", "--build", "libfoo-1.0-2.fc40")
    r = at(t0 + 5000, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    assert r.stdout.startswith("Nothing to recompose"), r.stdout
    third = world.show(chain_id_of(r))
    assert (third["state"], third["steps"]) == ("finished", [])
    assert len(json.loads(world.strata("chain", "list", "--json").stdout)) == 3


def test_source_date_epoch_does_not_stop_the_queue_clock(world):
    """SOURCE_DATE_EPOCH fixes what composes write, not when events are
    queued or their debounce window passes: an event queued under a frozen
    SOURCE_DATE_EPOCH is stamped with the real time, a later
    SOURCE_DATE_EPOCH does not end its window, and the real clock past the
    window (played by STRATA_TEST_NOW) does, SOURCE_DATE_EPOCH still
    frozen."""
    world.compose_all()
    world.policy("    - match: '*:*'\n      debounce: 10m\n")
    world.rebuild_libfoo()
    frozen = "1764000000"
    before = int(time.time())

    def run(*args, env, rc=0):
        return world.site.run(*args, "--config", world.site.config, env=env, check_rc=rc)

    run("chain", "submit", "--build", "libfoo-1.0-2.fc40", env={"SOURCE_DATE_EPOCH": frozen})
    (queued,) = strata.pending_events(config=world.site.config)
    assert queued["submitted_at"] >= before, queued
    r = run("chain", "run", "--pending", "--cache-dir", world.site.cache,
            env={"SOURCE_DATE_EPOCH": str(before + 86400)})
    assert "1 queued event waits until " in r.stderr, r.stderr
    assert world.strata("chain", "list").stdout.count("\n") == 1  # the header only
    r = run("chain", "run", "--pending", "--cache-dir", world.site.cache,
            env={"SOURCE_DATE_EPOCH": frozen, "STRATA_TEST_NOW": str(queued["submitted_at"] + 600)})
    chain = world.show(chain_id_of(r))
    assert steps(chain) == [(m, "finished") for m in STACK]


def test_a_queued_build_waits_until_a_repository_has_it(world):
    """With no debounce, a build queued before any repository has it is
    neither planned (to nothing) nor consumed: it waits, said so, and
    `strata impact` says per module that the build is not in its
    repositories yet; once the repository has it, it runs."""
    world.compose_all()
    world.strata("chain", "submit", "--build", "libfoo-1.0-2.fc40")
    r = world.chain_run("--pending")
    assert ("(build libfoo-1.0-2.fc40) waits: the build is in no repository the catalog reads "
            "yet; from ") in r.stderr, r.stderr
    assert world.strata("chain", "list").stdout.count("\n") == 1  # the header only
    assert len(strata.pending_events(config=world.site.config)) == 1
    r = world.strata("impact", "--build", "libfoo-1.0-2.fc40")
    for module in ("base-runtime:f40", "apache:2.4", "php:8.2", "tools:1"):
        assert f"  {module}: build libfoo-1.0-2.fc40 not in the repository yet\n" in r.stdout, (
            r.stdout)
    left = json.loads(world.strata("impact", "--build", "libfoo-1.0-2.fc40", "--json").stdout)
    assert left["plan"]["left_alone"]["tools:1"] == {"reason": "not-in-repository",
                                                     "builds": ["libfoo-1.0-2.fc40"]}
    world.rebuild_libfoo()
    r = world.chain_run("--pending")
    chain = world.show(chain_id_of(r))
    assert steps(chain) == [(m, "finished") for m in STACK]
    assert not strata.pending_events(config=world.site.config)


def test_a_pending_chain_killed_mid_compose_loses_no_event_and_runs_none_twice(world):
    world.compose_all()
    world.rebuild_libfoo()
    t0 = int(time.time())
    for nvr in ("libfoo-1.0-2.fc40", "libbar-2.0-1.fc40"):
        world.site.run("chain", "submit", "--build", nvr, "--config", world.site.config,
                       env={"SOURCE_DATE_EPOCH": str(t0)})
    cid = world.kill_paused("run", "--pending", env={"SOURCE_DATE_EPOCH": str(t0)})
    chain = world.show(cid)
    assert chain["state"] == "running"
    assert [e["nvr"] for e in chain["events"]] == ["libfoo-1.0-2.fc40", "libbar-2.0-1.fc40"]
    # The chain holds the events: the queue does not give them again.
    r = world.strata("chain", "run", "--pending", "--cache-dir", world.site.cache)
    assert r.stdout == "No events are queued.\n", r.stdout
    world.strata("chain", "resume", cid, "--cache-dir", world.site.cache)
    chain = world.show(cid)
    assert chain["state"] == "finished", chain
    assert steps(chain) == [(m, "finished") for m in STACK]
    assert len(json.loads(world.strata("chain", "list", "--json").stdout)) == 1


def test_an_artifact_step_killed_mid_build_resumes_from_its_recorded_compose(world):
    """An artifact step records its compose ID when the compose begins, as
    a module step does before publishing: kill -9 with the iso staged and
    not published leaves the step naming its compose; resume finds it dead
    and builds the iso once more (the dead record failed), and the chain
    finishes with one finished iso."""
    world.compose_all()
    iso = world.add_iso()
    cid = world.kill_paused("run", "--definition", str(iso))
    chain = world.show(cid)
    assert chain["state"] == "running", chain
    (step,) = chain["steps"]
    assert (step["name"], step["state"]) == ("php-iso", "running"), step
    killed = step["compose_id"]
    assert killed and killed.startswith("php-iso-x86_64-"), step
    world.strata("chain", "resume", cid, "--cache-dir", world.site.cache)
    chain = world.show(cid)
    assert chain["state"] == "finished", chain
    (step,) = chain["steps"]
    assert step["state"] == "finished" and step["compose_id"] != killed, step
    isos = {c["id"]: c["state"] for c in json.loads(
        world.strata("artifacts", "list", "--json").stdout)}
    assert isos == {killed: "failed", step["compose_id"]: "finished"}, isos


def test_python_run_chain_stops_cleanly_on_ctrl_c_and_resumes(world):
    """Ctrl-C in `strata.run_chain` stops the chain at its next safe point
    (the running compose recorded failed, nothing published), raises
    KeyboardInterrupt, and leaves the chain resumable."""
    import sys
    world.compose_all()
    world.rebuild_libfoo()
    # A pause of 60 s before base publishes, which an interrupt ends.
    env = dict(os.environ, STRATA_TEST_PAUSE_BEFORE_PUBLISH="60")
    env.pop("STRATA_CONFIG", None)
    script = ("import strata, sys\n"
              "try:\n"
              f"    strata.run_chain(builds=['libfoo-1.0-2.fc40'], config={str(world.site.config)!r},"
              f" cache_dir={str(world.site.cache)!r})\n"
              "except KeyboardInterrupt:\n"
              "    print('KeyboardInterrupt'); sys.exit(130)\n")
    p = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    world.wait_for_pause()
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 130 and out == "KeyboardInterrupt\n", (p.returncode, out, err)
    assert not list(world.site.out.glob(".staging/.staging-*")), "the staging directory is left behind"
    chains = json.loads(world.strata("chain", "list", "--json").stdout)
    assert [c["state"] for c in chains] == ["stopped"], chains
    cid = chains[0]["id"]
    world.strata("chain", "resume", cid, "--cache-dir", world.site.cache)
    chain = world.show(cid)
    assert chain["state"] == "finished", chain
    assert steps(chain) == [(m, "finished") for m in STACK]
    states = sorted(r["state"] for r in world.site.list("base-runtime:f40"))
    assert states == ["failed", "finished", "finished"], states


def test_a_rebuilt_library_below_a_stack_rebuilds_the_iso_on_it(world):
    before = world.compose_all()
    iso = world.add_iso()
    built = json.loads(world.strata("compose", "artifact", iso, "--json").stdout)
    # Nothing changed below: the media is up to date, and said so.
    same = json.loads(world.strata("impact", "--build", "libfoo-1.0-1.fc40", "--json",
                                   "--cache-dir", world.site.cache).stdout)
    assert same["plan"]["steps"] == []
    assert same["plan"]["left_alone"]["php-iso:x86_64"] == {"reason": "up-to-date"}
    assert same["last_good"]["php-iso:x86_64"] == built["id"]
    assert same["artifacts"] == {"php-iso:x86_64": "iso"}

    world.rebuild_libfoo()
    args = ("impact", "--build", "libfoo-1.0-2.fc40", "--cache-dir", world.site.cache)
    plan = json.loads(world.strata(*args, "--json").stdout)
    assert [(s["name"], s["stream"], s["kind"], s["after"]) for s in plan["plan"]["steps"]] == [
        ("base-runtime", "f40", "module", []), ("apache", "2.4", "module", [0]),
        ("php", "8.2", "module", [1]), ("php-iso", "x86_64", "artifact", [2])]
    assert plan["plan"]["steps"][3]["why"] == [{"why": "input-compose", "module": "php:8.2"}]
    assert plan["requires"]["php-iso:x86_64"] == ["php:8.2"]
    found = strata.impact(builds=["libfoo-1.0-2.fc40"], config=world.site.config,
                          cache_dir=world.site.cache)
    assert [s.kind for s in found.steps] == ["module", "module", "module", "artifact"]
    assert found.artifacts == {"php-iso:x86_64": "iso"}
    assert json.loads(found.to_json()) == plan
    text = world.strata(*args).stdout
    assert "  4. php-iso:x86_64 (after 3) [auto] artifact (iso)\n" in text, text
    assert "       input compose: php:8.2 is recomposed\n" in text, text
    dot = world.strata(*args, "--format", "dot").stdout
    assert '"php-iso:x86_64" [fillcolor="#f28482", shape=folder' in dot, dot
    assert '"php-iso:x86_64" -> "php:8.2";' in dot, dot

    # The chain builds the media after php, on php's new compose, and the
    # record names the chain and the cause.
    r = world.chain_run("--build", "libfoo-1.0-2.fc40")
    chain = world.show(chain_id_of(r))
    assert chain["state"] == "finished"
    assert steps(chain) == [(m, "finished") for m in STACK] + [("php-iso:x86_64", "finished")]
    media = chain["steps"][3]["compose_id"]
    assert chain["composes"][media]["chain"] == {
        "chain_id": chain["id"], "event": "build libfoo-1.0-2.fc40"}
    rec = world.site.show(media)
    assert rec["artifact"] == "iso" and rec["state"] == "finished"
    used = {i["name"]: i["ident"] for i in rec["inputs"] if i["kind"] == "compose"}
    assert used["php:8.2"] == chain["steps"][2]["compose_id"] != before["php"]["id"]
    assert used["base-runtime:f40"] == chain["steps"][0]["compose_id"]
    shown = world.strata("chain", "show", chain["id"]).stdout
    assert f"  4. artifact php-iso:x86_64 finished {media}\n" in shown, shown

    # Everything is up to date now, the media too.
    r = world.chain_run("--build", "libfoo-1.0-2.fc40")
    assert r.stdout.startswith("Nothing to recompose"), r.stdout
    # A changed artifact definition is an event of its own: the media
    # alone is rebuilt, for that reason.
    iso.write_text(iso.read_text().replace("PHP-8.2", "PHP-8.2-NEW"))
    plan = json.loads(world.strata("impact", "--definition", iso, "--json",
                                   "--cache-dir", world.site.cache).stdout)
    assert [(s["name"], s["kind"]) for s in plan["plan"]["steps"]] == [("php-iso", "artifact")]
    assert [w["why"] for w in plan["plan"]["steps"][0]["why"]] == ["definition"]
    assert plan["plan"]["left_alone"]["php:8.2"] == {"reason": "unaffected"}


def test_a_stack_stopped_by_policy_keeps_its_iso_from_being_built(world):
    world.compose_all()
    world.add_iso()
    world.policy("    - match: 'php:*'\n      on_failure: stop-dependents\n      tests:\n"
                 "        - {name: smoke, run: ['false']}\n"
                 "    - match: '*:*'\n")
    world.rebuild_libfoo()
    # From Python: the chain's plan says which step is the artifact.
    chain = strata.run_chain(builds=["libfoo-1.0-2.fc40"], config=world.site.config,
                             cache_dir=world.site.cache)
    assert chain.state == "failed"
    assert [(f"{s.name}:{s.stream}", s.state) for s in chain.steps] == [
        (m, "finished") for m in STACK[:2]] + [("php:8.2", "failed"), ("php-iso:x86_64", "skipped")]
    assert [s.kind for s in chain.impact.steps] == ["module", "module", "module", "artifact"]
    assert chain.steps[3].reason == (
        "not composed: php:8.2 below it failed (policy: stop-dependents)")
    shown = world.strata("chain", "show", chain.id).stdout
    assert "  4. artifact php-iso:x86_64 skipped\n" in shown, shown
    r = world.strata("artifacts", "list", "--json")
    assert json.loads(r.stdout) == []


def test_a_second_pending_run_at_the_same_time_is_told_the_events_are_taken(world):
    world.compose_all()
    world.rebuild_libfoo()
    t0 = int(time.time())
    env = {"SOURCE_DATE_EPOCH": str(t0)}
    world.site.run("chain", "submit", "--build", "libfoo-1.0-2.fc40", "--config",
                   world.site.config, env=env)
    # The first taker plans the queue, then holds before recording its
    # chain; the second takes the events and runs them meanwhile.
    hold = world.root / "hold"
    hold.write_text("")
    first_env = dict(os.environ, **env, STRATA_TEST_PAUSE_BEFORE_CONSUME=str(hold))
    first_env.pop("STRATA_CONFIG", None)
    first = subprocess.Popen(
        [str(world.site.bin), "chain", "run", "--pending", "--config", str(world.site.config),
         "--cache-dir", str(world.site.cache)],
        env=first_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        held = world.root / "hold.held"
        deadline = time.time() + 300
        while not held.exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert held.exists(), first.communicate()
        second = world.site.run("chain", "run", "--pending", "--config", world.site.config,
                                "--cache-dir", world.site.cache, env=env, check_rc=0)
        cid = chain_id_of(second)
        hold.unlink()
        out, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, out + err
    assert out == ("The queued events were taken by another `strata chain run --pending` at "
                   "the same time (event 1 first): nothing to do here.\n"), out + err
    chains = json.loads(world.strata("chain", "list", "--json").stdout)
    assert [c["id"] for c in chains] == [cid]
    assert steps(world.show(cid)) == [(m, "finished") for m in STACK]


def test_an_event_that_cannot_be_planned_is_named_not_blocking_and_dropped(world):
    world.compose_all()
    world.rebuild_libfoo()
    missing = str(world.root / "gone.yaml")
    world.strata("chain", "submit", "--definition", missing)
    world.strata("chain", "submit", "--build", "libfoo-1.0-2.fc40")
    # The build runs; the definition no catalog names is named with its
    # error, stays queued, and the run says so with status 1.
    r = world.chain_run("--pending", rc=1)
    assert (f"queued event 1 (definition {missing}) cannot be planned: the definition "
            f"`{missing}` is not in the catalog ([chain] catalog); drop it with "
            "`strata chain drop 1`\n") in r.stderr, r.stderr
    chain = world.show(chain_id_of(r))
    assert chain["events"] == [{"event": "build", "nvr": "libfoo-1.0-2.fc40"}]
    assert steps(chain) == [(m, "finished") for m in STACK]
    r = world.chain_run("--pending", rc=1)
    assert "queued event 1 (definition " in r.stderr, r.stderr
    # Dropped: the queue is empty. A number not queued is refused, and
    # nothing is dropped.
    world.strata("chain", "submit", "--build", "libfoo-1.0-2.fc40")
    r = world.strata("chain", "drop", "1", "7", rc=2)
    assert ("no event 7 is queued (taken by a chain, dropped, or never queued): nothing was "
            "dropped") in r.stderr, r.stderr
    r = world.strata("chain", "drop", "1")
    assert r.stdout == f"dropped queued event 1: definition {missing}\n", r.stdout
    r = world.chain_run("--pending")
    assert r.stdout.startswith("Nothing to recompose"), r.stdout
    r = world.chain_run("--pending")
    assert r.stdout == "No events are queued.\n", r.stdout


def test_a_burst_on_one_stack_does_not_hold_back_an_unrelated_event(world):
    """Events whose plans touch disjoint modules are debounced apart: php
    waits out its 10 minutes, tools runs once its own minute has passed."""
    world.compose_all()
    world.policy("    - match: 'php:*'\n      debounce: 10m\n"
                 "    - match: '*:*'\n      debounce: 1m\n")
    for k in ("php", "tools"):
        world.defs[k].write_text(world.defs[k].read_text() + "# changed\n")
    t0 = int(time.time())

    def at(t, *args, rc=0):
        return world.site.run(*args, "--config", world.site.config,
                              env={"STRATA_TEST_NOW": str(t)}, check_rc=rc)

    at(t0, "chain", "submit", "--definition", str(world.defs["php"]))
    at(t0 + 30, "chain", "submit", "--definition", str(world.defs["tools"]))
    r = at(t0 + 60, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    assert "(debounce 600 s after the newest; queued 1): nothing" in r.stderr, r.stderr
    assert "(debounce 60 s after the newest; queued 2): nothing" in r.stderr, r.stderr
    # tools' minute has passed, php's ten have not: tools alone runs.
    r = at(t0 + 120, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    assert "(debounce 600 s after the newest; queued 1)" in r.stderr, r.stderr
    chain = world.show(chain_id_of(r))
    assert steps(chain) == [("tools:1", "finished")]
    assert chain["events"] == [{"event": "definition", "location": str(world.defs["tools"])}]
    r = at(t0 + 600, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    chain = world.show(chain_id_of(r))
    assert steps(chain) == [("php:8.2", "finished")]
    r = at(t0 + 700, "chain", "run", "--pending", "--cache-dir", world.site.cache)
    assert r.stdout == "No events are queued.\n", r.stdout


def test_prune_removes_ended_chains_no_kept_compose_came_from(world):
    """Chain records (cause and whole plan each) do not pile up: `composes
    prune` removes an ended chain once the composes it made are gone, and
    keeps the chain behind each kept compose."""
    world.compose_all()
    world.rebuild_libfoo()
    first = chain_id_of(world.chain_run("--build", "libfoo-1.0-2.fc40"))
    libfoo_3 = dict(LIBFOO_2, release="3.fc40")
    rpmfactory.build_rpms([libfoo_3], world.repos["base"])
    rpmfactory.createrepo(world.repos["base"])
    second = chain_id_of(world.chain_run("--build", "libfoo-1.0-3.fc40"))
    assert first != second
    made_first = {s["compose_id"] for s in world.show(first)["steps"]}

    args = ("composes", "prune", "--keep", "1", "--keep-chain-days", "0")
    dry = json.loads(world.strata(*args, "--dry-run", "--json").stdout)
    assert [r["chain"]["id"] for r in dry["chains"]["removed"]] == [first]
    kept = {k["chain"]["id"]: k["because"] for k in dry["chains"]["kept"]}
    assert set(kept) == {second}
    assert {"reason": "newest"} in kept[second]
    assert {b["compose_id"] for b in kept[second] if b["reason"] == "made"} == \
        {s["compose_id"] for s in world.show(second)["steps"]}
    # The first chain's composes go in the same prune.
    assert made_first <= {r["compose"]["id"] for r in dry["removed"]}

    r = world.strata(*args)
    assert f"removed chain {first}: finished by " in r.stdout, r.stdout
    assert "removed 1 chain record(s), kept 1" in r.stderr, r.stderr
    listed = json.loads(world.strata("chain", "list", "--json").stdout)
    assert [c["id"] for c in listed] == [second]
    gone = world.strata("chain", "show", first, rc=None)
    assert gone.returncode != 0 and f"no chain `{first}` in the registry" in gone.stderr, gone.stderr
    # The next chain of the day does not take a removed chain's ID.
    rpmfactory.build_rpms([dict(LIBFOO_2, release="4.fc40")], world.repos["base"])
    rpmfactory.createrepo(world.repos["base"])
    third = chain_id_of(world.chain_run("--build", "libfoo-1.0-4.fc40"))
    assert third not in (first, second)
    assert int(third.rsplit(".", 1)[1]) > int(second.rsplit(".", 1)[1])
