"""Broken repositories: strata must exit 2 with a message on stderr naming the
file and the problem, and print nothing on stdout. Every case starts from a
copy of a valid createrepo_c repo and breaks one thing."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
from pathlib import Path

import pytest

from conftest import strata_args

PKGS = [dict(name=f"pkg{i}", requires=[f"pkg{i + 1}"]) for i in range(30)] + [dict(name="pkg30")] + [
    dict(name="filer", requires=["/usr/share/deep/file.txt"]),
    dict(name="owner", files=["/usr/share/deep/file.txt"]),
]


@pytest.fixture(scope="module")
def good_repo(build_repo):
    return build_repo(PKGS, name="good")


def _copy(good: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "repo"
    shutil.copytree(good / "repodata", dst / "repodata")
    return dst


def _md_file(repo: Path, mdtype: str) -> Path:
    text = (repo / "repodata" / "repomd.xml").read_text()
    m = re.search(rf'<data type="{mdtype}">.*?<location href="([^"]+)"', text, re.S)
    return repo / m.group(1)


def _fix_repomd(repo: Path, mdtype: str, new_file: Path, old_file: Path | None = None):
    """Point repomd's <data type=mdtype> at new_file with matching checksum/size."""
    repomd = repo / "repodata" / "repomd.xml"
    text = repomd.read_text()
    m = re.search(rf'(<data type="{mdtype}">)(.*?)(</data>)', text, re.S)
    block = m.group(2)
    data = new_file.read_bytes()
    block = re.sub(r'<checksum type="sha256">[0-9a-f]+</checksum>',
                   f'<checksum type="sha256">{hashlib.sha256(data).hexdigest()}</checksum>', block)
    block = re.sub(r"<size>\d+</size>", f"<size>{len(data)}</size>", block)
    block = re.sub(r'<location href="[^"]+"/>',
                   f'<location href="repodata/{new_file.name}"/>', block)
    # open-checksum/open-size describe the uncompressed data; drop them so only
    # the intended problem remains.
    block = re.sub(r"\s*<open-checksum[^>]*>[0-9a-f]+</open-checksum>", "", block)
    block = re.sub(r"\s*<open-size>\d+</open-size>", "", block)
    repomd.write_text(text[:m.start(2)] + block + text[m.end(2):])


@pytest.fixture
def bad(run_strata, tmp_path):
    """bad(repo) -> CompletedProcess; asserts the common contract."""

    def _run(repo: Path, json_out: bool = False, **kw):
        r = run_strata(strata_args({"broken": repo}, no_cache=True, json_out=json_out, **kw))
        assert r.returncode == 2, f"rc={r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
        assert r.stdout == "", "nothing on stdout for bad input"
        assert r.stderr.strip(), "an error message on stderr"
        return r

    return _run


def test_flipped_byte_checksum_mismatch(good_repo, tmp_path, bad):
    repo = _copy(good_repo, tmp_path)
    prim = _md_file(repo, "primary")
    data = bytearray(prim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    prim.write_bytes(bytes(data))
    r = bad(repo)
    assert prim.name in r.stderr
    assert "checksum" in r.stderr.lower()


def test_flipped_byte_json_mode_too(good_repo, tmp_path, bad):
    repo = _copy(good_repo, tmp_path)
    prim = _md_file(repo, "primary")
    data = bytearray(prim.read_bytes())
    data[-10] ^= 0x01
    prim.write_bytes(bytes(data))
    r = bad(repo, json_out=True)
    assert prim.name in r.stderr


def test_truncated_gzip_with_valid_checksum(good_repo, tmp_path, bad):
    repo = _copy(good_repo, tmp_path)
    prim = _md_file(repo, "primary")
    data = prim.read_bytes()
    trunc = repo / "repodata" / "truncated-primary.xml.gz"
    trunc.write_bytes(data[: len(data) * 2 // 3])
    prim.unlink()
    _fix_repomd(repo, "primary", trunc)
    r = bad(repo)
    assert trunc.name in r.stderr
    assert "checksum" not in r.stderr.lower()
    assert "gzip" in r.stderr.lower() or "decompress" in r.stderr.lower()


def test_malformed_xml_names_file_and_line(good_repo, tmp_path, bad):
    repo = _copy(good_repo, tmp_path)
    prim = _md_file(repo, "primary")
    lines = gzip.decompress(prim.read_bytes()).decode().splitlines(keepends=True)
    # break the closing tag of the 10th package name
    idx = [i for i, l in enumerate(lines) if "<name>" in l][9]
    lines[idx] = lines[idx].replace("</name>", "</nmae>")
    broken = repo / "repodata" / "broken-primary.xml.gz"
    broken.write_bytes(gzip.compress("".join(lines).encode(), mtime=0))
    prim.unlink()
    _fix_repomd(repo, "primary", broken)
    r = bad(repo)
    assert broken.name in r.stderr
    # a line number or a byte offset into the XML pointing at the broken tag
    lineno = idx + 1
    offset = len("".join(lines[:idx]).encode()) + lines[idx].index("</nmae>")
    numbers = [int(n) for n in re.findall(r"\d+", r.stderr.replace(broken.name, ""))]
    assert lineno in numbers or any(abs(n - offset) <= len(lines[idx]) for n in numbers), (
        f"neither line {lineno} nor offset ~{offset} named:\n{r.stderr}")


@pytest.mark.parametrize("where", ["mid-package", "package-boundary"])
def test_truncated_xml_document(where, good_repo, tmp_path, bad):
    # valid gzip, valid checksum, but the XML stops early (no closing tags):
    # a partial package list must not be taken for the repo
    repo = _copy(good_repo, tmp_path)
    prim = _md_file(repo, "primary")
    xml = gzip.decompress(prim.read_bytes()).decode()
    starts = [m.start() for m in re.finditer(r"<package ", xml)]
    cut = starts[10] + 40 if where == "mid-package" else starts[10]
    broken = repo / "repodata" / "cut-primary.xml.gz"
    broken.write_bytes(gzip.compress(xml[:cut].encode(), mtime=0))
    prim.unlink()
    _fix_repomd(repo, "primary", broken)
    r = bad(repo)
    assert broken.name in r.stderr


def test_missing_repomd(good_repo, tmp_path, bad):
    repo = _copy(good_repo, tmp_path)
    (repo / "repodata" / "repomd.xml").unlink()
    r = bad(repo)
    assert "repomd.xml" in r.stderr


def test_not_a_repo_at_all(tmp_path, bad):
    r = bad(tmp_path / "nonexistent")
    assert "nonexistent" in r.stderr


def test_repomd_points_at_missing_file(good_repo, tmp_path, bad):
    repo = _copy(good_repo, tmp_path)
    prim = _md_file(repo, "primary")
    prim.unlink()
    r = bad(repo)
    assert prim.name in r.stderr


def test_malformed_repomd(good_repo, tmp_path, bad):
    repo = _copy(good_repo, tmp_path)
    repomd = repo / "repodata" / "repomd.xml"
    repomd.write_text(repomd.read_text().replace("</repomd>", ""))
    r = bad(repo)
    assert "repomd.xml" in r.stderr


def test_repomd_without_primary(good_repo, tmp_path, bad):
    repo = _copy(good_repo, tmp_path)
    repomd = repo / "repodata" / "repomd.xml"
    text = repomd.read_text()
    repomd.write_text(re.sub(r'<data type="primary">.*?</data>', "", text, flags=re.S))
    r = bad(repo)
    assert "primary" in r.stderr


def test_unknown_compression(good_repo, tmp_path, bad):
    repo = _copy(good_repo, tmp_path)
    prim = _md_file(repo, "primary")
    odd = repo / "repodata" / "odd-primary.xml.lz4x"
    odd.write_bytes(prim.read_bytes()[::-1])
    prim.unlink()
    _fix_repomd(repo, "primary", odd)
    r = bad(repo)
    assert odd.name in r.stderr


def test_corrupt_filelists_when_needed(good_repo, tmp_path, bad):
    # filer needs /usr/share/deep/file.txt, which only filelists has
    repo = _copy(good_repo, tmp_path)
    fl = _md_file(repo, "filelists")
    data = bytearray(fl.read_bytes())
    data[len(data) // 2] ^= 0xFF
    fl.write_bytes(bytes(data))
    r = bad(repo)
    assert fl.name in r.stderr


def test_bad_repo_among_good(good_repo, tmp_path, run_strata):
    repo = _copy(good_repo, tmp_path)
    (repo / "repodata" / "repomd.xml").unlink()
    r = run_strata(strata_args({"good": good_repo, "broken": repo}, no_cache=True))
    assert r.returncode == 2
    assert r.stdout == ""
    assert "broken" in r.stderr or str(repo) in r.stderr


def test_bad_repo_argument(run_strata, good_repo):
    r = run_strata(["repoclosure", "--repo", str(good_repo), "--no-cache"])  # no ID=
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.strip()


def test_corruption_not_hidden_by_cache(good_repo, tmp_path, run_strata):
    """A good run fills the cache; the cache must not serve a repo whose files
    now fail verification... or, if it is keyed by the repomd checksum, at
    least a changed repomd must never be served stale (see test_cache)."""
    cache = tmp_path / "cache"
    repo = _copy(good_repo, tmp_path)
    ok = run_strata(strata_args({"r": repo}, cache_dir=cache))
    assert ok.returncode == 0, ok.stderr
    # truncate + fix repomd: new checksum, so no cache entry can match
    prim = _md_file(repo, "primary")
    trunc = repo / "repodata" / "t-primary.xml.gz"
    trunc.write_bytes(prim.read_bytes()[:100])
    prim.unlink()
    _fix_repomd(repo, "primary", trunc)
    r = run_strata(strata_args({"r": repo}, cache_dir=cache))
    assert r.returncode == 2, r
    assert trunc.name in r.stderr
