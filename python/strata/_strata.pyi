from os import PathLike
from typing import Any, Optional, Sequence, Union

__version__: str
# productmd's compose types, every one Strata accepts.
COMPOSE_TYPES: tuple[str, ...]

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
# A registry: the path of a SQLite file, or a PostgreSQL database as a
# "postgresql://user@host/db" (or "postgres://") URL. None: the
# configuration's [registry] url or path, else the default SQLite file.
_Registry = Union[str, "PathLike[str]"]

def validate_definition(path: _PathLike) -> dict[str, Any]: ...
def compose_module(
    definition: _PathLike,
    out: Optional[_PathLike] = None,
    *,
    arches: Optional[Sequence[str]] = None,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
    compose_type: str = "nightly",
    metadata_only: bool = False,
    verify_payloads: bool = False,
    scm_ref: Optional[str] = None,
    cache_dir: Optional[_PathLike] = None,
    use_cache: bool = True,
    with_composes: Optional[Sequence[str]] = None,
    scratch: Optional[str] = None,
) -> dict[str, Any]:
    """{"ok": bool, "record": {...}, "reports": {arch: report}}

    `scratch` (digits: a Koji task ID) makes a scratch compose: its ID has
    `-<label>.scratch` after the stream (apache-2.4-1234.scratch-20261125.n.0),
    never equal to a real compose's.

    Signals stop the compose cleanly (staging removed, record failed):
    an exception a Python signal handler raises meanwhile (KeyboardInterrupt)
    is raised again once the compose has stopped; SIGINT, SIGTERM or SIGHUP
    left at their default still end the process, after the cleanup."""

def list_composes(
    *,
    name: Optional[str] = None,
    stream: Optional[str] = None,
    state: Optional[str] = None,
    limit: Optional[int] = None,
    registry: Optional[_Registry] = None,
    config: Optional[_PathLike] = None,
) -> list[dict[str, Any]]:
    """Compose summaries, newest first: the records without "inputs",
    "packages", "report" and "timings", with "package_counts" ({arch: n}).
    The functions that only read (this one, get_compose, latest_compose,
    stack_tree) open the registry read-only and create nothing: a registry
    that does not exist raises RegistryError."""

def get_compose(
    compose_id: str, *, registry: Optional[_Registry] = None, config: Optional[_PathLike] = None
) -> Optional[dict[str, Any]]:
    """The whole record, or None."""

def latest_compose(
    name: str, stream: str, *, registry: Optional[_Registry] = None, config: Optional[_PathLike] = None
) -> Optional[dict[str, Any]]:
    """The whole record of the last good compose of NAME:STREAM, or None."""

def stack_tree(
    spec: str,
    *,
    compose_id: Optional[str] = None,
    registry: Optional[_Registry] = None,
    config: Optional[_PathLike] = None,
) -> dict[str, Any]:
    """The stack of NAME:STREAM's last good compose (or `compose_id`, or
    `spec` as a compose ID), as `strata tree --json` prints it."""

# Stacks, as `dnf stack` reads them (modulemd text in, JSON-shaped dicts out).

class StackError(StrataError):
    """Unreadable modulemd, malformed or inconsistent xmd.strata, a stream
    that is not a Strata compose, or a bad NAME:STREAM[/PROFILE]."""

_StackLike = Union[str, dict[str, Any]]
"""modulemd text of a Strata compose, or a dict from module_stack()."""

def module_stack(yaml: str) -> Optional[dict[str, Any]]:
    """{"name", "stream", "compose_id", "version", "context", "requires",
    "layers": [{"name", "stream", "compose_id", "version", "context",
    "requires"}, ...]} (layers bottom first, empty for a plain module), or
    None for a stream without xmd.strata."""

def check_stack(stack: _StackLike, available: dict[str, Optional[str]]) -> list[dict[str, Any]]:
    """[{"module": "name:stream", "recorded": str, "available": str | None,
    "message": str}, ...] for each layer whose compose differs from
    available["name:stream"] (missing keys count as None)."""

def stack_modules(stack: _StackLike) -> list[str]:
    """Every name:stream of the stack, bottom first, the top module last."""

def stack_streams_to_reset(stack: _StackLike, others: Sequence[_StackLike]) -> list[str]:
    """The stack's streams no stack in `others` uses, top first."""

def parse_stack_spec(spec: str, *, profile: bool = True) -> dict[str, Optional[str]]:
    """{"name", "stream", "profile"} of NAME:STREAM[/PROFILE]."""
