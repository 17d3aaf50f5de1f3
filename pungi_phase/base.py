"""Pungi's phase base class, or a minimal mirror of it when Pungi is absent.

With Pungi installed, ``PhaseBase`` *is* ``pungi.phases.base.PhaseBase``.
Without it (tests, documentation builds) a small class with the same
contract is used. It mirrors pungi/phases/base.py (Pungi 4.3):

- ``__init__(compose)``: ``self.compose``, ``self.msg``
  (``"---------- PHASE: NAME ----------"``), ``finished``, ``_skipped``;
- ``validate()``: raise ``ValueError`` (one problem per line) on bad config;
- ``skip()``: ``compose.just_phases``, ``compose.skip_phases`` and
  ``compose.conf["skip_phases"]``;
- ``skip()`` reads ``compose.conf["skip_phases"]`` by subscript: Pungi's
  checks fill it in (default ``[]``) before any phase exists;
- ``start()``: logs ``[SKIP ]`` or ``[BEGIN]``, calls
  ``compose.notifier.send("phase-start", phase_name=...)`` (every Pungi
  compose has a notifier) and ``run()``;
- ``stop()``: logs ``[DONE ]``, sends ``phase-stop``.

Simplified: no ``used_patterns`` bookkeeping, ``get_config_block`` or
thread pool handling (this phase does not use them).
"""

try:  # pragma: no cover - exercised only where Pungi is installed
    from pungi.phases.base import PhaseBase  # type: ignore

    FROM_PUNGI = True
except ImportError:
    FROM_PUNGI = False

    class PhaseBase(object):  # type: ignore[no-redef]
        name = None

        def __init__(self, compose):
            self.compose = compose
            self.msg = "---------- PHASE: %s ----------" % self.name.upper()
            self.finished = False
            self._skipped = False

        def validate(self):
            pass

        def skip(self):
            if self._skipped:
                return True
            if self.compose.just_phases and self.name not in self.compose.just_phases:
                return True
            if self.name in self.compose.skip_phases:
                return True
            if self.name in self.compose.conf["skip_phases"]:
                return True
            return False

        def start(self):
            self._skipped = self.skip()
            if self._skipped:
                self.compose.log_warning("[SKIP ] %s" % self.msg)
                self.finished = True
                return
            self.compose.log_info("[BEGIN] %s" % self.msg)
            self.compose.notifier.send("phase-start", phase_name=self.name)
            self.run()

        def stop(self):
            if self.finished:
                return
            self.finished = True
            self.compose.log_info("[DONE ] %s" % self.msg)
            self.compose.notifier.send("phase-stop", phase_name=self.name)

        def run(self):
            raise NotImplementedError
