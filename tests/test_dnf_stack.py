"""`dnf stack` (dnf_plugin/stack.py) with the real dnf 4 under
/usr/bin/python3, installing into fresh installroots from modular repos of
real RPMs; the plugin is loaded from the installed wheel's dnf-plugins/.

Layout (tests/dnfkit.py): base-runtime:f40 <- apache:2.4 <- php:8.2, one
repo per compose, a "stack" repo holding all three, and "apache-next", a
newer apache:2.4 compose with another compose ID.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

import composekit as ck
import dnfkit

ROOT = Path(__file__).resolve().parent.parent
PHP_ID = "php-8.2-20261125.n.0"
APACHE_ID = "apache-2.4-20261125.n.0"
APACHE_NEXT_ID = "apache-2.4-20261126.n.0"
BASE_ID = "base-runtime-f40-20261125.n.1"


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dnf-stack-repos")
    repos = dnfkit.build_layout(root)
    mods = dnfkit.modules()
    # A module not composed by Strata, and one whose xmd.strata is broken.
    foreign = dnfkit.Module("foreign", "1", 20261125000000, "0000cafe", "unused",
                            [dnfkit.pkg("foreign-tool", "1")], {"default": ["foreign-tool"]})
    broken = dnfkit.Module("broken", "1", 20261125000000, "0000beef", "unused",
                           [dnfkit.pkg("broken-tool", "1")], {"default": ["broken-tool"]},
                           requires=[mods["apache"]])
    docs = [foreign.defaults_doc(), foreign.stream_doc(xmd_strata={}),
            broken.defaults_doc(),
            broken.stream_doc(xmd_strata={"stack": [{"name": "apache", "stream": "2.4"}]})]
    repos["odd"] = dnfkit.write_modular_repo(root / "odd", [foreign, broken], docs=docs)
    return repos


class Dnf:
    """dnf into one fresh installroot."""

    def __init__(self, tmp_path: Path, repos: dict[str, Path]):
        self.root = tmp_path / "root"
        self.work = tmp_path / "work"
        self.repos = repos

    def __call__(self, *args, repos=("stack",), rc=None) -> subprocess.CompletedProcess:
        r = dnfkit.dnf({k: self.repos[k] for k in repos}, self.root, self.work, list(args))
        out = r.stdout + r.stderr
        assert "Traceback" not in out, out
        if rc is not None:
            assert r.returncode == rc, (
                f"dnf {' '.join(args)}: exit {r.returncode}, expected {rc}\n"
                f"--- stdout ---\n{r.stdout}\n--- stderr ---\n{r.stderr}")
        return r

    def installed(self) -> set[str]:
        return ck.rpm_qa(self.root, self.work)

    def version_of(self, name: str) -> str:
        env = dict(ck.dnforacle._env(), HOME=str(self.work / "home"))
        r = subprocess.run(["rpm", "--root", str(self.root), "-q", "--qf", "%{VERSION}", name],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def enabled_streams(self, repos=("stack",)) -> set[str]:
        """name:stream of `dnf module list --enabled`."""
        r = self("module", "list", "--enabled", repos=repos)
        out = set()
        for line in r.stdout.splitlines():
            m = re.match(r"^([\w+.-]+)\s+([\w+.-]+) (?:\[d\])?\[e\]", line)
            if m:
                out.add(f"{m.group(1)}:{m.group(2)}")
        return out

    def record(self, nsv: str) -> dict | None:
        p = dnfkit.record_path(self.root, nsv)
        return json.loads(p.read_text()) if p.exists() else None


@pytest.fixture
def dnf(tmp_path, repos) -> Dnf:
    return Dnf(tmp_path, repos)


# --------------------------------------------------------------------------
# Packaging


def test_the_wheel_installs_the_plugin_beside_strata():
    d = dnfkit.plugin_dir()
    assert d.name == "dnf-plugins"
    # The one source file, unchanged.
    assert (d / "stack.py").read_bytes() == (ROOT / "dnf_plugin" / "stack.py").read_bytes()


def test_dnf_lists_the_command(dnf):
    r = dnf("--help", rc=0)
    assert re.search(r"^stack\s+install, inspect and remove Strata module stacks", r.stdout, re.M), \
        r.stdout


# --------------------------------------------------------------------------
# install / info / list / remove


def test_install_enables_the_stack_and_installs_the_top_profile(dnf):
    r = dnf("stack", "install", "php:8.2", rc=0)
    assert "Complete!" in r.stdout
    assert dnf.installed() == dnfkit.PHP_DEFAULT_INSTALL
    assert {"base-runtime:f40", "apache:2.4", "php:8.2"} <= dnf.enabled_streams()
    rec = dnf.record("php:8.2")
    assert rec["compose_id"] == PHP_ID
    assert rec["profiles"] == ["default"]
    assert [(l["name"], l["compose_id"]) for l in rec["stack"]["layers"]] == [
        ("base-runtime", BASE_ID), ("apache", APACHE_ID)]
    assert rec["enabled"] == ["base-runtime:f40", "apache:2.4", "php:8.2"]
    assert rec["mismatches"] == []


def test_install_a_given_profile(dnf):
    dnf("stack", "install", "php:8.2/devel", rc=0)
    # php-devel requires php, which brings the rest of the stack's packages.
    assert dnf.installed() == {"php-devel", "php", "php-common", "httpd", "httpd-tools",
                               "base-libs"}
    assert dnf.record("php:8.2")["profiles"] == ["devel"]


def test_install_from_the_module_repos_matches_too(dnf):
    # The same composes, each from its own repository (and the stack repo
    # again): nothing differs, so nothing is refused.
    repos = ("base-runtime", "apache", "php", "stack")
    dnf("stack", "install", "php:8.2", repos=repos, rc=0)
    assert dnf.installed() == dnfkit.PHP_DEFAULT_INSTALL


def test_info_shows_each_layer_and_the_installed_compose(dnf):
    r = dnf("stack", "info", "php:8.2", rc=0)
    assert re.search(r"^Installed\s+: no$", r.stdout, re.M), r.stdout
    dnf("stack", "install", "php:8.2", rc=0)
    r = dnf("stack", "info", "php:8.2", rc=0)
    out = r.stdout
    assert re.search(rf"^Compose ID\s+: {PHP_ID}$", out, re.M), out
    assert re.search(rf"^Installed\s+: {PHP_ID} \(profiles: default;", out, re.M), out
    assert re.search(r"^Mismatches\s+: 0$", out, re.M), out
    assert re.search(rf"^\s+base-runtime:f40\s+{BASE_ID}\s+{BASE_ID}$", out, re.M), out
    assert re.search(rf"^\s+apache:2.4\s+{APACHE_ID}\s+{APACHE_ID}$", out, re.M), out
    assert "MISMATCH" not in out
    # Bottom first.
    assert out.index("base-runtime:f40 ") < out.index("apache:2.4 ") < out.index("php:8.2 ")


def test_info_flags_a_mismatch(dnf):
    r = dnf("stack", "info", "php:8.2", repos=("stack", "apache-next"), rc=0)
    assert re.search(rf"^\s+apache:2.4\s+{APACHE_ID}\s+{APACHE_NEXT_ID}\s+MISMATCH$", r.stdout,
                     re.M), r.stdout
    assert re.search(rf"^\s+base-runtime:f40\s+{BASE_ID}\s+{BASE_ID}$", r.stdout, re.M), r.stdout
    assert re.search(r"^Mismatches\s+: 1$", r.stdout, re.M), r.stdout


def test_list_shows_stacks_and_marks_the_installed_one(dnf):
    def rows():
        r = dnf("stack", "list", rc=0)
        return {m.group(1): (m.group(2), int(m.group(3)), m.group(4).strip())
                for m in re.finditer(r"^(\S+:\S+)\s+(\S+)\s+(\d+)(.*)$", r.stdout, re.M)}

    before = rows()
    # base-runtime requires no module: not a stack.
    assert before == {"apache:2.4": (APACHE_ID, 2, ""), "php:8.2": (PHP_ID, 3, "")}
    dnf("stack", "install", "php:8.2", rc=0)
    after = rows()
    assert after["php:8.2"] == (PHP_ID, 3, "[i]")
    assert after["apache:2.4"] == (APACHE_ID, 2, "")


def test_mismatch_is_refused_and_nothing_installed(dnf):
    r = dnf("stack", "install", "php:8.2", repos=("stack", "apache-next"), rc=1)
    err = r.stderr
    assert re.search(rf"apache:2\.4: .*{APACHE_ID}.*{APACHE_NEXT_ID}", err), err
    assert "--allow-mismatch" in err
    assert "base-runtime:f40" not in err  # only the layer that differs
    assert dnf.installed() == set()
    assert dnf.record("php:8.2") is None


def test_a_missing_layer_is_a_mismatch(dnf):
    # Only the php compose: apache and base-runtime are nowhere.
    r = dnf("stack", "install", "php:8.2", repos=("php",), rc=1)
    assert re.search(rf"apache:2\.4: .*{APACHE_ID}.*no enabled repository", r.stderr), r.stderr
    assert re.search(rf"base-runtime:f40: .*{BASE_ID}", r.stderr), r.stderr
    assert dnf.installed() == set()


def test_allow_mismatch_installs_with_a_warning(dnf):
    r = dnf("stack", "install", "php:8.2", "--allow-mismatch", repos=("stack", "apache-next"),
            rc=0)
    assert re.search(rf"[Ww]arning.*apache:2\.4.*{APACHE_ID}.*{APACHE_NEXT_ID}", r.stderr), \
        r.stdout + r.stderr
    assert dnf.installed() == dnfkit.PHP_DEFAULT_INSTALL
    # dnf used the newest apache:2.4 compose.
    assert dnf.version_of("httpd") == "2.4.59"
    rec = dnf.record("php:8.2")
    assert [(m["module"], m["recorded"], m["available"]) for m in rec["mismatches"]] == [
        ("apache:2.4", APACHE_ID, APACHE_NEXT_ID)]


def test_remove_removes_packages_resets_streams_and_the_record(dnf):
    dnf("stack", "install", "php:8.2", rc=0)
    assert dnf.installed() == dnfkit.PHP_DEFAULT_INSTALL
    r = dnf("stack", "remove", "php:8.2", rc=0)
    assert "Complete!" in r.stdout
    assert dnf.installed() == set()
    assert dnf.enabled_streams() == set()
    assert dnf.record("php:8.2") is None
    # Removing again: not installed.
    r = dnf("stack", "remove", "php:8.2", rc=1)
    assert "php:8.2 is not installed" in r.stderr


def test_remove_keeps_what_another_installed_stack_uses(dnf):
    dnf("stack", "install", "apache:2.4", rc=0)
    dnf("stack", "install", "php:8.2", rc=0)
    assert dnf.record("apache:2.4")["enabled"] == ["base-runtime:f40", "apache:2.4"]
    # php's stack found apache and base-runtime already enabled.
    assert dnf.record("php:8.2")["enabled"] == ["php:8.2"]
    dnf("stack", "remove", "php:8.2", rc=0)
    assert dnf.installed() == {"httpd", "httpd-tools", "base-libs"}
    assert dnf.enabled_streams() == {"base-runtime:f40", "apache:2.4"}
    assert dnf.record("apache:2.4") is not None
    dnf("stack", "remove", "apache:2.4", rc=0)
    assert dnf.installed() == set()
    assert dnf.enabled_streams() == set()


# --------------------------------------------------------------------------
# Errors: exit 1, a message, no traceback (checked by Dnf), nothing installed


@pytest.mark.parametrize("args, use, message", [
    (["install", "nope:1"], ("stack",), "Unknown stack nope:1"),
    (["info", "nope:1"], ("stack",), "Unknown stack nope:1"),
    (["install", "base-runtime:f40"], ("stack",), "base-runtime:f40 is not a Strata stack"),
    (["info", "foreign:1"], ("stack", "odd"), "foreign:1 is not a Strata stack"),
    (["install", "broken:1"], ("stack", "odd"), "malformed Strata metadata"),
    (["install", "php"], ("stack",), '"php" is not a module stream NAME:STREAM'),
    (["install", "php:8:2"], ("stack",), "has ':'"),
    (["install", "php:8.2/"], ("stack",), "the profile is empty"),
    (["info", "php:8.2/default"], ("stack",), "no /PROFILE here"),
    (["install", "php:8.2/nope"], ("stack",), "php:8.2 has no profile 'nope'"),
    (["info"], ("stack",), "dnf stack info takes one NAME:STREAM"),
    (["remove"], ("stack",), "dnf stack remove needs NAME:STREAM"),
])
def test_errors(dnf, args, use, message):
    r = dnf("stack", *args, repos=use, rc=1)
    assert message in r.stderr, r.stderr
    assert r.stderr.count("Error:") >= 1, r.stderr
    assert dnf.installed() == set()


def test_malformed_metadata_does_not_break_list(dnf):
    r = dnf("stack", "list", repos=("stack", "odd"), rc=0)
    assert re.search(rf"^php:8\.2\s+{PHP_ID}\s+3$", r.stdout, re.M), r.stdout
    assert "broken:1" in r.stderr and "malformed" in r.stderr, r.stderr
    assert "foreign" not in r.stdout


# --------------------------------------------------------------------------
# The bindings the plugin uses (conversion only; the logic is tested in Rust)


def test_bindings_read_and_check_a_stack(repos):
    import strata
    text = ck.modules_yaml(repos["php"]).decode()
    stack = strata.module_stack(text)
    assert stack["compose_id"] == PHP_ID
    assert [l["name"] for l in stack["layers"]] == ["base-runtime", "apache"]
    assert strata.stack_modules(stack) == ["base-runtime:f40", "apache:2.4", "php:8.2"]
    ok = {"base-runtime:f40": BASE_ID, "apache:2.4": APACHE_ID}
    assert strata.check_stack(stack, ok) == []
    assert strata.check_stack(text, ok) == []
    got = strata.check_stack(stack, {"base-runtime:f40": BASE_ID, "apache:2.4": None})
    assert [(m["module"], m["recorded"], m["available"]) for m in got] == [
        ("apache:2.4", APACHE_ID, None)]
    assert "apache:2.4" in got[0]["message"]
    assert strata.stack_streams_to_reset(stack, []) == ["php:8.2", "apache:2.4",
                                                        "base-runtime:f40"]
    plain = strata.module_stack(ck.modules_yaml(repos["base-runtime"]).decode())
    assert plain["layers"] == [] and plain["compose_id"] == BASE_ID


def test_bindings_raise_stack_errors(repos):
    import strata
    odd = ck.modules_yaml(repos["odd"]).decode()
    with pytest.raises(strata.StackError, match="stream documents where one was expected"):
        strata.module_stack(odd)
    broken = "---\ndocument: modulemd\nversion: 2\ndata:\n  name: b\n  stream: s\n  " \
             "version: 1\n  context: c\n  xmd:\n    strata:\n      stack: []\n...\n"
    with pytest.raises(strata.StackError, match="b:s:1:c: malformed .*compose_id"):
        strata.module_stack(broken)
    foreign = broken.replace("strata:\n      stack: []", "mbs: {a: b}")
    assert strata.module_stack(foreign) is None
    with pytest.raises(strata.StackError, match="not composed by Strata"):
        strata.check_stack(foreign, {})
    with pytest.raises(strata.StackError, match="malformed stack"):
        strata.check_stack({"name": "p", "stream": "1", "compose_id": "x", "version": 1,
                            "context": "c", "requires": ["a:1"], "layers": []}, {})
    with pytest.raises(strata.StackError):
        strata.check_stack({"name": "p"}, {})
    with pytest.raises(TypeError):
        strata.check_stack(42, {})
    assert issubclass(strata.StackError, strata.StrataError)
    assert strata.parse_stack_spec("php:8.2") == {"name": "php", "stream": "8.2", "profile": None}
