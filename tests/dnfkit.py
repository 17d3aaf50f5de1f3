"""Fixtures for `dnf stack` tests and its benchmark: modular yum repos of a
three-module stack (base-runtime:f40 <- apache:2.4 <- php:8.2) built from
real RPMs, with modules.yaml documents that follow Strata's contract
(rust/modulemd/src/stack.rs), and a runner for real dnf with the plugin
loaded from the installed wheel.

Layout (`build_layout`): one repo per module compose, a combined "stack
repo" with all three (the php compose is the stack), and optionally an
"apache-next" repo with a newer apache:2.4 compose (higher version,
different compose ID, rebuilt packages) to make a mismatch.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import composekit as ck
import rpmfactory

ARCH = "x86_64"
PKG_ARCH = "noarch"


@dataclass
class Module:
    name: str
    stream: str
    version: int
    context: str
    compose_id: str
    packages: list[dict]
    profiles: dict[str, list[str]]
    default_profile: str = "default"
    requires: list["Module"] = field(default_factory=list)

    @property
    def nsv(self) -> str:
        return f"{self.name}:{self.stream}"

    def below(self) -> list["Module"]:
        """Every module below this one, bottom first (dependency order)."""
        out: list[Module] = []
        for r in self.requires:
            for m in r.below() + [r]:
                if all(o.nsv != m.nsv for o in out):
                    out.append(m)
        return out

    def layer(self) -> dict:
        return {"name": self.name, "stream": self.stream, "compose_id": self.compose_id,
                "version": self.version, "context": self.context,
                "requires": [r.nsv for r in self.requires]}

    def stream_doc(self, xmd_strata: dict | None = None) -> dict:
        """The modulemd v2 document of this compose. `xmd_strata` replaces
        the Strata entry (for malformed cases)."""
        strata = {"compose_id": self.compose_id}
        if self.requires:
            strata["requires"] = [r.nsv for r in self.requires]
            strata["stack"] = [m.layer() for m in self.below()]
        if xmd_strata is not None:
            strata = xmd_strata
        requires = {"platform": ["f40"]}
        for r in self.requires:
            requires[r.name] = [r.stream]
        return {"document": "modulemd", "version": 2, "data": {
            "name": self.name, "stream": self.stream, "version": self.version,
            "context": self.context, "arch": ARCH,
            "summary": f"The {self.name} module", "description": f"{self.name}, for tests.",
            "license": {"module": ["MIT"]},
            "xmd": {"strata": strata} if strata else {},
            "dependencies": [{"requires": requires}],
            "profiles": {p: {"rpms": sorted(rpms)} for p, rpms in self.profiles.items()},
            "artifacts": {"rpms": sorted(artifact(p) for p in self.packages)},
        }}

    def defaults_doc(self) -> dict:
        return {"document": "modulemd-defaults", "version": 1, "data": {
            "module": self.name, "stream": self.stream,
            "profiles": {self.stream: [self.default_profile]}}}


def artifact(p: dict) -> str:
    p = rpmfactory.normalize(p)
    return f"{p['name']}-{p['epoch'] or 0}:{p['version']}-{p['release']}.{p['arch']}"


def pkg(name, version, requires=(), files=()) -> dict:
    return {"name": name, "version": version, "release": "1.fc40", "arch": PKG_ARCH,
            "requires": list(requires), "files": list(files)}


def modules(extra: int = 0, apache_version: str = "2.4.58", apache_build: int = 20261125121500,
            apache_id: str = "apache-2.4-20261125.n.0") -> dict[str, Module]:
    """The three modules. `extra` filler packages per module (a chain
    php-extraN -> httpd-extraN -> base-extraN, all in php's default
    profile) make dnf's own work realistic for the benchmark."""
    base = Module("base-runtime", "f40", 20261125120000, "3fa2c1d0", "base-runtime-f40-20261125.n.1",
                  [pkg("base-libs", "40.1", files=["/usr/lib64/libbase.so.1"]),
                   pkg("base-files", "40.1", files=["/etc/base-release"])]
                  + [pkg(f"base-extra{i}", "40.1") for i in range(extra)],
                  {"default": ["base-files"]})
    apache = Module("apache", "2.4", apache_build, "9b1e77aa", apache_id,
                    [pkg("httpd", apache_version, ["base-libs", f"httpd-tools = {apache_version}"],
                         ["/usr/sbin/httpd"]),
                     pkg("httpd-tools", apache_version),
                     pkg("mod_ssl", apache_version, ["httpd"])]
                    + [pkg(f"httpd-extra{i}", apache_version, [f"base-extra{i}"]) for i in range(extra)],
                    {"default": ["httpd"], "ssl": ["httpd", "mod_ssl"]}, requires=[base])
    php = Module("php", "8.2", 20261125130000, "aa11bb22", "php-8.2-20261125.n.0",
                 [pkg("php", "8.2.12", ["httpd", "php-common"], ["/usr/bin/php"]),
                  pkg("php-common", "8.2.12"),
                  pkg("php-cli", "8.2.12", ["php-common"]),
                  pkg("php-devel", "8.2.12", ["php"])]
                 + [pkg(f"php-extra{i}", "8.2.12", [f"httpd-extra{i}"]) for i in range(extra)],
                 {"default": ["php", "php-cli"] + [f"php-extra{i}" for i in range(extra)],
                  "devel": ["php-devel"]}, requires=[apache])
    return {"base-runtime": base, "apache": apache, "php": php}


# What `dnf stack install php:8.2` (default profile) puts into the root.
PHP_DEFAULT_INSTALL = {"php", "php-cli", "php-common", "httpd", "httpd-tools", "base-libs"}


def write_modular_repo(repodir: Path, mods: list[Module], docs: list[dict] | None = None,
                       rpms_from: dict[str, Path] | None = None) -> Path:
    """A yum repo with the modules' RPMs and a modules.yaml of their stream
    and defaults documents (or of `docs`). RPMs are built once per module
    and hard-linked from `rpms_from[name]` when given."""
    repodir = Path(repodir)
    repodir.mkdir(parents=True, exist_ok=True)
    for m in mods:
        src = (rpms_from or {}).get(m.name)
        if src is None:
            rpmfactory.build_rpms(m.packages, repodir, repodir.parent / f"{repodir.name}.{m.name}.build")
        else:
            for f in Path(src).glob("*.rpm"):
                (repodir / f.name).hardlink_to(f)
    rpmfactory.createrepo(repodir)
    if docs is None:
        docs = [d for m in mods for d in (m.defaults_doc(), m.stream_doc())]
    text = yaml.safe_dump_all(docs, explicit_start=True, explicit_end=True, sort_keys=False)
    my = repodir.parent / f"{repodir.name}.modules.yaml"
    my.write_text(text)
    r = subprocess.run(["modifyrepo_c", "--mdtype=modules", str(my),
                        str(repodir / "repodata")], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"modifyrepo_c failed: {r.stderr}")
    return repodir


def build_layout(root: Path, extra: int = 0, with_next: bool = True) -> dict[str, Path]:
    """Repos: base-runtime, apache, php (one compose each), stack (all three),
    and apache-next (a newer apache:2.4 compose)."""
    root = Path(root)
    mods = modules(extra)
    repos = {}
    for name in ("base-runtime", "apache", "php"):
        repos[name] = write_modular_repo(root / name, [mods[name]])
    repos["stack"] = write_modular_repo(root / "stack", list(mods.values()), rpms_from=repos)
    if with_next:
        nxt = modules(extra, apache_version="2.4.59", apache_build=20261126090000,
                      apache_id="apache-2.4-20261126.n.0")
        repos["apache-next"] = write_modular_repo(root / "apache-next", [nxt["apache"]])
    return repos


def plugin_dir() -> Path:
    """dnf-plugins/ beside the installed `strata` package (from the wheel)."""
    import strata
    d = Path(strata.__file__).resolve().parent.parent / "dnf-plugins"
    assert (d / "stack.py").is_file(), f"the wheel did not install {d}/stack.py"
    return d


def dnf(repos: dict, root: Path, work: Path, args: list[str]) -> subprocess.CompletedProcess:
    """Real dnf (under /usr/bin/python3) into `root` with only our plugin,
    loaded from the installed wheel, and `strata` importable."""
    pdir = plugin_dir()
    return ck.dnf_install(repos, root, work, [f"--setopt=pluginpath={pdir}", *args],
                          env={"PYTHONPATH": str(pdir.parent)})


def record_path(root: Path, nsv: str) -> Path:
    return Path(root) / "var/lib/dnf/strata-stacks" / f"{nsv}.json"
