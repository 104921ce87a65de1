"""LoRA SFT and DPO of the bundled SmolLM2-135M on this machine: seconds per step and tokens/s.

    python -m bench.llm_training          # or: python -m bench.run --only llm_training

Real rows (Alpaca instructions for SFT, HH-RLHF pairs for DPO), the round defaults except a
short run. Writes bench/out/llm_training.json and llm_training.png. No database needed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.common import OUT, table
from bench.gpu_training import SMOLLM, preference_rows, sft_rows
from workers.inference.llm_training import TrainingConfig, train_dpo, train_sft

STEPS = 6
SETTINGS = [  # (label, max_length, batch): short and round-default sequence lengths
    ("len 256, batch 2", 256, 2),
    ("len 512, batch 4", 512, 4),
]


def run() -> tuple[dict, str]:
    results = []
    with tempfile.TemporaryDirectory(prefix="llm-training-") as scratch:
        for label, max_length, batch in SETTINGS:
            config = TrainingConfig(
                max_steps=STEPS, max_length=max_length, per_device_batch_size=batch,
                save_steps=10_000,
            )  # fmt: skip
            rows = STEPS * batch
            for kind, train, data in (
                ("sft", train_sft, sft_rows(rows)),
                ("dpo", train_dpo, preference_rows(rows)),
            ):
                result = train(data, SMOLLM, None, config, Path(scratch) / f"{kind}-{max_length}")
                results.append(
                    {
                        "kind": kind, "setting": label, "steps": result.steps,
                        "seconds_per_step": result.seconds / result.steps,
                        "tokens_per_second": result.tokens_per_second,
                        "tokens_seen": result.tokens_seen,
                    }
                )  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "llm_training.json").write_text(json.dumps(results, indent=2))
    from bench.run import plot_bars

    labels = [label for label, _, _ in SETTINGS]
    plot_bars(
        OUT / "llm_training.png",
        "LoRA training of SmolLM2-135M on this CPU",
        labels,
        {
            kind: [r["tokens_per_second"] for r in results if r["kind"] == kind]
            for kind in ("sft", "dpo")
        },
        "tokens / s",
    )
    text = table(
        f"LoRA training, SmolLM2-135M, CPU, {STEPS} steps",
        ["kind", "setting", "s/step", "tokens/s"],
        [[r["kind"], r["setting"], r["seconds_per_step"], r["tokens_per_second"]] for r in results],
    )
    return {"runs": results}, text


if __name__ == "__main__":
    print(run()[1])
