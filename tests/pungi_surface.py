"""The part of Pungi that pungi_phase (and tests/pungi_standin.py for it)
relies on, as Pungi 4.3.6 has it: names and call signatures.

CI (tests/test_pungi_phase.py) checks the stand-in against this list, so
the stand-in cannot drift from it. Checked against a real Pungi tree by
hand, where Pungi is importable:

    python3 tests/pungi_surface.py        # exit 0: every entry matches

Entries are (real name, stand-in name, what):
- a signature string, e.g. ``"(compose, arch, variant)"``: a function or
  method with exactly that signature;
- ``"class"``, ``"list"``: an object of that kind;
- ``"property"``: a property of the class;
- ``"attr"``: an attribute its ``__init__`` sets (``self.NAME =``).
Stand-in names are attributes of tests/pungi_standin.py, or ``pungi.…``
for the modules its ``pungi_modules()`` builds.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import textwrap

SURFACE = [
    # The phase's base class (pungi_phase/base.py mirrors it).
    ("pungi.phases.base.PhaseBase", "pungi.phases.base.PhaseBase", "class"),
    ("pungi.phases.base.PhaseBase.__init__", "pungi.phases.base.PhaseBase.__init__",
     "(self, compose)"),
    ("pungi.phases.base.PhaseBase.skip", "pungi.phases.base.PhaseBase.skip", "(self)"),
    ("pungi.phases.base.PhaseBase.start", "pungi.phases.base.PhaseBase.start", "(self)"),
    ("pungi.phases.base.PhaseBase.stop", "pungi.phases.base.PhaseBase.stop", "(self)"),
    ("pungi.phases.base.PhaseBase.validate", "pungi.phases.base.PhaseBase.validate", "(self)"),
    # What the entry point adapts.
    ("pungi.phases.PHASES_NAMES", "pungi.phases.PHASES_NAMES", "list"),
    ("pungi.phases.TestPhase", "pungi.phases.TestPhase", "class"),
    ("pungi.phases.TestPhase.__init__", "pungi.phases.TestPhase.__init__",
     "(self, compose)"),
    ("pungi.checks.make_schema", "pungi.checks.make_schema", "()"),
    ("pungi.checks.validate", "pungi.checks.validate", "(config, offline=False, schema=None)"),
    ("pungi.checks.validate", "validate", "(config, offline=False, schema=None)"),
    ("pungi.metadata.write_compose_info", "pungi.metadata.write_compose_info", "(compose)"),
    ("pungi.metadata.write_tree_info", "pungi.metadata.write_tree_info",
     "(compose, arch, variant, timestamp=None, bi=None)"),
    ("pungi.metadata.write_discinfo", "pungi.metadata.write_discinfo",
     "(compose, arch, variant)"),
    ("pungi.metadata.write_media_repo", "pungi.metadata.write_media_repo",
     "(compose, arch, variant, timestamp=None)"),
    ("pungi.scripts.pungi_koji.run_compose", "pungi.scripts.pungi_koji.run_compose",
     "(compose, create_latest_link=True, latest_link_status=None, "
     "latest_link_components=-1)"),
    ("pungi.scripts.pungi_koji.main", "pungi.scripts.pungi_koji.main", "()"),
    ("pungi.scripts.pungi_koji.cli_main", "pungi.scripts.pungi_koji.cli_main", "()"),
    # The compose as the phase reads it.
    ("pungi.compose.Compose.__init__", "Compose.__init__", None),
    ("pungi.compose.Compose.conf", "Compose.conf", "attr"),
    ("pungi.compose.Compose.topdir", "Compose.topdir", "attr"),
    ("pungi.compose.Compose.paths", "Compose.paths", "attr"),
    ("pungi.compose.Compose.notifier", "Compose.notifier", "attr"),
    ("pungi.compose.Compose.skip_phases", "Compose.skip_phases", "attr"),
    ("pungi.compose.Compose.just_phases", "Compose.just_phases", "attr"),
    ("pungi.compose.Compose.variants", "Compose.variants", "attr"),
    ("pungi.compose.Compose.config_dir", "Compose.config_dir", "property"),
    ("pungi.compose.Compose.compose_id", "Compose.compose_id", "property"),
    ("pungi.compose.Compose.compose_type", "Compose.compose_type", "property"),
    ("pungi.compose.Compose.compose_date", "Compose.compose_date", "property"),
    ("pungi.compose.Compose.compose_respin", "Compose.compose_respin", "property"),
    ("pungi.compose.Compose.get_variants", "Compose.get_variants",
     "(self, types=None, arch=None)"),
    ("pungi.compose.Compose.read_variants", "Compose.read_variants", "(self)"),
    ("pungi.compose.Compose.write_status", "Compose.write_status", "(self, stat_msg)"),
    ("pungi.compose.Compose.get_status", "Compose.get_status", "(self)"),
    ("pungi.notifier.PungiNotifier.send", "Notifier.send", "(self, msg, workdir=None, **kwargs)"),
    ("pungi.paths.ComposePaths.topdir", "ComposePaths.topdir",
     "(self, arch=None, variant=None, create_dir=True, relative=False)"),
    ("pungi.paths.ComposePaths.os_tree", "ComposePaths.os_tree",
     "(self, arch, variant, create_dir=True, relative=False)"),
    ("pungi.paths.ComposePaths.repository", "ComposePaths.repository",
     "(self, arch, variant, create_dir=True, relative=False)"),
    ("pungi.paths.ComposePaths.packages", "ComposePaths.packages",
     "(self, arch, variant, create_dir=True, relative=False)"),
    ("pungi.paths.ComposePaths.metadata", "ComposePaths.metadata",
     "(self, file_name=None, create_dir=True, relative=False)"),
    ("pungi.paths.ComposePaths.iso_dir", "ComposePaths.iso_dir",
     "(self, arch, variant, symlink_to=None, create_dir=True, relative=False)"),
    ("pungi.paths.ComposePaths.image_dir", "ComposePaths.image_dir",
     "(self, variant, symlink_to=None, relative=False)"),
    ("pungi.compose.Compose.im", "Compose.im", "attr"),
    ("pungi.paths.LogPaths.log_file", "LogPaths.log_file",
     "(self, arch, log_name, create_dir=True, ext=None)"),
    ("pungi.paths.WorkPaths.topdir", "WorkPaths.topdir", "(self, arch=None, create_dir=True)"),
    ("pungi.wrappers.variants.Variant.uid", "Variant.uid", "property"),
    ("pungi.wrappers.variants.Variant.id", "Variant.id", "attr"),
    ("pungi.wrappers.variants.Variant.name", "Variant.name", "attr"),
    ("pungi.wrappers.variants.Variant.type", "Variant.type", "attr"),
    ("pungi.wrappers.variants.Variant.arches", "Variant.arches", "attr"),
    ("pungi.wrappers.variants.Variant.is_empty", "Variant.is_empty", "attr"),
    ("pungi.wrappers.variants.Variant.parent", "Variant.parent", "attr"),
    ("pungi.wrappers.variants.Variant.get_variants", "Variant.get_variants",
     "(self, arch=None, types=None, recursive=False)"),
]


def _resolve(root, dotted):
    """The object `dotted` names below `root` (a module, or a callable
    importing `pungi.…` modules by name)."""
    parts = dotted.split(".")
    if callable(root) and not inspect.ismodule(root):
        for i in range(len(parts), 0, -1):
            try:
                obj = root(".".join(parts[:i]))
            except ImportError:
                continue
            rest = parts[i:]
            break
        else:
            raise LookupError("cannot import any prefix of %s" % dotted)
    else:
        obj, rest = root, parts
    owner = None
    for name in rest:
        owner = obj
        if inspect.isclass(obj) and name in obj.__dict__:
            obj = obj.__dict__[name]  # properties as they are
        else:
            obj = getattr(obj, name)
    return owner, obj


def _init_sets(cls, name):
    src = textwrap.dedent(inspect.getsource(cls.__init__))
    return ("self.%s =" % name) in src or ("self._%s =" % name) in src


def check(resolve):
    """Problems (strings) of the objects `resolve(dotted)` finds, measured
    against SURFACE; `resolve(real name, stand-in name)` → (owner, obj)."""
    problems = []
    for real, standin, what in SURFACE:
        name = real.rsplit(".", 1)[1]
        try:
            owner, obj = resolve(real, standin)
        except (LookupError, AttributeError, ImportError) as exc:
            if what == "attr":
                # Instance attributes are not class attributes.
                try:
                    owner, _ = resolve(real.rsplit(".", 1)[0] + ".__init__",
                                       standin.rsplit(".", 1)[0] + ".__init__")
                    cls_owner = owner
                except (LookupError, AttributeError, ImportError) as exc2:
                    problems.append("%s: missing (%s)" % (real, exc2))
                    continue
                if not _init_sets(cls_owner, name):
                    problems.append("%s: __init__ does not set self.%s" % (real, name))
                continue
            problems.append("%s: missing (%s)" % (real, exc))
            continue
        if what is None:
            continue
        if what == "attr":
            continue  # a class attribute is fine too
        if what == "class":
            ok = inspect.isclass(obj)
        elif what == "list":
            ok = isinstance(obj, list)
        elif what == "property":
            ok = isinstance(obj, property)
        else:
            try:
                sig = str(inspect.signature(obj))
            except (TypeError, ValueError) as exc:
                problems.append("%s: no signature (%s)" % (real, exc))
                continue
            ok = sig == what
            if not ok:
                problems.append("%s: signature %s, expected %s" % (real, sig, what))
                continue
        if not ok:
            problems.append("%s: not a %s (%r)" % (real, what, obj))
    return problems


def check_real():
    """SURFACE against the importable (real) Pungi."""
    return check(lambda real, _standin: _resolve(importlib.import_module, real))


def check_standin(standin_module, modules):
    """SURFACE against tests/pungi_standin.py and the ``pungi.…`` modules
    its pungi_modules() built."""

    def resolve(_real, standin):
        if standin.startswith("pungi."):
            return _resolve(lambda name: modules[name] if name in modules
                            else _raise(ImportError(name)), standin)
        return _resolve(standin_module, standin)

    return check(resolve)


def _raise(exc):
    raise exc


if __name__ == "__main__":
    found = check_real()
    for p in found:
        print(p)
    print("%d of %d entries differ from the importable Pungi (%s)"
          % (len(found), len(SURFACE), importlib.import_module("pungi").__file__))
    sys.exit(1 if found else 0)
