"""The registry's upkeep through the real CLI, on real composes: composes
whose process was killed are marked failed (by the next compose of the
stream, by `composes abandon --dead`, by hand), `composes prune` keeps what
is needed and says why, errors are capped, one-line fields cannot inject
lines, and reading never creates a registry and works on a read-only one
(checked as the unprivileged `nobody`, since root ignores permissions)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import composekit as ck
import strata
import test_stack
from test_compose import GOOD, apache, repos  # noqa: F401 (fixture)


@pytest.fixture
def site(strata_bin, tmp_path, repos):  # noqa: F811
    return ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})


def paused(site, definition, *extra) -> subprocess.Popen:
    """A compose that stops before publishing (a test-only pause point),
    once it is recorded as started."""
    env = {**os.environ, "STRATA_TEST_PAUSE_BEFORE_PUBLISH": "60"}
    env.pop("STRATA_CONFIG", None)

    def started() -> set[str]:
        # The registry may not exist yet, or be half created.
        r = site.run("composes", "list", "--state", "started", "--json", "--config", site.config)
        return {x["id"] for x in json.loads(r.stdout)} if r.returncode == 0 else set()

    before = started()
    p = subprocess.Popen([str(site.bin), *site.compose_args(definition, *extra)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        assert p.poll() is None, p.communicate()
        new = started() - before
        if new:
            [p.compose_id] = new
            return p
        time.sleep(0.05)
    p.kill()
    pytest.fail("the compose was never recorded as started")


def kill9(p: subprocess.Popen):
    p.send_signal(signal.SIGKILL)
    p.wait()


def test_a_killed_compose_is_failed_by_the_next_compose_of_its_stream(site, tmp_path, repos):  # noqa: F811
    d = apache(tmp_path, repos)
    p = paused(site, d)
    killed = p.compose_id
    rec = site.show(killed)
    assert rec["state"] == "started"
    owner = rec["owner"]
    assert owner["pid"] == p.pid and owner["host"] and owner["boot_id"]
    shown = site.run("composes", "show", killed, "--config", site.config, check_rc=0).stdout
    assert f"State: started (its process {p.pid} on {owner['host']} is still running)" in shown
    assert f"Owner: process {p.pid} on {owner['host']} (boot {owner['boot_id']}" in shown
    kill9(p)
    shown = site.run("composes", "show", killed, "--config", site.config, check_rc=0).stdout
    assert f"State: started (its process {p.pid} on {owner['host']} is gone)" in shown

    # The next compose of the stream ends it before it begins.
    rec = site.compose_json(d)
    assert rec["state"] == "finished"
    old = site.show(killed)
    assert old["state"] == "failed"
    assert old["error"] == f"abandoned: its process {p.pid} on {owner['host']} is gone"
    assert old["finished_at"] >= old["started_at"]
    assert site.latest("apache:2.4")["id"] == rec["id"]


def test_abandon_dead_and_by_hand(site, tmp_path, repos):  # noqa: F811
    d = apache(tmp_path, repos)
    other = ck.write_definition(tmp_path / "defs" / "nginx.yaml", ck.definition(
        name="nginx", stream="1.24", packages=("nginx",), repos=[repos["source"]],
        requires={"platform": "f40"}))
    # The living one first: each compose ends the dead ones of its stream.
    alive = paused(site, d)
    dead_apache = paused(site, d)
    dead_nginx = paused(site, other)
    kill9(dead_apache)
    kill9(dead_nginx)
    try:
        # By hand: refused while the process runs, and said why.
        r = site.run("composes", "abandon", alive.compose_id, "--config", site.config, check_rc=2)
        assert (f"compose {alive.compose_id} is not provably abandoned: its process {alive.pid} "
                f"on ") in r.stderr
        assert "is still running; pass --force to mark it failed anyway" in r.stderr
        assert site.show(alive.compose_id)["state"] == "started"

        # --dead: every stream, only the dead; the living one is named.
        r = site.run("composes", "abandon", "--dead", "--config", site.config, check_rc=0)
        lines = sorted(r.stdout.splitlines())
        expected = sorted(f"{p.compose_id} abandoned: its process {p.pid} on " for p in
                          (dead_apache, dead_nginx))
        assert [line[:len(e)] for line, e in zip(lines, expected)] == expected, r.stdout
        assert len(lines) == 2, r.stdout
        assert f"left {alive.compose_id} started: its process {alive.pid} on" in r.stderr
        for p in (dead_apache, dead_nginx):
            assert site.show(p.compose_id)["state"] == "failed"
        assert site.show(alive.compose_id)["state"] == "started"
        r = site.run("composes", "abandon", "--dead", "--config", site.config, check_rc=0)
        assert r.stdout == ""

        # --force ends it anyway, saying so in the record.
        r = site.run("composes", "abandon", alive.compose_id, "--force", "--config", site.config,
                     check_rc=0)
        rec = site.show(alive.compose_id)
        assert rec["state"] == "failed"
        assert rec["error"].startswith("abandoned: by hand with --force; its process "
                                       f"{alive.pid} on ")
        assert rec["error"].endswith(" is still running")
        assert r.stdout.strip() == f"{alive.compose_id} {rec['error']}"
        r = site.run("composes", "abandon", alive.compose_id, "--config", site.config, check_rc=2)
        assert "is not started (it is failed): there is nothing to abandon" in r.stderr
    finally:
        kill9(alive)
    # The compose that was ended under it cannot end again.
    assert site.show(alive.compose_id)["state"] == "failed"


@pytest.fixture(scope="module")
def stack_repos(tmp_path_factory):
    root = tmp_path_factory.mktemp("prune-src")
    import rpmfactory
    return {
        "platform": rpmfactory.make_repo(root / "platform", test_stack.PLATFORM),
        "base": rpmfactory.make_repo(root / "base-src", test_stack.BASE_SRC),
        "apache": rpmfactory.make_repo(root / "apache-src", test_stack.APACHE_SRC),
        "php": rpmfactory.make_repo(root / "php-src", test_stack.PHP_SRC),
    }


def test_prune_keeps_last_good_and_inputs_of_kept_stacks(strata_bin, tmp_path, stack_repos):
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [stack_repos["platform"]]})
    b0 = site.compose_json(test_stack.base(tmp_path, stack_repos))["id"]
    broken = test_stack.base(tmp_path, stack_repos, packages=("libfoo", "libbroken"),
                             file="broken.yaml")
    old_failure = site.compose_json(broken, rc=1)
    a0 = site.compose_json(test_stack.apache(tmp_path, stack_repos))["id"]
    p0 = site.compose_json(test_stack.php(tmp_path, stack_repos))["id"]
    b1 = site.compose_json(test_stack.base(tmp_path, stack_repos))["id"]
    b2 = site.compose_json(test_stack.base(tmp_path, stack_repos))["id"]
    a1 = site.compose_json(test_stack.apache(tmp_path, stack_repos))["id"]
    new_failure = site.compose_json(broken, rc=1)["id"]
    # The first failure happened a month ago.
    month = 30 * 86400
    with sqlite3.connect(site.registry) as db:
        db.execute("UPDATE composes SET started_at = started_at - ?, finished_at = ? WHERE id = ?",
                   (month, old_failure["finished_at"] - month, old_failure["id"]))
    failed = old_failure["id"]
    # php's stack: apache a0 directly, base b0 through it.
    assert test_stack.compose_ids(site.show(p0)) == {
        "apache:2.4": ("compose", a0), "base-runtime:f40": ("stack_compose", b0)}
    before = [r["id"] for r in site.list()]
    # Failed composes are kept 14 days by default.
    args = ("composes", "prune", "--keep", "1", "--delete-output", "--config", site.config)

    r = site.run(*args, "--dry-run", check_rc=0)
    lines = r.stdout.splitlines()
    assert lines[:3] == [
        f"would remove {b1}: finished, older than the 1 newest finished composes of its stream, "
        "and no kept compose uses it",
        f"would remove {failed}: failed before "
        + lines[1].removeprefix(f"would remove {failed}: failed before "),
        f"would delete {site.out / b1}",
    ], r.stdout
    assert lines[1].endswith(" UTC, and no kept compose uses it"), lines[1]
    keep = {line.split(":", 1)[0][len("keep "):]: line.split(": ", 1)[1]
            for line in lines[3:]}
    assert keep.pop(new_failure).startswith("failed after "), r.stdout
    assert keep == {
        a1: "the last good compose of its stream",
        b2: f"the last good compose of its stream; an input of {a1}, which is kept",
        p0: "the last good compose of its stream",
        a0: f"an input of {p0}, which is kept",
        b0: f"an input of {p0}, which is kept; an input of {a0}, which is kept",
    }, r.stdout
    assert "would remove 2 compose record(s), kept 6" in r.stderr
    # A dry run changes nothing.
    assert [x["id"] for x in site.list()] == before
    assert (site.out / b1).is_dir()

    r = site.run(*args, check_rc=0)
    # The cutoff is "now" less 14 days, so it moves on between the two runs:
    # compare the lines without it, and the cutoff only as not earlier.
    done = r.stdout.splitlines()
    cutoff = re.compile(r"failed before (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")
    assert [cutoff.sub("failed before <cutoff> UTC", line) for line in done] == [
        cutoff.sub("failed before <cutoff> UTC", line)
        .replace("would remove", "removed").replace("would delete", "deleted")
        for line in lines[:3]], r.stdout
    assert cutoff.search(done[1])[1] >= cutoff.search(lines[1])[1], (done[1], lines[1])
    assert [x["id"] for x in site.list()] == [i for i in before if i not in (b1, failed)]
    assert not (site.out / b1).exists()
    for kept in (a1, b2, p0, a0, b0):
        assert (site.out / kept / "STATUS").is_file(), kept
        assert site.show(kept)["packages"], kept
    # VACUUM ran: no free pages left in the file.
    with sqlite3.connect(site.registry) as db:
        assert db.execute("PRAGMA freelist_count").fetchone() == (0,)
    # What stays still composes on: the stack resolves to the kept composes.
    assert test_stack.tree(site, "php:8.2")["compose_id"] == p0
    r = site.run(*args, check_rc=0)
    assert r.stdout == ""

    r = site.run("composes", "prune", "--pin", "nope-1-20260101.n.0", "--config", site.config,
                 check_rc=2)
    assert "cannot prune: the pinned compose(s) nope-1-20260101.n.0 are not in the registry" \
        in r.stderr


def test_a_long_error_is_capped_in_the_registry(site, tmp_path, repos):  # noqa: F811
    # 90 packages of 10,000-character names the source lacks (a definition
    # may not be larger than 1 MiB): the error names them all, 0.9 MB, more
    # than 13 times the cap.
    missing = tuple(f"missing{i:04d}" + "x" * 9989 for i in range(90))
    d = apache(tmp_path, repos, packages=GOOD + missing, reasons=False)
    r = site.compose(d, check_rc=2)
    assert len(r.stderr) > 900_000, len(r.stderr)
    assert missing[-1] in r.stderr
    [rec] = site.list("--state", "failed")
    error = site.show(rec["id"])["error"]
    assert len(error.encode()) <= 64 * 1024
    assert missing[0][:1000] in error and error.rstrip().endswith(missing[-1][-1000:])
    assert "bytes cut …]" in error
    assert rec["error"] == error
    # Python reads the same.
    assert strata.get_compose(rec["id"], config=site.config)["error"] == error


def test_newline_scm_ref_is_refused_and_fields_cannot_inject_lines(site, tmp_path, repos):  # noqa: F811
    d = apache(tmp_path, repos)
    r = site.compose(d, "--scm-ref", "git+https://src.example/m.git#a1b2\nState: finished",
                     check_rc=2)
    assert "the SCM reference" in r.stderr and "control character" in r.stderr
    assert site.list() == []

    # A definition whose file name holds a newline is recorded as named...
    odd = tmp_path / "defs" / "apache\nState: finished.yaml"
    shutil.copy(d, odd)
    rec = site.compose_json(odd)
    # ...and a record written by an older Strata (or edited) may hold
    # anything in its SCM reference and error.
    with sqlite3.connect(site.registry) as db:
        db.execute("UPDATE composes SET scm_ref = ?, error = ?, context = ? WHERE id = ?",
                   ("abc\nState: finished\x1b[2J", "first line\nState: finished\n\x1b]0;x\x07",
                    "9edba152\nSTATE", rec["id"]))
    shown = site.run("composes", "show", rec["id"], "--config", site.config, check_rc=0).stdout
    state_lines = [line for line in shown.splitlines() if line.startswith("State:")]
    assert state_lines == ["State: finished"], shown
    assert "\x1b" not in shown and "\x07" not in shown
    assert "SCM: abc\\nState: finished\\u{1b}[2J" in shown
    assert "Definition: " + str(odd).replace("\n", "\\n") in shown
    assert "Error:\n  first line\n  State: finished\n  \\u{1b}]0;x\\u{7}\n" in shown
    listed = site.run("composes", "list", "--config", site.config, check_rc=0).stdout
    assert len(listed.splitlines()) == 2 and "9edba152\\nSTATE" in listed, listed


def as_nobody(*cmd, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "STRATA_CONFIG"}
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           *map(str, cmd)], capture_output=True, text=True, env=env, **kw)


@pytest.fixture
def world_readable_dir():
    """A folder `nobody` can reach (pytest's own are root's, mode 0700)."""
    d = Path(tempfile.mkdtemp(prefix="strata-ro-"))
    d.chmod(0o755)
    yield d
    for p in [d, *d.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(d)


def test_a_read_only_registry_serves_list_latest_show_and_tree(site, tmp_path, repos,  # noqa: F811
                                                               world_readable_dir):
    assert as_nobody("id", "-u").stdout.strip() != "0"
    rec = site.compose_json(apache(tmp_path, repos))
    folder = world_readable_dir / "registry"
    folder.mkdir()
    reg = folder / "registry.sqlite"
    shutil.copy(site.registry, reg)
    reg.chmod(0o444)
    folder.chmod(0o555)
    strata_bin = site.bin
    # As nobody, the folder and the file are read-only.
    r = as_nobody("touch", folder / "x")
    assert r.returncode != 0

    r = as_nobody(strata_bin, "composes", "list", "--registry", reg, "--json")
    assert r.returncode == 0, r.stderr
    assert [x["id"] for x in json.loads(r.stdout)] == [rec["id"]]
    r = as_nobody(strata_bin, "latest", "apache:2.4", "--registry", reg)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{rec['id']}\t{rec['outputs']['path']}\n"
    r = as_nobody(strata_bin, "latest", "apache:2.4", "--registry", reg, "--json")
    assert json.loads(r.stdout) == rec
    r = as_nobody(strata_bin, "composes", "show", rec["id"], "--registry", reg)
    assert r.returncode == 0 and f"Compose: {rec['id']}" in r.stdout, r.stderr
    r = as_nobody(strata_bin, "tree", "apache:2.4", "--registry", reg, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["compose_id"] == rec["id"], r.stderr
    # Nothing was created beside it (no -wal, no -shm).
    assert sorted(p.name for p in folder.iterdir()) == ["registry.sqlite"]
    # Writing is refused, clearly.
    r = as_nobody(strata_bin, "composes", "abandon", "--dead", "--registry", reg)
    assert r.returncode == 2 and f"compose registry {reg}" in r.stderr, r.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["registry.sqlite"]


def test_reading_a_registry_that_does_not_exist_creates_nothing(site, tmp_path, repos):  # noqa: F811
    missing = tmp_path / "typo" / "dir" / "registry.sqlite"
    for args in (("composes", "list"), ("composes", "show", "apache-2.4-20261125.n.0"),
                 ("latest", "apache:2.4"), ("tree", "apache:2.4")):
        r = site.run(*args, "--registry", missing, check_rc=2)
        assert (f"there is no compose registry at {missing}: the file does not exist, so "
                "nothing has been composed with it yet") in r.stderr, r.stderr
    with pytest.raises(strata.RegistryError, match="there is no compose registry at"):
        strata.list_composes(registry=missing)
    with pytest.raises(strata.RegistryError, match="there is no compose registry at"):
        strata.latest_compose("apache", "2.4", registry=missing)
    assert not (tmp_path / "typo").exists()
    # The default registry, from the configuration, is not created either.
    r = site.run("composes", "list", "--config", site.config, check_rc=2)
    assert f"there is no compose registry at {site.registry}" in r.stderr
    assert not site.registry.exists()
    # Composing creates it.
    site.compose_json(apache(tmp_path, repos))
    assert len(site.list()) == 1
