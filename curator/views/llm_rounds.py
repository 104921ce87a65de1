"""What the round page shows for a round that trains the LLM (sft, dpo, reward): the live loss
curve with step and throughput, the evaluation table, side-by-side samples and the candidate
version with its Promote button. Presentation only: the numbers come from the round job."""

from __future__ import annotations

from typing import Any

from django.utils.safestring import mark_safe

from curator import charts
from curator.model_version_selectors import round_version
from curator.models import Job, ModelVersion, Round, User
from curator.permissions import Action, can

# Evaluation variants: the name on the page and what the variant is.
VARIANTS = {
    "base": ("Base", "the base model, no adapter"),
    "in_context": ("In-context", "the base model shown training examples in the prompt"),
    "candidate": ("Candidate", "this round's adapter"),
    "promoted": ("Promoted", "the version in use when the round ran"),
}
# The outputs a sample shows side by side, after the prompt.
SAMPLE_COLUMNS = (
    ("reference", "Reference (people)"),
    ("base", "Base"),
    ("in_context", "In-context"),
    ("candidate", "Candidate"),
    ("promoted", "Promoted"),
)
# Columns of the evaluation table; a column no row fills is left out.
MEASURES = ("mean_loglik", "rouge_l", "win_rate", "preference_accuracy", "reward_accuracy")


def llm_round_panel(round_: Round, job: Job | None, user: User) -> dict[str, Any]:
    """The round page's LLM section: training progress, evaluation and promotion."""
    evaluation = round_.metrics.get("evaluation") or {}
    rows = evaluation.get("rows") or []
    version = round_version(round_)
    training = _training(round_, job)
    return {
        "training": training,
        "snapshot_size": round_.snapshot_items.count(),
        "loss_chart": mark_safe(  # noqa: S308 - charts escape every text they draw
            charts.line_chart(
                "Training loss",
                [(point["step"], point["loss"]) for point in training["curve"]],
                "step",
                "loss",
            )
        ),
        "evaluation": evaluation,
        "rows": [_row(row) for row in rows],
        "measures": {m: any(row.get(m) is not None for row in rows) for m in MEASURES},
        "baseline_version": round_.metrics.get("parent_model_version"),
        "samples": [_sample(sample) for sample in evaluation.get("samples") or []],
        "version": version,
        "can_promote": (
            version is not None
            and version.status != ModelVersion.Status.PROMOTED
            and can(user, round_.project, Action.PROMOTE_MODEL)
        ),
    }


def _training(round_: Round, job: Job | None) -> dict[str, Any]:
    """The finished run's summary, or the job's live figures while it trains (also what a
    cancelled or failed round got to)."""
    done = round_.metrics.get("training")
    if done:
        return {
            "curve": done.get("loss_curve") or [],
            "step": done.get("steps"),
            "max_steps": done.get("steps"),
            "tokens_per_second": done.get("tokens_per_second"),
            "seconds": done.get("seconds"),
            "rows": done.get("rows"),
            "resumed_from_step": done.get("resumed_from_step"),
            "finished": True,
        }
    live = (job.metrics if job else None) or {}
    curve = live.get("loss_curve") or []
    return {
        "curve": curve,
        "step": curve[-1]["step"] if curve else 0,
        "max_steps": live.get("max_steps"),
        "tokens_per_second": live.get("tokens_per_second"),
        "finished": False,
    }


def _row(row: dict[str, Any]) -> dict[str, Any]:
    name, description = VARIANTS.get(row["variant"], (row["variant"], ""))
    return {**row, "name": name, "description": description}


def _sample(sample: dict[str, Any]) -> dict[str, Any]:
    return {
        "prompt": sample.get("prompt", ""),
        "outputs": [
            (title, sample[key]) for key, title in SAMPLE_COLUMNS if sample.get(key) is not None
        ],
    }
