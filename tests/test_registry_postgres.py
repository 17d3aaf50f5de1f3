"""The compose registry in PostgreSQL, as Koji's hub and builders share it:
the CLI (`--registry postgresql://…`, `[registry] url`) and the Python
bindings (`registry=`) composing the bundled examples into a real
PostgreSQL 15 (a private cluster, `pgkit.py`), several processes at once.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import strata
from pgkit import pg_cluster, pg_url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CONFIG = EXAMPLES / "strata.toml"
APACHE = EXAMPLES / "modules" / "apache.yaml"
PHP = EXAMPLES / "modules" / "php.yaml"
APACHE_LUA = EXAMPLES / "modules" / "apache-lua.yaml"


def run(strata_bin, *args, rc=0):
    env = dict(os.environ)
    env.pop("STRATA_CONFIG", None)
    r = subprocess.run([str(strata_bin), *map(str, args)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == rc, (f"strata {' '.join(map(str, args))}: exit {r.returncode}, "
                                f"expected {rc}\n--- stdout ---\n{r.stdout}\n--- stderr ---\n{r.stderr}")
    return r


def compose(strata_bin, tmp_path, definition, registry, *extra, rc=0, out=None):
    r = run(strata_bin, "compose", "module", definition, "--config", CONFIG,
            "--out", out or tmp_path / "composes", "--cache-dir", tmp_path / "cache",
            "--registry", registry, "--json", *extra, rc=rc)
    return json.loads(r.stdout)


def db_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_cli_composes_the_examples_into_postgres(strata_bin, tmp_path, pg_cluster, pg_url):  # noqa: F811
    apache = compose(strata_bin, tmp_path, APACHE, pg_url)
    assert apache["state"] == "finished" and apache["id"].startswith("apache-2.4-")
    assert apache["id"].endswith(".n.0")
    php = compose(strata_bin, tmp_path, PHP, pg_url)
    assert php["state"] == "finished"
    assert {(i["kind"], i["ident"]) for i in php["inputs"]} >= {("compose", apache["id"])}
    again = compose(strata_bin, tmp_path, APACHE, pg_url)
    assert again["id"] == apache["id"][:-1] + "1"

    # The rows are in the schema `strata` of that database.
    rows = pg_cluster.psql(db_of(pg_url), "SELECT id, state FROM strata.composes ORDER BY seq")
    assert rows.splitlines() == [f"{apache['id']}|finished", f"{php['id']}|finished",
                                 f"{again['id']}|finished"]

    listed = json.loads(run(strata_bin, "composes", "list", "--registry", pg_url, "--json").stdout)
    assert [r["id"] for r in listed] == [again["id"], php["id"], apache["id"]]
    only = json.loads(run(strata_bin, "composes", "list", "apache:2.4", "--limit", "1",
                          "--registry", pg_url, "--json").stdout)
    assert [r["id"] for r in only] == [again["id"]]
    shown = json.loads(run(strata_bin, "composes", "show", php["id"], "--registry", pg_url,
                           "--json").stdout)
    assert shown == php
    text = run(strata_bin, "composes", "show", php["id"], "--registry", pg_url).stdout
    assert php["id"] in text and apache["id"] in text
    latest = json.loads(run(strata_bin, "latest", "apache:2.4", "--registry", pg_url,
                            "--json").stdout)
    assert latest["id"] == again["id"]
    tree = json.loads(run(strata_bin, "tree", "php:8.2", "--compose", php["id"],
                          "--registry", pg_url, "--json").stdout)
    assert tree["compose_id"] == php["id"]
    assert [n["compose_id"] for n in tree["requires"]] == [apache["id"]]


def test_a_failed_gate_is_recorded_and_never_last_good(strata_bin, tmp_path, pg_url):  # noqa: F811
    good = compose(strata_bin, tmp_path, APACHE, pg_url)
    bad = compose(strata_bin, tmp_path, APACHE_LUA, pg_url, rc=1)
    assert bad["state"] == "failed" and "lua-libs" in json.dumps(bad["report"])
    assert strata.latest_compose("apache", "2.4", registry=pg_url)["id"] == good["id"]
    failed = strata.list_composes(state="failed", registry=pg_url)
    assert [r["id"] for r in failed] == [bad["id"]]


def test_the_configuration_names_the_database(strata_bin, tmp_path, pg_url):  # noqa: F811
    config = tmp_path / "strata.toml"
    config.write_text(CONFIG.read_text().replace('"repos/base"', f'"{EXAMPLES}/repos/base"')
                      + f'[registry]\nurl = "{pg_url}"\n[compose]\nout = "{tmp_path}/out"\n')
    r = run(strata_bin, "compose", "module", APACHE, "--config", config, "--cache-dir",
            tmp_path / "cache", "--json")
    rec = json.loads(r.stdout)
    listed = json.loads(run(strata_bin, "composes", "list", "--config", config, "--json").stdout)
    assert [x["id"] for x in listed] == [rec["id"]]
    assert strata.get_compose(rec["id"], config=config)["state"] == "finished"
    # --registry wins over the configuration; reading creates nothing.
    local = tmp_path / "local.sqlite"
    r = run(strata_bin, "composes", "list", "--config", config, "--registry", local, "--json",
            rc=2)
    assert f"there is no compose registry at {local}" in r.stderr
    assert not local.exists()

    both = tmp_path / "both.toml"
    both.write_text(f'[registry]\nurl = "{pg_url}"\npath = "r.sqlite"\n')
    r = run(strata_bin, "composes", "list", "--config", both, rc=2)
    assert str(both) in r.stderr and "both `path`" in r.stderr


def test_python_composes_into_postgres(tmp_path, pg_cluster, pg_url):  # noqa: F811
    out = tmp_path / "composes"
    res = strata.compose_module(APACHE, out, config=CONFIG, registry=pg_url,
                                cache_dir=tmp_path / "cache")
    assert res["ok"] is True
    rec = res["record"]
    assert strata.latest_compose("apache", "2.4", registry=pg_url) == rec
    assert strata.get_compose(rec["id"], registry=pg_url) == rec
    assert [r["id"] for r in strata.list_composes(name="apache", registry=pg_url)] == [rec["id"]]
    php = strata.compose_module(PHP, out, config=CONFIG, registry=pg_url,
                                cache_dir=tmp_path / "cache")["record"]
    tree = strata.stack_tree("php:8.2", registry=pg_url)
    assert tree["compose_id"] == php["id"]
    assert strata.latest_compose("php", "8.2", registry=pg_url)["id"] == php["id"]
    assert pg_cluster.psql(db_of(pg_url), "SELECT count(*) FROM strata.composes") == "2"

    # A path is still a SQLite file, as str or os.PathLike (and reading
    # one that does not exist creates nothing).
    local = tmp_path / "local.sqlite"
    with pytest.raises(strata.RegistryError, match=f"there is no compose registry at {local}"):
        strata.list_composes(registry=local)
    with pytest.raises(strata.RegistryError, match=f"there is no compose registry at {local}"):
        strata.latest_compose("apache", "2.4", registry=str(local))
    assert not local.exists()


def test_processes_composing_at_once_get_distinct_ids(strata_bin, tmp_path, pg_url):  # noqa: F811
    n = 6
    # Warm the source cache first, so the processes race on the registry.
    first = compose(strata_bin, tmp_path, APACHE, pg_url)

    def one(i):
        return compose(strata_bin, tmp_path, APACHE, pg_url, out=tmp_path / f"out{i}")

    with ThreadPoolExecutor(n) as pool:
        recs = list(pool.map(one, range(n)))
    ids = [r["id"] for r in recs]
    assert len(set(ids)) == n
    base = first["id"][:-len(".0")]
    assert sorted(ids, key=lambda i: int(i.rsplit(".", 1)[1])) == [f"{base}.{k}" for k in range(1, n + 1)]
    assert all(r["state"] == "finished" for r in recs)
    listed = strata.list_composes(name="apache", registry=pg_url)
    assert len(listed) == n + 1
    assert {r["id"] for r in listed} == set(ids) | {first["id"]}


def test_bad_registries_are_clear_errors(strata_bin, tmp_path, pg_cluster):  # noqa: F811
    missing = pg_cluster.url("no_such_db", password="s3cret")
    shown = pg_cluster.url("no_such_db")
    r = run(strata_bin, "composes", "list", "--registry", missing, rc=2)
    assert f"cannot open the compose registry {shown}" in r.stderr
    assert 'database "no_such_db" does not exist' in r.stderr
    assert "s3cret" not in r.stderr
    with pytest.raises(strata.RegistryError) as e:
        strata.list_composes(registry=missing)
    msg = str(e.value)
    assert shown in msg and 'database "no_such_db" does not exist' in msg and "s3cret" not in msg

    r = run(strata_bin, "composes", "list", "--registry", "mysql://root:pw@db/strata", rc=2)
    assert "`mysql://root@db/strata` as a compose registry" in r.stderr
    assert ":pw@" not in r.stderr

    # Nothing listens there: refused, named, and fast.
    closed = "postgresql://postgres@127.0.0.1:1/x"
    r = run(strata_bin, "composes", "list", "--registry", closed, rc=2)
    assert f"cannot open the compose registry {closed}" in r.stderr
