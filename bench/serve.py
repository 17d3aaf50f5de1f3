#!/usr/bin/env python3
"""Benchmark: `strata serve` over a PostgreSQL registry of many composes,
beside `strata composes list --json` on the same registry.

Records --composes compose records of --packages packages each
(`rust/registry/examples/registry_scale.rs`, as bench/registry.py does) in
a private PostgreSQL cluster (tests/pgkit.py; fsync off), starts
`strata serve` on loopback, and has --clients clients (threads, one
keep-alive connection each) ask --requests times each, in turn:

- `/composes` (the list page, first page of 50),
- `/api/v1/composes?limit=50`,
- `/api/v1/composes/<id>` (a compose picked at random, whole record),
- `/api/v1/latest/<name>:<stream>`.

It reports p50 and p99 latency per request kind under that load, the
requests a second in all, and the server's peak RSS (VmHWM), then the
CLI's wall time and peak RSS for the same reads (`composes list --json
--limit 50`, `composes show --json`) and for the whole list
(`composes list --json`, every record), against the API's largest answer
(`?limit=` [serve.limits] max_list). The API's answers must equal the
CLI's output byte for byte, or the benchmark fails.

    python3 bench/serve.py [--composes 100000] [--packages 20] [--clients 8]
        [--requests 200] [--smoke] [--example PATH] [--strata PATH]

`--smoke` (1,000 composes, 8 clients x 20 requests) runs in well under a
minute; the clients are Python threads, so on a small machine they take
CPU from the server they measure: the numbers are an upper bound.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import benchkit as bk  # noqa: E402
import pgkit  # noqa: E402

# The most one answer may be (the largest list answer is a few MiB).
MAX_BODY = 64 << 20


def fill(location: str, args) -> dict:
    cmd = ([args.example] if args.example else
           ["cargo", "run", "-q", "--release", "-p", "strata-registry", "--example",
            "registry_scale", "--"])
    r = bk.run([*cmd, location, "--composes", args.composes, "--packages", args.packages])
    return json.loads(r.stdout.strip().splitlines()[-1])


class Server:
    def __init__(self, strata: str, url: str, config: Path):
        self.proc = subprocess.Popen(
            [strata, "serve", "--registry", url, "--listen", "127.0.0.1:0", "--config", config],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stderr], [], [], 60)
        line = self.proc.stderr.readline().decode() if ready else ""
        m = re.match(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.proc.kill()
            raise bk.fail(f"strata serve did not start: {line}")
        self.port = int(m.group(1))

    def peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise bk.fail("strata serve did not stop within 60 s of SIGTERM")
        err = self.proc.stderr.read(1 << 20).decode(errors="replace")
        self.proc.stderr.close()
        if self.proc.returncode != 0:
            raise bk.fail(f"strata serve exited with {self.proc.returncode}:\n{err[-3000:]}")


def fetch(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise bk.fail(f"{path}: more than {MAX_BODY >> 20} MiB")
    if r.status != 200:
        raise bk.fail(f"{path}: HTTP {r.status}: {body[:500]!r}")
    return body


def load(port: int, paths: dict, ids: list[str], clients: int, requests: int):
    """Per kind, every latency in seconds; and the wall time of it all."""
    times: dict[str, list[float]] = {k: [] for k in paths}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client(seed: int):
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine: dict[str, list[float]] = {k: [] for k in paths}
        try:
            for _ in range(requests):
                for kind, path in paths.items():
                    if "{id}" in path:
                        path = path.format(id=rng.choice(ids))
                    start = time.perf_counter()
                    fetch(conn, path)
                    mine[kind].append(time.perf_counter() - start)
        except BaseException as e:  # reported by the main thread
            errors.append(e)
        finally:
            conn.close()
            with lock:
                for k, v in mine.items():
                    times[k].extend(v)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise bk.fail(f"a client failed: {errors[0]}")
    return times, time.perf_counter() - start


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--composes", type=int, help="default 100000; --smoke 1000")
    p.add_argument("--packages", type=int, default=20, help="packages per compose")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, help="per client and kind; default 200, --smoke 20")
    p.add_argument("--smoke", action="store_true", help="a small size, for CI")
    p.add_argument("--example", help="a built registry_scale example to run")
    p.add_argument("--strata", default=os.environ.get("STRATA_BIN",
                                                      str(ROOT / "target/release/strata")))
    args = p.parse_args()
    args.composes = args.composes or (1000 if args.smoke else 100_000)
    args.requests = args.requests or (20 if args.smoke else 200)

    cluster = pgkit.Cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="strata-bench-serve-") as tmp:
            db = cluster.create_db()
            url = cluster.url(db)
            start = time.perf_counter()
            fill(url, args)
            bk.log(f"recorded {args.composes} composes in {time.perf_counter() - start:.1f} s")
            config = Path(tmp) / "strata.toml"
            config.write_text("[serve.limits]\nmax_list = 1000\n")
            env = dict(os.environ)
            env.pop("STRATA_CONFIG", None)
            cli = [args.strata]

            def cli_run(*a):
                return bk.run([*cli, *a, "--registry", url, "--config", config], env=env)

            newest = cli_run("composes", "list", "--json", "--limit", "1000").stdout
            ids = re.findall(r'^    "id": "([^"]+)"', newest, re.M)
            if len(ids) != min(1000, args.composes):
                raise bk.fail(f"composes list --limit 1000 gave {len(ids)} composes")
            paths = {
                "list page": "/composes",
                "api list 50": "/api/v1/composes?limit=50",
                "api compose": "/api/v1/composes/{id}",
                "api latest": "/api/v1/latest/fedora-core:40",
            }
            srv = Server(args.strata, url, config)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
                # The API answers what the CLI prints.
                for path, cmd in [
                    ("/api/v1/composes?limit=50", ["composes", "list", "--json", "--limit", "50"]),
                    (f"/api/v1/composes/{ids[-1]}", ["composes", "show", ids[-1], "--json"]),
                    ("/api/v1/latest/fedora-core:40", ["latest", "fedora-core:40", "--json"]),
                ]:
                    if fetch(conn, path).decode() != cli_run(*cmd).stdout:
                        raise bk.fail(f"{path} differs from strata {' '.join(cmd)}")
                start = time.perf_counter()
                big = fetch(conn, "/api/v1/composes?limit=1000")
                big_s = time.perf_counter() - start
                if big.decode() != newest:
                    raise bk.fail("/api/v1/composes?limit=1000 differs from the CLI's")
                times, wall = load(srv.port, paths, ids, args.clients, args.requests)
                rss = srv.peak_rss_mib()
                # Pages whose query walks much of the registry: the last
                # good compose of every stream (one grouped query), a date
                # range (no index on the date: rows are checked newest
                # first until the page is full), an "until" before every
                # compose (the whole table is walked) and a deep page (the
                # offset is walked). One request each, alone, after the
                # load, and the peak RSS they bring.
                single = []
                for label, path in [
                    ("/latest (per-stream query)", "/latest"),
                    ("/composes?since=… (date in SQL)", "/composes?since=2000-01-01"),
                    ("/composes?until=… (matches nothing)", "/composes?until=2000-01-01"),
                    ("/composes?page=1000 (offset 49,950)", "/composes?page=1000"),
                ]:
                    start = time.perf_counter()
                    fetch(conn, path)
                    single.append((label, time.perf_counter() - start))
                conn.close()
                rss_after = srv.peak_rss_mib()
            finally:
                srv.stop()

            n = sum(len(v) for v in times.values())
            print(f"strata serve over PostgreSQL: {args.composes} composes x {args.packages} "
                  f"packages; {args.clients} clients x {args.requests} requests per kind "
                  f"({n} requests, {n / wall:.0f}/s); server peak RSS {rss:.1f} MiB under the load, "
                  f"{rss_after:.1f} MiB after the whole-registry pages")
            bk.table(["request", "p50 ms", "p99 ms"],
                     [(k, f"{pct(v, 50) * 1000:.2f}", f"{pct(v, 99) * 1000:.2f}")
                      for k, v in times.items()])
            print()
            print("the same reads from the CLI (one process each, median of 3):")
            rows = []
            for label, cmd in [
                ("composes list --json --limit 50", ["composes", "list", "--json", "--limit", "50"]),
                ("composes show --json (one)", ["composes", "show", ids[-1], "--json"]),
                ("latest --json", ["latest", "fedora-core:40", "--json"]),
                ("composes list --json --limit 1000", ["composes", "list", "--json",
                                                       "--limit", "1000"]),
                (f"composes list --json (all {args.composes})", ["composes", "list", "--json"]),
            ]:
                runs = [cli_run(*cmd) for _ in range(3)]
                rows.append((label, f"{statistics.median(r.seconds for r in runs) * 1000:.1f}",
                             f"{max(r.rss_mib for r in runs):.1f}"))
            rows.append(("(serve) /api/v1/composes?limit=1000, one client", f"{big_s * 1000:.1f}",
                         "-"))
            rows += [(f"(serve) {label}, one client", f"{s * 1000:.1f}", "-")
                     for label, s in single]
            bk.table(["command", "ms", "peak RSS MiB"], rows)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
