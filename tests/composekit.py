"""Helpers for compose tests: definitions, configuration, running
`strata compose module`, and reading the results with the real tools
(libmodulemd through /usr/bin/python3, productmd, dnf, rpm)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path

import yaml

import dnforacle

SYSTEM_PYTHON = "/usr/bin/python3"


def definition(name="apache", stream="2.4", packages=("httpd",), repos=(), requires=None,
               pins=None, profiles=None, api=None, arches=("x86_64",), reasons=True,
               **extra) -> dict:
    data = {
        "name": name,
        "stream": stream,
        "summary": f"The {name} module",
        "description": f"The {name} module, composed by tests.",
        "license": ["MIT"],
        "arches": list(arches),
        "source": {"repos": [str(r) for r in repos]},
        "packages": {p: ({"reason": f"{p} is needed"} if reasons else {}) for p in packages},
    }
    if requires:
        data["requires"] = dict(requires)
    if pins:
        data["pins"] = dict(pins)
    if profiles:
        data["profiles"] = {k: list(v) for k, v in profiles.items()}
    if api:
        data["api"] = list(api)
    data.update(extra)
    return {"document": "strata-module", "version": 1, "data": data}


def write_definition(path: Path, doc: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def write_config(path: Path, platforms: dict[str, list] | None = None, registry: Path | None = None,
                 out: Path | None = None) -> Path:
    lines = []
    if registry:
        lines += ["[registry]", f'path = "{registry}"']
    if out:
        lines += ["[compose]", f'out = "{out}"']
    for p, repos in (platforms or {}).items():
        lines += [f"[platform.{p}]", "repos = [" + ", ".join(f'"{r}"' for r in repos) + "]"]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


class Site:
    """One registry, one output tree, one configuration, one cache."""

    def __init__(self, strata_bin: Path, root: Path, platforms=None):
        self.bin = strata_bin
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.out = self.root / "composes"
        self.registry = self.root / "registry.sqlite"
        self.cache = self.root / "cache"
        self.config = write_config(self.root / "strata.toml", platforms, self.registry, self.out)

    def run(self, *args, env=None, timeout=600, check_rc=None) -> subprocess.CompletedProcess:
        e = dict(os.environ)
        e.pop("STRATA_CONFIG", None)
        if env:
            e.update(env)
        r = subprocess.run([str(self.bin), *map(str, args)], capture_output=True, text=True,
                           env=e, timeout=timeout)
        if check_rc is not None:
            assert r.returncode == check_rc, (
                f"strata {' '.join(map(str, args))}: exit {r.returncode}, expected {check_rc}\n"
                f"--- stdout ---\n{r.stdout}\n--- stderr ---\n{r.stderr}")
        return r

    def compose_args(self, definition: Path, *extra) -> list:
        return ["compose", "module", str(definition), "--config", str(self.config),
                "--cache-dir", str(self.cache), *extra]

    def compose(self, definition: Path, *extra, env=None, check_rc=None):
        return self.run(*self.compose_args(definition, *extra), env=env, check_rc=check_rc)

    def compose_json(self, definition: Path, *extra, env=None, rc=0) -> dict:
        r = self.compose(definition, "--json", *extra, env=env, check_rc=rc)
        return json.loads(r.stdout)

    def show(self, compose_id: str) -> dict:
        r = self.run("composes", "show", compose_id, "--json", "--config", self.config, check_rc=0)
        return json.loads(r.stdout)

    def list(self, *args) -> list[dict]:
        r = self.run("composes", "list", *args, "--json", "--config", self.config, check_rc=0)
        return json.loads(r.stdout)

    def latest(self, module: str):
        r = self.run("latest", module, "--json", "--config", self.config)
        return json.loads(r.stdout) if r.returncode == 0 else None


def repo_dir(record: dict, arch: str) -> Path:
    return Path(record["outputs"]["repos"][arch])


def modules_yaml(repo: Path) -> bytes:
    """The modules document a repo's repomd.xml points at, decompressed."""
    import gzip
    import re
    repomd = (repo / "repodata" / "repomd.xml").read_text()
    m = re.search(r'<data type="modules">.*?<location href="([^"]+)"', repomd, re.S)
    assert m, f"no modules metadata in {repo}/repodata/repomd.xml"
    raw = (repo / m.group(1)).read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


_LIBMODULEMD = r"""
import json, sys
import gi
gi.require_version("Modulemd", "2.0")
from gi.repository import Modulemd
idx = Modulemd.ModuleIndex.new()
ok, failures = idx.update_from_file(sys.argv[1], True)
if not ok or failures:
    print(json.dumps({"error": [f.get_gerror().message for f in (failures or [])]}))
    sys.exit(1)
out = {}
for name in idx.get_module_names():
    mod = idx.get_module(name)
    d = mod.get_defaults()
    out[name] = {
        "defaults": None if d is None else {
            "stream": d.get_default_stream(None),
            "profiles": {s: list(d.get_default_profiles_for_stream(s, None) or [])
                         for s in (d.get_streams_with_default_profiles(None) or [])},
        },
        "streams": [],
    }
    for s in mod.get_all_streams():
        out[name]["streams"].append({
            "name": s.get_module_name(), "stream": s.get_stream_name(),
            "version": s.get_version(), "context": s.get_context(), "arch": s.get_arch(),
            "summary": s.get_summary("C"), "license": list(s.get_module_licenses()),
            "artifacts": sorted(s.get_rpm_artifacts()),
            "profiles": {p: sorted(s.get_profile(p).get_rpms()) for p in s.get_profile_names()},
            "api": sorted(s.get_rpm_api()),
            "requires": {dep_mod: list(dep.get_runtime_streams(dep_mod))
                         for dep in s.get_dependencies()
                         for dep_mod in dep.get_runtime_modules()},
            "validate": s.validate(),
        })
print(json.dumps(out))
"""


def load_with_libmodulemd(text: bytes) -> dict:
    """Loads a modules.yaml with the real libmodulemd (strict) and returns
    what it read."""
    with tempfile.NamedTemporaryFile(suffix=".yaml") as f:
        f.write(text)
        f.flush()
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        r = subprocess.run([SYSTEM_PYTHON, "-c", _LIBMODULEMD, f.name], capture_output=True,
                           text=True, env=env)
        assert r.returncode == 0, f"libmodulemd rejected modules.yaml:\n{r.stdout}{r.stderr}\n{text.decode()}"
        return json.loads(r.stdout)


def dnf_install(repos: dict, root: Path, work: Path, args: list[str],
                env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs real dnf into an installroot with a throwaway configuration;
    `env` adds to (or, with None values, removes from) dnf's environment."""
    conf = dnforacle._write_conf(work, repos)
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    # rpm keeps its database where dnf and `rpm --root` both look.
    (home / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
    extra = env or {}
    env = dnforacle._env()
    env["HOME"] = str(home)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    cmd = dnforacle.DNF + ["-y", "-c", str(conf), f"--installroot={root}", "--releasever=40",
                           "--forcearch=x86_64", "--disableplugin=local",
                           "--setopt=module_platform_id=platform:f40",
                           "--setopt=tsflags=noscripts", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def rpm_qa(root: Path, work: Path) -> set[str]:
    env = dnforacle._env()
    env["HOME"] = str(work / "home")
    r = subprocess.run(["rpm", "--root", str(root), "-qa", "--qf", "%{NAME}\n"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


class HTTPServer:
    """A loopback HTTP server on a thread of its own, for `with`: `handler`
    (a SimpleHTTPRequestHandler) serves the files under `root`."""

    def __init__(self, handler=http.server.SimpleHTTPRequestHandler, root: Path | None = None):
        h = functools.partial(handler, directory=str(root or "/nonexistent"))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
