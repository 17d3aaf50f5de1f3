"""Artifacts in Koji (issue 15), through one stand-in hub as
test_koji_chain.py does: the REAL `koji` CLI with the CLI plugin runs
`koji artifact-build`, the REAL hub plugin's artifactBuild checks and makes
the artifactCompose task, a kojid stand-in runs the REAL builder plugin
(koji's TaskManager.runTask), which builds the artifact with the real dnf
from a real stack in the shared registry, uploads the files and calls the
hub plugin's artifactComposeImport, which imports them with the hub's
content generator import (the stand-in's cg_import enforces CG_Importer's
checks). The build is then read back over XML-RPC: type image, its
archives, its buildroot's input composes and RPM components."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import koji
import pytest
import yaml

import kojihub_module_standin as khs
import strata
from kojid_standin import CLOSED, FAILED
from test_artifacts import artifact_doc, stack_sources
from test_koji_builder import HOST, site  # noqa: F401 (fixture)
from test_koji_chain import Kojid, chain  # noqa: F401 (fixture)
import composekit as ck

EPOCH = "1764900000"


@pytest.fixture
def art(chain, tmp_path, monkeypatch):  # noqa: F811
    """The chain site, with the apache/php stack composed into the shared
    registry, the builder's strata.toml naming the platform, the host
    allowed to import as content generator `strata`, and alice allowed to
    build artifacts. php's RPMs are Koji builds (the buildroot lists them)."""
    site, k = chain
    fake = site.hub.koji_hub
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    base, defs = stack_sources(tmp_path / "stack")
    config = ck.write_config(tmp_path / "strata-art.toml", {"f40": [str(base)]})
    site.conf.write_text(site.conf.read_text().replace(str(site.strata.config), str(config)))
    ids = {}
    for name, d in defs.items():
        res = strata.compose_module(d, site.shared_out, config=config,
                                    registry=site.shared_registry)
        assert res["ok"], res
        ids[name] = res["record"]["id"]
    bid = fake.new_build({"name": "php", "version": "8.2.13", "release": "1", "epoch": None,
                          "owner": fake.user("alice")["id"]})
    fake.build_types[bid].add("rpm")
    for name in ("php", "php-cli"):
        fake.add_rpm(bid, "noarch", name=name)["payloadhash"] = "0" * 32
    fake.user("alice")["perms"].append("artifact-build")
    return site, k, ids


def _commit(site, doc):
    rev = site.git.commit({"%s.yaml" % doc["data"]["name"]: yaml.safe_dump(doc)})
    return site.git.url("%s.yaml" % doc["data"]["name"], rev)


def _cli(k, *args):
    r = k.run("alice", "artifact-build", "--wait", *args, timeout=600)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_artifact_build_is_imported_as_an_image_build(art):
    site, k, ids = art
    fake = site.hub.koji_hub
    fake.grant_cg_access(HOST, "strata")
    container = _commit(site, artifact_doc("php-web", "container",
                                           container={"entrypoint": ["/usr/bin/php"]}))
    iso = _commit(site, artifact_doc("php-media", "iso", iso={"volume_id": "PHP-8.2"}))
    with Kojid(site, methods=("artifactCompose",)) as kojid:
        ok = _cli(k, "--arch", "x86_64", "--compose-type", "test", container)
        scratch = _cli(k, "--scratch", iso)
    assert kojid.error is None, kojid.error
    assert ok.returncode == 0, ok.stdout + ok.stderr
    first, second = sorted(kojid.done)
    task = site.hub.task(first)
    assert task["state"] == CLOSED, task["result"]
    assert task["params"] == [container, {"arch": "x86_64", "compose_type": "test"}]
    res = task["result"]
    assert res["kind"] == "container" and res["artifact_build_id"].startswith("sha256:")

    proxy = koji.ClientSession(site.server.url)
    build = proxy.getBuild(res["build_id"], strict=True)
    rec = strata.get_compose(res["compose_id"], registry=site.shared_registry).to_dict()
    assert (build["name"], build["version"], build["release"]) == (
        "php-web", rec["date"], "%s.test.x86_64" % rec["respin"])
    assert build["task_id"] == first and build["owner_name"] == "alice"
    assert build["source"] == container
    assert set(proxy.getBuildType(build["id"])) == {"image"}
    image = build["extra"]["typeinfo"]["image"]
    assert image["strata_compose_id"] == res["compose_id"]
    assert image["build_id"] == res["artifact_build_id"]
    # the whole stack, bottom first
    assert image["input_composes"] == [ids["apache"], ids["php"]]
    archives = {a["filename"]: a for a in proxy.listArchives(buildID=build["id"])}
    assert set(archives) == {"php-web-x86_64.oci.tar", "php-web-x86_64.images.json"}
    oci = archives["php-web-x86_64.oci.tar"]
    assert (oci["btype"], oci["type_name"], oci["arch"]) == ("image", "tar", "x86_64")
    path = Path(koji.pathinfo.imagebuild(build)) / oci["filename"]
    assert oci["checksum"] == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    # the OCI archive is the image: its digest is the artifact's build ID
    inspect = json.loads(subprocess.run(["skopeo", "inspect", "oci-archive:%s" % path],
                                        capture_output=True, text=True, check=True).stdout)
    assert inspect["Digest"] == res["artifact_build_id"]
    # the buildroot: the input composes, the Koji RPMs installed
    br = proxy.getBuildroot(oci["buildroot_id"], strict=True)
    assert br["cg_name"] == "strata"
    assert br["extra"]["strata"]["input_composes"] == [ids["apache"], ids["php"]]
    comps = proxy.listRPMs(componentBuildrootID=br["id"])
    assert sorted(r["name"] for r in comps) == ["php", "php-cli"]
    # the scratch ISO: its files in the task, no build
    assert scratch.returncode == 0, scratch.stdout + scratch.stderr
    sres = site.hub.task(second)["result"]
    assert "build_id" not in sres and sres["files"] == ["php-media-x86_64.iso",
                                                        "php-media-x86_64.images.json"]
    assert (site.uploaded(second) / "php-media-x86_64.iso").is_file()
    # recorded as the task's scratch build, not in the shared registry: the
    # shared latest artifact stays what it was
    assert sres["compose_id"].startswith("php-media-x86_64-%d.scratch-" % second)
    shared = [c["id"] for c in strata.list_composes(registry=site.shared_registry)]
    assert res["compose_id"] in shared and sres["compose_id"] not in shared
    assert not list(Path(site.shared_out).glob("php-media*"))
    assert [b["name"] for b in fake.builds.values() if b["name"].startswith("php-")] == [
        "php-web"]


def test_without_content_generator_access_nothing_is_imported(art):
    site, k, ids = art
    fake = site.hub.koji_hub
    src = _commit(site, artifact_doc("php-web", "container"))
    with Kojid(site, methods=("artifactCompose",)) as kojid:
        # no content generator `strata` on this hub yet (koji grant-cg-access --new makes it)
        missing = _cli(k, src)
        # one that root may import as, but not the builder host
        fake.grant_cg_access("root", "strata")
        denied = _cli(k, src)
    assert kojid.error is None, kojid.error
    for r in (missing, denied):
        assert r.returncode == 1, r.stdout + r.stderr
    first, second = sorted(kojid.done)
    for task_id, why in ((first, "No such entry in table content_generator: strata"),
                         (second, "Content generator access required (strata)")):
        task = site.hub.task(task_id)
        assert task["state"] == FAILED and why in str(task["result"]), task["result"]
    assert not [b for b in fake.builds.values() if b["name"] == "php-web"]


def test_an_ostree_artifact_build_is_imported_as_its_repository_tar(art, tmp_path):
    """The ostree kind through Koji: the archive-mode repository as one
    tar (no images.json for ostree), imported as an image build whose
    build ID is the commit checksum; the imported tar, unpacked, is a
    repository `ostree` reads: the ref at that commit, the input composes
    in its metadata, the profile's files in the tree."""
    site, k, ids = art
    fake = site.hub.koji_hub
    fake.grant_cg_access(HOST, "strata")
    ref = "strata/x86_64/php"
    src = _commit(site, artifact_doc("php-tree", "ostree",
                                     ostree={"ref": ref, "subject": "PHP stack"}))
    with Kojid(site, methods=("artifactCompose",)) as kojid:
        r = _cli(k, src)
    assert kojid.error is None, kojid.error
    assert r.returncode == 0, r.stdout + r.stderr
    res = site.hub.task(kojid.done[0])["result"]
    assert res["kind"] == "ostree" and res["files"] == ["php-tree-x86_64.ostree.tar"]
    proxy = koji.ClientSession(site.server.url)
    build = proxy.getBuild(res["build_id"], strict=True)
    image = build["extra"]["typeinfo"]["image"]
    assert (image["artifact"], image["build_id"]) == ("ostree", res["artifact_build_id"])
    assert image["input_composes"] == [ids["apache"], ids["php"]]
    (archive,) = proxy.listArchives(buildID=build["id"])
    assert (archive["filename"], archive["type_name"]) == ("php-tree-x86_64.ostree.tar", "tar")
    repo = tmp_path / "unpacked"
    repo.mkdir()
    subprocess.run(["tar", "-xf", str(Path(koji.pathinfo.imagebuild(build)) / archive["filename"]),
                    "-C", str(repo)], check=True)

    def ostree(*args) -> str:
        return subprocess.run(["ostree", f"--repo={repo}", *args], capture_output=True,
                              text=True, check=True).stdout

    assert ostree("rev-parse", ref).strip() == res["artifact_build_id"]
    assert "PHP stack" in ostree("log", ref)
    assert ostree("show", "--print-metadata-key=strata.input-composes", ref).strip() == (
        "'%s %s'" % (ids["apache"], ids["php"]))
    assert "/usr/bin/php" in ostree("ls", ref, "/usr/bin")
