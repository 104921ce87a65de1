"""Round kinds: one module per kind, listed once here.

Adding a kind (e.g. `sft`, `dpo`, `reward`) = one module declaring a `RoundKind` (name, task
types, snapshot rows, runner) plus its tests, and one line in KINDS. Order matters: a project's
default kind is the first one that fits its task type.
"""

from __future__ import annotations

from curator.round_kinds import classifier, dpo, reward, sft
from curator.round_kinds.base import RoundKind, RoundNotStartable, RoundResult, SnapshotRow

KINDS: dict[str, RoundKind] = {
    kind.name: kind for kind in (classifier.KIND, sft.KIND, dpo.KIND, reward.KIND)
}

__all__ = ["KINDS", "RoundKind", "RoundNotStartable", "RoundResult", "SnapshotRow", "kind_choose",
           "kind_named", "kinds_for"]  # fmt: skip


def kinds_for(task_type: str) -> list[RoundKind]:
    """The kinds a project of this task type can start, default first."""
    return [kind for kind in KINDS.values() if kind.fits(task_type)]


def kind_named(name: str) -> RoundKind:
    """The kind of an existing round (its stored name)."""
    try:
        return KINDS[name]
    except KeyError:
        raise RoundNotStartable(f"unknown round kind {name!r}") from None


def kind_choose(task_type: str, name: str | None = None) -> RoundKind:
    """The kind to start: `name` if it fits the task type, else the first that fits.

    Raises RoundNotStartable with what would fit, so the caller can say it plainly.
    """
    fitting = kinds_for(task_type)
    offered = ", ".join(kind.name for kind in fitting)
    if not name:
        if not fitting:
            raise RoundNotStartable(
                f"no round kind trains on {task_type} projects yet; export the labels instead"
            )
        return fitting[0]
    if name not in KINDS:
        raise RoundNotStartable(
            f"unknown round kind {name!r}; "
            + (f"use: {offered}" if fitting else "none fits this project")
        )
    kind = KINDS[name]
    if not kind.fits(task_type):
        raise RoundNotStartable(
            f"a {name} round does not train on {task_type} projects; "
            + (f"use: {offered}" if fitting else "no round kind fits this project yet")
        )
    return kind
