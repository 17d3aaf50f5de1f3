"""Strata: incremental, modular composes for RPM distributions.

The engine is Rust (``strata._strata``); this package only re-exports it.
"""

from ._strata import (
    ClosureReport,
    DepSuggestion,
    PackageRef,
    Repo,
    RepodataError,
    SolveError,
    StrataError,
    Suggestions,
    Uninstallable,
    Unresolved,
    __version__,
    repoclosure,
)

__all__ = [
    "ClosureReport",
    "DepSuggestion",
    "PackageRef",
    "Repo",
    "RepodataError",
    "SolveError",
    "StrataError",
    "Suggestions",
    "Uninstallable",
    "Unresolved",
    "__version__",
    "repoclosure",
]
