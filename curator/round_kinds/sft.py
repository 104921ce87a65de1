"""The `sft` round: LoRA supervised fine-tuning of the project's LLM on corrected responses."""

from __future__ import annotations

from curator.round_kinds.base import RoundKind
from curator.round_kinds.llm_data import sft_snapshot_rows

KIND = RoundKind(
    name="sft",
    title="Supervised fine-tuning (SFT)",
    snapshot_rows=sft_snapshot_rows,
    runner="workers.jobs.llm_round.sft_round_run",
    stages=("data", "train", "evaluate", "register"),
    trains_llm=True,
)
