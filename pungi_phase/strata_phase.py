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

``strata_artifacts`` lists ``strata-artifact`` definitions the same way:
each is built for each variant and arch listing it
(``strata.compose_artifact``, after the modules), and its image put where
Pungi's image phases put theirs: an ISO in ``compose/<Variant>/<arch>/iso``,
a container's layer (a root filesystem tarball, type ``docker``) in
``compose/<Variant>/<arch>/images``, both in ``compose/metadata/images.json``
(productmd ``Images``); an ostree commit stays in Strata's output and is
named, with every artifact's compose ID and build ID, in strata.json.

This module is glue: the compose, the gate and the repositories are the
core's; here are only the Pungi conventions (configuration, paths,
strictness, logging, metadata).
"""

from __future__ import annotations

import json
import os
import re
import shutil

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
        # release file -> (module definitions bottom first, artifact definitions)
        self._releases = {}

    # -- configuration -------------------------------------------------

    def skip(self):
        if super(StrataPhase, self).skip():
            return True
        conf = self.compose.conf
        if not conf.get("strata_modules") and not conf.get("strata_artifacts"):
            self.compose.log_info("Config section 'strata_modules' was not found. Skipping.")
            return True
        return False

    def _resolve(self, path):
        base = getattr(self.compose, "config_dir", "") or ""
        return os.path.normpath(os.path.join(base, os.path.expanduser(path)))

    def _listed(self, option, value):
        """[(as written, file)] that a value of `option` lists: a list of
        definition paths, or the path of a strata-release document, which
        stands for its modules' definitions (bottom first, as the core
        orders them) in strata_modules and its artifacts' in
        strata_artifacts. Raises StrataError when the release cannot be
        used."""
        if isinstance(value, list):
            return [(p, self._resolve(p)) for p in value]
        release = self._resolve(value)
        if release not in self._releases:
            import strata

            kw = {}
            if self.compose.conf.get("strata_config"):
                kw["config"] = self._resolve(self.compose.conf["strata_config"])
            if self._cache_dir():
                kw["cache_dir"] = self._cache_dir()
            self._releases[release] = strata.release_definitions(release, **kw)
        modules, artifacts = self._releases[release]
        files = modules if option == "strata_modules" else artifacts
        return [("%s: %s" % (value, os.path.basename(f)), os.path.normpath(f)) for f in files]

    def validate(self):
        """Raises ValueError, one problem per line: the schema (as Pungi's
        checks word it), every definition (missing file, or the core's own
        validation: ``file:line:col: key: problem``), then whether each
        definition covers the arches of the variants listing it."""
        errors = self.problems(placement=False)
        if errors:
            raise ValueError("\n".join(errors))

    def problems(self, placement=True):
        """Everything that would make the phase fail before it composes
        anything: configuration, definitions, arch coverage and (with
        `placement`) variants whose tree Pungi has already filled."""
        import strata

        conf = self.compose.conf
        errors = schema.validate(conf)
        if errors:
            return errors
        definitions = {}
        for pattern, arches in sorted(conf.get("strata_modules", {}).items()):
            for arch, value in sorted(arches.items()):
                try:
                    listed = self._listed("strata_modules", value)
                except strata.StrataError as exc:
                    errors.append("strata_modules.%s.%s: %s: %s" % (pattern, arch, value, exc))
                    continue
                for p, full in listed:
                    if full in definitions:
                        continue
                    definitions[full] = None
                    where = "strata_modules.%s.%s: %s" % (pattern, arch, p)
                    if not os.path.isfile(full):
                        errors.append("%s: no such definition file (%s)" % (where, full))
                        continue
                    try:
                        definitions[full] = strata.validate_definition(full)
                    except strata.DefinitionError as exc:
                        problems = exc.args[1] if len(exc.args) > 1 else [exc.args[0]]
                        errors.extend("%s: %s" % (where, x) for x in problems)
                    except strata.StrataError as exc:
                        errors.append("%s: %s" % (where, exc))
        for pattern, arches in sorted(conf.get("strata_artifacts", {}).items()):
            for arch, value in sorted(arches.items()):
                try:
                    listed = self._listed("strata_artifacts", value)
                except strata.StrataError as exc:
                    errors.append("strata_artifacts.%s.%s: %s: %s" % (pattern, arch, value, exc))
                    continue
                for p, full in listed:
                    if not os.path.isfile(full):
                        errors.append("strata_artifacts.%s.%s: %s: no such definition file (%s)"
                                      % (pattern, arch, p, full))
        if errors:
            return errors
        targets = self.targets()
        for variant, arch, defs in targets:
            for path in defs:
                arches = definitions[path].get("arches") or []
                if arch not in arches:
                    errors.append(
                        "strata_modules: %s.%s lists %s, which is composed only for %s: "
                        "add %s to its arches, or list it for those arches only"
                        % (variant.uid, arch, os.path.basename(path),
                           ", ".join(arches) or "no arch", arch))
        if placement and not errors:
            ours = self._previous_placements()
            gathered = self._gathered()
            for variant, arch, _defs in targets:
                problem = self._placement_problem(variant, arch, gathered, ours)
                if problem:
                    errors.append(problem)
        return errors

    def targets(self, option="strata_modules"):
        """[(variant, arch, [definition paths])] of every variant and arch
        that `option` lists definitions for, in Pungi's order."""
        out = []
        for variant in self.compose.get_variants():
            for arch in variant.arches:
                defs = self.definitions(variant, arch, option)
                if defs:
                    out.append((variant, arch, defs))
        return out

    def definitions(self, variant, arch, option="strata_modules"):
        """The definition files `option` lists for variant.arch, in order."""
        out = []
        for pattern, arches in self.compose.conf.get(option, {}).items():
            if not re.match(pattern, variant.uid):
                continue
            for conf_arch, value in arches.items():
                if conf_arch == arch or (conf_arch == "*" and arch != "src"):
                    for _p, full in self._listed(option, value):
                        if full not in out:
                            out.append(full)
        return out

    # -- what is already in the tree -----------------------------------

    def _previous_placements(self):
        """{(variant uid, arch): set of RPM paths (relative to compose/)}
        that an earlier run of this phase placed into this compose
        (``--compose-dir`` re-runs), from its strata.json."""
        path = self.compose.paths.compose.metadata(STRATA_METADATA)
        if not os.path.isfile(path):
            return {}
        with open(path) as f:
            data = json.load(f)
        out = {}
        for vuid, arches in (data.get("variants") or {}).items():
            for arch, res in arches.items():
                out[(vuid, arch)] = set(res.get("rpms") or [])
        return out

    def _gathered(self):
        """{(variant uid, arch): [RPM paths]} that Pungi's gather listed
        in compose/metadata/rpms.json, or None without that file."""
        import productmd.rpms

        path = self.compose.paths.compose.metadata("rpms.json")
        if not os.path.isfile(path):
            return None
        manifest = productmd.rpms.Rpms()
        manifest.load(path)
        out = {}
        for vuid, arches in manifest.rpms.items():
            for arch, srpms in arches.items():
                for rpms in srpms.values():
                    for data in rpms.values():
                        out.setdefault((vuid, arch), []).append(data["path"])
        return out

    def _placement_problem(self, variant, arch, gathered, ours):
        """Why the variant's repository cannot be Strata's, or None: Pungi
        gathered packages into it (rpms.json says so; without rpms.json,
        RPMs lie in its Packages/). Pungi's empty repodata, .treeinfo,
        .discinfo and media.repo, and this phase's own earlier placement,
        are no obstacle."""
        mine = ours.get((variant.uid, arch), set())
        if gathered is not None:
            theirs = [p for p in gathered.get((variant.uid, arch), []) if p not in mine]
            where = "compose/metadata/rpms.json"
        else:
            theirs = []
            top = self.compose.paths.compose.topdir()
            repo = self.compose.paths.compose.repository(arch, variant, create_dir=False)
            for dirpath, _dirs, files in os.walk(os.path.join(repo, "Packages")):
                for f in files:
                    rel = os.path.relpath(os.path.join(dirpath, f), top)
                    if f.endswith(".rpm") and rel not in mine:
                        theirs.append(rel)
            where = "its Packages/"
        if not theirs:
            return None
        return ("Variant %s.%s has %d package(s) from Pungi's gather (%s, per %s): Strata "
                "places a whole repository there, so give its modules a variant of their "
                "own (one without comps groups)"
                % (variant.uid, arch, len(theirs), sorted(theirs)[0], where))

    # -- running -------------------------------------------------------

    def _strata_kwargs(self):
        conf = self.compose.conf
        kw = {}
        if conf.get("strata_config"):
            kw["config"] = self._resolve(conf["strata_config"])
        if conf.get("strata_registry"):
            kw["registry"] = self._resolve(conf["strata_registry"])
        return kw

    def _cache_dir(self):
        conf = self.compose.conf
        return self._resolve(conf["strata_cache_dir"]) if conf.get("strata_cache_dir") else None

    def _out(self):
        conf = self.compose.conf
        if conf.get("strata_out"):
            return self._resolve(conf["strata_out"])
        if conf.get("strata_config"):
            return None  # the configuration's [compose] out
        return os.path.join(self.compose.paths.work.topdir(arch="global"), "strata")

    def run(self):
        import strata

        # Nothing is composed (nor recorded) for a compose that could not
        # take the result: configuration, arches and the tree come first.
        problems = self.problems()
        if problems:
            raise RuntimeError("Strata cannot compose into %s:\n%s"
                               % (self.compose.topdir, "\n".join(problems)))
        targets = self.targets()
        plan = {}
        for _variant, arch, defs in targets:
            for d in defs:
                plan.setdefault(d, set()).add(arch)

        # One compose per definition, in the order listed (bottom first:
        # a stack builds on what was just composed below it).
        composed = {}
        kw = self._strata_kwargs()
        for path, arches in plan.items():
            self.compose.log_info("[STRATA] composing %s for %s" % (path, ", ".join(sorted(arches))))
            args = dict(kw)
            if self._cache_dir():
                args["cache_dir"] = self._cache_dir()
            try:
                # A module whose inputs did not change since its last good
                # compose reuses that compose (content-addressed no-op).
                res = strata.compose_module(
                    path,
                    self._out(),
                    arches=sorted(arches),
                    compose_type=self.compose.compose_type,
                    if_changed=True,
                    **args
                )
            except strata.StrataError as exc:
                raise RuntimeError("Strata compose of %s failed: %s" % (path, exc))
            rec = res["record"]
            self.compose.log_info(
                "[STRATA] %s:%s: compose %s %s"
                % (rec["name"], rec["stream"], rec["id"],
                   "reused (nothing changed)" if res.reused else rec["state"])
            )
            composed[path] = res

        fatal = []
        placed = []
        for variant, arch, defs in targets:
            chosen = []
            entries = []
            for path in defs:
                res = composed[path]
                rec = res["record"]
                module = "%s:%s" % (rec["name"], rec["stream"])
                entry = {"module": module, "definition": path, "compose_id": rec["id"]}
                if res["ok"]:
                    entry["state"] = "reused" if res.reused else "composed"
                    chosen.append(rec)
                    entries.append(entry)
                    continue
                level = strictness(self.compose.conf, variant, arch)
                report = res["reports"].get(arch)
                # The core's own text of the gate report (dnf's format,
                # with the suggested additions).
                text = (res.get("report_texts") or {}).get(arch, "").strip()
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
            if chosen:
                placed.append((variant, arch, chosen))
        if fatal:
            # Every variant was checked first: all failures in one message.
            self._write_strata_metadata()
            raise RuntimeError("Strata repoclosure failed:\n" + "\n".join(fatal))
        merged = []
        for variant, arch, chosen in placed:
            rel, repo = self._place(variant, arch, chosen)
            self.results[variant.uid][arch]["repository"] = rel
            self.results[variant.uid][arch]["rpms"] = sorted(
                os.path.join(rel, p.href) for p in repo.packages)
            merged.append((variant, arch, rel, repo))
        if merged or self.compose.conf.get("strata_modules"):
            self._write_modules_metadata(merged)
            self._write_rpms_metadata(merged)
        self._build_artifacts(kw)
        self._write_strata_metadata()

    # -- artifacts -----------------------------------------------------

    def _build_artifacts(self, kw):
        """Builds every artifact strata_artifacts lists, on the composes
        just made (their last good ones), and places its image."""
        import productmd.images
        import strata

        added = False
        for variant, arch, defs in self.targets("strata_artifacts"):
            for path in defs:
                self.compose.log_info("[STRATA] building artifact %s for %s.%s"
                                      % (path, variant.uid, arch))
                try:
                    rec = strata.compose_artifact(path, self._out(), arch=arch,
                                                  compose_type=self.compose.compose_type, **kw)
                except strata.StrataError as exc:
                    raise RuntimeError("Strata artifact %s failed for %s.%s: %s"
                                       % (path, variant.uid, arch, exc))
                entry = {"definition": path, "compose_id": rec.id, "kind": rec.artifact,
                         "build_id": rec.outputs.build_id, "output": rec.outputs.path}
                produced = os.path.join(rec.outputs.path, "images.json")
                if os.path.isfile(produced):
                    theirs = productmd.images.Images()
                    theirs.load(produced)
                    for arches in theirs.images.values():
                        for images in arches.values():
                            for img in images:
                                entry.setdefault("images", []).append(
                                    self._place_image(variant, arch, rec, img))
                                added = True
                self.results.setdefault(variant.uid, {}).setdefault(arch, {}).setdefault(
                    "artifacts", []).append(entry)
                self.compose.log_info("[STRATA] %s.%s: artifact %s, build ID %s"
                                      % (variant.uid, arch, rec.id, rec.outputs.build_id))
        if added:
            self.compose.im.dump(self.compose.paths.compose.metadata("images.json"))

    def _place_image(self, variant, arch, rec, img):
        """Links an artifact's image into the variant's iso/ (ISOs) or
        images/ (the rest) and adds it to compose.im; gives its path
        relative to compose/."""
        import productmd.images

        if img.type == "dvd":
            dest_dir = self.compose.paths.compose.iso_dir(arch, variant)
        else:
            dest_dir = self.compose.paths.compose.image_dir(variant) % {"arch": arch}
        os.makedirs(dest_dir, exist_ok=True)
        name = os.path.basename(img.path)
        if img.type == "docker":
            # The layer's blob is named by its digest; in the tree it is
            # the artifact's root filesystem tarball.
            name = "%s-%s.tar.gz" % (rec.name, arch)
        dest = os.path.join(dest_dir, name)
        src = os.path.join(rec.outputs.path, img.path)
        if os.path.lexists(dest):
            os.remove(dest)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)
        placed = productmd.images.Image(self.compose.im)
        for attr in ("mtime", "size", "volume_id", "type", "format", "arch", "disc_number",
                     "disc_count", "checksums", "implant_md5", "bootable", "subvariant"):
            setattr(placed, attr, getattr(img, attr))
        placed.path = os.path.relpath(dest, self.compose.paths.compose.topdir())
        self.compose.im.add(variant.uid, arch, placed)
        return placed.path

    # -- placing -------------------------------------------------------

    def _place(self, variant, arch, records):
        """Puts the repository of `records` (their whole-stack repos where
        they are stacks) at the variant's repository,
        compose/<Variant>/<arch>/os: merged by the core beside it, then
        exchanged in one step with the tree there (Pungi's empty repo, or
        this phase's earlier placement); whatever else Pungi put into the
        tree (.treeinfo, .discinfo, media.repo) stays, and .treeinfo is
        brought up to date. Returns (the repository relative to compose/,
        the core's merge result)."""
        import strata

        # A compose that another chosen stack already carries adds nothing.
        inside = set()
        for r in records:
            for i in r.get("inputs", []):
                if i.get("kind") in ("compose", "stack_compose"):
                    inside.add(i.get("ident"))
        repos = []
        for r in records:
            if r["id"] in inside:
                continue
            for d in _published_repos(r, arch, self._strata_kwargs()):
                if d not in repos:
                    repos.append(d)

        target = self.compose.paths.compose.repository(arch, variant, create_dir=False)
        os_tree = self.compose.paths.compose.os_tree(arch, variant, create_dir=False)
        # The usual layout: the variant's tree is its repository, and its
        # .treeinfo is replaced with it.
        is_tree = os.path.normpath(target) == os.path.normpath(os_tree)
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        base = os.path.basename(target)
        stage = os.path.join(parent, ".%s.strata-%d" % (base, os.getpid()))
        if os.path.lexists(stage):
            shutil.rmtree(stage)
        try:
            repo = strata.merge_repositories(repos, stage, cache_dir=self._cache_dir())
        except strata.StrataError as exc:
            raise RuntimeError("Strata cannot make the repository of %s.%s at %s: %s"
                               % (variant.uid, arch, target, exc))
        try:
            if os.path.isdir(target):
                # Whatever else Pungi put into the tree (.treeinfo,
                # .discinfo, media.repo, images) goes into the new tree as
                # hardlinks, .treeinfo is brought up to date there, and the
                # two trees are exchanged in one step: a reader sees the old
                # repository or the new one whole, never new repodata over
                # old packages. The old tree is removed after.
                for name in sorted(os.listdir(target)):
                    if not os.path.lexists(os.path.join(stage, name)):
                        _link_tree(os.path.join(target, name), os.path.join(stage, name))
                if is_tree:
                    self._update_treeinfo(variant, arch, target, stage)
                strata.exchange_directories(stage, target)
            else:
                os.rename(stage, target)
            if not is_tree:
                self._update_treeinfo(variant, arch, target, target)
        except (OSError, strata.StrataError) as exc:
            raise RuntimeError("Strata cannot place the repository of %s.%s at %s: %s"
                               % (variant.uid, arch, target, exc))
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        self.compose.log_info(
            "[STRATA] %s.%s: %s from %s" % (variant.uid, arch, target, ", ".join(repos)))
        return os.path.relpath(target, self.compose.paths.compose.topdir()), repo

    def _update_treeinfo(self, variant, arch, target, placed):
        """Keeps the .treeinfo Pungi wrote into the variant's tree true to
        the repository of `target`, which is at `placed` for now (staged,
        when the tree is the repository and its .treeinfo goes in with
        it): its variant's repository and packages paths and the checksum
        of repodata/repomd.xml (productmd TreeInfo, as
        pungi.metadata.write_tree_info writes it). A tree without
        .treeinfo (is_empty variants) gets none."""
        import productmd.treeinfo

        os_tree = self.compose.paths.compose.os_tree(arch, variant, create_dir=False)
        rel = os.path.relpath(target, os_tree)
        rel = "" if rel == "." else rel
        root = os_tree if rel else placed
        path = os.path.join(root, ".treeinfo")
        if not os.path.isfile(path):
            return
        ti = productmd.treeinfo.TreeInfo()
        ti.load(path)
        for var in ti.variants.get_variants(recursive=True):
            if var.uid == variant.uid:
                var.paths.repository = rel or "."
                var.paths.packages = os.path.join(rel, "Packages")
        checksum = self.compose.conf.get("createrepo_checksum") or "sha256"
        ti.checksums.add(os.path.join(rel, "repodata", "repomd.xml"), checksum, root_dir=root)
        # A new file renamed over the old: a staged .treeinfo is a hardlink
        # of the one in place, which must not change under its readers.
        tmp = path + ".strata-tmp"
        ti.dump(tmp)
        os.rename(tmp, path)

    # -- metadata ------------------------------------------------------

    def _new_metadata(self, cls):
        m = cls()
        m.compose.id = self.compose.compose_id
        m.compose.type = self.compose.compose_type
        m.compose.date = self.compose.compose_date
        m.compose.respin = self.compose.compose_respin
        return m

    def _write_modules_metadata(self, merged):
        """Adds every placed stream to compose/metadata/modules.json, as
        Pungi's createrepo phase records modular variants (productmd
        Modules: variant, arch, N:S:V:C, modulemd path, rpms). koji_tag
        holds the stream's Strata compose ID (Pungi writes the module
        build's Koji tag there, or DUMMY when it has none)."""
        import productmd.modules

        path = self.compose.paths.compose.metadata("modules.json")
        mods = self._new_metadata(productmd.modules.Modules)
        if os.path.exists(path):
            mods.load(path)
        for variant, arch, rel, repo in merged:
            # An earlier run's streams for the variant are this phase's.
            mods.modules.get(variant.uid, {}).pop(arch, None)
            for d in repo.streams if repo.modules_href else []:
                uid = "%s:%s:%s:%s" % (d.name, d.stream, d.version, d.context)
                cid = ((d.xmd or {}).get("strata") or {}).get("compose_id") or "DUMMY"
                mods.add(variant.uid, arch, uid, cid, os.path.join(rel, repo.modules_href),
                         "binary", sorted(d.artifacts))
        mods.dump(path)

    def _write_rpms_metadata(self, merged):
        """Lists every placed RPM in compose/metadata/rpms.json (productmd
        Rpms, where Pungi's gather lists a variant's packages), replacing
        what an earlier run of this phase listed for the variant."""
        import productmd.rpms

        path = self.compose.paths.compose.metadata("rpms.json")
        manifest = self._new_metadata(productmd.rpms.Rpms)
        if os.path.exists(path):
            manifest.load(path)
        for variant, arch, rel, repo in merged:
            mine = manifest.rpms.get(variant.uid, {})
            if arch in mine:
                # Only this phase's RPMs can be there (gathered ones are refused).
                del mine[arch]
            for p in repo.packages:
                category = "source" if p.nevra.endswith(".src") else "binary"
                manifest.add(variant.uid, arch, p.nevra, os.path.join(rel, p.href), None,
                             category, p.srpm_nevra)
        tmp = path + ".strata-tmp"
        manifest.dump(tmp)
        os.rename(tmp, path)

    def _write_strata_metadata(self):
        # A variant.arch this run placed nothing into keeps what an earlier
        # run placed there; its RPMs stay recognisably this phase's.
        for (vuid, arch), rpms in self._previous_placements().items():
            res = self.results.get(vuid, {}).get(arch)
            if res is not None and "rpms" not in res and rpms:
                res["rpms"] = sorted(rpms)
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


def _link_tree(src, dst):
    """`src` again at `dst` without copying: files hardlinked, symlinks
    recreated as they are, directories walked."""
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
    elif os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=True, copy_function=os.link)
    else:
        os.link(src, dst)


def _published_repos(record, arch, kw):
    """The repositories that make up what a module compose offers for
    `arch`: its whole-stack repository when it published one (``[compose]
    stack_repo = "merged"``: the productmd variant ``<Name>Stack`` in the
    compose's own composeinfo.json); else its own repository followed by
    the own repository of every compose below it, as its record names
    them (what its ``<Name>Stack.repo`` lists), for the core to merge."""
    import productmd.composeinfo
    import strata

    outputs = record.get("outputs") or {}
    own = outputs.get("repos", {}).get(arch)
    if not own:
        raise RuntimeError("Strata compose %s has no %s repository" % (record["id"], arch))
    ci_path = os.path.join(outputs["path"], "compose", "metadata", "composeinfo.json")
    ci = productmd.composeinfo.ComposeInfo()
    ci.load(ci_path)
    for uid, var in sorted(ci.variants.variants.items()):
        if uid.endswith("Stack") and arch in var.paths.repository:
            return [os.path.join(outputs["path"], "compose", var.paths.repository[arch])]
    repos = [own]
    for i in record.get("inputs", []):
        if i.get("kind") not in ("compose", "stack_compose"):
            continue
        layer = strata.get_compose(i["ident"], **kw)
        repo = None
        if layer is not None:
            repo = (layer.get("outputs") or {}).get("repos", {}).get(arch)
        if not repo:
            raise RuntimeError("Strata compose %s uses %s (%s), which has no %s repository "
                               "in the registry" % (record["id"], i["ident"], i["name"], arch))
        repos.append(repo)
    return repos
