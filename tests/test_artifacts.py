"""`strata compose artifact`: container images, ostree commits and ISOs
built from a real stack (platform f40 <- apache:2.4 <- php:8.2, real RPMs
with files), checked with the real tools: skopeo and umoci for the OCI
image, ostree for the commit, xorriso and dnf for the ISO. Two builds of
the same inputs at the same SOURCE_DATE_EPOCH have the same build ID;
failures are recorded failed and publish nothing."""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import composekit as ck
import rpmfactory

EPOCH = "1764900000"  # 2025-12-05T02:00:00Z


def artifact_doc(name: str, kind: str, contents=None, **data) -> dict:
    d = {
        "name": name,
        "kind": kind,
        "summary": f"{name}, built by tests",
        "arches": ["x86_64"],
        "contents": contents or [{"module": "php:8.2", "profile": "default"}],
    }
    d.update(data)
    return {"document": "strata-artifact", "version": 1, "data": d}


class Stack:
    def __init__(self, site: ck.Site, root: Path, base: Path, ids: dict):
        self.site = site
        self.root = root
        self.base = base
        self.ids = ids

    def definition(self, doc: dict) -> Path:
        return ck.write_definition(self.root / "artifacts" / f"{doc['data']['name']}.yaml", doc)

    def build(self, doc: dict, *extra, rc=0, env=None) -> subprocess.CompletedProcess:
        e = {"SOURCE_DATE_EPOCH": EPOCH}
        e.update(env or {})
        return self.site.run("compose", "artifact", self.definition(doc), "--config",
                             self.site.config, "--json", *extra, env=e, check_rc=rc)

    def build_json(self, doc: dict, *extra) -> dict:
        return json.loads(self.build(doc, *extra).stdout)

    def artifacts(self, name: str | None = None) -> list[dict]:
        args = ["artifacts", "list", "--json", "--config", self.site.config]
        if name:
            args.insert(2, name)
        return json.loads(self.site.run(*args, check_rc=0).stdout)


def stack_sources(root: Path) -> tuple[Path, dict[str, Path]]:
    """The platform repository (real RPMs with files) and the apache:2.4
    and php:8.2 definitions over repositories of their own, under ROOT."""
    base = rpmfactory.make_repo(root / "repos" / "base", [
        {"name": "glibc", "version": "2.39", "provides": ["libc.so.6"],
         "files": ["/usr/lib64/libc.so.6"]},
    ])
    apache_src = rpmfactory.make_repo(root / "repos" / "apache", [
        {"name": "httpd", "version": "2.4.58", "requires": ["libc.so.6"],
         "files": ["/usr/sbin/httpd", "/etc/httpd/conf/httpd.conf"]},
        {"name": "mod_ssl", "version": "2.4.58", "requires": ["httpd"],
         "files": ["/usr/lib64/httpd/modules/mod_ssl.so"]},
    ])
    php_src = rpmfactory.make_repo(root / "repos" / "php", [
        {"name": "php", "version": "8.2.13", "requires": ["httpd"],
         "files": ["/usr/lib64/httpd/modules/libphp.so"]},
        {"name": "php-cli", "version": "8.2.13", "requires": ["libc.so.6"],
         "files": ["/usr/bin/php"]},
        {"name": "php-devel", "version": "8.2.13", "requires": ["php-cli"],
         "files": ["/usr/include/php/php.h"]},
    ])
    defs = root / "modules"
    apache = ck.write_definition(defs / "apache.yaml", ck.definition(
        "apache", "2.4", packages=["httpd", "mod_ssl"], repos=[apache_src],
        requires={"platform": "f40"}, profiles={"default": ["httpd"]}))
    php = ck.write_definition(defs / "php.yaml", ck.definition(
        "php", "8.2", packages=["php", "php-cli", "php-devel"], repos=[php_src],
        requires={"platform": "f40", "apache": "2.4"},
        profiles={"default": ["php", "php-cli"], "devel": ["php-devel"]}))
    return base, {"apache": apache, "php": php}


@pytest.fixture(scope="module")
def stack(strata_bin, tmp_path_factory) -> Stack:
    root = tmp_path_factory.mktemp("artifacts")
    base, defs = stack_sources(root)
    site = ck.Site(strata_bin, root / "site", platforms={"f40": [str(base)]})
    ids = {}
    for name, d in defs.items():
        ids[name] = site.compose_json(d)["id"]
    return Stack(site, root, base, ids)


def test_a_container_image_skopeo_and_umoci_read(stack, tmp_path):
    doc = artifact_doc("php-web", "container", container={
        "entrypoint": ["/usr/bin/php"], "cmd": ["-v"], "env": {"PHP_INI_DIR": "/etc/php.d"},
        "labels": {"org.opencontainers.image.title": "php"}, "user": "0"})
    rec = stack.build_json(doc)
    assert rec["state"] == "finished"
    assert rec["artifact"] == "container"
    assert rec["id"].startswith("php-web-x86_64-20251205.n.")
    build_id = rec["outputs"]["build_id"]
    assert build_id.startswith("sha256:")
    # Inputs: the whole stack, bottom first, then the platform by checksum.
    inputs = [(i["kind"], i["ident"]) for i in rec["inputs"]]
    assert inputs[:2] == [("compose", stack.ids["apache"]), ("compose", stack.ids["php"])]
    assert inputs[2][0] == "platform" and inputs[2][1].startswith("sha256:")
    assert {n.split("-0:")[0] for n in rec["packages"]["x86_64"]} == {
        "glibc", "httpd", "php", "php-cli"}

    out = Path(rec["outputs"]["path"])
    assert (out / "STATUS").read_text() == "FINISHED\n"
    image = f"oci:{out / 'image'}:latest"
    inspect = json.loads(subprocess.run(["skopeo", "inspect", image], capture_output=True,
                                        text=True, check=True).stdout)
    assert inspect["Digest"] == build_id
    assert inspect["Architecture"] == "amd64"
    assert inspect["Labels"]["org.opencontainers.image.title"] == "php"
    assert inspect["Labels"]["io.strata.input-composes"] == (
        f"{stack.ids['apache']} {stack.ids['php']}")
    config = json.loads(subprocess.run(["skopeo", "inspect", "--config", image],
                                       capture_output=True, text=True, check=True).stdout)
    assert config["config"]["Entrypoint"] == ["/usr/bin/php"]
    assert config["config"]["Cmd"] == ["-v"]
    assert config["config"]["User"] == "0"
    assert "PHP_INI_DIR=/etc/php.d" in config["config"]["Env"]
    assert config["created"] == "2025-12-05T02:00:00Z"

    bundle = tmp_path / "bundle"
    cmd = ["umoci", "unpack", "--image", f"{out / 'image'}:latest", str(bundle)]
    if os.geteuid() != 0:
        cmd.insert(2, "--rootless")
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    rootfs = bundle / "rootfs"
    # The profile's files, the stack's below it, the platform's.
    assert (rootfs / "usr/bin/php").read_text() == "php-cli\n"
    assert (rootfs / "usr/lib64/httpd/modules/libphp.so").is_file()
    assert (rootfs / "usr/sbin/httpd").is_file()
    assert (rootfs / "usr/lib64/libc.so.6").is_file()
    # Not in the profile, and the install's own state left out.
    assert not (rootfs / "usr/include/php/php.h").exists()
    assert not (rootfs / "usr/lib64/httpd/modules/mod_ssl.so").exists()
    assert not (rootfs / "var/lib/rpm").exists()
    assert not (rootfs / "var/cache/dnf").exists()
    runtime = json.loads((bundle / "config.json").read_text())
    assert runtime["process"]["args"] == ["/usr/bin/php", "-v"]

    # productmd reads images.json: the layer, with its checksum.
    images = subprocess.run(
        [sys.executable, "-c",
         "import sys, productmd.images as i; im = i.Images(); im.load(sys.argv[1]); "
         "[print(x.type, x.format, x.path, x.checksums['sha256']) "
         " for v in im.images.values() for a in v.values() for x in a]",
         str(out / "images.json")], capture_output=True, text=True, check=True).stdout.split()
    assert images[:2] == ["docker", "tar.gz"]
    assert (out / images[2]).is_file() and images[2].endswith(images[3])

    # The registry: an artifact record, found by kind, name and `latest`.
    assert [a["id"] for a in stack.artifacts("php-web")][0] == rec["id"]
    assert [c["id"] for c in stack.site.list("php")] == [stack.ids["php"]]
    assert "artifact" not in stack.site.list("php")[0]
    assert stack.site.latest("php-web:x86_64")["id"] == rec["id"]
    shown = stack.site.run("artifacts", "show", rec["id"], "--config", stack.site.config,
                           check_rc=0).stdout
    assert f"Build ID: {build_id}" in shown
    assert "Artifact: container php-web (x86_64)" in shown


def test_an_ostree_commit_ostree_reads(stack, tmp_path):
    doc = artifact_doc("php-tree", "ostree", ostree={"ref": "strata/x86_64/php",
                                                     "subject": "PHP stack"})
    rec = stack.build_json(doc)
    assert rec["artifact"] == "ostree"
    repo = Path(rec["outputs"]["path"]) / "ostree"
    ref = "strata/x86_64/php"

    def ostree(*args) -> str:
        return subprocess.run(["ostree", f"--repo={repo}", *args], capture_output=True,
                              text=True, check=True).stdout

    assert ostree("rev-parse", ref).strip() == rec["outputs"]["build_id"]
    assert "archive" in (repo / "config").read_text()
    log = ostree("log", ref)
    assert "PHP stack" in log and "2025-12-05 02:00:00" in log
    assert ostree("show", "--print-metadata-key=strata.input-composes", ref).strip() == (
        f"'{stack.ids['apache']} {stack.ids['php']}'")
    assert "/usr/bin/php" in ostree("ls", ref, "/usr/bin")
    checkout = tmp_path / "checkout"
    ostree("checkout", "--user-mode", ref, str(checkout))
    assert (checkout / "usr/bin/php").read_text() == "php-cli\n"
    assert (checkout / "usr/sbin/httpd").is_file()


def test_an_iso_dnf_installs_from(stack, tmp_path):
    doc = artifact_doc("php-media", "iso", contents=[{"module": "php:8.2"}],
                       iso={"volume_id": "PHP-8.2"})
    rec = stack.build_json(doc)
    assert rec["artifact"] == "iso"
    out = Path(rec["outputs"]["path"])
    iso = out / "php-media-x86_64.iso"
    assert rec["outputs"]["build_id"] == "sha256:" + hashlib.sha256(iso.read_bytes()).hexdigest()
    pvd = subprocess.run(["xorriso", "-indev", str(iso), "-pvd_info"], capture_output=True,
                         text=True, check=True).stdout
    assert "PHP-8.2" in pvd
    tree = tmp_path / "media"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/",
                    str(tree)], capture_output=True, text=True, check=True)
    subprocess.run(["chmod", "-R", "u+w", str(tree)], check=True)
    treeinfo = configparser.ConfigParser()
    treeinfo.read(tree / ".treeinfo")
    assert treeinfo["header"]["type"] == "productmd.treeinfo"
    assert treeinfo["tree"]["arch"] == "x86_64"
    assert treeinfo["variant-PhpMedia"]["repository"] == "."
    media = configparser.ConfigParser()
    media.read(tree / "media.repo")
    assert media["InstallMedia"]["name"] == "php-media, built by tests"
    images = json.loads((out / "images.json").read_text())
    (img,) = images["payload"]["images"]["PhpMedia"]["x86_64"]
    assert (img["type"], img["format"], img["volume_id"]) == ("dvd", "iso", "PHP-8.2")
    assert img["path"] == iso.name and img["bootable"] is False

    # The whole stack is on it: dnf installs php:8.2 from it and the platform.
    root, work = tmp_path / "root", tmp_path / "work"
    r = ck.dnf_install({"media": tree, "base": stack.base}, root, work,
                       ["module", "install", "php:8.2/default"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert {"php", "php-cli", "httpd", "glibc"} <= ck.rpm_qa(root, work)


@pytest.mark.parametrize("kind,settings", [
    ("container", {"container": {"entrypoint": ["/usr/bin/php"]}}),
    ("ostree", {"ostree": {"ref": "strata/x86_64/again"}}),
    ("iso", {}),
])
def test_two_builds_of_the_same_inputs_have_the_same_build_id(stack, kind, settings):
    doc = artifact_doc(f"php-again-{kind}", kind, **settings)
    first = stack.build_json(doc)
    second = stack.build_json(doc)
    assert first["id"] != second["id"]
    assert first["outputs"]["build_id"] == second["outputs"]["build_id"]
    # Another time is another artifact.
    third = json.loads(stack.build(doc, env={"SOURCE_DATE_EPOCH": "1764990000"}).stdout)
    assert third["outputs"]["build_id"] != first["outputs"]["build_id"]


def published(stack: Stack, prefix: str) -> list[str]:
    staging = stack.site.out / ".staging"
    return sorted([p.name for p in stack.site.out.iterdir() if p.name.startswith(prefix)]
                  + [p.name for p in (staging.iterdir() if staging.is_dir() else ())
                     if p.name.startswith(f".staging-{prefix}")])


def test_a_stack_without_a_good_compose_records_nothing(stack):
    doc = artifact_doc("fail-none", "container", contents=[{"module": "nosuch:1"}])
    r = stack.build(doc, rc=2)
    assert "artifact fail-none: nosuch:1 has no good compose" in r.stderr
    assert stack.artifacts("fail-none") == []
    assert published(stack, "fail-none") == []


def test_a_pin_that_is_not_in_the_registry_is_refused(stack):
    doc = artifact_doc("fail-pin", "container",
                       compose_pins={"php": "php-8.2-20200101.n.0"})
    r = stack.build(doc, rc=2)
    assert "compose php-8.2-20200101.n.0, pinned for php:8.2, is not in the registry" in r.stderr
    assert stack.artifacts("fail-pin") == []


@pytest.mark.parametrize("name,data,reason", [
    ("fail-profile", {"contents": [{"module": "php:8.2", "profile": "nosuch"}]},
     "install php:8.2/nosuch into the installroot: `dnf` failed"),
    ("fail-package", {"packages": ["mod_ssl", "not-in-the-stacks"]},
     "install mod_ssl, not-in-the-stacks into the installroot: `dnf` failed"),
])
def test_what_dnf_refuses_is_recorded_failed_and_publishes_nothing(stack, name, data, reason):
    doc = artifact_doc(name, "container", **data)
    r = stack.build(doc, rc=2)
    assert reason in r.stderr, r.stderr
    (rec,) = stack.artifacts(name)
    assert rec["state"] == "failed"
    assert reason in rec["error"]
    assert published(stack, name) == []


def test_a_missing_tool_is_named_with_its_package(stack, tmp_path):
    # rpm and dnf are there; xorriso is not.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rpm").symlink_to("/usr/bin/rpm")
    doc = artifact_doc("fail-tool", "iso")
    r = stack.build(doc, rc=2, env={"PATH": str(bin_dir)})
    assert "`xorriso` is not installed; install the Debian package xorriso (Fedora: xorriso)" in (
        r.stderr), r.stderr
    (rec,) = stack.artifacts("fail-tool")
    assert rec["state"] == "failed" and "xorriso" in rec["error"]
    assert published(stack, "fail-tool") == []


def test_validate_reads_artifact_definitions(stack):
    good = stack.definition(artifact_doc("ok-doc", "container"))
    bad = stack.definition(artifact_doc("bad-doc", "vm"))
    r = stack.site.run("validate", good, bad, check_rc=1)
    assert f"{good}: OK (container artifact ok-doc, 1 stack)" in r.stdout
    assert "is not a valid strata-artifact document" in r.stderr
    assert "data.kind: `vm` is not one of `container`, `ostree`, `iso`" in r.stderr
    assert yaml.safe_load(good.read_text())["document"] == "strata-artifact"


def test_the_python_binding_builds_the_same_artifact(stack, monkeypatch):
    import strata

    doc = artifact_doc("php-py", "container", container={"entrypoint": ["/usr/bin/php"]})
    by_cli = stack.build_json(doc)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    rec = strata.compose_artifact(stack.definition(doc), config=stack.site.config)
    assert (rec.kind, rec.artifact, rec.state) == ("artifact", "container", "finished")
    assert rec.id != by_cli["id"]
    assert rec.outputs.build_id == by_cli["outputs"]["build_id"]
    assert rec.to_dict()["outputs"]["build_id"] == rec.outputs.build_id
    assert [i.ident for i in rec.inputs[:2]] == [stack.ids["apache"], stack.ids["php"]]
    module = strata.get_compose(stack.ids["php"], config=stack.site.config)
    assert (module.kind, module.artifact, module.outputs.build_id) == ("module", None, None)
    with pytest.raises(strata.ComposeError, match="nosuch:1 has no good compose"):
        strata.compose_artifact(stack.definition(
            artifact_doc("py-fail", "iso", contents=[{"module": "nosuch:1"}])),
            config=stack.site.config)


def test_a_fifo_is_refused_as_an_artifact_definition(stack, tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    r = stack.site.run("compose", "artifact", fifo, "--config", stack.site.config, timeout=120,
                       check_rc=2)
    assert f"{fifo}: this is a FIFO; an artifact definition must be a regular file" in r.stderr
