"""Strata: incremental, modular composes for RPM distributions.

The engine is Rust (``strata._strata``); this package only re-exports it.
"""

from ._strata import (
    ClosureReport,
    ComposeError,
    DefinitionError,
    RegistryError,
    compose_module,
    get_compose,
    latest_compose,
    list_composes,
    validate_definition,
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
    "ComposeError",
    "DefinitionError",
    "RegistryError",
    "compose_module",
    "get_compose",
    "latest_compose",
    "list_composes",
    "validate_definition",
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
