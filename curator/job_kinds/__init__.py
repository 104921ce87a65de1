"""The registry of job kinds: every kind of background job is declared once, here.

A kind is one module of this package that defines `KIND = JobKind(...)`: its name, its queue,
the parameters a caller may set and how they are checked, the runner that does the work (a
dotted path, imported only by the workers), the template that summarises a finished job, and
whether users start it and whether a round's pipeline may run it. Services (dispatch, parameter
checks), the Job model (choices, display), tasks, the API and templates all read this registry;
nothing else lists job kinds.

Declarations are plain data: a module here must not import models, services or workers, so the
registry loads in every process (web, worker, migrations) without side effects.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from curator.value_rules import MAX_SEED, Rule, list_of, parse_fields, whole

if TYPE_CHECKING:
    from curator.models import Project

# One generic task runs a job of any kind, another any chunk of a fanned-out job; both look the
# runner up here by the job's kind.
RUN_JOB_TASK = "workers.tasks.run_job"
RUN_CHUNK_TASK = "workers.tasks.run_chunk"

# Rules several kinds share. A chunk of at least one record, so a fanned-out job always has a
# chunk to finish it (chunk_size -1 once left a job running for ever).
CHUNK_SIZE = whole(1, 10_000)
SEED = whole(0, MAX_SEED)
MAX_NEW_TOKENS = whole(1, 4096)
RECORD_ID = whole(1, 2**63 - 1)
# A job on chosen records (the data manager's "start a model job on them"): ids in its params.
MAX_RECORD_IDS = 10_000


def _record_ids(value: Any) -> list[int]:
    ids = list_of(RECORD_ID, MAX_RECORD_IDS)(value)
    if not ids:
        raise ValueError("must name at least one record")  # empty would mean "every record"
    return ids


RECORD_IDS = _record_ids

ParamsCheck = Callable[["Project", Mapping[str, Any]], None]


class ParamsRefused(ValueError):
    """Parameter values the kind refuses (a type, a range, an unknown name): a bad request.
    `errors` names each refused parameter; the message is for the user."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = dict(errors or {})


class KindUnfit(Exception):
    """The project (its task type, its documents) does not fit the kind now: not startable."""


@dataclass(frozen=True)
class ResultLink:
    """A page that shows what a finished job produced (its batch, its report, held records)."""

    # A URL name of the web interface; it takes the project's slug, then the job's id if
    # `per_job`. Plain data: the job card resolves it, this floor never imports the URLs.
    url_name: str
    label: str
    per_job: bool = True


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str
    # "gpu" for work that loads a model, "cpu" for the rest.
    queue: str
    # Dotted path of the job body: a callable `(job) -> metrics` (or a fanned-out spec that is
    # one), imported lazily by workers.runtime, never by the web process.
    runner: str
    # Parameters a caller may set, each with its rule (curator.value_rules: type and range);
    # everything else the job decides from project settings.
    params: Mapping[str, Rule] = dataclasses.field(default_factory=dict)
    # Further checks of the parameters against the project; raises ParamsRefused (a value) or
    # KindUnfit (the project).
    check: ParamsCheck | None = None
    # Users (curators) start it from the project page or the API.
    startable: bool = False
    # A round's `round_pipeline` may run it after training.
    pipeline_step: bool = False
    # Its records are a generated batch curators review on the Data page before they train.
    review_batch: bool = False
    # Template (rendered inside the job card) that summarises a succeeded job's metrics.
    card_template: str | None = None
    task: str = RUN_JOB_TASK
    # The task types whose projects it fits (None: every one). Nothing offers a kind where it
    # does not fit, and its start is refused there before anything is queued.
    task_types: tuple[str, ...] | None = None
    # The words of its one-click start button on the project page ("" where it is started
    # elsewhere, with parameters to choose, or not by people at all).
    button: str = ""
    # The task types whose project page shows that button (None: wherever the kind fits). The
    # judge scores any record holding two responses, but only settles pairwise projects.
    button_task_types: tuple[str, ...] | None = None
    # Pages showing what a succeeded job produced, linked from its card and the API.
    results: tuple[ResultLink, ...] = ()
    # The lookup from a Record to the job for "the records this job wrote or judged" (e.g.
    # "created_by_job", "scores__job"); "" where a job has no records of its own.
    records_via: str = ""

    def fits(self, task_type: str) -> bool:
        return self.task_types is None or task_type in self.task_types


@cache
def _registry() -> dict[str, JobKind]:
    kinds: dict[str, JobKind] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        kind = getattr(module, "KIND", None)
        if not isinstance(kind, JobKind):
            raise ImportError(f"{module.__name__} declares no KIND = JobKind(...)")
        if kind.name in kinds:
            raise ImportError(f"job kind {kind.name!r} is declared twice")
        kinds[kind.name] = kind
    return kinds


def all_kinds() -> list[JobKind]:
    return list(_registry().values())


def get(name: str) -> JobKind:
    """The kind called `name`; KeyError for a name nobody declared."""
    return _registry()[name]


def exists(name: str) -> bool:
    return name in _registry()


def choices() -> list[tuple[str, str]]:
    """Choices of Job.kind (a callable, so adding a kind needs no migration)."""
    return [(kind.name, kind.label) for kind in _registry().values()]


def startable() -> list[str]:
    """Kinds users start themselves (the "model jobs" of the API and project page)."""
    return [kind.name for kind in _registry().values() if kind.startable]


def startable_for(task_type: str) -> list[JobKind]:
    """Kinds users may start in a project of this task type."""
    return [kind for kind in _registry().values() if kind.startable and kind.fits(task_type)]


def buttons_for(task_type: str) -> list[JobKind]:
    """Kinds the project page starts with one click, for a project of this task type."""
    return [
        kind
        for kind in startable_for(task_type)
        if kind.button and (kind.button_task_types is None or task_type in kind.button_task_types)
    ]


def pipeline_steps() -> list[str]:
    """Kinds a round's pipeline may run after training."""
    return [kind.name for kind in _registry().values() if kind.pipeline_step]


def review_batches() -> list[str]:
    """Kinds whose output is a generated batch for curators to approve, edit or reject."""
    return [kind.name for kind in _registry().values() if kind.review_batch]


def params_check(project: Project, name: str, params: Mapping[str, Any]) -> None:
    """Refuse, before anything is queued, parameters the job would only fail on later: every
    name declared, every value by its rule, then the kind's own checks against the project.
    Raises ParamsRefused naming each refused parameter, or KindUnfit."""
    kind = get(name)
    if not isinstance(params, Mapping):
        raise ParamsRefused("params must be an object", {"params": "must be an object"})
    errors = {key: "unknown parameter" for key in params if key not in kind.params}
    errors.update(parse_fields(kind.params, params)[1])
    if errors:
        listed = "; ".join(f"{key}: {message}" for key, message in sorted(errors.items()))
        raise ParamsRefused(f"{name} parameters refused ({listed})", errors)
    if kind.check is not None:  # its own words first: they may say what to run instead
        kind.check(project, params)
    if not kind.fits(project.task_type):
        raise KindUnfit(
            f"{kind.label} jobs do not apply to {project.get_task_type_display().lower()} projects"
        )


def names_enum() -> Any:
    """The kinds' names as a StrEnum (`Job.Kind.ROUND == "round"`). Built from the registry at
    run time, so type checkers see it as Any rather than an enum without members."""
    names = {kind.name.upper(): kind.name for kind in all_kinds()}
    return enum.StrEnum("Kind", names)  # members are only known at run time
