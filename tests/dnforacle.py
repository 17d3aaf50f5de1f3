"""Run the real `dnf repoclosure` (dnf-plugins-core) as the oracle, and
parse its output.

Debian's dnf runs under /usr/bin/python3; every run gets its own config
(own reposdir, a fresh cachedir) so nothing leaks between tests and no
stale metadata of a regenerated file:// repo is reused.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

DNF = ["/usr/bin/python3", "-m", "dnf"] if not os.path.exists("/usr/bin/dnf") else ["/usr/bin/dnf"]

_PKG_RE = re.compile(r"^package: (\S+) from (\S+)$")
_COUNT_RE = re.compile(r"^  unresolved deps \((\d+)\):$")
_DEP_RE = re.compile(r"^    (.+)$")
SUMMARY_RE = re.compile(
    r"Error: Repoclosure ended with unresolved dependencies \((\d+)\) across (\d+) packages\.")


def _url(loc: str | Path) -> str:
    s = str(loc)
    if "://" in s:
        return s
    return "file://" + os.path.abspath(s)


def _write_conf(workdir: Path, repos: Mapping[str, str | Path], best: bool = False) -> Path:
    for d in ("reposd", "cache", "persist", "log"):
        (workdir / d).mkdir(parents=True, exist_ok=True)
    conf = workdir / "dnf.conf"
    lines = [
        "[main]",
        "gpgcheck=0",
        f"reposdir={workdir / 'reposd'}",
        f"cachedir={workdir / 'cache'}",
        f"persistdir={workdir / 'persist'}",
        f"logdir={workdir / 'log'}",
        "module_platform_id=platform:f40",
        "install_weak_deps=0",
        f"best={'1' if best else '0'}",
        "metadata_expire=0",
        "",
    ]
    for rid, loc in repos.items():
        if rid == "main":
            raise ValueError("repo id 'main' collides with dnf.conf's [main] section")
        lines += [f"[{rid}]", f"name={rid}", f"baseurl={_url(loc)}", "enabled=1", ""]
    conf.write_text("\n".join(lines))
    return conf


def _env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    env["LC_ALL"] = "C.UTF-8"
    return env


def run_dnf(repos: Mapping[str, str | Path], args: Iterable[str] = (),
            check: Iterable[str] | None = None, arches: Iterable[str] | None = None,
            newest: bool = False, forcearch: str | None = None, best: bool = False,
            workdir: str | Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `dnf repoclosure` over the given {id: path-or-url} repos."""
    own_tmp = None
    if workdir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="dnf-oracle-")
        workdir = own_tmp.name
    workdir = Path(workdir)
    try:
        conf = _write_conf(workdir, repos, best)
        cmd = DNF + ["-q", "-c", str(conf), "--disableplugin=local",
                     "--setopt=module_platform_id=platform:f40", "--releasever=40"]
        if forcearch:
            cmd.append(f"--forcearch={forcearch}")
        cmd.append("repoclosure")
        for rid in repos:
            cmd += ["--repo", rid]
        for rid in check or ():
            cmd += ["--check", rid]
        for a in arches or ():
            cmd += ["--arch", a]
        if newest:
            cmd.append("--newest")
        cmd += list(args)
        return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout)
    finally:
        if own_tmp is not None:
            own_tmp.cleanup()


_SECTION_RE = re.compile(r"^  (\S.*) \((\d+)[^()]*\):$")


def parse_repoclosure(stdout: str, other_sections: bool = False) -> list[tuple[str, str, list[str]]]:
    """Parse repoclosure stdout into [(nevra, repo, [deps])] in output order.

    Strict: any other line, or a block whose declared count differs from its
    number of dependency lines, raises ValueError. With other_sections, blocks
    may carry further `  title (N ...):` sections (strata --installable); their
    lines are skipped and blocks without unresolved deps are dropped.
    """
    out: list[tuple[str, str, list[str]]] = []
    counts: list[int | None] = []
    skipping = False
    for line in stdout.splitlines():
        m = _PKG_RE.match(line)
        if m:
            out.append((m.group(1), m.group(2), []))
            counts.append(None)
            skipping = False
            continue
        m = _COUNT_RE.match(line)
        if m and out and counts[-1] is None and not out[-1][2]:
            counts[-1] = int(m.group(1))
            skipping = False
            continue
        if other_sections and out:
            if _SECTION_RE.match(line):
                skipping = True
                continue
            if skipping and line.startswith("    "):
                continue
        m = _DEP_RE.match(line)
        if m and out and counts[-1] is not None and not skipping:
            out[-1][2].append(m.group(1))
            continue
        raise ValueError(f"unexpected repoclosure output line: {line!r}")
    for (nevra, _repo, deps), n in zip(out, counts):
        if n is not None and n != len(deps):
            raise ValueError(f"{nevra}: declared {n} unresolved deps, listed {len(deps)}")
        if n is None and not other_sections:
            raise ValueError(f"{nevra}: no unresolved deps section")
    return [b for b in out if b[2]] if other_sections else out


def pairs(parsed: list[tuple[str, str, list[str]]]) -> set[tuple[str, str]]:
    return {(nevra, dep) for nevra, _repo, deps in parsed for dep in deps}


def triples(parsed: list[tuple[str, str, list[str]]]) -> set[tuple[str, str, str]]:
    return {(nevra, repo, dep) for nevra, repo, deps in parsed for dep in deps}


# ---------------------------------------------------------------------------
# Installability oracle: one libsolv job per checked package through libdnf's
# hawkey.Goal (same sack dnf builds: host arch, all enabled repos, nothing
# installed). Prints JSON {"NEVRA from REPO": [problem, ...]} for the packages
# that cannot be installed.

_INSTALLCHECK = r"""
import json, sys
import dnf, hawkey
conf, check = sys.argv[1], json.loads(sys.argv[2])
base = dnf.Base()
base.conf.read(conf)
base.conf.releasever = "40"
base.conf.module_platform_id = "platform:f40"
base.read_all_repos()
base.fill_sack(load_system_repo=False)
q = base.sack.query().available()
if check:
    q = q.filter(reponame=check)
out = {}
for pkg in q:
    goal = hawkey.Goal(base.sack)
    goal.install(pkg)
    if not goal.run(ignore_weak_deps=True):
        probs = []
        for rules in goal.problem_rules():
            probs.extend(rules)
        out["%s from %s" % (pkg, pkg.reponame)] = probs
print(json.dumps(out))
"""


def run_installcheck(repos: Mapping[str, str | Path], check: Iterable[str] | None = None,
                     timeout: float = 600) -> dict[tuple[str, str], list[str]]:
    """{(nevra, repo): [problem strings]} for every uninstallable checked package."""
    import json
    with tempfile.TemporaryDirectory(prefix="dnf-installcheck-") as tmp:
        conf = _write_conf(Path(tmp), repos)
        r = subprocess.run(["/usr/bin/python3", "-c", _INSTALLCHECK, str(conf),
                            json.dumps(list(check or []))],
                           capture_output=True, text=True, env=_env(), timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"installcheck oracle failed: {r.stderr}")
        raw = json.loads(r.stdout.strip().splitlines()[-1])
    out = {}
    for k, v in raw.items():
        nevra, repo = k.split(" from ")
        out[(nevra, repo)] = v
    return out
