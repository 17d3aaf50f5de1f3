from os import PathLike
from typing import Any, Optional, Sequence, Union

__version__: str

class StrataError(Exception): ...
class RepodataError(StrataError): ...
class SolveError(StrataError): ...

class Repo:
    @staticmethod
    def load(
        id: str,
        location: str,
        *,
        cache_dir: Optional[str | PathLike[str]] = None,
        use_cache: bool = True,
    ) -> Repo: ...
    @property
    def id(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def checksum(self) -> str: ...
    def __len__(self) -> int: ...

class Unresolved:
    package: str
    repo: str
    deps: list[str]

class Uninstallable:
    package: str
    repo: str
    problems: list[str]

class PackageRef:
    package: str
    repo: str

class DepSuggestion:
    dep: str
    providers: list[PackageRef]

class Suggestions:
    deps: list[DepSuggestion]
    additions: list[PackageRef]
    unsatisfiable: list[str]

class ClosureReport:
    @property
    def ok(self) -> bool: ...
    @property
    def checked(self) -> int: ...
    @property
    def unresolved(self) -> list[Unresolved]: ...
    @property
    def uninstallable(self) -> Optional[list[Uninstallable]]: ...
    @property
    def suggestions(self) -> Optional[Suggestions]: ...
    def to_json(self) -> str: ...
    def to_text(self) -> str: ...
    def extras_text(self) -> str: ...

def repoclosure(
    repos: Sequence[Repo],
    *,
    check: Optional[Sequence[str]] = None,
    arches: Optional[Sequence[str]] = None,
    newest: bool = False,
    installable: bool = False,
    suggest_from: Optional[Sequence[Repo]] = None,
    forcearch: Optional[str] = None,
) -> ClosureReport: ...

class DefinitionError(StrataError):
    """args: (message, [\"file:line:col: key: problem\", ...])"""

class ComposeError(StrataError): ...
class RegistryError(StrataError): ...

_PathLike = Union[str, "PathLike[str]"]

def validate_definition(path: _PathLike) -> dict[str, Any]: ...
def compose_module(
    definition: _PathLike,
    out: Optional[_PathLike] = None,
    *,
    arches: Optional[Sequence[str]] = None,
    config: Optional[_PathLike] = None,
    registry: Optional[_PathLike] = None,
    compose_type: str = "nightly",
    metadata_only: bool = False,
    verify_payloads: bool = False,
    scm_ref: Optional[str] = None,
    cache_dir: Optional[_PathLike] = None,
    use_cache: bool = True,
) -> dict[str, Any]:
    """{"ok": bool, "record": {...}, "reports": {arch: report}}"""

def list_composes(
    *,
    name: Optional[str] = None,
    stream: Optional[str] = None,
    state: Optional[str] = None,
    limit: Optional[int] = None,
    registry: Optional[_PathLike] = None,
    config: Optional[_PathLike] = None,
) -> list[dict[str, Any]]: ...
def get_compose(
    compose_id: str, *, registry: Optional[_PathLike] = None, config: Optional[_PathLike] = None
) -> Optional[dict[str, Any]]: ...
def latest_compose(
    name: str, stream: str, *, registry: Optional[_PathLike] = None, config: Optional[_PathLike] = None
) -> Optional[dict[str, Any]]: ...
