"""Tokens/s of our LoRA `train_sft` / `train_dpo` against plain TRL trainers, same data, same
hyper-parameters, same process. Goal: ratio >= 0.9 (our wrapper costs nothing that matters).

    python -m bench.gpu_training            # GPU: bundled SmolLM2-135M and a Qwen2.5-1.5B shape
    python -m bench.gpu_training --tiny     # CPU smoke run: SmolLM2-135M, a few short steps

The ~1.5B model is Qwen2.5-1.5B's configuration, randomly initialised and saved locally: the
GPU machine has no hub access, and throughput does not depend on the weights' values. Writes
bench/out/gpu_training.json and prints a table. No Django.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from bench.common import OUT, table
from curator import public_data
from workers.inference.device import placement
from workers.inference.llm_training import (
    TrainingConfig,
    lora_config,
    preference_example,
    resolve_base,
    sft_example,
    train_dpo,
    train_sft,
    training_arguments,
)

SMOLLM = "bundled:SmolLM2-135M-Instruct"
QWEN_15B_SHAPE = {
    "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
    "num_attention_heads": 12, "num_key_value_heads": 2, "max_position_embeddings": 32768,
    "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
    "vocab_size": 151936,
}  # fmt: skip
# --tiny: the same code path on CPU with a Qwen2 small enough to train in seconds.
QWEN_TINY_SHAPE = QWEN_15B_SHAPE | {
    "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 49152,
}  # fmt: skip


def sft_rows(n: int) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["draft"]}]
        for r in public_data.alpaca(n)
    ]


def preference_rows(n: int) -> list[dict[str, str]]:
    rows = []
    for pair in public_data.hh_pairs(n):
        good, bad = pair["response_a"], pair["response_b"]
        if pair["preferred"] == "b":
            good, bad = bad, good
        rows.append({"prompt": pair["prompt"], "chosen": good, "rejected": bad})
    return rows


def qwen_shape_model(folder: Path, tokenizer_source: str, shape: dict[str, Any]) -> str:
    """A randomly initialised model with Qwen2.5-1.5B's shape, saved with a tokenizer whose
    vocabulary fits in it (SmolLM2's: 49k ids < 152k rows)."""
    config = Qwen2Config(**shape)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(folder)
    return str(folder)


def plain_trl(kind: str, source: str, rows: list, config: TrainingConfig, out: Path) -> float:
    """TRL's own trainer with the same arguments and LoRA, model loaded by TRL from the path."""
    place = placement("auto")
    args = training_arguments(config, out, place) | {"save_strategy": "no"}
    tokenizer = AutoTokenizer.from_pretrained(source)
    init = {"dtype": place.dtype}
    if kind == "sft":
        dataset = Dataset.from_list([sft_example(i, r) for i, r in enumerate(rows)])
        trainer: Any = SFTTrainer(
            model=source, args=SFTConfig(**args, model_init_kwargs=init),
            train_dataset=dataset, processing_class=tokenizer,
            peft_config=lora_config(config, "CAUSAL_LM"),
        )  # fmt: skip
    else:
        dataset = Dataset.from_list([preference_example(i, r) for i, r in enumerate(rows)])
        trainer = DPOTrainer(
            model=source, args=DPOConfig(**args, beta=config.beta, model_init_kwargs=init),
            train_dataset=dataset, processing_class=tokenizer,
            peft_config=lora_config(config, "CAUSAL_LM"),
        )  # fmt: skip
    output = trainer.train()
    return trainer.state.num_input_tokens_seen / output.metrics["train_runtime"]


def measure(name: str, source: str, config: TrainingConfig, rows: int, scratch: Path) -> list[dict]:
    results = []
    for kind, data in (("sft", sft_rows(rows)), ("dpo", preference_rows(rows))):
        train = train_sft if kind == "sft" else train_dpo
        started = time.perf_counter()
        ours = train(data, source, None, config, scratch / f"{name}-{kind}-ours")
        wall = time.perf_counter() - started
        theirs = plain_trl(kind, source, data, config, scratch / f"{name}-{kind}-trl")
        results.append(
            {
                "model": name, "kind": kind, "steps": ours.steps,
                "ours_tokens_per_s": ours.tokens_per_second, "trl_tokens_per_s": theirs,
                "ratio": ours.tokens_per_second / theirs,
                "seconds_per_step": ours.seconds / ours.steps,
                "wall_seconds": wall,
            }
        )  # fmt: skip
        print(results[-1], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: SmolLM2, few steps")
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    device = placement("auto")
    tiny = args.tiny or device.device == "cpu"
    config = TrainingConfig(
        max_steps=args.steps or (3 if tiny else 30),
        max_length=128 if tiny else 1024,
        per_device_batch_size=2 if tiny else 8,
        lora_rank=16, lora_alpha=32, save_steps=10_000, logging_steps=1,
    )  # fmt: skip
    rows = config.max_steps * config.per_device_batch_size
    scratch = Path(tempfile.mkdtemp(prefix="gpu-training-"))
    try:
        models = [("SmolLM2-135M", resolve_base(SMOLLM))]
        if not args.skip_large:
            name, shape = (
                ("Qwen2-tiny-shape", QWEN_TINY_SHAPE) if tiny
                else ("Qwen2.5-1.5B-shape", QWEN_15B_SHAPE)
            )  # fmt: skip
            models.append((name, qwen_shape_model(scratch / "qwen", models[0][1], shape)))
        results = []
        for name, source in models:
            results += measure(name, source, config, rows, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = {
        "device": torch.cuda.get_device_name(0) if device.device == "cuda" else "cpu",
        "dtype": str(device.dtype), "config": config.as_dict(), "results": results,
    }  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "gpu_training.json").write_text(json.dumps(report, indent=2))
    rows = [
        [r["model"], r["kind"], r["ours_tokens_per_s"], r["trl_tokens_per_s"], r["ratio"],
         r["seconds_per_step"]]
        for r in results
    ]  # fmt: skip
    title = f"LoRA training on {report['device']} ({report['dtype']}): ours vs plain TRL"
    headers = ["model", "kind", "ours tok/s", "TRL tok/s", "ratio", "s/step"]
    print(table(title, headers, rows))


if __name__ == "__main__":
    main()
