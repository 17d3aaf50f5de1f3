"""A compose's life against what can happen to it: signals, a registry
that cannot record its end, composes of one stream finishing at once,
other hosts (or PID namespaces) composing into the same `out`, a full disk.
Whatever happens, what `out` shows agrees with the registry (nothing says
FINISHED, and no `latest-*` link points, where the registry does not say
finished) and no staging directory outlives its compose for long.

`STRATA_TEST_PAUSE_BEFORE_PUBLISH` stops a compose with everything staged
and nothing published: `=<seconds>` (ends early on a signal), or `=<path>`
(waits while the path exists, whatever happens)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import composekit as ck
import pgkit
from test_compose import apache, repos, site  # noqa: F401 (fixtures)

PAUSE = "STRATA_TEST_PAUSE_BEFORE_PUBLISH"
# A PID that exists nowhere: above the largest pid_max Linux allows.
NO_SUCH_PID = 4194305


def staged(out: Path) -> list[Path]:
    return sorted(out.glob(".staging/.staging-*"))


def visible(out: Path) -> list[str]:
    """The composes `out` shows (directories, not links or hidden ones)."""
    return sorted(x.name for x in out.iterdir()
                  if not x.name.startswith(".") and x.is_dir() and not x.is_symlink())


def popen(cmd, env=None, **kw) -> subprocess.Popen:
    e = dict(os.environ)
    e.pop("STRATA_CONFIG", None)
    e.update(env or {})
    return subprocess.Popen([str(c) for c in cmd], env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def finish(proc: subprocess.Popen, timeout=300) -> tuple[str, str]:
    """Waits for `proc`; one that hangs is killed, and the test fails."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running after {timeout} s, killed:\n{out}\n{err}")


def start_compose(site, d, *extra, env=None) -> subprocess.Popen:
    return popen([site.bin, *site.compose_args(d, *extra)], env=env)


def wait_paused(out: Path, proc: subprocess.Popen, what="the compose"):
    """Waits until `proc` has staged everything (its STATUS exists)."""
    import time
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if list(out.glob(".staging/.staging-*/tree/STATUS")):
            return
        if proc.poll() is not None:
            pytest.fail(f"{what} ended (exit {proc.returncode}) before its pause point:\n"
                        f"{proc.stdout.read()}\n{proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail(f"{what} never reached its pause point")


def assert_out_agrees_with_registry(out: Path, records: list[dict]):
    """What `out` shows claims nothing the registry does not: a STATUS
    FINISHED and the latest link only for finished composes."""
    state = {r["id"]: r["state"] for r in records}
    for name in visible(out):
        status = (out / name / "STATUS").read_text()
        assert status in ("STARTED\n", "FINISHED\n"), (name, status)
        if status == "FINISHED\n":
            assert state.get(name) == "finished", (name, state.get(name))
    for r in records:
        if r["state"] == "finished":
            assert (Path(r["outputs"]["path"]) / "STATUS").is_file(), r["id"]
    for link in out.glob("latest-*"):
        assert state.get(os.readlink(link)) == "finished", (link, os.readlink(link))


# --------------------------------------------------------------------------
# Signals


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=lambda s: s.name)
def test_signal_stops_the_compose_cleanly(site, tmp_path, repos, sig):  # noqa: F811
    d = apache(tmp_path, repos)
    good = site.compose_json(d)["id"]
    p = start_compose(site, d, env={PAUSE: "600"})
    wait_paused(site.out, p)
    p.send_signal(sig)
    _, err = finish(p)
    assert p.returncode == 128 + sig, err
    assert f"interrupted by {sig.name}" in err, err
    recs = site.list("apache:2.4")
    assert [r["state"] for r in recs] == ["failed", "finished"]
    assert f"interrupted by {sig.name}" in recs[0]["error"]
    assert staged(site.out) == []
    assert visible(site.out) == [good]
    assert os.readlink(site.out / "latest-apache-2.4") == good
    assert_out_agrees_with_registry(site.out, recs)


def _pending(pid: int, sig: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    masks = [int(line.split()[1], 16) for line in status.splitlines()
             if line.startswith(("SigPnd:", "ShdPnd:"))]
    return any(m & (1 << (sig - 1)) for m in masks)


def test_a_second_signal_ends_the_process_at_once(site, tmp_path, repos):  # noqa: F811
    """The first signal asks for a clean stop; a second one while the
    compose has not yet stopped ends the process there (the pause on a
    path does not end on signals, so only the second one can end it). The
    staging directory is left behind, and the next compose removes it."""
    d = apache(tmp_path, repos)
    hold = tmp_path / "hold"
    hold.touch()
    p = start_compose(site, d, env={PAUSE: hold})
    wait_paused(site.out, p)
    p.send_signal(signal.SIGTERM)
    # Delivered before the second is sent, so each is handled on its own.
    while p.poll() is None and _pending(p.pid, signal.SIGTERM):
        pass
    p.send_signal(signal.SIGINT)
    _, err = finish(p)
    assert p.returncode == 128 + signal.SIGINT, err
    assert hold.exists()
    assert len(staged(site.out)) == 1
    assert [r["state"] for r in site.list("apache:2.4")] == ["started"]
    hold.unlink()
    rec = site.compose_json(d)
    assert staged(site.out) == []
    assert visible(site.out) == [rec["id"]]


# --------------------------------------------------------------------------
# A registry that cannot record the end


def test_registry_locked_at_the_end_withdraws_the_output(site, tmp_path, repos):  # noqa: F811
    """Another process holds the SQLite registry's write lock past the busy
    timeout when the compose records its end: the compose fails, its output
    is taken out of `out` again and `latest-*` stays where it was."""
    d = apache(tmp_path, repos)
    good = site.compose_json(d)["id"]
    hold = tmp_path / "hold"
    hold.touch()
    # A short busy timeout, so the lock outlasts it without a minute's wait.
    text = site.config.read_text().replace("[registry]\n", "[registry]\nbusy_timeout = 0.3\n")
    site.config.write_text(text)
    p = start_compose(site, d, env={PAUSE: hold})
    wait_paused(site.out, p)
    db = sqlite3.connect(site.registry, isolation_level=None, timeout=60)
    try:
        db.execute("BEGIN EXCLUSIVE")
        hold.unlink()
        _, err = finish(p)
    finally:
        db.rollback()
        db.close()
    assert p.returncode == 2, err
    assert "could not be recorded as finished, so its output was withdrawn" in err, err
    assert "database is locked" in err, err
    recs = site.list("apache:2.4")
    new = recs[0]
    assert new["id"] != good and new["state"] == "started", new
    assert not (site.out / new["id"]).exists()
    assert staged(site.out) == []
    assert visible(site.out) == [good]
    assert os.readlink(site.out / "latest-apache-2.4") == good
    assert site.latest("apache:2.4")["id"] == good
    assert_out_agrees_with_registry(site.out, recs)


def test_postgresql_gone_at_the_end_withdraws_the_output(site, tmp_path, repos):  # noqa: F811
    """The PostgreSQL server stops while the compose is staged: the end
    cannot be recorded (nor read back), so nothing is left published."""
    cluster = pgkit.Cluster()
    try:
        url = cluster.url(cluster.create_db())
        d = apache(tmp_path, repos)
        good = site.compose_json(d, "--registry", url)["id"]
        hold = tmp_path / "hold"
        hold.touch()
        p = start_compose(site, d, "--registry", url, env={PAUSE: hold})
        wait_paused(site.out, p)
        cluster.stop_server()
        hold.unlink()
        _, err = finish(p)
        assert p.returncode == 2, err
        assert "could not be recorded as finished, so its output was withdrawn" in err, err
        cluster.start_server()
        r = site.run("composes", "list", "apache:2.4", "--json", "--registry", url,
                     "--config", site.config, check_rc=0)
        recs = json.loads(r.stdout)
        assert [x["state"] for x in recs] == ["started", "finished"]
        assert staged(site.out) == []
        assert visible(site.out) == [good]
        assert os.readlink(site.out / "latest-apache-2.4") == good
        assert_out_agrees_with_registry(site.out, recs)
    finally:
        cluster.stop()


# --------------------------------------------------------------------------
# Composes of one stream at once


def test_latest_link_ends_where_the_registry_says(site, tmp_path, repos):  # noqa: F811
    d = apache(tmp_path, repos)
    for round in range(5):
        procs = [start_compose(site, d) for _ in range(8)]
        for p in procs:
            _, err = finish(p, 600)
            assert p.returncode == 0, err
        latest = site.latest("apache:2.4")["id"]
        assert os.readlink(site.out / "latest-apache-2.4") == latest, f"round {round}"
        assert staged(site.out) == []
    recs = site.list("apache:2.4")
    assert len(recs) == 40 and {r["state"] for r in recs} == {"finished"}
    assert_out_agrees_with_registry(site.out, recs)


# --------------------------------------------------------------------------
# Other hosts, other PID namespaces

HOLDER = textwrap.dedent("""
    import fcntl, sys
    f = open(sys.argv[1], "a")
    fcntl.flock(f, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.read()
""")


@pytest.mark.parametrize("host", ["builder-07.example.org", "this host"])
def test_a_live_compose_elsewhere_keeps_its_staging(site, tmp_path, repos, host):  # noqa: F811
    """A staging directory whose lock a live process holds survives other
    composes, whatever its name says: another host's (its PID means nothing
    here), or this host's with a PID this PID namespace does not have. Once
    the holder is gone, the next compose removes it."""
    host = socket.gethostname() if host == "this host" else host
    d = apache(tmp_path, repos)
    other = site.out / ".staging" / f".staging-apache-2.4-20991231.n.0@{host}-{NO_SUCH_PID}"
    (other / "tree").mkdir(parents=True)
    (other / "tree" / "STATUS").write_text("STARTED\n")
    holder = popen([sys.executable, "-c", HOLDER, other / "lock"], stdin=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == "locked\n"
        first = site.compose_json(d)
        assert (other / "tree" / "STATUS").read_text() == "STARTED\n"
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    second = site.compose_json(d)
    assert not other.exists()
    assert staged(site.out) == []
    assert visible(site.out) == sorted([first["id"], second["id"]])


def test_a_compose_in_another_pid_namespace_survives(site, tmp_path, repos):  # noqa: F811
    """As the issue reproduced it: a compose in a PID namespace of its own
    (`unshare -p`), at a PID this namespace does not have, is paused with
    its output staged while a compose runs here; it then publishes."""
    d = apache(tmp_path, repos)
    # The compose runs as the child of a shell that first spends PIDs, so
    # its PID is one that no process here has.
    pid = next(n for n in range(3, 4096) if not Path(f"/proc/{n}").exists())
    hold = tmp_path / "hold"
    hold.touch()
    script = ('n=2; while [ "$n" -lt ' + str(pid) + ' ]; do /bin/true; n=$((n+1)); done; '
              '"$@"')
    p = popen(["unshare", "-p", "-f", "--mount-proc", "sh", "-c", script, "sh",
               site.bin, *site.compose_args(d, "--json")], env={PAUSE: hold})
    wait_paused(site.out, p, "the compose in its own PID namespace")
    [theirs] = staged(site.out)
    assert theirs.name.endswith(f"-{pid}"), theirs.name
    ours = site.compose_json(d)
    assert theirs.is_dir()
    hold.unlink()
    out, err = finish(p)
    assert p.returncode == 0, err
    rec = json.loads(out)
    assert rec["state"] == "finished"
    assert visible(site.out) == sorted([ours["id"], rec["id"]])
    assert staged(site.out) == []


# --------------------------------------------------------------------------
# Full disk


def _tmpfs(path: Path, size: int):
    path.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "strata-test", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs at {path} (this test runs as root): {r.stderr}",
                    pytrace=False)


def test_full_disk_fails_the_compose_and_leaves_no_staging(site, tmp_path, repos):  # noqa: F811
    """`out` on a small tmpfs, too small by various amounts, so that the
    disk fills at various points of publishing."""
    d = apache(tmp_path, repos)
    roomy = site.compose_json(d)
    page = os.sysconf("SC_PAGE_SIZE")
    files = [f for f in Path(roomy["outputs"]["path"]).rglob("*") if f.is_file()]
    need = sum(-(-f.stat().st_size // page) * page for f in files)
    for fraction in (0.3, 0.6, 0.9, 0.97):
        mnt = tmp_path / f"full-{fraction}"
        _tmpfs(mnt, max(page, int(need * fraction) // page * page))
        try:
            r = site.compose(d, "--out", mnt)
            assert r.returncode == 2, r.stdout + r.stderr
            assert "No space left on device" in r.stderr, r.stderr
            assert staged(mnt) == [], (fraction, staged(mnt))
            assert visible(mnt) == []
            assert not list(mnt.glob("latest-*"))
            rec = site.list("apache:2.4")[0]
            assert rec["state"] == "failed" and "No space left on device" in rec["error"], rec
        finally:
            subprocess.run(["umount", str(mnt)], check=True)


# --------------------------------------------------------------------------
# Python: compose_module in-process, as Koji's builder runs it

PY_COMPOSE = textwrap.dedent("""
    import signal, sys
    import strata
    if sys.argv[5] == "kojid":
        # kojid's own SIGTERM handler, which its task processes inherit.
        def shutdown(*args):
            raise SystemExit
        signal.signal(signal.SIGTERM, shutdown)
    try:
        strata.compose_module(sys.argv[1], sys.argv[2], config=sys.argv[3], cache_dir=sys.argv[4])
    except BaseException as e:
        print(type(e).__name__, flush=True)
        sys.exit(0)
    print("finished", flush=True)
""")


@pytest.mark.parametrize("sig,handlers,ends", [
    (signal.SIGINT, "python", "KeyboardInterrupt"),
    (signal.SIGTERM, "python", -signal.SIGTERM),
    (signal.SIGTERM, "kojid", "SystemExit"),
], ids=["SIGINT-KeyboardInterrupt", "SIGTERM-default", "SIGTERM-kojid"])
def test_python_compose_interrupted(site, tmp_path, repos, sig, handlers, ends):  # noqa: F811
    """A signal to a Python process inside `strata.compose_module`: Python's
    handler runs (KeyboardInterrupt, or kojid's SystemExit) and its
    exception comes out of compose_module, or, where Python leaves the
    signal at its default, the process still dies of it; either way only
    after the compose stopped cleanly."""
    d = apache(tmp_path, repos)
    p = popen([sys.executable, "-c", PY_COMPOSE, d, site.out, site.config, site.cache, handlers],
              env={PAUSE: "600"})
    wait_paused(site.out, p, "compose_module")
    p.send_signal(sig)
    out, err = finish(p)
    if isinstance(ends, str):
        assert (p.returncode, out) == (0, ends + "\n"), err
    else:
        assert p.returncode == ends, out + err
    [rec] = site.list("apache:2.4")
    assert rec["state"] == "failed", rec
    assert "interrupted by" in rec["error"], rec["error"]
    if handlers == "python" and sig == signal.SIGTERM:
        assert "interrupted by SIGTERM" in rec["error"]
    if ends == "KeyboardInterrupt":
        assert "KeyboardInterrupt" in rec["error"]
    if ends == "SystemExit":
        assert "SystemExit" in rec["error"]
    assert staged(site.out) == []
    assert visible(site.out) == []
