"""A project's settings as one typed, validated object.

`Project.settings` stores only what differs from the defaults (JSON); `ProjectSettings` is what
code reads: every key typed, with its default and its rule. The same rules check a stored
document (`from_stored`) and an edit on the settings page (`parse_changes`), and a broken value
is reported with the name of its field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from curator.algorithms.training_config import TrainingConfig

SAMPLING = ("hybrid", "entropy", "committee")
CONSENSUS = ("majority", "dawid_skene")
TRAINERS = ("logreg", "finetune")

Parser = Callable[[Any], Any]


def _integer(low: int, high: int) -> Parser:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _between(low: float, high: float) -> Parser:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        number = float(value)
        if not low <= number <= high:  # also refuses NaN
            raise ValueError(f"must be between {low:g} and {high:g}")
        return number

    return parse


def _optional(parse: Parser) -> Parser:
    """A gate or limit that is off when unset (None, False or an empty string)."""

    def parse_optional(value: Any) -> Any:
        return None if value is False or value == "" else parse(value)

    return parse_optional


def _choice(choices: tuple[str, ...]) -> Parser:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(value)

    return parse


def _text(limit: int) -> Parser:
    def parse(value: Any) -> str | None:
        text = str(value).strip()
        if len(text) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return text or None  # empty: back to the default

    return parse


def _boolean(value: Any) -> bool:
    # A checkbox posts "on"; JSON and the API give true/false.
    return value in (True, "true", "on", "1", 1)


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
    overlap: int = _setting(1, _integer(1, 20))  # distinct annotators wanted per record
    lease_seconds: int = _setting(600, _integer(30, 24 * 3600))  # a handed-out record's hold
    # Share of an annotator's items that are gold records, mixed in unannounced.
    gold_rate: float = _setting(0.05, _between(0, 0.5))
    # How the training label is chosen from several people's labels: "majority" (one vote per
    # person) or "dawid_skene" (votes weighted by each annotator's estimated competence).
    consensus: str = _setting("majority", _choice(CONSENSUS))
    text_field: str = _setting("text", _text(200), editable=False)  # payload key shown/embedded

    # Rounds. How a round orders the queue: "hybrid" (a diverse batch among the most uncertain,
    # then by entropy), "entropy" alone, or "committee" (vote entropy of committee_size members).
    sampling: str = _setting("hybrid", _choice(SAMPLING))
    batch_size: int = _setting(50, _integer(1, 10_000))  # size of the hybrid batch put first
    # Bootstrap committee whose vote entropy is scored too (0 or 1: none).
    committee_size: int = _setting(0, _integer(0, 20))
    # Train on a k-center coreset of this many labeled records (0: all of them); the round also
    # trains on the full set and reports both on gold.
    coreset_size: int = _setting(0, _integer(0, 1_000_000))
    # "logreg": a classifier head on frozen embeddings; "finetune": fine-tune the encoder itself.
    trainer: str = _setting("logreg", _choice(TRAINERS))
    finetune_epochs: int = _setting(3, _integer(1, 50))
    # What a round does after training, in order (noise, prelabel, generate, filter, judge),
    # each a job with the parameters in round_step_params[step].
    round_pipeline: tuple[str, ...] = _setting((), _step_names, editable=False)
    round_step_params: Mapping[str, Mapping[str, Any]] = _setting({}, _step_params, editable=False)
    # Gates before a round trains (None: off).
    gate_min_agreement: float | None = _setting(  # Krippendorff's alpha since the last round
        None, _optional(_between(-1, 1)), editable=False
    )
    gate_min_spot_check_accuracy: float | None = _setting(  # of auto-accepted LLM labels
        None, _optional(_between(0, 1)), editable=False
    )
    gate_contamination: bool = _setting(True, _boolean, editable=False)  # no gold in training

    # LLM routing and toxicity.
    auto_accept_threshold: float = _setting(0.9, _between(0, 1))  # LLM labels skip people
    spot_check_rate: float = _setting(0.1, _between(0, 1))  # auto-accepted, still shown
    toxicity_threshold: float = _setting(0.8, _between(0, 1))  # held from training at or above
    score_toxicity_on_import: bool = _setting(True, _boolean)  # a toxicity job after imports

    # Models (None: the server's default from Django settings) and prompts (None: built in).
    encoder_model: str | None = _setting(None, _text(300))
    llm_model: str | None = _setting(None, _text(300))
    toxicity_model: str | None = _setting(None, _text(300))
    prelabel_system: str | None = _setting(None, _text(4000))
    prelabel_user: str | None = _setting(None, _text(2000))
    # LLM rounds (sft, dpo, reward): LoRA hyper-parameters (curator/algorithms/training_config.py)
    # and how much of gold the evaluation reads and writes.
    llm_training: Mapping[str, Any] = _setting({}, _training)
    llm_eval_gold_limit: int = _setting(32, _integer(1, 10_000))
    llm_eval_max_new_tokens: int = _setting(96, _integer(1, 4096))

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
        unknown = sorted(key for key in changes if key not in EDITABLE)
        if unknown:
            raise ValidationError({key: "not a project setting" for key in unknown})
        values, errors = _parse(changes)
        if errors:
            raise ValidationError(errors)
        return values

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


def _parse(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            values[key] = None
            continue
        try:
            values[key] = FIELDS[key].metadata["parse"](value)
        except (TypeError, ValueError, OverflowError) as error:
            errors[key] = str(error) or "invalid value"
    return values, errors


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(ProjectSettings)}
# What the settings page edits; the pipeline, its step parameters and the gates are set in
# the stored document (the admin, a management shell).
EDITABLE: tuple[str, ...] = tuple(name for name, f in FIELDS.items() if f.metadata["editable"])
DEFAULTS: dict[str, Any] = ProjectSettings().as_dict()
