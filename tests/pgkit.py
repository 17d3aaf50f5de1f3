"""A private, throwaway PostgreSQL cluster for the registry tests.

`initdb` into a temporary directory, `pg_ctl start` listening on loopback
(a free port) and on a Unix socket in that directory, trust
authentication; stopped (`-m immediate`) and deleted at the end of the
session. Debian's server binaries are in `/usr/lib/postgresql/<version>/bin`
(not on PATH); `$STRATA_PG_BINDIR` overrides. initdb refuses to run as
root, so as root the cluster runs as the `postgres` user
(`runuser -u postgres --`), its directory owned by that user.

Fixtures: `pg_cluster` (session) and `pg_url` (a new, empty database per
test). Without PostgreSQL installed they fail, saying what to install;
they never skip. The Rust tests have the same helper
(`rust/registry/tests/common/pgkit.rs`).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def bindir() -> Path:
    env = os.environ.get("STRATA_PG_BINDIR")
    if env:
        if not (Path(env) / "initdb").is_file():
            pytest.fail(f"$STRATA_PG_BINDIR={env} has no initdb", pytrace=False)
        return Path(env)
    found = []
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        for d in root.iterdir():
            if d.name.isdigit() and (d / "bin" / "initdb").is_file():
                found.append((int(d.name), d / "bin"))
    if not found:
        pytest.fail("PostgreSQL is not installed: no /usr/lib/postgresql/<version>/bin/initdb "
                    "(install Debian's `postgresql` package, as .ci/setup does, or set "
                    "$STRATA_PG_BINDIR); the PostgreSQL registry tests need a real server",
                    pytrace=False)
    return max(found)[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self):
        self.bin = bindir()
        self.as_postgres = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="strata-pg-"))
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.port = 0
        self._dbs = itertools.count()
        self._run("initdb", "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
                  "--locale=C", "-D", str(self.data))
        log = self.dir / "server.log"
        for _ in range(5):
            self.port = _free_port()
            r = self._start(check=False)
            if r.returncode == 0:
                return
        text = log.read_text() if log.exists() else ""
        shutil.rmtree(self.dir, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start; its log:\n{text}", pytrace=False)

    def _start(self, check=True):
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                f"-c unix_socket_directories={self.dir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        return self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w",
                         "-t", "60", "-o", opts, "start", check=check)

    def stop_server(self):
        """Stops the server as an administrator would (`-m fast`: clients
        are disconnected, committed data kept)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start_server(self):
        """Starts a server stopped with stop_server(), on the same port."""
        self._start()

    def _run(self, tool, *args, check=True):
        cmd = [str(self.bin / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}",
                        pytrace=False)
        return r

    def url(self, db: str, user: str = "postgres", password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def psql(self, db: str, sql: str) -> str:
        r = subprocess.run([str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
                            "-c", sql], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"psql {sql!r}: {r.stderr}"
        return r.stdout.strip()

    def create_db(self) -> str:
        """A new, empty database; returns its name."""
        name = f"t{next(self._dbs)}"
        self.psql("postgres", f"CREATE DATABASE {name}")
        return name

    def stop(self):
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster():
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """The URL of a new, empty database in the session's cluster."""
    return pg_cluster.url(pg_cluster.create_db())
