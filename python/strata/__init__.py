"""Strata: incremental, modular composes for RPM distributions.

The engine is Rust (``strata._strata``); this package only re-exports it,
every public name of the extension (its ``__all__``, which the stub
``_strata.pyi`` lists and the tests check).
"""

from . import _strata
from ._strata import *  # noqa: F401,F403

__all__ = list(_strata.__all__)
