"""The `dpo` round: direct preference optimisation of the project's LLM on settled choices."""

from __future__ import annotations

from curator.round_kinds.base import RoundKind
from curator.round_kinds.llm_data import preference_snapshot_rows

KIND = RoundKind(
    name="dpo",
    title="Preference optimisation (DPO)",
    snapshot_rows=preference_snapshot_rows,
    runner="workers.jobs.llm_round.dpo_round_run",
    stages=("data", "train", "evaluate", "register"),
    trains_llm=True,
)
