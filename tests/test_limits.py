"""Bounded resources and stalled peers: metadata that decompresses to far
more than it announces (gzip bombs), endless or silent or trickling HTTP
peers (repositories and the Koji hub), FIFOs and devices where repository
files should be, caches that grow past their limits, and a PostgreSQL
registry whose server stops answering.

Every command runs with a subprocess timeout, so a hang fails the test
rather than the suite; the commands themselves are given short limits
through strata.toml, and must fail with exit status 2 and a message that
names the file (or peer) and the limit.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import composekit as ck
import pgkit
import rpmfactory

# One gzip member of 64 MiB of spaces: about 64 KiB. Members are
# concatenated (a multi-member gzip file, which every gzip reader reads
# as one stream), so a bomb of many GiB costs no compression time.
SPACES_MIB = 64
_SPACES = gzip.compress(b" " * (SPACES_MIB << 20), compresslevel=9, mtime=0)
# The same amount of whitespace cut into 1 MiB texts by comments, so no
# single XML token is large: only a limit on the whole file stops it.
_SPLIT = gzip.compress((b" " * (1 << 20) + b"<!---->") * SPACES_MIB, compresslevel=9, mtime=0)

HEAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" '
        b'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="0">\n')
TAIL = b"</metadata>\n"

# A child that would buffer a bomb is stopped by its address space limit
# long before it can take the machine's memory.
ADDRESS_SPACE = 3 << 30
MAX_RSS_MIB = 500


def bomb(gib: int, split: bool = False) -> tuple[bytes, int]:
    """A primary.xml.gz of `gib` GiB of whitespace; returns it and its open size."""
    member = _SPLIT if split else _SPACES
    per = (SPACES_MIB << 20) + (SPACES_MIB * len(b"<!---->") if split else 0)
    n = (gib << 30) // (SPACES_MIB << 20)
    data = gzip.compress(HEAD, mtime=0) + member * n + gzip.compress(TAIL, mtime=0)
    return data, len(HEAD) + per * n + len(TAIL)


def write_repo(root: Path, files: dict[str, bytes], open_sizes: dict[str, int] | None = None) -> Path:
    """A repository whose repomd.xml lists `files` (mdtype -> bytes) with
    their checksums and sizes, and open sizes where given."""
    md = root / "repodata"
    md.mkdir(parents=True, exist_ok=True)
    entries = []
    for mdtype, data in files.items():
        csum = hashlib.sha256(data).hexdigest()
        name = f"{csum}-{mdtype}.xml.gz"
        (md / name).write_bytes(data)
        open_size = (open_sizes or {}).get(mdtype)
        entries.append(
            f'  <data type="{mdtype}">\n    <checksum type="sha256">{csum}</checksum>\n'
            f'    <location href="repodata/{name}"/>\n    <size>{len(data)}</size>\n'
            + (f"    <open-size>{open_size}</open-size>\n" if open_size is not None else "")
            + "  </data>")
    (md / "repomd.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo">\n'
        "  <revision>1</revision>\n" + "\n".join(entries) + "\n</repomd>\n")
    return root


def config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


class Run:
    def __init__(self, rc: int, stdout: str, stderr: str, rss_mib: float):
        self.rc, self.stdout, self.stderr, self.rss_mib = rc, stdout, stderr, rss_mib

    def __str__(self):
        return f"rc={self.rc} rss={self.rss_mib:.0f} MiB\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def strata(strata_bin, *args, cfg: Path | None = None, timeout: float = 120) -> Run:
    """Runs the CLI with an address space limit; returns its exit status,
    output and peak RSS. A run that outlives `timeout` is killed and fails
    the test: it hung."""
    env = dict(os.environ, NO_COLOR="1")
    env.pop("STRATA_CONFIG", None)
    if cfg is not None:
        env["STRATA_CONFIG"] = str(cfg)

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    out_path = Path(os.environ.get("TMPDIR", "/tmp"))
    with open(os.devnull, "rb") as devnull:
        import tempfile
        with tempfile.TemporaryFile(dir=out_path) as out, tempfile.TemporaryFile(dir=out_path) as err:
            proc = subprocess.Popen([str(strata_bin), *map(str, args)], stdin=devnull, stdout=out,
                                    stderr=err, env=env, preexec_fn=limit)
            deadline = time.monotonic() + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    os.wait4(proc.pid, 0)
                    out.seek(0)
                    err.seek(0)
                    pytest.fail(f"strata {' '.join(map(str, args))} hung for {timeout} s\n"
                                f"{err.read().decode(errors='replace')}")
                time.sleep(0.05)
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            return Run(proc.returncode, out.read().decode(errors="replace"),
                       err.read().decode(errors="replace"), usage.ru_maxrss / 1024)


def repoclosure(strata_bin, location, cfg=None, cache: Path | None = None, **kw) -> Run:
    cache_args = ["--cache-dir", cache] if cache else ["--no-cache"]
    return strata(strata_bin, "repoclosure", "--repo", f"r={location}", *cache_args, cfg=cfg, **kw)


# ------------------------------------------------------------ gzip bombs


def test_bomb_in_one_text_is_refused_without_buffering_it(strata_bin, tmp_path):
    data, _ = bomb(10)
    assert len(data) < 16 << 20
    repo = write_repo(tmp_path / "repo", {"primary": data})
    r = repoclosure(strata_bin, repo)
    assert r.rc == 2, r
    assert "-primary.xml.gz" in r.stderr, r
    # The limit on one XML token (text or tag) is what stops it.
    assert "MAX_XML_TOKEN" in r.stderr and "64 MiB" in r.stderr, r
    assert r.rss_mib < MAX_RSS_MIB, r


def test_bomb_with_a_small_open_size_stops_at_the_open_size(strata_bin, tmp_path):
    data, _ = bomb(10)
    repo = write_repo(tmp_path / "repo", {"primary": data}, open_sizes={"primary": 1000})
    r = repoclosure(strata_bin, repo)
    assert r.rc == 2, r
    assert "-primary.xml.gz" in r.stderr, r
    assert "more than the 1000 bytes repomd.xml announces (<open-size>)" in r.stderr, r
    assert r.rss_mib < MAX_RSS_MIB, r


def test_bomb_of_small_texts_stops_at_max_open_size(strata_bin, tmp_path):
    data, _ = bomb(1, split=True)
    repo = write_repo(tmp_path / "repo", {"primary": data})
    cfg = config(tmp_path / "strata.toml", '[repodata]\nmax_open_size = "64 MiB"\n')
    r = repoclosure(strata_bin, repo, cfg=cfg)
    assert r.rc == 2, r
    assert "-primary.xml.gz" in r.stderr, r
    assert "64 MiB" in r.stderr and "[repodata] max_open_size" in r.stderr, r
    assert r.rss_mib < MAX_RSS_MIB, r


def test_open_size_is_enforced_exactly(strata_bin, tmp_path):
    text = HEAD + TAIL
    repo = write_repo(tmp_path / "repo", {"primary": gzip.compress(text, mtime=0)},
                      open_sizes={"primary": len(text) + 1})
    r = repoclosure(strata_bin, repo)
    assert r.rc == 2, r
    assert "-primary.xml.gz" in r.stderr, r
    assert f"repomd.xml says {len(text) + 1} bytes, the file decompresses to {len(text)}" in r.stderr, r
    # The truth passes.
    repo = write_repo(tmp_path / "good", {"primary": gzip.compress(text, mtime=0)},
                      open_sizes={"primary": len(text)})
    assert repoclosure(strata_bin, repo).rc == 0


def test_bomb_in_the_record_store_of_a_compose(strata_bin, tmp_path):
    """The compose path reads primary, filelists and other into records:
    a bomb in filelists.xml is bounded there too."""
    src = rpmfactory.write_md_repo(tmp_path / "src", [{"name": "httpd", "version": "1", "release": "1"}])
    # Keep primary and other; replace filelists by a bomb.
    text = (src / "repodata" / "repomd.xml").read_text()
    files = {}
    for mdtype in ("primary", "other"):
        href = text.split(f'<data type="{mdtype}">')[1].split('<location href="')[1].split('"')[0]
        files[mdtype] = (src / href).read_bytes()
    fl_head = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
               b'<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="1">\n')
    files["filelists"] = (gzip.compress(fl_head, mtime=0) + _SPACES * 160
                          + gzip.compress(b"</filelists>\n", mtime=0))
    repo = write_repo(tmp_path / "bomb", files)
    site = ck.Site(strata_bin, tmp_path / "site")
    d = ck.write_definition(tmp_path / "apache.yaml", ck.definition(packages=["httpd"], repos=[repo]))
    r = strata(strata_bin, *site.compose_args(d, "--metadata-only"))
    assert r.rc == 2, r
    assert "-filelists.xml.gz" in r.stderr and "MAX_XML_TOKEN" in r.stderr, r
    assert r.rss_mib < MAX_RSS_MIB, r


# ------------------------------------------------------------ HTTP peers


class Server(ck.HTTPServer):
    """A loopback HTTP server whose handler is a function of the path:
    `routes[path](handler)` writes the answer; other paths are files under
    `root`. `requests` lists the paths asked for."""

    def __init__(self, root: Path | None = None, routes=None):
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                route = (routes or {}).get(self.path)
                if route is None:
                    return super().do_GET()
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_POST = do_GET

        self.requests: list[str] = []
        super().__init__(Handler, root)


class Silent:
    """Accepts connections (the kernel does, into the backlog) and never
    answers."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        return self

    def __exit__(self, *exc):
        self.sock.close()


def endless(prefix: bytes, stop_after: int = 512 << 20):
    """A route that sends `prefix` and then spaces without end (or, for a
    client that never stops reading, until `stop_after` bytes)."""

    def route(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.end_headers()
        h.wfile.write(prefix)
        chunk = b" " * (1 << 16)
        sent = 0
        while sent < stop_after:
            h.wfile.write(chunk)
            sent += len(chunk)

    return route


def trickle(data: bytes, every: float = 0.2):
    def route(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        for i in range(len(data)):
            h.wfile.write(data[i:i + 1])
            h.wfile.flush()
            time.sleep(every)

    return route


NET = "[network]\nconnect_timeout = 2\nread_timeout = 1\nmin_rate = 1000\nretries = 0\n"


@pytest.fixture(scope="module")
def small_repo(tmp_path_factory):
    return rpmfactory.write_md_repo(tmp_path_factory.mktemp("small") / "repo",
                                    [{"name": "a", "version": "1", "release": "1"}])


def test_endless_repomd_over_http(strata_bin, tmp_path):
    head = b'<?xml version="1.0"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo">\n'
    with Server(routes={"/repo/repodata/repomd.xml": endless(head)}) as srv:
        r = repoclosure(strata_bin, f"{srv.url}/repo")
    assert r.rc == 2, r
    assert f"{srv.url}/repo/repodata/repomd.xml" in r.stderr, r
    assert "REPOMD_MAX_BYTES" in r.stderr and "16 MiB" in r.stderr, r
    assert r.rss_mib < MAX_RSS_MIB, r


def test_endless_primary_over_http_stops_at_its_size(strata_bin, tmp_path, small_repo):
    text = (small_repo / "repodata" / "repomd.xml").read_text()
    href = text.split('<data type="primary">')[1].split('<location href="')[1].split('"')[0]
    size = int(text.split('<data type="primary">')[1].split("<size>")[1].split("<")[0])
    data = (small_repo / href).read_bytes()
    with Server(root=small_repo.parent, routes={f"/repo/{href}": endless(data)}) as srv:
        r = repoclosure(strata_bin, f"{srv.url}/repo")
    assert r.rc == 2, r
    assert f"{srv.url}/repo/{href}" in r.stderr, r
    assert f"more than the {size} bytes repomd.xml announces (<size>)" in r.stderr, r


def test_silent_http_repository(strata_bin, tmp_path):
    cfg = config(tmp_path / "strata.toml", NET)
    with Silent() as srv:
        r = repoclosure(strata_bin, f"{srv.url}/repo", cfg=cfg, timeout=60)
    assert r.rc == 2, r
    assert f"{srv.url}/repo/repodata/repomd.xml" in r.stderr, r
    assert "1 s" in r.stderr and "[network] read_timeout" in r.stderr, r


def test_trickling_http_repository(strata_bin, tmp_path, small_repo):
    text = (small_repo / "repodata" / "repomd.xml").read_text()
    href = text.split('<data type="primary">')[1].split('<location href="')[1].split('"')[0]
    cfg = config(tmp_path / "strata.toml", NET)
    data = (small_repo / href).read_bytes()
    with Server(root=small_repo.parent, routes={f"/repo/{href}": trickle(data)}) as srv:
        r = repoclosure(strata_bin, f"{srv.url}/repo", cfg=cfg, timeout=60)
    assert r.rc == 2, r
    assert f"{srv.url}/repo/{href}" in r.stderr, r
    assert "[network] min_rate" in r.stderr and "1000 bytes/s" in r.stderr, r


def test_a_pause_after_the_first_byte_is_no_error(strata_bin, tmp_path, small_repo):
    """A read may return a single byte: the compression is still recognised
    (its magic is read in full), and a pause shorter than the read timeout
    is no trickle."""
    text = (small_repo / "repodata" / "repomd.xml").read_text()
    href = text.split('<data type="primary">')[1].split('<location href="')[1].split('"')[0]
    data = (small_repo / href).read_bytes()

    def pause(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data[:1])
        h.wfile.flush()
        time.sleep(0.5)
        h.wfile.write(data[1:])

    cfg = config(tmp_path / "strata.toml", NET)
    with Server(root=small_repo.parent, routes={f"/repo/{href}": pause}) as srv:
        r = repoclosure(strata_bin, f"{srv.url}/repo", cfg=cfg)
    assert r.rc == 0, r


def test_server_errors_are_retried_and_client_errors_are_not(strata_bin, tmp_path, small_repo):
    failures = {"left": 2}

    def flaky(h):
        if failures["left"]:
            failures["left"] -= 1
            h.send_error(503)
        else:
            http.server.SimpleHTTPRequestHandler.do_GET(h)

    cfg = config(tmp_path / "strata.toml", NET.replace("retries = 0", "retries = 2"))
    with Server(root=small_repo.parent, routes={"/repo/repodata/repomd.xml": flaky}) as srv:
        r = repoclosure(strata_bin, f"{srv.url}/repo", cfg=cfg)
        assert r.rc == 0, r
        assert srv.requests.count("/repo/repodata/repomd.xml") == 3
        # Retried twice, then given up.
        failures["left"] = 5
        r = repoclosure(strata_bin, f"{srv.url}/repo", cfg=cfg)
        assert r.rc == 2, r
        assert "503" in r.stderr and "3 attempts" in r.stderr, r
    with Server(root=tmp_path) as srv:
        r = repoclosure(strata_bin, f"{srv.url}/missing", cfg=cfg)
        assert r.rc == 2, r
        assert "404" in r.stderr, r
        assert srv.requests == ["/missing/repodata/repomd.xml"]


def test_retries_and_their_log_never_show_a_password(strata_bin, tmp_path):
    """Credentials in a repository URL are sent, but neither the retry log
    (`-v`) nor the final error shows the password."""
    cfg = config(tmp_path / "strata.toml", NET.replace("retries = 0", "retries = 1"))
    with Server(routes={"/repo/repodata/repomd.xml": lambda h: h.send_error(503)}) as srv:
        url = srv.url.replace("http://", "http://rel:s3cret@") + "/repo"
        r = strata(strata_bin, "-v", "repoclosure", "--repo", f"r={url}", "--no-cache", cfg=cfg,
                   timeout=60)
    assert r.rc == 2, r
    assert "retrying" in r.stderr and "503" in r.stderr and "2 attempts" in r.stderr, r
    assert "rel@127.0.0.1" in r.stderr, r
    assert "s3cret" not in r.stderr and "s3cret" not in r.stdout, r


def test_compose_from_a_silent_repository(strata_bin, tmp_path):
    site = ck.Site(strata_bin, tmp_path / "site")
    with open(site.config, "a") as f:
        f.write(NET)
    with Silent() as srv:
        d = ck.write_definition(tmp_path / "apache.yaml",
                                ck.definition(packages=["httpd"], repos=[f"{srv.url}/repo"]))
        r = strata(strata_bin, *site.compose_args(d), timeout=60)
    assert r.rc == 2, r
    assert f"{srv.url}/repo/repodata/repomd.xml" in r.stderr, r
    assert "[network] read_timeout" in r.stderr, r


def test_compose_from_a_stalled_koji_hub(strata_bin, tmp_path):
    site = ck.Site(strata_bin, tmp_path / "site")
    with Silent() as hub:
        with open(site.config, "a") as f:
            f.write(NET + f'[koji]\nhub = "{hub.url}/kojihub"\ntopurl = "{tmp_path}"\ntimeout = 1\n')
        doc = ck.definition(packages=["httpd"], repos=["unused"])
        doc["data"]["source"] = {"koji": {"tag": "f40-build"}}
        d = ck.write_definition(tmp_path / "apache.yaml", doc)
        r = strata(strata_bin, *site.compose_args(d), timeout=60)
    assert r.rc == 2, r
    assert f"{hub.url}/kojihub" in r.stderr and "getTag" in r.stderr, r
    assert "[koji] timeout" in r.stderr, r


# ------------------------------------------------------- FIFOs and devices


def test_fifo_as_repomd_is_refused(strata_bin, tmp_path):
    md = tmp_path / "repo" / "repodata"
    md.mkdir(parents=True)
    os.mkfifo(md / "repomd.xml")
    r = repoclosure(strata_bin, tmp_path / "repo", timeout=60)
    assert r.rc == 2, r
    assert f"{md / 'repomd.xml'}" in r.stderr and "a FIFO (named pipe), not a regular file" in r.stderr, r


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_fifo_or_device_as_primary_is_refused(strata_bin, tmp_path, kind):
    repo = write_repo(tmp_path / "repo", {"primary": gzip.compress(HEAD + TAIL, mtime=0)})
    prim = next((repo / "repodata").glob("*-primary.xml.gz"))
    prim.unlink()
    if kind == "fifo":
        os.mkfifo(prim)
    else:
        prim.symlink_to("/dev/zero")
    r = repoclosure(strata_bin, repo, timeout=60)
    assert r.rc == 2, r
    # A repository file is opened through no symbolic link at all
    # (`confined`), so the link to a device is refused before the device.
    want = ("a FIFO (named pipe), not a regular file" if kind == "fifo"
            else "a symbolic link (to `/dev/zero`)")
    assert str(prim) in r.stderr and want in r.stderr, r


# ------------------------------------------------------------------ caches


def cache_entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if p.name.endswith(".repo") or p.name.startswith("records-"))


def three_repos(tmp_path) -> list[Path]:
    return [rpmfactory.write_md_repo(tmp_path / f"r{i}", [{"name": f"p{i}", "version": "1", "release": "1"}])
            for i in range(3)]


def age(path: Path, days: float):
    t = time.time() - days * 86400
    os.utime(path, (t, t))


def test_cache_past_its_size_is_pruned_least_recently_used_first(strata_bin, tmp_path):
    repos = three_repos(tmp_path)
    cache = tmp_path / "cache"
    for repo in repos:
        assert repoclosure(strata_bin, repo, cache=cache).rc == 0
    entries = cache_entries(cache)
    assert len(entries) == 3
    size = max(p.stat().st_size for p in entries)
    # Room for two entries: the least recently used goes when a new one
    # is written. r1 is used (read from the cache) after r0 and r2, so r0
    # and r2 are older.
    for i, p in enumerate(entries):
        age(p, 3 - i * 0.1)
    r1 = repoclosure(strata_bin, repos[1], cache=cache)
    assert r1.rc == 0
    used = [p for p in cache_entries(cache) if time.time() - p.stat().st_mtime < 3600]
    assert len(used) == 1, "a cache hit marks its entry as used"
    cfg = config(tmp_path / "strata.toml", f'[cache]\nmax_size = {2 * size + size // 2}\n')
    new = rpmfactory.write_md_repo(tmp_path / "r3", [{"name": "p3", "version": "1", "release": "1"}])
    assert repoclosure(strata_bin, new, cache=cache, cfg=cfg).rc == 0
    left = cache_entries(cache)
    assert len(left) == 2 and used[0] in left, left


def test_cache_entries_past_their_age_are_pruned(strata_bin, tmp_path):
    repos = three_repos(tmp_path)
    cache = tmp_path / "cache"
    for repo in repos[:2]:
        assert repoclosure(strata_bin, repo, cache=cache).rc == 0
    old, recent = cache_entries(cache)
    age(old, 40)
    age(recent, 20)
    # The default: 30 days.
    assert repoclosure(strata_bin, repos[2], cache=cache).rc == 0
    left = cache_entries(cache)
    assert old not in left and recent in left and len(left) == 2, left
    # Configured.
    cfg = config(tmp_path / "strata.toml", "[cache]\nmax_age = 10\n")
    repo = rpmfactory.write_md_repo(tmp_path / "r4", [{"name": "p4", "version": "1", "release": "1"}])
    assert repoclosure(strata_bin, repo, cache=cache, cfg=cfg).rc == 0
    assert recent not in cache_entries(cache)


def test_cache_prune_command(strata_bin, tmp_path, small_repo):
    # Entries of both kinds: parsed repositories and record stores.
    site = ck.Site(strata_bin, tmp_path / "site")
    src = rpmfactory.write_md_repo(tmp_path / "src", [{"name": "httpd", "version": "1", "release": "1"}])
    d = ck.write_definition(tmp_path / "apache.yaml", ck.definition(packages=["httpd"], repos=[src]))
    r = strata(strata_bin, *site.compose_args(d, "--metadata-only"))
    assert r.rc == 0, r
    cache = site.cache
    assert repoclosure(strata_bin, small_repo, cache=cache).rc == 0
    entries = cache_entries(cache)
    kinds = {p.suffix for p in entries}
    assert kinds == {".repo", ".strata"}, entries
    stale = cache / ".tmpLeftover"
    stale.write_bytes(b"x" * 10)
    age(stale, 2)
    oldest = entries[0]
    age(oldest, 40)

    r = strata(strata_bin, "cache", "prune", "--cache-dir", cache, "--dry-run")
    assert r.rc == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"Would remove {oldest.name} (") and "unused for 40 days" in lines[0], r
    assert lines[1].startswith("Would remove .tmpLeftover (10 B") and "left over" in lines[1], r
    assert lines[-1].startswith("Would free "), r
    assert f"in {cache}" in lines[-1], r
    assert oldest.exists() and stale.exists()

    r = strata(strata_bin, "cache", "prune", "--cache-dir", cache)
    assert r.rc == 0, r
    assert r.stdout.splitlines()[0].startswith(f"Removed {oldest.name} ("), r
    assert not oldest.exists() and not stale.exists()
    left = cache_entries(cache)
    assert len(left) == len(entries) - 1
    assert f"{len(left)} entries" in r.stdout.splitlines()[-1], r

    r = strata(strata_bin, "cache", "prune", "--cache-dir", cache, "--max-size", "0")
    assert r.rc == 0, r
    assert cache_entries(cache) == []
    last = r.stdout.splitlines()[-1]
    assert last.startswith("Freed ") and "0 entries (0 B) kept" in last, r

    r = strata(strata_bin, "cache", "prune", "--cache-dir", cache, "--max-size", "ten")
    assert r.rc == 2 and "--max-size" in r.stderr, r


def test_cache_settings_are_checked(strata_bin, tmp_path, small_repo):
    cfg = config(tmp_path / "strata.toml", '[cache]\nmax_size = "lots"\n')
    r = repoclosure(strata_bin, small_repo, cfg=cfg)
    assert r.rc == 2 and str(cfg) in r.stderr and "max_size" in r.stderr, r
    cfg = config(tmp_path / "strata.toml", "[network]\nread_timeout = -1\n")
    r = repoclosure(strata_bin, small_repo, cfg=cfg)
    assert r.rc == 2 and str(cfg) in r.stderr and "read_timeout" in r.stderr, r


# ------------------------------------------------------------- PostgreSQL


def cluster_pids(cluster: pgkit.Cluster) -> list[int]:
    """The postmaster and every process it started."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            pids.append(int(stat.parent.name))
    return pids


def test_a_stopped_postgresql_server_fails_composes_list(strata_bin, tmp_path):
    cluster = pgkit.Cluster()
    try:
        url = cluster.url(cluster.create_db())
        cfg = config(tmp_path / "strata.toml",
                     f'[registry]\nurl = "{url}"\nconnect_timeout = 1\nstatement_timeout = 1\n')
        # Reading creates no registry: a writer (here a prune that changes
        # nothing) makes it first.
        r = strata(strata_bin, "composes", "prune", "--dry-run", "--config", cfg)
        assert r.rc == 0, r
        r = strata(strata_bin, "composes", "list", "--config", cfg)
        assert r.rc == 0, r
        pids = cluster_pids(cluster)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            r = strata(strata_bin, "composes", "list", "--config", cfg, timeout=60)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        assert r.rc == 2, r
        assert url in r.stderr, r
        assert "[registry] connect_timeout" in r.stderr, r
        # And it works again once the server does.
        r = strata(strata_bin, "composes", "list", "--config", cfg, "--json")
        assert r.rc == 0 and json.loads(r.stdout) == [], r
    finally:
        cluster.stop()
