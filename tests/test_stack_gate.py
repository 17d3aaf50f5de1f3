"""The stack gate's shortcut: a layer whose own gate checked this very
stack (the same compose of every module below it, the same platform) is
not checked again. These are the cases where that would be wrong, each
with real RPMs: the gate must still fail them, naming the layer's package,
as the whole check does. (A lower module composed again under a layer is
test_stack.py's stack-wide gate failure.)"""

from __future__ import annotations

import os
import shutil
import time

import composekit as ck
import rpmfactory
from test_stack import PLATFORM, apache, base, make_repos, php, repos  # noqa: F401 (fixture)


def test_the_shortcut_is_taken_and_the_stack_still_passes(strata_bin, tmp_path, repos):
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})
    site.compose_json(base(tmp_path, repos))
    site.compose_json(apache(tmp_path, repos))
    r = site.compose(php(tmp_path, repos), env={"RUST_LOG": "strata_compose=info"}, check_rc=0)
    # apache's own gate checked apache and base-runtime against this stack.
    assert "stack layers checked by their own gates layers=2" in r.stderr, r.stderr


def test_a_platform_package_the_new_module_hides_is_missed_by_the_layer_below(
        strata_bin, tmp_path, repos):
    """compat-foo (platform) provides `libfoo` and libcompat.so.1, which
    apache's httpd-compat needs. apache's gate saw compat-foo: nothing in its
    stack is named libfoo. A module above with a package named libfoo hides
    compat-foo (dnf's modular filtering), so httpd-compat's gap opens in a
    layer whose own gate passed."""
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})
    site.compose_json(base(tmp_path, repos, packages=("libbar",)))
    site.compose_json(ck.write_definition(tmp_path / "defs" / "apache.yaml", ck.definition(
        name="apache", stream="2.4", packages=("httpd-tools", "httpd-compat"),
        repos=[repos["apache"]], requires={"platform": "f40", "base-runtime": "f40"},
        profiles={"default": ["httpd-compat"]})))
    foo = ck.write_definition(tmp_path / "defs" / "foo.yaml", ck.definition(
        name="foo", stream="1", packages=("libfoo",), repos=[repos["base"]],
        requires={"platform": "f40", "apache": "2.4"}, profiles={"default": ["libfoo"]}))
    r = site.compose(foo, check_rc=1)
    assert "httpd-compat-2.4.58-1.fc40.x86_64" in r.stdout, r.stdout
    assert "libcompat.so.1()(64bit)" in r.stdout, r.stdout


def test_a_platform_changed_under_the_layers_is_checked_again(strata_bin, tmp_path, repos):
    """base-runtime's libfoo needs glibc's libc.so.6; the platform drops
    glibc after apache was composed. php adds nothing that needs it, but
    the stack it stands on no longer closes."""
    platform = tmp_path / "platform"
    shutil.copytree(repos["platform"], platform)
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [platform]})
    site.compose_json(base(tmp_path, repos))
    site.compose_json(apache(tmp_path, repos))
    shutil.rmtree(platform)
    rpmfactory.make_repo(platform, [p for p in PLATFORM if p["name"] != "glibc"])
    r = site.compose(php(tmp_path, repos), check_rc=1)
    assert "libfoo-1.0-1.fc40.x86_64" in r.stdout, r.stdout
    assert "libc.so.6()(64bit)" in r.stdout, r.stdout


# A layer's verification memo is written only once its files are older than
# the racy window (two seconds: file times move in clock ticks); a memo
# indexes the layer, and then a compose above may leave it unloaded.
RACY_S = 2.1


def _module(tmp_path, name, pkgs, requires):
    """A module of one-package-per-entry `pkgs` (name → requires), built
    into its own repository, requiring the modules `requires`."""
    src = rpmfactory.make_repo(tmp_path / f"{name}-src", [
        {"name": n, "version": "1", "release": "1.fc40", "arch": "x86_64", "requires": list(r)}
        for n, r in pkgs.items()])
    return ck.write_definition(tmp_path / "defs" / f"{name}.yaml", ck.definition(
        name=name, stream="1", packages=tuple(pkgs), repos=[src],
        requires={"platform": "f40", **requires}, profiles={"default": [next(iter(pkgs))]}))


def _stack_with_memos(strata_bin, tmp_path, repos):
    """base-runtime and apache composed, and their memos written (by a
    compose above them once their files are old enough)."""
    site = ck.Site(strata_bin, tmp_path / "site", platforms={"f40": [repos["platform"]]})
    site.compose_json(base(tmp_path, repos))
    site.compose_json(apache(tmp_path, repos))
    time.sleep(RACY_S)
    warm = _module(tmp_path, "warm", {"warm-tools": ()}, {"apache": "2.4"})
    site.compose_json(warm)
    return site


def _fails_on_the_whole_stack(site, tmp_path, package, needs):
    """A module of `package` (needing `needs`) on apache: the check with
    both layers left unloaded does not pass, the whole one fails naming
    the package and what it needs."""
    module = _module(tmp_path, package.replace("_", ""), {package: (needs,)}, {"apache": "2.4"})
    r = site.compose(module, env={"RUST_LOG": "strata_compose=info"}, check_rc=1)
    assert "did not pass: checking the whole stack left_unloaded=2" in r.stderr, r.stderr
    assert f"{package}-1-1.fc40.x86_64" in r.stdout, r.stdout
    assert needs in r.stdout, r.stdout


def test_a_layer_providing_nothing_the_module_needs_is_not_loaded(
        strata_bin, tmp_path, repos):
    """mod_x needs httpd (apache) only: base-runtime, which apache's own gate
    checked, is left unloaded; mod_y needs libfoo.so.1 from base-runtime two
    layers down, and it is loaded; both gates pass."""
    site = _stack_with_memos(strata_bin, tmp_path, repos)
    env = {"RUST_LOG": "strata_compose=info"}
    x = _module(tmp_path, "modx", {"mod_x": ("httpd",)}, {"apache": "2.4"})
    r = site.compose(x, env=env, check_rc=0)
    assert "stack layers checked by their own gates layers=2 left_unloaded=1" in r.stderr, r.stderr
    y = _module(tmp_path, "mody", {"mod_y": ("libfoo.so.1()(64bit)",)}, {"apache": "2.4"})
    r = site.compose(y, env=env, check_rc=0)
    assert "stack layers checked by their own gates layers=2 left_unloaded=1" in r.stderr, r.stderr
    # Nothing either module requires is in apache: both layers unloaded.
    z = _module(tmp_path, "modz", {"mod_z": ("glibc",)}, {"apache": "2.4"})
    r = site.compose(z, env=env, check_rc=0)
    assert "layers=2 left_unloaded=2" in r.stderr, r.stderr


def test_what_no_layer_provides_fails_the_gate_with_layers_left_unloaded(
        strata_bin, tmp_path, repos):
    """A requirement nothing provides: the short check cannot pass, and the
    whole check (every layer loaded) reports it as it always did."""
    _fails_on_the_whole_stack(_stack_with_memos(strata_bin, tmp_path, repos), tmp_path,
                              "mod_w", "libnowhere.so.9()(64bit)")


def test_a_platform_package_an_unloaded_layer_is_named_like_is_still_hidden(
        strata_bin, tmp_path, repos):
    """As the hiding case above, with the layers left unloaded: base-runtime
    ships a package named libfoo, and compat-foo (platform), which provides
    `libfoo`, is hidden by it though base-runtime is never loaded. The new
    module needs libcompat.so.1, which only compat-foo provides."""
    _fails_on_the_whole_stack(_stack_with_memos(strata_bin, tmp_path, repos), tmp_path,
                              "mod_v", "libcompat.so.1()(64bit)")


def test_a_layer_changed_since_its_memo_is_checked_in_full(strata_bin, tmp_path, repos):
    """A layer taken on its memo's word has its files' stamps compared
    before the compose is put in place. Touched but intact (its content
    unchanged), it is loaded again in full and the compose passes; damaged
    in place (same size, another checksum), the compose fails naming the
    layer, and is recorded as failed: the gate's pass on the memo's word
    does not count."""
    site = _stack_with_memos(strata_bin, tmp_path, repos)
    env = {"RUST_LOG": "strata_compose=info"}
    [apache_rec] = site.list("apache:2.4")
    [primary] = (ck.repo_dir(apache_rec, "x86_64") / "repodata").glob("*-primary.xml*")
    changed = "a file of the stack layer changed since its memo was written: loading it in full"

    x = _module(tmp_path, "modx", {"mod_x": ("httpd",)}, {"apache": "2.4"})
    r = site.compose(x, env=env, check_rc=0)
    assert "stack layer remembered intact" in r.stderr, r.stderr
    assert changed not in r.stderr, r.stderr

    old = primary.stat().st_mtime - 3600
    os.utime(primary, (old, old))
    r = site.compose(x, env=env, check_rc=0)
    assert changed in r.stderr and f'compose="{apache_rec["id"]}"' in r.stderr, r.stderr
    assert [c["state"] for c in site.list("modx:1")] == ["finished", "finished"]

    data = bytearray(primary.read_bytes())
    data[len(data) // 2] ^= 0xFF
    primary.write_bytes(bytes(data))
    os.utime(primary, (old, old))  # the same times, but a new ctime
    r = site.compose(x, env=env, check_rc=2)
    assert changed in r.stderr, r.stderr
    assert f"modx:1: the published x86_64 repository of apache:2.4 (compose {apache_rec['id']})" \
        f" is missing or damaged" in r.stderr, r.stderr
    assert primary.name in r.stderr and "checksum" in r.stderr, r.stderr
    newest = site.list("modx:1")[0]
    assert newest["state"] == "failed", newest
    assert "apache:2.4" in newest["error"] and "missing or damaged" in newest["error"], newest
