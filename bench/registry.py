#!/usr/bin/env python3
"""Benchmark: the compose registry at scale, SQLite and PostgreSQL side by
side (the issue's numbers: ~1.3 MB per 5,000-package compose, 393 MB
after ~300, `composes list` loading every package of every compose).

Records --composes composes of one stream with --packages packages per arch
(`rust/registry/examples/registry_scale.rs`, a nightly whose packages
change a little each time), then reports for each backend:

- bytes per compose on disk: the SQLite file (WAL checkpointed), or the
  PostgreSQL relations of the schema `strata` (tables, TOAST, indexes)
  after `VACUUM ANALYZE`;
- seconds to write them all, to list them whole (`list`) and as summaries
  (`list_summaries`, what `strata composes list` reads), and to read the
  last good compose whole and as a summary (`strata latest`).

PostgreSQL is a private cluster (tests/pgkit.py; it runs with fsync off,
so its write times are lower than a real server's).

    python3 bench/registry.py [--composes 300] [--packages 5000] [--arches 1]
        [--smoke] [--example PATH]

`--smoke` (10 composes of 300 packages) runs both backends in seconds;
`--example` names a built `registry_scale` (bench/smoke passes the one
`cargo test` built) instead of `cargo run --release`.
"""

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import pgkit  # noqa: E402


def run_example(location: str, args) -> dict:
    cmd = ([args.example] if args.example else
           ["cargo", "run", "-q", "--release", "-p", "strata-registry", "--example",
            "registry_scale", "--"])
    out = subprocess.run(
        [*cmd, location, "--composes", str(args.composes),
         "--packages", str(args.packages), "--arches", str(args.arches)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        sys.exit(f"benchmark FAILED: registry_scale on {location} exited {out.returncode}:\n"
                 f"{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--composes", type=int, help="default 300; --smoke 10")
    p.add_argument("--packages", type=int, help="default 5000; --smoke 300")
    p.add_argument("--arches", type=int, default=1)
    p.add_argument("--smoke", action="store_true", help="a small size, for CI")
    p.add_argument("--example", help="a built registry_scale example to run")
    args = p.parse_args()
    if args.composes is None:
        args.composes = 10 if args.smoke else 300
    if args.packages is None:
        args.packages = 300 if args.smoke else 5000

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "registry.sqlite"
        r = run_example(str(path), args)
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        r["bytes"] = path.stat().st_size
        rows.append(("sqlite", r))

    cluster = pgkit.Cluster()
    try:
        db = cluster.create_db()
        r = run_example(cluster.url(db), args)
        cluster.psql(db, "VACUUM ANALYZE")
        r["bytes"] = int(cluster.psql(db, (
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'strata' AND c.relkind = 'r'")))
        rows.append(("postgresql", r))
    finally:
        cluster.stop()

    n = args.composes
    print(f"{n} composes x {args.packages} packages x {args.arches} arch(es)")
    print(f"{'backend':<11} {'KB/compose':>10} {'write s':>8} {'list s':>8} "
          f"{'summaries s':>11} {'latest s':>9} {'latest sum s':>12}")
    for name, r in rows:
        print(f"{name:<11} {r['bytes'] / n / 1024:>10.1f} {r['write_s']:>8.2f} "
              f"{r['list_s']:>8.3f} {r['list_summaries_s']:>11.4f} {r['latest_good_s']:>9.4f} "
              f"{r['latest_good_summary_s']:>12.4f}")


if __name__ == "__main__":
    main()
