"""The round's training function run distributed: two processes (CPU, gloo, started by torchrun,
which `accelerate launch` uses for GPUs too) train data-parallel on an exported SFT set, and only
the first writes the adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from peft import PeftModel
from transformers import AutoModelForCausalLM

from curator import public_data
from workers.inference.llm_training import resolve_base

BASE = "bundled:SmolLM2-135M-Instruct"


def test_two_processes_train_one_adapter_from_an_exported_round(tmp_path: Path) -> None:
    rows = [r for r in public_data.alpaca(300) if len(r["prompt"]) + len(r["draft"]) < 200][:8]
    data = tmp_path / "round.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": r["prompt"],
                    "response": r["draft"],
                    "messages": [
                        {"role": "user", "content": r["prompt"]},
                        {"role": "assistant", "content": r["draft"]},
                    ],
                }
            )
            + "\n"
            for r in rows
        )
    )
    settings = {"max_steps": 2, "per_device_batch_size": 2, "max_length": 128, "lora_rank": 4,
                "target_modules": ["q_proj", "v_proj"]}  # fmt: skip
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    completed = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_port", "29533",
         "-m", "workers.inference.train_cli", "--device", "cpu", "--kind", "sft",
         "--data", str(data),
         "--output", str(tmp_path / "run"), "--settings", json.dumps(settings)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    reports = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    # Two processes trained the same two steps; the first alone wrote the adapter.
    assert len(reports) == 2 and {r["steps"] for r in reports} == {2}
    written = [r["adapter_dir"] for r in reports if r["adapter_dir"]]
    assert written == [str(tmp_path / "run" / "adapter")]
    assert (tmp_path / "run" / "result.json").exists()
    base = AutoModelForCausalLM.from_pretrained(resolve_base(BASE))
    assert PeftModel.from_pretrained(base, written[0]).peft_config["default"].r == 4
