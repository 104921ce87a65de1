"""The one list of task types. Project.task_type's choices, forms, the API and every caller
that needs a task type's rules read it from here.

Adding a task type: a module in this package with a `TaskType` subclass, one line in TASK_TYPES,
its card template (templates/annotation/tasks/<name>.html) and its tests.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from annotation.task_types.base import TaskType
from annotation.task_types.classification import Classification
from annotation.task_types.correction import Correction
from annotation.task_types.multilabel import Multilabel
from annotation.task_types.pairwise import Pairwise
from annotation.task_types.rating import Rating
from annotation.task_types.span import Span

# In the order the project form offers them; the first is the default.
TASK_TYPES: tuple[TaskType, ...] = (
    Classification(),
    Multilabel(),
    Rating(),
    Pairwise(),
    Correction(),
    Span(),
)
_BY_NAME: dict[str, TaskType] = {task.name: task for task in TASK_TYPES}
assert len(_BY_NAME) == len(TASK_TYPES), "two task types share a name"


def get(name: str) -> TaskType:
    """The task type stored as `name`; ValidationError (a 400 to clients) if there is none."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValidationError(f"unknown task type {name!r}") from None


def all() -> tuple[TaskType, ...]:
    return TASK_TYPES


def names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def choices() -> list[tuple[str, str]]:
    """(stored value, title) pairs for Project.task_type and the forms that set it."""
    return [(task.name, task.title) for task in TASK_TYPES]


def supporting(model_job: str) -> tuple[str, ...]:
    """Names of the task types a model job writes labels for (see TaskType.model_jobs)."""
    return tuple(task.name for task in TASK_TYPES if model_job in task.model_jobs)
