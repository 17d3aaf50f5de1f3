"""A Koji tag as the compose source: the hub stand-in (kojihub_standin.py)
speaks Koji's XML-RPC; the topdir and its repos are laid out as kojid lays
them out (`repos/<tag>/<id>/<arch>/` with a `toplink` symlink and hrefs
`toplink/packages/<name>/<version>/<release>/<arch>/<file>`), made with
real rpmbuild and createrepo_c."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import composekit as ck
import rpmfactory
from kojihub_standin import Hub, HubServer

BUILDS = [
    # (build name, version, release, [binary packages])
    ("httpd", "2.4.57", "1.fc40", [
        {"name": "httpd", "arch": "x86_64", "requires": ["httpd-tools"]},
        {"name": "httpd-tools", "arch": "x86_64"},
        {"name": "mod_ssl", "arch": "x86_64", "requires": ["httpd"]}]),
    ("httpd", "2.4.58", "1.fc40", [
        {"name": "httpd", "arch": "x86_64", "requires": ["httpd-tools"]},
        {"name": "httpd-tools", "arch": "x86_64"},
        {"name": "mod_ssl", "arch": "x86_64", "requires": ["httpd"]}]),
]


def make_topdir(root: Path) -> Path:
    top = root / "topdir"
    for name, ver, rel, pkgs in BUILDS:
        dest = top / "packages" / name / ver / rel / "x86_64"
        rpms = rpmfactory.build_rpms([dict(p, version=ver, release=rel) for p in pkgs], dest,
                                     srpm=(name, ver, rel))
        assert len(rpms) == len(pkgs)
    return top


def make_repo(top: Path, tag: str, repo_id: int, builds: list[tuple[str, str, str]]) -> Path:
    """A kojid-style repo of `builds` (createrepo_c over a pkglist through toplink)."""
    d = top / "repos" / tag / str(repo_id) / "x86_64"
    d.mkdir(parents=True)
    os.symlink("../../../..", d / "toplink")
    lines = []
    for name, ver, rel in builds:
        for f in sorted((top / "packages" / name / ver / rel / "x86_64").glob("*.rpm")):
            lines.append(f"toplink/packages/{name}/{ver}/{rel}/x86_64/{f.name}")
    (d / "pkglist").write_text("\n".join(lines) + "\n")
    r = subprocess.run(["createrepo_c", "--quiet", "-i", str(d / "pkglist"), str(d)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return d


@pytest.fixture(scope="module")
def topdir(tmp_path_factory):
    return make_topdir(tmp_path_factory.mktemp("koji"))


def koji_site(strata_bin, tmp_path, hub_url, top):
    s = ck.Site(strata_bin, tmp_path / "site")
    with open(s.config, "a") as f:
        f.write(f'[koji]\nhub = "{hub_url}"\ntopurl = "{top}"\n')
    return s


def definition(tmp_path, tag="f40-build", packages=("httpd", "httpd-tools", "mod_ssl")):
    doc = ck.definition(packages=packages, repos=["unused"])
    doc["data"]["source"] = {"koji": {"tag": tag}}
    doc["data"]["profiles"] = {"default": ["httpd"]}
    return ck.write_definition(tmp_path / "apache.yaml", doc)


def test_koji_tag_source_uses_the_repo_and_its_latest_builds(strata_bin, tmp_path, topdir):
    hub = Hub()
    hub.add_tag("f40-build")
    hub.tag_build("f40-build", "httpd", "2.4.57", "1.fc40")
    hub.tag_build("f40-build", "httpd", "2.4.58", "1.fc40")
    # 2.4.58 is untagged again before the repo is made, but the repo (like
    # one with include_all or an external repo) still carries its RPMs.
    hub.untag_build("f40-build", "httpd-2.4.58-1.fc40")
    repo = hub.new_repo("f40-build")
    # Tagged after the repo was made: not visible through this repo.
    hub.tag_build("f40-build", "httpd", "2.4.99", "1.fc40")
    make_repo(topdir, "f40-build", repo["id"], [("httpd", "2.4.57", "1.fc40"), ("httpd", "2.4.58", "1.fc40")])
    with HubServer(hub) as srv:
        s = koji_site(strata_bin, tmp_path, srv.url, topdir)
        rec = s.compose_json(definition(tmp_path))
    assert sorted(rec["packages"]["x86_64"]) == [
        "httpd-0:2.4.57-1.fc40.x86_64", "httpd-tools-0:2.4.57-1.fc40.x86_64",
        "mod_ssl-0:2.4.57-1.fc40.x86_64"]
    kinds = {(i["kind"].lower(), i["name"], i["ident"]) for i in rec["inputs"]}
    assert ("koji_repo", "f40-build", str(repo["id"])) in kinds, rec["inputs"]
    # listTagged was asked as of the repo's event, latest, with inheritance.
    lt = [c for c in hub.calls if c[0] == "listTagged"]
    assert lt and lt[0][2] == {"event": repo["create_event"], "latest": True, "inherit": True}
    # The payloads came through toplink.
    out = ck.repo_dir(rec, "x86_64")
    f = next(out.rglob("mod_ssl-2.4.57-1.fc40.x86_64.rpm"))
    src = topdir / "packages/httpd/2.4.57/1.fc40/x86_64/mod_ssl-2.4.57-1.fc40.x86_64.rpm"
    assert f.read_bytes() == src.read_bytes()


def test_unknown_tag_and_missing_repo_are_clear_errors(strata_bin, tmp_path, topdir):
    hub = Hub()
    hub.add_tag("f40-norepo")
    with HubServer(hub) as srv:
        s = koji_site(strata_bin, tmp_path, srv.url, topdir)
        r = s.compose(definition(tmp_path, tag="f41-nope"), check_rc=2)
        assert "no such tag: f41-nope" in r.stderr and srv.url in r.stderr, r.stderr
        r = s.compose(definition(tmp_path, tag="f40-norepo"), check_rc=2)
        assert "tag f40-norepo has no current repo" in r.stderr, r.stderr
        assert s.list() == []


def test_koji_source_without_hub_configuration(strata_bin, tmp_path):
    s = ck.Site(strata_bin, tmp_path / "site")
    r = s.compose(definition(tmp_path), check_rc=2)
    assert "[koji]" in r.stderr
