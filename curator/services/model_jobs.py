"""Starting model jobs (LLM pre-label and routing, toxicity, judge); acting on their output."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation import task_types
from curator.models import Job, Project, Record, User
from curator.permissions import Action, require
from curator.services.audit import audit
from curator.services.jobs import NotStartable, job_create, job_dispatch

MODEL_JOB_KINDS = (
    Job.Kind.PRELABEL,
    Job.Kind.TOXICITY,
    Job.Kind.JUDGE,
    Job.Kind.GENERATE,
    Job.Kind.FILTER,
    Job.Kind.NOISE,
)
# Parameters a caller may set; everything else is decided by the job from project settings.
ALLOWED_PARAMS: dict[str, set[str]] = {
    Job.Kind.PRELABEL: {
        "limit", "few_shot_per_label", "auto_accept_threshold", "spot_check_rate",
        "self_consistency", "seed", "system_template", "user_template", "chunk_size",
        "max_new_tokens",
    },
    Job.Kind.TOXICITY: {"threshold", "rescore", "chunk_size"},
    Job.Kind.JUDGE: {
        "mode", "prompt_field", "a_field", "b_field", "response_field", "human_field", "rubric",
        "judges", "scale", "chunk_size",
    },
    Job.Kind.GENERATE: {
        "generator", "count", "labels", "temperature", "max_new_tokens", "seed", "chunk_size",
        "documents",
    },
    Job.Kind.FILTER: {"filters"},
    Job.Kind.NOISE: {"folds", "seed", "limit", "relabel"},
}  # fmt: skip
GENERATORS = ("instruction", "rewrite", "adversarial", "grounded")
MAX_GENERATED = 2000


class JobNotStartable(NotStartable):
    pass


# Task types the LLM pre-labels (each says how: TaskType.prelabel_method); pairwise
# preferences come from the judge job. Generation writes labeled examples of label-set tasks.
PRELABEL_TASK_TYPES = task_types.supporting(task_types.PRELABEL)
GENERATE_TASK_TYPES = task_types.supporting(task_types.GENERATE)


def model_job_start(
    *, project: Project, kind: str, user: User, params: dict[str, Any] | None = None
) -> Job:
    require(user, project, Action.RUN_MODEL_JOB)
    if kind not in MODEL_JOB_KINDS:
        raise JobNotStartable(f"unknown job kind {kind!r}; use one of {', '.join(MODEL_JOB_KINDS)}")
    params = params or {}
    check_params(project, kind, params)
    with transaction.atomic():
        if Job.objects.filter(
            project=project, kind=kind, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]
        ).exists():
            raise JobNotStartable(f"a {kind} job of this project is already running")
        job = job_create(project=project, kind=kind, params=params, created_by=user)
        audit(user, f"{kind}.start", project=project, target=f"job {job.pk}", params=params)
        job_dispatch(job)
    return job


def record_hold_clear(*, record: Record, user: User) -> None:
    """A curator decides a held record may train after all; later scoring will not re-hold it."""
    require(user, record.project, Action.REVIEW)
    with transaction.atomic():
        Record.objects.filter(pk=record.pk).update(
            held=False, hold_cleared_by=user, hold_cleared_at=timezone.now()
        )
        audit(
            user, "record.hold_clear", project=record.project, target=f"record {record.pk}",
            reason=record.held_reason,
        )  # fmt: skip


def check_params(project: Project, kind: str, params: dict[str, Any]) -> None:
    """Refuse, before queueing, what the job would only fail on later."""
    unknown = set(params) - ALLOWED_PARAMS[kind]
    if unknown:
        raise JobNotStartable(f"unknown parameter(s) for {kind}: {', '.join(sorted(unknown))}")
    if kind == Job.Kind.PRELABEL and project.task_type not in PRELABEL_TASK_TYPES:
        raise JobNotStartable(
            f"LLM pre-labeling does not cover {project.get_task_type_display().lower()} "
            "projects: run the judge, whose verdicts become the suggestions"
        )
    if kind == Job.Kind.GENERATE:
        if project.task_type not in GENERATE_TASK_TYPES:
            raise JobNotStartable("generation writes labeled examples for label-set projects")
        if params.get("generator") not in GENERATORS:
            raise JobNotStartable(f"generator must be one of {', '.join(GENERATORS)}")
        try:
            count = int(params.get("count", 20))
        except (TypeError, ValueError):
            raise JobNotStartable("count must be a whole number") from None
        if not 1 <= count <= MAX_GENERATED:
            raise JobNotStartable(f"count must be between 1 and {MAX_GENERATED}")
        if params["generator"] == "grounded" and not project.documents.exists():
            raise JobNotStartable("grounded generation needs a document: upload one first")
        labels = params.get("labels")
        if labels is not None and (
            not isinstance(labels, list) or set(map(str, labels)) - set(project.label_values)
        ):
            raise JobNotStartable("labels must be a list of this project's labels")
    if kind == Job.Kind.FILTER and "filters" in params:
        from workers.curation import check_config

        try:
            check_config(params["filters"])
        except ValueError as error:
            raise JobNotStartable(str(error)) from None
