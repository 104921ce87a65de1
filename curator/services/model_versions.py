"""The model registry's writes: register a trained model, promote it, roll back.

Promotion is serialised per project (a row lock on the project) and done with conditional
UPDATEs; the partial unique index `model_version_one_promoted_per_role` is the backstop, so two
admins promoting at the same moment leave exactly one promoted version of each role.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from curator.hashing import files_sha256
from curator.models import ModelVersion, Project, Round, User
from curator.permissions import Action, require
from curator.services.audit import audit


class PromotionRefused(ValueError):
    """The promotion or rollback cannot happen in the registry's current state."""


def _locked_project(project: Project) -> Project:
    # Every number allocation, promotion and rollback of a project queues behind this lock.
    return Project.objects.select_for_update().get(pk=project.pk)


def model_version_create(
    *,
    project: Project,
    kind: str,
    adapter_dir: Path,
    base_model: str | None = None,
    parent: ModelVersion | None = None,
    round_: Round | None = None,
    hyperparameters: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModelVersion:
    """Register a trained model as a candidate (the next vN of the project).

    `adapter_dir` is the saved PEFT adapter folder (`save_pretrained`), under MEDIA_ROOT; its
    sha256 is taken here. `base_model` defaults to the project's LLM setting; `parent` is the
    version the training continued from (None: the base model). Idempotent per (round, kind): a
    round job redelivered after it registered its model gets the same row back.
    """
    if kind not in ModelVersion.Kind.values:
        raise ValueError(f"unknown model kind {kind!r}: use one of {ModelVersion.Kind.values}")
    adapter_dir = Path(adapter_dir).resolve()
    media = Path(settings.MEDIA_ROOT).resolve()
    if not adapter_dir.is_relative_to(media) or not adapter_dir.exists():
        raise ValueError(f"the adapter {adapter_dir} must be a saved folder under MEDIA_ROOT")
    if parent is not None and parent.project_id != project.pk:
        raise ValueError("the parent version belongs to another project")
    sha256 = files_sha256(adapter_dir)
    with transaction.atomic():
        _locked_project(project)
        if round_ is not None:
            existing = ModelVersion.objects.filter(round=round_, kind=kind).first()
            if existing is not None:
                return existing
        latest = ModelVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"]
        return ModelVersion.objects.create(
            project=project,
            number=(latest or 0) + 1,
            kind=kind,
            role=ModelVersion.ROLE_OF_KIND[kind],
            base_model=base_model or project.setting("llm_model") or settings.CURATOR_LLM_MODEL,
            parent=parent,
            adapter_path=str(adapter_dir.relative_to(media)),
            adapter_sha256=sha256,
            round=round_,
            snapshot_sha256=round_.snapshot_sha256 if round_ is not None else "",
            hyperparameters=hyperparameters or {},
            metrics=metrics or {},
        )


def model_version_promote(version: ModelVersion, user: User) -> ModelVersion:
    """Make `version` the one its project uses for its role, from the next job on (admins).

    The version promoted before it is retired and remembered as `replaced`, which is what a
    rollback returns to. A retired version may be promoted again.
    """
    project = version.project
    require(user, project, Action.PROMOTE_MODEL)
    with transaction.atomic():
        _locked_project(project)
        current = ModelVersion.objects.filter(
            project=project, role=version.role, status=ModelVersion.Status.PROMOTED
        ).first()
        if current is not None and current.pk == version.pk:
            raise PromotionRefused(f"{version.label} is already promoted")
        if current is not None:
            ModelVersion.objects.filter(pk=current.pk, status=ModelVersion.Status.PROMOTED).update(
                status=ModelVersion.Status.RETIRED
            )
        promoted = (
            ModelVersion.objects.filter(pk=version.pk)
            .exclude(status=ModelVersion.Status.PROMOTED)
            .update(
                status=ModelVersion.Status.PROMOTED,
                promoted_by=user,
                promoted_at=timezone.now(),
                replaced=current,
            )
        )
        if promoted != 1:
            raise PromotionRefused(f"{version.label} could not be promoted; reload and retry")
        audit(user, "model.promote", project=project, target=version.label,
              version=version.pk, role=version.role,
              replaced=current.label if current else None)  # fmt: skip
    version.refresh_from_db()
    return version


def model_version_rollback(
    project: Project, user: User, role: str = ModelVersion.Role.LLM
) -> ModelVersion | None:
    """Retire the promoted version of `role` and promote again the one it replaced (admins).

    Returns the version now promoted, or None when the project is back on its base model.
    Repeated rollbacks walk further back, one promotion at a time.
    """
    require(user, project, Action.PROMOTE_MODEL)
    with transaction.atomic():
        _locked_project(project)
        current = ModelVersion.objects.filter(
            project=project, role=role, status=ModelVersion.Status.PROMOTED
        ).first()
        if current is None:
            raise PromotionRefused(f"no {role} version is promoted: nothing to roll back")
        ModelVersion.objects.filter(pk=current.pk, status=ModelVersion.Status.PROMOTED).update(
            status=ModelVersion.Status.RETIRED
        )
        target = current.replaced
        if target is not None:
            # `replaced` of the target stays as it was, so the next rollback goes one further.
            ModelVersion.objects.filter(pk=target.pk).update(
                status=ModelVersion.Status.PROMOTED, promoted_by=user, promoted_at=timezone.now()
            )
            target.refresh_from_db()
        audit(user, "model.rollback", project=project, target=current.label, role=role,
              restored=target.label if target else "base model")  # fmt: skip
    return target


MANIFEST_FIELDS = ("kind", "role", "base_model", "adapter_sha256", "snapshot_sha256", "status")


def model_version_manifest(version: ModelVersion) -> dict[str, Any]:
    """What a serving team needs to know about an exported version."""
    return {
        "project": version.project.slug,
        "version": version.number,
        "served_name": version.served_name,
        **{field: getattr(version, field) for field in MANIFEST_FIELDS},
        "parent": version.parent.number if version.parent else None,
        "round": version.round.number if version.round else None,
        "hyperparameters": version.hyperparameters,
        "metrics": version.metrics,
        "promoted_at": version.promoted_at.isoformat() if version.promoted_at else None,
        "created_at": version.created_at.isoformat(),
        "adapter_folder": "adapter/",
        "load_with": "peft.PeftModel.from_pretrained(base_model, 'adapter')",
    }


def model_version_export(version: ModelVersion, archive: Path) -> Path:
    """Write `archive`: a zip of the PEFT adapter folder (`adapter/`), the merged model when the
    training step saved one next to the adapter (folder `<adapter folder>-merged`, as
    `merged/`), and
    manifest.json. Refuses when the adapter's files no longer match the registered sha256."""
    adapter = version.adapter_dir
    if not adapter.is_dir():
        raise PromotionRefused(f"the adapter folder of {version.label} is missing")
    if files_sha256(adapter) != version.adapter_sha256:
        raise PromotionRefused(f"the adapter files of {version.label} changed since it was made")
    folders = {"adapter": adapter}
    merged = adapter.with_name(f"{adapter.name}-merged")
    if merged.is_dir():
        folders["merged"] = merged
    manifest = {**model_version_manifest(version), "merged_folder": "merged/" if merged.is_dir()
                else None}  # fmt: skip
    # Weights barely compress; storing them keeps the export fast.
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as out:
        for name, folder in folders.items():
            for file in sorted(p for p in folder.rglob("*") if p.is_file()):
                out.write(file, f"{name}/{file.relative_to(folder).as_posix()}")
        out.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return archive
