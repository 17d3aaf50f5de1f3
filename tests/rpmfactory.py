"""Build real RPMs and rpm-md repositories from Python dicts, for tests.

A package is a dict:

    {"name": "foo", "version": "1.0", "release": "1", "epoch": 0,
     "arch": "noarch" | "x86_64" | "i686" | "aarch64",
     "provides": ["bar = 2"], "requires": ["(a or b)"],
     "requires_pre": ["x"], "conflicts": [...], "obsoletes": [...],
     "recommends": [...], "suggests": [...],
     "files": ["/usr/bin/foo", "/usr/share/foo/d.txt"], "dirs": ["/usr/share/foo"]}

Only "name" is required. Packages are grouped so that one rpmbuild run
builds many of them as `%package -n` subpackages of a single spec (one run
per arch and per repeated name), which keeps a 50-package repo under a
second. Specs use `AutoReqProv: no` and no scriptlets, so the only
dependencies are the ones asked for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

DEFAULTS = {
    "version": "1",
    "release": "1",
    "epoch": None,
    "arch": "noarch",
}

_DEP_TAGS = (
    ("provides", "Provides"),
    ("requires", "Requires"),
    ("requires_pre", "Requires(pre)"),
    ("conflicts", "Conflicts"),
    ("obsoletes", "Obsoletes"),
    ("recommends", "Recommends"),
    ("suggests", "Suggests"),
)


def normalize(pkg: dict) -> dict:
    p = dict(DEFAULTS)
    p.update(pkg)
    for key, _ in _DEP_TAGS:
        p.setdefault(key, [])
    p.setdefault("files", [])
    p.setdefault("dirs", [])
    return p


def nevra(pkg: dict) -> str:
    """NEVRA as dnf prints it: the epoch only when nonzero."""
    p = normalize(pkg)
    e = f"{p['epoch']}:" if p["epoch"] not in (None, 0, "0") else ""
    return f"{p['name']}-{e}{p['version']}-{p['release']}.{p['arch']}"


def _spec(group: list[dict], arch: str, tag: str, srpm: tuple[str, str, str] | None = None) -> str:
    name, version, release = srpm or (f"strata-factory-{tag}", "0", "0")
    lines = [
        "%global debug_package %{nil}",
        "%global __os_install_post %{nil}",
        "%global _build_id_links none",
        "%global __brp_check_rpaths %{nil}",
        "%define _source_payload w0.gzdio",
        "%define _binary_payload w0.gzdio",
        f"Name: {name}",
        f"Version: {version}",
        f"Release: {release}",
        "Summary: test package factory",
        "License: MIT",
        "AutoReqProv: no",
    ]
    if arch == "noarch":
        lines.append("BuildArch: noarch")
    # A binary package named like the source package is the main package.
    main = next((p for p in group if p["name"] == name), None)
    if main is not None:
        if main["epoch"] not in (None, ""):
            lines.append(f"Epoch: {main['epoch']}")
        for key, tagname in _DEP_TAGS:
            for dep in main[key]:
                lines.append(f"{tagname}: {dep}")
    lines += ["", "%description", "factory", ""]
    install = []
    files = []
    for p in group:
        if p is main:
            files.append("%files")
        else:
            lines.append(f"%package -n {p['name']}")
            lines.append(f"Version: {p['version']}")
            lines.append(f"Release: {p['release']}")
            if p["epoch"] not in (None, ""):
                lines.append(f"Epoch: {p['epoch']}")
            lines.append(f"Summary: {p['name']}")
            lines.append("AutoReqProv: no")
            for key, tagname in _DEP_TAGS:
                for dep in p[key]:
                    lines.append(f"{tagname}: {dep}")
            lines += ["", f"%description -n {p['name']}", p["name"], ""]
            files.append(f"%files -n {p['name']}")
        for f in p["files"]:
            d = os.path.dirname(f)
            install.append(f"mkdir -p %{{buildroot}}{d}")
            if p.get("file_size"):
                # Incompressible content of the asked size (benchmarks).
                install.append(f"head -c {int(p['file_size'])} /dev/urandom > %{{buildroot}}{f}")
            else:
                install.append(f"echo {p['name']} > %{{buildroot}}{f}")
            files.append(f)
        for d in p["dirs"]:
            install.append(f"mkdir -p %{{buildroot}}{d}")
            files.append(f"%dir {d}")
        files.append("")
    lines += ["%install", "mkdir -p %{buildroot}"] + install + [""]
    lines += files
    return "\n".join(lines) + "\n"


def _groups(pkgs: list[dict]) -> list[tuple[str, list[dict]]]:
    """Split into (arch, packages) groups with unique names per group."""
    out: list[tuple[str, list[dict]]] = []
    by_arch: dict[str, list[list[dict]]] = {}
    for p in pkgs:
        rounds = by_arch.setdefault(p["arch"], [])
        for r in rounds:
            if all(q["name"] != p["name"] for q in r):
                r.append(p)
                break
        else:
            rounds.append([p])
    for arch, rounds in by_arch.items():
        for r in rounds:
            out.append((arch, r))
    return out


def build_rpms(pkgs: Iterable[dict], outdir: Path, workdir: Path | None = None,
               srpm: tuple[str, str, str] | None = None) -> list[Path]:
    """Build the packages; the .rpm files end up directly in outdir. `srpm`
    (name, version, release) names the source package they come from, as a
    Koji build would; by default a per-group factory name."""
    pkgs = [normalize(p) for p in pkgs]
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(workdir) if workdir else outdir.parent / (outdir.name + ".build")
    workdir.mkdir(parents=True, exist_ok=True)

    def run(i_group):
        i, (arch, group) = i_group
        top = workdir / f"g{i}"
        for sub in ("BUILD", "RPMS", "SOURCES", "SPECS", "SRPMS", "BUILDROOT"):
            (top / sub).mkdir(parents=True, exist_ok=True)
        spec = top / "SPECS" / "t.spec"
        spec.write_text(_spec(group, arch, f"{i}", srpm))
        cmd = ["rpmbuild", "--quiet", "--define", f"_topdir {top}",
               "--define", f"_rpmdir {top}/RPMS",
               "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
               "-bb", str(spec)]
        if arch != "noarch":
            cmd[1:1] = ["--target", arch]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"rpmbuild failed ({arch}):\n{r.stderr}\n--- spec ---\n{spec.read_text()}")
        return list((top / "RPMS").glob("*.rpm"))

    built: list[Path] = []
    groups = list(enumerate(_groups(pkgs)))
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(groups)))) as ex:
        for rpms in ex.map(run, groups):
            for r in rpms:
                # Same-name packages from different groups get distinct file names
                # thanks to VERSION-RELEASE; epoch-only differences need a prefix.
                dest = outdir / r.name
                if dest.exists():
                    dest = outdir / f"{len(built)}-{r.name}"
                shutil.move(str(r), dest)
                built.append(dest)
    shutil.rmtree(workdir, ignore_errors=True)
    if len(built) != len(pkgs):
        raise RuntimeError(f"expected {len(pkgs)} rpms, built {len(built)}")
    return built


def createrepo(repodir: Path, extra_args: Iterable[str] = ()) -> Path:
    r = subprocess.run(["createrepo_c", "--quiet", *extra_args, str(repodir)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"createrepo_c failed: {r.stderr}")
    return Path(repodir)


def make_repo(repodir: Path, pkgs: Iterable[dict], createrepo_args: Iterable[str] = ()) -> Path:
    """Build the packages into repodir and run createrepo_c on it."""
    repodir = Path(repodir)
    build_rpms(pkgs, repodir, repodir.parent / (repodir.name + ".build"))
    return createrepo(repodir, createrepo_args)


# ---------------------------------------------------------------------------
# Metadata-only repositories: rpm-md XML written directly, no payloads.
# For dependency strings rpmbuild refuses (e.g. `(a unless b)` in Requires,
# or `rpmlib(...)` requires, which createrepo_c drops) and for large repos.
# The XML mirrors what createrepo_c 0.17 writes.

import gzip as _gzip
import hashlib as _hashlib
from xml.sax.saxutils import quoteattr as _qa, escape as _esc

_FLAGS = {"=": "EQ", "<": "LT", ">": "GT", "<=": "LE", ">=": "GE"}


def _split_evr(evr: str) -> tuple[str, str, str | None]:
    epoch = "0"
    if ":" in evr:
        epoch, evr = evr.split(":", 1)
    rel = None
    if "-" in evr:
        evr, rel = evr.rsplit("-", 1)
    return epoch, evr, rel


def _entry(dep: str, pre: bool = False) -> str:
    dep = dep.strip()
    parts = dep.split()
    pre_attr = ' pre="1"' if pre else ""
    if dep.startswith("(") or len(parts) != 3 or parts[1] not in _FLAGS:
        return f"      <rpm:entry name={_qa(dep)}{pre_attr}/>"
    name, op, evr = parts
    e, v, r = _split_evr(evr)
    rel = f" rel={_qa(r)}" if r is not None else ""
    return (f"      <rpm:entry name={_qa(name)} flags=\"{_FLAGS[op]}\" epoch={_qa(e)} "
            f"ver={_qa(v)}{rel}{pre_attr}/>")


def _pkgid(p: dict) -> str:
    return _hashlib.sha256(nevra(p).encode() + repr(sorted(p.items())).encode()).hexdigest()


def _is_primary_file(path: str) -> bool:
    return path.startswith("/etc/") or "bin/" in path or path == "/usr/lib/sendmail"


def write_md_repo(repodir: Path, pkgs: Iterable[dict], compress: str = "gz") -> Path:
    """Write primary/filelists/other + repomd.xml for the packages (no RPMs)."""
    pkgs = [normalize(p) for p in pkgs]
    repodir = Path(repodir)
    md = repodir / "repodata"
    md.mkdir(parents=True, exist_ok=True)
    prim = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<metadata xmlns="http://linux.duke.edu/metadata/common" '
        f'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="{len(pkgs)}">',
    ]
    fl = ['<?xml version="1.0" encoding="UTF-8"?>',
          f'<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="{len(pkgs)}">']
    oth = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="{len(pkgs)}">']
    for p in pkgs:
        e = str(p["epoch"] or 0)
        pid = _pkgid(p)
        ver = f'<version epoch="{e}" ver={_qa(p["version"])} rel={_qa(p["release"])}/>'
        prim += [
            '<package type="rpm">',
            f"  <name>{_esc(p['name'])}</name>",
            f"  <arch>{p['arch']}</arch>",
            f"  {ver}",
            f'  <checksum type="sha256" pkgid="YES">{pid}</checksum>',
            f"  <summary>{_esc(p['name'])}</summary>",
            f"  <description>{_esc(p['name'])}</description>",
            "  <packager></packager>", "  <url></url>",
            '  <time file="1" build="1"/>',
            '  <size package="1" installed="0" archive="0"/>',
            f'  <location href={_qa(p.get("location") or nevra(dict(p, epoch=None)) + ".rpm")}/>',
            "  <format>",
            "    <rpm:license>MIT</rpm:license>", "    <rpm:vendor></rpm:vendor>",
            "    <rpm:group>Unspecified</rpm:group>", "    <rpm:buildhost>x</rpm:buildhost>",
            f"    <rpm:sourcerpm>{_esc(p['name'])}-{p['version']}-{p['release']}.src.rpm</rpm:sourcerpm>",
            '    <rpm:header-range start="0" end="1"/>',
        ]
        provides = [f"{p['name']} = {e}:{p['version']}-{p['release']}"] + list(p["provides"])
        sections = [("provides", [(d, False) for d in provides]),
                    ("requires", [(d, False) for d in p["requires"]] + [(d, True) for d in p["requires_pre"]]),
                    ("conflicts", [(d, False) for d in p["conflicts"]]),
                    ("obsoletes", [(d, False) for d in p["obsoletes"]]),
                    ("recommends", [(d, False) for d in p["recommends"]]),
                    ("suggests", [(d, False) for d in p["suggests"]])]
        for tag, deps in sections:
            if not deps:
                continue
            prim.append(f"    <rpm:{tag}>")
            prim += [_entry(d, pre) for d, pre in deps]
            prim.append(f"    </rpm:{tag}>")
        for f in p["files"]:
            if _is_primary_file(f):
                prim.append(f"    <file>{_esc(f)}</file>")
        for d in p["dirs"]:
            if _is_primary_file(d):
                prim.append(f'    <file type="dir">{_esc(d)}</file>')
        prim += ["  </format>", "</package>"]
        fl.append(f'<package pkgid="{pid}" name={_qa(p["name"])} arch="{p["arch"]}">')
        fl.append(f"  {ver}")
        fl += [f"  <file>{_esc(f)}</file>" for f in p["files"]]
        fl += [f'  <file type="dir">{_esc(d)}</file>' for d in p["dirs"]]
        fl.append("</package>")
        oth += [f'<package pkgid="{pid}" name={_qa(p["name"])} arch="{p["arch"]}">', f"  {ver}",
                "</package>"]
    prim.append("</metadata>")
    fl.append("</filelists>")
    oth.append("</otherdata>")
    entries = []
    for mdtype, lines in (("primary", prim), ("filelists", fl), ("other", oth)):
        raw = ("\n".join(lines) + "\n").encode()
        data = _compress(raw, compress)
        csum = _hashlib.sha256(data).hexdigest()
        ext = {"gz": ".gz", "xz": ".xz", "zst": ".zst", "bz2": ".bz2", "none": ""}[compress]
        fname = f"{csum}-{mdtype}.xml{ext}"
        (md / fname).write_bytes(data)
        entries.append(
            f'  <data type="{mdtype}">\n'
            f'    <checksum type="sha256">{csum}</checksum>\n'
            f'    <open-checksum type="sha256">{_hashlib.sha256(raw).hexdigest()}</open-checksum>\n'
            f'    <location href="repodata/{fname}"/>\n'
            f"    <timestamp>1</timestamp>\n"
            f"    <size>{len(data)}</size>\n"
            f"    <open-size>{len(raw)}</open-size>\n"
            f"  </data>")
    (md / "repomd.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">\n'
        "  <revision>1</revision>\n" + "\n".join(entries) + "\n</repomd>\n")
    return repodir


def _compress(raw: bytes, how: str) -> bytes:
    if how == "gz":
        return _gzip.compress(raw, mtime=0)
    if how == "none":
        return raw
    if how == "xz":
        import lzma
        return lzma.compress(raw)
    if how == "bz2":
        import bz2
        return bz2.compress(raw)
    if how == "zst":
        import subprocess as sp
        return sp.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
    raise ValueError(how)


# ---------------------------------------------------------------------------
# Editing a repository's metadata in place, as a hostile (or broken) source
# would: the edited file is recompressed as it was, and repomd.xml gets its
# new checksums and sizes, so only the intended problem remains.

import re as _re

_MAGIC = ((b"\x1f\x8b", "gz"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zst"), (b"BZh", "bz2"))


def _decompress(data: bytes) -> tuple[bytes, str]:
    how = next((h for m, h in _MAGIC if data.startswith(m)), "none")
    if how == "gz":
        return _gzip.decompress(data), how
    if how == "xz":
        import lzma
        return lzma.decompress(data), how
    if how == "bz2":
        import bz2
        return bz2.decompress(data), how
    if how == "zst":
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, capture_output=True,
                              check=True).stdout, how
    return data, how


def md_path(repodir: Path, mdtype: str) -> Path:
    """The file repomd.xml names for `mdtype`."""
    text = (Path(repodir) / "repodata" / "repomd.xml").read_text()
    m = _re.search(rf'<data type="{mdtype}">.*?<location href="([^"]+)"', text, _re.S)
    assert m, f"no {mdtype} in {repodir}/repodata/repomd.xml"
    return Path(repodir) / m.group(1)


def read_metadata(repodir: Path, mdtype: str) -> str:
    """The decompressed text of one metadata file."""
    return _decompress(md_path(repodir, mdtype).read_bytes())[0].decode()


def edit_metadata(repodir: Path, mdtype: str, edit) -> Path:
    """Rewrites the `mdtype` file through `edit(text) -> text` and updates
    its entry in repomd.xml (in the checksum type repomd.xml uses)."""
    repodir = Path(repodir)
    path = md_path(repodir, mdtype)
    opened, how = _decompress(path.read_bytes())
    new_open = edit(opened.decode()).encode()
    new = _compress(new_open, how)
    path.write_bytes(new)
    repomd = repodir / "repodata" / "repomd.xml"
    text = repomd.read_text()
    m = _re.search(rf'(<data type="{mdtype}">)(.*?)(</data>)', text, _re.S)
    block = m.group(2)
    kind = _re.search(r'<checksum type="([^"]+)"', block).group(1)

    def digest(b: bytes) -> str:
        return _hashlib.new({"sha": "sha1"}.get(kind, kind), b).hexdigest()

    block = _re.sub(r'(<checksum type="[^"]+">)[^<]*', lambda x: x.group(1) + digest(new), block)
    block = _re.sub(r'(<open-checksum type="[^"]+">)[^<]*', lambda x: x.group(1) + digest(new_open),
                    block)
    block = _re.sub(r"<size>\d+</size>", f"<size>{len(new)}</size>", block)
    block = _re.sub(r"<open-size>\d+</open-size>", f"<open-size>{len(new_open)}</open-size>", block)
    repomd.write_text(text[:m.start(2)] + block + text[m.end(2):])
    return path


def edit_package(repodir: Path, name: str, href: str | None = None, size: int | None = None,
                 checksum: str | None = None, description: str | None = None) -> None:
    """Changes what primary.xml says about package `name`: its location
    href, its package size, its sha256 checksum (also its pkgid in
    filelists.xml and other.xml) or its description (raw XML)."""
    old_id = {}

    def primary(text: str) -> str:
        pat = _re.compile(rf'<package type="rpm">(?:(?!</package>).)*?<name>{_re.escape(name)}</name>'
                          r'.*?</package>', _re.S)
        m = pat.search(text)
        assert m, f"no package {name} in primary.xml"
        rec = m.group(0)
        old_id["v"] = _re.search(r'<checksum type="[^"]+" pkgid="YES">([^<]+)</checksum>', rec).group(1)
        if href is not None:
            rec = _re.sub(r'<location href="[^"]*"', f'<location href="{href}"', rec)
        if size is not None:
            rec = _re.sub(r'<size package="\d+"', f'<size package="{size}"', rec)
        if checksum is not None:
            rec = _re.sub(r'<checksum type="[^"]+" pkgid="YES">[^<]+</checksum>',
                          f'<checksum type="sha256" pkgid="YES">{checksum}</checksum>', rec)
        if description is not None:
            rec = _re.sub(r"<description>.*?</description>", f"<description>{description}</description>",
                          rec, flags=_re.S)
        return text[:m.start()] + rec + text[m.end():]

    edit_metadata(repodir, "primary", primary)
    if checksum is not None:
        for mdtype in ("filelists", "other"):
            edit_metadata(repodir, mdtype,
                          lambda t: t.replace(f'pkgid="{old_id["v"]}"', f'pkgid="{checksum}"'))
