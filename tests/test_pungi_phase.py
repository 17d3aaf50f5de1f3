"""The strata Pungi phase (pungi_phase/) against the Pungi stand-in
(tests/pungi_standin.py: what it mirrors is in its docstring), with real
RPMs, real composes by the Rust core, productmd reading the metadata the
phase writes, and real dnf installing modules from the compose tree."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import productmd.composeinfo
import productmd.modules
import pytest
import yaml

import composekit as ck
import pungi_standin as ps
import rpmfactory

import strata  # noqa: F401  (the extension: a missing build fails here)
from pungi_phase import StrataPhase, pungi_koji as entry
from pungi_phase import schema as phase_schema
from pungi_phase.base import FROM_PUNGI, PhaseBase

ARCH = "x86_64"

PLATFORM = [
    {"name": "glibc", "version": "2.39", "release": "1.fc40", "arch": ARCH,
     "provides": ["libc.so.6()(64bit)"]},
]
BASE_SRC = [
    {"name": "libfoo", "version": "1.0", "release": "1.fc40", "arch": ARCH,
     "requires": ["libc.so.6()(64bit)"], "provides": ["libfoo.so.1()(64bit)"]},
]
APACHE_SRC = [
    {"name": "httpd", "version": "2.4.58", "release": "1.fc40", "arch": ARCH,
     "requires": ["libfoo.so.1()(64bit)", "httpd-tools"]},
    {"name": "httpd-tools", "version": "2.4.58", "release": "1.fc40", "arch": ARCH},
]
PHP_SRC = [
    {"name": "php", "version": "8.2.13", "release": "1.fc40", "arch": ARCH,
     "requires": ["httpd", "php-common"]},
    {"name": "php-common", "version": "8.2.13", "release": "1.fc40", "arch": ARCH},
]
TOOLS_SRC = [
    {"name": "tool", "version": "1.0", "release": "1.fc40", "arch": ARCH,
     "requires": ["libc.so.6()(64bit)"]},
    {"name": "needy", "version": "1.0", "release": "1.fc40", "arch": ARCH,
     "requires": ["libmissing.so.3()(64bit)"]},
]


def test_phase_base_is_the_mirror_here():
    # Pungi is not installable here: the phase runs on the mirrored base.
    assert FROM_PUNGI is False
    assert issubclass(StrataPhase, PhaseBase) and StrataPhase.name == "strata"
    assert "strata_repoclosure_strictness" in StrataPhase.config_options


@pytest.fixture(scope="module")
def srcs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pungi-src")
    return {
        "platform": rpmfactory.make_repo(root / "platform", PLATFORM),
        "base": rpmfactory.make_repo(root / "base", BASE_SRC),
        "apache": rpmfactory.make_repo(root / "apache", APACHE_SRC),
        "php": rpmfactory.make_repo(root / "php", PHP_SRC),
        "tools": rpmfactory.make_repo(root / "tools", TOOLS_SRC),
    }


class Site:
    """A Pungi config directory: definitions, strata.toml, a registry."""

    def __init__(self, root: Path, srcs: dict, stack_repo=None):
        self.root = root
        self.cfg = root / "pungi-config"
        self.cfg.mkdir(parents=True, exist_ok=True)
        self.srcs = srcs
        ck.write_config(self.cfg / "strata.toml", {"f40": [srcs["platform"]]},
                        registry=root / "registry.sqlite", out=root / "strata-composes")
        if stack_repo:
            # A stack's whole-stack repository published by Strata itself,
            # which the phase then takes; by default the phase merges the
            # module's own repository with those of the composes below it.
            toml = self.cfg / "strata.toml"
            toml.write_text(toml.read_text().replace(
                "[compose]\n", '[compose]\nstack_repo = "%s"\n' % stack_repo, 1))
        self.define("base.yaml", "base-runtime", "f40", ["libfoo"], "base", {"platform": "f40"})
        self.define("apache.yaml", "apache", "2.4", ["httpd", "httpd-tools"], "apache",
                    {"platform": "f40", "base-runtime": "f40"})
        self.define("php.yaml", "php", "8.2", ["php", "php-common"], "php",
                    {"platform": "f40", "apache": "2.4"})
        self.define("tools.yaml", "tools", "1", ["tool"], "tools", {"platform": "f40"})

    def define(self, file, name, stream, packages, src, requires):
        ck.write_definition(self.cfg / file, ck.definition(
            name=name, stream=stream, packages=packages, repos=[self.srcs[src]],
            requires=requires, profiles={"default": list(packages)[:1]}))

    def conf(self, **conf):
        """A Pungi config as pungi-koji hands it over: validated by
        (the stand-in of) pungi.checks with the strata options in the
        schema, which fills in Pungi's defaults."""
        c = ps.base_conf(strata_config="strata.toml", **conf)
        ps.validate(c, schema=schema_with_strata())
        return c

    def make(self, name, variants, conf, gathered=None):
        top = ps.make_compose_dir(self.root / name, conf)
        return ps.Compose(conf, top, variants=variants, config_dir=str(self.cfg),
                          gathered=gathered)

    def compose(self, name, variants, gathered=None, **conf):
        """A compose as the strata phase finds it: gather, createrepo and
        the tree metadata have run."""
        compose = self.make(name, variants, self.conf(**conf), gathered)
        ps.earlier_phases(compose)
        return compose


def schema_with_strata():
    s = ps.make_schema()
    s["properties"].update(phase_schema.PROPERTIES)
    return s


@pytest.fixture
def site(tmp_path, srcs):
    return Site(tmp_path, srcs)


def modules_variant(uid="Modules", arches=(ARCH,), is_empty=False):
    # A variant with no comps groups, as users configure it: Pungi's
    # gather finds no packages for it, yet (not being is_empty) createrepo
    # makes it an empty repo and .treeinfo, .discinfo, media.repo are
    # written into its os/.
    return ps.Variant(uid, uid, "variant", list(arches), is_empty=is_empty)


def run_phase(compose):
    phase = StrataPhase(compose)
    assert not phase.skip()
    phase.validate()
    phase.start()
    phase.stop()
    ps.write_compose_info(compose)
    return phase


def rpms_in(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / "Packages").rglob("*.rpm"))


def rpms_json(top: Path) -> dict:
    """{variant: {arch: sorted RPM paths}} of compose/metadata/rpms.json."""
    import productmd.rpms

    m = productmd.rpms.Rpms()
    m.load(str(top / "compose" / "metadata" / "rpms.json"))
    return {v: {a: sorted(r["path"] for s in srpms.values() for r in s.values())
                for a, srpms in arches.items()} for v, arches in m.rpms.items()}


def assert_treeinfo_matches(os_tree: Path, uid: str):
    """productmd reads the tree's .treeinfo; its variant's repository is
    the placed one and the checksum of repodata/repomd.xml is right."""
    import hashlib

    import productmd.treeinfo

    ti = productmd.treeinfo.TreeInfo()
    ti.load(str(os_tree / ".treeinfo"))
    var = ti.variants[uid]
    assert (var.paths.repository, var.paths.packages) == (".", "Packages")
    [(ctype, value)] = [v for k, v in ti.checksums.checksums.items()
                        if os.path.normpath(k) == "repodata/repomd.xml"]
    assert ctype == "sha256"
    assert value == hashlib.sha256((os_tree / "repodata" / "repomd.xml").read_bytes()).hexdigest()


@pytest.mark.parametrize("stack_repo", [None, "merged"])
def test_stack_and_union_in_the_compose_tree_with_productmd_and_dnf(tmp_path, srcs, stack_repo):
    site = Site(tmp_path, srcs, stack_repo=stack_repo)
    compose = site.compose("c1", [modules_variant("Modules"), modules_variant("Web"),
                                  ps.Variant("Server", "Server", "variant", [ARCH])],
                          strata_modules={
                              "^Modules$": {"*": ["base.yaml", "apache.yaml", "php.yaml",
                                                  "tools.yaml"]},
                              "^Web$": {ARCH: ["php.yaml"]},
                          })
    phase = run_phase(compose)
    top = Path(compose.topdir)
    latest = {m: strata.latest_compose(m, s, config=str(site.cfg / "strata.toml"))
              for m, s in [("base-runtime", "f40"), ("apache", "2.4"), ("php", "8.2"),
                           ("tools", "1")]}
    assert all(r and r["state"] == "finished" for r in latest.values()), latest
    # One compose per definition, whatever number of variants list it.
    assert len(strata.list_composes(name="php", config=str(site.cfg / "strata.toml"))) == 1

    web = top / "compose" / "Web" / ARCH / "os"
    mods = top / "compose" / "Modules" / ARCH / "os"
    # Web: php's stack (its own repository and those below it, or the
    # whole-stack repository Strata published), hardlinked from the composes.
    assert rpms_in(web) == ["httpd-2.4.58-1.fc40.x86_64.rpm",
                            "httpd-tools-2.4.58-1.fc40.x86_64.rpm",
                            "libfoo-1.0-1.fc40.x86_64.rpm", "php-8.2.13-1.fc40.x86_64.rpm",
                            "php-common-8.2.13-1.fc40.x86_64.rpm"]
    stack = Path(latest["php"]["outputs"]["repos"][ARCH])
    assert stack.exists()
    if stack_repo == "merged":
        stack = Path(latest["php"]["outputs"]["path"]) / "compose" / "PhpStack" / ARCH / "os"
    assert (stack / "Packages").is_dir() and stack.parent.parent.name.endswith(
        "Stack" if stack_repo else "Php")
    src = next((stack / "Packages").rglob("php-8*.rpm"))
    dst = next((web / "Packages").rglob("php-8*.rpm"))
    assert os.stat(src).st_ino == os.stat(dst).st_ino
    # Modules: the php stack (base-runtime and apache come with it) and tools.
    assert rpms_in(mods) == sorted(rpms_in(web) + ["tool-1.0-1.fc40.x86_64.rpm"])
    md = ck.load_with_libmodulemd(ck.modules_yaml(mods))
    assert sorted(md) == ["apache", "base-runtime", "php", "tools"]
    assert all(len(m["streams"]) == 1 for m in md.values())
    # Nothing half-written is left beside the repos; Server is not touched.
    assert sorted(os.listdir(top / "compose" / "Modules" / ARCH)) == ["os"]
    assert rpms_in(top / "compose" / "Server" / ARCH / "os") == []
    # Pungi's tree files stay; .treeinfo describes the placed repository.
    for f in (".discinfo", "media.repo"):
        assert (mods / f).is_file(), f
    assert_treeinfo_matches(mods, "Modules")
    assert_treeinfo_matches(web, "Web")

    # productmd: modules.json with the Strata compose IDs.
    m = productmd.modules.Modules()
    m.load(str(top / "compose" / "metadata" / "modules.json"))
    assert m.compose.id == compose.compose_id
    by_name = {v["metadata"]["name"]: v for v in m.modules["Modules"][ARCH].values()}
    assert sorted(by_name) == ["apache", "base-runtime", "php", "tools"]
    for name, rec in latest.items():
        assert by_name[name]["metadata"]["koji_tag"] == rec["id"]
        path = by_name[name]["modulemd_path"]["binary"]
        assert path.startswith("Modules/x86_64/os/repodata/") and (top / "compose" / path).is_file()
    assert by_name["php"]["rpms"] == ["php-0:8.2.13-1.fc40.x86_64",
                                      "php-common-0:8.2.13-1.fc40.x86_64"]
    assert sorted(v["metadata"]["name"] for v in m.modules["Web"][ARCH].values()) == [
        "apache", "base-runtime", "php"]
    # composeinfo.json: the variants' repositories are there.
    ci = productmd.composeinfo.ComposeInfo()
    ci.load(str(top / "compose" / "metadata" / "composeinfo.json"))
    assert ci.variants["Modules"].paths.repository[ARCH] == "Modules/x86_64/os"
    assert ci.variants["Web"].paths.repository[ARCH] == "Web/x86_64/os"
    assert ci.variants["Server"].paths.repository[ARCH] == "Server/x86_64/os"
    # rpms.json: Pungi's manifest lists the module RPMs where they lie.
    assert rpms_json(top)["Modules"][ARCH] == sorted(
        "Modules/x86_64/os/Packages/%s/%s" % (f[0], f) for f in rpms_in(mods))
    assert rpms_json(top)["Web"][ARCH] == sorted(
        "Web/x86_64/os/Packages/%s/%s" % (f[0], f) for f in rpms_in(web))
    assert "Server" not in rpms_json(top)
    # strata.json: what each variant got, by compose ID.
    sj = json.loads((top / "compose" / "metadata" / "strata.json").read_text())
    assert sj["compose"]["id"] == compose.compose_id
    entries = sj["variants"]["Modules"][ARCH]["modules"]
    assert [(e["module"], e["state"], e["compose_id"]) for e in entries] == [
        ("base-runtime:f40", "composed", latest["base-runtime"]["id"]),
        ("apache:2.4", "composed", latest["apache"]["id"]),
        ("php:8.2", "composed", latest["php"]["id"]),
        ("tools:1", "composed", latest["tools"]["id"])]
    assert sj["variants"]["Web"][ARCH]["repository"] == "Web/x86_64/os"
    assert phase.failures == []
    assert any("PHASE: STRATA" in t and "[DONE ]" in t for t in compose.logged(logging.INFO))
    # PhaseBase notifies through the compose's notifier, as in Pungi.
    assert [m for m in compose.notifier.sent if m[1].get("phase_name") == "strata"] == [
        ("phase-start", {"phase_name": "strata"}), ("phase-stop", {"phase_name": "strata"})]

    # Real dnf installs modules from the compose tree.
    root = tmp_path / "root"
    r = ck.dnf_install({"modules": mods, "platform": site.srcs["platform"]}, root,
                       tmp_path / "dnf", ["module", "install", "php:8.2/default", "tools:1"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert {"php", "httpd", "libfoo", "tool"} <= ck.rpm_qa(root, tmp_path / "dnf")


def break_tools(site):
    # tools now lists `needy`, which needs a library nothing provides.
    site.define("tools.yaml", "tools", "1", ["tool", "needy"], "tools", {"platform": "f40"})


def strict_conf(level):
    return {"strata_modules": {"^Modules$": {"*": ["tools.yaml"]}},
            "strata_repoclosure_strictness": [["^Mod", {"*": level}]]}


@pytest.mark.parametrize("level", ["strict", "fatal"])
def test_strict_fails_the_compose_with_the_report(site, level):
    break_tools(site)
    compose = site.compose("c", [modules_variant()], **strict_conf(level))
    phase = StrataPhase(compose)
    phase.validate()
    with pytest.raises(RuntimeError) as ei:
        phase.start()
    msg = str(ei.value)
    assert "Repoclosure failed for tools:1" in msg and "Modules.x86_64" in msg
    assert "package: needy-0:1.0-1.fc40.x86_64" in msg or "package: needy-1.0-1.fc40.x86_64" in msg
    assert "libmissing.so.3()(64bit)" in msg
    assert rpms_in(Path(compose.topdir) / "compose" / "Modules" / ARCH / "os") == []
    log = Path(compose.paths.log.log_file(ARCH, "strata-repoclosure-Modules"))
    assert "libmissing.so.3()(64bit)" in log.read_text()
    [failed] = strata.list_composes(name="tools", state="failed",
                                    config=str(site.cfg / "strata.toml"))
    assert failed["id"] in msg


def test_lenient_records_and_uses_the_last_good_compose(site):
    good = run_phase(site.compose("c1", [modules_variant()],
                                  strata_modules={"^Modules$": {"*": ["tools.yaml"]}}))
    good_id = good.results["Modules"][ARCH]["modules"][0]["compose_id"]
    break_tools(site)
    # Lenient is the default, as for Pungi's repoclosure_strictness.
    compose = site.compose("c2", [modules_variant()],
                           strata_modules={"^Modules$": {"*": ["tools.yaml"]}})
    phase = run_phase(compose)
    [warning] = [w for w in compose.logged(logging.WARNING) if "Repoclosure failed" in w]
    assert "tools:1" in warning and "libmissing.so.3()(64bit)" in warning
    [(vuid, arch, module, text)] = phase.failures
    assert (vuid, arch, module) == ("Modules", ARCH, "tools:1") and "needy" in text
    sj = json.loads((Path(compose.topdir) / "compose/metadata/strata.json").read_text())
    [e] = sj["variants"]["Modules"][ARCH]["modules"]
    assert (e["state"], e["compose_id"], e["strictness"]) == ("last-good", good_id, "lenient")
    assert e["failed_compose_id"] != good_id and e["report"]["unresolved"]
    repo = Path(compose.topdir) / "compose" / "Modules" / ARCH / "os"
    assert rpms_in(repo) == ["tool-1.0-1.fc40.x86_64.rpm"]
    m = productmd.modules.Modules()
    m.load(str(Path(compose.topdir) / "compose/metadata/modules.json"))
    [meta] = m.modules["Modules"][ARCH].values()
    assert meta["metadata"]["koji_tag"] == good_id


def test_lenient_without_a_good_compose_leaves_the_module_out(site):
    break_tools(site)
    compose = site.compose("c", [modules_variant()], **strict_conf("lenient"))
    phase = run_phase(compose)
    assert phase.failures
    assert any("has no good compose" in w for w in compose.logged(logging.WARNING))
    # The variant keeps what Pungi made of it: an empty repository.
    assert rpms_in(Path(compose.topdir) / "compose" / "Modules" / ARCH / "os") == []
    assert "Modules" not in rpms_json(Path(compose.topdir))


def test_off_ignores_the_verdict_quietly(site):
    run_phase(site.compose("c1", [modules_variant()],
                           strata_modules={"^Modules$": {"*": ["tools.yaml"]}}))
    break_tools(site)
    compose = site.compose("c2", [modules_variant()], **strict_conf("off"))
    phase = run_phase(compose)
    assert phase.failures == []
    assert not [w for w in compose.logged(logging.WARNING) if "Repoclosure" in w]
    assert any("gate off for Modules.x86_64: tools:1" in t for t in compose.logged(logging.INFO))
    sj = json.loads((Path(compose.topdir) / "compose/metadata/strata.json").read_text())
    assert sj["variants"]["Modules"][ARCH]["modules"][0]["state"] == "last-good"


def test_strictness_is_per_variant_and_arch(site):
    conf = {"strata_repoclosure_strictness": [
        ["^Server$", {"*": "strict"}], ["^Mod", {"x86_64": "off", "aarch64": "strict"}],
        ["^Modules$", {"aarch64": "lenient"}]]}
    from pungi_phase.strata_phase import strictness
    mods, server = modules_variant(), ps.Variant("Server", "Server", "variant", [ARCH])
    assert strictness(conf, mods, "x86_64") == "off"
    assert strictness(conf, mods, "aarch64") == "lenient"  # the last match wins
    assert strictness(conf, server, "x86_64") == "strict"
    assert strictness({}, server, "x86_64") == "lenient"


def registry_composes(site):
    reg = site.root / "registry.sqlite"
    if not reg.exists():
        return []
    return strata.list_composes(config=str(site.cfg / "strata.toml"))


def test_a_gathered_variant_is_refused_before_anything_is_composed(site):
    # Pungi gathered a package into Server: it is not Strata's to replace.
    glibc = next(Path(site.srcs["platform"]).rglob("glibc-*.rpm"))
    compose = site.compose("c", [ps.Variant("Server", "Server", "variant", [ARCH])],
                           gathered={"Server": {ARCH: [glibc]}},
                           strata_modules={"^Server$": {"*": ["tools.yaml"]}})
    with pytest.raises(RuntimeError) as ei:
        StrataPhase(compose).start()
    msg = str(ei.value)
    assert "Variant Server.x86_64 has 1 package(s) from Pungi's gather" in msg, msg
    # Flat, as Pungi links them by default (hashed_directories = False).
    assert "Server/x86_64/os/Packages/glibc-2.39-1.fc40.x86_64.rpm" in msg, msg
    assert "compose/metadata/rpms.json" in msg and "a variant of their own" in msg
    # Nothing was composed or recorded; the gathered repo is untouched.
    assert registry_composes(site) == []
    assert rpms_in(Path(compose.topdir) / "compose/Server/x86_64/os") == [glibc.name]


def write_release(site, name, entries):
    doc = {"document": "strata-release", "version": 1, "data": {
        "name": name, "version": "1", "date": "2026-05-01", "lifecycle": {"eol": "2027-12-31"},
        "modules": entries}}
    path = site.cfg / "releases" / ("%s.yaml" % name)
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_release_in_place_of_a_definition_list_composes_its_modules_bottom_first(site):
    # Listed top first: the core orders them as they compose.
    write_release(site, "web", [
        {"module": "apache:2.4", "definition": "../apache.yaml"},
        {"module": "base-runtime:f40", "definition": "../base.yaml", "default": True}])
    compose = site.compose("c", [modules_variant()],
                           strata_modules={"^Modules$": {"*": "releases/web.yaml"}})
    phase = run_phase(compose)
    placed = phase.results["Modules"][ARCH]["modules"]
    assert [e["definition"] for e in placed] == [
        str(site.cfg / "base.yaml"), str(site.cfg / "apache.yaml")]
    repo = Path(compose.topdir) / "compose" / "Modules" / ARCH / "os"
    assert rpms_in(repo) == ["httpd-2.4.58-1.fc40.x86_64.rpm",
                             "httpd-tools-2.4.58-1.fc40.x86_64.rpm",
                             "libfoo-1.0-1.fc40.x86_64.rpm"]
    # A release naming what is not there, or defining another stream, is
    # refused before anything is composed, naming the release and entry.
    write_release(site, "bad", [
        {"module": "apache:2.4", "definition": "../nope.yaml"},
        {"module": "tools:2", "definition": "../tools.yaml"}])
    [err] = validation_errors(site, strata_modules={"^Modules$": {"*": "releases/bad.yaml"}})
    assert err.startswith("strata_modules.^Modules$.*: releases/bad.yaml: cannot use the "
                          "release "), err
    assert "data.modules[0] `../nope.yaml`" in err and "defines tools:1, not tools:2" in err, err


def test_rerun_with_the_same_compose_dir_replaces_its_own_placement(site):
    conf = {"strata_modules": {"^Modules$": {"*": ["base.yaml", "apache.yaml"]}}}
    compose = site.compose("c", [modules_variant()], **conf)
    run_phase(compose)
    repo = Path(compose.topdir) / "compose" / "Modules" / ARCH / "os"
    first = rpms_in(repo)
    assert first == ["httpd-2.4.58-1.fc40.x86_64.rpm", "httpd-tools-2.4.58-1.fc40.x86_64.rpm",
                     "libfoo-1.0-1.fc40.x86_64.rpm"]
    # `pungi-koji --compose-dir` again: gather writes rpms.json afresh,
    # createrepo makes the (still package-less) variant's repodata again
    # over the placed Packages/, the tree metadata is written again.
    again = ps.Compose(compose.conf, compose.topdir, variants=[modules_variant()],
                       config_dir=compose.config_dir)
    ps.earlier_phases(again)
    run_phase(again)
    assert rpms_in(repo) == first
    assert_treeinfo_matches(repo, "Modules")
    assert rpms_json(Path(compose.topdir))["Modules"][ARCH] == sorted(
        "Modules/x86_64/os/Packages/%s/%s" % (f[0], f) for f in first)
    # `--just-phase strata`: rpms.json still lists the earlier placement.
    once_more = ps.Compose(compose.conf, compose.topdir, variants=[modules_variant()],
                           config_dir=compose.config_dir, just_phases=["strata"])
    before = {p: os.stat(repo / p).st_ino for p in (".", "media.repo", ".treeinfo")}
    run_phase(once_more)
    assert rpms_in(repo) == first
    assert_treeinfo_matches(repo, "Modules")
    # The tree was exchanged whole (a reader never sees new repodata over
    # old packages); Pungi's files came along as hardlinks, except the
    # .treeinfo written anew; nothing is left beside it.
    after = {p: os.stat(repo / p).st_ino for p in before}
    assert after["."] != before["."] and after[".treeinfo"] != before[".treeinfo"]
    assert after["media.repo"] == before["media.repo"]
    assert sorted(p.name for p in repo.parent.iterdir()) == ["os"]
    m = productmd.modules.Modules()
    m.load(str(Path(compose.topdir) / "compose/metadata/modules.json"))
    assert sorted(v["metadata"]["name"] for v in m.modules["Modules"][ARCH].values()) == [
        "apache", "base-runtime"]
    # Nothing changed between the runs: the first compose of each module
    # was reused (content-addressed), not composed again.
    assert len(strata.list_composes(name="apache", config=str(site.cfg / "strata.toml"))) == 1
    sj = json.loads((Path(compose.topdir) / "compose/metadata/strata.json").read_text())
    assert [e["state"] for e in sj["variants"]["Modules"][ARCH]["modules"]] == ["reused"] * 2


def test_arches_a_definition_lacks_fail_validation_before_composing(site):
    # tools.yaml composes for x86_64 only; the variant also has aarch64.
    compose = site.compose("c", [modules_variant(arches=(ARCH, "aarch64"))],
                           strata_modules={"^Modules$": {"*": ["tools.yaml"]}})
    expected = ("strata_modules: Modules.aarch64 lists tools.yaml, which is composed only "
                "for x86_64: add aarch64 to its arches, or list it for those arches only")
    with pytest.raises(ValueError) as ei:
        StrataPhase(compose).validate()
    assert str(ei.value).splitlines() == [expected]
    # Run without validating first: still nothing is composed.
    with pytest.raises(RuntimeError, match="composed only for x86_64"):
        StrataPhase(compose).start()
    assert registry_composes(site) == []


def validation_errors(site, **conf):
    compose = site.compose("v", [modules_variant()], **conf)
    with pytest.raises(ValueError) as ei:
        StrataPhase(compose).validate()
    return str(ei.value).splitlines()


def test_config_validation_errors_are_clear(site):
    # A string is a release document: a module definition is not one.
    [err] = validation_errors(site, strata_modules={"^Modules$": {"*": "tools.yaml"}})
    assert err.startswith("strata_modules.^Modules$.*: tools.yaml: "), err
    assert "strata-release" in err, err
    assert validation_errors(site, strata_modules={"^Modules$": {"*": 5}}) == [
        "Failed validation in strata_modules.^Modules$.*: 5 is not valid under any of the "
        "given schemas"]
    assert validation_errors(site, strata_modules={"(": {"*": ["tools.yaml"]}}) == [
        "Failed validation in strata_modules: incorrect regular expression '(': "
        "missing ), unterminated subpattern at position 0"]
    errs = validation_errors(site, strata_modules={"^Modules$": {"*": ["tools.yaml"]}},
                             strata_repoclosure_strictness=[["^Modules$", {"*": "warn"}]])
    assert errs == ["Failed validation in strata_repoclosure_strictness.0.1.*: 'warn' is not "
                    "one of ['off', 'lenient', 'strict', 'fatal']"]
    errs = validation_errors(site, strata_modules={"^Modules$": {"*": ["nope.yaml"]}},
                             strata_registry=5)
    assert errs == ["Failed validation in strata_registry: 5 is not of type 'string'"]
    errs = validation_errors(site, strata_modules={"^Modules$": {"*": ["nope.yaml"]}})
    assert errs == ["strata_modules.^Modules$.*: nope.yaml: no such definition file (%s)"
                    % (site.cfg / "nope.yaml")]
    doc = yaml.safe_load((site.cfg / "tools.yaml").read_text())
    doc["data"]["colour"] = "blue"
    (site.cfg / "bad.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    [err] = validation_errors(site, strata_modules={"^Modules$": {"*": ["bad.yaml"]}})
    assert err.startswith("strata_modules.^Modules$.*: bad.yaml: ")
    assert "bad.yaml:" in err.split(": ", 2)[2] and "colour" in err
    # Every problem of a definition at once, each on its own line.
    del doc["data"]["summary"]
    doc["data"]["stream"] = "2..4"
    (site.cfg / "bad.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    errs = validation_errors(site, strata_modules={"^Modules$": {"*": ["bad.yaml"]}})
    assert len(errs) == 3, errs
    assert all(e.startswith("strata_modules.^Modules$.*: bad.yaml: ") for e in errs), errs
    text = "\n".join(errs)
    assert "missing required field `summary`" in text and "`colour`" in text, errs
    assert "the stream `2..4`" in text, errs


def test_skipped_without_config_or_when_asked(site):
    compose = site.compose("s1", [modules_variant()])
    assert StrataPhase(compose).skip()
    assert any("'strata_modules' was not found" in t for t in compose.logged(logging.INFO))
    conf = {"strata_modules": {"^Modules$": {"*": ["tools.yaml"]}}}
    assert StrataPhase(site.compose("s2", [modules_variant()], skip_phases=["strata"],
                                    **conf)).skip()
    c = site.compose("s3", [modules_variant()], **conf)
    c.just_phases = ["gather"]
    assert StrataPhase(c).skip()
    c.just_phases = ["strata"]
    assert not StrataPhase(c).skip()


# ---- the entry point, against the stand-in of pungi.scripts.pungi_koji ----

@pytest.fixture
def fake_pungi(monkeypatch):
    mods = ps.pungi_modules(PhaseBase)
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return mods


def phase_order(compose):
    out = []
    for _lv, t in compose.messages:
        if t.startswith("[BEGIN] ---------- PHASE: "):
            out.append(t.split("PHASE: ")[1].split(" ")[0].lower())
        elif t == "[BEGIN] Writing composeinfo":
            out.append("composeinfo")
    return out


class Launch:
    """pungi-koji's main, as far as the stand-in goes: the config as the
    user wrote it (main validates it), the compose made from it once it
    passes (kept in `compose`)."""

    def __init__(self, koji, site, name, variants, gathered=None, **conf):
        self.compose = None
        self.koji = koji
        koji.CONF = ps.base_conf(strata_config="strata.toml", **conf)

        def factory(c):
            self.compose = site.make(name, variants, c, gathered)
            return self.compose

        koji.COMPOSE_FACTORY = factory

    def run(self):
        self.koji.cli_main()
        return self.compose


def test_entry_point_runs_the_phase_before_the_test_phase(site, fake_pungi):
    koji = fake_pungi["pungi.scripts.pungi_koji"]
    entry.install(koji)
    entry.install(koji)  # idempotent
    assert koji.PHASES_NAMES.count("strata") == 1
    assert "strata_modules" in fake_pungi["pungi.checks"].make_schema()["properties"]
    compose = Launch(koji, site, "e1", [modules_variant()],
                     strata_modules={"^Modules$": {"*": ["tools.yaml"]}}).run()
    order = phase_order(compose)
    # run_compose's order (the weavers run their schema serially here).
    assert order == ["init", "pkgset", "buildinstall", "gather", "createrepo", "extra_files",
                     "ostree", "ostree_installer", "createiso", "extra_isos", "live_images",
                     "image_build", "live_media", "osbuild", "image_checksum",
                     "image_container", "osbs", "repoclosure", "composeinfo", "strata",
                     "composeinfo", "test"], order
    assert compose.get_status() == "FINISHED"
    top = Path(compose.topdir)
    ci = productmd.composeinfo.ComposeInfo()
    ci.load(str(top / "compose/metadata/composeinfo.json"))
    assert ci.variants["Modules"].paths.repository[ARCH] == "Modules/x86_64/os"
    repo = top / "compose/Modules/x86_64/os"
    assert rpms_in(repo) == ["tool-1.0-1.fc40.x86_64.rpm"]
    assert rpms_json(top)["Modules"][ARCH] == ["Modules/x86_64/os/Packages/t/tool-1.0-1.fc40.x86_64.rpm"]
    assert_treeinfo_matches(repo, "Modules")
    # Outside the run, pungi.phases.TestPhase is Pungi's own again.
    assert fake_pungi["pungi.phases"].TestPhase.name == "test"
    # A later failure dooms it (a FINISHED compose cannot be re-run); then
    # it is run again on the same compose directory (--compose-dir).
    (top / "STATUS").write_text("DOOMED\n")
    again = Launch(koji, site, "e1", [modules_variant()],
                   strata_modules={"^Modules$": {"*": ["tools.yaml"]}}).run()
    assert again.get_status() == "FINISHED"
    assert rpms_in(repo) == ["tool-1.0-1.fc40.x86_64.rpm"]
    assert_treeinfo_matches(repo, "Modules")


def test_entry_point_strict_failure_dooms_the_compose(site, fake_pungi):
    koji = entry.install(fake_pungi["pungi.scripts.pungi_koji"])
    break_tools(site)
    launch = Launch(koji, site, "e2", [modules_variant()], **strict_conf("strict"))
    with pytest.raises(SystemExit) as ei:
        launch.run()
    assert ei.value.code == 1
    compose = launch.compose
    assert compose.get_status() == "DOOMED"
    [err] = [t for t in compose.logged(logging.ERROR) if t.startswith("Compose run failed")]
    assert "Repoclosure failed for tools:1" in err and "libmissing.so.3()(64bit)" in err
    assert "test" not in phase_order(compose)


def test_entry_point_refuses_a_gathered_variant_before_composing(site, fake_pungi):
    koji = entry.install(fake_pungi["pungi.scripts.pungi_koji"])
    glibc = next(Path(site.srcs["platform"]).rglob("glibc-*.rpm"))
    launch = Launch(koji, site, "e5", [ps.Variant("Server", "Server", "variant", [ARCH])],
                    gathered={"Server": {ARCH: [glibc]}},
                    strata_modules={"^Server$": {"*": ["tools.yaml"]}})
    with pytest.raises(SystemExit):
        launch.run()
    assert launch.compose.get_status() == "DOOMED"
    [err] = [t for t in launch.compose.logged(logging.ERROR)
             if t.startswith("Compose run failed")]
    assert "Variant Server.x86_64 has 1 package(s) from Pungi's gather" in err
    assert registry_composes(site) == []


def test_entry_point_validates_strata_options_before_starting(site, fake_pungi, capsys):
    koji = entry.install(fake_pungi["pungi.scripts.pungi_koji"])
    # Schema problems: pungi-koji's own checks.validate, before any phase
    # and before the compose directory exists.
    launch = Launch(koji, site, "e3", [modules_variant()],
                    strata_modules={"^Modules$": {"*": ["tools.yaml"]}},
                    strata_repoclosure_strictness=[["^M", {"*": "sometimes"}]])
    with pytest.raises(SystemExit):
        launch.run()
    assert "strata_repoclosure_strictness" in capsys.readouterr().err
    assert launch.compose is None and not (site.root / "e3").exists()
    # A bad variant pattern (a key of strata_modules) too.
    launch = Launch(koji, site, "e6", [modules_variant()],
                    strata_modules={"^Modules(": {"*": ["tools.yaml"]}})
    with pytest.raises(SystemExit):
        launch.run()
    err = capsys.readouterr().err
    assert ("Failed validation in strata_modules: incorrect regular expression '^Modules(': "
            "missing ), unterminated subpattern at position 8") in err, err
    assert launch.compose is None and not (site.root / "e6").exists()
    # Definition problems: run_compose's validation loop.
    launch = Launch(koji, site, "e4", [modules_variant()],
                    strata_modules={"^Modules$": {"*": ["missing.yaml"]}})
    with pytest.raises(SystemExit):
        launch.run()
    errors = launch.compose.logged(logging.ERROR)
    assert any(e.startswith("TEST: STRATA: strata_modules.^Modules$.*: missing.yaml: "
                            "no such definition file") for e in errors), errors
    assert any("Configuration is not valid" in e for e in errors)
    assert launch.compose.get_status() == "DOOMED"


def test_plain_pungi_koji_only_warns_about_strata_options(site, fake_pungi, capsys):
    # Without strata-pungi-koji, Pungi knows no strata_* option: it warns
    # and composes without modules (README: use strata-pungi-koji).
    koji = fake_pungi["pungi.scripts.pungi_koji"]
    compose = Launch(koji, site, "p1", [modules_variant()],
                     strata_modules={"^Modules$": {"*": ["tools.yaml"]}}).run()
    assert compose.get_status() == "FINISHED"
    assert "WARNING: Unrecognized config option: strata_modules." in capsys.readouterr().err
    assert "strata" not in phase_order(compose)
    assert rpms_in(Path(compose.topdir) / "compose/Modules/x86_64/os") == []


def test_the_standin_checks_fill_defaults_and_compile_regexes():
    conf = ps.base_conf(repoclosure_strictness=[["^(", {"*": "fatal"}]])
    errors, warnings = ps.validate(conf)
    assert errors == ["Failed validation in repoclosure_strictness.0.0: incorrect regular "
                      "expression: missing ), unterminated subpattern at position 1"]
    assert warnings == []
    assert (conf["skip_phases"], conf["createrepo_checksum"], conf["release_type"],
            conf["hashed_directories"]) == ([], "sha256", "ga", False)


def test_the_wheel_ships_the_phase_and_its_console_script():
    import importlib.metadata
    import subprocess

    site_dir = Path(strata.__file__).parent.parent
    for f in ("__init__.py", "strata_phase.py", "pungi_koji.py", "schema.py", "base.py"):
        shipped = site_dir / "pungi_phase" / f
        assert shipped.read_bytes() == (Path(__file__).parent.parent / "pungi_phase" / f).read_bytes(), f
    [ep] = [e for e in importlib.metadata.entry_points(group="console_scripts")
            if e.name == "strata-pungi-koji"]
    assert ep.value == "pungi_phase.pungi_koji:main"
    # What the phase imports besides Pungi is declared (the "pungi" extra).
    requires = importlib.metadata.requires("strata") or []
    for dep in ("productmd", "jsonschema"):
        assert any(r.startswith(dep) and r.replace('"', "'").endswith("extra == 'pungi'")
                   for r in requires), requires
    # Without Pungi the entry point says so (exit 1), no traceback.
    env = dict(os.environ, PYTHONPATH=str(site_dir))
    r = subprocess.run([sys.executable, "-m", "pungi_phase", "--help"], capture_output=True,
                       text=True, env=env, cwd=str(site_dir))
    assert r.returncode == 1
    assert "strata-pungi-koji: Pungi is not installed" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_standin_has_the_pungi_surface_the_phase_uses():
    # tests/pungi_surface.py lists what of Pungi 4.3.6 the phase and the
    # stand-in rely on (checked against the real tree by hand: run it
    # where Pungi is importable).
    import pungi_surface

    assert pungi_surface.check_standin(ps, ps.pungi_modules(PhaseBase)) == []


def test_an_is_empty_variant_gets_the_repository_without_tree_files(site):
    # is_empty: Pungi makes no repo and writes no .treeinfo for it.
    compose = site.compose("c", [modules_variant(is_empty=True)],
                           strata_modules={"^Modules$": {"*": ["tools.yaml"]}})
    repo = Path(compose.topdir) / "compose" / "Modules" / ARCH / "os"
    assert not repo.exists()
    run_phase(compose)
    assert sorted(os.listdir(repo)) == ["Packages", "repodata"]
    assert rpms_in(repo) == ["tool-1.0-1.fc40.x86_64.rpm"]
    assert rpms_json(Path(compose.topdir))["Modules"][ARCH] == [
        "Modules/x86_64/os/Packages/t/tool-1.0-1.fc40.x86_64.rpm"]


def test_artifacts_go_into_the_tree_and_images_json(site):
    """strata_artifacts: an ISO and a container image of php's stack, built
    after the modules, placed where Pungi's image phases put theirs and
    listed in images.json; an ostree commit named in strata.json."""
    import productmd.images

    for name, kind, extra in (("php-iso", "iso", {"iso": {"volume_id": "PHP"}}),
                              ("php-oci", "container", {}),
                              ("php-tree", "ostree", {"ostree": {"ref": "strata/x86_64/php"}})):
        doc = {"document": "strata-artifact", "version": 1, "data": {
            "name": name, "kind": kind, "summary": name, "arches": [ARCH],
            "contents": [{"module": "php:8.2"}], **extra}}
        ck.write_definition(site.cfg / f"{name}.yaml", doc)
    compose = site.compose("c-art", [modules_variant("Web")],
                           strata_modules={"^Web$": {"*": ["base.yaml", "apache.yaml",
                                                           "php.yaml"]}},
                           strata_artifacts={"^Web$": {ARCH: ["php-iso.yaml", "php-oci.yaml",
                                                              "php-tree.yaml"]}})
    run_phase(compose)
    top = Path(compose.topdir) / "compose"
    iso = top / "Web" / ARCH / "iso" / f"php-iso-{ARCH}.iso"
    layer = top / "Web" / ARCH / "images" / f"php-oci-{ARCH}.tar.gz"
    assert iso.is_file() and layer.is_file()
    images = productmd.images.Images()
    images.load(str(top / "metadata" / "images.json"))
    listed = {(i.type, i.format, i.path) for i in images.images["Web"][ARCH]}
    assert listed == {("dvd", "iso", f"Web/{ARCH}/iso/php-iso-{ARCH}.iso"),
                      ("docker", "tar.gz", f"Web/{ARCH}/images/php-oci-{ARCH}.tar.gz")}
    assert images.compose.id == compose.compose_id
    meta = json.loads((top / "metadata" / "strata.json").read_text())
    arts = {a["kind"]: a for a in meta["variants"]["Web"][ARCH]["artifacts"]}
    assert set(arts) == {"iso", "container", "ostree"}
    assert arts["iso"]["build_id"] == "sha256:" + hashlib.sha256(iso.read_bytes()).hexdigest()
    tree = Path(arts["ostree"]["output"]) / "ostree"
    assert subprocess.run(["ostree", f"--repo={tree}", "rev-parse", "strata/x86_64/php"],
                          capture_output=True, text=True, check=True).stdout.strip() == (
        arts["ostree"]["build_id"])
    # The modules are placed as without artifacts.
    assert "php-8.2.13-1.fc40.x86_64.rpm" in rpms_in(top / "Web" / ARCH / "os")


def test_a_missing_artifact_definition_fails_validation(site):
    compose = site.compose("c-art-missing", [modules_variant("Web")],
                           strata_artifacts={"^Web$": {ARCH: ["nosuch.yaml"]}})
    phase = StrataPhase(compose)
    assert not phase.skip()
    with pytest.raises(ValueError, match=r"strata_artifacts\.\^Web\$\.x86_64: nosuch.yaml: "
                                         r"no such definition file"):
        phase.validate()
