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

import enum
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curator.models import Project

# One generic task runs a job of any kind, another any chunk of a fanned-out job; both look the
# runner up here by the job's kind.
RUN_JOB_TASK = "workers.tasks.run_job"
RUN_CHUNK_TASK = "workers.tasks.run_chunk"

ParamsCheck = Callable[["Project", Mapping[str, Any]], None]


class ParamsRefused(ValueError):
    """The parameters (or the project) do not fit the kind; the message is for the user."""


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str
    # "gpu" for work that loads a model, "cpu" for the rest.
    queue: str
    # Dotted path of the job body: a callable `(job) -> metrics` (or a fanned-out spec that is
    # one), imported lazily by workers.runtime, never by the web process.
    runner: str
    # Parameters a caller may set; everything else the job decides from project settings.
    params: frozenset[str] = frozenset()
    # Further checks of the parameters against the project; raises ParamsRefused.
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


def pipeline_steps() -> list[str]:
    """Kinds a round's pipeline may run after training."""
    return [kind.name for kind in _registry().values() if kind.pipeline_step]


def review_batches() -> list[str]:
    """Kinds whose output is a generated batch for curators to approve, edit or reject."""
    return [kind.name for kind in _registry().values() if kind.review_batch]


def params_check(project: Project, name: str, params: Mapping[str, Any]) -> None:
    """Refuse, before anything is queued, parameters the job would only fail on later."""
    kind = get(name)
    unknown = set(params) - kind.params
    if unknown:
        raise ParamsRefused(f"unknown parameter(s) for {name}: {', '.join(sorted(unknown))}")
    ids = params.get("record_ids")
    if ids is not None and not (
        isinstance(ids, list) and ids and all(isinstance(i, int) and i > 0 for i in ids)
    ):
        raise ParamsRefused("record_ids is a non-empty list of record ids")
    if kind.check is not None:
        kind.check(project, params)


def names_enum() -> Any:
    """The kinds' names as a StrEnum (`Job.Kind.ROUND == "round"`). Built from the registry at
    run time, so type checkers see it as Any rather than an enum without members."""
    names = {kind.name.upper(): kind.name for kind in all_kinds()}
    return enum.StrEnum("Kind", names)  # members are only known at run time
