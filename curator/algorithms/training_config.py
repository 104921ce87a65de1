"""Hyper-parameters of an LLM training round (SFT, DPO, reward model) with LoRA. Pure: no torch.

Kept apart from `workers/inference/llm_training.py` so that the web process can validate a
project's training settings without importing torch, TRL or PEFT.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ALL_LINEAR = "all-linear"  # PEFT's shorthand: every linear layer except the output head


@dataclass(frozen=True)
class TrainingConfig:
    """One training run's settings. The defaults suit a LoRA on a small instruct model."""

    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int | None = None  # when set, it wins over epochs
    max_length: int = 1024
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.0
    seed: int = 0
    beta: float = 0.1  # DPO: how far the policy may move from the reference
    save_steps: int = 50
    save_total_limit: int = 2
    logging_steps: int = 1
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("invalid training settings: " + "; ".join(problems))

    @classmethod
    def from_settings(cls, values: Mapping[str, Any] | None) -> TrainingConfig:
        """Build from a JSON-like mapping (a project's training settings), defaults for the rest.

        Raises ValueError naming every unknown key and every bad value, so a settings form can
        show them all at once.
        """
        values = dict(values or {})
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        problems = [f"unknown setting {key!r}" for key in unknown]
        kwargs: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in values:
                continue
            value = values[field.name]
            try:
                kwargs[field.name] = _coerce(field.name, value)
            except ValueError as error:
                problems.append(str(error))
        if problems:
            if unknown:
                problems.append("known settings: " + ", ".join(sorted(known)))
            raise ValueError("invalid training settings: " + "; ".join(problems))
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for recording the hyper-parameters next to the trained model."""
        data = dataclasses.asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data


_INTEGERS = {
    "lora_rank", "lora_alpha", "max_length", "per_device_batch_size",
    "gradient_accumulation_steps", "seed", "save_steps", "save_total_limit", "logging_steps",
}  # fmt: skip
_FLOATS = {"lora_dropout", "learning_rate", "epochs", "warmup_ratio", "beta"}


def _coerce(name: str, value: Any) -> Any:
    """JSON values to the field's type; bools are not numbers here (a form checkbox is not 1)."""
    if name in _INTEGERS or (name == "max_steps" and value is not None):
        if not _finite_number(value) or value != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(value)
    if name in _FLOATS:
        if not _finite_number(value):
            raise ValueError(f"{name} must be a number, got {value!r}")
        return float(value)
    if name == "gradient_checkpointing":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if name == "target_modules":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"target_modules must be a list of module names, got {value!r}")
        return tuple(value)
    return value


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("lora_rank", lambda v: v >= 1, "at least 1"),
    ("lora_alpha", lambda v: v >= 1, "at least 1"),
    ("lora_dropout", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("target_modules", lambda v: bool(v) and all(m.strip() for m in v), "one or more names"),
    ("learning_rate", lambda v: 0 < v <= 1, "in (0, 1]"),
    ("epochs", lambda v: v >= 0, "0 or more"),
    ("max_steps", lambda v: v is None or v >= 1, "at least 1 (or unset)"),
    ("max_length", lambda v: v >= 16, "at least 16"),
    ("per_device_batch_size", lambda v: v >= 1, "at least 1"),
    ("gradient_accumulation_steps", lambda v: v >= 1, "at least 1"),
    ("warmup_ratio", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("seed", lambda v: v >= 0, "0 or more"),
    ("beta", lambda v: v > 0, "above 0"),
    ("save_steps", lambda v: v >= 1, "at least 1"),
    ("save_total_limit", lambda v: v >= 1, "at least 1"),
    ("logging_steps", lambda v: v >= 1, "at least 1"),
)


def _problems(config: TrainingConfig) -> list[str]:
    problems = [
        f"{name} must be {requirement}, got {getattr(config, name)!r}"
        for name, holds, requirement in _RULES
        if not holds(getattr(config, name))
    ]
    if config.max_steps is None and config.epochs <= 0:
        problems.append("epochs must be above 0 when max_steps is not set")
    return problems


# The training settings the project settings page edits one by one; the other keys (target
# modules, seed, beta, ...) keep their stored values.
FORM_FIELDS = (
    "max_steps", "epochs", "learning_rate", "lora_rank", "per_device_batch_size", "max_length",
)  # fmt: skip


def settings_from_form(stored: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """The training settings after a settings-page edit: each posted FORM_FIELDS value replaces
    the stored one, an empty field returns to its default, other stored keys stay as they are.

    Raises ValueError naming every field that is not a number; the ranges are `from_settings`'
    business, so a whole number where one is due stays an int and anything else a float for it
    to refuse.
    """
    values = dict(stored)
    problems = []
    for name in FORM_FIELDS:
        if name not in form:
            continue
        text = str(form[name]).strip()
        if not text:
            values.pop(name, None)
            continue
        try:
            number = float(text)
        except ValueError:
            problems.append(f"{name} must be a number, got {text!r}")
            continue
        whole = name in _INTEGERS or name == "max_steps"
        values[name] = int(number) if whole and number.is_integer() else number
    if problems:
        raise ValueError("invalid training settings: " + "; ".join(problems))
    return values
