"""``strata-pungi-koji``: a normal ``pungi-koji`` run with the ``strata``
phase in it.

Pungi has no way to load third-party phases, so this entry point adapts
``pungi.scripts.pungi_koji`` before handing control to its ``cli_main``
(same arguments, same signals, same DOOMED/FINISHED handling):

1. ``pungi.checks.make_schema`` also returns the ``strata_*`` options
   (:data:`pungi_phase.schema.PROPERTIES`), so pungi-koji's own
   ``checks.validate`` validates them (and does not warn that they are
   unknown) before a compose directory is made; ``checks.validate`` also
   reports bad variant patterns in ``strata_modules`` (keys, which
   Pungi's schema cannot type as regexes);
2. ``"strata"`` joins ``pungi.phases.PHASES_NAMES``, so ``--skip-phase
   strata`` / ``--just-phase strata`` and ``skip_phases`` accept it;
3. ``pungi_koji.run_compose`` is wrapped: while it runs,
   ``pungi.phases.TestPhase`` builds a test phase that runs the strata
   phase first. In run_compose the test phase comes after every phase
   that fills the tree (pkgset, buildinstall, gather, createrepo, images,
   repoclosure) and after ``write_compose_info``; so the strata phase
   runs with the package set and gathered variants known, then
   composeinfo.json is written again (now with the Strata variants'
   paths), then Pungi's test phase checks the whole tree. The strata
   phase is validated together with run_compose's other phases (its
   problems are reported with the ``STRATA:`` prefix and fail the start
   with "Configuration is not valid").
"""

from __future__ import annotations

import functools
import importlib

from .strata_phase import StrataPhase
from . import schema

_INSTALLED = "_strata_phase_installed"


class StrataThenTest(object):
    """Stands where run_compose puts its TestPhase: the strata phase, then
    composeinfo.json again, then the real test phase. Everything else is
    the test phase's (``name`` stays ``"test"``)."""

    def __init__(self, test_phase, strata_phase, write_compose_info):
        self._test = test_phase
        self.strata = strata_phase
        self._write_compose_info = write_compose_info

    def __getattr__(self, name):
        return getattr(self._test, name)

    def skip(self):
        return self._test.skip() and self.strata.skip()

    def validate(self):
        errors = []
        if not self._test.skip():
            try:
                self._test.validate()
            except ValueError as ex:
                errors.extend(str(ex).splitlines())
        if not self.strata.skip():
            try:
                self.strata.validate()
            except ValueError as ex:
                # run_compose prefixes "TEST: "; say whose problem it is.
                errors.extend("STRATA: %s" % line for line in str(ex).splitlines())
        if errors:
            raise ValueError("\n".join(errors))

    def start(self):
        self.strata.start()
        self.strata.stop()
        if not self.strata._skipped:
            self._write_compose_info(self.strata.compose)
        self._test.start()

    def stop(self):
        self._test.stop()


def install(pungi_koji=None):
    """Adapts an imported ``pungi.scripts.pungi_koji`` (or the module given)
    as the module docstring says; idempotent. Returns the module."""
    if pungi_koji is None:
        pungi_koji = importlib.import_module("pungi.scripts.pungi_koji")
    if getattr(pungi_koji, _INSTALLED, False):
        return pungi_koji
    phases = importlib.import_module("pungi.phases")
    checks = importlib.import_module("pungi.checks")
    metadata = importlib.import_module("pungi.metadata")

    make_schema = checks.make_schema

    @functools.wraps(make_schema)
    def make_schema_with_strata():
        s = make_schema()
        s.setdefault("properties", {}).update(schema.PROPERTIES)
        return s

    checks.make_schema = make_schema_with_strata

    validate = checks.validate

    @functools.wraps(validate)
    def validate_with_strata(conf, *args, **kwargs):
        errors, warnings = validate(conf, *args, **kwargs)
        # Pungi compiles regexes only where the schema says "regex"; the
        # variant patterns of strata_modules are keys. Checked here, they
        # fail the start like any other option, before a compose exists.
        return errors + schema.pattern_problems(conf), warnings

    checks.validate = validate_with_strata

    names = getattr(phases, "PHASES_NAMES", None)
    if isinstance(names, list) and "strata" not in names:
        names.append("strata")
    # pungi_koji imported the list by name; it is the same object.

    run_compose = pungi_koji.run_compose

    @functools.wraps(run_compose)
    def run_compose_with_strata(compose, *args, **kwargs):
        real_test = phases.TestPhase

        def test_phase(c, *a, **kw):
            return StrataThenTest(
                real_test(c, *a, **kw), StrataPhase(c),
                lambda comp: metadata.write_compose_info(comp))

        phases.TestPhase = test_phase
        try:
            return run_compose(compose, *args, **kwargs)
        finally:
            phases.TestPhase = real_test

    pungi_koji.run_compose = run_compose_with_strata
    setattr(pungi_koji, _INSTALLED, True)
    return pungi_koji


def main():
    """The console script: pungi-koji with the strata phase."""
    try:
        pungi_koji = importlib.import_module("pungi.scripts.pungi_koji")
    except ImportError as exc:
        raise SystemExit(
            "strata-pungi-koji: Pungi is not installed (%s); install pungi "
            "(python3-pungi) on the compose host" % exc)
    for dep in ("productmd", "jsonschema"):
        try:
            importlib.import_module(dep)
        except ImportError as exc:
            raise SystemExit(
                "strata-pungi-koji: the strata phase needs %s (%s); install "
                "'strata[pungi]' or the distribution's python3-%s" % (dep, exc, dep))
    install(pungi_koji)
    return pungi_koji.cli_main()
