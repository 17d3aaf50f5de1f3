"""strata.spec, built as Fedora builds it: packaging/build-rpms makes the
source tarball (`git archive`) and the vendored crates' tarball (`cargo
vendor`), then runs the REAL rpmbuild with no network. The built RPMs are
installed with the REAL dnf into an installroot, beside stub packages named
as Fedora names the hosts (koji, koji-hub, python3-dnf, pungi...), so dnf
resolves every Requires; then the hosts' own loaders find the plugins: the
REAL `koji` CLI (PyPI koji) lists `module-build`, the REAL dnf (Debian's)
runs `dnf stack`, koji.plugin.PluginTracker loads the hub and builder
plugins from the installed folders, and the installed `strata-pungi-koji`
runs the installed phase.

One build per session (minutes: the whole workspace and the extension,
compiled in the rpm build tree). STRATA_RPM_TOPDIR names a topdir that
`packaging/build-rpms --topdir DIR` already built from this tree, to check
it again without building.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import composekit as ck
import dnforacle
import rpmfactory

ROOT = Path(__file__).resolve().parent.parent
BUILD_RPMS = ROOT / "packaging" / "build-rpms"

pytestmark = pytest.mark.slow

SUBPACKAGES = {"strata", "python3-strata", "koji-hub-plugin-strata", "koji-builder-plugin-strata",
               "koji-cli-plugin-strata", "python3-dnf-plugin-strata", "pungi-strata"}
# What Fedora's packages of the hosts are called (koji.spec, dnf.spec,
# pungi.spec): the Requires must name these for dnf to resolve them there.
HOSTS = ["koji", "koji-hub", "python3-koji-hub", "koji-builder", "python3-koji-cli-plugins",
         "python3-dnf", "pungi", "python3-productmd", "python3-jsonschema"]


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([str(a) for a in argv], **kw)


def rpm_q(path: Path, qf: str) -> list[str]:
    r = run(["rpm", "-qp", "--qf", qf, path])
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """rpmbuild's topdir with SOURCES, RPMS and SRPMS of this tree."""
    given = os.environ.get("STRATA_RPM_TOPDIR")
    if given:
        topdir = Path(given)
    else:
        topdir = tmp_path_factory.mktemp("rpmbuild")
        log = topdir.parent / "build-rpms.log"
        with log.open("w") as out:
            r = subprocess.run(["bash", str(BUILD_RPMS), "--topdir", str(topdir)],
                               stdout=subprocess.DEVNULL, stderr=out, timeout=3600)
        if r.returncode != 0:
            pytest.fail(f"packaging/build-rpms failed ({r.returncode}); its log, {log}, ends:\n"
                        + "\n".join(log.read_text().splitlines()[-60:]), pytrace=False)
    assert sorted(topdir.glob("RPMS/*/*.rpm")), f"no RPMs under {topdir}/RPMS"
    return topdir


@pytest.fixture(scope="session")
def rpms(built) -> dict[str, Path]:
    return {rpm_q(p, "%{NAME}")[0]: p for p in built.glob("RPMS/*/*.rpm")}


def test_every_subpackage_is_built_with_a_source_rpm(built, rpms):
    assert set(rpms) == SUBPACKAGES
    [srpm] = built.glob("SRPMS/*.src.rpm")
    assert rpm_q(srpm, "%{NAME}-%{VERSION}")[0] == "strata-0.1.0"
    # The vendored crates travel in the source RPM, never in git.
    assert "strata-0.1.0-vendor.tar.gz" in run(["rpm", "-qpl", srpm]).stdout.split()
    assert run(["git", "-C", ROOT, "ls-files", "vendor"]).stdout == ""


def files_of(rpm: Path) -> dict[str, str]:
    """{installed path: rpm's file flags (c config, n noreplace, d doc...)}"""
    out = {}
    for line in rpm_q(rpm, "[%{FILEFLAGS:fflags} %{FILENAMES}\n]"):
        flags, _, path = line.partition(" ")
        out[path] = flags
    return out


def test_files_are_where_the_hosts_look_and_configs_are_noreplace(rpms):
    sitelib = "/usr/lib/python3.11/site-packages"
    sitearch = "/usr/lib64/python3.11/site-packages"
    where = {
        "strata": ["/usr/bin/strata"],
        "python3-strata": [f"{sitearch}/strata/__init__.py", f"{sitearch}/strata/_strata.abi3.so",
                           f"{sitearch}/strata-0.1.0.dist-info/METADATA"],
        "koji-hub-plugin-strata": ["/usr/lib/koji-hub-plugins/strata_hub.py"],
        "koji-builder-plugin-strata": ["/usr/lib/koji-builder-plugins/strata_builder.py"],
        "koji-cli-plugin-strata": [f"{sitelib}/koji_cli_plugins/strata_cli.py"],
        "python3-dnf-plugin-strata": [f"{sitelib}/dnf-plugins/stack.py"],
        "pungi-strata": ["/usr/bin/strata-pungi-koji", f"{sitelib}/pungi_phase/strata_phase.py"],
    }
    configs = {
        "koji-hub-plugin-strata": "/etc/koji-hub/plugins/strata_hub.conf",
        "koji-builder-plugin-strata": "/etc/kojid/plugins/strata_builder.conf",
    }
    for name, paths in where.items():
        files = files_of(rpms[name])
        for p in paths:
            assert p in files, f"{name} lacks {p}: {sorted(files)}"
        conf = configs.get(name)
        got = sorted(p for p, f in files.items() if "c" in f)
        assert got == ([conf] if conf else []), name
        if conf:
            assert "n" in files[conf], f"{conf} is not %config(noreplace)"
    # As %pyproject_install: rpm owns the files, so no pip RECORD.
    info = [p for p in files_of(rpms["python3-strata"]) if ".dist-info/" in p]
    for gone in ("RECORD", "REQUESTED", "direct_url.json"):
        assert not any(p.endswith("/" + gone) for p in info), gone


def payload(rpm: Path) -> tarfile.TarFile:
    """The RPM's files as a tar archive (rpm2archive; no cpio here)."""
    r = subprocess.run(["rpm2archive", "-"], stdin=rpm.open("rb"), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return tarfile.open(fileobj=io.BytesIO(r.stdout), mode="r:gz")


def spdx_terms(expr: str) -> set[frozenset[str]]:
    """An SPDX expression as its AND-ed terms, each a set of OR-ed choices
    (the expressions here: parentheses only around OR lists)."""
    terms, depth, cur = [], 0, ""
    for tok in re.findall(r"\(|\)|[^\s()]+", expr):
        depth += tok == "("
        depth -= tok == ")"
        if tok == "AND" and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += " " + tok
    terms.append(cur)
    return {frozenset(c.strip() for c in t.replace("(", " ").replace(")", " ").split(" OR "))
            for t in terms if t.strip()}


def test_license_covers_every_linked_crate(rpms):
    """License: lists every expression %cargo_license reports (shipped as
    LICENSE.dependencies): a new crate with a new license fails here."""
    license_terms = spdx_terms(rpm_q(rpms["strata"], "%{LICENSE}")[0])
    with payload(rpms["strata"]) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/LICENSE.dependencies"))
        text = tar.extractfile(member).read().decode()
    seen = set()
    for line in text.splitlines():
        expr, _, crate = line.partition(": ")
        assert crate, f"LICENSE.dependencies: no crate on {line!r}"
        for term in spdx_terms(expr):
            assert term in license_terms, f"{crate}: {expr} is not in strata.spec's License"
        seen.add(crate.split()[0])
    assert {"strata-cli", "strata-python", "quick-xml"} <= seen


def test_bundled_c_libraries_are_declared_with_the_vendored_versions(built, rpms):
    """Provides: bundled(...) names the C sources the vendored crates compile
    in, at their versions: a `cargo update` that moves one fails here."""
    found = {}
    with tarfile.open(built / "SOURCES/strata-0.1.0-vendor.tar.gz") as tar:
        for m in tar:
            crate = re.fullmatch(r"vendor/(zstd-sys|bzip2-sys)-[^/+]+\+(?:zstd\.)?([0-9.]+)", m.name)
            if crate:
                found[{"zstd-sys": "zstd", "bzip2-sys": "bzip2"}[crate[1]]] = crate[2]
            if re.fullmatch(r"vendor/libsqlite3-sys-[^/]+/sqlite3/sqlite3\.h", m.name):
                header = tar.extractfile(m).read().decode()
                found["sqlite"] = re.search(r'#define SQLITE_VERSION\s+"([^"]+)"', header)[1]
    assert set(found) == {"zstd", "bzip2", "sqlite"}, found
    for name in ("strata", "python3-strata"):
        bundled = {m[1]: m[2] for m in map(lambda p: re.fullmatch(r"bundled\((.+)\) = (.+)", p),
                                          rpm_q(rpms[name], "[%{PROVIDENEVRS}\n]")) if m}
        assert bundled == found, name


def host_stubs(rpms: dict[str, Path]) -> list[dict]:
    """Empty packages that stand for the hosts and the system: each host by
    its Fedora name; python3 with the python(abi) and interpreter our RPMs
    ask for; one package with the shared libraries rpm found the binaries
    linked against (glibc, libsolv, xz-libs, libgcc on Fedora)."""
    wanted = set()
    for p in rpms.values():
        wanted.update(r for r in rpm_q(p, "[%{REQUIRENEVRS}\n]") if not r.startswith("rpmlib("))
    pyabi = sorted(r for r in wanted if r.startswith("python(abi)"))
    libs = sorted(r for r in wanted if ".so" in r or r.startswith("rtld("))
    assert pyabi and libs, sorted(wanted)
    # Version 99: newer than any minimum the spec asks for.
    return ([{"name": h, "version": "99"} for h in HOSTS]
            + [{"name": "python3", "provides": pyabi, "files": ["/usr/bin/python3"]},
               {"name": "system-libraries", "arch": "x86_64", "provides": libs}])


@pytest.fixture(scope="session")
def installed(rpms, tmp_path_factory):
    """(installroot, work dir): every subpackage installed by dnf from a
    repository of the built RPMs, the hosts from a repository of stubs."""
    base = tmp_path_factory.mktemp("installroot")
    ours = base / "strata-repo"
    ours.mkdir()
    for p in rpms.values():
        shutil.copy(p, ours)
    rpmfactory.createrepo(ours)
    hosts = rpmfactory.make_repo(base / "hosts-repo", host_stubs(rpms))
    root, work = base / "root", base / "work"
    r = ck.dnf_install({"strata": ours, "hosts": hosts}, root, work, ["install", *sorted(rpms)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert SUBPACKAGES <= ck.rpm_qa(root, work)
    return root, work


def sitelib(root: Path) -> Path:
    return root / "usr/lib/python3.11/site-packages"


def sitearch(root: Path) -> Path:
    return root / "usr/lib64/python3.11/site-packages"


def test_dnf_installs_them_and_rpm_knows_the_config_files(installed):
    root, work = installed
    env = dnforacle._env()
    env["HOME"] = str(work / "home")
    r = run(["rpm", "--root", root, "-qc", "koji-hub-plugin-strata", "koji-builder-plugin-strata"],
            env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["/etc/koji-hub/plugins/strata_hub.conf",
                                "/etc/kojid/plugins/strata_builder.conf"]
    for conf in r.stdout.split():
        assert (root / conf.lstrip("/")).is_file()
    r = run([root / "usr/bin/strata", "--version"])
    assert r.returncode == 0 and "0.1.0" in r.stdout, r.stdout + r.stderr


def test_koji_cli_finds_module_build(installed, tmp_path):
    """The real koji CLI, told to look in the installroot's
    koji_cli_plugins (where `koji` looks under its sys.prefix)."""
    root, _ = installed
    koji = shutil.which("koji")
    assert koji, "the koji CLI is not installed (python3 -m pip install koji)"
    conf = tmp_path / "koji.conf"
    conf.write_text("[koji]\nserver = http://127.0.0.1:9/kojihub\nweburl = http://127.0.0.1:9/koji\n"
                    "topurl = http://127.0.0.1:9/kojifiles\n")
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=str(sitearch(root)))
    argv = [koji, f"--config={conf}", f"--plugin-paths={sitelib(root) / 'koji_cli_plugins'}"]
    r = run([*argv, "help"], env=env)
    assert r.returncode == 0, r.stderr
    for cmd in ("module-build", "module-compose-info", "list-module-composes",
                "latest-module-compose"):
        assert re.search(rf"^\s+{cmd}\s", r.stdout, re.M), (cmd, r.stdout)
    r = run([*argv, "module-build", "--help"], env=env)
    assert r.returncode == 0 and "Usage: koji module-build" in r.stdout, r.stdout + r.stderr


def test_dnf_finds_stack(installed):
    """The real dnf, with the installroot's dnf-plugins as its plugin path
    and the installed strata package importable."""
    root, work = installed
    env = {"PYTHONPATH": str(sitearch(root))}
    pdir = sitelib(root) / "dnf-plugins"
    r = ck.dnf_install({}, root, work, [f"--setopt=pluginpath={pdir}", "stack", "list"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No Strata stacks in the enabled repositories." in r.stdout + r.stderr
    # The same dnf without the plugin has no such command.
    r = ck.dnf_install({}, root, work, ["--setopt=pluginpath=/nonexistent", "stack", "list"], env=env)
    assert r.returncode != 0 and "No such command: stack" in r.stdout + r.stderr


LOAD_HUB = """
import sys
import koji.plugin
import kojihub_module_standin as khs
khs.install(khs.FakeHub())
plugin, exports = khs.load_plugin("strata_hub", sys.argv[1])
print(plugin.__file__)
print(plugin.CONFIG_FILE)
print(" ".join(sorted(exports)))
print(" ".join(f.__name__ for f in koji.plugin.callbacks["postTag"]
               + koji.plugin.callbacks["postRepoDone"]))
"""

LOAD_BUILDER = """
import sys
import koji.plugin
import koji.tasks
plugin = koji.plugin.PluginTracker(path=[sys.argv[1]]).load("strata_builder")
print(plugin.__file__)
print(plugin.CONFIG_FILE)
# as kojid's TaskManager.registerEntries: handler classes by Methods
print(" ".join(sorted(m for v in vars(plugin).values() if isinstance(v, type)
                      and issubclass(v, koji.tasks.BaseTaskHandler)
                      for m in getattr(v, "Methods", ()))))
"""


def load_in_host(root: Path, script: str, plugindir: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(sitearch(root)), str(ROOT / "tests")]))
    r = run([sys.executable, "-c", script, root / plugindir], env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_koji_hub_loads_the_installed_plugin(installed):
    root, _ = installed
    path, conf, exports, callback = load_in_host(root, LOAD_HUB, "usr/lib/koji-hub-plugins")
    assert Path(path).parent == root / "usr/lib/koji-hub-plugins"
    assert (root / conf.lstrip("/")).is_file(), conf
    assert {"moduleBuild", "getModuleCompose", "listModuleComposes",
            "moduleComposeImport", "artifactBuild", "artifactComposeImport", "moduleImpact",
            "moduleChain", "getModuleChain", "moduleChainApprove", "moduleChainResume",
            "releaseCheck", "releaseCompose"} <= set(exports.split())
    assert callback.split() == ["module_tagged", "chain_on_tag", "chain_on_repo"]


def test_kojid_loads_the_installed_plugin(installed):
    root, _ = installed
    path, conf, methods = load_in_host(root, LOAD_BUILDER, "usr/lib/koji-builder-plugins")
    assert Path(path).parent == root / "usr/lib/koji-builder-plugins"
    assert (root / conf.lstrip("/")).is_file(), conf
    assert methods.split() == ["artifactCompose", "moduleChain", "moduleCompose", "releaseCheck",
                               "releaseCompose"]


def test_strata_pungi_koji_runs_the_installed_phase(installed):
    """Pungi is not installable here: the installed script runs the
    installed phase, which says Pungi is missing (no traceback)."""
    root, _ = installed
    script = root / "usr/bin/strata-pungi-koji"
    shebang = script.read_text().splitlines()[0]
    assert shebang == "#!/usr/bin/python3", shebang
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(sitelib(root)), str(sitearch(root))]))
    r = run(["/usr/bin/python3", script, "--help"], env=env, cwd="/")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "strata-pungi-koji: Pungi is not installed" in r.stderr
    assert "Traceback" not in r.stderr
    r = run(["/usr/bin/python3", "-c", "import pungi_phase, strata; print(pungi_phase.__file__); "
             "print(strata.__file__)"], env=env, cwd="/")
    assert r.stdout.split() == [str(sitelib(root) / "pungi_phase/__init__.py"),
                                str(sitearch(root) / "strata/__init__.py")], r.stdout + r.stderr


def test_a_crate_missing_from_the_vendor_tarball_fails_the_offline_build(built, tmp_path):
    """Nothing is fetched inside the build: without quick-xml in the vendor
    tarball, rpmbuild stops (cargo finds no quick-xml to build)."""
    topdir = tmp_path / "rpmbuild"
    (topdir / "SOURCES").mkdir(parents=True)
    shutil.copy(built / "SOURCES/strata-0.1.0.tar.gz", topdir / "SOURCES")
    dropped = []
    with tarfile.open(built / "SOURCES/strata-0.1.0-vendor.tar.gz") as src, \
            tarfile.open(topdir / "SOURCES/strata-0.1.0-vendor.tar.gz", "w:gz",
                         compresslevel=1) as dst:
        for m in src:
            if m.name.startswith("vendor/quick-xml-"):
                dropped.append(m.name)
                continue
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    assert dropped
    r = run(["bash", BUILD_RPMS, "--topdir", topdir, "--rpms-only"], timeout=1200)
    assert r.returncode != 0, r.stderr[-3000:]
    assert re.search(r"quick-xml|quick_xml", r.stderr), r.stderr[-3000:]
    assert "rpmbuild failed" in r.stderr
    assert not list(topdir.glob("RPMS/*/*.rpm"))
