from os import PathLike
from typing import Optional, Sequence

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
