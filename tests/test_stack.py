"""Stacks end to end: php:8.2 requires apache:2.4, which requires
base-runtime:f40, each composed from its own source with real RPMs; the
stack's gate, records, tree, `.repo` file and (`stack_repo = "merged"`)
whole-stack repository, both installed by real dnf, and the
failure/fallback story of the design."""

from __future__ import annotations

import configparser
import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

import composekit as ck
import rpmfactory

PLATFORM = [
    {"name": "glibc", "version": "2.39", "release": "1.fc40", "arch": "x86_64",
     "provides": ["libc.so.6()(64bit)"]},
    # Provides the name of a base-runtime package: dnf hides it while
    # base-runtime's stream is active (modular filtering).
    {"name": "compat-foo", "version": "0.9", "release": "1.fc40", "arch": "x86_64",
     "provides": ["libfoo", "libcompat.so.1()(64bit)"]},
]
BASE_SRC = [
    {"name": "libfoo", "version": "1.0", "release": "1.fc40", "arch": "x86_64",
     "requires": ["libc.so.6()(64bit)"], "provides": ["libfoo.so.1()(64bit)"]},
    {"name": "libbar", "version": "2.0", "release": "1.fc40", "arch": "x86_64",
     "provides": ["libbar.so.2()(64bit)"]},
    {"name": "libbroken", "version": "1", "release": "1.fc40", "arch": "x86_64",
     "requires": ["libnowhere.so.9()(64bit)"]},
]
APACHE_SRC = [
    {"name": "httpd", "version": "2.4.58", "release": "1.fc40", "arch": "x86_64",
     "requires": ["libfoo.so.1()(64bit)", "httpd-tools"]},
    {"name": "httpd-tools", "version": "2.4.58", "release": "1.fc40", "arch": "x86_64"},
    {"name": "httpd-compat", "version": "2.4.58", "release": "1.fc40", "arch": "x86_64",
     "requires": ["libcompat.so.1()(64bit)"]},
]
PHP_SRC = [
    {"name": "php", "version": "8.2.13", "release": "1.fc40", "arch": "x86_64",
     "requires": ["httpd", "php-common = 8.2.13-1.fc40"]},
    {"name": "php-common", "version": "8.2.13", "release": "1.fc40", "arch": "x86_64",
     "requires": ["libbar.so.2()(64bit)"]},
    {"name": "php-cli", "version": "8.2.13", "release": "1.fc40", "arch": "x86_64",
     "requires": ["php-common"]},
]


def make_repos(root: Path) -> dict[str, Path]:
    """The platform and the three modules' sources, under root."""
    return {
        "platform": rpmfactory.make_repo(root / "platform", PLATFORM),
        "base": rpmfactory.make_repo(root / "base-src", BASE_SRC),
        "apache": rpmfactory.make_repo(root / "apache-src", APACHE_SRC),
        "php": rpmfactory.make_repo(root / "php-src", PHP_SRC),
    }


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    return make_repos(tmp_path_factory.mktemp("stack-src"))


@pytest.fixture
def site(strata_bin, tmp_path, repos):
    return ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})


def merged(site):
    """The site with `[compose] stack_repo = "merged"`: a stack compose also
    publishes one repository of the whole stack."""
    text = site.config.read_text()
    site.config.write_text(text.replace("[compose]\n", '[compose]\nstack_repo = "merged"\n', 1))
    return site


def with_repo_file(work: Path, record: dict) -> Path:
    """Puts a stack compose's `.repo` file where ck.dnf_install's dnf.conf
    looks for repositories (its reposdir); returns the file."""
    repo_file = Path(record["outputs"]["path"]) / "compose" / "PhpStack.repo"
    (work / "reposd").mkdir(parents=True, exist_ok=True)
    shutil.copy(repo_file, work / "reposd" / repo_file.name)
    return repo_file


STACK_RPMS = {"php", "php-cli", "php-common", "httpd", "httpd-tools", "libfoo", "libbar", "glibc"}


def dnf_stack_installs(enabled: dict, root: Path, work: Path, b: dict, a: dict, p: dict) -> None:
    """`dnf stack info`, then `dnf stack install php:8.2`, through the
    enabled repositories: every compose of the stack shown, no mismatch,
    the whole stack installed and recorded."""
    import dnfkit
    r = dnfkit.dnf(enabled, root, work, ["stack", "info", "php:8.2"])
    assert r.returncode == 0, r.stdout + r.stderr
    for cid in (b["id"], a["id"], p["id"]):
        assert cid in r.stdout, r.stdout
    assert "MISMATCH" not in r.stdout
    r = dnfkit.dnf(enabled, root, work, ["stack", "install", "php:8.2"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert ck.rpm_qa(root, work) == STACK_RPMS
    rec = json.loads(dnfkit.record_path(root, "php:8.2").read_text())
    assert rec["compose_id"] == p["id"]
    assert [(layer["name"], layer["compose_id"]) for layer in rec["stack"]["layers"]] == [
        ("base-runtime", b["id"]), ("apache", a["id"])]


def base(tmp_path, repos, packages=("libfoo", "libbar"), stream="f40", file="base.yaml"):
    return ck.write_definition(tmp_path / "defs" / file, ck.definition(
        name="base-runtime", stream=stream, packages=packages, repos=[repos["base"]],
        requires={"platform": "f40"}, profiles={"default": list(packages)[:1]}))


def apache(tmp_path, repos, requires=None, packages=("httpd", "httpd-tools")):
    return ck.write_definition(tmp_path / "defs" / "apache.yaml", ck.definition(
        name="apache", stream="2.4", packages=packages, repos=[repos["apache"]],
        requires=requires or {"platform": "f40", "base-runtime": "f40"},
        profiles={"default": ["httpd"]}))


def php(tmp_path, repos, requires=None, **extra):
    return ck.write_definition(tmp_path / "defs" / "php.yaml", ck.definition(
        name="php", stream="8.2", packages=("php", "php-common", "php-cli"), repos=[repos["php"]],
        requires=requires or {"platform": "f40", "apache": "2.4"},
        profiles={"default": ["php", "php-cli"]}, **extra))


def compose_ids(rec: dict) -> dict[str, tuple[str, str]]:
    """name:stream → (input kind, compose ID) of a record's module inputs."""
    return {i["name"]: (i["kind"], i["ident"]) for i in rec["inputs"]
            if i["kind"] in ("compose", "stack_compose")}


def tree(site, *args) -> dict:
    r = site.run("tree", *args, "--json", "--config", site.config, check_rc=0)
    return json.loads(r.stdout)


def test_stack_compose_records_the_tree_and_its_repo_installs_the_stack(site, tmp_path, repos):
    merged(site)
    b = site.compose_json(base(tmp_path, repos))
    a = site.compose_json(apache(tmp_path, repos))
    p = site.compose_json(php(tmp_path, repos))
    assert p["state"] == "finished"
    # The compose records every module below it: apache directly, and
    # base-runtime through apache.
    assert compose_ids(p) == {"apache:2.4": ("compose", a["id"]),
                              "base-runtime:f40": ("stack_compose", b["id"])}
    assert compose_ids(a) == {"base-runtime:f40": ("compose", b["id"])}
    # The walk through the registry is timed, as a part of the load step.
    t = p["timings"]
    assert 0 < t["walk_s"] <= t["load_s"], t
    # Only php's own packages are php's.
    assert sorted(p["packages"]["x86_64"]) == [
        "php-0:8.2.13-1.fc40.x86_64", "php-cli-0:8.2.13-1.fc40.x86_64",
        "php-common-0:8.2.13-1.fc40.x86_64"]

    # strata tree: the compose used at each level.
    t = tree(site, "php:8.2")
    assert (t["module"], t["compose_id"]) == ("php:8.2", p["id"])
    [ta] = t["requires"]
    assert (ta["module"], ta["compose_id"]) == ("apache:2.4", a["id"])
    [tb] = ta["requires"]
    assert (tb["module"], tb["compose_id"], tb["requires"]) == ("base-runtime:f40", b["id"], [])
    text = site.run("tree", "php:8.2", "--config", site.config, check_rc=0).stdout
    assert text.splitlines() == [f"php:8.2  {p['id']}", f"└─ apache:2.4  {a['id']}",
                                 f"   └─ base-runtime:f40  {b['id']}"]
    # A definition shows what a compose would use now.
    t = tree(site, php(tmp_path, repos))
    assert t["requires"][0]["requires"][0]["compose_id"] == b["id"]
    # composes show lists the inputs, and the whole-stack repo.
    shown = site.run("composes", "show", p["id"], "--config", site.config, check_rc=0).stdout
    assert f"compose apache:2.4 {a['id']}" in shown
    assert f"stack_compose base-runtime:f40 {b['id']}" in shown
    stack_repo = Path(p["outputs"]["path"]) / "compose" / "PhpStack" / "x86_64" / "os"
    assert f"{stack_repo} (the whole stack)" in shown

    # The stack's repository: every package of the stack, and one
    # modules.yaml with the three streams, valid for libmodulemd.
    md = ck.load_with_libmodulemd(ck.modules_yaml(stack_repo))
    assert sorted(md) == ["apache", "base-runtime", "php"]
    assert md["php"]["streams"][0]["requires"] == {"apache": ["2.4"], "platform": ["f40"]}
    docs = [d for d in yaml.safe_load_all(ck.modules_yaml(stack_repo))
            if d["document"] == "modulemd"]
    xmd = {d["data"]["name"]: d["data"]["xmd"]["strata"] for d in docs}
    assert xmd["php"]["compose_id"] == p["id"]
    assert xmd["php"]["requires"] == ["apache:2.4"]
    assert [(layer["name"], layer["compose_id"], layer["requires"])
            for layer in xmd["php"]["stack"]] == [
        ("base-runtime", b["id"], []), ("apache", a["id"], ["base-runtime:f40"])]
    # The direct requirement among the inputs; what is below it only in
    # the stack, named once.
    assert [(i["kind"], i["ident"]) for i in xmd["php"]["inputs"]
            if i["kind"] in ("compose", "stack_compose")] == [("compose", a["id"])]
    assert xmd["apache"]["compose_id"] == a["id"]
    rpms = sorted(f.name for f in (stack_repo / "Packages").rglob("*.rpm"))
    assert rpms == sorted(f"{n}.rpm" for n in [
        "httpd-2.4.58-1.fc40.x86_64", "httpd-tools-2.4.58-1.fc40.x86_64",
        "libbar-2.0-1.fc40.x86_64", "libfoo-1.0-1.fc40.x86_64",
        "php-8.2.13-1.fc40.x86_64", "php-cli-8.2.13-1.fc40.x86_64",
        "php-common-8.2.13-1.fc40.x86_64"])
    # The module's own repository holds only its packages.
    own = sorted(f.name for f in (ck.repo_dir(p, "x86_64") / "Packages").rglob("*.rpm"))
    assert len(own) == 3

    # productmd sees two variants: the module's own and the whole stack's,
    # with every package and module of the stack.
    import productmd.compose  # installed by .ci/setup
    c = productmd.compose.Compose(p["outputs"]["path"])
    assert sorted(c.info.variants.variants) == ["Php", "PhpStack"]
    stack_paths = {r["path"] for srpm in c.rpms.rpms["PhpStack"]["x86_64"].values()
                   for r in srpm.values()}
    assert len(stack_paths) == 7
    for path in stack_paths:
        assert path.startswith("PhpStack/x86_64/os/Packages/")
        assert (Path(p["outputs"]["path"]) / "compose" / path).is_file(), path
    assert sorted(k.split(":")[0] for k in c.modules.modules["PhpStack"]["x86_64"]) == [
        "apache", "base-runtime", "php"]
    assert [k.split(":")[0] for k in c.modules.modules["Php"]["x86_64"]] == ["php"]

    # One repository configuration (the stack's, beside the platform)
    # installs the whole stack with real dnf.
    root, work = tmp_path / "root", tmp_path / "dnf"
    r = ck.dnf_install({"stack": stack_repo, "platform": repos["platform"]}, root, work,
                       ["module", "install", "php:8.2/default"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert ck.rpm_qa(root, work) == {"php", "php-cli", "php-common", "httpd", "httpd-tools",
                                    "libfoo", "libbar", "glibc"}
    r = ck.dnf_install({"stack": stack_repo, "platform": repos["platform"]}, root, work,
                       ["module", "list", "--enabled"])
    assert r.returncode == 0, r.stderr
    enabled = {line.split()[0] for line in r.stdout.splitlines()
               if line.split() and line.split()[0] in ("php", "apache", "base-runtime")}
    assert enabled == {"php", "apache", "base-runtime"}, r.stdout


def test_a_failed_base_compose_does_not_block_the_modules_above(site, tmp_path, repos):
    good0 = site.compose_json(base(tmp_path, repos))
    # base-runtime #1 fails its gate: libbroken needs a library nothing has.
    failed = site.compose_json(base(tmp_path, repos, packages=("libfoo", "libbar", "libbroken")),
                               rc=1)
    assert failed["state"] == "failed"
    # apache composes on base-runtime's last good compose, and records it.
    a1 = site.compose_json(apache(tmp_path, repos))
    assert compose_ids(a1) == {"base-runtime:f40": ("compose", good0["id"])}
    # base-runtime #2 succeeds: the next apache compose picks it up.
    good2 = site.compose_json(base(tmp_path, repos))
    assert good2["id"] != good0["id"]
    a2 = site.compose_json(apache(tmp_path, repos))
    assert compose_ids(a2) == {"base-runtime:f40": ("compose", good2["id"])}
    assert [good0["id"].rsplit(".", 1)[1], failed["id"].rsplit(".", 1)[1],
            good2["id"].rsplit(".", 1)[1]] == ["0", "1", "2"]
    # And so does a stack above apache: php uses both last good composes.
    p = site.compose_json(php(tmp_path, repos))
    assert compose_ids(p) == {"apache:2.4": ("compose", a2["id"]),
                              "base-runtime:f40": ("stack_compose", good2["id"])}


def test_stack_wide_gate_failure_suggests_from_the_lower_modules_source(site, tmp_path, repos):
    b0 = site.compose_json(base(tmp_path, repos))
    site.compose_json(apache(tmp_path, repos))
    # base-runtime drops libfoo: its own gate passes (nothing in it needs
    # libfoo), but apache's httpd does.
    b1 = site.compose_json(base(tmp_path, repos, packages=("libbar",)))
    r = site.compose(php(tmp_path, repos), check_rc=1)
    assert "libfoo.so.1()(64bit)" in r.stdout, r.stdout
    assert "httpd-2.4.58-1.fc40.x86_64" in r.stdout
    # The suggestion comes from base-runtime's own source.
    assert ("hint: `libfoo-1.0-1.fc40.x86_64` from base-runtime:f40/source would close the gap; "
            "add it to the manifest of base-runtime:f40") in r.stderr, r.stderr
    [failed] = site.list("php:8.2")
    assert failed["state"] == "failed"
    # Listings are summaries, without inputs; the record has them.
    assert compose_ids(site.show(failed["id"]))["base-runtime:f40"] == ("stack_compose", b1["id"])
    assert not (site.out / "latest-php-8.2").exists()
    # Pinning base-runtime to the compose that still had libfoo closes it,
    # on the command line or in the definition.
    p = site.compose_json(php(tmp_path, repos), "--with-compose", b0["id"])
    assert compose_ids(p)["base-runtime:f40"] == ("stack_compose", b0["id"])
    assert tree(site, p["id"])["requires"][0]["requires"][0]["compose_id"] == b0["id"]
    p2 = site.compose_json(php(tmp_path, repos, compose_pins={"base-runtime": b0["id"]}))
    assert compose_ids(p2)["base-runtime:f40"] == ("stack_compose", b0["id"])


def test_bad_pins_and_conflicting_streams_are_clear_errors(site, tmp_path, repos):
    b = site.compose_json(base(tmp_path, repos))
    failed = site.compose_json(base(tmp_path, repos, packages=("libfoo", "libbroken")), rc=1)
    a = site.compose_json(apache(tmp_path, repos))
    r = site.compose(php(tmp_path, repos), "--with-compose", failed["id"], check_rc=2)
    assert failed["id"] in r.stderr and "only a finished compose can be used" in r.stderr
    r = site.compose(php(tmp_path, repos), "--with-compose", "nope-1-20260101.n.0", check_rc=2)
    assert "nope-1-20260101.n.0" in r.stderr and "no such compose" in r.stderr
    # A pin for a module the stack does not have.
    site.compose_json(base(tmp_path, repos, stream="f39", file="base39.yaml"))
    other = site.list("base-runtime:f39")[0]["id"]
    r = site.compose(apache(tmp_path, repos, requires={"platform": "f40"}), "--with-compose",
                     other, check_rc=2)
    assert "does not require base-runtime" in r.stderr, r.stderr
    # The definition's compose_pins must name a compose of the required stream.
    r = site.compose(php(tmp_path, repos, compose_pins={"apache": b["id"]}), check_rc=2)
    assert "data.compose_pins.apache" in r.stderr and "not a compose ID of apache:2.4" in r.stderr
    # Two streams of one module in a stack.
    r = site.compose(php(tmp_path, repos, requires={"platform": "f40", "apache": "2.4",
                                                   "base-runtime": "f39"}), check_rc=2)
    assert "two streams of base-runtime" in r.stderr, r.stderr
    assert "base-runtime:f39 (required by php:8.2)" in r.stderr
    assert "base-runtime:f40 (required by apache:2.4)" in r.stderr
    assert site.list("php:8.2") == []
    assert a["state"] == "finished"


def test_dnf_stack_installs_a_real_stack_compose_and_refuses_a_mismatch(site, tmp_path, repos):
    """The plugin against Strata's own composes (tests/test_dnf_stack.py
    covers it in depth on hand-made repos)."""
    import dnfkit
    merged(site)
    b = site.compose_json(base(tmp_path, repos))
    a = site.compose_json(apache(tmp_path, repos))
    p = site.compose_json(php(tmp_path, repos))
    stack_repo = Path(p["outputs"]["path"]) / "compose" / "PhpStack" / "x86_64" / "os"
    enabled = {"stack": stack_repo, "platform": repos["platform"]}
    root, work = tmp_path / "root", tmp_path / "dnf"

    dnf_stack_installs(enabled, root, work, b, a, p)
    r = dnfkit.dnf(enabled, root, work, ["module", "list", "--enabled"])
    assert {"php", "apache", "base-runtime"} <= {
        line.split()[0] for line in r.stdout.splitlines() if line.split()}, r.stdout

    # A newer apache compose, its repository enabled beside the stack's: dnf
    # would use it, and it is not what the stack was checked against.
    # (An hour later, so that its modulemd version is higher.)
    a2 = site.compose_json(apache(tmp_path, repos),
                           env={"SOURCE_DATE_EPOCH": str(int(time.time()) + 3600)})
    newer = {**enabled, "apache": Path(a2["outputs"]["repos"]["x86_64"])}
    root2 = tmp_path / "root2"
    r = dnfkit.dnf(newer, root2, work, ["stack", "install", "php:8.2"])
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "apache:2.4" in out and a["id"] in out and a2["id"] in out, out
    assert "Traceback" not in out
    assert not (root2 / "var/lib/rpm").exists() or "php" not in ck.rpm_qa(root2, work)


def test_stacks_from_python(site, tmp_path, repos):
    import strata
    b0 = strata.compose_module(base(tmp_path, repos), site.out, config=site.config,
                               cache_dir=site.cache)["record"]
    strata.compose_module(base(tmp_path, repos), site.out, config=site.config,
                          cache_dir=site.cache)
    a = strata.compose_module(apache(tmp_path, repos), site.out, config=site.config,
                              cache_dir=site.cache, with_composes=[b0["id"]])["record"]
    assert compose_ids(a) == {"base-runtime:f40": ("compose", b0["id"])}
    t = strata.stack_tree("apache:2.4", config=site.config)
    assert t == tree(site, "apache:2.4")
    assert (t["compose_id"], t["requires"][0]["compose_id"]) == (a["id"], b0["id"])
    with pytest.raises(strata.RegistryError, match="php:8.2 has no good compose"):
        strata.stack_tree("php:8.2", config=site.config)
    with pytest.raises(strata.ComposeError, match="no such compose"):
        strata.compose_module(php(tmp_path, repos), site.out, config=site.config,
                              with_composes=["apache-2.4-20200101.n.7"])


def test_the_gate_does_not_count_on_platform_packages_dnf_hides(site, tmp_path, repos):
    """libdnf hides every non-modular package named like, or providing the
    name of, a binary package of an active module stream. compat-foo (on
    the platform) provides `libfoo`, a base-runtime package: with the stack
    enabled dnf does not see it, so it cannot close httpd-compat's gap."""
    site.compose_json(base(tmp_path, repos))
    r = site.compose(apache(tmp_path, repos, packages=("httpd", "httpd-tools", "httpd-compat")),
                     check_rc=1)
    assert "httpd-compat-2.4.58-1.fc40.x86_64" in r.stdout
    assert "libcompat.so.1()(64bit)" in r.stdout, r.stdout
    # dnf agrees: with base-runtime's stream active, nothing provides it.
    merged(site)
    a = site.compose_json(apache(tmp_path, repos))
    stack_repo = Path(a["outputs"]["path"]) / "compose" / "ApacheStack" / "x86_64" / "os"
    query = ["repoquery", "-q", "--whatprovides", "libcompat.so.1()(64bit)"]
    root, work = tmp_path / "root", tmp_path / "dnf"
    r = ck.dnf_install({"platform": repos["platform"]}, root, work, query)
    assert r.stdout.split() == ["compat-foo-0:0.9-1.fc40.x86_64"], r.stdout + r.stderr
    r = ck.dnf_install({"stack": stack_repo, "platform": repos["platform"]}, root, work,
                       ["module", "enable", "apache:2.4"])
    assert r.returncode == 0, r.stderr
    r = ck.dnf_install({"stack": stack_repo, "platform": repos["platform"]}, root, work, query)
    assert r.returncode == 0 and r.stdout.split() == [], r.stdout + r.stderr


def test_a_stack_is_a_repo_file_of_its_modules_repositories_and_installs_the_same(
        site, strata_bin, tmp_path, repos):
    """By default a stack compose copies nothing of its layers: it writes
    `PhpStack.repo`, one section for each module's own repository, and
    real dnf installs from it exactly what it installs from the merged
    whole-stack repository (each layer's own modules.yaml suffices: dnf
    merges module metadata across repositories)."""
    import productmd.compose
    b, a, p = (site.compose_json(d(tmp_path, repos)) for d in (base, apache, php))
    out = Path(p["outputs"]["path"])
    assert not (out / "compose" / "PhpStack").exists()
    work = tmp_path / "dnf-repo-file"
    repo_file = with_repo_file(work, p)
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(repo_file.read_text())
    assert ini.sections() == [b["id"], a["id"], p["id"]]
    for rec, nsv in ((b, "base-runtime:f40"), (a, "apache:2.4"), (p, "php:8.2")):
        own = ck.repo_dir(rec, "x86_64")
        assert ini[rec["id"]]["baseurl"] == own.parent.parent.as_uri() + "/$basearch/os/"
        assert ini[rec["id"]]["name"] == f"{nsv} (Strata compose {rec['id']})"
    shown = site.run("composes", "show", p["id"], "--config", site.config, check_rc=0).stdout
    assert f"{repo_file} (the stack, one repository a module)" in shown
    assert "(the whole stack)" not in shown

    # productmd: the module's own variant and packages; the layers named.
    c = productmd.compose.Compose(out)
    assert sorted(c.info.variants.variants) == ["Php"]
    assert sorted(c.rpms.rpms) == ["Php"]
    assert sorted(n for srpm in c.rpms.rpms["Php"]["x86_64"].values() for n in srpm) == sorted(
        p["packages"]["x86_64"])
    layers = json.loads((out / "compose" / "metadata" / "rpms.json").read_text())["payload"]["layers"]
    assert layers == [{"compose_id": b["id"], "module": "base-runtime:f40", "path": b["outputs"]["path"]},
                      {"compose_id": a["id"], "module": "apache:2.4", "path": a["outputs"]["path"]}]

    r = ck.dnf_install({"platform": repos["platform"]}, tmp_path / "root", work,
                       ["module", "install", "php:8.2/default"])
    assert r.returncode == 0, r.stdout + r.stderr
    from_repo_file = ck.rpm_qa(tmp_path / "root", work)
    r = ck.dnf_install({"platform": repos["platform"]}, tmp_path / "root", work,
                       ["module", "list", "--enabled"])
    enabled = {line.split()[0] for line in r.stdout.splitlines()
               if line.split() and line.split()[0] in ("php", "apache", "base-runtime")}

    # The same definitions composed with a whole-stack repository.
    m = merged(ck.Site(strata_bin, tmp_path / "merged-site", platforms={"f40": [repos["platform"]]}))
    for d in (base, apache):
        m.compose_json(d(tmp_path, repos))
    mp = m.compose_json(php(tmp_path, repos))
    stack_repo = Path(mp["outputs"]["path"]) / "compose" / "PhpStack" / "x86_64" / "os"
    mwork = tmp_path / "dnf-merged"
    r = ck.dnf_install({"stack": stack_repo, "platform": repos["platform"]}, tmp_path / "mroot", mwork,
                       ["module", "install", "php:8.2/default"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert from_repo_file == ck.rpm_qa(tmp_path / "mroot", mwork) == STACK_RPMS
    r = ck.dnf_install({"stack": stack_repo, "platform": repos["platform"]}, tmp_path / "mroot", mwork,
                       ["module", "list", "--enabled"])
    assert enabled == {line.split()[0] for line in r.stdout.splitlines()
                       if line.split() and line.split()[0] in ("php", "apache", "base-runtime")} == {
        "php", "apache", "base-runtime"}, r.stdout


def test_dnf_stack_works_from_the_repo_file(site, tmp_path, repos):
    b, a, p = (site.compose_json(d(tmp_path, repos)) for d in (base, apache, php))
    work, root = tmp_path / "dnf", tmp_path / "root"
    with_repo_file(work, p)
    dnf_stack_installs({"platform": repos["platform"]}, root, work, b, a, p)


def test_a_damaged_or_removed_layer_fails_the_stack_compose_naming_it(site, tmp_path, repos):
    """The `.repo` file must not send clients to a layer repository that is
    no longer what was published; the cache (keyed by repomd.xml) would
    not notice a damaged file."""
    site.compose_json(base(tmp_path, repos))
    a = site.compose_json(apache(tmp_path, repos))
    site.compose_json(php(tmp_path, repos))  # warms the cache with apache's repository
    repodata = ck.repo_dir(a, "x86_64") / "repodata"
    [primary] = repodata.glob("*-primary.xml*")
    data = bytearray(primary.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, another checksum
    primary.write_bytes(bytes(data))
    r = site.compose(php(tmp_path, repos), check_rc=2)
    assert "php:8.2: the published x86_64 repository of apache:2.4" in r.stderr, r.stderr
    assert f"(compose {a['id']}) is missing or damaged" in r.stderr
    assert primary.name in r.stderr and "checksum" in r.stderr, r.stderr
    assert len(site.list("php:8.2")) == 1  # nothing recorded, nothing published

    shutil.rmtree(a["outputs"]["path"])
    r = site.compose(php(tmp_path, repos), check_rc=2)
    assert f"apache:2.4 (compose {a['id']}) is missing or damaged" in r.stderr, r.stderr
    assert len(site.list("php:8.2")) == 1


def test_repo_base_url_serves_the_stack_over_http(site, tmp_path, repos):
    """With `out` served over HTTP, the `.repo` file names each repository
    under `[compose] repo_base_url`; real dnf installs the stack from it."""
    with ck.HTTPServer(root=site.out) as server:
        text = site.config.read_text()
        site.config.write_text(text.replace("[compose]\n", f'[compose]\nrepo_base_url = "{server.url}/"\n', 1))
        b, a, p = (site.compose_json(d(tmp_path, repos)) for d in (base, apache, php))
        work, root = tmp_path / "dnf", tmp_path / "root"
        ini = configparser.ConfigParser(interpolation=None)
        ini.read_string(with_repo_file(work, p).read_text())
        assert [ini[s]["baseurl"] for s in ini.sections()] == [
            f"{server.url}/{b['id']}/compose/BaseRuntime/$basearch/os/",
            f"{server.url}/{a['id']}/compose/Apache/$basearch/os/",
            f"{server.url}/{p['id']}/compose/Php/$basearch/os/"]
        r = ck.dnf_install({"platform": repos["platform"]}, root, work, ["module", "install", "php:8.2/default"])
        assert r.returncode == 0, r.stdout + r.stderr
        assert ck.rpm_qa(root, work) == STACK_RPMS

    # A layer published outside the served folder has no URL there.
    other = ck.Site(site.bin, tmp_path / "other", platforms={"f40": [repos["platform"]]})
    other.config.write_text(other.config.read_text().replace(
        f'path = "{other.registry}"', f'path = "{site.registry}"'))
    b2 = other.compose_json(base(tmp_path, repos))
    r = site.compose(apache(tmp_path, repos), check_rc=2)
    assert f"apache:2.4: base-runtime:f40 (compose {b2['id']}) is published at" in r.stderr, r.stderr
    assert "outside" in r.stderr and "repo_base_url" in r.stderr
