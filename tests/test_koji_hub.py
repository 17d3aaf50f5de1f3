"""The Koji hub plugin (koji_plugin/hub/strata_hub.py), loaded with
koji.plugin.PluginTracker as kojihub loads plugins, against the kojihub
module stand-in (tests/kojihub_module_standin.py) and real compose records
in a SQLite registry, made by the real strata extension."""

from __future__ import annotations

import logging
from pathlib import Path

import koji
import koji.plugin
import pytest

import composekit as ck
import kojihub_module_standin as khs
import strata
from pgkit import pg_cluster, pg_url  # noqa: F401 (fixtures)
from test_compose import GOOD, apache, repos  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent
HUB_PLUGINS = ROOT / "koji_plugin" / "hub"
SRC = "git+https://src.example.org/modules/apache.git?apache.yaml#3f2a9c1"

def load_hub_plugin():
    """strata_hub, loaded once per process as kojihub does at startup."""
    if "kojihub" not in __import__("sys").modules:
        khs.install(khs.FakeHub())
    return khs.load_plugin("strata_hub", HUB_PLUGINS)


def write_hub_config(path: Path, registry, allowed="src.example.org:/modules/*:no", channel="strata",
                     priority=0) -> Path:
    path.write_text(f"[strata]\nregistry = {registry}\nallowed_scms = {allowed}\n"
                    f"channel = {channel}\npriority = {priority}\n")
    return path


def setup_hub(tmp_path: Path, registry) -> khs.FakeHub:
    plugin, _ = load_hub_plugin()
    hub = khs.FakeHub(tmp_path / "koji")
    khs.install(hub)
    hub.add_channel("strata")
    hub.add_btype("module")
    hub.add_user("alice", perms=["module-build"])
    hub.add_user("bob")
    hub.add_user("root", perms=["admin"])
    hub.add_host("builder1", channels=["strata"])
    hub.add_host("builder2", channels=["strata"])
    hub.add_tag("f40-build")
    plugin.CONFIG_FILE = str(write_hub_config(tmp_path / "strata_hub.conf", registry))
    plugin.CONFIG = None
    return hub


@pytest.fixture(scope="module")
def composes(strata_bin, tmp_path_factory, repos):  # noqa: F811
    """A registry with a finished apache:2.4 compose and a failed one."""
    tmp = tmp_path_factory.mktemp("hub-composes")
    site = ck.Site(strata_bin, tmp / "site", platforms={"f40": [repos["platform"]]})
    ok = strata.compose_module(apache(tmp, repos), site.out, config=site.config,
                               registry=site.registry, cache_dir=site.cache)
    assert ok["ok"], ok
    bad = apache(tmp, repos, packages=GOOD + ("mod_lua",), name="lua.yaml")
    failed = strata.compose_module(bad, site.out, config=site.config, registry=site.registry,
                                   cache_dir=site.cache)
    assert not failed["ok"]
    return {"registry": site.registry, "finished": ok["record"], "failed": failed["record"]}


def use_registry(tmp_path: Path, registry):
    """Points the loaded plugin at another registry (a fresh configuration)."""
    plugin, _ = load_hub_plugin()
    plugin.CONFIG_FILE = str(write_hub_config(tmp_path / "strata_hub-2.conf", registry))
    plugin.CONFIG = None


@pytest.fixture
def hub(tmp_path):
    """The hub with an empty registry (moduleBuild needs none)."""
    return setup_hub(tmp_path, tmp_path / "registry.sqlite")


@pytest.fixture
def rhub(tmp_path, composes):
    """The hub on the registry with the composes."""
    return setup_hub(tmp_path, composes["registry"])


@pytest.fixture
def api():
    return load_hub_plugin()[1]


def test_plugin_exports_and_callback(api):
    plugin, _ = load_hub_plugin()
    assert set(api) == {"moduleBuild", "getModuleCompose", "listModuleComposes",
                        "getLatestModuleCompose", "moduleComposeImport", "artifactBuild",
                        "artifactComposeImport", "moduleImpact", "moduleChain", "getModuleChain",
                        "moduleChainApprove", "moduleChainResume", "releaseCheck",
                        "releaseCompose"}
    assert plugin.chain_on_tag in koji.plugin.callbacks["postTag"]
    assert plugin.chain_on_tag.failure_is_an_option
    assert plugin.module_tagged in koji.plugin.callbacks["postTag"]
    assert plugin.chain_on_repo in koji.plugin.callbacks["postRepoDone"]
    assert plugin.chain_on_repo.failure_is_an_option


def test_module_build_creates_task(hub, api):
    hub.as_user("alice")
    tid = api["moduleBuild"](SRC, {"arches": ["x86_64"], "compose_type": "test"})
    t = hub.tasks[tid]
    assert t["method"] == "moduleCompose"
    assert hub.channels[t["channel_id"]]["name"] == "strata"
    assert t["priority"] == koji.PRIO_DEFAULT
    assert t["owner"] == hub.user("alice")["id"] and t["state"] == koji.TASK_STATES["FREE"]
    assert list(khs.Task(tid).getRequest()) == [SRC, {"arches": ["x86_64"], "compose_type": "test"}]
    # no opts at all, and the admin may raise the priority
    hub.as_user("root")
    tid = api["moduleBuild"](SRC, {"priority": -5, "wait_builds": [], "scratch": False})
    assert hub.tasks[tid]["priority"] == koji.PRIO_DEFAULT - 5
    hub.as_user("alice")
    assert list(khs.Task(api["moduleBuild"](SRC)).getRequest()) == [SRC, {}]


def _upload(name, doc):
    """A definition as the CLI uploads it (koji.pathinfo.work()/cli-build/...)."""
    up = Path(koji.pathinfo.work()) / "cli-build" / "1764.abcd" / name
    ck.write_definition(up, doc)
    return "cli-build/1764.abcd/%s" % name


def test_module_build_uploaded_file(hub, api):
    src = _upload("apache.yaml", ck.definition(repos=["https://mirror.example.org/f40/x86_64",
                                                      "/mnt/koji/repos/f40-build/latest/x86_64"]))
    hub.as_user("alice")
    tid = api["moduleBuild"](src, {"scratch": True})
    assert list(khs.Task(tid).getRequest()) == [src, {"scratch": True}]
    # a real compose comes from an SCM URL, for admins too: the builder
    # composes uploads as scratch composes only
    for who in ("alice", "root"):
        hub.as_user(who)
        with pytest.raises(koji.ActionNotAllowed, match=r"an uploaded definition \(cli-build/"
                           r"1764.abcd/apache.yaml\) makes a scratch compose only"):
            api["moduleBuild"](src)
    hub.as_user("alice")
    with pytest.raises(koji.GenericError, match="no such uploaded file: cli-build/x/nope.yaml"):
        api["moduleBuild"]("cli-build/x/nope.yaml", {"scratch": True})
    with pytest.raises(koji.GenericError, match="neither an SCM URL nor an uploaded file"):
        api["moduleBuild"]("cli-build/../../etc/passwd", {"scratch": True})
    assert len(hub.tasks) == 1


def test_module_build_uploaded_file_with_relative_repos_is_refused(hub, api):
    src = _upload("rel.yaml", ck.definition(repos=["https://mirror.example.org/f40", "../repos/f40",
                                                   "local"]))
    hub.as_user("alice")
    with pytest.raises(koji.GenericError, match=r"rel.yaml names repositories by relative path "
                       r"\(../repos/f40, local\): an uploaded definition travels alone"):
        api["moduleBuild"](src, {"scratch": True})
    bad = ck.definition()
    del bad["data"]["summary"]
    src = _upload("bad.yaml", bad)
    with pytest.raises(koji.GenericError, match=r"malformed module definition:\nbad.yaml:\d+:\d+: "
                       r"data: missing required field `summary`"):
        api["moduleBuild"](src, {"scratch": True})
    assert not hub.tasks


@pytest.mark.parametrize("who, src, opts, exc, message", [
    ("bob", SRC, None, koji.ActionNotAllowed,
     r"module-build permission required \(logged in as bob\)"),
    (None, SRC, None, koji.ActionNotAllowed, "you must be logged in"),
    ("alice", "git+https://evil.example.com/modules/apache.git?apache.yaml#1", None,
     koji.ActionNotAllowed, "evil.example.com:/modules/apache.git is not in the list of allowed"),
    ("alice", "git+https://src.example.org/other/apache.git?apache.yaml#1", None,
     koji.ActionNotAllowed, "src.example.org:/other/apache.git is not in the list of allowed"),
    ("alice", "gopher://src.example.org/modules/a.git?a.yaml#1", None, koji.GenericError,
     "invalid SCM URL gopher://"),
    ("alice", "git+https://src.example.org/modules/apache.git#1", None, koji.GenericError,
     "names no definition file"),
    ("alice", "git+https://src.example.org/modules/apache.git?apache.yaml", None,
     koji.GenericError, r"invalid SCM URL .*Could not find the fragment element"),
    ("alice", "apache.yaml", None, koji.GenericError, "neither an SCM URL nor an uploaded file"),
    ("alice", SRC, {"arch": ["x86_64"]}, koji.ParameterError, r"unknown option\(s\): arch"),
    ("alice", SRC, {"scratch": "yes"}, koji.ParameterError, "option scratch must be bool"),
    ("alice", SRC, {"priority": True}, koji.ParameterError, "option priority must be int"),
    ("alice", SRC, {"priority": -1}, koji.ActionNotAllowed, "only admins may create high-priority"),
    ("alice", SRC, {"compose_type": "weekly"}, koji.ParameterError,
     "compose_type must be one of production, test, nightly, ci, development, not 'weekly'"),
    ("alice", SRC, {"arches": []}, koji.ParameterError, "non-empty list of arch names"),
    ("alice", SRC, {"arches": ["x86_64", "x86-64", "armv7hl"]}, koji.ParameterError,
     r"unknown arch\(es\) x86-64, armv7hl: this hub composes aarch64, i686, ppc64le, s390x, "
     r"x86_64 \(\[strata\] arches in .*strata_hub.conf\)"),
    ("alice", SRC, {"tag": "f99-build"}, koji.GenericError, r"no such tag: f99-build \(option tag\)"),
    ("alice", SRC, {"wait_builds": ["httpd-9-9"]}, koji.GenericError,
     r"no such build: httpd-9-9 \(in wait_builds\)"),
    ("alice", SRC, ["x86_64"], koji.ParameterError, "opts must be a struct"),
])
def test_module_build_refuses(hub, api, who, src, opts, exc, message):
    hub.as_user(who)
    with pytest.raises(exc, match=message):
        api["moduleBuild"](src, opts)
    assert not hub.tasks


def test_module_build_known_tag_and_builds(hub, api):
    hub.as_user("root")
    bid = hub.new_build({"name": "httpd", "version": "2.4.58", "release": "1.fc40", "epoch": None})
    hub.as_user("alice")
    tid = api["moduleBuild"](SRC, {"tag": "f40-build", "wait_builds": ["httpd-2.4.58-1.fc40"]})
    assert khs.Task(tid).getRequest()[1]["wait_builds"] == ["httpd-2.4.58-1.fc40"]
    assert bid == 1


def test_config_errors_are_faults(hub, api, tmp_path):
    plugin, _ = load_hub_plugin()
    plugin.CONFIG_FILE = str(tmp_path / "missing.conf")
    plugin.CONFIG = None
    hub.as_user("alice")
    with pytest.raises(koji.ConfigurationError, match="missing.conf"):
        api["moduleBuild"](SRC)
    (tmp_path / "bad.conf").write_text("[strata]\nallowed_scms = x:y\n")
    plugin.CONFIG_FILE = str(tmp_path / "bad.conf")
    with pytest.raises(koji.GenericError, match=r"bad.conf: \[strata\] registry is not set"):
        api["moduleBuild"](SRC)


def test_compose_records(rhub, api, composes):
    hub = rhub
    fin, failed = composes["finished"], composes["failed"]
    hub.as_user(None)  # anyone may read
    assert api["getModuleCompose"](fin["id"])["packages"] == fin["packages"]
    assert api["getModuleCompose"]("nope-1-20261125.n.0") is None
    with pytest.raises(koji.GenericError, match="No such module compose: nope-1-20261125.n.0"):
        api["getModuleCompose"]("nope-1-20261125.n.0", strict=True)
    assert [r["id"] for r in api["listModuleComposes"]("apache", "2.4")] == [failed["id"], fin["id"]]
    assert [r["id"] for r in api["listModuleComposes"](state="failed")] == [failed["id"]]
    assert [r["id"] for r in api["listModuleComposes"](limit=1)] == [failed["id"]]
    assert api["listModuleComposes"](name="php") == []
    assert api["getLatestModuleCompose"]("apache", "2.4")["id"] == fin["id"]
    assert api["getLatestModuleCompose"]("apache", "9") is None
    with pytest.raises(koji.ParameterError, match="state must be one of started, finished, failed"):
        api["listModuleComposes"](state="done")
    with pytest.raises(koji.ParameterError, match="limit must be a positive integer"):
        api["listModuleComposes"](limit=0)
    with pytest.raises(koji.ParameterError, match="Invalid type"):
        api["getModuleCompose"](42)


def test_registry_errors_are_faults(tmp_path, api):
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database\n" * 200)
    setup_hub(tmp_path, junk)
    with pytest.raises(koji.GenericError, match=f"listModuleComposes: cannot open the compose "
                       f"registry {junk}"):
        api["listModuleComposes"]()
    with pytest.raises(koji.GenericError, match="getModuleCompose: cannot open the compose registry"):
        api["getModuleCompose"]("apache-2.4-20261125.n.0")


def _open_compose_task(hub, api, opts=None):
    hub.as_user("alice")
    tid = api["moduleBuild"](SRC, opts)
    hub.open_task(tid, "builder1")
    return tid


def test_module_build_arches_from_the_configuration(hub, api, tmp_path):
    plugin, _ = load_hub_plugin()
    conf = Path(plugin.CONFIG_FILE)
    conf.write_text(conf.read_text() + "arches = x86_64 riscv64\n")
    plugin.CONFIG = None
    hub.as_user("alice")
    tid = api["moduleBuild"](SRC, {"arches": ["riscv64"]})
    assert khs.Task(tid).getRequest()[1] == {"arches": ["riscv64"]}
    with pytest.raises(koji.ParameterError, match="unknown arch.* aarch64: this hub composes "
                       "x86_64, riscv64"):
        api["moduleBuild"](SRC, {"arches": ["aarch64"]})


def _koji_builds_of(hub, rec):
    """The compose's packages as Koji builds (one build per source NVR),
    one RPM also known as an external repo's (never tagged)."""
    builds = {}
    nevras = sorted(rec["packages"]["x86_64"])
    assert len(nevras) > 1
    for k, nevra in enumerate(nevras):
        nevr, arch = nevra.rsplit(".", 1)
        rest, release = nevr.rsplit("-", 1)
        name, ev = rest.rsplit("-", 1)
        version = ev.split(":", 1)[1]
        hub.as_user("root")
        bid = hub.new_build({"name": name, "version": version, "release": release,
                             "epoch": None})
        external = k == len(nevras) - 1
        hub.add_rpm(bid, arch, external_repo_id=7 if external else 0)
        if not external:
            builds[name] = bid
    return builds


def test_import_creates_module_build(rhub, api, composes):
    hub = rhub
    fin = composes["finished"]
    builds = _koji_builds_of(hub, fin)
    tid = _open_compose_task(hub, api)
    hub.as_host("builder1")
    # the hub reads the record only, never the published repository
    out = Path(fin["outputs"]["path"])
    hidden = out.with_name(out.name + ".hidden")
    out.rename(hidden)
    try:
        bid = api["moduleComposeImport"](tid, fin["id"])
    finally:
        hidden.rename(out)
    b = hub.get_build(bid)
    assert (b["name"], b["version"], b["release"]) == (
        "apache", "2.4", f"{fin['version']}.{fin['context']}")
    assert b["owner_id"] == hub.user("alice")["id"] and b["task_id"] == tid
    assert b["state"] == koji.BUILD_STATES["COMPLETE"]
    info = hub.get_build_type(bid)
    assert set(info) == {"module"}
    mod = info["module"]
    assert (mod["name"], mod["stream"], mod["version"], mod["context"], mod["strata_compose_id"]) == (
        "apache", "2.4", str(fin["version"]), fin["context"], fin["id"])
    md = ck.load_with_libmodulemd(mod["modulemd_str"].encode())
    assert md, mod["modulemd_str"]
    assert "document: modulemd" in mod["modulemd_str"] and fin["id"] in mod["modulemd_str"]
    assert mod["modulemd_str"] == fin["modulemd"]["x86_64"]
    # as MBS imported module builds: modulemd.txt and modulemd.<arch>.txt
    # archives under the build's files/module/, the RPMs' builds in a
    # content tag of the module's NSVC
    archives = {a["filename"]: a for a in hub.list_archives(buildID=bid)}
    assert set(archives) == {"modulemd.txt", "modulemd.x86_64.txt"}
    assert {a["btype"] for a in archives.values()} == {"module"}
    typedir = Path(koji.pathinfo.typedir(hub.get_build(bid), "module"))
    assert typedir == Path(koji.pathinfo.topdir) / "packages/apache/2.4" / b["release"] / "files/module"
    for name in archives:
        assert (typedir / name).read_text() == fin["modulemd"]["x86_64"]
    assert mod["content_koji_tag"] == f"module-apache-2.4-{fin['version']}-{fin['context']}"
    tag = hub.get_tag(mod["content_koji_tag"], strict=True)
    assert tag["arches"] == "x86_64"
    assert sorted(r["build_id"] for r in hub.readTaggedBuilds(tag["id"])) == sorted(builds.values())
    # a second import of the same compose is the same build
    assert api["moduleComposeImport"](tid, fin["id"]) == bid
    assert [x["id"] for x in hub.builds.values() if x["name"] == "apache"] == [bid]
    assert len(hub.archives) == 2


def test_import_refusals(rhub, api, composes):
    hub = rhub
    fin, failed = composes["finished"], composes["failed"]
    tid = _open_compose_task(hub, api)
    hub.as_host("builder2")
    with pytest.raises(koji.ActionNotAllowed, match=f"host 2 does not own task {tid}"):
        api["moduleComposeImport"](tid, fin["id"])
    hub.as_user("alice")
    with pytest.raises(koji.ActionNotAllowed, match="only the build host running task"):
        api["moduleComposeImport"](tid, fin["id"])
    hub.as_host("builder1")
    with pytest.raises(koji.GenericError, match=f"compose {failed['id']} is failed"):
        api["moduleComposeImport"](tid, failed["id"])
    with pytest.raises(koji.GenericError, match="no such module compose: nope-1-20261125.n.0"):
        api["moduleComposeImport"](tid, "nope-1-20261125.n.0")
    with pytest.raises(koji.GenericError, match="No such task: 99"):
        api["moduleComposeImport"](99, fin["id"])
    # a scratch compose never becomes a build
    stid = _open_compose_task(hub, api, {"scratch": True})
    hub.as_host("builder1")
    with pytest.raises(koji.GenericError, match="is a scratch compose"):
        api["moduleComposeImport"](stid, fin["id"])
    # a build of the same NVR from elsewhere is not overwritten
    hub.new_build({"name": "apache", "version": "2.4",
                   "release": f"{fin['version']}.{fin['context']}", "epoch": None})
    with pytest.raises(koji.GenericError, match="already exists .* from outside Strata"):
        api["moduleComposeImport"](tid, fin["id"])
    assert not hub.build_types[1]


def test_post_tag_callback(rhub, api, composes, caplog):
    hub = rhub
    fin = composes["finished"]
    tid = _open_compose_task(hub, api)
    hub.as_host("builder1")
    bid = api["moduleComposeImport"](tid, fin["id"])
    build = hub.get_build(bid)
    tag = hub.get_tag("f40-build")
    with caplog.at_level(logging.INFO, logger="koji.plugin.strata_hub"):
        koji.plugin.run_callbacks("postTag", tag=tag, build=build, user=hub.user("alice"),
                                  force=False)
        rpm = hub.get_build(hub.new_build({"name": "httpd", "version": "1", "release": "1",
                                           "epoch": None}))
        koji.plugin.run_callbacks("postTag", tag=tag, build=rpm, user=hub.user("alice"),
                                  force=False)
    msgs = [r.getMessage() for r in caplog.records if r.name == "koji.plugin.strata_hub"]
    assert msgs == [f"module build {build['nvr']} (compose {fin['id']}) tagged into f40-build "
                    f"by alice"]


def test_hub_on_postgresql_registry(tmp_path, api, strata_bin, repos, pg_cluster, pg_url):  # noqa: F811
    """The deployment the issue asks for: the hub's compose records in
    PostgreSQL (schema `strata`), written by a compose as a builder would,
    read and imported through the hub's exports."""
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})
    ok = strata.compose_module(apache(tmp_path, repos), site.out, config=site.config,
                               registry=pg_url, cache_dir=site.cache)
    assert ok["ok"], ok
    rec = ok["record"]
    hub = setup_hub(tmp_path, pg_url)
    hub.as_user(None)
    assert api["getLatestModuleCompose"]("apache", "2.4")["id"] == rec["id"]
    assert [r["id"] for r in api["listModuleComposes"]("apache")] == [rec["id"]]
    assert api["getModuleCompose"](rec["id"])["state"] == "finished"
    tid = _open_compose_task(hub, api)
    hub.as_host("builder1")
    bid = api["moduleComposeImport"](tid, rec["id"])
    assert hub.get_build_type(bid)["module"]["strata_compose_id"] == rec["id"]
    rows = pg_cluster.psql(pg_url.rsplit("/", 1)[1], "SELECT id, state FROM strata.composes")
    assert rec["id"] in rows and "finished" in rows


ART = "git+https://src.example.org/modules/art.git?php-web.yaml#3f2a9c1"


def test_artifact_build_creates_task(rhub, api, composes):
    hub = rhub
    hub.user("alice")["perms"].append("artifact-build")
    hub.as_user("alice")
    pin = composes["finished"]["id"]
    tid = api["artifactBuild"](ART, {"arch": "x86_64", "compose_type": "test",
                                     "with_composes": [pin]})
    t = hub.tasks[tid]
    assert t["method"] == "artifactCompose" and hub.channels[t["channel_id"]]["name"] == "strata"
    assert t["owner"] == hub.user("alice")["id"] and t["priority"] == koji.PRIO_DEFAULT
    assert list(khs.Task(tid).getRequest()) == [ART, {"arch": "x86_64", "compose_type": "test",
                                                      "with_composes": [pin]}]


@pytest.mark.parametrize("who, src, opts, exc, message", [
    ("alice", ART, None, koji.ActionNotAllowed,
     r"artifact-build permission required \(logged in as alice\)"),
    (None, ART, None, koji.ActionNotAllowed, "you must be logged in"),
    ("carol", "git+https://evil.example.com/modules/a.git?a.yaml#1", None,
     koji.ActionNotAllowed, "evil.example.com:/modules/a.git is not in the list of allowed"),
    ("carol", "git+https://src.example.org/modules/a.git#1", None, koji.GenericError,
     "artifactBuild: .* names no definition file"),
    ("carol", "cli-build/1/php-web.yaml", {"scratch": True}, koji.ParameterError,
     "artifactBuild: src must be an SCM URL"),
    ("carol", ART, {"arches": ["x86_64"]}, koji.ParameterError,
     r"unknown option\(s\): arches \(known: arch, compose_type, priority, scratch, "
     r"with_composes\)"),
    ("carol", ART, {"arch": "armv7hl"}, koji.ParameterError,
     r"artifactBuild: unknown arch\(es\) armv7hl"),
    ("carol", ART, {"priority": -1}, koji.ActionNotAllowed, "only admins may create high-priority"),
    ("carol", ART, {"with_composes": ["nope-1-20261125.n.0"]}, koji.GenericError,
     r"no such compose: nope-1-20261125.n.0 \(in with_composes\)"),
    ("carol", ART, {"with_composes": "apache"}, koji.ParameterError,
     "option with_composes must be list"),
])
def test_artifact_build_refuses(rhub, api, who, src, opts, exc, message):
    rhub.add_user("carol", perms=["artifact-build"])
    rhub.as_user(who)
    with pytest.raises(exc, match=message):
        api["artifactBuild"](src, opts)
    assert not rhub.tasks


def test_artifact_build_refuses_a_pin_that_is_not_finished(rhub, api, composes):
    rhub.as_user("root")
    with pytest.raises(koji.GenericError, match=r"compose %s is failed; only finished composes "
                       r"can be pinned" % composes["failed"]["id"]):
        api["artifactBuild"](ART, {"with_composes": [composes["failed"]["id"]]})


def test_artifact_import_refusals(rhub, api, composes):
    hub = rhub
    fin = composes["finished"]
    hub.as_user("root")
    tid = api["artifactBuild"](ART)
    hub.open_task(tid, "builder1")
    out = [{"filename": "x.iso", "filesize": 1, "checksum": "0" * 64}]
    hub.as_user("alice")
    with pytest.raises(koji.ActionNotAllowed, match="only the build host running task"):
        api["artifactComposeImport"](tid, fin["id"], out)
    hub.as_host("builder2")
    with pytest.raises(koji.ActionNotAllowed, match=f"host 2 does not own task {tid}"):
        api["artifactComposeImport"](tid, fin["id"], out)
    hub.as_host("builder1")
    with pytest.raises(koji.GenericError, match=f"compose {fin['id']} is a module compose, "
                       "not an artifact"):
        api["artifactComposeImport"](tid, fin["id"], out)
    with pytest.raises(koji.GenericError, match="no such compose: nope-1-20261125.n.0"):
        api["artifactComposeImport"](tid, "nope-1-20261125.n.0", out)
    # a moduleCompose task cannot import an artifact, and the reverse
    mtid = _open_compose_task(hub, api)
    hub.as_host("builder1")
    with pytest.raises(koji.GenericError, match=f"task {mtid} is a moduleCompose task, "
                       "not artifactCompose"):
        api["artifactComposeImport"](mtid, fin["id"], out)
    with pytest.raises(koji.GenericError, match=f"task {tid} is a artifactCompose task, "
                       "not moduleCompose"):
        api["moduleComposeImport"](tid, fin["id"])
    hub.as_user("root")
    stid = api["artifactBuild"](ART, {"scratch": True})
    hub.open_task(stid, "builder1")
    hub.as_host("builder1")
    with pytest.raises(koji.GenericError, match="is a scratch build; scratch builds are never"):
        api["artifactComposeImport"](stid, fin["id"], out)
    assert not hub.builds


@pytest.mark.parametrize("call, who, args, exc, message", [
    ("moduleChain", "bob", ({"builds": ["httpd-2.4.57-1.fc40"]},), koji.ActionNotAllowed,
     r"module-build permission required \(logged in as bob\)"),
    ("moduleChain", "alice", ({},), koji.ParameterError,
     "moduleChain: events must map some of builds, tags, composes to lists"),
    ("moduleChain", "alice", ({"nvrs": ["a-1-1"]},), koji.ParameterError,
     "moduleChain: events must map some of builds"),
    ("moduleChain", "alice", ({"builds": "a-1-1"},), koji.ParameterError,
     "moduleChain: events builds must be a list of strings"),
    ("moduleChain", "alice", ({"builds": ["nope-1-1"]},), koji.GenericError,
     "moduleChain: no such build: nope-1-1"),
    ("moduleChain", "alice", ({"tags": ["f99-build"]},), koji.GenericError,
     "moduleChain: no such tag: f99-build"),
    ("moduleChain", "alice", ({"tags": ["f40-build"]}, {"tag": "f99-build"}), koji.GenericError,
     r"moduleChain: no such tag: f99-build \(option tag\)"),
    ("moduleChain", "alice", ({"tags": ["f40-build"]}, {"wait": True}), koji.ParameterError,
     r"moduleChain: unknown option\(s\): wait"),
    ("moduleChainApprove", "bob", ("chain-20261205.1", ["php:8.2"]), koji.ActionNotAllowed,
     r"module-build permission required \(logged in as bob\)"),
    ("moduleChainApprove", "alice", ("chain-20261205.1", []), koji.ParameterError,
     "moduleChainApprove: steps must be a non-empty list of name:stream"),
    ("moduleChainApprove", "alice", ("chain-20261205.1", ["php"]), koji.ParameterError,
     "moduleChainApprove: steps must be a non-empty list of name:stream"),
    ("moduleChainResume", "bob", ("chain-20261205.1",), koji.ActionNotAllowed,
     r"module-build permission required \(logged in as bob\)"),
    ("moduleChainResume", "alice", ("chain-20261205.1", {"tag": "f40-build"}),
     koji.ParameterError, r"moduleChainResume: unknown option\(s\): tag"),
    ("moduleImpact", None, ({"builds": ["nope-1-1"]},), koji.GenericError,
     "moduleImpact: no such build: nope-1-1"),
    ("moduleImpact", None, ({"tags": ["f40-build"]},), koji.GenericError,
     r"moduleImpact: \[strata\] config .* is not set"),
])
def test_chain_calls_refuse(hub, api, call, who, args, exc, message):
    hub.as_user(who)
    with pytest.raises(exc, match=message):
        api[call](*args)
    assert not hub.tasks


def test_module_chain_creates_one_task(hub, api):
    hub.as_user("alice")
    tid = api["moduleChain"]({"tags": ["f40-build"]}, {"compose_type": "test"})
    t = hub.tasks[tid]
    assert t["method"] == "moduleChain" and hub.channels[t["channel_id"]]["name"] == "strata"
    assert list(khs.Task(tid).getRequest()) == [{"tags": ["f40-build"]}, {"compose_type": "test"}]
