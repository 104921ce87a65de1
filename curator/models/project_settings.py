"""A project's settings as one typed, validated object.

`Project.settings` stores only what differs from the defaults (JSON); `ProjectSettings` is what
code reads: every key typed, with its default and its rule. The same rules check a stored
document (`from_stored`), an edit on the settings page or `PATCH /api/projects/<slug>/`
(`parse_changes`) and a document given at creation (`parse_document`, `POST /api/projects/`); a
broken value is reported with the name of its field. The rules themselves are
`curator.value_rules`, shared with job parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from curator import value_rules as rules
from curator.algorithms.strategy_choice import COLD_START_LABELS
from curator.algorithms.training_config import TrainingConfig
from curator.value_rules import Rule

SAMPLING = ("auto", "margin", "hybrid", "entropy", "committee", "typical")
CONSENSUS = ("majority", "dawid_skene")
TRAINERS = ("logreg", "finetune")

Parser = Rule


def _step_names(value: Any) -> tuple[str, ...]:
    # Which steps exist is the round pipeline's business; here only the shape is checked.
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        raise ValueError("must be a list of step names")
    return tuple(value)


def _step_params(value: Any) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(value, dict) or not all(isinstance(p, dict) for p in value.values()):
        raise ValueError("must map each step to an object of its parameters")
    return {str(step): dict(params) for step, params in value.items()}


def _training(value: Any) -> Mapping[str, Any]:
    """LoRA hyper-parameters of LLM rounds: checked by the training config itself, so the
    settings page refuses what a round would only fail on later."""
    if not isinstance(value, dict):
        raise ValueError("must be an object of training settings")
    TrainingConfig.from_settings(value)
    return dict(value)


def _setting(default: Any, parse: Parser, *, editable: bool = True) -> Any:
    """A field: its default (used when the key is unset or None), its rule, and whether the
    settings page edits it."""
    if isinstance(default, dict):
        return field(
            default_factory=lambda: dict(default), metadata={"parse": parse, "editable": editable}
        )
    return field(default=default, metadata={"parse": parse, "editable": editable})


@dataclass(frozen=True)
class ProjectSettings:
    # Labeling and assignment.
    overlap: int = _setting(1, rules.whole(1, 20))  # distinct annotators wanted per record
    lease_seconds: int = _setting(600, rules.whole(30, 24 * 3600))  # a handed-out record's hold
    # Share of an annotator's items that are gold records, mixed in unannounced.
    gold_rate: float = _setting(0.05, rules.between(0, 0.5))
    # How the training label is chosen from several people's labels: "majority" (one vote per
    # person) or "dawid_skene" (votes weighted by each annotator's estimated competence).
    consensus: str = _setting("majority", rules.choice(CONSENSUS))
    # The payload key shown and embedded.
    text_field: str = _setting("text", rules.text(200), editable=False)

    # Rounds. How a round orders the queue (curator/algorithms/sampling.py, `queue_order`):
    # "auto" (a bandit picks per round from the gold accuracy each strategy's batches brought,
    # curator/algorithms/strategy_choice.py), "margin" (smallest gap between the two likeliest
    # labels), "hybrid" (a diverse batch among the most uncertain, then by entropy), "entropy",
    # "committee" (vote entropy of committee_size members, 5 when unset) or "typical" (the cold
    # start: the most typical record of each uncovered cluster, TypiClust).
    sampling: str = _setting("auto", rules.choice(SAMPLING))
    batch_size: int = _setting(50, rules.whole(1, 10_000))  # size of the batch put first
    # Typical batches (the cold start) order the queue until this many labels trained, for
    # `auto` and every uncertainty strategy (0: no cold start).
    cold_start_labels: int = _setting(COLD_START_LABELS, rules.whole(0, 1_000_000))
    # Bootstrap committee whose vote entropy is scored too (0 or 1: none).
    committee_size: int = _setting(0, rules.whole(0, 20))
    # Train on a k-center coreset of this many labeled records (0: all of them); the round also
    # trains on the full set and reports both on gold.
    coreset_size: int = _setting(0, rules.whole(0, 1_000_000))
    # "logreg": a classifier head on frozen embeddings; "finetune": fine-tune the encoder itself.
    trainer: str = _setting("logreg", rules.choice(TRAINERS))
    finetune_epochs: int = _setting(3, rules.whole(1, 50))
    # What a round does after training, in order (noise, prelabel, generate, filter, judge),
    # each a job with the parameters in round_step_params[step].
    round_pipeline: tuple[str, ...] = _setting((), _step_names, editable=False)
    round_step_params: Mapping[str, Mapping[str, Any]] = _setting({}, _step_params, editable=False)
    # Gates before a round trains (None: off).
    gate_min_agreement: float | None = _setting(  # Krippendorff's alpha since the last round
        None, rules.optional(rules.between(-1, 1)), editable=False
    )
    gate_min_spot_check_accuracy: float | None = _setting(  # of auto-accepted LLM labels
        None, rules.optional(rules.between(0, 1)), editable=False
    )
    gate_contamination: bool = _setting(True, rules.boolean, editable=False)  # no gold in training

    # LLM routing and toxicity. A model label skips people when its pooled confidence (the
    # calibrated LLM and the latest round's calibrated classifier) reaches the threshold: a fixed
    # one when set, else the lowest at which labels checked by people are right at least
    # routing_target_precision of the time (lower end of a Wilson interval); spot checks below
    # the target stop auto-accepting (curator/algorithms/routing.py).
    auto_accept_threshold: float | None = _setting(None, rules.optional(rules.between(0, 1)))
    routing_target_precision: float = _setting(0.95, rules.between(0.5, 1))
    # People's labels a pre-label job scores to measure its signals on (0: earlier checks only).
    routing_evidence_size: int = _setting(200, rules.whole(0, 5000))
    # Auto-accept only where the LLM and the classifier name the same label.
    routing_require_agreement: bool = _setting(False, rules.boolean)
    spot_check_rate: float = _setting(0.1, rules.between(0, 1))  # auto-accepted, still shown
    toxicity_threshold: float = _setting(0.8, rules.between(0, 1))  # held at or above
    score_toxicity_on_import: bool = _setting(True, rules.boolean)  # a toxicity job after imports
    # Suggestions shown to annotators: none whose confidence is within this of chance (1/k for
    # k choices), none from a judge whose verdicts flipped with the order more often than this.
    suggestion_min_margin: float = _setting(0.1, rules.between(0, 1))
    suggestion_max_position_bias: float = _setting(0.3, rules.between(0, 1))

    # Models (None: the server's default from Django settings) and prompts (None: built in).
    encoder_model: str | None = _setting(None, rules.text(300))
    llm_model: str | None = _setting(None, rules.text(300))
    toxicity_model: str | None = _setting(None, rules.text(300))
    prelabel_system: str | None = _setting(None, rules.text(4000))
    prelabel_user: str | None = _setting(None, rules.text(2000))
    # LLM rounds (sft, dpo, reward): LoRA hyper-parameters (curator/algorithms/training_config.py)
    # and how much of gold the evaluation reads and writes.
    llm_training: Mapping[str, Any] = _setting({}, _training)
    llm_eval_gold_limit: int = _setting(32, rules.whole(1, 10_000))
    llm_eval_max_new_tokens: int = _setting(96, rules.whole(1, 4096))

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> ProjectSettings:
        """The settings a project's JSON document describes; unset or None keys take their
        default, keys that are no setting (left by an older version) are ignored. Raises
        ValidationError naming every broken field."""
        values, errors = _parse(
            {key: value for key, value in (stored or {}).items() if key in FIELDS}
        )
        if errors:
            raise ValidationError(errors)
        return cls(**{key: value for key, value in values.items() if value is not None})

    @staticmethod
    def parse_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
        """Parse an edit of the editable settings: all or nothing. A None result means "back
        to the default". Raises ValidationError naming every refused field."""
        return _parse_known(changes, EDITABLE)

    @staticmethod
    def parse_document(document: Mapping[str, Any] | None) -> dict[str, Any]:
        """A whole settings document given at creation (the API): every key a setting, every
        value by its rule; returns what to store (unset keys take their defaults). Raises
        ValidationError naming every refused field."""
        values = _parse_known(document or {}, tuple(FIELDS))
        return {key: _stored(value) for key, value in values.items() if value is not None}

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


def _parse(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    return rules.parse_fields({key: f.metadata["parse"] for key, f in FIELDS.items()}, raw)


def _parse_known(raw: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """All or nothing: unknown keys and broken values raise one ValidationError by field."""
    if not isinstance(raw, Mapping):
        raise ValidationError({"settings": "must be an object of settings"})
    errors = {
        str(key): "not a project setting" if key not in FIELDS else "not editable here"
        for key in raw
        if key not in allowed
    }
    values, refused = _parse({key: value for key, value in raw.items() if key in allowed})
    errors.update(refused)
    if errors:
        raise ValidationError(errors)
    return values


def _stored(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(ProjectSettings)}
# What the settings page edits; the pipeline, its step parameters and the gates are set in
# the stored document (the admin, a management shell).
EDITABLE: tuple[str, ...] = tuple(name for name, f in FIELDS.items() if f.metadata["editable"])
DEFAULTS: dict[str, Any] = ProjectSettings().as_dict()
