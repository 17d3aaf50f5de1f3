"""Differential run on the large dataset (63,440 packages of Debian 12 main as
rpm-md metadata): strata must report exactly what dnf repoclosure reports.
Marked slow, but runs by default."""

from __future__ import annotations

import pytest

from conftest import BOOKWORM, assert_same_closure, summary_line

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dnf_bookworm(dnf_repoclosure):
    assert (BOOKWORM / "repodata" / "repomd.xml").is_file(), f"dataset missing: {BOOKWORM}"
    return dnf_repoclosure({"bookworm": BOOKWORM})


@pytest.fixture(scope="module")
def strata_bookworm(strata_repoclosure):
    return strata_repoclosure({"bookworm": BOOKWORM})


def test_oracle_numbers(dnf_bookworm):
    # NOTES.md: 102 unresolved dependencies across 69 packages
    assert len(dnf_bookworm.blocks) == 69
    assert sum(len(d) for _, _, d in dnf_bookworm.blocks) == 102


def test_same_as_dnf(dnf_bookworm, strata_bookworm):
    assert_same_closure(dnf_bookworm, strata_bookworm)
    assert strata_bookworm.packages == dnf_bookworm.packages


def test_summary_line(dnf_bookworm, strata_bookworm):
    assert strata_bookworm.stderr.strip().splitlines()[-1] == summary_line(dnf_bookworm.blocks)


def test_cached_run_same(strata_repoclosure, strata_bookworm):
    # second run hits the session cache
    again = strata_repoclosure({"bookworm": BOOKWORM})
    assert again.triples == strata_bookworm.triples and again.rc == strata_bookworm.rc


def test_json_counts(strata_json):
    r = strata_json({"bookworm": BOOKWORM})
    assert r.rc == 1
    assert r.data["checked"] == 63440
    assert r.data["repos"][0]["packages"] == 63440
    assert len(r.data["unresolved"]) == 69


def test_newest_same_as_dnf(dnf_repoclosure, strata_repoclosure):
    assert_same_closure(dnf_repoclosure({"bookworm": BOOKWORM}, newest=True),
                        strata_repoclosure({"bookworm": BOOKWORM}, newest=True))


def test_arch_filter_same_as_dnf(dnf_repoclosure, strata_repoclosure):
    assert_same_closure(dnf_repoclosure({"bookworm": BOOKWORM}, arch="noarch"),
                        strata_repoclosure({"bookworm": BOOKWORM}, arch="noarch"))
