"""The bundled example (README's main command): `apache` against `base`, with
suggestions from `f40-build`. stdout stays exactly dnf's format, whatever
extra checks are asked for; installation problems and suggestions go to
stderr, beside dnf's summary line."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "repos"
DNF_LINE = re.compile(r"^(package: \S+ from \S+|  unresolved deps \(\d+\):|    \S.*)$")


def run(strata_bin, *extra):
    cmd = [str(strata_bin), "repoclosure", "--repo", f"base={EX / 'base'}",
           "--repo", f"apache={EX / 'apache'}", "--check", "apache", "--no-cache", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_plain_report_matches_dnf_lines(strata_bin, dnf_repoclosure):
    r = run(strata_bin)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "package: mod_lua-2.4.58-1.noarch from apache",
        "  unresolved deps (1):",
        "    lua-libs >= 5.4",
    ]
    oracle = dnf_repoclosure({"base": EX / "base", "apache": EX / "apache"}, check="apache")
    assert oracle.pairs == {("mod_lua-2.4.58-1.noarch", "lua-libs >= 5.4")}
    assert r.stderr.strip().endswith("Error: Repoclosure ended with unresolved dependencies (1) across 1 packages.")


def test_extras_never_reach_stdout(strata_bin):
    plain = run(strata_bin)
    full = run(strata_bin, "--installable", "--suggest-from", f"f40-build={EX / 'f40-build'}")
    assert full.returncode == 1
    assert full.stdout == plain.stdout
    assert all(DNF_LINE.match(line) for line in full.stdout.splitlines())
    assert "nothing provides lua-libs >= 5.4 needed by mod_lua-2.4.58-1.noarch" in full.stderr
    assert "`lua-libs >= 5.4` is provided by lua-libs-5.4.6-1.noarch from f40-build" in full.stderr
    assert "    lua-libs-5.4.6-1.noarch from f40-build" in full.stderr
    assert "1 of 5 checked packages cannot be installed" in full.stderr


def test_closed_when_the_suggestion_is_taken(strata_bin):
    # Treating the build tag as lookaside (what adding lua-libs would do) closes it.
    r = run(strata_bin, "--repo", f"f40-build={EX / 'f40-build'}", "--installable")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
