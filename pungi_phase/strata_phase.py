"""The ``strata`` phase: module and stack composes inside a Pungi compose.

For every variant and arch that ``strata_modules`` lists definitions for,
the phase composes each definition with Strata's Rust core
(``strata.compose_module``: selection, the repoclosure gate, publishing,
the registry record), then places the result in the Pungi compose tree
as the variant's own repository, ``compose/<Variant>/<arch>/os`` (what
``compose.paths.compose.repository(arch, variant)`` names, and where
Pungi's createrepo phase puts a modular variant's repo with its
modules.yaml), and records the module streams, with their Strata compose
IDs, in ``compose/metadata/modules.json`` (productmd ``Modules``) and
``compose/metadata/strata.json``.

This module is glue: the compose, the gate and the repositories are the
core's; here are only the Pungi conventions (configuration, paths,
strictness, logging, metadata).
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import re
import shutil
import subprocess
import tempfile

from . import schema
from .base import PhaseBase

STRATA_METADATA = "strata.json"


def get_arch_variant_data(conf, var_name, arch, variant):
    """pungi.util.get_arch_variant_data: the values of a list of
    (variant regex, {arch or "*": value}) pairs that apply; "*" does not
    cover "src"."""
    result = []
    for conf_variant, conf_data in conf.get(var_name, []):
        if variant is not None and not re.match(conf_variant, variant.uid):
            continue
        for conf_arch in conf_data:
            if conf_arch != "*" and conf_arch != arch:
                continue
            if conf_arch == "*" and arch == "src":
                continue
            value = conf_data[conf_arch]
            result.extend(value if isinstance(value, list) else [value])
    return result


def strictness(conf, variant, arch):
    """off, lenient or strict ("fatal", Pungi's word, is strict); the last
    matching entry wins, as in Pungi's repoclosure phase."""
    values = get_arch_variant_data(conf, "strata_repoclosure_strictness", arch, variant)
    value = values[-1] if values else schema.DEFAULT_STRICTNESS
    return "strict" if value == "fatal" else value


def report_text(report):
    """A gate report (the core's JSON) in dnf repoclosure's format, with
    the suggested additions."""
    lines = []
    for u in report.get("unresolved", []):
        lines.append("package: %s from %s" % (u["package"], u["repo"]))
        lines.append("  unresolved deps (%d):" % len(u["deps"]))
        lines.extend("    %s" % d for d in u["deps"])
    inst = report.get("installable") or {}
    for u in inst.get("uninstallable", []):
        lines.append("package: %s from %s" % (u["package"], u["repo"]))
        lines.extend("    %s" % p for p in u["problems"])
    sugg = report.get("suggestions") or {}
    adds = sugg.get("additions") or []
    if adds:
        lines.append("suggested additions: " + ", ".join(
            "%s from %s" % (a["package"], a["repo"]) for a in adds))
    return "\n".join(lines)


class StrataPhase(PhaseBase):
    """Module and stack composes by Strata, placed in the compose tree."""

    name = "strata"
    config_options = tuple(sorted(schema.PROPERTIES))

    def __init__(self, compose):
        super(StrataPhase, self).__init__(compose)
        # variant uid -> arch -> what was placed (also strata.json)
        self.results = {}
        # (variant uid, arch, module, report text) of lenient failures
        self.failures = []

    # -- configuration -------------------------------------------------

    def skip(self):
        if super(StrataPhase, self).skip():
            return True
        if not self.compose.conf.get("strata_modules"):
            self.compose.log_info("Config section 'strata_modules' was not found. Skipping.")
            return True
        return False

    def _resolve(self, path):
        base = getattr(self.compose, "config_dir", "") or ""
        return os.path.normpath(os.path.join(base, os.path.expanduser(path)))

    def validate(self):
        """Raises ValueError, one problem per line: the schema (as Pungi's
        checks word it), then every definition (missing file, or the core's
        own validation: ``file:line:col: key: problem``)."""
        import strata

        conf = self.compose.conf
        errors = schema.validate(conf)
        if not errors:
            seen = set()
            for pattern, arches in sorted(conf.get("strata_modules", {}).items()):
                for arch, paths in sorted(arches.items()):
                    for p in paths:
                        full = self._resolve(p)
                        if full in seen:
                            continue
                        seen.add(full)
                        where = "strata_modules.%s.%s: %s" % (pattern, arch, p)
                        if not os.path.isfile(full):
                            errors.append("%s: no such definition file (%s)" % (where, full))
                            continue
                        try:
                            strata.validate_definition(full)
                        except strata.DefinitionError as exc:
                            problems = exc.args[1] if len(exc.args) > 1 else [exc.args[0]]
                            errors.extend("%s: %s" % (where, x) for x in problems)
                        except strata.StrataError as exc:
                            errors.append("%s: %s" % (where, exc))
        if errors:
            raise ValueError("\n".join(errors))

    def definitions(self, variant, arch):
        """The definition files listed for variant.arch, in order."""
        out = []
        for pattern, arches in self.compose.conf.get("strata_modules", {}).items():
            if not re.match(pattern, variant.uid):
                continue
            for conf_arch, paths in arches.items():
                if conf_arch == arch or (conf_arch == "*" and arch != "src"):
                    for p in paths:
                        full = self._resolve(p)
                        if full not in out:
                            out.append(full)
        return out

    # -- running -------------------------------------------------------

    def _strata_kwargs(self):
        conf = self.compose.conf
        kw = {}
        if conf.get("strata_config"):
            kw["config"] = self._resolve(conf["strata_config"])
        if conf.get("strata_registry"):
            kw["registry"] = self._resolve(conf["strata_registry"])
        return kw

    def _out(self):
        conf = self.compose.conf
        if conf.get("strata_out"):
            return self._resolve(conf["strata_out"])
        if conf.get("strata_config"):
            return None  # the configuration's [compose] out
        return os.path.join(self.compose.paths.work.topdir(arch="global"), "strata")

    def run(self):
        import strata

        # Which definitions each variant.arch wants, and the arches of each.
        targets = []
        plan = {}
        for variant in self.compose.get_variants():
            for arch in variant.arches:
                defs = self.definitions(variant, arch)
                if defs:
                    targets.append((variant, arch, defs))
                    for d in defs:
                        plan.setdefault(d, set()).add(arch)

        # One compose per definition, in the order listed (bottom first:
        # a stack builds on what was just composed below it).
        composed = {}
        kw = self._strata_kwargs()
        for path, arches in plan.items():
            self.compose.log_info("[STRATA] composing %s for %s" % (path, ", ".join(sorted(arches))))
            args = dict(kw)
            if self.compose.conf.get("strata_cache_dir"):
                args["cache_dir"] = self._resolve(self.compose.conf["strata_cache_dir"])
            try:
                res = strata.compose_module(
                    path,
                    self._out(),
                    arches=sorted(arches),
                    compose_type=self.compose.compose_type,
                    **args
                )
            except strata.StrataError as exc:
                raise RuntimeError("Strata compose of %s failed: %s" % (path, exc))
            rec = res["record"]
            self.compose.log_info(
                "[STRATA] %s:%s: compose %s %s"
                % (rec["name"], rec["stream"], rec["id"], rec["state"])
            )
            composed[path] = res

        fatal = []
        for variant, arch, defs in targets:
            chosen = []
            entries = []
            for path in defs:
                res = composed[path]
                rec = res["record"]
                module = "%s:%s" % (rec["name"], rec["stream"])
                entry = {"module": module, "definition": path, "compose_id": rec["id"]}
                if res["ok"]:
                    entry["state"] = "composed"
                    chosen.append(rec)
                    entries.append(entry)
                    continue
                level = strictness(self.compose.conf, variant, arch)
                report = res["reports"].get(arch)
                text = report_text(report) if report and report.get("unresolved") is not None else ""
                if not text:
                    # This arch closed; another arch failed the compose.
                    text = rec.get("error") or "the compose failed on another arch"
                msg = "Repoclosure failed for %s (%s) in %s.%s:\n%s" % (
                    module, rec["id"], variant.uid, arch, text)
                log = self.compose.paths.log.log_file(arch, "strata-repoclosure-%s" % variant.uid)
                with open(log, "a") as f:
                    f.write(msg + "\n")
                entry.update(failed_compose_id=rec["id"], strictness=level, report=report)
                if level == "strict":
                    fatal.append(msg)
                    entries.append(entry)
                    continue
                if level == "lenient":
                    self.compose.log_warning(msg)
                    self.failures.append((variant.uid, arch, module, text))
                else:
                    self.compose.log_info(
                        "[STRATA] gate off for %s.%s: %s (%s) not closed, ignored"
                        % (variant.uid, arch, module, rec["id"]))
                good = strata.latest_compose(rec["name"], rec["stream"], **kw)
                if good and arch in (good.get("outputs") or {}).get("repos", {}):
                    entry.update(state="last-good", compose_id=good["id"])
                    chosen.append(good)
                    self.compose.log_info(
                        "[STRATA] %s.%s: %s uses its last good compose %s"
                        % (variant.uid, arch, module, good["id"]))
                else:
                    entry.update(state="missing", compose_id=None)
                    self.compose.log_warning(
                        "[STRATA] %s.%s: %s has no good compose; left out"
                        % (variant.uid, arch, module))
                entries.append(entry)
            self.results.setdefault(variant.uid, {})[arch] = {"modules": entries}
            if fatal:
                continue
            if chosen:
                repo = self._place(variant, arch, chosen)
                self.results[variant.uid][arch]["repository"] = repo
        if fatal:
            self._write_strata_metadata()
            raise RuntimeError("Strata repoclosure failed:\n" + "\n".join(fatal))
        self._write_modules_metadata()
        self._write_strata_metadata()

    # -- placing -------------------------------------------------------

    def _place(self, variant, arch, records):
        """Puts the repository of `records` (their whole-stack repos where
        they are stacks) at compose/<Variant>/<arch>/os, atomically."""
        # A compose that another chosen stack already carries adds nothing.
        inside = set()
        for r in records:
            for i in r.get("inputs", []):
                if i.get("kind") in ("compose", "stack_compose"):
                    inside.add(i.get("ident"))
        tops = [r for r in records if r["id"] not in inside]
        repos = []
        for r in tops:
            d = _published_repo(r, arch)
            if d not in repos:
                repos.append(d)

        target = self.compose.paths.compose.repository(arch, variant, create_dir=False)
        if os.path.isdir(target):
            if os.listdir(target):
                raise RuntimeError(
                    "Variant %s.%s already has a repository at %s (from gather/createrepo): "
                    "give Strata's modules a variant of their own" % (variant.uid, arch, target))
            os.rmdir(target)
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        stage = os.path.join(parent, ".%s.strata-%d" % (os.path.basename(target), os.getpid()))
        if os.path.exists(stage):
            shutil.rmtree(stage)
        try:
            if len(repos) == 1:
                shutil.copytree(repos[0], stage, copy_function=_link_or_copy)
            else:
                _union(repos, stage, self.compose.paths.log.log_file(
                    arch, "strata-createrepo-%s" % variant.uid))
            os.rename(stage, target)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        self.compose.log_info(
            "[STRATA] %s.%s: %s from %s" % (variant.uid, arch, target, ", ".join(repos)))
        return os.path.relpath(target, self.compose.paths.compose.topdir())

    # -- metadata ------------------------------------------------------

    def _write_modules_metadata(self):
        """Adds every placed stream to compose/metadata/modules.json, as
        Pungi's createrepo phase records modular variants (productmd
        Modules: variant, arch, N:S:V:C, modulemd path, rpms). koji_tag
        holds the stream's Strata compose ID (Pungi writes the module
        build's Koji tag there, or DUMMY when it has none)."""
        import productmd.modules

        path = self.compose.paths.compose.metadata("modules.json")
        mods = productmd.modules.Modules()
        if os.path.exists(path):
            mods.load(path)
        else:
            mods.compose.id = self.compose.compose_id
            mods.compose.type = self.compose.compose_type
            mods.compose.date = self.compose.compose_date
            mods.compose.respin = self.compose.compose_respin
        top = self.compose.paths.compose.topdir()
        for vuid, arches in sorted(self.results.items()):
            for arch, res in sorted(arches.items()):
                rel = res.get("repository")
                if not rel:
                    continue
                href, docs = read_modules(os.path.join(top, rel))
                for doc in docs:
                    if doc.get("document") != "modulemd":
                        continue
                    d = doc["data"]
                    uid = "%s:%s:%s:%s" % (d["name"], d["stream"], d["version"], d["context"])
                    cid = ((d.get("xmd") or {}).get("strata") or {}).get("compose_id") or "DUMMY"
                    mods.add(vuid, arch, uid, cid, os.path.join(rel, href), "binary",
                             sorted((d.get("artifacts") or {}).get("rpms", [])))
        mods.dump(path)

    def _write_strata_metadata(self):
        data = {
            "header": {"type": "strata.pungi", "version": "1.0"},
            "compose": {"id": self.compose.compose_id},
            "variants": self.results,
        }
        path = self.compose.paths.compose.metadata(STRATA_METADATA)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.rename(tmp, path)


def _published_repo(record, arch):
    """The repository a module compose offers for `arch`: its whole-stack
    repository when it is a stack (the productmd variant ``<Name>Stack``
    in the compose's own composeinfo.json), else its own."""
    import productmd.composeinfo

    outputs = record.get("outputs") or {}
    own = outputs.get("repos", {}).get(arch)
    if not own:
        raise RuntimeError("Strata compose %s has no %s repository" % (record["id"], arch))
    ci_path = os.path.join(outputs["path"], "compose", "metadata", "composeinfo.json")
    ci = productmd.composeinfo.ComposeInfo()
    ci.load(ci_path)
    for uid, var in sorted(ci.variants.variants.items()):
        if uid.endswith("Stack") and arch in var.paths.repository:
            return os.path.join(outputs["path"], "compose", var.paths.repository[arch])
    return own


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def _decompress(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        return gzip.decompress(raw)
    if raw[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(raw)
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard  # only when a repo uses zstd

        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    return raw


def read_modules(repo):
    """(href of the modules metadata, its YAML documents) of a repo."""
    import xml.etree.ElementTree as ET

    import yaml

    ns = {"r": "http://linux.duke.edu/metadata/repo"}
    root = ET.parse(os.path.join(repo, "repodata", "repomd.xml")).getroot()
    for data in root.findall("r:data", ns):
        if data.get("type") == "modules":
            href = data.find("r:location", ns).get("href")
            return href, list(yaml.safe_load_all(_decompress(os.path.join(repo, href))))
    return None, []


def _doc_key(doc):
    d = doc.get("data", {})
    if doc.get("document") == "modulemd-defaults":
        return ("defaults", d.get("module"))
    return (doc.get("document"), d.get("name"), d.get("stream"), d.get("version"), d.get("context"))


def _union(repos, stage, log_file):
    """One repository of several: the packages hardlinked, repodata by
    createrepo_c and the modules of all of them (each stream once) by
    modifyrepo_c, as Pungi's createrepo phase makes a modular variant."""
    import yaml

    os.makedirs(stage)
    docs = {}
    for repo in repos:
        pkgs = os.path.join(repo, "Packages")
        for dirpath, _dirs, files in os.walk(pkgs):
            for f in files:
                rel = os.path.relpath(os.path.join(dirpath, f), repo)
                dst = os.path.join(stage, rel)
                if not os.path.exists(dst):
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    _link_or_copy(os.path.join(dirpath, f), dst)
        for doc in read_modules(repo)[1]:
            docs.setdefault(_doc_key(doc), doc)
    with open(log_file, "a") as log:
        subprocess.run(["createrepo_c", "--no-database", stage], check=True,
                       stdout=log, stderr=subprocess.STDOUT)
        if docs:
            tmpdir = tempfile.mkdtemp(prefix=".strata-modules-", dir=os.path.dirname(stage))
            mfile = os.path.join(tmpdir, "modules.yaml")
            with open(mfile, "w") as f:
                yaml.safe_dump_all(list(docs.values()), f, explicit_start=True,
                                   explicit_end=True, sort_keys=False)
            try:
                subprocess.run(["modifyrepo_c", "--mdtype=modules", mfile,
                                os.path.join(stage, "repodata")], check=True,
                               stdout=log, stderr=subprocess.STDOUT)
            finally:
                shutil.rmtree(tmpdir, ignore_errors=True)
