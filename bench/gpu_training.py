"""Tokens/s of our LoRA `train_sft` / `train_dpo` against plain TRL trainers: same data, same
hyper-parameters, same process, bf16 on CUDA. Goal: ratio >= 0.9 (our wrapper costs nothing
that matters).

    python -m bench.gpu_training --out DIR                # GPU: SmolLM2-135M, Qwen2.5-1.5B shape
    python -m bench.gpu_training --tiny --config-dir DIR  # CPU smoke run, a few short steps

Each (model, kind) is trained four times: ours then TRL, then TRL then ours, so whatever the
first run of a pair pays (CUDA kernels, caches) falls on both sides. Throughput is read between
the ends of step `--warmup` and of the last step, from the same per-step log (time, non-padding
input tokens seen) on both sides: our hooks' progress events and a callback on TRL's trainer.

Models: with `--config-dir` (a folder holding SmolLM2's config.json and tokenizer files, no
weights) SmolLM2-135M is built from its config with random weights; without it, the bundled
SmolLM2 is used. The ~1.5B model is Qwen2.5-1.5B's configuration, randomly initialised, with
SmolLM2's tokenizer (49k ids fit in its 152k rows). Throughput does not depend on the weights'
values, and the GPU machine has no hub access. No Django and no Celery are imported (the GPU
machine has the ML stack only): `import bench.gpu_training` must keep working without them.

The GPU run (device tool). Once, here in the repo root (pip works here; Python 3.12 wheels):

    echo /.whl/ >> .git/info/exclude; echo /.gpu/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
      -d .whl trl==1.16.0 datasets==5.2.0 transformers==5.24.0 dill multiprocess
    mkdir -p .gpu/smollm2 .gpu/data/alpaca_instructions .gpu/data/hh_rlhf_harmless
    cp ~/.cache/curator/models/SmolLM2-*/{config.json,generation_config.json,chat_template.jinja,tokenizer.json,tokenizer_config.json} .gpu/smollm2/
    cp ../shared/data/alpaca_instructions/alpaca_5000.json .gpu/data/alpaca_instructions/
    cp ../shared/data/hh_rlhf_harmless/harmless_base_test.jsonl .gpu/data/hh_rlhf_harmless/

then `run` with carry [".whl", ".gpu"], timeout_s 480, and this command (~6 min on an H200):

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 CURATOR_PUBLIC_DATA=.gpu/data || exit; python3 -m bench.gpu_training --config-dir .gpu/smollm2 --out $OUT 2>&1 | tee $OUT/log.txt

The JSON (`gpu_training.json`) is rewritten after every measurement, so a run stopped at its
time limit still brings back what it measured.
"""  # noqa: E501 (the commands above are pasted as they are)

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PrinterCallback,
    Qwen2Config,
    TrainerCallback,
)
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from bench.common import OUT, table
from curator import public_data
from workers.inference.device import placement
from workers.inference.llm_training import (
    TrainingConfig,
    TrainingHooks,
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
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json",
    "generation_config.json",
)  # fmt: skip


@dataclass(frozen=True)
class Setting:
    """One model's run: its shape and the batch that fits it."""

    name: str
    shape: dict[str, Any] | None  # None: the config found in --config-dir (SmolLM2)
    batch: int


GPU_SETTINGS = [Setting("SmolLM2-135M", None, 8), Setting("Qwen2.5-1.5B-shape", QWEN_15B_SHAPE, 4)]
TINY_SETTINGS = [Setting("SmolLM2-135M", None, 2), Setting("Qwen2-tiny-shape", QWEN_TINY_SHAPE, 2)]


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


# --- throughput over a window of steps ----------------------------------------------------------
@dataclass
class StepClock:
    """(step, seconds, tokens seen) at the end of every optimizer step, both sides alike."""

    marks: list[tuple[int, float, int]] = field(default_factory=list)

    def mark(self, step: int, tokens_seen: int) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # the step's kernels have finished, not just been queued
        self.marks.append((step, time.perf_counter(), tokens_seen))


def window_throughput(marks: list[tuple[int, float, int]], warmup: int) -> dict[str, float]:
    """Tokens/s and seconds/step from the end of step `warmup` to the end of the last step."""
    start = next((m for m in marks if m[0] == warmup), None)
    end = marks[-1] if marks else None
    if start is None or end is None or end[0] <= warmup:
        raise ValueError(f"need steps past the warm-up ({warmup}); logged {[m[0] for m in marks]}")
    seconds = end[1] - start[1]
    tokens = end[2] - start[2]
    if tokens <= 0:
        raise ValueError("the trainer counted no input tokens in the timed window")
    return {
        "timed_steps": end[0] - warmup,
        "seconds_per_step": seconds / (end[0] - warmup),
        "tokens_per_second": tokens / seconds,
        "timed_tokens": tokens,
    }


class _ClockCallback(TrainerCallback):
    def __init__(self, clock: StepClock) -> None:
        self.clock = clock

    def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
        if logs and "loss" in logs:
            self.clock.mark(state.global_step, int(state.num_input_tokens_seen))


# --- the two sides ------------------------------------------------------------------------------
def ours(kind: str, source: str, rows: list, config: TrainingConfig, out: Path) -> StepClock:
    clock = StepClock()
    train = train_sft if kind == "sft" else train_dpo
    hooks = TrainingHooks(on_progress=lambda p: clock.mark(p.step, p.tokens_seen))
    train(rows, source, None, config, out, hooks)
    return clock


def plain_trl(kind: str, source: str, rows: list, config: TrainingConfig, out: Path) -> StepClock:
    """TRL's own trainer with the same arguments and LoRA, model loaded by TRL from the path."""
    clock = StepClock()
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
    trainer.remove_callback(PrinterCallback)  # as ours does: no per-step printing on either side
    trainer.add_callback(_ClockCallback(clock))
    trainer.train()
    return clock


SIDES: dict[str, Callable[[str, str, list, TrainingConfig, Path], StepClock]] = {
    "ours": ours,
    "trl": plain_trl,
}


def build_model(setting: Setting, config_dir: Path | None, folder: Path, dtype) -> str:
    """A model folder to train: random weights from a config (with --config-dir, or for the
    Qwen shape), else the bundled SmolLM2 as it is."""
    if config_dir is None and setting.shape is None:
        return resolve_base(SMOLLM)
    tokenizer_source = str(config_dir) if config_dir else resolve_base(SMOLLM)
    config = (
        Qwen2Config(**setting.shape)
        if setting.shape
        else AutoConfig.from_pretrained(tokenizer_source)
    )
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):  # initialising 1.5B parameters on the GPU takes seconds, not minutes
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(folder)
    if config_dir:
        for name in TOKENIZER_FILES:  # the chat template and generation defaults, as shipped
            if (config_dir / name).exists() and not (folder / name).exists():
                shutil.copy(config_dir / name, folder / name)
    del model
    return str(folder)


def measure(
    setting: Setting, source: str, config: TrainingConfig, warmup: int, scratch: Path
) -> list[dict]:
    rows = config.max_steps * config.per_device_batch_size
    results = []
    for kind, data in (("sft", sft_rows(rows)), ("dpo", preference_rows(rows))):
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "trl": []}
        for order in (("ours", "trl"), ("trl", "ours")):
            for side in order:
                started = time.perf_counter()
                out = scratch / f"{setting.name}-{kind}-{side}-{order[0]}-first"
                clock = SIDES[side](kind, source, data, config, out)
                shutil.rmtree(out, ignore_errors=True)
                figures = window_throughput(clock.marks, warmup)
                figures["wall_seconds"] = time.perf_counter() - started
                runs[side].append(figures)
                print(f"{setting.name} {kind} {side} ({order[0]} first): {figures}", flush=True)
        ours_tps = statistics.fmean(r["tokens_per_second"] for r in runs["ours"])
        trl_tps = statistics.fmean(r["tokens_per_second"] for r in runs["trl"])
        results.append(
            {
                "model": setting.name, "kind": kind, "batch": setting.batch,
                "ours_tokens_per_s": ours_tps, "trl_tokens_per_s": trl_tps,
                "ratio": ours_tps / trl_tps,
                "ratio_ours_first": runs["ours"][0]["tokens_per_second"]
                / runs["trl"][0]["tokens_per_second"],
                "ratio_trl_first": runs["ours"][1]["tokens_per_second"]
                / runs["trl"][1]["tokens_per_second"],
                "ours_seconds_per_step": statistics.fmean(
                    r["seconds_per_step"] for r in runs["ours"]
                ),
                "runs": runs,
            }
        )  # fmt: skip
    return results


def report_table(report: dict[str, Any]) -> str:
    rows = [
        [r["model"], r["kind"], r["batch"], r["ours_tokens_per_s"], r["trl_tokens_per_s"],
         r["ratio"], r["ratio_ours_first"], r["ratio_trl_first"], r["ours_seconds_per_step"]]
        for r in report["results"]
    ]  # fmt: skip
    config = report["config"]
    title = (
        f"LoRA training on {report['device']} ({report['dtype']}): ours vs plain TRL, "
        f"len {config['max_length']}, {report['timed_steps']} timed steps after "
        f"{report['warmup_steps']} warm-up, mean of both orders"
    )
    headers = ["model", "kind", "batch", "ours tok/s", "TRL tok/s", "ratio",
               "ours 1st", "TRL 1st", "ours s/step"]  # fmt: skip
    return table(title, headers, rows)


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "pyarrow")
    return {name: version(name) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: few short steps")
    parser.add_argument("--config-dir", type=Path, help="SmolLM2 config + tokenizer, no weights")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for gpu_training.json")
    parser.add_argument("--steps", type=int, default=0, help="timed steps (default 30, tiny 2)")
    parser.add_argument("--warmup", type=int, default=0, help="untimed steps (default 5, tiny 1)")
    parser.add_argument("--max-length", type=int, default=0, help="default 512, tiny 128")
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    device = placement("auto")
    tiny = args.tiny or device.device == "cpu"
    warmup = args.warmup or (1 if tiny else 5)
    timed = args.steps or (2 if tiny else 30)
    settings = TINY_SETTINGS if tiny else GPU_SETTINGS
    if args.skip_large:
        settings = settings[:1]
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{_versions()}", flush=True)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device.device == "cuda" else "cpu",
        "dtype": str(device.dtype), "versions": _versions(),
        "warmup_steps": warmup, "timed_steps": timed, "results": [],
    }  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="gpu-training-"))
    started = time.perf_counter()
    try:
        for setting in settings:
            config = TrainingConfig(
                max_steps=warmup + timed, max_length=args.max_length or (128 if tiny else 512),
                per_device_batch_size=setting.batch, lora_rank=16, lora_alpha=32,
                save_steps=10_000, logging_steps=1,
            )  # fmt: skip
            report["config"] = config.as_dict() | {"per_device_batch_size": "per model"}
            source = build_model(setting, args.config_dir, scratch / setting.name, device.dtype)
            report["results"] += measure(setting, source, config, warmup, scratch)
            report["seconds"] = time.perf_counter() - started
            (args.out / "gpu_training.json").write_text(json.dumps(report, indent=2))
            shutil.rmtree(scratch / setting.name, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = report_table(report)
    (args.out / "gpu_training.txt").write_text(text + "\n")
    print(text)
    print(f"({report['seconds']:.0f} s; {args.out / 'gpu_training.json'})")


if __name__ == "__main__":
    main()
