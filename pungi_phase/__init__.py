"""Strata's Pungi phase: module and stack composes inside a Pungi compose.

``StrataPhase`` is the phase; ``strata-pungi-koji`` (``python -m
pungi_phase``) runs pungi-koji with it. See README.md beside this file.
"""

from .base import FROM_PUNGI, PhaseBase
from .strata_phase import StrataPhase

__all__ = ["FROM_PUNGI", "PhaseBase", "StrataPhase"]
