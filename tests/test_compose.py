"""`strata compose module` end to end, against real RPMs (rpmbuild),
createrepo_c source repositories, libmodulemd, productmd and dnf."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import composekit as ck
import rpmfactory

ID_RE = re.compile(r"^apache-2\.4-\d{8}\.n\.\d+$")

PLATFORM = [
    {"name": "glibc", "version": "2.39", "release": "1.fc40", "arch": "x86_64",
     "provides": ["libc.so.6()(64bit)"], "files": ["/usr/lib64/libc.so.6"]},
    {"name": "mailcap", "version": "2.1.54", "release": "3.fc40", "files": ["/etc/mime.types"]},
]

SOURCE = [
    {"name": "httpd", "version": "2.4.57", "release": "1.fc40", "arch": "x86_64",
     "requires": ["httpd-tools = 2.4.57-1.fc40", "libc.so.6()(64bit)"], "files": ["/usr/sbin/httpd"]},
    {"name": "httpd", "version": "2.4.58", "release": "1.fc40", "arch": "x86_64",
     "requires": ["httpd-tools = 2.4.58-1.fc40", "libc.so.6()(64bit)", "/etc/mime.types"],
     "files": ["/usr/sbin/httpd"]},
    {"name": "httpd-tools", "version": "2.4.57", "release": "1.fc40", "arch": "x86_64"},
    {"name": "httpd-tools", "version": "2.4.58", "release": "1.fc40", "arch": "x86_64",
     "files": ["/usr/bin/ab"]},
    {"name": "mod_ssl", "version": "2.4.58", "release": "1.fc40", "arch": "x86_64", "epoch": 1,
     "requires": ["httpd"]},
    {"name": "mod_lua", "version": "2.4.58", "release": "1.fc40", "arch": "x86_64",
     "requires": ["httpd", "liblua-5.4.so()(64bit)"]},
    {"name": "lua-libs", "version": "5.4.6", "release": "5.fc40", "arch": "x86_64",
     "provides": ["liblua-5.4.so()(64bit)"]},
    {"name": "httpd-manual", "version": "2.4.58", "release": "1.fc40", "requires": ["httpd"]},
    {"name": "nginx", "version": "1.24", "release": "1.fc40", "arch": "x86_64"},
]

GOOD = ("httpd", "httpd-tools", "mod_ssl", "httpd-manual")


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    root = tmp_path_factory.mktemp("compose-src")
    platform = rpmfactory.make_repo(root / "platform", PLATFORM)
    source = rpmfactory.make_repo(root / "source", SOURCE)
    return {"platform": platform, "source": source}


@pytest.fixture
def site(strata_bin, tmp_path, repos):
    return ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})


def apache(tmp_path, repos, packages=GOOD, name="apache.yaml", **kw):
    kw.setdefault("requires", {"platform": "f40"})
    kw.setdefault("profiles", {"default": ["httpd", "mod_ssl"]})
    kw.setdefault("api", ["httpd"])
    doc = ck.definition(packages=packages, repos=[repos["source"]], **kw)
    return ck.write_definition(tmp_path / "defs" / name, doc)


def test_compose_publishes_a_module_that_dnf_installs(site, tmp_path, repos):
    d = apache(tmp_path, repos)
    rec = site.compose_json(d)
    cid = rec["id"]
    assert ID_RE.match(cid), cid
    assert rec["state"] == "finished"
    # The newest build of each manifest package, nothing else.
    nevras = sorted(rec["packages"]["x86_64"])
    assert nevras == ["httpd-0:2.4.58-1.fc40.x86_64", "httpd-manual-0:2.4.58-1.fc40.noarch",
                      "httpd-tools-0:2.4.58-1.fc40.x86_64", "mod_ssl-1:2.4.58-1.fc40.x86_64"]
    top = site.out / cid
    assert (top / "STATUS").read_text().strip() == "FINISHED"
    repo = ck.repo_dir(rec, "x86_64")
    assert repo.is_relative_to(top)
    rpms = sorted(p.name for p in repo.rglob("*.rpm"))
    assert rpms == sorted(p + ".rpm" for p in ["httpd-2.4.58-1.fc40.x86_64",
                                               "httpd-manual-2.4.58-1.fc40.noarch",
                                               "httpd-tools-2.4.58-1.fc40.x86_64",
                                               "mod_ssl-2.4.58-1.fc40.x86_64"])
    # Payloads are linked, not rewritten.
    src = repos["source"] / "httpd-2.4.58-1.fc40.x86_64.rpm"
    dst = next(repo.rglob("httpd-2.4.58-1.fc40.x86_64.rpm"))
    assert dst.read_bytes() == src.read_bytes()
    assert os.stat(dst).st_ino == os.stat(src).st_ino
    # The latest link, as Pungi's.
    assert os.readlink(site.out / "latest-apache-2.4") == cid
    # Registry.
    assert site.latest("apache:2.4")["id"] == cid
    shown = site.show(cid)
    kinds = {i["kind"] for i in shown["inputs"]}
    assert {"source_repo", "platform"} <= {k.lower() for k in kinds}, shown["inputs"]
    assert len(shown["definition_digest"]) == 64

    # modules.yaml, read by the real libmodulemd.
    md = ck.load_with_libmodulemd(ck.modules_yaml(repo))
    s = md["apache"]["streams"][0]
    assert (s["name"], s["stream"], s["arch"]) == ("apache", "2.4", "x86_64")
    assert s["context"] == rec["context"] and len(s["context"]) == 8
    assert s["version"] == rec["version"]
    assert s["artifacts"] == nevras
    assert s["profiles"] == {"default": ["httpd", "mod_ssl"]}
    assert s["api"] == ["httpd"]
    assert s["requires"] == {"platform": ["f40"]}
    assert md["apache"]["defaults"]["stream"] == "2.4"

    # Real dnf installs the module's default profile into an installroot.
    work = tmp_path / "dnf"
    root = tmp_path / "root"
    r = ck.dnf_install({"apache": repo, "platform": repos["platform"]}, root, work,
                       ["module", "install", "apache:2.4/default"])
    assert r.returncode == 0, r.stdout + r.stderr
    installed = ck.rpm_qa(root, work)
    assert {"httpd", "mod_ssl", "httpd-tools", "glibc", "mailcap"} <= installed, installed
    assert "nginx" not in installed and "httpd-manual" not in installed


def test_productmd_loads_the_metadata(site, tmp_path, repos):
    import productmd.compose  # installed by .ci/setup
    rec = site.compose_json(apache(tmp_path, repos))
    c = productmd.compose.Compose(str(site.out / rec["id"]))
    assert c.info.compose.id == rec["id"]
    assert c.info.compose.type == "nightly"
    variants = list(c.info.variants.variants.values())
    assert len(variants) == 1 and variants[0].arches == {"x86_64"}
    uid = variants[0].uid
    rpms = c.rpms.rpms[uid]["x86_64"]
    paths = {rpm["path"] for srpm in rpms.values() for rpm in srpm.values()}
    assert any(p.endswith("httpd-2.4.58-1.fc40.x86_64.rpm") for p in paths), paths
    for p in paths:
        assert (site.out / rec["id"] / "compose" / p).is_file(), p  # productmd paths start at compose/
    mods = c.modules.modules[uid]["x86_64"]
    assert any(k.startswith("apache:2.4:") for k in mods), mods


def test_pin_selects_an_older_build(site, tmp_path, repos):
    d = apache(tmp_path, repos, pins={"httpd": "2.4.57-1.fc40", "httpd-tools": "2.4.57"},
               packages=("httpd", "httpd-tools"), profiles={"default": ["httpd"]})
    rec = site.compose_json(d)
    assert sorted(rec["packages"]["x86_64"]) == [
        "httpd-0:2.4.57-1.fc40.x86_64", "httpd-tools-0:2.4.57-1.fc40.x86_64"]


def test_pin_that_matches_nothing_names_what_exists(site, tmp_path, repos):
    d = apache(tmp_path, repos, pins={"httpd": "2.4.1"})
    r = site.compose(d, check_rc=2)
    assert "`httpd` is pinned to 2.4.1" in r.stderr
    assert "2.4.57-1.fc40" in r.stderr and "2.4.58-1.fc40" in r.stderr


def test_missing_dependency_fails_the_compose_with_a_suggestion(site, tmp_path, repos):
    d = apache(tmp_path, repos, packages=GOOD + ("mod_lua",))
    r = site.compose(d, check_rc=1)
    # dnf's repoclosure format on stdout, the suggestion and a hint on stderr.
    assert "package: mod_lua-2.4.58-1.fc40.x86_64 from apache" in r.stdout
    assert "liblua-5.4.so()(64bit)" in r.stdout
    assert "lua-libs-5.4.6-5.fc40.x86_64 from source" in r.stderr
    assert "hint: `lua-libs-5.4.6-5.fc40.x86_64`" in r.stderr
    m = re.search(r"compose (\S+) FAILED", r.stderr)
    assert m, r.stderr
    rec = site.show(m.group(1))
    assert rec["state"] == "failed"
    assert "repoclosure failed" in rec["error"]
    report = rec["report"]["x86_64"]
    assert report["unresolved"][0]["deps"] == ["liblua-5.4.so()(64bit)"]
    assert [a["package"] for a in report["suggestions"]["additions"]] == ["lua-libs-5.4.6-5.fc40.x86_64"]
    # Nothing published, nothing good.
    assert not (site.out / m.group(1)).exists()
    assert not site.out.exists() or [p.name for p in site.out.iterdir()] == []
    assert site.latest("apache:2.4") is None
    # Adding the suggestion, with a reason, closes it.
    d = apache(tmp_path, repos, packages=GOOD + ("mod_lua", "lua-libs"))
    rec = site.compose_json(d)
    assert rec["state"] == "finished"
    assert rec["id"].endswith(".n.1")


def test_unknown_package_is_recorded_as_failed(site, tmp_path, repos):
    d = apache(tmp_path, repos, packages=GOOD + ("mod_nonexistent",))
    r = site.compose(d, check_rc=2)
    assert "mod_nonexistent" in r.stderr and "x86_64" in r.stderr
    failed = site.list("apache:2.4", "--state", "failed")
    assert len(failed) == 1 and "mod_nonexistent" in failed[0]["error"]


def test_bad_definitions_compose_nothing(site, tmp_path, repos):
    bad = tmp_path / "bad.yaml"
    bad.write_text("document: strata-module\nversion: 1\ndata:\n  name: apache\n  stream: [\n")
    r = site.compose(bad, check_rc=2)
    assert str(bad) in r.stderr and re.search(r"bad\.yaml:\d+", r.stderr), r.stderr
    d = apache(tmp_path, repos)
    text = d.read_text().replace("  api:", "  apis:")
    d.write_text(text)
    r = site.compose(d, check_rc=2)
    assert "unknown field `apis`" in r.stderr
    assert site.list() == []


def test_corrupt_source_metadata_is_refused(site, tmp_path, repos):
    import shutil
    src = tmp_path / "corrupt"
    shutil.copytree(repos["source"], src)
    prim = next((src / "repodata").glob("*-primary.xml.gz"))
    data = bytearray(prim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    prim.write_bytes(bytes(data))
    doc = ck.definition(packages=GOOD, repos=[src], requires={"platform": "f40"})
    d = ck.write_definition(tmp_path / "c.yaml", doc)
    r = site.compose(d, "--no-cache", check_rc=2)
    assert prim.name in r.stderr and "checksum" in r.stderr.lower(), r.stderr
    assert not site.out.exists() or not any(site.out.iterdir())


def test_corrupt_payload_is_refused(site, tmp_path, repos):
    import shutil
    src = tmp_path / "badrpm"
    shutil.copytree(repos["source"], src)
    rpm = src / "mod_ssl-2.4.58-1.fc40.x86_64.rpm"
    data = bytearray(rpm.read_bytes())
    data[-10] ^= 0xFF  # same size, different bytes
    rpm.unlink()
    rpm.write_bytes(bytes(data))
    doc = ck.definition(packages=GOOD, repos=[src], requires={"platform": "f40"})
    d = ck.write_definition(tmp_path / "p.yaml", doc)
    # Hardlinked payloads are the source's own bytes: sizes are checked,
    # checksums only on request.
    r = site.compose(d, "--verify-payloads", check_rc=2)
    assert "mod_ssl" in r.stderr and "sha256" in r.stderr, r.stderr
    failed = site.list("--state", "failed")
    assert len(failed) == 1
    assert [p for p in site.out.iterdir() if not p.name.startswith(".staging")] == []
    assert not any(site.out.glob(".staging/.staging-*"))
    # A truncated payload is caught by its size, without --verify-payloads.
    rpm.write_bytes(bytes(data[:-100]))
    r = site.compose(d, check_rc=2)
    assert "mod_ssl" in r.stderr and "the source metadata says" in r.stderr, r.stderr


def test_required_module_uses_its_last_good_compose(site, tmp_path, repos):
    base = ck.write_definition(tmp_path / "tools.yaml", ck.definition(
        name="tools", stream="1", packages=["httpd-tools"], repos=[repos["source"]],
        requires={"platform": "f40"}))
    tools = site.compose_json(base)
    d = apache(tmp_path, repos, packages=("httpd", "mod_ssl"),
               requires={"platform": "f40", "tools": "1"}, profiles={"default": ["httpd"]})
    rec = site.compose_json(d)
    inputs = {(i["kind"].lower(), i["ident"]) for i in rec["inputs"]}
    assert ("compose", tools["id"]) in inputs
    # httpd-tools came from the tools compose, so apache does not carry it.
    assert sorted(rec["packages"]["x86_64"]) == [
        "httpd-0:2.4.58-1.fc40.x86_64", "mod_ssl-1:2.4.58-1.fc40.x86_64"]
    md = ck.load_with_libmodulemd(ck.modules_yaml(ck.repo_dir(rec, "x86_64")))
    assert md["apache"]["streams"][0]["requires"] == {"platform": ["f40"], "tools": ["1"]}


def test_required_module_without_a_good_compose_is_an_error(site, tmp_path, repos):
    d = apache(tmp_path, repos, requires={"platform": "f40", "tools": "1"})
    r = site.compose(d, check_rc=2)
    assert "tools:1" in r.stderr and "no good compose" in r.stderr


def test_same_inputs_give_identical_bytes(strata_bin, tmp_path, repos):
    env = {"SOURCE_DATE_EPOCH": "1764000000"}
    outs = []
    d = apache(tmp_path, repos)
    for i in range(2):
        s = ck.Site(strata_bin, tmp_path / f"s{i}", platforms={"f40": [repos["platform"]]})
        rec = s.compose_json(d, env=env)
        outs.append((rec, ck.repo_dir(rec, "x86_64")))
    (r0, a), (r1, b) = outs
    assert r0["id"] == r1["id"]
    files_a = sorted(p.name for p in (a / "repodata").iterdir())
    files_b = sorted(p.name for p in (b / "repodata").iterdir())
    assert files_a == files_b and len(files_a) == 5, files_a
    for f in files_a:
        assert (a / "repodata" / f).read_bytes() == (b / "repodata" / f).read_bytes(), f
    assert ck.modules_yaml(a) == ck.modules_yaml(b)


def test_concurrent_composes_get_distinct_ids(site, tmp_path, repos):
    d = apache(tmp_path, repos)
    procs = [subprocess.Popen([str(site.bin), *site.compose_args(d, "--json")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        ids.append(json.loads(out)["id"])
    assert len(set(ids)) == 4, ids
    assert sorted(i.rsplit(".", 1)[1] for i in ids) == ["0", "1", "2", "3"]
    for i in ids:
        assert (site.out / i / "STATUS").is_file()
    assert {r["id"] for r in site.list("apache:2.4", "--state", "finished")} == set(ids)


def test_kill_before_publish_leaves_nothing_published(site, tmp_path, repos):
    """SIGKILL while everything is staged but not yet renamed into place (a
    test-only pause point), then at a few random moments: never a
    half-published compose, never a good record without its output."""
    d = apache(tmp_path, repos)
    env = {"STRATA_TEST_PAUSE_BEFORE_PUBLISH": "30"}
    p = subprocess.Popen([str(site.bin), *site.compose_args(d)], env={**os.environ, **env},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not list(site.out.glob(".staging/.staging-*/tree/STATUS")):
        time.sleep(0.05)
    assert list(site.out.glob(".staging/.staging-*/tree/STATUS")), "the compose never reached the pause point"
    p.send_signal(signal.SIGKILL)
    p.wait()
    published = [x for x in site.out.iterdir() if not x.name.startswith(".")]
    assert published == []
    recs = site.list("apache:2.4")
    assert [r["state"] for r in recs] == ["started"]
    assert site.latest("apache:2.4") is None
    # Kills at random moments keep the invariant.
    for delay in (0.01, 0.05, 0.1, 0.2):
        p = subprocess.Popen([str(site.bin), *site.compose_args(d)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        recs = site.list("apache:2.4")
        for r in recs:
            if r["state"] == "finished":
                assert (Path(r["outputs"]["path"]) / "STATUS").is_file()
        # A compose killed between its placing and its record shows STATUS
        # STARTED; FINISHED only once the registry says so.
        finished = {r["id"] for r in recs if r["state"] == "finished"}
        for x in site.out.iterdir():
            if not x.name.startswith(".") and x.is_dir():
                status = (x / "STATUS").read_text()
                assert status == "STARTED\n" or (status == "FINISHED\n"
                                                  and x.resolve().name in finished), (x, status)
    # Rerunning works and clears what the killed composes staged.
    rec = site.compose_json(d)
    assert rec["state"] == "finished"
    assert not list(site.out.glob(".staging/.staging-*"))
    assert site.latest("apache:2.4")["id"] == rec["id"]


def test_validate(strata_bin, tmp_path, repos):
    s = ck.Site(strata_bin, tmp_path)
    good = apache(tmp_path, repos)
    r = s.run("validate", good, check_rc=0)
    assert "OK (apache:2.4, 4 packages)" in r.stdout
    bad = tmp_path / "dup.yaml"
    bad.write_text(good.read_text().replace("  packages:\n", "  packages:\n    mod_ssl: {}\n", 1))
    r = s.run("validate", good, bad, check_rc=1)
    assert re.search(r"dup\.yaml:\d+:\d+: data\.packages\.mod_ssl: duplicate key", r.stderr), r.stderr


def test_metadata_only_links_no_payloads(site, tmp_path, repos):
    rec = site.compose_json(apache(tmp_path, repos), "--metadata-only")
    repo = ck.repo_dir(rec, "x86_64")
    assert not list(repo.rglob("*.rpm"))
    primary = next((repo / "repodata").glob("*-primary.xml.gz"))
    text = gzip.decompress(primary.read_bytes()).decode()
    assert 'href="Packages/h/httpd-2.4.58-1.fc40.x86_64.rpm"' in text


def test_hostile_location_in_source_metadata_is_refused(site, tmp_path):
    """A source whose primary.xml points a package outside the repository
    (`../../etc/passwd`) is refused by name, and nothing is published."""
    src = rpmfactory.write_md_repo(tmp_path / "evil", [
        {"name": "httpd", "version": "2.4.58", "release": "1.fc40", "location": "../../../etc/passwd"},
    ])
    doc = ck.definition(packages=["httpd"], repos=[src])
    d = ck.write_definition(tmp_path / "evil.yaml", doc)
    r = site.compose(d, check_rc=2)
    assert "httpd-2.4.58-1.fc40.noarch" in r.stderr and "leaves the source repository" in r.stderr, r.stderr
    # Only the (empty) directory composes are staged in.
    assert [p.name for p in site.out.iterdir()] == [".staging"]
    assert not any((site.out / ".staging").iterdir())
    assert [c["state"] for c in site.list()] == ["failed"]
