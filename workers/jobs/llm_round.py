"""LLM rounds (`sft`, `dpo`, `reward`): train the project's LLM on the round's frozen snapshot,
evaluate the candidate on gold against the model it would replace, register it as a candidate.

Stages: `data` (training rows from the snapshot, gold rows), `train` (TRL + PEFT LoRA, continuing
the promoted adapter when there is one), `evaluate` (one table: base, in-context, candidate,
promoted), `register` (a ModelVersion candidate; an admin promotes it).

A redelivered job is harmless: training resumes from its last checkpoint in the round's own
folder (a finished run returns its result without training again), and the version is
registered once per round.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from annotation import task_types
from annotation.labels import gold_annotations
from annotation.models import Annotation
from curator.algorithms.training_config import TrainingConfig
from curator.model_version_selectors import promoted_version
from curator.models import Job, ModelVersion, Project, Round, RoundSnapshotItem
from curator.round_kinds import RoundResult
from curator.services.jobs import JobCancelled
from curator.services.model_versions import model_version_create
from workers.inference import llm_eval, llm_training
from workers.jobs.project_llm import job_llm
from workers.runtime import job_progress

logger = logging.getLogger(__name__)
FEW_SHOT = 2  # training examples shown in context for the in-context variant
LOSS_POINTS = 500  # the live loss curve keeps at most this many points


@dataclass
class RoundData:
    """What the `data` stage hands on: training rows and gold rows in the trainers' shapes."""

    rows: list[Any]  # chat messages (sft) or {prompt, chosen, rejected} (dpo, reward)
    gold: list[dict[str, Any]] = field(default_factory=list)  # {prompt, reference}
    pairs: list[dict[str, Any]] = field(default_factory=list)  # gold {prompt, chosen, rejected}
    few_shot: list[dict[str, Any]] = field(default_factory=list)  # {prompt, reference}


def _export_rows(project: Project, items: list[tuple[dict, Any]]) -> list[dict[str, Any]]:
    return [
        task_types.export_row(project.task_type, payload, value, project.settings_obj.text_field)
        for payload, value in items
    ]


def stage_data(job: Job, round_: Round) -> RoundData:
    """Training rows from the frozen snapshot (each row's annotation is immutable, so this reads
    exactly what was frozen), gold rows from the project's gold split."""
    job_progress(job, done=0, total=0, stage="preparing data")
    project = round_.project
    snapshot = (
        RoundSnapshotItem.objects.filter(round=round_)
        .order_by("record_id")
        .values_list("record__payload", "annotation__value")
    )
    exported = _export_rows(project, list(snapshot))
    gold_ids = [annotation_id for annotation_id, _ in gold_annotations(project).values()]
    gold_exported = _export_rows(
        project,
        list(
            Annotation.objects.filter(pk__in=gold_ids)
            .order_by("record_id")
            .values_list("record__payload", "value")[: project.settings_obj.llm_eval_gold_limit]
        ),
    )
    if round_.kind == "sft":
        return RoundData(
            rows=[row["messages"] for row in exported],
            gold=[{"prompt": row["prompt"], "reference": row["response"]} for row in gold_exported],
            few_shot=[
                {"prompt": row["prompt"], "reference": row["response"]}
                for row in exported[:FEW_SHOT]
            ],
        )
    pairs = [_pair(row) for row in gold_exported if row.get("chosen")]
    return RoundData(
        rows=[_pair(row) for row in exported if row.get("chosen")],
        pairs=pairs,
        # The judged win rate asks for answers to the gold prompts; the chosen one is the
        # reference people preferred.
        gold=[{"prompt": pair["prompt"], "reference": pair["chosen"]} for pair in pairs],
    )


def _pair(row: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}


class _TrainingReporter:
    """Streams step, loss and learning rate into the job row (a live loss curve on the round
    page) and tells the trainer to stop when the job was cancelled."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.curve: list[dict[str, float | None]] = []
        self.stopped = False

    def on_progress(self, progress: llm_training.TrainingProgress) -> None:
        self.curve.append(
            {"step": progress.step, "loss": progress.loss, "learning_rate": progress.learning_rate}
        )
        Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING).update(
            metrics={
                "loss_curve": self.curve[-LOSS_POINTS:],
                "max_steps": progress.max_steps,
                "tokens_per_second": progress.tokens_per_second,
            }
        )
        try:
            job_progress(self.job, done=progress.step, total=progress.max_steps, stage="training")
        except JobCancelled:
            self.stopped = True  # the trainer stops at its next step boundary

    def should_stop(self) -> bool:
        if not self.stopped:
            self.stopped = not Job.objects.filter(
                pk=self.job.pk, status=Job.Status.RUNNING
            ).exists()
        return self.stopped


def round_folder(round_: Round) -> Path:
    """The round's own training folder (checkpoints, then the adapter), under MEDIA_ROOT.

    Keyed by the round's id and snapshot digest, not only its number: a project deleted and
    created again under the same slug must never resume (or reuse) another round's training.
    """
    name = f"round-{round_.number}-{round_.kind}-{round_.pk}-{round_.snapshot_sha256[:12]}"
    return Path(settings.MEDIA_ROOT) / "models" / round_.project.slug / name


def stage_train(
    job: Job, round_: Round, data: RoundData, parent: ModelVersion | None
) -> tuple[llm_training.TrainingResult, TrainingConfig, str]:
    project = round_.project
    config = TrainingConfig.from_settings(project.settings_obj.llm_training)
    base = (
        parent.base_model
        if parent
        else (project.settings_obj.llm_model or settings.CURATOR_LLM_MODEL)
    )
    reporter = _TrainingReporter(job)
    job_progress(job, done=0, total=0, stage="training")
    result = llm_training.TRAINERS[round_.kind](
        data.rows,
        base,
        _adapter_path(parent),
        config,
        round_folder(round_),
        llm_training.TrainingHooks(
            on_progress=reporter.on_progress, should_stop=reporter.should_stop
        ),
        device=settings.CURATOR_DEVICE,
    )
    if result.status == "cancelled":
        raise JobCancelled(f"round {round_.number} was cancelled during training")
    return result, config, base


def _adapter_path(version: ModelVersion | None) -> str | None:
    return str(version.adapter_dir) if version else None


def stage_evaluate(
    job: Job,
    round_: Round,
    data: RoundData,
    base: str,
    adapter: str,
    promoted: ModelVersion | None,
) -> dict[str, Any]:
    """One table on gold: base, in-context, candidate and the promoted version."""
    job_progress(job, done=0, total=0, stage="evaluating on gold")
    project = round_.project
    if round_.kind == "reward":
        report = llm_eval.evaluate_reward_variants(
            base,
            adapter,
            data.pairs,
            promoted_adapter=_adapter_path(promoted),
            device=settings.CURATOR_DEVICE,
        )
        return report.to_json()
    # The judge is the project's current LLM (the promoted version, or the base model).
    judges = [job_llm(job)] if data.gold else []
    report = llm_eval.evaluate_variants(
        base,
        adapter,
        kind="sft" if round_.kind == "sft" else "dpo",
        gold=data.gold,
        pairs=data.pairs,
        promoted_adapter=_adapter_path(promoted),
        few_shot=data.few_shot,
        judges=judges,
        max_new_tokens=project.settings_obj.llm_eval_max_new_tokens,
        device=settings.CURATOR_DEVICE,
    )
    return report.to_json()


def _role(kind: str) -> str:
    return ModelVersion.ROLE_OF_KIND[kind]


def llm_round_run(job: Job, round_: Round, **options: Any) -> RoundResult:
    """Runner of the `sft`, `dpo` and `reward` kinds (curator/round_kinds/)."""
    project = round_.project
    promoted = promoted_version(project, _role(round_.kind))
    data = stage_data(job, round_)
    if not data.rows:
        raise ValueError("the snapshot holds no training rows for this round kind")
    training, config, base = stage_train(job, round_, data, promoted)
    assert training.adapter_dir is not None  # a completed run always saves its adapter
    evaluation = stage_evaluate(job, round_, data, base, training.adapter_dir, promoted)
    job_progress(job, done=0, total=0, stage="registering the candidate")
    summary = {
        "steps": training.steps,
        "rows": training.rows,
        "tokens_seen": training.tokens_seen,
        "seconds": training.seconds,
        "tokens_per_second": training.tokens_per_second,
        "loss_curve": training.loss_history,
        "resumed_from_step": training.resumed_from_step,
    }
    version = model_version_create(
        project=project,
        kind=round_.kind,
        adapter_dir=Path(training.adapter_dir),
        base_model=base,
        parent=promoted,
        round_=round_,
        hyperparameters=config.as_dict(),
        metrics={"evaluation": evaluation, "training": summary},
    )
    metrics = {
        "kind": round_.kind,
        "training": summary,
        "evaluation": evaluation,
        "model_version": version.number,
        "model_version_id": version.pk,
        "parent_model_version": promoted.number if promoted else None,
        "base_model": base,
        "gold_size": len(data.gold) or len(data.pairs),
    }
    return RoundResult(
        metrics=metrics,
        model_artifact=version.adapter_path,
        model_sha256=version.adapter_sha256,
    )


sft_round_run = dpo_round_run = reward_round_run = llm_round_run
