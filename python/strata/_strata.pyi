from os import PathLike
from typing import Any, Callable, Iterator, Optional, Sequence, Union, final, type_check_only

__version__: str
# The module's public names, as pyo3 lists them.
__all__ = [
    "COMPOSE_TYPES",
    "Chain",
    "ChainError",
    "ChainStep",
    "ClosureReport",
    "ComposeError",
    "ComposeRecord",
    "ComposeResult",
    "ComposeSummary",
    "DefinitionError",
    "DepSuggestion",
    "Impact",
    "Input",
    "MergedPackage",
    "MergedRepo",
    "ModuleDefaults",
    "ModuleDefinition",
    "ModuleStream",
    "Outputs",
    "Owner",
    "PackageRef",
    "PlanStep",
    "RegistryError",
    "ReleaseError",
    "ReleaseModule",
    "ReleaseProblem",
    "ReleaseRecord",
    "ReleaseReport",
    "Repo",
    "RepodataError",
    "SolveError",
    "StackError",
    "StackTree",
    "StrataError",
    "Suggestions",
    "Uninstallable",
    "Unresolved",
    "__version__",
    "approve_chain_step",
    "check_stack",
    "compose_artifact",
    "compose_chain_step",
    "compose_module",
    "format_table",
    "get_chain",
    "get_compose",
    "impact",
    "latest_compose",
    "list_composes",
    "merge_repositories",
    "exchange_directories",
    "module_stack",
    "one_line",
    "parse_stack_spec",
    "pending_events",
    "read_repo_modules",
    "release_check",
    "release_compose",
    "release_definitions",
    "release_locations",
    "repoclosure",
    "run_chain",
    "stack_modules",
    "stack_streams_to_reset",
    "stack_tree",
    "submit_event",
    "take_pending_chain",
    "validate_definition",
]
# productmd's compose types, every one Strata accepts.
COMPOSE_TYPES: tuple[str, ...]

class StrataError(Exception): ...
class RepodataError(StrataError): ...
class SolveError(StrataError): ...

@final
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

@final
class Unresolved:
    package: str
    repo: str
    deps: list[str]

@final
class Uninstallable:
    package: str
    repo: str
    problems: list[str]

@final
class PackageRef:
    package: str
    repo: str

@final
class DepSuggestion:
    dep: str
    providers: list[PackageRef]

@final
class Suggestions:
    deps: list[DepSuggestion]
    additions: list[PackageRef]
    unsatisfiable: list[str]

@final
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

def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table as `strata composes list` prints one: columns as wide as
    their widest cell, two spaces apart, no trailing blanks; every cell
    escaped onto one line first."""

def one_line(text: str) -> str:
    """`text` with control characters and line separators escaped."""

class DefinitionError(StrataError):
    """args: (message, [\"file:line:col: key: problem\", ...])"""

class ComposeError(StrataError): ...
class RegistryError(StrataError): ...

_PathLike = Union[str, "PathLike[str]"]
# A registry: the path of a SQLite file, or a PostgreSQL database as a
# "postgresql://user@host/db" (or "postgres://") URL. None: the
# configuration's [registry] url or path, else the default SQLite file.
_Registry = Union[str, "PathLike[str]"]

@type_check_only
class _TypedData:
    """What every typed result and record has: to_dict() (plain data, a
    new object each call), to_json() (the document `strata … --json`
    prints), and read-only mapping access with the keys and nested shapes
    of to_dict() (what the bindings returned before they were typed; do
    not mutate what it returns)."""

    def to_dict(self) -> dict[str, Any]: ...
    def to_json(self) -> str: ...
    def __getitem__(self, key: str, /) -> Any: ...
    def get(self, key: str, default: Optional[Any] = None) -> Any: ...
    def __contains__(self, key: object, /) -> bool: ...
    def keys(self) -> list[str]: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Input(_TypedData):
    """One thing a compose read, pinned to the exact content it read."""

    @property
    def kind(self) -> str:
        """source_repo, koji_repo, compose, stack_compose or platform."""
    @property
    def name(self) -> str: ...
    @property
    def ident(self) -> str:
        """repomd checksum, Koji repo ID or compose ID."""
    @property
    def location(self) -> str: ...

@final
class Outputs(_TypedData):
    @property
    def path(self) -> str:
        """The compose directory."""
    @property
    def repos(self) -> dict[str, str]:
        """arch -> the yum repository of that arch."""
    @property
    def build_id(self) -> Optional[str]:
        """An artifact's build ID (OCI manifest digest, ostree commit, ISO
        SHA-256); None for a module compose."""

@final
class Owner(_TypedData):
    """The process that ran a compose."""

    @property
    def host(self) -> str: ...
    @property
    def pid(self) -> int: ...
    @property
    def start_time(self) -> int: ...
    @property
    def boot_id(self) -> str: ...
    @property
    def pid_namespace(self) -> Optional[int]: ...

@type_check_only
class _RecordFields(_TypedData):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def compose_type(self) -> str:
        """One of COMPOSE_TYPES."""
    @property
    def date(self) -> str: ...
    @property
    def respin(self) -> int: ...
    @property
    def state(self) -> str:
        """started, finished or failed."""
    @property
    def version(self) -> int: ...
    @property
    def context(self) -> str: ...
    @property
    def definition_path(self) -> str: ...
    @property
    def definition_digest(self) -> str: ...
    @property
    def scm_ref(self) -> Optional[str]: ...
    @property
    def arches(self) -> list[str]: ...
    @property
    def outputs(self) -> Optional[Outputs]: ...
    @property
    def started_at(self) -> int: ...
    @property
    def finished_at(self) -> Optional[int]: ...
    @property
    def error(self) -> Optional[str]: ...
    @property
    def owner(self) -> Optional[Owner]: ...
    @property
    def kind(self) -> str:
        """module or artifact."""
    @property
    def artifact(self) -> Optional[str]:
        """container, ostree or iso for an artifact compose; None for a module's."""

@final
class ComposeSummary(_RecordFields):
    """A compose as listings show it (`strata composes list --json`)."""

    @property
    def package_counts(self) -> dict[str, int]: ...

@final
class ComposeRecord(_RecordFields):
    """Everything the registry knows about a compose (`strata composes
    show --json`)."""

    @property
    def inputs(self) -> list[Input]: ...
    @property
    def packages(self) -> dict[str, list[str]]:
        """arch -> NEVRAs, sorted."""
    @property
    def timings(self) -> Optional[dict[str, Any]]: ...
    @property
    def report(self) -> Optional[dict[str, Any]]:
        """The gate's report as recorded, for a compose whose gate failed."""
    @property
    def modulemd(self) -> dict[str, str]:
        """arch -> the stream's modulemd document as published."""
    def summary(self) -> ComposeSummary: ...

@final
class ComposeResult(_TypedData):
    """What compose_module returns. Its mapping view and to_dict() are the
    old dict: {"ok", "record", "reports" (only when the gate failed),
    "report_text", "report_texts"}."""

    @property
    def ok(self) -> bool:
        """Published; False when the repoclosure gate failed."""
    @property
    def reused(self) -> bool:
        """The last good compose, reused: nothing it would use changed."""
    @property
    def record(self) -> ComposeRecord: ...
    @property
    def reports(self) -> dict[str, ClosureReport]:
        """arch -> the gate's report (every arch checked)."""
    @property
    def report_text(self) -> str:
        """The gate's report as the CLI shows it; empty when it passed."""
    @property
    def report_texts(self) -> dict[str, str]: ...
    @property
    def outputs(self) -> Optional[Outputs]: ...
    @property
    def modulemd(self) -> dict[str, str]: ...
    @property
    def stack_repos(self) -> dict[str, str]:
        """arch -> the repository of the whole stack, for a stack compose made
        with `[compose] stack_repo = "merged"`."""
    @property
    def stack_repo_file(self) -> Optional[str]:
        """The stack's `.repo` file (a section per module's own repository,
        bottom first), for a published stack compose; else None."""

# Published repositories: their modules, and merging several into one.

@final
class ModuleStream:
    """One module stream (modulemd v2)."""

    @property
    def name(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def context(self) -> str: ...
    @property
    def arch(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def nsvca(self) -> str: ...
    @property
    def artifacts(self) -> list[str]:
        """name-epoch:version-release.arch of its RPMs."""
    @property
    def profiles(self) -> dict[str, list[str]]: ...
    @property
    def requires(self) -> list[dict[str, list[str]]]:
        """Each dependency block's runtime requirements."""
    @property
    def xmd(self) -> dict[str, Any]:
        """Its xmd as plain data (xmd["strata"]["compose_id"] for a Strata compose)."""
    def to_yaml(self) -> str:
        """The stream as one modulemd document."""

@final
class ModuleDefaults:
    @property
    def module(self) -> str: ...
    @property
    def stream(self) -> Optional[str]: ...
    @property
    def profiles(self) -> dict[str, list[str]]: ...
    def to_yaml(self) -> str: ...

def read_repo_modules(location: str) -> list[Union[ModuleStream, ModuleDefaults]]:
    """The module streams and defaults of a repository (path or URL), in
    file order; other documents left out; empty when not modular. Raises
    RepodataError."""

@final
class MergedPackage:
    href: str
    nevra: str
    srpm_nevra: str
    checksum: str
    source: str
    """The input it was taken from."""

@final
class MergedRepo:
    path: str
    packages: list[MergedPackage]
    streams: list[ModuleStream]
    modules_href: Optional[str]

def merge_repositories(
    inputs: Sequence[_PathLike],
    dest: _PathLike,
    *,
    verify_payloads: bool = False,
    cache_dir: Optional[_PathLike] = None,
    timestamp: Optional[int] = None,
) -> MergedRepo:
    """Merges published repositories into a new one at `dest` (absent or
    empty): each package and module stream once. Raises ComposeError."""

def exchange_directories(a: _PathLike, b: _PathLike) -> None:
    """Swaps two directories in one step (renameat2 RENAME_EXCHANGE): a
    reader sees one whole tree or the other. Raises ComposeError."""

@final
class ModuleDefinition(_TypedData):
    """A strata-module definition, read and checked."""

    @property
    def name(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def license(self) -> list[str]: ...
    @property
    def arches(self) -> list[str]: ...
    @property
    def source(self) -> Any:
        """Where its packages come from, as plain data."""
    @property
    def requires(self) -> dict[str, str]: ...
    @property
    def compose_pins(self) -> dict[str, str]: ...
    @property
    def packages(self) -> dict[str, dict[str, Any]]: ...
    @property
    def pins(self) -> dict[str, str]: ...
    @property
    def profiles(self) -> dict[str, list[str]]: ...
    @property
    def api(self) -> list[str]: ...
    @property
    def lifecycle(self) -> Optional[dict[str, Any]]: ...

@final
class StackTree(_TypedData):
    """A module's stack, as `strata tree` shows it."""

    @property
    def module(self) -> str:
        """name:stream"""
    @property
    def compose_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def pinned(self) -> bool: ...
    @property
    def note(self) -> Optional[str]: ...
    @property
    def repeated(self) -> bool:
        """Shown above with what it requires; `requires` is then empty."""
    @property
    def requires(self) -> list[StackTree]: ...
    def to_text(self) -> str:
        """The tree as `strata tree` draws it."""

def validate_definition(path: _PathLike) -> ModuleDefinition: ...
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
    if_changed: bool = False,
) -> ComposeResult:
    """`scratch` (digits: a Koji task ID) makes a scratch compose: its ID has
    `-<label>.scratch` after the stream (apache-2.4-1234.scratch-20261125.n.0),
    never equal to a real compose's.

    `if_changed` reuses the last good compose, composing nothing, when
    nothing the compose would use changed (definition digest, selected
    packages, input composes, repository checksums): `reused` is then True
    and `record` is that compose.

    Signals stop the compose cleanly (staging removed, record failed):
    an exception a Python signal handler raises meanwhile (KeyboardInterrupt)
    is raised again once the compose has stopped; SIGINT, SIGTERM or SIGHUP
    left at their default still end the process, after the cleanup."""

def compose_artifact(
    definition: _PathLike,
    out: Optional[_PathLike] = None,
    *,
    arch: Optional[str] = None,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
    compose_type: str = "nightly",
    scm_ref: Optional[str] = None,
    with_composes: Optional[Sequence[str]] = None,
    scratch: Optional[str] = None,
    scratch_registry: Optional[_PathLike] = None,
) -> ComposeRecord:
    """Builds one artifact (container image, ostree commit or ISO) from the
    last good composes of the stacks its definition names, as `strata
    compose artifact` does; the record's outputs.build_id is its build ID.
    Failures raise StrataError subclasses after the compose was recorded
    failed; signals stop it as they stop compose_module. `scratch` (digits,
    a Koji task ID) with `scratch_registry` makes a scratch build: inputs
    from the shared registry, read only; the record (ID `-<label>.scratch`)
    in scratch_registry, so it never becomes the shared latest."""

def list_composes(
    *,
    name: Optional[str] = None,
    stream: Optional[str] = None,
    state: Optional[str] = None,
    limit: Optional[int] = None,
    registry: Optional[_Registry] = None,
    config: Optional[_PathLike] = None,
) -> list[ComposeSummary]:
    """Compose summaries, newest first.
    The functions that only read (this one, get_compose, latest_compose,
    stack_tree) open the registry read-only and create nothing: a registry
    that does not exist raises RegistryError."""

def get_compose(
    compose_id: str, *, registry: Optional[_Registry] = None, config: Optional[_PathLike] = None
) -> Optional[ComposeRecord]:
    """The whole record, or None."""

def latest_compose(
    name: str, stream: str, *, registry: Optional[_Registry] = None, config: Optional[_PathLike] = None
) -> Optional[ComposeRecord]:
    """The whole record of the last good compose of NAME:STREAM, or None."""

def stack_tree(
    spec: str,
    *,
    compose_id: Optional[str] = None,
    registry: Optional[_Registry] = None,
    config: Optional[_PathLike] = None,
) -> StackTree:
    """The stack of NAME:STREAM's last good compose (or `compose_id`, or
    `spec` as a compose ID)."""

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

# Chained recomposes: what events make stale, and chains that recompose it.

class ChainError(StrataError):
    """An impact or a chain that cannot be computed or run: a bad catalog,
    policy or event, a cycle, an unknown compose, tag or chain."""

@final
class PlanStep(_TypedData):
    """One recompose of a plan."""

    @property
    def name(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def why(self) -> list[str]:
        """Why it is recomposed, one line each, as `strata impact` shows."""
    @property
    def after(self) -> list[int]:
        """The steps (indices into Impact.steps) it waits for."""
    @property
    def trigger(self) -> str:
        """auto or approve."""
    @property
    def on_failure(self) -> str:
        """use-last-good or stop-dependents."""
    @property
    def tests(self) -> list[str]:
        """The names of the tests its new compose must pass."""
    @property
    def kind(self) -> str:
        """module, or artifact (then name is the artifact's and stream the
        arch it is built for)."""

@final
class Impact(_TypedData):
    """What events affect: the ordered plan and why everything else is left
    alone (`strata impact --json` is its to_json())."""

    @property
    def events(self) -> list[str]:
        """The events as recorded as a compose's cause ("build NVR")."""
    @property
    def steps(self) -> list[PlanStep]:
        """Bottom-up."""
    @property
    def left_alone(self) -> dict[str, str]:
        """name:stream -> why it is not recomposed."""
    @property
    def last_good(self) -> dict[str, Optional[str]]:
        """name:stream -> its last good compose now."""
    @property
    def artifacts(self) -> dict[str, str]:
        """name:arch -> kind (container, ostree, iso) of every artifact in
        the plan or left alone; every other node is a module."""
    def to_text(self) -> str:
        """The plan as `strata impact` prints it."""

@final
class ChainStep(_TypedData):
    """One step of a recorded chain."""

    @property
    def position(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def state(self) -> str:
        """pending, waiting, approved, running, finished, failed, reused or
        skipped."""
    @property
    def compose_id(self) -> Optional[str]: ...
    @property
    def reason(self) -> Optional[str]:
        """The excuse (built on a last good compose) or the failure."""
    @property
    def approved_by(self) -> Optional[str]: ...

@final
class Chain(_TypedData):
    """A chain as the registry records it (`strata chain show --json`)."""

    @property
    def id(self) -> str:
        """chain-YYYYMMDD.N"""
    @property
    def state(self) -> str:
        """running, waiting, finished, failed or stopped."""
    @property
    def created_at(self) -> int: ...
    @property
    def finished_at(self) -> Optional[int]: ...
    @property
    def steps(self) -> list[ChainStep]: ...
    @property
    def impact(self) -> Optional[Impact]:
        """The plan it runs (its steps' kinds, why each is in it, what was
        left alone); None when this Strata cannot read the recorded plan."""

def impact(
    *,
    builds: Optional[Sequence[str]] = None,
    tags: Optional[Sequence[str]] = None,
    repos: Optional[Sequence[str]] = None,
    composes: Optional[Sequence[str]] = None,
    definitions: Optional[Sequence[str]] = None,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
    cache_dir: Optional[_PathLike] = None,
    use_cache: bool = True,
) -> Impact:
    """What the events make stale in the configured catalog ([chain]), and
    the ordered plan; composes nothing."""

def run_chain(
    *,
    builds: Optional[Sequence[str]] = None,
    tags: Optional[Sequence[str]] = None,
    repos: Optional[Sequence[str]] = None,
    composes: Optional[Sequence[str]] = None,
    definitions: Optional[Sequence[str]] = None,
    plan: Optional[Impact] = None,
    resume: Optional[str] = None,
    out: Optional[_PathLike] = None,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
    compose_type: str = "nightly",
    metadata_only: bool = False,
    test_timeout: int = 3600,
    cache_dir: Optional[_PathLike] = None,
    use_cache: bool = True,
    step_runner: Optional[Callable[[dict[str, Any]], dict[str, Any]]] = None,
) -> Optional[Chain]:
    """Runs a chain for the events (or `plan`), or resumes chain `resume`;
    the chain as recorded at its end, or None when nothing is stale.
    `step_runner`, when given, composes each step elsewhere (a Koji
    subtask) and waits: it is called from the chain's step threads with
    {chain_id, position, name, stream, definition, excuse, earlier, kind}
    (kind: module or artifact) and
    returns {state: finished|failed|reused, compose_id, reason}, which is
    what compose_chain_step gives there; an exception fails the step."""

def compose_chain_step(
    chain_id: str,
    position: int,
    name: str,
    stream: str,
    *,
    excuse: Optional[str] = None,
    earlier: Optional[str] = None,
    out: Optional[_PathLike] = None,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
    compose_type: str = "nightly",
    metadata_only: bool = False,
    test_timeout: int = 3600,
    cache_dir: Optional[_PathLike] = None,
    use_cache: bool = True,
) -> dict[str, Optional[str]]:
    """Composes step `position` (name:stream) of recorded chain `chain_id`
    here, as run_chain would: the stream's lock, the content comparison,
    the chain and cause in the record, the policy's tests. Returns
    {state, compose_id, reason} for run_chain's step_runner."""

def approve_chain_step(
    chain_id: str,
    module: str,
    *,
    by: str,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
) -> None:
    """Approves the waiting step of module ("name:stream");
    run_chain(resume=chain_id) then composes it."""

def get_chain(
    chain_id: str,
    *,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
) -> Optional[Chain]: ...

class ReleaseError(StrataError):
    """A release that cannot be checked at all: its catalog or platform
    cannot be loaded. Problems of the release itself are the report's."""

@final
class ReleaseModule(_TypedData):
    """One module stream the release ships, directly or below another."""

    @property
    def module(self) -> str:
        """name:stream."""
    @property
    def chain(self) -> list[str]:
        """How the release reaches it: its own module first, then each
        module required, ending with this one."""
    @property
    def definition(self) -> Optional[str]:
        """Where its definition was read; None: no definition names it."""
    @property
    def compose(self) -> Optional[str]:
        """The compose it would ship (pinned, else last good)."""

@final
class ReleaseProblem(_TypedData):
    """One problem that keeps a release from being composed."""

    @property
    def kind(self) -> str:
        """lifecycle, stream_conflict, no_good_compose, unresolved, profile,
        upgrade, previous, ..."""
    @property
    def chain(self) -> list[str]:
        """The chain of modules that causes it (empty when it has none)."""
    @property
    def message(self) -> str:
        """The problem as `strata release check` prints it."""

@final
class ReleaseReport(_TypedData):
    """What release_check found (`strata release check --json` is its
    to_json())."""

    @property
    def ok(self) -> bool:
        """No problem: the release can be composed."""
    @property
    def file(self) -> str: ...
    @property
    def release(self) -> str:
        """The release's name."""
    @property
    def version(self) -> str: ...
    @property
    def date(self) -> str: ...
    @property
    def arch(self) -> str:
        """The arch whose composes were checked."""
    @property
    def modules(self) -> list[ReleaseModule]:
        """Every module of the release and below it, the release's own first."""
    @property
    def problems(self) -> list[ReleaseProblem]: ...
    def to_text(self) -> str:
        """The report as `strata release check` prints it."""

def release_check(
    release: _PathLike,
    *,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
    arch: Optional[str] = None,
    cache_dir: Optional[_PathLike] = None,
    use_cache: bool = True,
    previous: Optional[_PathLike] = None,
    previous_display: Optional[str] = None,
) -> ReleaseReport:
    """Checks the release document against its definitions, the
    configuration's catalog and the registry, as `strata release check`
    does; every problem is in the report. `previous` (`--from`) names the
    previous release (its document, a release compose ID or a release
    name; default: the document's `previous:`): the upgrade from it is
    checked too (problems of kind upgrade; the summary, with the modules
    whose stream changed under "switches", is in to_json()'s "upgrade").
    `previous_display` names a previous document given as a file in the
    report and errors in place of its path (e.g. the SCM URL it was
    checked out from). Raises DefinitionError, RegistryError,
    ReleaseError."""

@final
class ReleaseRecord(_TypedData):
    """A release compose as the registry records it (`strata releases
    show --json` is its to_json())."""

    @property
    def id(self) -> str:
        """<name>-<version>-<YYYYMMDD><type>.<respin>."""
    @property
    def state(self) -> str:
        """started, finished or failed."""
    @property
    def release_date(self) -> str:
        """The release's scheduled date, YYYY-MM-DD."""
    @property
    def inputs(self) -> list[tuple[str, str, str]]:
        """Every compose it ships, in order: (kind, name, compose_id), kind
        module, stack or artifact."""
    @property
    def scm_ref(self) -> Optional[str]:
        """The release document's SCM reference (URL#commit), when it came
        from SCM."""
    @property
    def path(self) -> Optional[str]:
        """Where it was published; None unless finished."""
    @property
    def error(self) -> Optional[str]: ...
    def to_text(self) -> str:
        """The record as `strata releases show` prints it."""

def release_definitions(
    release: _PathLike,
    *,
    config: Optional[_PathLike] = None,
    cache_dir: Optional[_PathLike] = None,
) -> tuple[list[str], list[str]]:
    """The definition files the release names, on this machine (SCM URLs
    fetched into the clone cache) and in the order they compose: (modules
    bottom first, artifacts as listed). Raises DefinitionError,
    ReleaseError (every definition that cannot be used named)."""

def release_locations(release: _PathLike) -> tuple[list[str], list[str]]:
    """The definitions the release names, as it writes them (paths
    relative to it, or SCM URLs), without opening or fetching any:
    (modules, artifacts); a module the catalog defines is left out.
    Raises DefinitionError."""

def release_compose(
    release: _PathLike,
    out: Optional[_PathLike] = None,
    *,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
    arch: Optional[str] = None,
    cache_dir: Optional[_PathLike] = None,
    compose_type: str = "nightly",
    verify_payloads: bool = False,
    previous: Optional[_PathLike] = None,
    previous_display: Optional[str] = None,
    scm_ref: Optional[str] = None,
) -> tuple[ReleaseReport, Optional[ReleaseRecord]]:
    """Checks the release and, only when the check finds no problem,
    freezes it into one release compose under `out`, as `strata release
    compose` does: the report and the record (None when the check found
    problems and nothing was composed). `scm_ref` is the release
    document's SCM reference (URL#commit) to record. Raises as
    release_check does, and ComposeError (the release compose recorded
    failed) when publishing fails."""
def submit_event(
    *,
    builds: Optional[Sequence[str]] = None,
    tags: Optional[Sequence[str]] = None,
    repos: Optional[Sequence[str]] = None,
    composes: Optional[Sequence[str]] = None,
    definitions: Optional[Sequence[str]] = None,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
) -> list[int]:
    """Queues events for `strata chain run --pending`, which coalesces them
    once the policy's debounce window has passed; their queue numbers."""

def pending_events(
    *,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
) -> list[dict[str, Any]]:
    """The events queued for chains, oldest first: {seq, event,
    submitted_at}; a consumer looks at them before it takes them."""

def take_pending_chain(
    *,
    config: Optional[_PathLike] = None,
    registry: Optional[_Registry] = None,
    cache_dir: Optional[_PathLike] = None,
    use_cache: bool = True,
) -> tuple[Optional[Chain], Optional[int], list[str]]:
    """`strata chain run --pending` up to the chain: (chain, until,
    unplannable). chain: the queued events whose debounce window passed
    (per group of modules), recorded as one chain consuming them (run it
    with run_chain(resume=chain.id)), else None. until: the earliest end
    of the windows events still wait for, else None. unplannable: a line
    for each queued event left queued that `until` does not cover: one
    that cannot be planned (`strata chain drop`), or a build on its way
    to the catalog's repositories and in none yet (planned once one has
    it, or two hours after it was queued). (None, None, []) when nothing
    is queued or another consumer took the events first."""
