"""The shipped JSON Schema (schema/strata-module.schema.json) and
`strata validate` agree: what one accepts the other accepts, and each
rejection names the key."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import composekit as ck

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schema" / "strata-module.schema.json").read_text())


def base() -> dict:
    doc = ck.definition(packages=["httpd", "httpd-tools", "mod_ssl"], repos=["/srv/repos/$arch"],
                        requires={"platform": "f40"}, pins={"httpd": "2.4.58-1.fc40"},
                        profiles={"default": ["httpd", "mod_ssl"]}, api=["httpd"])
    doc["data"]["lifecycle"] = {"eol": "2027-12-01"}
    return doc


def mutate(path: str, value):
    doc = base()
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[p]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


# (description, document, key a rejection names)
BAD = [
    ("unknown key", mutate("data.apis", ["httpd"]), "apis"),
    ("wrong document type", mutate("document", "modulemd"), "document"),
    ("wrong version", mutate("version", 2), "version"),
    ("missing summary", mutate("data.summary", KeyError), "summary"),
    ("stream with a dash", mutate("data.stream", "2.4-1"), "stream"),
    ("empty license", mutate("data.license", []), "license"),
    ("hostile package name", mutate("data.packages", {"../etc/passwd": {}}), "packages"),
    ("two sources", mutate("data.source", {"koji": {"tag": "f40"}, "repos": ["/x"]}), "source"),
    ("no source", mutate("data.source", {}), "source"),
    ("noarch is not a compose arch", mutate("data.arches", ["noarch"]), "arches"),
    ("bad eol date", mutate("data.lifecycle", {"eol": "2027-13-01"}), "eol"),
    ("bad service level name", mutate("data.lifecycle", {"eol": "2027-12-01",
                                                         "sla": {"bug fixes": "2027-06-30"}}),
     "sla"),
    ("bad service level date", mutate("data.lifecycle", {"eol": "2027-12-01",
                                                         "sla": {"bug_fixes": "2027-13-31"}}),
     "sla"),
    ("reason must be text", mutate("data.packages", {"httpd": {"reason": ["x"]}}), "reason"),
    ("bad pin", mutate("data.pins", {"httpd": "1:2 3"}), "pins"),
    # What a compose refused later (productmd, dnf, libmodulemd) is in both.
    ("stream productmd refuses", mutate("data.stream", "2..4"), "stream"),
    ("stream dnf refuses", mutate("data.stream", "stable~1"), "stream"),
    ("arch productmd does not know", mutate("data.arches", ["vax"]), "arches"),
    ("control character in the summary", mutate("data.summary", "Apache\x07"), "summary"),
    ("control character in a reason", mutate("data.packages", {"httpd": {"reason": "a\x1b"}}),
     "reason"),
    ("profile name dnf refuses", mutate("data.profiles", {"web%1": ["httpd"]}), "profiles"),
]


def schema_errors(doc) -> list[str]:
    v = jsonschema.Draft202012Validator(SCHEMA)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


def test_schema_is_valid_and_accepts_the_example():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert schema_errors(base()) == []


def test_strata_accepts_the_example(strata_bin, tmp_path):
    s = ck.Site(strata_bin, tmp_path)
    d = ck.write_definition(tmp_path / "ok.yaml", base())
    s.run("validate", d, check_rc=0)


@pytest.mark.parametrize("what,doc,key", BAD, ids=[b[0] for b in BAD])
def test_both_reject(strata_bin, tmp_path, what, doc, key):
    errs = schema_errors(doc)
    assert errs, f"the schema accepts: {what}"
    s = ck.Site(strata_bin, tmp_path)
    d = ck.write_definition(tmp_path / "bad.yaml", copy.deepcopy(doc))
    r = s.run("validate", d, check_rc=1)
    assert "bad.yaml:" in r.stderr and key in r.stderr, r.stderr


def test_cross_field_rules_are_strata_only(strata_bin, tmp_path):
    """What JSON Schema cannot express: pins, profiles and api must name
    manifest packages. strata rejects; the schema documents it."""
    doc = mutate("data.api", ["httpd", "php"])
    assert schema_errors(doc) == []
    s = ck.Site(strata_bin, tmp_path)
    d = ck.write_definition(tmp_path / "x.yaml", doc)
    r = s.run("validate", d, check_rc=1)
    assert "data.api[1]: `php` is not in `packages`" in r.stderr
    assert "cross-field" in SCHEMA["description"] or "pins, profiles and api" in SCHEMA["description"]


def test_example_definitions_in_the_repo_are_valid(strata_bin, tmp_path):
    defs = sorted((ROOT / "examples").rglob("*.yaml"))
    defs = [d for d in defs if yaml.safe_load(d.read_text()).get("document") == "strata-module"]
    assert defs, "no example definitions under examples/"
    s = ck.Site(strata_bin, tmp_path)
    for d in defs:
        assert schema_errors(yaml.safe_load(d.read_text())) == [], d
        s.run("validate", d, check_rc=0)
