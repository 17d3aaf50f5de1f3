"""`strata release check` and `strata.release_check()`: a release document
checked against real module composes (rpmbuild, createrepo_c, the compose
pipeline) of a small distribution:

    platform f40: glibc, zlib
    ssl:3 <- apache:2.4 <- php:8.2        (one stack)
             apache:2.4 <- ruby:3.3       (another stack on the same apache)
             apache:2.6 <- perl:5.38      (a stack on another apache stream)
    tools:1                               (independent; its definition in git)
    zng:2                                 (ships its own `zlib`, without libz.so.1)
    go:1.22                               (defined, never composed)

ssl:3 gives security fixes only until 2027-01-31. The modules below the
release's own come from the configuration's catalog; tools:1's definition
is fetched from a git repository through the SCM cache."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

import composekit as ck
import rpmfactory
import strata

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schema" / "strata-release.schema.json").read_text())
LONG = {"eol": "2028-12-31", "sla": {"security_fixes": "2028-12-31", "bug_fixes": "2028-06-30"}}


def lib(name, version, **kw):
    return dict({"name": name, "version": version}, **kw)


class Dist:
    def __init__(self, site: ck.Site, root: Path, defs: dict[str, Path], tools_url: str,
                 ids: dict[str, str]):
        self.site, self.root, self.defs, self.tools_url, self.ids = site, root, defs, tools_url, ids

    def release(self, name: str, modules: list[dict], sla=None, eol="2027-12-31",
                **extra) -> Path:
        doc = {"document": "strata-release", "version": 1, "data": {
            "name": name, "version": "1", "date": "2026-05-01",
            "lifecycle": {"eol": eol, "sla": sla or {"security_fixes": "2026-12-31"}},
            "modules": modules, **extra}}
        path = self.root / "releases" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def module(self, nsv: str, **extra) -> dict:
        """A release entry whose definition is the file beside the others
        (relative to the release file)."""
        return {"module": nsv, "definition": f"../modules/{nsv.replace(':', '-')}.yaml", **extra}

    def check(self, release: Path, rc: int) -> dict:
        r = self.site.run("release", "check", release, "--config", self.site.config,
                          "--cache-dir", self.site.cache, "--arch", "x86_64", "--json",
                          check_rc=rc)
        return json.loads(r.stdout)

    def text(self, release: Path, rc: int) -> str:
        return self.site.run("release", "check", release, "--config", self.site.config,
                             "--cache-dir", self.site.cache, "--arch", "x86_64",
                             check_rc=rc).stdout


def git(repo: Path, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


@pytest.fixture(scope="module")
def dist(strata_bin, tmp_path_factory) -> Dist:
    root = tmp_path_factory.mktemp("release")
    base = rpmfactory.make_repo(root / "repos" / "base", [
        lib("glibc", "2.39", provides=["libc.so.6"]),
        lib("zlib", "1.2.13", provides=["libz.so.1"], requires=["libc.so.6"]),
    ])
    src = rpmfactory.make_repo(root / "repos" / "src", [
        lib("openssl-libs", "3.0.13", provides=["libssl.so.3"], requires=["libc.so.6"]),
        lib("httpd", "2.4.58", requires=["libssl.so.3"]),
        lib("mod_ssl", "2.4.58", requires=["httpd"]),
        lib("httpd-next", "2.6.0", requires=["libc.so.6"]),
        lib("php", "8.2.13", requires=["httpd"]),
        lib("php-cli", "8.2.13", requires=["libc.so.6"]),
        lib("ruby", "3.3.0", requires=["libc.so.6"]),
        lib("mod_passenger", "6.0", requires=["httpd", "ruby"]),
        lib("perl", "5.38", requires=["libc.so.6"]),
        lib("mod_perl", "2.0", requires=["httpd-next", "perl"]),
        lib("jq", "1.7", requires=["libc.so.6", "libz.so.1"]),
        lib("zlib", "2.0.0", requires=["libc.so.6"]),
        lib("golang", "1.22", requires=["libc.so.6"]),
    ])
    site = ck.Site(strata_bin, root / "site", platforms={"f40": [str(base)]})
    mods = root / "modules"

    def define(name, stream, packages, requires=None, lifecycle=LONG, profiles=None):
        doc = ck.definition(name, stream, packages=packages, repos=[src],
                            requires={"platform": "f40", **(requires or {})},
                            profiles=profiles or {"default": packages[:1]})
        if lifecycle:
            doc["data"]["lifecycle"] = lifecycle
        return ck.write_definition(mods / f"{name}-{stream}.yaml", doc)

    defs = {
        "ssl:3": define("ssl", "3", ["openssl-libs"], lifecycle={
            "eol": "2028-12-31", "sla": {"security_fixes": "2027-01-31"}}),
        "apache:2.4": define("apache", "2.4", ["httpd", "mod_ssl"], {"ssl": "3"},
                             profiles={"default": ["httpd", "mod_ssl"]}),
        "apache:2.6": define("apache", "2.6", ["httpd-next"]),
        "php:8.2": define("php", "8.2", ["php", "php-cli"], {"apache": "2.4"},
                          profiles={"default": ["php", "php-cli"], "cli": ["php-cli"]}),
        "ruby:3.3": define("ruby", "3.3", ["ruby", "mod_passenger"], {"apache": "2.4"}),
        "perl:5.38": define("perl", "5.38", ["perl", "mod_perl"], {"apache": "2.6"}),
        "zng:2": define("zng", "2", ["zlib"]),
        "go:1.22": define("go", "1.22", ["golang"]),
    }
    # tools:1 lives in git: the release names it by SCM URL.
    scm = root / "scm"
    scm.mkdir()
    git(scm, "init", "-q", "-b", "main")
    ck.write_definition(scm / "tools.yaml", ck.definition(
        "tools", "1", packages=["jq"], repos=[src], requires={"platform": "f40"},
        profiles={"default": ["jq"]}, lifecycle=LONG))
    git(scm, "add", ".")
    git(scm, "commit", "-q", "-m", "tools")
    tools_url = f"git+file://{scm}?tools.yaml#main"

    ids = {}
    for nsv in ["ssl:3", "apache:2.4", "apache:2.6", "php:8.2", "ruby:3.3", "perl:5.38",
                "zng:2"]:
        ids[nsv] = site.compose_json(defs[nsv])["id"]
    ids["tools:1"] = site.compose_json(scm / "tools.yaml")["id"]
    # The modules below the release's come from the catalog.
    with open(site.config, "a") as f:
        f.write("[chain]\ncatalog = [" + ", ".join(
            f'"{defs[m]}"' for m in ["ssl:3", "apache:2.4", "apache:2.6"]) + "]\n")
    d = Dist(site, root, defs, tools_url, ids)
    d.base = base
    return d


def compose_release(dist: Dist, release: Path, rc: int) -> dict:
    r = dist.site.run("release", "compose", release, "--config", dist.site.config,
                      "--cache-dir", dist.site.cache, "--arch", "x86_64", "--json", check_rc=rc)
    return json.loads(r.stdout)


def releases(dist: Dist, *args) -> list | dict:
    r = dist.site.run("releases", *args, "--json", "--config", dist.site.config, check_rc=0)
    return json.loads(r.stdout)


_OBSOLETES = r"""
import json, sys
import gi
gi.require_version("Modulemd", "2.0")
from gi.repository import Modulemd
idx = Modulemd.ModuleIndex.new()
ok, failures = idx.update_from_file(sys.argv[1], True)
assert ok and not failures, [f.get_gerror().message for f in (failures or [])]
print(json.dumps({name: sorted([o.props.module_stream, o.get_eol_date(), o.get_message()]
                              for o in idx.get_module(name).get_obsoletes())
                  for name in idx.get_module_names()}))
"""


def obsoletes_with_libmodulemd(text: bytes, work: Path) -> dict:
    path = work / "modules.yaml"
    path.write_bytes(text)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    r = subprocess.run([ck.SYSTEM_PYTHON, "-c", _OBSOLETES, str(path)], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def problems(report: dict, kind: str | None = None) -> list[dict]:
    return [p for p in report["problems"] if kind is None or p["kind"] == kind]


def test_two_stacks_and_an_independent_module_pass(dist):
    release = dist.release("f41", [
        dist.module("php:8.2", default=True),
        dist.module("ruby:3.3"),
        {"module": "tools:1", "definition": dist.tools_url},
    ])
    report = dist.check(release, rc=0)
    assert problems(report) == []
    chains = {m["module"]: m["chain"] for m in report["modules"]}
    assert chains == {
        "php:8.2": ["php:8.2"],
        "ruby:3.3": ["ruby:3.3"],
        "tools:1": ["tools:1"],
        "apache:2.4": ["php:8.2", "apache:2.4"],
        "ssl:3": ["php:8.2", "apache:2.4", "ssl:3"],
    }
    composes = {m["module"]: m["compose"] for m in report["modules"]}
    assert composes == {m: dist.ids[m] for m in chains}
    # One closure over all five composes: every package of each.
    assert report["closure"] == {"packages": 1 + 2 + 2 + 2 + 1, "hidden_platform_packages": 0,
                                 "profiles": 6}
    assert dist.text(release, rc=0).endswith("OK: no problems\n")
    # Python gets the same report, typed.
    r = strata.release_check(release, config=dist.site.config, registry=dist.site.registry,
                             arch="x86_64", cache_dir=dist.site.cache)
    assert isinstance(r, strata.ReleaseReport)
    assert r.ok and r.problems == [] and r.release == "f41"
    assert [m.chain for m in r.modules] == list(chains.values())
    assert json.loads(r.to_json()) == report


def test_a_transitive_eol_violation_two_levels_down_names_its_chain(dist):
    release = dist.release("f42", [dist.module("php:8.2"), dist.module("ruby:3.3")],
                           sla={"security_fixes": "2027-06-30"})
    report = dist.check(release, rc=1)
    # ssl:3 is below both stacks; the first chain that reaches it is named.
    assert problems(report) == [{
        "kind": "lifecycle", "chain": ["php:8.2", "apache:2.4", "ssl:3"],
        "level": "security_fixes", "ends": "2027-01-31", "release_ends": "2027-06-30"}]
    assert ("php:8.2 requires apache:2.4, which requires ssl:3, whose security_fixes end "
            "2027-01-31, before the release's 2027-06-30") in dist.text(release, rc=1)
    r = strata.release_check(release, config=dist.site.config, registry=dist.site.registry,
                             arch="x86_64", cache_dir=dist.site.cache)
    assert not r.ok
    [p] = r.problems
    assert (p.kind, p.chain) == ("lifecycle", ["php:8.2", "apache:2.4", "ssl:3"])
    assert p.message.startswith("php:8.2 requires apache:2.4")


def test_two_streams_of_one_module_are_reported(dist):
    release = dist.release("f43", [dist.module("php:8.2"), dist.module("perl:5.38")])
    report = dist.check(release, rc=1)
    assert problems(report) == [{
        "kind": "stream_conflict", "module": "apache",
        "chains": [["php:8.2", "apache:2.4"], ["perl:5.38", "apache:2.6"]]}]
    # The closure waits until one stream is chosen.
    assert report["closure"] is None
    assert ("apache: 2 streams in one release, and dnf enables one: php:8.2 requires "
            "apache:2.4; perl:5.38 requires apache:2.6") in dist.text(release, rc=1)


def test_a_module_without_a_good_compose_is_reported(dist):
    release = dist.release("f44", [dist.module("tools:1", definition=dist.tools_url),
                                   dist.module("go:1.22")])
    report = dist.check(release, rc=1)
    assert problems(report) == [{"kind": "no_good_compose", "chain": ["go:1.22"]}]
    assert {m["module"]: m["compose"] for m in report["modules"]} == {
        "tools:1": dist.ids["tools:1"], "go:1.22": None}
    # A pin not in the registry (one of another stream is refused by the
    # document's own rules); a pin that is finished ships.
    missing = dist.ids["apache:2.4"].replace("2.4", "2.6", 1) + "9"
    release = dist.release("f45", [
        {"module": "apache:2.6", "compose": missing},
        {"module": "tools:1", "definition": dist.tools_url, "compose": dist.ids["tools:1"]}])
    report = dist.check(release, rc=1)
    assert problems(report) == [{"kind": "compose", "chain": ["apache:2.6"], "compose": missing,
                                 "message": "is not in the registry"}]


def test_the_release_wide_closure_sees_what_each_compose_alone_does_not(dist):
    """tools:1 closed against the platform's zlib; zng:2 ships a `zlib`
    without libz.so.1, and in one release dnf hides the platform's zlib
    behind it: jq's requirement is open only in the release."""
    release = dist.release("f46", [{"module": "tools:1", "definition": dist.tools_url},
                                   dist.module("zng:2")])
    report = dist.check(release, rc=1)
    unresolved, profile = problems(report)
    assert unresolved["kind"] == "unresolved"
    assert (unresolved["module"], unresolved["compose"], unresolved["deps"]) == (
        "tools:1", dist.ids["tools:1"], ["libz.so.1"])
    assert unresolved["package"].startswith("jq-")
    assert report["closure"]["hidden_platform_packages"] == 1
    # The profile that installs jq fails for the same reason.
    assert profile["kind"] == "profile" and profile["profile"] == "tools:1/default"
    assert any("libz.so.1" in p for p in profile["problems"]), profile
    # Alone, each passes.
    for nsv in ["tools:1", "zng:2"]:
        entry = ({"module": nsv, "definition": dist.tools_url} if nsv == "tools:1"
                 else dist.module(nsv))
        assert problems(dist.check(dist.release("alone", [entry]), rc=0)) == []


def test_bad_release_documents_name_file_and_entry(dist):
    release = dist.release("f47", [
        dist.module("php:8.2"),
        {"module": "php:8.3"},
        {"module": "ruby:3.3", "compose": dist.ids["php:8.2"]},
    ], date="2026-02-30")
    r = dist.site.run("release", "check", release, "--config", dist.site.config, check_rc=2)
    assert f"{release}:6:9: data.date: `2026-02-30` is not a date" in r.stderr, r.stderr
    assert "data.modules[1].module: the module `php` is listed twice (php:8.2 and php:8.3)" \
        in r.stderr
    assert f"data.modules[2].compose: `{dist.ids['php:8.2']}` is not a compose ID of ruby:3.3" \
        in r.stderr
    with pytest.raises(strata.DefinitionError) as e:
        strata.release_check(release, config=dist.site.config, registry=dist.site.registry)
    assert any("data.date" in p for p in e.value.args[1])
    # An unknown module, and a definition of another stream.
    release = dist.release("f48", [{"module": "nginx:1"},
                                   {"module": "apache:2.6", "definition":
                                    "../modules/apache-2.4.yaml"}])
    report = dist.check(release, rc=1)
    kinds = [(p["kind"], p.get("chain") or p.get("what")) for p in report["problems"]]
    assert ("definition", "apache:2.6") in kinds
    assert ("unknown_module", ["nginx:1"]) in kinds


def test_the_schema_and_strata_validate_agree_on_releases(dist, strata_bin):
    example = yaml.safe_load((ROOT / "examples" / "release.yaml").read_text())
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    v = jsonschema.Draft202012Validator(SCHEMA)
    assert list(v.iter_errors(example)) == []
    dist.site.run("validate", ROOT / "examples" / "release.yaml", check_rc=0)
    for key, value in [("date", "tomorrow"), ("modules", []), ("lifecycle", {"sla": {}}),
                       ("previous", "f 40"), ("variants", "two")]:
        doc = json.loads(json.dumps(example))
        doc["data"][key] = value
        assert list(v.iter_errors(doc)), key
        path = dist.root / "bad-release.yaml"
        path.write_text(yaml.safe_dump(doc))
        r = dist.site.run("validate", path, check_rc=1)
        assert f"data.{key}" in r.stderr, r.stderr


class Upgrade:
    """Releases of one module, foo, across an upgrade:

        u1   foo:1  foo-libs 1.0, foo-tools 1.0 (requires foo-libs = 1.0)
        u2   foo:1  foo-libs 2.0; foo-tools dropped, nothing obsoletes it
        u2b  foo:1  foo-libs 2.0-2, which obsoletes foo-tools < 2.0
        u3   foo:2  foo-libs 3.0 (another stream), which obsoletes foo-tools < 2.0
        u3x  foo:2  foo-libs 3.0; foo-tools dropped across the switch, nothing
                    obsoletes it

    Each release pins its compose, as a shipped release does."""

    def __init__(self, dist: Dist):
        self.dist = dist
        root = dist.root / "upgrade"
        self.base = dist.root / "repos" / "base"
        versions = {
            "u1": ("1", [lib("foo-libs", "1.0"),
                         lib("foo-tools", "1.0", requires=["foo-libs = 1.0"])],
                   {"default": ["foo-tools"], "libs": ["foo-libs"]}),
            "u2": ("1", [lib("foo-libs", "2.0")], {"default": ["foo-libs"]}),
            "u2b": ("1", [lib("foo-libs", "2.0", release="2", obsoletes=["foo-tools < 2.0"])],
                    {"default": ["foo-libs"]}),
            "u3": ("2", [lib("foo-libs", "3.0", obsoletes=["foo-tools < 2.0"])],
                   {"default": ["foo-libs"]}),
            "u3x": ("2", [lib("foo-libs", "3.0")], {"default": ["foo-libs"]}),
        }
        self.releases: dict[str, Path] = {}
        self.repos: dict[str, Path] = {}
        self.ids: dict[str, str] = {}
        for name, (stream, pkgs, profiles) in versions.items():
            src = rpmfactory.make_repo(root / name / "src", pkgs)
            doc = ck.definition("foo", stream, packages=[p["name"] for p in pkgs], repos=[src],
                                requires={"platform": "f40"}, profiles=profiles, lifecycle=LONG)
            definition = ck.write_definition(root / name / f"foo-{stream}.yaml", doc)
            record = dist.site.compose_json(definition)
            self.ids[name] = record["id"]
            self.repos[name] = ck.repo_dir(dist.site.show(record["id"]), "x86_64")
            self.releases[name] = dist.release(name, [{
                "module": f"foo:{stream}", "definition": f"../upgrade/{name}/foo-{stream}.yaml",
                "compose": record["id"]}])

    def check(self, release: str, previous: str, rc: int) -> dict:
        r = self.dist.site.run("release", "check", self.releases[release], "--from",
                               self.releases[previous], "--config", self.dist.site.config,
                               "--cache-dir", self.dist.site.cache, "--arch", "x86_64", "--json",
                               check_rc=rc)
        return json.loads(r.stdout)

    def dnf(self, release: str, root: Path, work: Path, *args) -> subprocess.CompletedProcess:
        """Real dnf on `root` with the release's compose and the platform
        as its only repositories (a repo id per release, so no cached
        metadata of another release is reused)."""
        return ck.dnf_install({release: self.repos[release], "platform": self.base}, root, work,
                              ["--refresh", *args])


@pytest.fixture(scope="module")
def upgrade(dist) -> Upgrade:
    return Upgrade(dist)


def test_a_package_dropped_without_an_obsoletes_breaks_the_upgrade_as_dnf_says(
        upgrade, tmp_path):
    report = upgrade.check("u2", "u1", rc=1)
    assert problems(report) == [{
        "kind": "upgrade", "profile": "foo:1/default", "previous": "u1",
        "blockers": [{
            "package": "foo-tools-1.0-1.noarch", "name": "foo-tools",
            "requires": "foo-libs = 1.0", "provided_by": ["foo-libs-1.0-1.noarch"],
            "replaced_by": ["foo-libs-2.0-1.noarch"], "successors": []}],
        "problems": problems(report)[0]["problems"]}]
    assert any("foo-tools-1.0-1.noarch" in p for p in problems(report)[0]["problems"])
    # The profile with the library alone upgrades.
    outcomes = {p["label"]: p["outcome"] for p in report["upgrade"]["profiles"]}
    assert report["upgrade"]["checked"] and report["upgrade"]["release"] == "u1"
    assert outcomes["foo:1/libs"] == {"result": "upgrades", "before": 1, "upgraded": 1,
                                      "downgraded": 0, "obsoleted": 0, "erased": 0,
                                      "changed": 0, "installed": 0}
    assert outcomes["foo:1/default"]["result"] == "fails"
    text = upgrade.dist.site.run("release", "check", upgrade.releases["u2"], "--from",
                                 upgrade.releases["u1"], "--config", upgrade.dist.site.config,
                                 "--cache-dir", upgrade.dist.site.cache, "--arch", "x86_64",
                                 check_rc=1).stdout
    assert ("upgrade from u1: foo:1 profile default: foo-tools-1.0-1.noarch requires "
            "foo-libs = 1.0, which the new release replaces with foo-libs-2.0-1.noarch, and no "
            "package of the new release updates or obsoletes foo-tools") in text, text
    assert "upgrade from u1 1 (" in text and "1 of 2 profiles upgrade" in text, text
    # Python: the same report.
    r = strata.release_check(upgrade.releases["u2"], config=upgrade.dist.site.config,
                             registry=upgrade.dist.site.registry, arch="x86_64",
                             cache_dir=upgrade.dist.site.cache, previous=upgrade.releases["u1"])
    assert not r.ok and [p.kind for p in r.problems] == ["upgrade"]
    assert json.loads(r.to_json()) == report

    # Real dnf: foo:1/default from u1, then distro-sync to u2 fails on
    # foo-tools.
    root, work = tmp_path / "root", tmp_path / "work"
    r = upgrade.dnf("u1", root, work, "module", "install", "foo:1/default")
    assert r.returncode == 0, r.stdout + r.stderr
    assert {"foo-libs", "foo-tools"} <= ck.rpm_qa(root, work)
    r = upgrade.dnf("u2", root, work, "distro-sync")
    assert r.returncode != 0, r.stdout + r.stderr
    assert "foo-tools-1.0-1.noarch" in r.stdout + r.stderr, r.stdout + r.stderr
    assert {"foo-libs", "foo-tools"} <= ck.rpm_qa(root, work)


def test_with_an_obsoletes_both_the_check_and_dnf_upgrade(upgrade, tmp_path):
    report = upgrade.check("u2b", "u1", rc=0)
    assert problems(report) == []
    outcomes = {p["label"]: p["outcome"] for p in report["upgrade"]["profiles"]}
    assert outcomes["foo:1/default"] == {"result": "upgrades", "before": 2, "upgraded": 1,
                                         "downgraded": 0, "obsoleted": 1, "erased": 0,
                                         "changed": 0, "installed": 0}
    root, work = tmp_path / "root", tmp_path / "work"
    r = upgrade.dnf("u1", root, work, "module", "install", "foo:1/default")
    assert r.returncode == 0, r.stdout + r.stderr
    r = upgrade.dnf("u2b", root, work, "distro-sync")
    assert r.returncode == 0, r.stdout + r.stderr
    installed = ck.rpm_qa(root, work)
    assert "foo-libs" in installed and "foo-tools" not in installed, installed


_SWITCHES = r"""
import json, sys
import gi
gi.require_version("Modulemd", "2.0")
from gi.repository import Modulemd
idx = Modulemd.ModuleIndex.new()
ok, failures = idx.update_from_file(sys.argv[1], True)
assert ok and not failures, [f.get_gerror().message for f in (failures or [])]
m = idx.get_module(sys.argv[2])
print(json.dumps({
    "streams": sorted(m.get_stream_names()),
    "obsoletes": sorted([o.props.module_stream, o.props.obsoleted_by_module_name,
                         o.props.obsoleted_by_module_stream] for o in m.get_obsoletes()),
    "resolved": {s.get_stream_name(): [s.get_obsoletes_resolved().props.obsoleted_by_module_name,
                                       s.get_obsoletes_resolved().props.obsoleted_by_module_stream]
                 for s in m.get_all_streams() if s.get_obsoletes_resolved()},
}))
"""


def switches_with_libmodulemd(text: bytes, module: str, work: Path) -> dict:
    path = work / "modules.yaml"
    path.write_bytes(text)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    r = subprocess.run([ck.SYSTEM_PYTHON, "-c", _SWITCHES, str(path), module],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_stream_switch_is_composed_as_an_obsoletes_dnf_acts_on(upgrade, tmp_path):
    """u1 ships foo:1, u3 foo:2: the check names the switch (not a problem),
    and the release compose from u1 marks foo:1 obsoleted by foo:2, so
    real dnf switches the enabled stream on distro-sync."""
    site = upgrade.dist.site
    report = upgrade.check("u3", "u1", rc=0)
    assert problems(report) == []
    # Both of foo:1's profiles are checked across the switch.
    outcomes = {p["label"]: p["outcome"]["result"] for p in report["upgrade"]["profiles"]}
    assert outcomes == {"foo:1/default": "upgrades", "foo:1/libs": "upgrades"}
    assert report["upgrade"]["switches"] == [{"module": "foo", "from_stream": "1",
                                              "from_compose": upgrade.ids["u1"],
                                              "to_stream": "2"}]
    text = site.run("release", "check", upgrade.releases["u3"], "--from",
                    upgrade.releases["u1"], "--config", site.config, "--cache-dir", site.cache,
                    "--arch", "x86_64", check_rc=0).stdout
    assert ("foo:1 -> foo:2: the release compose marks foo:1 obsoleted by foo:2; dnf with "
            "module_obsoletes=1 and module_stream_switch=1 switches on upgrade") in text, text

    out = tmp_path / "rel"
    composed = json.loads(site.run(
        "release", "compose", upgrade.releases["u3"], "--from", upgrade.releases["u1"],
        "--out", out, "--config", site.config, "--cache-dir", site.cache, "--arch", "x86_64",
        "--json", check_rc=0).stdout)
    top = out / composed["release"]["id"]
    repo = top / "compose" / "Modular" / "x86_64" / "os"
    # libmodulemd: foo:1 is known (without packages) and obsoleted by foo:2.
    read = switches_with_libmodulemd(ck.modules_yaml(repo), "foo", tmp_path)
    assert read["streams"] == ["1", "2"]
    assert read["obsoletes"] == [["1", "foo", "2"], ["2", None, None]]
    assert read["resolved"]["1"] == ["foo", "2"]
    # productmd lists only what the compose ships.
    import productmd.compose
    c = productmd.compose.Compose(str(top))
    assert [k.split(":")[:2] for k in c.modules.modules["Modular"]["x86_64"]] == [["foo", "2"]]

    # Real dnf: foo:1/libs from u1, then distro-sync against the release
    # compose switches to foo:2 and upgrades foo-libs.
    root, work = tmp_path / "root", tmp_path / "work"
    r = upgrade.dnf("u1", root, work, "module", "install", "foo:1/libs")
    assert r.returncode == 0, r.stdout + r.stderr
    r = ck.dnf_install({"u3rel": repo, "platform": upgrade.base}, root, work,
                       ["--refresh", "--setopt=module_obsoletes=1",
                        "--setopt=module_stream_switch=1", "distro-sync"])
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(os.environ, HOME=str(work / "home"))
    q = subprocess.run(["rpm", "--root", str(root), "-q", "--qf", "%{VERSION}", "foo-libs"],
                       capture_output=True, text=True, env=env)
    assert q.stdout == "3.0", q.stdout + q.stderr
    state = (root / "etc" / "dnf" / "modules.d" / "foo.module").read_text()
    assert "stream=2\n" in state and "state=enabled\n" in state, state


def test_a_profile_that_cannot_cross_a_stream_switch_is_reported_as_dnf_fails(
        upgrade, tmp_path):
    """u3x drops foo-tools across the switch to foo:2 with nothing
    obsoleting it: foo:1/default cannot be upgraded, and real dnf, told to
    switch, fails on the same package."""
    report = upgrade.check("u3x", "u1", rc=1)
    assert [(p["kind"], p["profile"]) for p in problems(report)] == [
        ("upgrade", "foo:1/default")]
    assert [b["package"] for b in problems(report)[0]["blockers"]] == ["foo-tools-1.0-1.noarch"]
    assert [s["to_stream"] for s in report["upgrade"]["switches"]] == ["2"]
    out = tmp_path / "rel"
    site = upgrade.dist.site
    site.run("release", "compose", upgrade.releases["u3x"], "--from", upgrade.releases["u1"],
             "--out", out, "--config", site.config, "--cache-dir", site.cache, "--arch",
             "x86_64", check_rc=1)
    assert not out.exists() or not any(out.iterdir())
    # Real dnf: foo:1/default from u1, foo:2 enabled in its place (what
    # module_obsoletes=1 and module_stream_switch=1 do), then distro-sync
    # fails on foo-tools. (`dnf module switch-to` would erase foo-tools
    # instead: it removes what the new stream does not ship.)
    root, work = tmp_path / "root", tmp_path / "work"
    r = upgrade.dnf("u1", root, work, "module", "install", "foo:1/default")
    assert r.returncode == 0, r.stdout + r.stderr
    for step in (("module", "reset", "foo"), ("module", "enable", "foo:2")):
        r = upgrade.dnf("u3x", root, work, *step)
        assert r.returncode == 0, r.stdout + r.stderr
    r = upgrade.dnf("u3x", root, work, "distro-sync")
    assert r.returncode != 0, r.stdout + r.stderr
    assert "foo-tools-1.0-1.noarch" in r.stdout + r.stderr, r.stdout + r.stderr
    assert {"foo-libs", "foo-tools"} <= ck.rpm_qa(root, work)


def test_a_previous_release_compose_by_id_or_name(upgrade, tmp_path):
    site = upgrade.dist.site
    # Nothing of that name: refused before the check starts.
    r = site.run("release", "check", upgrade.releases["u2"], "--from", "f40",
                 "--config", site.config, check_rc=2)
    assert "cannot check the upgrade from `f40`" in r.stderr, r.stderr
    assert "no release compose with that ID or release name" in r.stderr, r.stderr
    with pytest.raises(strata.ReleaseError, match="no release compose with that ID"):
        strata.release_check(upgrade.releases["u2"], config=site.config,
                             registry=site.registry, previous="f40")
    # Release u1 composed: the upgrade from it, by ID and by name, is the
    # upgrade from its document.
    composed = json.loads(site.run("release", "compose", upgrade.releases["u1"], "--out",
                                   tmp_path / "rel", "--config", site.config, "--cache-dir",
                                   site.cache, "--arch", "x86_64", "--json").stdout)
    rid = composed["release"]["id"]
    by_file = upgrade.check("u2", "u1", rc=1)
    for prev in (rid, "u1"):
        r = site.run("release", "check", upgrade.releases["u2"], "--from", prev, "--config",
                     site.config, "--cache-dir", site.cache, "--arch", "x86_64", "--json",
                     check_rc=1)
        report = json.loads(r.stdout)
        assert report["upgrade"]["from"] == rid
        assert problems(report) == problems(by_file)
        assert report["upgrade"]["profiles"] == by_file["upgrade"]["profiles"]


def test_the_documents_previous_is_the_upgrade_check_unless_from_is_given(upgrade, tmp_path):
    site = upgrade.dist.site

    def with_previous(previous: str) -> Path:
        doc = yaml.safe_load(upgrade.releases["u2"].read_text())
        doc["data"]["previous"] = previous
        path = upgrade.releases["u2"].with_name(f"u2-after-{previous}.yaml")
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def check(release: Path, *extra, rc: int) -> subprocess.CompletedProcess:
        return site.run("release", "check", release, *extra, "--config", site.config,
                        "--cache-dir", site.cache, "--arch", "x86_64", check_rc=rc)

    # A previous: naming nothing: refused, naming the file and the field.
    nothing = with_previous("nope")
    r = check(nothing, "--json", rc=2)
    assert (f"{nothing}: data.previous: `nope` is no release compose ID or release name in "
            "the registry") in r.stderr, r.stderr
    # previous: u1, a release name: its newest finished release compose.
    composed = json.loads(site.run("release", "compose", upgrade.releases["u1"], "--out",
                                   tmp_path / "rel", "--config", site.config, "--cache-dir",
                                   site.cache, "--arch", "x86_64", "--json").stdout)
    rid = composed["release"]["id"]
    named = with_previous("u1")
    report = json.loads(check(named, "--json", rc=1).stdout)
    by_file = upgrade.check("u2", "u1", rc=1)
    assert (report["upgrade"]["from"], report["upgrade"]["by"]) == (rid, "data.previous")
    assert problems(report) == problems(by_file)
    assert f"upgrade from u1 1 ({rid}, named by the document's previous:)" in check(
        named, rc=1).stdout
    # An explicit --from wins, even over a previous: that names nothing.
    report = json.loads(check(nothing, "--from", upgrade.releases["u1"], "--json",
                              rc=1).stdout)
    assert (report["upgrade"]["from"], report["upgrade"]["by"]) == (
        str(upgrade.releases["u1"]), "--from")
    assert problems(report) == problems(by_file)


def test_a_release_compose_publishes_pungis_layout_and_installs_with_dnf(dist, tmp_path):
    import productmd.compose  # installed by .ci/setup
    release = dist.release("rel", [
        dist.module("php:8.2", default=True),
        dist.module("ruby:3.3"),
        {"module": "tools:1", "definition": dist.tools_url, "default": True},
    ])
    out = compose_release(dist, release, rc=0)
    assert problems(out["report"]) == []
    rec = out["release"]
    assert re.fullmatch(r"rel-1-\d{8}\.n\.0", rec["id"]), rec["id"]
    assert rec["state"] == "finished" and rec["release_date"] == "2026-05-01"
    # Every compose used, in order: the release's modules, then those below.
    assert [(i["kind"], i["name"], i["compose_id"]) for i in rec["inputs"]] == [
        ("module", "php:8.2", dist.ids["php:8.2"]),
        ("module", "ruby:3.3", dist.ids["ruby:3.3"]),
        ("module", "tools:1", dist.ids["tools:1"]),
        ("stack", "apache:2.4", dist.ids["apache:2.4"]),
        ("stack", "ssl:3", dist.ids["ssl:3"]),
    ]
    top = dist.site.out / rec["id"]
    assert rec["path"] == str(top)
    assert (top / "STATUS").read_text() == "FINISHED\n"
    assert not list(dist.site.out.glob(".staging-*")) + list(dist.site.out.glob(".staging/.staging-*"))

    # productmd loads every metadata file.
    c = productmd.compose.Compose(str(top))
    assert c.info.compose.id == rec["id"]
    assert (c.info.release.short, c.info.release.version) == ("rel", "1")
    assert list(c.info.variants.variants) == ["Modular"]
    rpms = c.rpms.rpms["Modular"]["x86_64"]
    paths = {rpm["path"] for srpm in rpms.values() for rpm in srpm.values()}
    assert len(paths) == 1 + 2 + 2 + 2 + 1
    modules = c.modules.modules["Modular"]["x86_64"]
    assert sorted(k.rsplit(":", 2)[0] for k in modules) == [
        "apache:2.4", "php:8.2", "ruby:3.3", "ssl:3", "tools:1"]
    c.images  # loads images.json: no image of its own
    # Packages are linked from the module composes, not copied.
    repo = top / "compose" / "Modular" / "x86_64" / "os"
    php_repo = ck.repo_dir(dist.site.show(dist.ids["php:8.2"]), "x86_64")
    [php] = (php_repo / "Packages" / "p").glob("php-8.2.13-*.rpm")
    assert (repo / "Packages" / "p" / php.name).stat().st_ino == php.stat().st_ino
    for p in paths:
        assert (top / "compose" / p).is_file(), p

    # The release's defaults, not the composes' own; EOL data for each stream.
    text = ck.modules_yaml(repo)
    read = ck.load_with_libmodulemd(text)
    assert read["php"]["defaults"] == {"stream": "8.2", "profiles": {"8.2": ["default"]}}
    assert read["tools"]["defaults"]["stream"] == "1"
    assert read["ruby"]["defaults"] is None and read["apache"]["defaults"] is None
    obsoletes = obsoletes_with_libmodulemd(text, tmp_path)
    assert obsoletes["ssl"] == [["3", 202812310000, "ssl:3 reaches its end of life on 2028-12-31"]]
    assert {name: [o[:2] for o in obs] for name, obs in obsoletes.items()} == {
        m: [[s, 202812310000]] for m, s in [("apache", "2.4"), ("php", "8.2"), ("ruby", "3.3"),
                                            ("ssl", "3"), ("tools", "1")]}

    # dnf installs each default stream by module name alone.
    root, work = tmp_path / "root", tmp_path / "dnf"
    r = ck.dnf_install({"release": repo, "platform": dist.base}, root, work,
                       ["module", "install", "php", "tools"])
    assert r.returncode == 0, r.stdout + r.stderr
    installed = ck.rpm_qa(root, work)
    # apache:2.4 and ssl:3 are enabled as php:8.2 requires; only what php needs installs.
    assert {"php", "php-cli", "httpd", "openssl-libs", "jq"} <= installed, installed
    assert "ruby" not in installed

    # The registry lists and shows it; composes listings do not.
    assert [r["id"] for r in releases(dist, "list")][:1] == [rec["id"]]
    assert releases(dist, "show", rec["id"]) == rec
    shown = dist.site.run("releases", "show", rec["id"], "--config", dist.site.config,
                          check_rc=0).stdout
    assert f"{rec['id']} FINISHED" in shown and dist.ids["ssl:3"] in shown
    assert rec["id"] not in {c["id"] for c in dist.site.list()}


def test_a_release_compose_with_a_variant_per_module(dist, tmp_path):
    import productmd.compose
    release = dist.release("pm", [
        dist.module("php:8.2", default=True),
        {"module": "tools:1", "definition": dist.tools_url, "default": True},
    ], variants="per-module")
    rec = compose_release(dist, release, rc=0)["release"]
    top = dist.site.out / rec["id"]
    c = productmd.compose.Compose(str(top))
    # A variant per module stream, named as Pungi names module variants.
    assert sorted(c.info.variants.variants) == ["Apache", "Php", "Ssl", "Tools"]
    assert c.info.variants["Php"].name == "php:8.2"
    for uid, module in [("Php", "php:8.2"), ("Apache", "apache:2.4"), ("Ssl", "ssl:3"),
                        ("Tools", "tools:1")]:
        assert [k.rsplit(":", 2)[0] for k in c.modules.modules[uid]["x86_64"]] == [module]
        rpms = c.rpms.rpms[uid]["x86_64"]
        for srpm in rpms.values():
            for rpm in srpm.values():
                assert rpm["path"].startswith(f"{uid}/x86_64/os/Packages/"), rpm
                assert (top / "compose" / rpm["path"]).is_file()

    def repo(uid):
        return top / "compose" / uid / "x86_64" / "os"

    # Each variant's modules.yaml: its stream, and the release's default
    # only where the module is.
    assert ck.load_with_libmodulemd(ck.modules_yaml(repo("Php")))["php"]["defaults"] == {
        "stream": "8.2", "profiles": {"8.2": ["default"]}}
    assert set(ck.load_with_libmodulemd(ck.modules_yaml(repo("Apache")))) == {"apache"}
    # dnf installs tools from its variant alone, and php from its variant
    # with the variants of the modules it requires.
    root, work = tmp_path / "root", tmp_path / "dnf"
    r = ck.dnf_install({"tools": repo("Tools"), "platform": dist.base}, root, work,
                       ["module", "install", "tools"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "jq" in ck.rpm_qa(root, work)
    root, work = tmp_path / "root2", tmp_path / "dnf2"
    r = ck.dnf_install({"php": repo("Php"), "apache": repo("Apache"), "ssl": repo("Ssl"),
                        "platform": dist.base}, root, work, ["module", "install", "php"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert {"php", "php-cli", "httpd", "openssl-libs"} <= ck.rpm_qa(root, work)


def test_a_release_that_fails_its_check_composes_and_records_nothing(dist):
    before = set(dist.site.out.iterdir())
    release = dist.release("bad", [dist.module("php:8.2", default=True),
                                   dist.module("perl:5.38")])
    out = compose_release(dist, release, rc=1)
    assert [p["kind"] for p in problems(out["report"])] == ["stream_conflict"]
    assert out["release"] is None
    text = dist.site.run("release", "compose", release, "--config", dist.site.config,
                         "--cache-dir", dist.site.cache, "--arch", "x86_64", check_rc=1).stdout
    assert "apache: 2 streams in one release" in text
    assert text.endswith("Nothing was composed: the release check found problems.\n")
    assert set(dist.site.out.iterdir()) == before
    assert not [r for r in releases(dist, "list") if r["name"] == "bad"]


def test_python_composes_a_release_typed(dist):
    release = dist.release("rel", [
        dist.module("php:8.2", default=True),
        dist.module("ruby:3.3"),
        {"module": "tools:1", "definition": dist.tools_url, "default": True},
    ])
    report, record = strata.release_compose(
        release, config=dist.site.config, registry=dist.site.registry, arch="x86_64",
        cache_dir=dist.site.cache)
    assert isinstance(report, strata.ReleaseReport) and report.ok
    assert isinstance(record, strata.ReleaseRecord)
    assert record.state == "finished" and record.release_date == "2026-05-01"
    assert record.inputs[0] == ("module", "php:8.2", dist.ids["php:8.2"])
    assert json.loads(record.to_json()) == releases(dist, "show", record.id)
    assert record.to_text().startswith(f"{record.id} FINISHED\n")
    # A check with problems: the report, and no record.
    bad = dist.release("bad", [dist.module("php:8.2"), dist.module("perl:5.38")])
    report, record = strata.release_compose(
        bad, config=dist.site.config, registry=dist.site.registry, arch="x86_64",
        cache_dir=dist.site.cache)
    assert not report.ok and record is None
    assert [p.kind for p in report.problems] == ["stream_conflict"]


def test_a_release_compose_records_its_documents_scm_reference(dist):
    """As a module compose records its definition's: detected from git
    when the document is committed without changes, or given."""
    repo = dist.root / "release-scm"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    doc = repo / "scmrel.yaml"
    doc.write_bytes(dist.release("scmrel", [dist.module("php:8.2", default=True)]).read_bytes())
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "release")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    detected = f"git+file://{os.path.realpath(repo)}?scmrel.yaml#{head}"
    rec = compose_release(dist, doc, rc=0)["release"]
    assert rec["scm_ref"] == detected
    assert releases(dist, "show", rec["id"])["scm_ref"] == detected
    shown = dist.site.run("releases", "show", rec["id"], "--config", dist.site.config,
                          check_rc=0).stdout
    assert f"\n  scm         {detected}\n" in shown, shown

    given = "git+https://src.example.org/releases.git?scmrel.yaml#0123abcd"
    r = dist.site.run("release", "compose", doc, "--scm-ref", given, "--config",
                      dist.site.config, "--cache-dir", dist.site.cache, "--arch", "x86_64",
                      "--json", check_rc=0)
    assert json.loads(r.stdout)["release"]["scm_ref"] == given
    _, record = strata.release_compose(doc, config=dist.site.config,
                                       registry=dist.site.registry, arch="x86_64",
                                       cache_dir=dist.site.cache, scm_ref=given)
    assert record.scm_ref == given

    # Changed since its commit: it came from no commit, so none is recorded.
    doc.write_text(doc.read_text() + "# local change\n")
    rec = compose_release(dist, doc, rc=0)["release"]
    assert rec["scm_ref"] is None
    assert "  scm " not in dist.site.run("releases", "show", rec["id"], "--config",
                                         dist.site.config, check_rc=0).stdout
    # A reference that could pass for another line is refused, recording nothing.
    before = len(releases(dist, "list"))
    r = dist.site.run("release", "compose", doc, "--scm-ref", "a\nb", "--config",
                      dist.site.config, "--cache-dir", dist.site.cache, "--arch", "x86_64",
                      check_rc=2)
    assert "the SCM reference \"a\\nb\" contains the control character" in r.stderr, r.stderr
    assert len(releases(dist, "list")) == before


def test_an_eol_only_obsoletes_as_real_dnf_acts_on_it(dist, tmp_path):
    """The release compose publishes, for each stream, a modulemd-obsoletes
    with its end of life (`eol_date`) and no `obsoleted_by`, as Fedora
    does for EOL streams. What real dnf 4 does with one, observed: nothing
    without module_obsoletes=1 (dnf 4's default), nor while the date is
    ahead; once it has passed, with module_obsoletes=1, dnf treats an
    enabled stream as reset (libdnf's ModulePackageContainer::applyObsoletes
    resets a stream whose active obsoletes names no successor): `module
    list` no longer shows it enabled, and the next transaction records the
    reset, saying only "Resetting modules". It neither warns nor shows the
    obsoletes' message, refuses nothing (`module install` of the stream
    still works) and removes no package."""
    doc = yaml.safe_load(dist.defs["go:1.22"].read_text())
    doc["data"].update(name="legacy", stream="1",
                       lifecycle={"eol": "2021-12-31", "sla": {"security_fixes": "2021-12-31"}})
    legacy = ck.write_definition(dist.root / "modules" / "legacy-1.yaml", doc)
    dist.site.compose_json(legacy)
    # A release of 2021: legacy:1's end of life has passed, tools:1's
    # (2028-12-31) has not.
    release = dist.release("eol", [dist.module("legacy:1"),
                                   {"module": "tools:1", "definition": dist.tools_url}],
                           sla={"security_fixes": "2021-06-30"}, eol="2021-06-30",
                           date="2021-01-01")
    rec = compose_release(dist, release, rc=0)["release"]
    repo = dist.site.out / rec["id"] / "compose" / "Modular" / "x86_64" / "os"
    text = ck.modules_yaml(repo)
    assert obsoletes_with_libmodulemd(text, tmp_path) == {
        "legacy": [["1", 202112310000, "legacy:1 reaches its end of life on 2021-12-31"]],
        "tools": [["1", 202812310000, "tools:1 reaches its end of life on 2028-12-31"]]}
    assert b"obsoleted_by" not in text

    repos = {"release": repo, "platform": dist.base}
    obsoletes = ["--setopt=module_obsoletes=1"]

    def dnf(root, *args):
        r = ck.dnf_install(repos, root, tmp_path / "dnf", list(args))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "end of life" not in r.stdout + r.stderr, r.stdout + r.stderr
        return r.stdout

    def enabled(root, *opts) -> list[str]:
        out = dnf(root, *opts, "module", "list", "--enabled")
        return sorted(line.split()[0] for line in out.splitlines()
                      if re.match(r"\S+ +1 +\[e\]", line))

    def state(root, module) -> str:
        text = (root / "etc" / "dnf" / "modules.d" / f"{module}.module").read_text()
        return re.search(r"^state=(.*)$", text, re.M).group(1)

    root = tmp_path / "root"
    dnf(root, "module", "install", "legacy:1/default", "tools:1/default")
    assert {"golang", "jq"} <= ck.rpm_qa(root, tmp_path / "dnf")
    # Without module_obsoletes (dnf 4's default): nothing.
    assert enabled(root) == ["legacy", "tools"]
    dnf(root, "upgrade")
    assert (state(root, "legacy"), state(root, "tools")) == ("enabled", "enabled")
    # With it: the stream past its end of life is no longer enabled; the
    # other is untouched.
    assert enabled(root, *obsoletes) == ["tools"]
    assert state(root, "legacy") == "enabled"  # listing saves nothing
    out = dnf(root, *obsoletes, "upgrade")
    assert "Resetting modules:\n legacy " in out, out
    assert (state(root, "legacy"), state(root, "tools")) == ("", "enabled")
    assert enabled(root) == ["tools"]
    # Its packages stay installed.
    assert {"golang", "jq"} <= ck.rpm_qa(root, tmp_path / "dnf")

    # Nor does it refuse the stream: a new install enables it all the same.
    fresh = tmp_path / "fresh"
    dnf(fresh, *obsoletes, "module", "install", "legacy:1/default")
    assert state(fresh, "legacy") == "enabled"
    assert "golang" in ck.rpm_qa(fresh, tmp_path / "dnf")


def paused_release(dist: Dist, release: Path) -> subprocess.Popen:
    """A real `strata release compose` held with everything staged and
    nothing published (the test-only pause point module composes have),
    once it is recorded as started; `.release_id` is its ID."""
    env = {**os.environ, "STRATA_TEST_PAUSE_BEFORE_PUBLISH": "120"}
    env.pop("STRATA_CONFIG", None)

    def started() -> set[str]:
        return {r["id"] for r in releases(dist, "list") if r["state"] == "started"}

    before = started()
    p = subprocess.Popen(
        [str(dist.site.bin), "release", "compose", str(release), "--config",
         str(dist.site.config), "--cache-dir", str(dist.site.cache), "--arch", "x86_64"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert p.poll() is None, p.communicate()
        new = started() - before
        if new:
            [p.release_id] = new
            return p
        time.sleep(0.1)
    p.kill()
    pytest.fail("the release compose was never recorded as started")


def test_a_killed_release_compose_is_abandoned_and_a_running_one_left_alone(dist):
    release = dist.release("killed", [dist.module("php:8.2", default=True)])
    alive = paused_release(dist, release)
    dead = paused_release(dist, release)
    try:
        rec = releases(dist, "show", dead.release_id)
        assert rec["state"] == "started"
        owner = rec["owner"]
        assert owner["pid"] == dead.pid and owner["host"] and owner["boot_id"]
        shown = dist.site.run("releases", "show", dead.release_id, "--config",
                              dist.site.config, check_rc=0).stdout
        assert f"  owner       process {dead.pid} on {owner['host']} (boot " in shown
        dead.send_signal(signal.SIGKILL)
        dead.wait()

        # By hand: refused while its process runs, and said why.
        r = dist.site.run("composes", "abandon", alive.release_id, "--config",
                          dist.site.config, check_rc=2)
        assert (f"release compose {alive.release_id} is not provably abandoned: its process "
                f"{alive.pid} on {owner['host']} is still running; pass --force") in r.stderr

        # One sweep covers release composes: the dead one ends failed, naming
        # its owner; the running one is left started, and named.
        r = dist.site.run("composes", "abandon", "--dead", "--config", dist.site.config,
                          check_rc=0)
        gone = f"abandoned: its process {dead.pid} on {owner['host']} is gone"
        assert r.stdout == f"{dead.release_id} {gone}\n"
        assert (f"left {alive.release_id} started: its process {alive.pid} on {owner['host']} "
                "is still running") in r.stderr
        rec = releases(dist, "show", dead.release_id)
        assert (rec["state"], rec["error"], rec["path"]) == ("failed", gone, None)
        assert rec["finished_at"] >= rec["started_at"]
        assert releases(dist, "show", alive.release_id)["state"] == "started"
        r = dist.site.run("composes", "abandon", "--dead", "--config", dist.site.config,
                          check_rc=0)
        assert r.stdout == ""
        r = dist.site.run("composes", "abandon", dead.release_id, "--config",
                          dist.site.config, check_rc=2)
        assert (f"release compose {dead.release_id} is not started (it is failed): there is "
                "nothing to abandon") in r.stderr
    finally:
        for p in (alive, dead):
            p.send_signal(signal.SIGKILL)
            p.wait()
    # The next release compose ends a dead one before it begins.
    rec = compose_release(dist, release, rc=0)["release"]
    assert rec["state"] == "finished"
    old = releases(dist, "show", alive.release_id)
    assert old["state"] == "failed"
    assert old["error"] == f"abandoned: its process {alive.pid} on {owner['host']} is gone"
    # Nothing of the killed ones was published.
    assert not (dist.site.out / alive.release_id).exists()
    assert not (dist.site.out / dead.release_id).exists()


def test_release_diff_names_modules_and_nevras_that_changed(dist):
    """Runs last: tools:1 gets a newer compose (jq 1.8), which later
    releases ship."""
    release = dist.release("rel", [
        dist.module("php:8.2", default=True),
        {"module": "tools:1", "definition": dist.tools_url, "default": True},
    ])
    first = compose_release(dist, release, rc=0)["release"]
    newer = rpmfactory.make_repo(dist.root / "repos" / "src2", [
        lib("jq", "1.8", requires=["libc.so.6", "libz.so.1"])])
    tools = ck.write_definition(dist.root / "modules2" / "tools-1.yaml", ck.definition(
        "tools", "1", packages=["jq"], repos=[newer], requires={"platform": "f40"},
        profiles={"default": ["jq"]}, lifecycle=LONG))
    tools_id = dist.site.compose_json(tools)["id"]
    second = compose_release(dist, release, rc=0)["release"]
    assert second["inputs"][1] == {"kind": "module", "name": "tools:1", "compose_id": tools_id}

    diff = json.loads(dist.site.run("release", "diff", first["id"], second["id"], "--json",
                                    "--config", dist.site.config, check_rc=0).stdout)
    assert diff["modules"] == [{"module": "tools", "from": ["1", dist.ids["tools:1"]],
                                "to": ["1", tools_id]}]
    [change] = diff["changed"]
    assert change["from"].startswith("jq-") and "1.7-" in change["from"]
    assert change["to"].startswith("jq-") and "1.8-" in change["to"]
    assert (diff["added"], diff["removed"], diff["artifacts"]) == ([], [], [])
    text = dist.site.run("release", "diff", first["id"], second["id"], "--config",
                         dist.site.config, check_rc=0).stdout
    assert f"  ~ {change['from']} -> {change['to']}\n" in text
    assert f"  tools: 1 ({dist.ids['tools:1']}) -> 1 ({tools_id})\n" in text
    same = dist.site.run("release", "diff", second["id"], second["id"], "--config",
                         dist.site.config, check_rc=0).stdout
    assert same == f"{second['id']} -> {second['id']}\nno changes\n"
    r = dist.site.run("release", "diff", first["id"], "nope-1-20260101.n.0", "--config",
                      dist.site.config, check_rc=2)
    assert "no release compose `nope-1-20260101.n.0` in the registry" in r.stderr
