"""Hostile source repositories: a source must never make a compose reach
outside it (read, link or write a file elsewhere on the host), publish
metadata that does not parse, or leak the password of its URL.

Every case starts from real RPMs (rpmbuild) and a real createrepo_c
repository, then breaks one thing by hand: a symlink, a FIFO, an edited
primary.xml (rpmfactory.edit_package / edit_metadata keep repomd.xml's
checksums right, so only the intended problem remains)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import composekit as ck
import dnforacle
import rpmfactory

PKGS = [{"name": "foo"}, {"name": "bar"}, {"name": "evil-a"}, {"name": "evil-b"},
        {"name": "needy", "requires": ["nothing-provides-this"]}]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """name → a real RPM of that name (noarch, 1-1)."""
    d = tmp_path_factory.mktemp("hostile-rpms") / "rpms"
    return {p.name.split("-1-1.")[0]: p for p in rpmfactory.build_rpms(PKGS, d)}


@pytest.fixture
def site(strata_bin, tmp_path):
    return ck.Site(strata_bin, tmp_path / "site")


def source(tmp_path: Path, built: dict[str, Path], names=("foo",), layout=None,
           createrepo_args=()) -> Path:
    """A createrepo_c repository of the named RPMs, at `layout[name]`
    (default: the file name, at the top)."""
    src = tmp_path / "src"
    for n in names:
        rel = (layout or {}).get(n, built[n].name)
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(built[n], src / rel)
    return rpmfactory.createrepo(src, createrepo_args)


def definition(tmp_path: Path, src, names=("foo",)) -> Path:
    return ck.write_definition(tmp_path / "m.yaml", ck.definition(name="m", stream="1", packages=names,
                                                                  repos=[src]))


def published(site) -> list[Path]:
    """Everything under the output tree but failed composes' leftovers."""
    if not site.out.exists():
        return []
    return [p for p in site.out.iterdir() if not p.name.startswith(".")]


def assert_refused(site, r, *words):
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    for w in words:
        assert w in r.stderr, f"{w!r} not in stderr:\n{r.stderr}"
    assert published(site) == []
    assert not list(site.out.glob(".staging/.staging-*")) if site.out.exists() else True


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# ------------------------------------------------------------- paths


def test_a_symlinked_directory_cannot_make_a_compose_write_outside(site, tmp_path, built):
    """The attack of issue 11: `Evil -> <outside>` plus an href
    `Evil/victim.conf` hardlinked the victim into the compose, and a
    second package with the same basename wrote through that hardlink."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.conf"
    victim.write_bytes(b"the host's own configuration\n" * 40)
    before = victim.read_bytes()
    src = source(tmp_path, built, ("evil-a", "evil-b"))
    os.symlink(outside, src / "Evil")
    owned = src / "victim.conf"
    owned.write_bytes(b"owned\n")
    rpmfactory.edit_package(src, "evil-a", href="Evil/victim.conf", size=len(before),
                            checksum=hashlib.sha256(before).hexdigest())
    rpmfactory.edit_package(src, "evil-b", href="victim.conf", size=len(b"owned\n"),
                            checksum=sha256(owned))
    r = site.compose(definition(tmp_path, src, ("evil-a", "evil-b")))
    assert victim.read_bytes() == before
    assert_refused(site, r, "evil-a-1-1.noarch", "`Evil`", "symbolic link")
    assert [c["state"] for c in site.list()] == ["failed"]


def test_two_hrefs_with_one_basename_publish_two_files(site, tmp_path, built):
    """`Packages/a/x.rpm` and `Packages/b/x.rpm` are two packages: each is
    published under its own name, and the source's RPMs stay as they were."""
    src = source(tmp_path, built, ("foo", "bar"),
                 layout={"foo": "Packages/a/x.rpm", "bar": "Packages/b/x.rpm"})
    sums = {p: sha256(src / p) for p in ("Packages/a/x.rpm", "Packages/b/x.rpm")}
    rec = site.compose_json(definition(tmp_path, src, ("foo", "bar")))
    assert {p: sha256(src / p) for p in sums} == sums
    repo = ck.repo_dir(rec, "x86_64")
    assert sorted(str(p.relative_to(repo)) for p in repo.rglob("*.rpm")) == [
        "Packages/b/bar-1-1.noarch.rpm", "Packages/f/foo-1-1.noarch.rpm"]
    # The published metadata names each file with its own checksum.
    primary = rpmfactory.read_metadata(repo, "primary")
    for name in ("foo", "bar"):
        f = repo / f"Packages/{name[0]}/{name}-1-1.noarch.rpm"
        assert f.read_bytes() == built[name].read_bytes()
        assert f'href="Packages/{name[0]}/{name}-1-1.noarch.rpm"' in primary
        assert sha256(f) in primary


def test_a_symlinked_packages_directory_publishes_nothing_from_it(site, tmp_path, built):
    src = source(tmp_path, built)
    os.symlink("/etc", src / "Packages")
    passwd = Path("/etc/passwd")
    rpmfactory.edit_package(src, "foo", href="Packages/passwd", size=passwd.stat().st_size,
                            checksum=sha256(passwd))
    r = site.compose(definition(tmp_path, src))
    assert_refused(site, r, "foo-1-1.noarch", "`Packages`", "symbolic link")


@pytest.mark.parametrize("target", ["/etc/passwd", "/dev/zero"])
def test_an_rpm_that_is_a_symlink_is_refused(site, tmp_path, built, target):
    src = source(tmp_path, built)
    rpm = src / "foo-1-1.noarch.rpm"
    rpm.unlink()
    os.symlink(target, rpm)
    t = Path(target)
    size = t.stat().st_size if t.is_file() else 0
    rpmfactory.edit_package(src, "foo", size=size,
                            checksum=sha256(t) if t.is_file() else hashlib.sha256(b"").hexdigest())
    r = site.compose(definition(tmp_path, src))
    assert_refused(site, r, "foo-1-1.noarch", "symbolic link")


@pytest.mark.parametrize("verify", [False, True])
def test_a_fifo_as_an_rpm_is_refused_without_hanging(site, tmp_path, built, verify):
    src = source(tmp_path, built)
    rpm = src / "foo-1-1.noarch.rpm"
    rpm.unlink()
    os.mkfifo(rpm)
    rpmfactory.edit_package(src, "foo", size=0, checksum=hashlib.sha256(b"").hexdigest())
    args = site.compose_args(definition(tmp_path, src)) + (["--verify-payloads"] if verify else [])
    # Opening a FIFO for reading waits for a writer: the compose must never do that.
    r = site.run(*args, timeout=60)
    assert_refused(site, r, "foo-1-1.noarch", "FIFO")


# ------------------------------------------------------------- metadata

LAUGHS = """<!DOCTYPE metadata [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""
EXTERNAL = '<!DOCTYPE metadata [ <!ENTITY ext SYSTEM "file:///etc/passwd"> ]>\n'


def _after_decl(doctype: str):
    def edit(text: str) -> str:
        decl_end = text.index("?>") + 2
        return text[:decl_end] + "\n" + doctype + text[decl_end:]
    return edit


@pytest.mark.parametrize("doctype,ref,word", [
    (LAUGHS, "&lol9;", "DOCTYPE"),
    (EXTERNAL, "&ext;", "DOCTYPE"),
    ("", "&undefined;", "&undefined;"),
    ("", "&#0;", "&#0;"),
], ids=["billion-laughs", "external-entity", "undefined-entity", "bad-char-ref"])
def test_entities_in_primary_are_refused(site, run_strata, tmp_path, built, doctype, ref, word):
    src = source(tmp_path, built)
    rpmfactory.edit_package(src, "foo", description=f"foo {ref}")
    if doctype:
        rpmfactory.edit_metadata(src, "primary", _after_decl(doctype))
    primary = rpmfactory.md_path(src, "primary")
    r = site.compose(definition(tmp_path, src))
    assert_refused(site, r, primary.name, word)
    assert site.list() == []
    r = run_strata(["repoclosure", "--repo", f"src={src}", "--no-cache"])
    assert r.returncode == 2 and primary.name in r.stderr and word in r.stderr, r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("mdtype", ["filelists", "other"])
def test_entities_in_filelists_and_other_are_refused(site, tmp_path, built, mdtype):
    """Their records are published byte for byte too."""
    src = source(tmp_path, built)
    rpmfactory.edit_metadata(src, mdtype, lambda t: t.replace(
        "</package>", '<changelog author="a" date="1">&lol9;</changelog></package>', 1))
    rpmfactory.edit_metadata(src, mdtype, _after_decl(LAUGHS))
    r = site.compose(definition(tmp_path, src))
    assert_refused(site, r, rpmfactory.md_path(src, mdtype).name, "DOCTYPE")


def test_predefined_entities_and_char_refs_publish_metadata_that_parses(site, tmp_path, built):
    src = source(tmp_path, built, ("foo", "bar"))
    rpmfactory.edit_package(src, "foo", description="a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233; &#x41;")
    rec = site.compose_json(definition(tmp_path, src, ("foo", "bar")))
    repo = ck.repo_dir(rec, "x86_64")
    for mdtype in ("primary", "filelists", "other"):
        ET.fromstring(rpmfactory.read_metadata(repo, mdtype))  # expat: well-formed, no unknown entity
    assert "a &amp; b &lt;c&gt;" in rpmfactory.read_metadata(repo, "primary")
    # And the real dnf reads it.
    r = dnforacle.run_dnf({"published": repo})
    assert r.returncode == 0, r.stderr


def test_a_second_root_element_is_refused(site, run_strata, tmp_path, built):
    """Counted twice before: every package of the second <metadata> again."""
    src = source(tmp_path, built)

    def twice(text: str) -> str:
        start = text.index("<metadata")
        return text + text[start:]

    primary = rpmfactory.edit_metadata(src, "primary", twice)
    r = run_strata(["repoclosure", "--repo", f"src={src}", "--no-cache"])
    assert r.returncode == 2 and primary.name in r.stderr and "root element" in r.stderr, r.stderr
    r = site.compose(definition(tmp_path, src))
    assert_refused(site, r, primary.name, "root element")


# ------------------------------------------------------------- checksums


def test_md5_package_checksums_are_refused(site, tmp_path, built):
    src = source(tmp_path, built, createrepo_args=["--checksum", "md5", "--repomd-checksum", "sha256"])
    assert 'checksum type="md5" pkgid="YES"' in rpmfactory.read_metadata(src, "primary")
    r = site.compose(definition(tmp_path, src))
    assert_refused(site, r, "foo-1-1.noarch", "md5")


def test_md5_metadata_checksums_are_refused(site, run_strata, tmp_path, built):
    src = source(tmp_path, built, createrepo_args=["--checksum", "sha256", "--repomd-checksum", "md5"])
    r = run_strata(["repoclosure", "--repo", f"src={src}", "--no-cache"])
    assert r.returncode == 2 and "md5" in r.stderr and "primary.xml" in r.stderr, r.stderr


def test_sha1_package_checksums_are_accepted_with_a_warning(site, tmp_path, built):
    src = source(tmp_path, built, createrepo_args=["--checksum", "sha1", "--repomd-checksum", "sha256"])
    r = site.compose(definition(tmp_path, src), check_rc=0)
    assert "sha1" in r.stderr and "warn" in r.stderr.lower(), r.stderr
    repo = ck.repo_dir(json.loads(site.run("composes", "list", "--json", "--config", site.config,
                                           check_rc=0).stdout)[0], "x86_64")
    assert (repo / "Packages/f/foo-1-1.noarch.rpm").read_bytes() == built["foo"].read_bytes()


# ------------------------------------------------------------- http


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


USER, PASSWORD = "compose", "s3cr3t-Pa55word"


class _BasicAuth(_Quiet):
    def do_GET(self):
        want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="repo"')
            self.end_headers()
            return
        super().do_GET()


def _all_text(root: Path) -> bytes:
    """Every file under root, decompressed where it is compressed."""
    out = []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            out.append(rpmfactory._decompress(p.read_bytes())[0])
    return b"\n".join(out)


def test_a_password_in_a_source_url_is_used_but_never_shown_or_stored(site, run_strata, tmp_path,
                                                                      built):
    src = source(tmp_path, built, ("foo", "bar", "needy"))
    with ck.HTTPServer(_BasicAuth, src) as srv:
        url = srv.url.replace("http://", f"http://{USER}:{PASSWORD}@") + "/"
        d = definition(tmp_path, url, ("foo", "bar"))
        r = site.run("-v", *site.compose_args(d, "--json"), check_rc=0)
        rec = json.loads(r.stdout)
        # A wrong path fails, naming the URL without the password.
        bad = definition(tmp_path, url + "nothing-here/", ("foo",))
        r_bad = site.run("-v", *site.compose_args(bad))
        # A failed gate keeps its report (with the repositories) in the record.
        gate = ck.write_definition(tmp_path / "g.yaml", ck.definition(
            name="g", stream="1", packages=["needy"], repos=[url]))
        r_gate = site.run("-v", *site.compose_args(gate), check_rc=1)
        r_closure = run_strata(["-v", "repoclosure", "--repo", f"src={url}", "--json", "--no-cache"])
    assert r_bad.returncode == 2 and f"{USER}@127.0.0.1" in r_bad.stderr, r_bad.stderr
    assert r_closure.returncode == 1 and f"{USER}@127.0.0.1" in r_closure.stdout, r_closure.stdout
    # The payloads came over HTTP, with the credentials.
    repo = ck.repo_dir(rec, "x86_64")
    assert (repo / "Packages/f/foo-1-1.noarch.rpm").read_bytes() == built["foo"].read_bytes()
    sources = [i for i in rec["inputs"] if i["kind"].lower() == "source_repo"]
    assert sources and all(i["location"].startswith(f"http://{USER}@127.0.0.1") for i in sources), sources
    shown = site.run("composes", "show", rec["id"], "--config", site.config, check_rc=0)
    listed = site.run("composes", "list", "--json", "--config", site.config, check_rc=0)
    failed = [c for c in site.list("--state", "failed") if c["name"] == "g"]
    # Listings leave reports out; the record has it.
    assert failed and site.show(failed[0]["id"])["report"], failed
    texts = [r.stdout, r.stderr, r_bad.stdout, r_bad.stderr, r_gate.stdout, r_gate.stderr,
             r_closure.stdout, r_closure.stderr, json.dumps(site.show(rec["id"])),
             json.dumps(site.show(failed[0]["id"])), shown.stdout, listed.stdout]
    for t in texts:
        assert PASSWORD not in t, t
    assert PASSWORD.encode() not in site.registry.read_bytes()
    assert PASSWORD.encode() not in _all_text(site.out)


class _Endless(_Quiet):
    """Serves metadata as files, and every RPM as its bytes followed by
    256 MiB more, counting what it managed to send."""

    def do_GET(self):
        if not self.path.endswith(".rpm"):
            return super().do_GET()
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.end_headers()
        chunk = b"\0" * (1 << 20)
        try:
            self.wfile.write(data)
            self.server.sent += len(data)
            for _ in range(256):
                self.wfile.write(chunk)
                self.server.sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


def test_a_remote_payload_larger_than_announced_is_cut_off(site, tmp_path, built):
    src = source(tmp_path, built)
    with ck.HTTPServer(_Endless, src) as srv:
        srv.httpd.sent = 0
        r = site.compose(definition(tmp_path, srv.url + "/"))
        sent = srv.httpd.sent
    # It stopped reading at the announced size: what was sent beyond that is
    # what the socket buffers took, not the 256 MiB on offer.
    assert sent < 64 << 20, sent
    assert_refused(site, r, "foo-1-1.noarch", "more than")
