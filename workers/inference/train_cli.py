"""Train an LLM round's data outside the web app, on one GPU or many with `accelerate launch`.

The function is the one the round job runs (`train_sft`, `train_dpo`, `train_reward`), so a run
here gives the same adapter as a round would. The data is a round's training set exported with
`manage.py curator_export <slug> <dir> --round N` (JSONL in the task type's trainer shape:
`messages` rows for SFT, `prompt`/`chosen`/`rejected` rows for DPO and reward).

    python -m workers.inference.train_cli --kind sft --data data.jsonl --output run/
    accelerate launch --config_file workers/inference/accelerate/multi_gpu.yaml \\
        -m workers.inference.train_cli --kind dpo --data data.jsonl --output run/ \\
        --base Qwen/Qwen2.5-1.5B-Instruct --settings '{"max_steps": 200}'

Without a new trainer or launcher of our own: `accelerate launch` (or `torchrun`, which it uses
for GPUs) starts one process per device and the TRL trainers run data-parallel under it; the
first process writes the adapter and `result.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from curator.algorithms.training_config import TrainingConfig
from workers.inference import llm_training


def training_rows(kind: str, path: Path) -> list[Any]:
    """The rows a trainer takes, from exported JSONL (ties and rows without a pair skipped)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if kind == "sft":
            rows.append(row["messages"])
        elif row.get("chosen") and row.get("rejected"):
            rows.append({key: row[key] for key in ("prompt", "chosen", "rejected")})
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=sorted(llm_training.TRAINERS), required=True)
    parser.add_argument("--data", type=Path, required=True, help="exported JSONL")
    parser.add_argument("--output", type=Path, required=True, help="checkpoints and adapter")
    parser.add_argument("--base", default="bundled:SmolLM2-135M-Instruct")
    parser.add_argument("--parent", default=None, help="adapter to continue (the promoted one)")
    parser.add_argument("--settings", default="{}", help="training settings as JSON")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    config = TrainingConfig.from_settings(json.loads(args.settings))
    rows = training_rows(args.kind, args.data)
    result = llm_training.TRAINERS[args.kind](
        rows, args.base, args.parent, config, args.output, device=args.device
    ).to_json()
    summary = json.dumps({key: result[key] for key in ("status", "adapter_dir", "steps", "rows")})
    # One write of a whole line: the processes of a distributed run share one stdout pipe, and a
    # write under the pipe's buffer size is never interleaved with another process's.
    sys.stdout.write(summary + "\n")
    sys.stdout.flush()
    return result


if __name__ == "__main__":
    main()
