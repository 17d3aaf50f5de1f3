"""Stand-ins for Pungi, which cannot be installed here (no registry has it).

They follow Pungi 4.3.6's sources (read from a public mirror,
github:yifengyou/pungi, BUILD/pungi-4.3.6: pungi/compose.py,
pungi/paths.py, pungi/wrappers/variants.py, pungi/metadata.py,
pungi/notifier.py, pungi/phases/base.py, pungi/phases/gather,
pungi/phases/createrepo.py, pungi/scripts/pungi_koji.py, pungi/checks.py).
tests/pungi_surface.py lists the names and signatures the phase relies
on; CI checks this stand-in against it, and it is checked against the
real Pungi by hand (`python3 tests/pungi_surface.py` where Pungi is
importable).

``Compose`` mirrors ``pungi.compose.Compose`` as the strata phase uses it:
- ``conf`` (a dict; Pungi's is a kobo ``PyConfigParser`` dict, validated
  by ``checks.validate``, which fills in defaults such as
  ``skip_phases`` and ``createrepo_checksum``), ``config_dir`` (a
  property; Pungi: the directory of ``conf._open_file``), ``topdir``,
  ``skip_phases``, ``just_phases``, ``notifier`` (always set, as
  pungi-koji's main does: ``PhaseBase`` calls ``notifier.send``
  unconditionally), ``variants`` / ``all_variants``,
  ``get_variants(types, arch)`` (sorted, children included),
  ``get_arches()``;
- ``ci_base`` (productmd ``ComposeInfo`` loaded from
  ``work/global/composeinfo-base.json``, written as
  ``pungi.compose.write_compose_info`` does, kept on ``--compose-dir``
  re-runs) and the ``compose_id``, ``compose_date``, ``compose_respin``,
  ``compose_type``, ``compose_label`` properties read from it; ``im``;
- ``log_debug/log_info/log_warning/log_error`` (kobo's ``LoggingBase``:
  to a ``logging.Logger``; also kept in ``messages`` for assertions);
- ``write_status`` / ``get_status`` (``STATUS`` file, same refusal to
  modify a FINISHED compose), ``mkdtemp``;
- ``paths``: ``compose.topdir/tree_dir/os_tree/repository/packages/
  metadata`` (addon variants resolved through the parent as in Pungi),
  ``log.topdir/log_file`` (``logs/<arch>/<name>.<arch>.log``),
  ``work.topdir/tmp_dir``.

What the phases before strata leave in the tree, as Pungi 4.3.6 does it:
``gather`` (the variant's gathered packages, ``compose.gathered``, linked
into ``Packages/``, or ``Packages/<letter>/`` with ``hashed_directories``; ``compose/metadata/rpms.json`` written
afresh), ``createrepo`` (createrepo_c over every non-is_empty variant's
``os/`` and ``source/tree`` from the packages rpms.json lists — an empty
repo for a variant without comps groups; modules.json written afresh),
``write_tree_info`` / ``write_discinfo`` / ``write_media_repo``
(``.treeinfo``, ``.discinfo``, ``media.repo`` in every non-is_empty
variant's trees; like Pungi, the repomd.xml checksum is looked up
relative to the working directory, so in practice left out);
``earlier_phases`` runs them for tests that call the phase directly.
``make_schema`` / ``validate`` mirror ``pungi.checks``: defaults filled
in, values of type ``regex`` compiled, unknown options warned about.

Simplified: no variants.xml parsing (variants are built in Python), no
kobo file loggers, no CTS, dogpile cache, deliverables or old composes,
no debuginfo repos, no buildinstall images in .treeinfo.

``Variant`` mirrors ``pungi.wrappers.variants.Variant``: ``id``, ``uid``
(``parent-id`` for children), ``name``, ``type``, sorted ``arches``,
``parent``, ``is_empty``, ``variants``, ``add_variant``,
``get_variants(arch, types, recursive)``, ordering and hashing.

``write_compose_info`` mirrors ``pungi.metadata.write_compose_info``
(``compose_to_composeinfo`` for the os_tree/repository/packages paths,
paths whose directory does not exist dropped from the dump).

``pungi_modules()`` builds a minimal ``pungi`` package for the entry point
(``pungi.phases``, ``pungi.checks``, ``pungi.metadata``,
``pungi.scripts.pungi_koji``) whose ``run_compose`` keeps the real one's
structure: ``write_status("STARTED")``, ``read_variants``, every phase
constructed in the same order (``pungi.phases.XPhase(compose, ...)``
looked up at call time), the validation loop over the same phases
(``NAME: problem`` lines, then ``RuntimeError("Configuration is not
valid")``), init, pkgset, the essentials weaver (buildinstall, gather +
createrepo doing the work above, extra files, ostree), .treeinfo for every
variant then .discinfo and media.repo, the extra weaver (images, osbs,
repoclosure), ``write_compose_info``, the test phase,
``write_status("FINISHED")``. Other phases only record their start in
``compose.events``. ``cli_main`` mirrors the real one's failure handling
(``log_error("Compose run failed: …")``, ``write_status("DOOMED")``,
``sys.exit(1)``); ``main`` validates ``CONF`` with ``checks.validate``
(printing warnings, failing to start on errors before any compose
directory exists), then makes the compose (``COMPOSE_FACTORY(conf)``)
and calls ``run_compose``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import types

import productmd.composeinfo
import productmd.images


class Variant(object):
    ORDERING = {"variant": 0, "addon": 1, "layered-product": 1, "optional": 2}

    def __init__(self, id, name, type, arches, is_empty=False, parent=None):
        self.id = id
        self.name = name
        self.type = type
        self.arches = sorted(arches)
        self.variants = {}
        self.parent = parent
        self.is_empty = is_empty
        self.groups = []
        self.modules = None
        self.arch_mmds = {}
        self.module_uid_to_koji_tag = {}

    @property
    def uid(self):
        if self.parent:
            return "%s-%s" % (self.parent, self.id)
        return self.id

    def __str__(self):
        return self.uid

    def __eq__(self, other):
        return self.type == other.type and self.uid == other.uid

    def __lt__(self, other):
        return (self.ORDERING[self.type], self.uid) < (self.ORDERING[other.type], other.uid)

    def __hash__(self):
        return hash((self.type, self.uid))

    def add_variant(self, variant):
        if self.type != "variant":
            raise RuntimeError("Only 'variant' can contain another variants.")
        variant.arches = sorted(set(self.arches) & set(variant.arches))
        self.variants[variant.id] = variant
        variant.parent = self

    def get_variants(self, arch=None, types=None, recursive=False):
        types = types or []
        result = []
        for child in self.variants.values():
            if types and child.type not in types:
                continue
            if arch and arch not in child.arches:
                continue
            result.append(child)
            if recursive:
                result.extend(child.get_variants(types=[i for i in types if i != "self"],
                                                 recursive=True))
        return result


def _makedirs(path):
    os.makedirs(path, exist_ok=True)


class ComposePaths(object):
    def __init__(self, compose):
        self.compose = compose

    def topdir(self, arch=None, variant=None, create_dir=True, relative=False):
        if bool(arch) != bool(variant):
            raise TypeError("topdir(): either none or 2 arguments are expected")
        path = "" if relative else os.path.join(self.compose.topdir, "compose")
        if arch or variant:
            if variant.type == "addon":
                return self.topdir(arch, variant.parent, create_dir=create_dir, relative=relative)
            path = os.path.join(path, variant.uid, arch)
        if create_dir and not relative:
            _makedirs(path)
        return path

    def tree_dir(self, arch, variant, create_dir=True, relative=False):
        if arch == "src":
            arch = "source"
        tree = "tree" if arch == "source" else "os"
        path = os.path.join(self.topdir(arch, variant, create_dir=create_dir, relative=relative), tree)
        if create_dir and not relative:
            _makedirs(path)
        return path

    def os_tree(self, arch, variant, create_dir=True, relative=False):
        return self.tree_dir(arch, variant, create_dir=create_dir, relative=relative)

    def repository(self, arch, variant, create_dir=True, relative=False):
        if variant.type == "addon":
            path = self.packages(arch, variant, create_dir=create_dir, relative=relative)
        else:
            path = self.tree_dir(arch, variant, create_dir=create_dir, relative=relative)
        if create_dir and not relative:
            _makedirs(path)
        return path

    def packages(self, arch, variant, create_dir=True, relative=False):
        tree = self.tree_dir(arch, variant, create_dir=create_dir, relative=relative)
        if variant.type == "addon":
            path = os.path.join(tree, "addons", variant.id)
        else:
            path = os.path.join(tree, "Packages")
        if create_dir and not relative:
            _makedirs(path)
        return path

    def iso_dir(self, arch, variant, symlink_to=None, create_dir=True, relative=False):
        if variant.type == "addon":
            return None
        if variant.type == "optional" and not self.compose.conf.get("create_optional_isos", False):
            return None
        if arch == "src":
            arch = "source"
        path = os.path.join(self.topdir(arch, variant, create_dir=create_dir, relative=relative), "iso")
        if symlink_to:
            raise NotImplementedError("the stand-in has no symlink_to (iso_dir)")
        if create_dir and not relative:
            _makedirs(path)
        return path

    def image_dir(self, variant, symlink_to=None, relative=False):
        # The arch is the literal "%(arch)s", as in Pungi.
        path = os.path.join(self.topdir("%(arch)s", variant, create_dir=False, relative=relative),
                            "images")
        if symlink_to:
            raise NotImplementedError("the stand-in has no symlink_to (image_dir)")
        return path

    def metadata(self, file_name=None, create_dir=True, relative=False):
        path = os.path.join(self.topdir(create_dir=create_dir, relative=relative), "metadata")
        if create_dir and not relative:
            _makedirs(path)
        if file_name:
            path = os.path.join(path, file_name)
        return path


class LogPaths(object):
    def __init__(self, compose):
        self.compose = compose

    def topdir(self, arch=None, create_dir=True):
        path = os.path.join(self.compose.topdir, "logs", arch or "global")
        if create_dir:
            _makedirs(path)
        return path

    def log_file(self, arch, log_name, create_dir=True, ext=None):
        ext = ext or "log"
        arch = arch or "global"
        if log_name.endswith(".log"):
            log_name = log_name[:-4]
        return os.path.join(self.topdir(arch, create_dir=create_dir),
                            "%s.%s.%s" % (log_name, arch, ext))


class WorkPaths(object):
    def __init__(self, compose):
        self.compose = compose

    def topdir(self, arch=None, create_dir=True):
        path = os.path.join(self.compose.topdir, "work", arch or "global")
        if create_dir:
            _makedirs(path)
        return path

    def tmp_dir(self, arch=None, variant=None, create_dir=True):
        name = "tmp" + ("-%s" % variant.uid if variant else "")
        path = os.path.join(self.topdir(arch=arch, create_dir=create_dir), name)
        if create_dir:
            _makedirs(path)
        return path


class Paths(object):
    def __init__(self, compose):
        self.compose = ComposePaths(compose)
        self.log = LogPaths(compose)
        self.work = WorkPaths(compose)


class Notifier(object):
    """pungi.notifier.PungiNotifier without a script: ``send`` runs
    nothing; the stand-in keeps the messages."""

    def __init__(self, cmds=None):
        self.cmds = cmds or []
        self.sent = []

    def send(self, msg, workdir=None, **kwargs):
        self.sent.append((msg, kwargs))


def base_conf(**extra):
    """The options a Pungi config must set for compose_to_composeinfo;
    the rest (skip_phases, release_type, createrepo_checksum, …) are
    filled in by :func:`validate`, as pungi.checks.validate does."""
    conf = {"release_name": "Fedora", "release_short": "Fedora", "release_version": "40"}
    conf.update(extra)
    return conf


# ---- pungi.checks ---------------------------------------------------------

UNKNOWN = "WARNING: Unrecognized config option: {0}."


def make_schema():
    """The part of pungi.checks.make_schema the phase and these stand-ins
    touch: top-level properties with Pungi's defaults, no other options
    allowed (unknown ones are warnings)."""
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "Pungi Configuration",
        "type": "object",
        "properties": {
            "release_name": {"type": "string"},
            "release_short": {"type": "string", "pattern": "^[a-zA-Z0-9]+$"},
            "release_version": {"type": "string"},
            "release_type": {"type": "string", "enum": ["fast", "ga", "updates",
                                                        "updates-testing", "eus", "aus",
                                                        "els", "e4s"],
                             "default": "ga"},
            "release_internal": {"type": "boolean", "default": False},
            "skip_phases": {"type": "array", "items": {"type": "string"}, "default": []},
            "hashed_directories": {"type": "boolean", "default": False},
            "createrepo_checksum": {"type": "string", "default": "sha256",
                                    "enum": ["sha1", "sha256", "sha512"]},
            "repoclosure_strictness": {
                "type": "array", "default": [],
                "items": {"type": "array", "items": [
                    {"type": "regex"},
                    {"type": "object", "patternProperties": {
                        ".+": {"type": "string", "enum": ["off", "lenient", "fatal"]}},
                     "additionalProperties": False}],
                    "additionalItems": False, "minItems": 2}},
        },
        "required": ["release_name", "release_short", "release_version"],
        "additionalProperties": False,
    }


def validate(config, offline=False, schema=None):
    """pungi.checks.validate: (errors, warnings). Like Pungi's validator it
    fills in defaults (in `conf`), compiles every value of type "regex"
    ("incorrect regular expression: …") and turns unknown options into
    warnings."""
    import re

    import jsonschema

    schema = schema or make_schema()
    base = jsonschema.Draft4Validator
    validate_properties = base.VALIDATORS["properties"]
    validate_type = base.VALIDATORS["type"]

    def properties(validator, props, instance, sch):
        for prop, sub in props.items():
            if "default" in sub and isinstance(instance, dict) and prop not in instance:
                instance.setdefault(prop, sub["default"])
        for error in validate_properties(validator, props, instance, sch):
            yield error

    def regex_type(validator, types, instance, sch):
        if types == "regex":
            try:
                re.compile(instance)
            except re.error as exc:
                yield jsonschema.ValidationError("incorrect regular expression: %s" % exc)
        else:
            for error in validate_type(validator, types, instance, sch):
                yield error

    checker = base.TYPE_CHECKER.redefine_many({
        "array": lambda _c, x: isinstance(x, (list, tuple)),
        "regex": lambda _c, x: isinstance(x, str)})
    cls = jsonschema.validators.extend(base, {"properties": properties, "type": regex_type},
                                       type_checker=checker)
    errors, warnings = [], []
    for error in cls(schema).iter_errors(config):
        if not error.path and error.validator == "additionalProperties":
            for key in sorted(set(error.instance) - set(error.schema["properties"])):
                warnings.append(UNKNOWN.format(key))
        else:
            errors.append("Failed validation in %s: %s"
                          % (".".join(str(x) for x in error.path), error.message))
    return errors, warnings


def make_compose_dir(topdir, conf, compose_type="nightly", date="20261204", respin=0):
    """pungi.compose.get_compose_info + write_compose_info: the compose ID
    from productmd, COMPOSE_ID and work/global/composeinfo-base.json
    (kept when it exists: pungi-koji --compose-dir)."""
    if os.path.exists(os.path.join(topdir, "work", "global", "composeinfo-base.json")):
        return topdir
    ci = productmd.composeinfo.ComposeInfo()
    ci.release.name = conf["release_name"]
    ci.release.short = conf["release_short"]
    ci.release.version = conf["release_version"]
    ci.release.is_layered = False
    ci.release.type = conf.get("release_type", "ga").lower()
    ci.release.internal = bool(conf.get("release_internal", False))
    ci.compose.type = compose_type
    ci.compose.date = date
    ci.compose.respin = respin
    ci.compose.id = ci.create_compose_id()
    _makedirs(topdir)
    with open(os.path.join(topdir, "COMPOSE_ID"), "w") as f:
        f.write(ci.compose.id)
    work = os.path.join(topdir, "work", "global")
    _makedirs(work)
    ci.dump(os.path.join(work, "composeinfo-base.json"))
    return topdir


class Compose(object):
    def __init__(self, conf, topdir, variants=(), config_dir="", skip_phases=None,
                 just_phases=None, logger=None, notifier=None, gathered=None):
        self.conf = conf
        self.topdir = os.path.abspath(topdir)
        # Pungi: the directory of the config file (conf._open_file).
        self._config_dir = config_dir
        self.skip_phases = skip_phases or []
        self.just_phases = just_phases or []
        # pungi-koji's main always hands one over; PhaseBase uses it
        # unconditionally.
        self.notifier = notifier or Notifier()
        # What the stand-in's gather "gathers": {variant uid: {arch: [RPM]}}.
        self.gathered = gathered or {}
        self._logger = logger or logging.getLogger("pungi-standin")
        self.messages = []
        self.events = []
        self.paths = Paths(self)
        self.ci_base = productmd.composeinfo.ComposeInfo()
        self.ci_base.load(os.path.join(self.paths.work.topdir(arch="global"),
                                       "composeinfo-base.json"))
        self._pending_variants = list(variants)
        self.variants = {}
        self.all_variants = {}
        self.read_variants()
        self.im = productmd.images.Images()
        self.im.compose.id = self.compose_id
        self.im.compose.type = self.compose_type
        self.im.compose.date = self.compose_date
        self.im.compose.respin = self.compose_respin
        self.im.metadata_path = self.paths.compose.metadata()

    def read_variants(self):
        # Pungi parses variants.xml here; the stand-in takes Variant objects.
        self.variants = {v.id: v for v in self._pending_variants}
        self.all_variants = {v.uid: v for v in self.get_variants()}

    @property
    def config_dir(self):
        return self._config_dir

    @property
    def compose_id(self):
        return self.ci_base.compose.id

    @property
    def compose_date(self):
        return self.ci_base.compose.date

    @property
    def compose_respin(self):
        return self.ci_base.compose.respin

    @property
    def compose_type(self):
        return self.ci_base.compose.type

    @property
    def compose_label(self):
        return self.ci_base.compose.label

    @property
    def supported(self):
        return False

    def get_variants(self, types=None, arch=None):
        result = []
        for i in self.variants.values():
            if (not types or i.type in types) and (not arch or arch in i.arches):
                result.append(i)
            result.extend(i.get_variants(types=types, arch=arch))
        return sorted(set(result))

    def get_arches(self):
        return sorted({a for v in self.get_variants() for a in v.arches})

    def _log(self, level, msg, *args):
        text = msg % args if args else msg
        self.messages.append((level, text))
        self._logger.log(level, text)

    def log_debug(self, msg, *args):
        self._log(logging.DEBUG, msg, *args)

    def log_info(self, msg, *args):
        self._log(logging.INFO, msg, *args)

    def log_warning(self, msg, *args):
        self._log(logging.WARNING, msg, *args)

    def log_error(self, msg, *args):
        self._log(logging.ERROR, msg, *args)

    def log_critical(self, msg, *args):
        self._log(logging.CRITICAL, msg, *args)

    def logged(self, level):
        return [t for lv, t in self.messages if lv == level]

    @property
    def status_file(self):
        return os.path.join(self.topdir, "STATUS")

    def get_status(self):
        if not os.path.isfile(self.status_file):
            return None
        with open(self.status_file) as f:
            return f.read().strip()

    def write_status(self, stat_msg):
        old = self.get_status()
        if stat_msg == old:
            return
        if old == "FINISHED":
            msg = "Could not modify a FINISHED compose: %s" % self.topdir
            self.log_error(msg)
            raise RuntimeError(msg)
        with open(self.status_file, "w") as f:
            f.write(stat_msg + "\n")

    def mkdtemp(self, arch=None, variant=None, suffix="", prefix="tmp"):
        return tempfile.mkdtemp(suffix=suffix, prefix=prefix,
                                dir=self.paths.work.tmp_dir(arch=arch, variant=variant))


def compose_to_composeinfo(compose):
    ci = productmd.composeinfo.ComposeInfo()
    ci.compose.id = compose.compose_id
    ci.compose.type = compose.compose_type
    ci.compose.date = compose.compose_date
    ci.compose.respin = compose.compose_respin
    ci.compose.label = compose.compose_label
    ci.compose.final = compose.supported
    ci.release.name = compose.conf["release_name"]
    ci.release.version = compose.conf["release_version"]
    ci.release.short = compose.conf["release_short"]
    ci.release.is_layered = False
    ci.release.type = compose.conf["release_type"].lower()
    ci.release.internal = bool(compose.conf["release_internal"])
    top = compose.paths.compose.topdir().rstrip("/") + "/"

    def rel(path):
        return os.path.relpath(path.rstrip("/") + "/", top).rstrip("/")

    def dump_variant(variant):
        var = productmd.composeinfo.Variant(ci)
        var.id = variant.id.replace("-", "")
        var.uid = variant.uid
        var.name = variant.name
        var.type = variant.type
        var.arches = set(variant.arches)
        for arch in variant.arches:
            p = compose.paths.compose
            var.paths.os_tree[arch] = rel(p.os_tree(arch=arch, variant=variant, create_dir=False))
            var.paths.repository[arch] = rel(p.repository(arch=arch, variant=variant,
                                                          create_dir=False))
            var.paths.packages[arch] = rel(p.packages(arch=arch, variant=variant,
                                                      create_dir=False))
        for v in variant.get_variants(recursive=False):
            var.add(dump_variant(v))
        return var

    for vid in sorted(compose.variants):
        ci.variants.add(dump_variant(compose.variants[vid]))
    return ci


def write_compose_info(compose):
    import copy

    ci = compose_to_composeinfo(compose)
    compose.log_info("[BEGIN] Writing composeinfo")
    path = compose.paths.compose.metadata("composeinfo.json")
    ci_copy = copy.deepcopy(ci)
    for variant in ci_copy.variants.variants.values():
        for field in variant.paths._fields:
            field_paths = getattr(variant.paths, field)
            for arch, dirpath in field_paths.items():
                if not os.path.isdir(os.path.join(compose.paths.compose.topdir(), dirpath)):
                    field_paths[arch] = None
    ci_copy.dump(path)
    compose.log_info("[DONE ] Writing composeinfo")
    compose.events.append("write_compose_info")


# ---- what the phases before strata leave in the tree ----------------------

def _rpm_nevras(path):
    """(NEVRA with epoch, source RPM NEVRA) of an RPM file, by rpm."""
    import subprocess

    out = subprocess.run(
        ["rpm", "-qp", "--nosignature", "--nodigest", "--qf",
         "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH} %{SOURCERPM}", str(path)],
        check=True, capture_output=True, text=True).stdout.split()
    srpm = out[1][:-len(".src.rpm")]
    name, version, release = srpm.rsplit("-", 2)
    return out[0], "%s-0:%s-%s.src" % (name, version, release)


def gather(compose):
    """pungi.phases.gather: links each non-is_empty variant's gathered
    packages (``compose.gathered``) into its ``Packages/`` (``Packages/
    <letter>/`` with ``hashed_directories``, default False) and
    writes compose/metadata/rpms.json afresh (productmd ``Rpms`` with the
    compose header), which later phases read."""
    import productmd.rpms

    manifest = productmd.rpms.Rpms()
    manifest.compose.id = compose.compose_id
    manifest.compose.type = compose.compose_type
    manifest.compose.date = compose.compose_date
    manifest.compose.respin = compose.compose_respin
    top = compose.paths.compose.topdir()
    for variant in compose.get_variants():
        if variant.is_empty:
            continue
        for arch in variant.arches:
            # Pungi's link step makes Packages/ even when nothing is gathered.
            compose.paths.compose.packages(arch, variant)
            for rpm in compose.gathered.get(variant.uid, {}).get(arch, []):
                name = os.path.basename(str(rpm))
                dst_dir = compose.paths.compose.packages(arch, variant)
                if compose.conf["hashed_directories"]:
                    dst_dir = os.path.join(dst_dir, name[0].lower())
                _makedirs(dst_dir)
                dst = os.path.join(dst_dir, name)
                if not os.path.exists(dst):
                    os.link(str(rpm), dst)
                nevra, srpm = _rpm_nevras(dst)
                manifest.add(variant.uid, arch, nevra, os.path.relpath(dst, top), None,
                             "binary", srpm)
    path = compose.paths.compose.metadata("rpms.json")
    compose.log_info("Writing RPM manifest: %s" % path)
    manifest.dump(path)


def createrepo(compose):
    """pungi.phases.createrepo: for every non-is_empty variant, a
    repository in ``os/`` of each arch (and ``source/tree`` for src) made
    by createrepo_c from the packages rpms.json lists (none for a variant
    without comps groups: an empty repo); then modules.json written
    afresh (``ModulesMetadata.write_modules_metadata`` in ``stop``)."""
    import subprocess

    import productmd.modules
    import productmd.rpms

    manifest = productmd.rpms.Rpms()
    manifest.load(compose.paths.compose.metadata("rpms.json"))
    top = compose.paths.compose.topdir()
    for variant in compose.get_variants():
        if variant.is_empty:
            continue
        for arch in variant.arches + ["src"]:
            category = "source" if arch == "src" else "binary"
            repo_dir = compose.paths.compose.repository(arch, variant)
            rpms = []
            for rpms_arch, data in manifest.rpms.get(variant.uid, {}).items():
                if arch != "src" and rpms_arch != arch:
                    continue
                for srpm_data in data.values():
                    for rpm_data in srpm_data.values():
                        if rpm_data["category"] == category:
                            rpms.append(os.path.relpath(os.path.join(top, rpm_data["path"]),
                                                        repo_dir))
            file_list = os.path.join(compose.paths.work.topdir(arch),
                                     "repo_package_list_%s.%s" % (variant.uid, category))
            with open(file_list, "w") as f:
                f.writelines("%s\n" % r for r in sorted(rpms))
            log = compose.paths.log.log_file(arch, "createrepo-%s.%s" % (variant.uid, category))
            with open(log, "w") as f:
                subprocess.run(["createrepo_c", "--update", "--skip-stat", "--no-database",
                                "--checksum", compose.conf["createrepo_checksum"],
                                "--pkglist", file_list, "--outputdir", repo_dir, repo_dir],
                               check=True, stdout=f, stderr=subprocess.STDOUT)
    mods = productmd.modules.Modules()
    mods.compose.id = compose.compose_id
    mods.compose.type = compose.compose_type
    mods.compose.date = compose.compose_date
    mods.compose.respin = compose.compose_respin
    mods.dump(compose.paths.compose.metadata("modules.json"))


def write_tree_info(compose, arch, variant, timestamp=None, bi=None):
    """pungi.metadata.write_tree_info for a variant without buildinstall
    images: .treeinfo in the variant's os tree (src: source/tree) with the
    release, the tree's arch, the variant's packages and repository paths
    relative to the tree and the checksum of repodata/repomd.xml."""
    import time

    import productmd.treeinfo

    if variant.type in ("addon",) or variant.is_empty:
        return
    timestamp = int(timestamp or time.time())
    os_tree = compose.paths.compose.os_tree(arch=arch, variant=variant).rstrip("/") + "/"
    ti = productmd.treeinfo.TreeInfo()
    ti.release.name = compose.conf["release_name"]
    ti.release.version = compose.conf.get("treeinfo_version", compose.conf["release_version"])
    ti.release.short = compose.conf["release_short"]
    ti.release.is_layered = False
    ti.release.type = compose.conf["release_type"].lower()
    ti.tree.arch = arch
    ti.tree.build_timestamp = timestamp
    var = productmd.treeinfo.Variant(ti)
    var.id = variant.id.replace("-", "")
    var.uid = variant.uid
    var.name = variant.name
    var.type = variant.type

    def rel(path):
        return os.path.relpath(path.rstrip("/") + "/", os_tree).rstrip("/") or "."

    p = compose.paths.compose
    var.paths.packages = rel(p.packages(arch=arch, variant=variant, create_dir=False))
    var.paths.repository = rel(p.repository(arch=arch, variant=variant, create_dir=False))
    ti.variants.add(var)
    repomd_path = os.path.join(var.paths.repository, "repodata", "repomd.xml")
    # As in Pungi 4.3.6: the path is tested relative to the working
    # directory (so in practice the checksum is left out), then added
    # relative to the tree.
    if os.path.isfile(repomd_path):
        ti.checksums.add(repomd_path, compose.conf["createrepo_checksum"], root_dir=os_tree)
    path = os.path.join(os_tree, ".treeinfo")
    compose.log_info("Writing treeinfo: %s" % path)
    ti.dump(path)


def _description(compose):
    return "%s %s" % (compose.conf["release_name"], compose.conf["release_version"])


def write_discinfo(compose, arch, variant):
    """pungi.metadata.write_discinfo: timestamp, description, arch, ALL."""
    import time

    if variant.type == "addon":
        return
    path = os.path.join(compose.paths.compose.os_tree(arch, variant), ".discinfo")
    timestamp = os.environ.get("SOURCE_DATE_EPOCH", "%f" % time.time())
    with open(path, "w") as f:
        f.write("%s\n%s\n%s\nALL\n" % (timestamp, _description(compose), arch))
    return timestamp


def write_media_repo(compose, arch, variant, timestamp=None):
    """pungi.metadata.write_media_repo: the [InstallMedia] file."""
    if variant.type == "addon":
        return
    path = os.path.join(compose.paths.compose.os_tree(arch, variant), "media.repo")
    with open(path, "w") as f:
        f.write("\n".join(["[InstallMedia]", "name=%s" % _description(compose),
                           "mediaid=%s" % timestamp, "metadata_expire=-1", "gpgcheck=0",
                           "cost=500", ""]))
    return timestamp


def write_trees(compose):
    """What run_compose does after the essentials: .treeinfo for every
    variant and arch (and src), then .discinfo and media.repo for every
    non-is_empty variant that is not an addon."""
    for variant in compose.get_variants():
        for arch in variant.arches + ["src"]:
            write_tree_info(compose, arch, variant)
    for variant in compose.get_variants():
        if variant.type == "addon" or variant.is_empty:
            continue
        for arch in variant.arches + ["src"]:
            timestamp = write_discinfo(compose, arch, variant)
            write_media_repo(compose, arch, variant, timestamp)


def earlier_phases(compose):
    """What pungi-koji has done to the tree by the time the strata phase
    runs (gather, createrepo, tree metadata)."""
    gather(compose)
    createrepo(compose)
    write_trees(compose)


# ---- a minimal pungi package for the entry point -------------------------

PHASE_ORDER = [
    "init", "pkgset", "buildinstall", "gather", "extra_files", "createrepo",
    "ostree_installer", "ostree", "createiso", "extra_isos", "live_images", "live_media",
    "image_build", "osbuild", "osbs", "image_container", "image_checksum", "repoclosure",
    "test",
]


def pungi_modules(base_cls):
    """{module name: module} for sys.modules: pungi, pungi.phases,
    pungi.phases.base, pungi.checks, pungi.metadata, pungi.scripts,
    pungi.scripts.pungi_koji. `base_cls` is the PhaseBase the phases
    derive from."""
    pungi = types.ModuleType("pungi")
    phases = types.ModuleType("pungi.phases")
    base = types.ModuleType("pungi.phases.base")
    checks = types.ModuleType("pungi.checks")
    metadata = types.ModuleType("pungi.metadata")
    scripts = types.ModuleType("pungi.scripts")
    koji = types.ModuleType("pungi.scripts.pungi_koji")
    base.PhaseBase = base_cls

    work = {"gather": gather, "createrepo": createrepo}

    def phase_class(cls_name, phase_name):
        def __init__(self, compose, *deps):
            base_cls.__init__(self, compose)

        def __init_alone__(self, compose):
            # Pungi's TestPhase takes the compose only.
            base_cls.__init__(self, compose)

        if phase_name == "test":
            __init__ = __init_alone__  # noqa: F811

        def run(self):
            self.compose.events.append(self.name)
            if self.name in work:
                work[self.name](self.compose)

        return type(cls_name, (base_cls,), {"name": phase_name, "__init__": __init__,
                                            "run": run})

    names = {
        "InitPhase": "init", "PkgsetPhase": "pkgset", "BuildinstallPhase": "buildinstall",
        "GatherPhase": "gather", "ExtraFilesPhase": "extra_files",
        "CreaterepoPhase": "createrepo", "OstreeInstallerPhase": "ostree_installer",
        "OSTreePhase": "ostree", "CreateisoPhase": "createiso", "ExtraIsosPhase": "extra_isos",
        "LiveImagesPhase": "live_images", "LiveMediaPhase": "live_media",
        "ImageBuildPhase": "image_build", "OSBuildPhase": "osbuild", "OSBSPhase": "osbs",
        "ImageContainerPhase": "image_container", "ImageChecksumPhase": "image_checksum",
        "RepoclosurePhase": "repoclosure", "TestPhase": "test",
    }
    for cls_name, phase_name in names.items():
        setattr(phases, cls_name, phase_class(cls_name, phase_name))

    class WeaverPhase(object):
        # pungi.phases.weaver.WeaverPhase runs its schema in threads; the
        # stand-in runs it in order (a tuple is one serial pipeline).
        def __init__(self, compose, schema):
            self.schema = schema

        def _run(self, item):
            if isinstance(item, tuple):
                for i in item:
                    self._run(i)
            else:
                item.start()
                item.stop()

        def start(self):
            for item in self.schema:
                self._run(item)

        def stop(self):
            pass

    phases.WeaverPhase = WeaverPhase
    phases.PHASES_NAMES = list(PHASE_ORDER)

    checks.make_schema = make_schema

    def checks_validate(config, offline=False, schema=None):
        # Looked up at call time, as pungi.checks.validate finds make_schema.
        return validate(config, offline=offline, schema=schema or checks.make_schema())

    checks.validate = checks_validate
    metadata.write_compose_info = write_compose_info
    metadata.write_tree_info = write_tree_info
    metadata.write_discinfo = write_discinfo
    metadata.write_media_repo = write_media_repo

    def run_compose(compose, create_latest_link=True, latest_link_status=None,
                    latest_link_components=-1):
        ph = phases
        errors = []
        compose.write_status("STARTED")
        compose.read_variants()
        init_phase = ph.InitPhase(compose)
        pkgset_phase = ph.PkgsetPhase(compose)
        buildinstall_phase = ph.BuildinstallPhase(compose, pkgset_phase)
        gather_phase = ph.GatherPhase(compose, pkgset_phase)
        extrafiles_phase = ph.ExtraFilesPhase(compose, pkgset_phase)
        createrepo_phase = ph.CreaterepoPhase(compose, pkgset_phase)
        ostree_installer_phase = ph.OstreeInstallerPhase(compose, buildinstall_phase,
                                                         pkgset_phase)
        ostree_phase = ph.OSTreePhase(compose, pkgset_phase)
        createiso_phase = ph.CreateisoPhase(compose, buildinstall_phase)
        extra_isos_phase = ph.ExtraIsosPhase(compose, buildinstall_phase)
        liveimages_phase = ph.LiveImagesPhase(compose)
        livemedia_phase = ph.LiveMediaPhase(compose)
        image_build_phase = ph.ImageBuildPhase(compose, buildinstall_phase)
        osbuild_phase = ph.OSBuildPhase(compose)
        osbs_phase = ph.OSBSPhase(compose, pkgset_phase, buildinstall_phase)
        image_container_phase = ph.ImageContainerPhase(compose)
        image_checksum_phase = ph.ImageChecksumPhase(compose)
        repoclosure_phase = ph.RepoclosurePhase(compose)
        test_phase = ph.TestPhase(compose)
        for phase in (init_phase, pkgset_phase, createrepo_phase, buildinstall_phase,
                      gather_phase, extrafiles_phase, createiso_phase, liveimages_phase,
                      livemedia_phase, image_build_phase, image_checksum_phase, test_phase,
                      ostree_phase, ostree_installer_phase, extra_isos_phase, osbs_phase,
                      osbuild_phase, image_container_phase):
            if phase.skip():
                continue
            try:
                phase.validate()
            except ValueError as ex:
                for i in str(ex).splitlines():
                    errors.append("%s: %s" % (phase.name.upper(), i))
        if errors:
            for i in errors:
                compose.log_error(i)
            raise RuntimeError("Configuration is not valid")
        init_phase.start()
        init_phase.stop()
        pkgset_phase.start()
        pkgset_phase.stop()
        essentials = ph.WeaverPhase(compose, (
            buildinstall_phase, (gather_phase, createrepo_phase), extrafiles_phase,
            (ostree_phase, ostree_installer_phase)))
        essentials.start()
        essentials.stop()
        for variant in compose.get_variants():
            for arch in variant.arches + ["src"]:
                metadata.write_tree_info(compose, arch, variant, bi=buildinstall_phase)
        for variant in compose.get_variants():
            if variant.type == "addon" or variant.is_empty:
                continue
            for arch in variant.arches + ["src"]:
                timestamp = metadata.write_discinfo(compose, arch, variant)
                metadata.write_media_repo(compose, arch, variant, timestamp)
        images = ph.WeaverPhase(compose, (createiso_phase, extra_isos_phase, liveimages_phase,
                                          image_build_phase, livemedia_phase, osbuild_phase))
        post_image = ph.WeaverPhase(compose, (image_checksum_phase, image_container_phase))
        extra = ph.WeaverPhase(compose, ((images, post_image), osbs_phase, repoclosure_phase))
        extra.start()
        extra.stop()
        metadata.write_compose_info(compose)
        test_phase.start()
        test_phase.stop()
        compose.write_status("FINISHED")
        compose.log_info("Compose finished: %s" % compose.topdir)

    state = {"compose": None}

    def main():
        # The real main parses arguments, loads the config and makes the
        # compose directory; the test hands over a ready compose.
        # The real main validates the loaded config (offline) and fails to
        # start before the compose directory is made; the factory is
        # handed the validated config to make the compose.
        conf = koji.CONF
        errors, warnings = checks.validate(conf, offline=True)
        for w in warnings:
            print(w, file=sys.stderr)
        if errors:
            for e in errors:
                print(e, file=sys.stderr)
            sys.exit(1)
        compose = koji.COMPOSE_FACTORY(conf)
        state["compose"] = compose
        # The real main calls the module global run_compose (looked up at
        # call time), which is what the entry point replaces.
        koji.run_compose(compose)

    def cli_main():
        try:
            main()
        except (Exception, KeyboardInterrupt) as ex:
            compose = state["compose"]
            if compose:
                compose.log_error("Compose run failed: %s" % ex)
                compose.log_critical("Compose failed: %s" % compose.topdir)
                compose.write_status("DOOMED")
            else:
                print("Exception: %s" % ex)
                raise
            sys.exit(1)

    koji.run_compose = run_compose
    koji.main = main
    koji.cli_main = cli_main
    koji.PHASES_NAMES = phases.PHASES_NAMES
    koji.COMPOSE_FACTORY = None
    koji.CONF = None
    pungi.phases = phases
    pungi.checks = checks
    pungi.metadata = metadata
    pungi.scripts = scripts
    phases.base = base
    scripts.pungi_koji = koji
    return {"pungi": pungi, "pungi.phases": phases, "pungi.phases.base": base,
            "pungi.checks": checks, "pungi.metadata": metadata, "pungi.scripts": scripts,
            "pungi.scripts.pungi_koji": koji}
