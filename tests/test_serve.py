"""`strata serve` end to end: a real server on loopback over real composes
(a php → apache → base-runtime stack, a failed gate, hostile strings) in
SQLite and PostgreSQL; pages loaded and links clicked in headless
Chromium; the API compared byte for byte with `strata … --json`; log
files, XSS, traversal, 404s, a registry that goes away, and events."""

from __future__ import annotations

import html
import json
import sqlite3
import os
import re
import select
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import browserkit as bk
import composekit as ck
import rpmfactory
import test_stack as ts
from pgkit import pg_cluster, pg_url  # noqa: F401 (fixtures)

BASE = "/strata"
# What a hostile registry or compose folder may hold.
XSS_SUMMARY = "<script>alert(7)</script>"
XSS_DEP = "lib(<img/src=x/onerror=alert(5)>)"
XSS_LOG = "<img src=x onerror=alert(2)>.log"
XSS_LOG_BODY = "<script>alert(3)</script>\n"
XSS_DEF = "<b onmouseover=alert(1)>.yaml"
XSS_SRC = [
    {"name": "okpkg", "version": "1", "release": "1", "arch": "x86_64"},
    {"name": "evil", "version": "1", "release": "1", "arch": "x86_64", "requires": [XSS_DEP]},
]


class Server:
    """`strata serve` on a free loopback port, stopped with SIGTERM (and
    expected to exit 0) at the end."""

    def __init__(self, strata_bin: Path, *args, config: Path | None = None, base=BASE):
        cmd = [str(strata_bin), "serve", "--listen", "127.0.0.1:0", *map(str, args)]
        if base:
            cmd += ["--base-path", base]
        if config:
            cmd += ["--config", str(config)]
        env = dict(os.environ)
        env.pop("STRATA_CONFIG", None)
        # stdout holds accepted events only: a few lines, read at the end.
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env)
        # Warnings about the settings come first, then the address.
        self.warnings = []
        while True:
            ready, _, _ = select.select([self.proc.stderr], [], [], 60)
            assert ready, "strata serve printed nothing within 60 s"
            line = self.proc.stderr.readline().decode()
            if " WARN " not in line:
                break
            self.warnings.append(line)
        m = re.match(r"listening on (http://127\.0\.0\.1:\d+)(\S*)/ ", line)
        assert m, f"strata serve did not start: {line}{self._rest()}"
        self.root = m.group(1)
        self.url = m.group(1) + m.group(2)

    def _rest(self) -> str:
        self.proc.kill()
        return self.proc.stderr.read().decode()

    def stop(self) -> str:
        """Stops the server; returns what it wrote on stdout."""
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err.decode()
        return out.decode()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()


def get(url: str, data: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def text_of(page: bytes) -> str:
    """A page's text without its tags: what a reader sees."""
    return html.unescape(re.sub(r"<[^>]*>", " ", page.decode()))


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-src")
    return {**ts.make_repos(root), "xss": rpmfactory.make_repo(root / "xss-src", XSS_SRC)}


def compose_all(site: ck.Site, defs: Path, repos, *extra) -> dict:
    """The stack, a failed gate with a suggestion, and two hostile
    composes; returns their records by role."""
    c = {
        "base": site.compose_json(ts.base(defs, repos), *extra),
        "apache": site.compose_json(ts.apache(defs, repos), *extra),
        "php": site.compose_json(ts.php(defs, repos), *extra),
        # httpd without httpd-tools: the gate fails and suggests it.
        "failed": site.compose_json(ts.apache(defs, repos, packages=("httpd",)), *extra, rc=1),
        "xss": site.compose_json(ck.write_definition(defs / "x" / XSS_DEF, ck.definition(
            name="xss", stream="1", packages=("okpkg",), repos=[repos["xss"]],
            requires={"platform": "f40"}, summary=XSS_SUMMARY)), *extra),
        "xss_gate": site.compose_json(ck.write_definition(defs / "xss2.yaml", ck.definition(
            name="xss", stream="2", packages=("evil",), repos=[repos["xss"]],
            requires={"platform": "f40"})), *extra, rc=1),
    }
    logs = Path(c["xss"]["outputs"]["path"]) / "logs" / "x86_64"
    (logs / XSS_LOG).write_text(XSS_LOG_BODY)
    return c


@pytest.fixture(scope="module")
def site(strata_bin, tmp_path_factory, repos):
    root = tmp_path_factory.mktemp("serve-site")
    s = ck.Site(strata_bin, root / "site", platforms={"f40": [repos["platform"]]})
    s.composes = compose_all(s, root / "defs", repos)
    return s


@pytest.fixture(scope="module")
def server(strata_bin, site):
    with Server(strata_bin, config=site.config) as srv:
        yield srv


def cli_json(site: ck.Site, *args) -> bytes:
    return site.run(*args, "--json", "--config", site.config, check_rc=0).stdout.encode()


def test_the_api_answers_what_the_cli_prints(site, server):
    c = site.composes
    for query, args in [
        ("", ["composes", "list", "--limit", "1000"]),
        ("?limit=2", ["composes", "list", "--limit", "2"]),
        ("?module=apache", ["composes", "list", "apache", "--limit", "1000"]),
        ("?module=apache:2.4&state=failed", ["composes", "list", "apache:2.4", "--state",
                                             "failed", "--limit", "1000"]),
    ]:
        status, headers, body = get(f"{server.url}/api/v1/composes{query}")
        assert (status, headers["Content-Type"]) == (200, "application/json"), body
        assert body == cli_json(site, *args), query
    for role in c:
        cid = c[role]["id"]
        status, _, body = get(f"{server.url}/api/v1/composes/{cid}")
        assert status == 200
        assert body == cli_json(site, "composes", "show", cid)
    for module in ("php:8.2", "apache:2.4", "base-runtime:f40"):
        assert get(f"{server.url}/api/v1/latest/{module}")[2] == cli_json(site, "latest", module)
        assert get(f"{server.url}/api/v1/stacks/{module}")[2] == cli_json(site, "tree", module)
    # The latest good apache is the finished one, not the newer failure.
    assert json.loads(get(f"{server.url}/api/v1/latest/apache:2.4")[2])["id"] == c["apache"]["id"]


def test_chromium_loads_the_pages_and_follows_the_stack_picture(site, server, tmp_path):
    c = site.composes
    with bk.Chromium(1000, 700) as browser:
        browser.goto(f"{server.url}/composes")
        page = browser.html()
        for role in c:
            assert c[role]["id"] in page, role

        browser.goto(f"{server.url}/stacks/php:8.2")
        shot = bk.save(browser.screenshot(), tmp_path / "stack.png")
        width, height, _ = bk.png_pixels(shot.read_bytes())
        assert (width, height) == (1000, 700)
        # The boxes are drawn: the finished fill and the text's colour
        # are on screen, not only a blank page.
        colours = bk.colours_in(shot.read_bytes(), (0, 0, 1000, 700))
        assert (0xda, 0xfb, 0xe1) in colours
        assert len(colours) > 20

        # Click apache's box in the picture: its compose page opens.
        browser.click(f'svg#stack a[href$="/composes/{c["apache"]["id"]}"]')
        assert browser.url() == f"{server.url}/composes/{c['apache']['id']}"
        assert f'<h1 id="compose-id">{c["apache"]["id"]}</h1>' in browser.html()
        # Its input links to the compose of base-runtime it used.
        browser.click(f'#inputs a[href$="/composes/{c["base"]["id"]}"]')
        assert browser.url() == f"{server.url}/composes/{c['base']['id']}"

        browser.goto(f"{server.url}/latest")
        page = browser.html()
        for role in ("base", "apache", "php", "xss"):
            assert c[role]["id"] in page
        assert c["failed"]["id"] not in page


def test_a_compose_page_shows_gate_report_timings_and_logs(site, server):
    c = site.composes
    status, _, body = get(f"{server.url}/composes/{c['failed']['id']}")
    assert status == 200
    text = text_of(body)
    assert "failed" in text
    # The gate report as the CLI prints it, suggestion and hint included.
    assert "unresolved deps (1):" in text and "httpd-tools" in text
    assert "suggested additions that close the set:" in text
    assert "add it to the manifest with a reason" in text

    status, _, body = get(f"{server.url}/composes/{c['php']['id']}")
    text = text_of(body)
    for phase in c["php"]["timings"]:
        assert phase in text
    for nevra in c["php"]["packages"]["x86_64"]:
        assert nevra in text
    assert "x86_64/repoclosure.log" in text
    status, headers, log = get(
        f"{server.url}/composes/{c['php']['id']}/logs/x86_64/repoclosure.log")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert log == (Path(c["php"]["outputs"]["path"]) / "logs/x86_64/repoclosure.log").read_bytes()


def test_hostile_strings_are_escaped(site, server):
    c = site.composes
    pages = {
        "summary and definition path": f"{server.url}/composes/{c['xss']['id']}",
        "gate report": f"{server.url}/composes/{c['xss_gate']['id']}",
        "module name in a filter": f"{server.url}/composes?module=%3Cscript%3Ealert(9)%3C/script%3E",
        "module name in a stack": f"{server.url}/stacks/%3Cscript%3Ealert(9)%3C%2Fscript%3E:1",
    }
    raw = [XSS_SUMMARY, XSS_DEP, XSS_LOG, XSS_DEF, "<script>alert(9)</script>"]
    shown = {}
    for what, url in pages.items():
        _, headers, body = get(url)
        page = body.decode()
        for r in raw:
            assert r not in page, (what, r)
        assert "script-src" not in headers["Content-Security-Policy"]
        assert headers["Content-Security-Policy"].startswith("default-src 'none'")
        shown[what] = text_of(body)
    # Escaped, they are still shown as text.
    assert XSS_SUMMARY in shown["summary and definition path"]
    assert XSS_DEF in shown["summary and definition path"]
    assert XSS_LOG in shown["summary and definition path"]
    assert XSS_DEP in shown["gate report"]
    assert "<script>alert(9)</script>" in shown["module name in a stack"]
    # The hostile log is served, as plain text that is never sniffed.
    _, _, body = get(pages["summary and definition path"])
    link = re.search(r'href="([^"]*/logs/x86_64/[^"]*onerror[^"]*)"', body.decode()).group(1)
    status, headers, log = get(server.root + html.unescape(link))
    assert (status, log.decode()) == (200, XSS_LOG_BODY)
    assert headers["Content-Type"] == "text/plain; charset=utf-8"

    # In the browser, nothing of it became an element.
    with bk.Chromium() as browser:
        for what, url in pages.items():
            browser.goto(url)
            root = browser.page("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
            for sel in ("script", "img", "b[onmouseover]"):
                found = browser.page("DOM.querySelector", {"nodeId": root, "selector": sel})
                assert found["nodeId"] == 0, (what, sel)


def test_log_files_come_only_from_the_compose_folder(site, server):
    php = site.composes["php"]
    logs = Path(php["outputs"]["path"]) / "logs"
    # A symlink planted in the folder, to the registry.
    (logs / "x86_64" / "registry.log").symlink_to(site.registry)
    (logs / "up").symlink_to(logs.parent.parent)
    url = f"{server.url}/composes/{php['id']}/logs"
    for path, status in [
        ("x86_64/registry.log", 403),
        ("..%2f..%2fregistry.sqlite", 403),
        ("x86_64/..%2f..%2f..%2fregistry.sqlite", 403),
        ("%2e%2e/%2e%2e/registry.sqlite", 403),
        ("x86_64/%2e%2e%2f%2e%2e%2fcompose%2fmetadata%2fcomposeinfo.json", 403),
        ("up/registry.sqlite", 403),
        ("x86_64", 403),
        ("x86_64/nothing.log", 404),
    ]:
        got, _, body = get(f"{url}/{path}")
        assert got == status, (path, body)
        assert b"SQLite format" not in body
    # The listing leaves links out.
    _, _, body = get(f"{server.url}/composes/{php['id']}")
    assert "registry.log" not in text_of(body)
    # A compose that published nothing has no logs.
    got, _, _ = get(f"{server.url}/composes/{site.composes['failed']['id']}/logs/x86_64/a.log")
    assert got == 404


def test_unknown_ids_and_bad_queries_are_error_pages(server):
    for path, status, message in [
        ("/composes/apache-2.4-20991231.n.0", 404,
         "no compose `apache-2.4-20991231.n.0` in the registry"),
        ("/stacks/nothing:1", 404, "nothing:1 has no good compose"),
        ("/stacks/nothing", 400, "`nothing` is not NAME:STREAM"),
        ("/no/such/page", 404, "no page here"),
        ("/composes?state=done", 400, "bad query parameter `state`: unknown compose state `done`"),
        ("/composes?since=2026-13-01", 400, "`2026-13-01` is not a date (YYYY-MM-DD)"),
        ("/composes?page=0", 400, "`0` is not a page number"),
        ("/latest?page=x", 400, "`x` is not a page number"),
    ]:
        got, headers, body = get(server.url + path)
        assert got == status, (path, body)
        assert headers["Content-Type"].startswith("text/html")
        assert message in text_of(body), path
    for path, status, message in [
        ("/api/v1/composes/nope", 404, "no compose `nope` in the registry"),
        ("/api/v1/latest/nothing:1", 404, "nothing:1 has no good compose"),
        ("/api/v1/composes?limit=100000", 400, "[serve.limits] max_list"),
        ("/api/v1/composes?offset=-1", 400, "`-1` is not a number of composes to skip"),
        ("/api/v1/composes?until=soon", 400, "`soon` is not a date (YYYY-MM-DD)"),
    ]:
        got, headers, body = get(server.url + path)
        assert (got, headers["Content-Type"]) == (status, "application/json"), path
        assert message in json.loads(body)["error"]
    # Outside the base path there is nothing.
    assert get(server.root + "/composes")[0] == 404


def test_pages_filter_and_paginate(strata_bin, site, tmp_path):
    config = tmp_path / "strata.toml"
    config.write_text(site.config.read_text() + "[serve.limits]\npage_size = 2\n")
    ids = [r["id"] for r in site.list()]
    assert len(ids) == 6
    with Server(strata_bin, config=config) as srv:
        with bk.Chromium() as browser:
            browser.goto(f"{srv.url}/composes")
            seen = []
            for _ in range(3):
                page = browser.html()
                seen += [i for i in ids if f">{i}</a>" in page]
                if 'rel="next"' not in page:
                    break
                browser.click('a[rel="next"]')
            assert seen == ids
            assert 'rel="next"' not in browser.html()
        page = get(f"{srv.url}/composes?module=apache&state=finished")[2].decode()
        assert [i for i in ids if f">{i}</a>" in page] == [site.composes["apache"]["id"]]
        today = site.composes["php"]["date"]
        day = f"{today[:4]}-{today[4:6]}-{today[6:]}"
        page = get(f"{srv.url}/composes?since={day}&until={day}")[2].decode()
        assert f">{ids[0]}</a>" in page and f">{ids[1]}</a>" in page
        page = get(f"{srv.url}/composes?since=2999-01-01")[2].decode()
        assert "No composes match." in page
    # The registry filters by date and pages itself: a date filter sees
    # every compose, and /latest every stream's last good compose, a page
    # at a time (max_scan, which once bounded both, is accepted and
    # ignored).
    config.write_text(site.config.read_text() + "[serve.limits]\npage_size = 3\nmax_scan = 3\n")
    with Server(strata_bin, config=config) as srv:
        assert "max_scan is no longer used" in "".join(srv.warnings)
        shown = []
        for n in (1, 2):
            page = get(f"{srv.url}/composes?since={day}&until={day}&page={n}")[2].decode()
            shown += [i for i in ids if f">{i}</a>" in page]
        assert shown == ids
        good = [(r["name"], r["stream"], r["id"]) for r in site.list("--state", "finished")]
        latest = {}
        for name, stream, cid in good:
            latest.setdefault((name, stream), cid)
        assert len(latest) == 4  # base-runtime, apache, php, xss:1
        rows = []
        for n in (1, 2):
            page = get(f"{srv.url}/latest?page={n}")[2].decode()
            rows += re.findall(r'/composes/([^"]+)">', page)
            assert ('rel="next"' in page) == (n == 1)
        # Newest first: the streams composed most recently lead.
        assert rows == sorted(latest.values(), key=ids.index)
        assert site.composes["base"]["id"] in rows
        # The API and the CLI page and filter alike.
        for query, args in [
            (f"?since={day}&offset=2&limit=2", ["--since", day, "--offset", "2", "--limit", "2"]),
            (f"?until={day}&module=apache", ["apache", "--until", day, "--limit", "1000"]),
            ("?since=2999-01-01", ["--since", "2999-01-01", "--limit", "1000"]),
        ]:
            body = get(f"{srv.url}/api/v1/composes{query}")[2]
            assert body == cli_json(site, "composes", "list", *args), query
        assert [r["id"] for r in json.loads(get(
            f"{srv.url}/api/v1/composes?offset=2&limit=2")[2])] == ids[2:4]


def test_a_registry_that_is_not_there_at_start_is_an_error(strata_bin, tmp_path):
    r = subprocess.run([strata_bin, "serve", "--registry", tmp_path / "typo.sqlite",
                        "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"error: there is no compose registry at {tmp_path / 'typo.sqlite'}" in r.stderr
    assert not (tmp_path / "typo.sqlite").exists()


def test_a_registry_that_goes_away_gives_503_and_recovers(strata_bin, site, tmp_path):
    copy = tmp_path / "registry.sqlite"
    shutil.copy(site.registry, copy)
    with Server(strata_bin, "--registry", copy, config=site.config) as srv:
        php = site.composes["php"]["id"]
        assert get(f"{srv.url}/composes/{php}")[0] == 200
        moved = tmp_path / "registry.moved"
        copy.rename(moved)
        status, _, body = get(f"{srv.url}/composes/{php}")
        assert status == 503
        assert "the compose registry is unavailable" in text_of(body)
        assert f"there is no compose registry at {copy}" in text_of(body)
        status, _, body = get(f"{srv.url}/api/v1/composes")
        assert status == 503
        assert json.loads(body)["error"] == "the compose registry is unavailable"
        moved.rename(copy)
        assert get(f"{srv.url}/composes/{php}")[0] == 200
        assert get(f"{srv.url}/api/v1/composes?limit=1000")[2] == cli_json(
            site, "composes", "list", "--limit", "1000")


TOKEN = "s3cret-token-for-tests-0123456789"


def test_events_need_a_token_and_are_checked(strata_bin, site, tmp_path):
    good = json.dumps({"kind": "build", "source": "koji", "nvr": "httpd-2.4.58-1.fc40",
                       "tag": "f40-build"}).encode()
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    # Off without a token.
    with Server(strata_bin, config=site.config) as srv:
        status, _, body = get(f"{srv.url}/api/v1/events", good, auth)
        assert status == 404
        assert "events are off" in json.loads(body)["error"]

    config = tmp_path / "strata.toml"
    config.write_text(site.config.read_text() + f'[serve]\ntoken = "{TOKEN}"\n'
                      "[serve.limits]\nmax_event_size = 1024\nevents_per_minute = 3\n")
    with Server(strata_bin, config=config) as srv:
        url = f"{srv.url}/api/v1/events"
        assert get(url, good, {})[0] == 401
        assert get(url, good, {"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
        status, _, body = get(url, good, auth)
        assert status == 202
        reply = json.loads(body)
        assert reply["accepted"] == json.loads(good)
        # Without a catalog nothing is planned, and the answer says why.
        assert reply["impact"]["plan"] == {"steps": [], "left_alone": {}}
        assert reply["note"] == (f"no catalog is configured ([chain] catalog in {config}): "
                                 "nothing is planned")
        status, _, body = get(url, b"{" + b" " * 2000 + b"}", auth)
        assert status == 413 and "at most 1024 bytes" in json.loads(body)["error"]
        status, _, body = get(url, json.dumps({"kind": "commit", "source": "forge",
                                               "repo": "r", "branch": "main",
                                               "commit": "not-hex"}).encode(), auth)
        assert status == 422 and "commit hash" in json.loads(body)["error"]
        # The fourth within the minute (the 413 and the 422 counted) waits.
        status, headers, body = get(url, good, auth)
        assert status == 429
        assert int(headers["Retry-After"]) > 0
        assert "events_per_minute" in json.loads(body)["error"]
        out = srv.stop()
    # Each accepted event is one JSON line on stdout, nothing else.
    assert [json.loads(line) for line in out.splitlines()] == [json.loads(good)]


def test_postgres_registry(strata_bin, tmp_path, repos, pg_cluster, pg_url):  # noqa: F811
    s = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})
    text = s.config.read_text()
    s.config.write_text(text.replace(f'[registry]\npath = "{s.registry}"\n',
                                     f'[registry]\nurl = "{pg_url}"\nstatement_timeout = 10\n'
                                     'connect_timeout = 5\n'))
    c = compose_all(s, tmp_path / "defs", repos)
    with Server(strata_bin, config=s.config) as srv:
        assert get(f"{srv.url}/api/v1/composes")[2] == cli_json(
            s, "composes", "list", "--limit", "1000")
        assert get(f"{srv.url}/api/v1/composes/{c['php']['id']}")[2] == cli_json(
            s, "composes", "show", c["php"]["id"])
        assert get(f"{srv.url}/api/v1/latest/php:8.2")[2] == cli_json(s, "latest", "php:8.2")
        with bk.Chromium() as browser:
            browser.goto(f"{srv.url}/stacks/php:8.2")
            browser.click(f'svg#stack a[href$="/composes/{c["base"]["id"]}"]')
            assert browser.url() == f"{srv.url}/composes/{c['base']['id']}"
        # The database goes away, and comes back.
        pg_cluster.stop_server()
        try:
            status, _, body = get(f"{srv.url}/api/v1/composes")
            assert status == 503, body
            assert get(f"{srv.url}/composes")[0] == 503
        finally:
            pg_cluster.start_server()
        assert get(f"{srv.url}/api/v1/composes")[2] == cli_json(
            s, "composes", "list", "--limit", "1000")


# A build event is any NVR-shaped text: a sender may be hostile.
XSS_NVR = "<img/src=x/onerror=alert(6)>-1-1"
XSS_REASON = "<script>alert(4)</script>"


@pytest.fixture(scope="module")
def chained(strata_bin, tmp_path_factory):
    """test_chain's world after a chain whose middle step fails its test
    (with a hostile output, so a hostile reason), caused by a rebuilt
    libfoo and a hostile build event; and a container image on apache's
    last good stack (php's mixes two base-runtime composes)."""
    import test_artifacts as ta
    import test_chain as tc
    world = tc.World(strata_bin, tmp_path_factory.mktemp("serve-chain"))
    world.before = world.compose_all()
    world.policy("    - match: 'apache:*'\n      tests:\n        - {name: smoke, run: "
                 f"[sh, -c, 'echo \"{XSS_REASON}\"; exit 1']}}\n    - match: '*:*'\n")
    world.rebuild_libfoo()
    r = world.chain_run("--build", "libfoo-1.0-2.fc40", "--build", XSS_NVR, rc=1)
    world.chain = world.show(tc.chain_id_of(r))
    doc = ta.artifact_doc("httpd-web", "container",
                          contents=[{"module": "apache:2.4", "profile": "default"}])
    path = ck.write_definition(world.root / "artifacts" / "httpd-web.yaml", doc)
    world.artifact = json.loads(world.site.run(
        "compose", "artifact", path, "--config", world.site.config, "--json",
        env={"SOURCE_DATE_EPOCH": ta.EPOCH}, check_rc=0).stdout)
    return world


def test_chains_and_artifacts_answer_what_the_cli_prints(strata_bin, chained):
    site, chain, art = chained.site, chained.chain, chained.artifact
    assert [s["state"] for s in chain["steps"]] == ["finished", "failed", "finished"]
    with Server(strata_bin, config=site.config) as srv:
        for url, args in [
            ("/api/v1/chains", ["chain", "list"]),
            ("/api/v1/chains?limit=1", ["chain", "list", "--limit", "1"]),
            (f"/api/v1/chains/{chain['id']}", ["chain", "show", chain["id"]]),
            ("/api/v1/artifacts", ["artifacts", "list", "--limit", "1000"]),
            (f"/api/v1/artifacts/{art['id']}", ["artifacts", "show", art["id"]]),
        ]:
            status, headers, body = get(srv.url + url)
            assert (status, headers["Content-Type"]) == (200, "application/json"), body
            assert body == cli_json(site, *args), url
        module = chained.before["php"]["id"]
        for path, status, message in [
            ("/chains/chain-20991231.0", 404, "no chain `chain-20991231.0` in the registry"),
            (f"/artifacts/{module}", 404, f"no artifact compose `{module}` in the registry"),
            ("/artifacts/nope", 404, "no artifact compose `nope` in the registry"),
        ]:
            got, _, body = get(srv.url + path)
            assert got == status and message in text_of(body), (path, body)
            got, _, body = get(srv.url + "/api/v1" + path)
            assert got == status and json.loads(body)["error"] == message, path


def test_chain_pages_show_the_plan_steps_and_reasons_escaped(strata_bin, chained):
    site, chain, art = chained.site, chained.chain, chained.artifact
    base, apache, php = chain["steps"]
    with Server(strata_bin, config=site.config) as srv:
        _, headers, body = get(f"{srv.url}/chains")
        page = body.decode()
        assert f'/chains/{chain["id"]}">{chain["id"]}</a>' in page
        assert XSS_NVR not in page and f"build {XSS_NVR}" in text_of(body)

        _, _, body = get(f"{srv.url}/chains/{chain['id']}")
        page, text = body.decode(), text_of(body)
        for raw in (XSS_NVR, XSS_REASON):
            assert raw not in page
        assert f"build libfoo-1.0-2.fc40 build {XSS_NVR}" in " ".join(text.split())
        # Each step: its state, its compose linked, why the plan has it,
        # and the reason it ended as it did (escaped, still readable).
        steps = re.findall(r"<tr>\s*<td>(\d)</td>.*?</tr>", page, re.S)
        assert steps == ["1", "2", "3"]
        for s in chain["steps"]:
            assert f'/composes/{s["compose_id"]}">{s["compose_id"]}</a>' in page
        assert ("selection: x86_64: libfoo-0:1.0-1.fc40.x86_64 → "
                "libfoo-0:1.0-2.fc40.x86_64") in text
        assert "input compose: base-runtime:f40 is recomposed" in text
        assert "input compose: apache:2.4 is recomposed" in text
        assert f"test smoke failed: {XSS_REASON}" in text
        assert php["reason"] in text
        assert "smoke: failed" in " ".join(text.split())
        left = re.search(r'<table id="left-alone">.*?</table>', page, re.S).group(0)
        # tools reads no repository that has the (hostile) build the chain
        # was started with: not known to be up to date, and said so, escaped
        assert "tools:1" in left and "&lt;img&#x2f;src" in left
        assert f"build {XSS_NVR} not in the repository yet" in text_of(left.encode())

        # The failed apache compose names the chain and how its test went.
        _, _, body = get(f"{srv.url}/composes/{apache['compose_id']}")
        page = body.decode()
        assert f'<a href="{BASE}/chains/{chain["id"]}">{chain["id"]}</a>' in page
        assert re.search(r'<table id="tests">.*smoke.*failed', page, re.S)
        assert XSS_NVR not in page

        # The artifact: kind, build ID, inputs linking to their composes.
        _, _, body = get(f"{srv.url}/artifacts")
        page = body.decode()
        assert f'/artifacts/{art["id"]}">{art["id"]}</a>' in page
        assert art["outputs"]["build_id"] in page
        assert chained.before["tools"]["id"] not in page
        _, _, body = get(f"{srv.url}/artifacts/{art['id']}")
        page = body.decode()
        assert "container httpd-web (x86_64)" in text_of(body)
        assert f'<td id="build-id">{art["outputs"]["build_id"]}</td>' in page
        inputs = [i["ident"] for i in art["inputs"] if i["kind"] == "compose"]
        assert chained.before["apache"]["id"] in inputs
        for ident in inputs:
            assert f'/composes/{ident}">{ident}</a>' in page

        with bk.Chromium() as browser:
            browser.goto(f"{srv.url}/chains")
            browser.click(f'#chains a[href$="/chains/{chain["id"]}"]')
            assert browser.url() == f"{srv.url}/chains/{chain['id']}"
            root = browser.page("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
            for sel in ("script", "img"):
                found = browser.page("DOM.querySelector", {"nodeId": root, "selector": sel})
                assert found["nodeId"] == 0, sel
            browser.click(f'#steps a[href$="/composes/{php["compose_id"]}"]')
            assert browser.url() == f"{srv.url}/composes/{php['compose_id']}"
            browser.click(f'#chain a[href$="/chains/{chain["id"]}"]')
            assert browser.url() == f"{srv.url}/chains/{chain['id']}"
            browser.goto(f"{srv.url}/artifacts/{art['id']}")
            apache_id = chained.before["apache"]["id"]
            browser.click(f'#inputs a[href$="/composes/{apache_id}"]')
            assert browser.url() == f"{srv.url}/composes/{apache_id}"


def test_an_event_is_answered_with_the_plan_it_causes(strata_bin, chained, tmp_path):
    site = chained.site
    config = tmp_path / "strata.toml"
    # The catalog and policy entries are relative to the configuration.
    text = site.config.read_text().replace('"policy.yaml"', f'"{site.root / "policy.yaml"}"')
    text = text.replace('"modules/*.yaml"', f'"{site.root / "modules" / "*.yaml"}"')
    config.write_text(text + f'[serve]\ntoken = "{TOKEN}"\n')
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    tools = chained.before["tools"]["id"]
    count = len(site.list())
    with Server(strata_bin, config=config) as srv:
        def post(event: dict) -> dict:
            status, _, body = get(f"{srv.url}/api/v1/events", json.dumps(event).encode(), auth)
            assert status == 202, body
            reply = json.loads(body)
            assert reply["accepted"] == event
            return reply

        # The plan is what `strata impact` prints for the same event.
        for event, args in [
            ({"kind": "build", "source": "koji", "nvr": "libfoo-1.0-2.fc40", "tag": "f40"},
             ["--build", "libfoo-1.0-2.fc40"]),
            ({"kind": "compose", "source": "strata", "compose_id": tools, "state": "finished"},
             ["--compose", tools]),
        ]:
            reply = post(event)
            assert "note" not in reply, reply
            impact = json.loads(site.run("impact", *args, "--json", "--config", config,
                                         check_rc=0).stdout)
            assert reply["impact"] == impact
        # The build makes apache (on the new base; its last recompose
        # failed its test) and php above it stale; the rest is left alone
        # with its reason.
        reply = post({"kind": "build", "source": "koji", "nvr": "libfoo-1.0-2.fc40"})
        plan = reply["impact"]["plan"]
        assert [f'{s["name"]}:{s["stream"]}' for s in plan["steps"]] == ["apache:2.4", "php:8.2"]
        assert plan["left_alone"] == {"base-runtime:f40": {"reason": "up-to-date"},
                                      "tools:1": {"reason": "up-to-date"}}
        # Nothing to plan, and why.
        for event, note in [
            ({"kind": "compose", "source": "strata", "compose_id": tools, "state": "failed"},
             f"compose `{tools}` ended failed: only a finished compose changes what is built "
             "on it: nothing is planned"),
            ({"kind": "commit", "source": "forge", "repo": "https://src.example/modules",
              "branch": "main", "commit": "a1b2c3d"},
             "no definition of the catalog ([chain] catalog) comes from branch `main` of "
             "`https://src.example/modules`: nothing is planned"),
            ({"kind": "compose", "source": "strata", "compose_id": "nope-1-20991231.n.0",
              "state": "finished"},
             "no plan: no compose `nope-1-20991231.n.0` in the registry"),
        ]:
            reply = post(event)
            assert reply["note"] == note
            assert reply["impact"]["plan"] == {"steps": [], "left_alone": {}}
        out = srv.stop()
    assert len(out.splitlines()) == 6
    # Planning composed nothing.
    assert len(site.list()) == count


def test_queued_events_wait_for_chain_run_pending(strata_bin, chained, tmp_path):
    """With `[serve] queue_events`, an accepted event is queued in the
    registry for `strata chain run --pending`; without it (the test above)
    the server writes nothing."""
    site = chained.site
    queue = lambda: sqlite3.connect(site.registry).execute(  # noqa: E731
        "SELECT seq, event FROM chain_events ORDER BY seq").fetchall()
    assert queue() == []
    config = tmp_path / "strata.toml"
    text = site.config.read_text().replace('"policy.yaml"', f'"{site.root / "policy.yaml"}"')
    text = text.replace('"modules/*.yaml"', f'"{site.root / "modules" / "*.yaml"}"')
    config.write_text(text + f'[serve]\ntoken = "{TOKEN}"\nqueue_events = true\n')
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    count = len(site.list())
    with Server(strata_bin, config=config) as srv:
        def post(event: dict) -> dict:
            status, _, body = get(f"{srv.url}/api/v1/events", json.dumps(event).encode(), auth)
            assert status == 202, body
            return json.loads(body)

        reply = post({"kind": "build", "source": "koji", "nvr": "libfoo-1.0-2.fc40"})
        assert [f'{s["name"]}:{s["stream"]}' for s in reply["impact"]["plan"]["steps"]] == [
            "apache:2.4", "php:8.2"]
        # An event no catalog module can be touched by is not queued.
        other = post({"kind": "commit", "source": "forge", "repo": "https://src.example/modules",
                      "branch": "main", "commit": "a1b2c3d"})
        assert "queued" not in other and "nothing is planned" in other["note"]
        srv.stop()
    rows = queue()
    assert [seq for seq, _ in rows] == reply["queued"] and len(rows) == 1
    assert json.loads(rows[0][1]) == {"event": "build", "nvr": "libfoo-1.0-2.fc40"}
    # Queuing composed nothing; `chain run --pending` is what acts on it.
    assert len(site.list()) == count


def test_a_chain_page_marks_its_artifact_steps_and_links_their_records(strata_bin, tmp_path):
    import test_chain as tc
    world = tc.World(strata_bin, tmp_path)
    world.compose_all()
    iso = world.add_iso()
    world.strata("compose", "artifact", iso, "--json")
    world.rebuild_libfoo()
    chain = world.show(tc.chain_id_of(world.chain_run("--build", "libfoo-1.0-2.fc40")))
    media = chain["steps"][3]["compose_id"]
    with Server(strata_bin, config=world.site.config) as srv:
        _, _, body = get(f"{srv.url}/chains/{chain['id']}")
        page = body.decode()
        rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>(.*?)</td>", page, re.S)
        # Modules link to their stacks; the iso says it is an artifact,
        # and its compose links to the artifact's page.
        assert [(n, " ".join(text_of(cell.encode()).split())) for n, cell in rows] == [
            ("1", "base-runtime:f40"), ("2", "apache:2.4"), ("3", "php:8.2"),
            ("4", "php-iso:x86_64 (artifact, iso)")]
        assert '/stacks/php%3A8.2">' in page or '/stacks/php:8.2">' in page
        assert "/stacks/php-iso" not in page
        assert f'/artifacts/{media}">{media}</a>' in page
        status, _, _ = get(f"{srv.url}/artifacts/{media}")
        assert status == 200
