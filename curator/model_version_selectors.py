"""Model registry reads: the promoted version, the versions list, and lineage questions: which
data trained vN, what was built on vN, which version labeled, judged or generated a record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from annotation.models import Annotation
from curator.models import Job, ModelVersion, Project, Record, Round, RoundSnapshotItem, Score

# Round.config key under which a round records the version it continued training from, so
# "which rounds built on vN" also finds rounds that produced no version (failed, cancelled).
ROUND_PARENT_KEY = "parent_model_version_id"


def promoted_version(project: Project, role: str = ModelVersion.Role.LLM) -> ModelVersion | None:
    """The version the project uses for `role` now (None: the base model, no adapter)."""
    return (
        ModelVersion.objects.filter(project=project, role=role, status=ModelVersion.Status.PROMOTED)
        .select_related("project")
        .first()
    )


def project_versions(project: Project) -> QuerySet[ModelVersion]:
    """Every version of the project, newest first."""
    return ModelVersion.objects.filter(project=project).select_related(
        "round", "parent", "promoted_by", "project"
    )


def round_version(round_: Round) -> ModelVersion | None:
    """The version a round registered (None until an LLM round finishes, and for other kinds)."""
    return ModelVersion.objects.filter(round=round_).select_related("project").first()


def version_training_items(version: ModelVersion) -> QuerySet[RoundSnapshotItem]:
    """Which data trained vN: the frozen snapshot of its round (the data of its ancestors is in
    theirs: a version continues training its parent)."""
    if version.round_id is None:
        return RoundSnapshotItem.objects.none()
    return RoundSnapshotItem.objects.filter(round_id=version.round_id).order_by("id")


def version_ancestors(version: ModelVersion) -> list[ModelVersion]:
    """Parent, grandparent, ... up to the version trained from the base model."""
    chain: list[ModelVersion] = []
    seen = {version.pk}
    current = version.parent
    while current is not None and current.pk not in seen:
        chain.append(current)
        seen.add(current.pk)
        current = current.parent
    return chain


def rounds_built_on(version: ModelVersion) -> QuerySet[Round]:
    """Rounds that continued training from vN: the rounds of its children, and rounds that
    recorded vN as their starting point."""
    return (
        Round.objects.filter(
            Q(model_versions__parent=version) | Q(**{f"config__{ROUND_PARENT_KEY}": version.pk}),
            project_id=version.project_id,
        )
        .distinct()
        .order_by("number")
    )


def version_lineage(version: ModelVersion) -> dict[str, Any]:
    """Where vN came from and what came of it, for its page and the API."""
    round_ = version.round
    return {
        "round": round_.number if round_ is not None else None,
        "snapshot_sha256": version.snapshot_sha256,
        "training_items": version_training_items(version).count(),
        "parent": version.parent.number if version.parent else None,
        "ancestors": [v.number for v in version_ancestors(version)],
        "children": list(version.children.order_by("number").values_list("number", flat=True)),
        "rounds_built_on": list(rounds_built_on(version).values_list("number", flat=True)),
        "jobs": version.jobs.count(),
    }


@dataclass(frozen=True)
class ModelVersionUse:
    what: str  # generated, labeled or scored
    job: int
    job_kind: str
    version: int
    adapter_sha256: str
    identity: dict[str, Any]  # the job's model identity (base model, adapter, ...)


def record_model_versions(record: Record) -> list[ModelVersionUse]:
    """Which model versions labeled, judged, scored or generated this record, oldest first:
    through the job that wrote each label, score or the record itself."""
    found: list[ModelVersionUse] = []
    job = record.created_by_job
    if job is not None and job.model_version_id is not None:
        found.append(_use("generated", job))
    label_jobs = Job.objects.filter(
        pk__in=Annotation.objects.filter(record=record, job__model_version__isnull=False).values(
            "job_id"
        )
    )
    score_jobs = Job.objects.filter(
        pk__in=Score.objects.filter(record=record, job__model_version__isnull=False).values(
            "job_id"
        )
    )
    for what, jobs in (("labeled", label_jobs), ("scored", score_jobs)):
        for job in jobs.select_related("model_version").order_by("id"):
            found.append(_use(what, job))
    return found


def _use(what: str, job: Job) -> ModelVersionUse:
    version = job.model_version
    assert version is not None
    return ModelVersionUse(
        what=what,
        job=job.pk,
        job_kind=job.kind,
        version=version.number,
        adapter_sha256=version.adapter_sha256,
        identity=job.model_identity,
    )
