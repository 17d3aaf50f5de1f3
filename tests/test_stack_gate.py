"""The stack gate's shortcut: a layer whose own gate checked this very
stack (the same compose of every module below it, the same platform) is
not checked again. These are the cases where that would be wrong, each
with real RPMs: the gate must still fail them, naming the layer's package,
as the whole check does. (A lower module composed again under a layer is
test_stack.py's stack-wide gate failure.)"""

from __future__ import annotations

import shutil

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
