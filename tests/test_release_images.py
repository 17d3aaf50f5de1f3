"""`strata release compose` of a release with artifacts: each artifact's
image (a real xorriso ISO, an OCI layout, an ostree repository) is put
into the release compose in Pungi's layout, a variant per artifact,
hardlinked from the artifact compose, and listed in productmd's
images.json with the checksums productmd reads."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import yaml

import composekit as ck
import test_artifacts as ta

LONG = {"eol": "2028-12-31", "sla": {"security_fixes": "2028-12-31"}}


@pytest.fixture(scope="module")
def stack(strata_bin, tmp_path_factory) -> ta.Stack:
    """apache:2.4 and php:8.2 of real RPMs with files, with a lifecycle
    (a release holds every module to one)."""
    root = tmp_path_factory.mktemp("release-images")
    base, defs = ta.stack_sources(root)
    for d in defs.values():
        doc = yaml.safe_load(d.read_text())
        doc["data"]["lifecycle"] = LONG
        d.write_text(yaml.safe_dump(doc, sort_keys=False))
    site = ck.Site(strata_bin, root / "site", platforms={"f40": [str(base)]})
    ids = {name: site.compose_json(d)["id"] for name, d in defs.items()}
    return ta.Stack(site, root, base, ids)


def test_a_release_compose_ships_each_artifacts_image_as_pungi_lays_them_out(stack, tmp_path):
    import productmd.compose  # installed by .ci/setup
    iso = stack.build_json(ta.artifact_doc("php-media", "iso", contents=[{"module": "php:8.2"}],
                                           iso={"volume_id": "PHP-8.2"}))
    oci = stack.build_json(ta.artifact_doc("php-web", "container",
                                           container={"entrypoint": ["/usr/bin/php"]}))
    tree = stack.build_json(ta.artifact_doc("php-tree", "ostree",
                                            ostree={"ref": "strata/x86_64/php"}))
    release = stack.root / "releases" / "r1.yaml"
    release.parent.mkdir(exist_ok=True)
    release.write_text(yaml.safe_dump({"document": "strata-release", "version": 1, "data": {
        "name": "r1", "version": "1", "date": "2026-05-01",
        "lifecycle": {"eol": "2027-12-31", "sla": {"security_fixes": "2027-12-31"}},
        "modules": [{"module": "php:8.2", "definition": "../modules/php.yaml", "default": True},
                    {"module": "apache:2.4", "definition": "../modules/apache.yaml"}],
        "artifacts": [{"definition": f"../artifacts/{n}.yaml"}
                      for n in ("php-media", "php-web", "php-tree")],
    }}, sort_keys=False))
    site = stack.site
    out = json.loads(site.run("release", "compose", release, "--config", site.config,
                              "--cache-dir", site.cache, "--arch", "x86_64", "--json",
                              check_rc=0).stdout)
    assert out["report"]["problems"] == []
    rec = out["release"]
    assert [(i["kind"], i["compose_id"]) for i in rec["inputs"] if i["kind"] == "artifact"] == [
        ("artifact", iso["id"]), ("artifact", oci["id"]), ("artifact", tree["id"])]
    top = Path(rec["path"])
    c = productmd.compose.Compose(str(top))
    assert sorted(c.info.variants.variants) == ["Modular", "PhpMedia", "PhpTree", "PhpWeb"]

    def only(variant):
        [image] = c.images.images[variant]["x86_64"]
        path = top / "compose" / image.path
        assert image.checksums["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert image.size == path.stat().st_size
        return image, path

    # The ISO: Pungi's `<Variant>/<arch>/iso/`, type dvd, the same inode.
    image, path = only("PhpMedia")
    assert (image.type, image.format, image.path) == (
        "dvd", "iso", "PhpMedia/x86_64/iso/php-media-x86_64.iso")
    assert image.volume_id == "PHP-8.2"
    assert path.stat().st_ino == (Path(iso["outputs"]["path"]) / path.name).stat().st_ino

    # The container: its OCI layout under `<Variant>/<arch>/images/`, every
    # blob hardlinked, readable by skopeo with the artifact's digest.
    image, path = only("PhpWeb")
    assert image.type == "docker" and image.path.startswith("PhpWeb/x86_64/images/php-web/blobs/")
    layout = top / "compose" / "PhpWeb" / "x86_64" / "images" / "php-web"
    src = Path(oci["outputs"]["path"]) / "image"
    for f in src.rglob("*"):
        if f.is_file():
            assert (layout / f.relative_to(src)).stat().st_ino == f.stat().st_ino, f
    inspect = json.loads(subprocess.run(["skopeo", "inspect", f"oci:{layout}:latest"],
                                        capture_output=True, text=True, check=True).stdout)
    assert inspect["Digest"] == oci["outputs"]["build_id"]

    # The ostree repository: laid out (productmd has no image type for it).
    assert "PhpTree" not in c.images.images
    repo = top / "compose" / "PhpTree" / "x86_64" / "ostree"
    rev = subprocess.run(["ostree", f"--repo={repo}", "rev-parse", "strata/x86_64/php"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert rev == tree["outputs"]["build_id"]
