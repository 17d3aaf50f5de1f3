"""Module definitions as hostile input, through the real CLI and the Python
binding: every problem at once with its line and column; one validation for
`strata validate` and `strata compose module` (a definition validate
accepts is one compose does not refuse later); byte order marks and
encodings; size, nesting and aliases refused before any real parsing, under
a memory and CPU limit that the old quadratic parse exceeded."""

from __future__ import annotations

import os
import resource
import subprocess

import pytest
import yaml

import composekit as ck
import strata


def good() -> dict:
    return ck.definition(packages=["httpd", "mod_ssl"], repos=["/nonexistent/repo"],
                         requires={"platform": "f40"}, profiles={"default": ["httpd"]})


def problem_lines(stderr: str, path) -> list[str]:
    """The `file:line:col: key: problem` lines of a DefinitionError."""
    return [line.strip() for line in stderr.splitlines() if line.strip().startswith(f"{path}:")]


def validate_and_compose(site: ck.Site, path) -> list[str]:
    """Runs `strata validate` (exit 1: the definition is invalid) and
    `strata compose module` (exit 2: refused) on `path`; both must name the
    same problems, and the compose must have done nothing."""
    v = site.run("validate", path, check_rc=1)
    c = site.compose(path, check_rc=2)
    assert c.stdout == ""
    problems = problem_lines(v.stderr, path)
    assert problems, v.stderr
    assert problem_lines(c.stderr, path) == problems, (v.stderr, c.stderr)
    assert f"error: {path} is not a valid strata-module document" in c.stderr, c.stderr
    assert site.list() == []
    assert not site.out.exists() or not any(site.out.iterdir())
    return problems


def test_every_problem_at_once_with_line_and_column(strata_bin, tmp_path):
    site = ck.Site(strata_bin, tmp_path)
    d = tmp_path / "bad.yaml"
    d.write_text(
        "document: strata-module\n"
        "version: 1\n"
        "data:\n"
        "  name: apache\n"
        "  stream: 2..4\n"
        "  description: The Apache web server.\n"
        "  license: MIT\n"
        "  source: {repos: [/srv/x]}\n"
        "  packages: {httpd: {reason: the server}}\n"
        "  apis: [httpd]\n")
    problems = validate_and_compose(site, d)
    assert problems == [
        f"{d}:3:1: data: missing required field `summary`",
        f"{d}:5:11: data.stream: the stream `2..4` starts with a digit, so productmd requires it "
        "to be numbers joined by single dots (like `2.4`)",
        f"{d}:7:12: data.license: expected a list, found text `MIT`",
        f"{d}:10:3: data: unknown field `apis`, expected one of `name`, `stream`, `summary`, "
        "`description`, `license`, `arches`, `source`, `requires`, `compose_pins`, `packages`, "
        "`pins`, `profiles`, `api`, `lifecycle`",
    ]
    # The Python binding raises the same problems, as the Koji builder and
    # the Pungi phase show them.
    with pytest.raises(strata.DefinitionError) as e:
        strata.validate_definition(d)
    assert e.value.args[1] == problems


# (what, change to the good definition's data, key the problem names, words of the problem)
REFUSED_LATER = [
    ("stream 2..4 (productmd)", {"stream": "2..4"}, "data.stream", "numbers joined by single dots"),
    ("stream 2.4a (productmd)", {"stream": "2.4a"}, "data.stream", "numbers joined by single dots"),
    ("stream with ~ (dnf)", {"stream": "stable~1"}, "data.stream", "contains '~'"),
    ("bell in the summary", {"summary": "Apache\x07"}, "data.summary", "control character"),
    ("escape in the description", {"description": "a\x1bb"}, "data.description",
     "control character"),
    ("carriage return in a reason", {"packages": {"httpd": {"reason": "a\rb"}, "mod_ssl": {}}},
     "data.packages.httpd.reason", "control character '\\r'"),
    ("unknown arch (productmd)", {"arches": ["x86_64", "vax"]}, "data.arches[1]",
     "not an architecture"),
    ("30 February (libmodulemd)", {"lifecycle": {"eol": "2027-02-30"}}, "data.lifecycle.eol",
     "is not a date"),
    ("profile name with % (dnf)", {"profiles": {"web%1": ["httpd"]}}, "data.profiles.web%1",
     "not a valid profile name"),
    ("module name with / (compose ID)", {"name": "a/b"}, "data.name", "contains '/'"),
]


@pytest.mark.parametrize("what,change,key,words", REFUSED_LATER, ids=[r[0] for r in REFUSED_LATER])
def test_validate_refuses_what_compose_refuses(strata_bin, tmp_path, what, change, key, words):
    site = ck.Site(strata_bin, tmp_path)
    doc = good()
    doc["data"].update(change)
    d = ck.write_definition(tmp_path / "m.yaml", doc)
    problems = validate_and_compose(site, d)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{d}:") and f": {key}: " in problems[0], problems
    assert words in problems[0], problems


def test_byte_order_marks_and_encodings(strata_bin, tmp_path):
    site = ck.Site(strata_bin, tmp_path)
    text = yaml.safe_dump(good(), sort_keys=False)
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    r = site.run("validate", bom, check_rc=0)
    assert "OK (apache:2.4, 2 packages)" in r.stdout
    # Positions after a BOM are those an editor shows.
    bad = tmp_path / "bom-bad.yaml"
    bad.write_bytes(b"\xef\xbb\xbf" + text.replace("version: 1", "version: 2").encode())
    assert validate_and_compose(site, bad) == [
        f"{bad}:2:10: version: this Strata reads version 1, found 2"]
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_bytes(text.encode("utf-16"))
    [p] = validate_and_compose(site, utf16)
    assert p == (f"{utf16}:1:1: the file starts with a UTF-16 byte order mark: it is UTF-16, "
                 "not UTF-8; save it as UTF-8")
    latin1 = tmp_path / "latin1.yaml"
    data = text.replace("The apache module,", "Caf\xe9 module,").encode("latin-1")
    latin1.write_bytes(data)
    offset = data.index(b"\xe9")
    line = data[:offset].count(b"\n") + 1
    column = len(data[:offset].rsplit(b"\n", 1)[-1]) + 1
    [p] = validate_and_compose(site, latin1)
    assert p == (f"{latin1}:{line}:{column}: not UTF-8: byte 0xE9 at offset {offset} is not "
                 "valid UTF-8; a definition must be UTF-8 text")


def _limited():
    # The old parse took minutes of CPU on these files (quadratic in the
    # nesting); the new one stops at the limits straight away. A resource
    # limit, not a timer: a run over it is killed (SIGXCPU / out of memory).
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (20, 20))


def run_limited(strata_bin, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("STRATA_CONFIG", None)
    return subprocess.run([str(strata_bin), *map(str, args)], capture_output=True, text=True,
                          env=env, preexec_fn=_limited, timeout=600)


HOSTILE = {
    # 100,000 nested `[`: 100 KB.
    "deep-flow": lambda: "document: strata-module\nversion: 1\ndata: " + "[" * 100_000 + "\n",
    # 4 MB of nested flow mappings.
    "big-nested": lambda: "document: strata-module\nversion: 1\ndata: " + "{a: " * (1 << 20),
    # Billion laughs: nine levels of aliases, each ten of the one below.
    "laughs": lambda: "document: strata-module\nversion: 1\ndata:\n  a0: &a0 [lol]\n" + "".join(
        f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)),
    # Block nesting, 40 levels.
    "deep-block": lambda: "document: strata-module\nversion: 1\ndata:\n" + "".join(
        "  " * (i + 1) + f"k{i}:\n" for i in range(40)),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_definitions_fail_fast_with_bounded_memory(strata_bin, tmp_path, name):
    d = tmp_path / f"{name}.yaml"
    d.write_text(HOSTILE[name]())
    r = run_limited(strata_bin, "validate", d)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    [p] = problem_lines(r.stderr, d)
    if name == "big-nested":
        assert p == (f"{d}: the file is larger than 1 MiB (1048576 bytes), the most a module "
                     "definition may be"), p
    elif name == "laughs":
        assert p == (f"{d}:4:7: YAML anchors (`&name`) and aliases (`*name`) are not allowed "
                     "in a definition: write each value out"), p
    else:
        assert p.endswith(": nested deeper than 32 levels; a definition needs 4"), p
    # compose refuses it the same way, before opening any source.
    site = ck.Site(strata_bin, tmp_path / "site")
    r = run_limited(strata_bin, *site.compose_args(d))
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert problem_lines(r.stderr, d) == [p]


def test_a_fifo_is_refused_without_waiting_for_a_writer(strata_bin, tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    site = ck.Site(strata_bin, tmp_path)
    r = site.run("validate", fifo, timeout=120, check_rc=1)
    assert problem_lines(r.stderr, fifo) == [
        f"{fifo}: this is a FIFO; a module definition must be a regular file"]
