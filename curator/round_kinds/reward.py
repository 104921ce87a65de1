"""The `reward` round: a reward model (Bradley-Terry head with LoRA) on settled choices; once
promoted it scores generated items."""

from __future__ import annotations

from curator.round_kinds.base import RoundKind
from curator.round_kinds.llm_data import preference_snapshot_rows

KIND = RoundKind(
    name="reward",
    title="Reward model",
    snapshot_rows=preference_snapshot_rows,
    runner="workers.jobs.llm_round.reward_round_run",
    stages=("data", "train", "evaluate", "register"),
    trains_llm=True,
)
