"""The Koji hub stand-in's uploads against what kojihub does (as read in
kojihub/kojihub.py: handle_upload, get_upload_path, checkUpload,
uploadFile), through the real koji client library: the suites that use
the stand-in (test_koji_cli.py, test_koji_builder.py) are only as good as
this agreement."""

from __future__ import annotations

import base64
import gc
import hashlib
import time
import urllib.request
import xmlrpc.client
import zlib
from pathlib import Path

import koji
import pytest

from kojid_standin import BuilderHub
from kojihub_standin import HubServer

HOST = "builder-01.example.org"


@pytest.fixture
def hub(tmp_path):
    hub = BuilderHub(tmp_path / "topdir")
    hub.koji_hub.add_host(HOST, password="host-pw")
    for user in ("alice", "bob"):
        hub.koji_hub.add_user(user, password="pw")
    with HubServer(hub) as srv:
        hub.url = srv.url
        yield hub


def login(hub, user, password="pw"):
    s = koji.ClientSession(hub.url, {"user": user, "password": password,
                                     "use_fast_upload": True})
    assert s.login()
    return s


def upload(s, tmp_path, data: bytes, path, name, overwrite=False):
    local = tmp_path / "local" / name
    local.parent.mkdir(exist_ok=True)
    local.write_bytes(data)
    s.fastUpload(str(local), path, name, overwrite=overwrite)


def test_a_logout_leaves_every_other_session_valid(hub):
    """kojihub numbers sessions from a sequence: the login after a logout
    gets a new ID and never takes over a session still in use (a builder's
    session outlives many short CLI sessions)."""
    host, alice = login(hub, HOST, "host-pw"), login(hub, "alice")
    ids = {host.sinfo["session-id"], alice.sinfo["session-id"]}
    alice.logout()
    for _ in range(3):
        bob = login(hub, "bob")
        assert bob.sinfo["session-id"] not in ids
        ids.add(bob.sinfo["session-id"])
        assert bob.getLoggedInUser()["name"] == "bob"
        bob.logout()
    assert host.getLoggedInUser()["name"] == HOST
    assert host.host.getHostTasks() == []


def test_a_session_collected_on_the_hubs_own_thread_does_not_stall_it(tmp_path):
    """The hub is another process in production, here threads of the test's
    own: a logged-in session that only the cycle collector frees (a task
    handler holding its session, as kojid's do) logs out in koji's
    ClientSession.__del__, and when the collection runs on the thread that
    accepts the hub's calls, that logout waited for itself and every
    client waited for ever (the CI hang of stop 32). The stand-in logs such
    sessions out on a thread of its own: the hub keeps answering, and the
    logout still reaches it."""
    hub = BuilderHub(tmp_path / "topdir")
    hub.koji_hub.add_user("alice", password="pw")
    with HubServer(hub) as srv:
        hub.url = srv.url
        gc.disable()  # only the hub's thread collects, below
        try:
            # a stalled logout would end at its timeout (60 s) and the
            # probe's (10 s) first: the test fails rather than hangs
            s = koji.ClientSession(hub.url, {"user": "alice", "password": "pw", "timeout": 60})
            assert s.login()
            sid = s.sinfo["session-id"]
            assert sid in hub.sessions
            s.cycle = s
            del s
            collected = []
            # socketserver calls service_actions on the accepting thread
            # between two polls (every 0.5 s)
            srv.server.service_actions = lambda: collected.append(gc.collect())
            probe = koji.ClientSession(hub.url, {"timeout": 10})
            for _ in range(100):
                if any(collected):
                    break
                probe.getAPIVersion()  # raises on a stalled hub (10 s)
                time.sleep(0.05)
            assert any(collected), "the hub's thread collected nothing"
            for _ in range(100):
                if sid not in hub.sessions:
                    break
                time.sleep(0.05)
            assert probe.getAPIVersion() == koji.API_VERSION
        finally:
            gc.enable()
    assert sid not in hub.sessions, "the collected session was not logged out"


def test_raw_upload_and_check_upload(hub, tmp_path):
    alice = login(hub, "alice")
    upload(alice, tmp_path, b"0123456789", "cli-build/1.a", "def.yaml")
    stored = Path(koji.pathinfo.work()) / "cli-build/1.a/def.yaml"
    assert stored.read_bytes() == b"0123456789"
    info = alice.checkUpload("cli-build/1.a", "def.yaml", verify="adler32")
    assert (info["size"], info["sumlength"]) == (10, 10)
    assert info["hexdigest"] == "%08x" % (zlib.adler32(b"0123456789") & 0xFFFFFFFF)
    # the digest of the last `tail` bytes; sha256 and md5 as well
    info = alice.checkUpload("cli-build/1.a", "def.yaml", verify="sha256", tail=4)
    assert info["sumlength"] == 4 and info["hexdigest"] == hashlib.sha256(b"6789").hexdigest()
    with pytest.raises(koji.GenericError, match="Unsupported verify type: crc"):
        alice.checkUpload("cli-build/1.a", "def.yaml", verify="crc")
    assert alice.checkUpload("cli-build/1.a", "missing.yaml") is None

    # offset 0 onto an existing file needs overwrite, which truncates
    with pytest.raises(koji.GenericError, match="upload path exists"):
        upload(alice, tmp_path, b"new", "cli-build/1.a", "def.yaml")
    upload(alice, tmp_path, b"new", "cli-build/1.a", "def.yaml", overwrite=True)
    assert stored.read_bytes() == b"new"
    # offset -1 appends (kojid's incremental log uploads)
    r = alice.rawUpload(b"+more", -1, "cli-build/1.a", "def.yaml")
    assert (r["offset"], r["size"], stored.read_bytes()) == (3, 5, b"new+more")


def test_upload_folders_belong_to_their_first_user_and_tasks_to_their_host(hub, tmp_path):
    alice, bob = login(hub, "alice"), login(hub, "bob")
    upload(alice, tmp_path, b"a", "cli-build/2.b", "a.yaml")
    with pytest.raises(koji.GenericError, match="not owner: cli-build/2.b"):
        upload(bob, tmp_path, b"b", "cli-build/2.b", "b.yaml")
    for path, name, message in (("../out", "x", "Invalid upload directory"),
                                ("", "x", "Invalid upload directory"),
                                ("cli-build/3", ".x", "Invalid upload filename"),
                                ("cli-build/3", "a/b", "Invalid upload filename"),
                                ("tasks/1", "x", "Invalid task upload directory")):
        with pytest.raises(koji.GenericError, match=message):
            upload(alice, tmp_path, b"x", path, name)
    # the client refuses to upload without a login; the hub refuses too
    anonymous = urllib.request.Request(hub.url + "?filename=x&filepath=cli-build%2F4&offset=0",
                                       data=b"x",
                                       headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(anonymous, timeout=30) as reply:
        with pytest.raises(xmlrpc.client.Fault, match="you must be logged-in to upload"):
            xmlrpc.client.loads(reply.read())

    fake = hub.koji_hub
    task_id = fake.make_task("moduleCompose", ["x"], owner=fake.user("alice")["id"])
    tasks_dir = koji.pathinfo.taskrelpath(task_id)
    with pytest.raises(koji.ActionNotAllowed):
        upload(alice, tmp_path, b"log", tasks_dir, "compose.log")
    host = login(hub, HOST, "host-pw")
    with pytest.raises(koji.ActionNotAllowed, match="does not own task"):
        upload(host, tmp_path, b"log", tasks_dir, "compose.log")
    fake.open_task(task_id, HOST)
    upload(host, tmp_path, b"log", tasks_dir, "compose.log")
    assert (Path(koji.pathinfo.work()) / tasks_dir / "compose.log").read_bytes() == b"log"


def test_xmlrpc_upload_file(hub):
    alice = login(hub, "alice")
    chunks = [b"first ", b"second"]
    whole = b"".join(chunks)
    offset = 0
    for c in chunks:
        assert alice.uploadFile("cli-build/5", "f.txt", len(c),
                                ("sha256", hashlib.sha256(c).hexdigest()), offset,
                                base64.b64encode(c).decode())
        offset += len(c)
    # the last call checks the whole file
    assert alice.uploadFile("cli-build/5", "f.txt", len(whole),
                            ("sha256", hashlib.sha256(whole).hexdigest()), -1, "")
    assert (Path(koji.pathinfo.work()) / "cli-build/5/f.txt").read_bytes() == whole
    # a chunk that is not what its checksum says is refused, not stored
    assert alice.uploadFile("cli-build/5", "g.txt", 3, ("sha256", "0" * 64), 0,
                            base64.b64encode(b"abc").decode()) is False
    with pytest.raises(koji.GenericError, match="file already exists"):
        alice.uploadFile("cli-build/5", "f.txt", 1, ("sha256", hashlib.sha256(b"x").hexdigest()),
                         0, base64.b64encode(b"x").decode())


def _cg_site(tmp_path):
    """A FakeHub with content generator `strata` open to alice, and one
    uploaded file work/cg/x.iso."""
    import kojihub_module_standin as khs
    fake = khs.FakeHub(tmp_path / "top")
    khs.install(fake)
    fake.add_user("alice")
    fake.add_user("bob")
    fake.grant_cg_access("alice", "strata")
    up = Path(koji.pathinfo.work()) / "cg"
    up.mkdir(parents=True)
    (up / "x.iso").write_bytes(b"iso bytes")
    digest = hashlib.sha256(b"iso bytes").hexdigest()

    def metadata(**change):
        md = {"metadata_version": 0,
              "build": {"name": "web", "version": "1", "release": "1", "source": "git://x",
                        "start_time": 1, "end_time": 2, "owner": "alice",
                        "extra": {"typeinfo": {"image": {}}}},
              "buildroots": [{"id": 1, "host": {"os": "linux", "arch": "x86_64"},
                              "content_generator": {"name": "strata", "version": "0.1"},
                              "container": {"type": "none", "arch": "x86_64"},
                              "tools": [], "components": [], "extra": {}}],
              "output": [{"buildroot_id": 1, "filename": "x.iso", "filesize": 9,
                          "arch": "x86_64", "checksum": digest, "checksum_type": "sha256",
                          "type": "image", "extra": {"image": {"arch": "x86_64"}}}]}
        for path, value in change.items():
            *parents, last = path.split("__")
            d = md
            for p in parents:
                d = d[int(p)] if p.isdigit() else d[p]
            if value is KeyError:
                del d[last]
            else:
                d[last] = value
        return md
    return fake, metadata


@pytest.mark.parametrize("who, change, exc, message", [
    ("bob", {}, koji.AuthError, r"Content generator access required \(strata\)"),
    (None, {}, koji.AuthError, "Not logged-in"),
    ("alice", {"metadata_version": 1}, koji.GenericError, "No such metadata version: 1"),
    ("alice", {"buildroots__0__content_generator__name": "osbs"}, koji.GenericError,
     "No such entry in table content_generator: osbs"),
    ("alice", {"build__release": "1-2"}, koji.GenericError,
     'The "-" character not allowed in release field'),
    ("alice", {"build__owner": "nobody"}, koji.GenericError, "No such user"),
    ("alice", {"build__extra": {"typeinfo": {"vm": {}}}}, koji.GenericError,
     "No such entry in table btype: vm"),
    ("alice", {"output__0__buildroot_id": 2}, koji.GenericError,
     "Buildroot id not used in output: 1"),
    ("alice", {"output__0__filesize": 10}, koji.GenericError,
     r"File size 9 for x.iso \(expected 10\) doesn't match. Corrupted upload\?"),
    ("alice", {"output__0__checksum": "0" * 64}, koji.GenericError,
     "File checksum mismatch for x.iso"),
    ("alice", {"output__0__extra": {}}, koji.GenericError, "No typeinfo for: x.iso"),
    ("alice", {"build__extra": {"typeinfo": {"rpm": {}}}}, koji.GenericError,
     "Output type image not listed in build types"),
    ("alice", {"buildroots__0__components": [{"type": "rpm", "name": "a", "version": "1",
                                              "release": "1", "arch": "noarch",
                                              "location": "x"}]},
     koji.GenericError, "External rpms not allowed"),
    ("alice", {"build__start_time": KeyError}, KeyError, "start_time"),
])
def test_cg_import_refuses_what_kojihub_refuses(tmp_path, who, change, exc, message):
    fake, metadata = _cg_site(tmp_path)
    fake.as_user(who)
    with pytest.raises(exc, match=message):
        fake.cg_import(metadata(**change), "cg")
    assert not fake.builds and not fake.archives


def test_cg_import_imports_an_image_build_once(tmp_path):
    fake, metadata = _cg_site(tmp_path)
    fake.as_user("alice")
    build = fake.cg_import(metadata(), "cg")
    assert fake.build_types[build["id"]] == {"image"} and build["owner_name"] == "alice"
    (archive,) = fake.list_archives(buildID=build["id"])
    assert (archive["type_name"], archive["btype"], archive["arch"]) == ("iso", "image", "x86_64")
    assert (Path(koji.pathinfo.imagebuild(build)) / "x.iso").read_bytes() == b"iso bytes"
    assert (Path(koji.pathinfo.build(build)) / "metadata.json").is_file()
    with pytest.raises(koji.GenericError, match=r"Build already exists: web-1-1 \(id=1\)"):
        fake.cg_import(metadata(), "cg")
