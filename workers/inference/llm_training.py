"""LoRA training of the project's LLM with TRL: SFT, DPO and a reward model. No Django here.

The only module that imports TRL and PEFT for training. The caller (a round job) hands in rows,
a base model spec, the promoted parent adapter if any, a `TrainingConfig` and a folder that
belongs to this one run; it gets back a `TrainingResult`.

How versions stack: every trained version is ONE standard PEFT LoRA adapter over the SAME base
model. Round N+1 does not add a second adapter on top of round N's, nor merge it into the base:
it loads the promoted adapter trainable (`PeftModel.from_pretrained(base, parent,
is_trainable=True)`) and continues training those same LoRA weights on the new data. So each
version is servable alone next to its base (`PeftModel.from_pretrained`, vLLM `--enable-lora`),
a rollback is choosing another folder, and the base never changes. The LoRA shape (rank, target
modules) is therefore inherited from the parent; the config's LoRA fields apply to a first
version only. `merge_adapter` writes a merged full model for hand-off when one is wanted.

DPO reference model: with a fresh adapter the reference is the base with the adapter disabled;
when continuing a parent adapter TRL keeps a frozen copy of the parent's LoRA weights as a
second adapter named "ref" (megabytes, not a second model), so the policy is kept close to the
version it improves on. Only the trained "default" adapter is saved.

Crash safety: checkpoints go to `output_dir/checkpoint-<step>` every `save_steps` (and at a
cancel). Calling the same function again with the same `output_dir` resumes from the last one
with `resume_from_checkpoint` (optimizer, scheduler, RNG and data position restored) and ends
with the same final adapter in `output_dir/adapter`. A finished run leaves `result.json`; a
further call returns that result without training again, so a redelivered job is harmless.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from datasets import Dataset
from peft import LoraConfig, PeftConfig, PeftModel
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    TrainerCallback,
    TrainerState,
    set_seed,
)
from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer, SFTConfig, SFTTrainer

from curator.algorithms.training_config import ALL_LINEAR, TrainingConfig
from curator.hashing import files_sha256
from workers.inference.device import Placement, placement
from workers.inference.sources import resolve

logger = logging.getLogger(__name__)
Messages = list[dict[str, str]]
Kind = Literal["sft", "dpo", "reward"]
ADAPTER_FOLDER = "adapter"
RESULT_FILE = "result.json"

__all__ = [
    "TRAINERS",
    "TrainingConfig",
    "TrainingHooks",
    "TrainingProgress",
    "TrainingResult",
    "merge_adapter",
    "resolve_base",
    "train_dpo",
    "train_reward",
    "train_sft",
]


@dataclass(frozen=True)
class TrainingProgress:
    step: int
    max_steps: int
    loss: float
    learning_rate: float | None
    tokens_per_second: float | None = None  # this run's throughput so far (None: unknown)
    tokens_seen: int = 0  # non-padding input tokens so far (throughput over any window of steps)


@dataclass
class TrainingHooks:
    """What the caller hears and says while training runs (both optional, both cheap)."""

    on_progress: Callable[[TrainingProgress], None] | None = None
    should_stop: Callable[[], bool] | None = None  # asked after every optimizer step


@dataclass(frozen=True)
class TrainingResult:
    kind: Kind
    status: Literal["completed", "cancelled"]
    adapter_dir: str | None  # None when cancelled: nothing half-trained is handed out
    adapter_sha256: str | None
    steps: int
    max_steps: int
    loss_history: list[dict[str, float | None]] = field(default_factory=list)
    rows: int = 0  # rows trained on, after TRL dropped those that did not fit max_length
    tokens_seen: int = 0
    seconds: float = 0.0  # this call's training loop, without model loading
    tokens_per_second: float = 0.0
    resumed_from_step: int | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def default_cache_root() -> Path:
    """Where GGUF weights are converted once; the same default as settings.CURATOR_MODEL_CACHE."""
    return Path(
        os.environ.get("CURATOR_MODEL_CACHE", Path.home() / ".cache" / "curator" / "models")
    )


def resolve_base(base: str, cache_root: Path | None = None) -> str:
    """A loadable folder or hub id for `base` (`bundled:` name, hub id or local path).

    GGUF weights (the bundled SmolLM2) are dequantised once into a cached safetensors folder by
    the same code the labeling LLM uses, so training and serving start from identical weights.
    """
    source = resolve(base)
    if str(source).endswith(".gguf"):
        # Imported here: workers.inference.llm needs Django, and training from a folder (the
        # GPU benchmark machine has the ML stack only) must not.
        from workers.inference.llm import materialise_gguf

        source = materialise_gguf(Path(source), cache_root or default_cache_root())
    return str(source)


# --- rows to TRL's conversational formats -------------------------------------------------------
def sft_example(index: int, messages: Messages) -> dict[str, Messages]:
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"row {index}: expected a non-empty list of chat messages")
    for message in messages:
        if (
            not isinstance(message, dict)
            or message.get("role") not in ("system", "user", "assistant")
            or not isinstance(message.get("content"), str)
        ):
            raise ValueError(f"row {index}: every message needs a role and a text content")
    if messages[-1]["role"] != "assistant" or len(messages) < 2:
        raise ValueError(f"row {index}: the conversation must end with the assistant's answer")
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def preference_example(index: int, row: dict[str, Any]) -> dict[str, Messages]:
    missing = [key for key in ("prompt", "chosen", "rejected") if not row.get(key)]
    if missing:
        raise ValueError(f"row {index}: missing {', '.join(missing)}")
    prompt = row["prompt"]
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": str(row["chosen"])}],
        "rejected": [{"role": "assistant", "content": str(row["rejected"])}],
    }


# --- the three trainers -------------------------------------------------------------------------
def _causal_lm(source: str, place: Placement, tokenizer: PreTrainedTokenizerBase) -> Any:
    return AutoModelForCausalLM.from_pretrained(source, dtype=place.dtype)


def _score_model(source: str, place: Placement, tokenizer: PreTrainedTokenizerBase) -> Any:
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=1, dtype=place.dtype
    )
    # The score is read at the last non-padding token, so the model must know the pad id.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


@dataclass(frozen=True)
class LoraTrainer:
    """One way of training a LoRA adapter: only what differs between SFT, DPO and the reward
    model. Calling it runs the shared machinery (`_run`): model and adapter, TrainingArguments,
    callbacks, resume from the last checkpoint, saving the adapter."""

    kind: Kind
    example: Callable[[int, Any], dict[str, Messages]]  # one input row in TRL's format
    load_model: Callable[[str, Placement, PreTrainedTokenizerBase], Any]
    peft_task_type: str  # of a first version's LoRA config
    trainer_class: type  # SFTTrainer, DPOTrainer or RewardTrainer
    config_class: type  # its TrainingArguments subclass
    options: Callable[[TrainingConfig], dict[str, Any]] = lambda config: {}

    def __call__(
        self,
        rows: Sequence[Any],
        base: str,
        parent_adapter: str | Path | None,
        config: TrainingConfig,
        output_dir: str | Path,
        hooks: TrainingHooks | None = None,
        *,
        device: str = "auto",
    ) -> TrainingResult:
        dataset = Dataset.from_list([self.example(i, row) for i, row in enumerate(rows)])

        def build(place: Placement, tokenizer: PreTrainedTokenizerBase, args: dict) -> Any:
            model = self.load_model(resolve_base(base), place, tokenizer)
            model, lora = _with_adapter(model, parent_adapter, config, self.peft_task_type)
            return self.trainer_class(
                model=model,
                args=self.config_class(**args, **self.options(config)),
                train_dataset=dataset,
                processing_class=tokenizer,
                peft_config=lora,
            )

        return _run(self.kind, build, base, config, output_dir, hooks, device)


# Supervised fine-tuning on chat conversations that end with the assistant's answer. The loss
# counts only the final assistant turn (TRL prompt-completion format): the model learns to
# answer, not to repeat the question.
train_sft = LoraTrainer(
    kind="sft",
    example=sft_example,
    load_model=_causal_lm,
    peft_task_type="CAUSAL_LM",
    trainer_class=SFTTrainer,
    config_class=SFTConfig,
    options=lambda config: {"completion_only_loss": True},
)

# Direct preference optimisation on {prompt, chosen, rejected} rows (`config.beta`).
train_dpo = LoraTrainer(
    kind="dpo",
    example=preference_example,
    load_model=_causal_lm,
    peft_task_type="CAUSAL_LM",
    trainer_class=DPOTrainer,
    config_class=DPOConfig,
    options=lambda config: {"beta": config.beta},
)

# A reward model on {prompt, chosen, rejected} rows: the base with a one-output score head
# (Bradley-Terry loss), LoRA on the body and the head trained in full (PEFT SEQ_CLS).
train_reward = LoraTrainer(
    kind="reward",
    example=preference_example,
    load_model=_score_model,
    peft_task_type="SEQ_CLS",
    trainer_class=RewardTrainer,
    config_class=RewardConfig,
)

# The trainer of each LLM round kind; the round job and the command line both look it up here.
TRAINERS: dict[str, LoraTrainer] = {
    trainer.kind: trainer for trainer in (train_sft, train_dpo, train_reward)
}


def merge_adapter(base: str, adapter_dir: str | Path, out_dir: str | Path) -> str:
    """Fold an adapter into its base and save a full model folder (optional hand-off for
    servers without LoRA support). Returns the sha256 of the folder written."""
    adapter_config = PeftConfig.from_pretrained(str(adapter_dir))
    source = resolve_base(base)
    if adapter_config.task_type == "SEQ_CLS":
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    else:
        model = AutoModelForCausalLM.from_pretrained(source)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    out = Path(out_dir)
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)
    return files_sha256(out)


# --- shared machinery ---------------------------------------------------------------------------
def _run(
    kind: Kind,
    build: Callable[[Placement, PreTrainedTokenizerBase, dict], Any],
    base: str,
    config: TrainingConfig,
    output_dir: str | Path,
    hooks: TrainingHooks | None,
    device: str,
) -> TrainingResult:
    output = Path(output_dir)
    finished = output / RESULT_FILE
    if finished.exists():  # a redelivered job after the run completed
        return TrainingResult(**json.loads(finished.read_text()))
    hooks = hooks or TrainingHooks()
    output.mkdir(parents=True, exist_ok=True)
    place = placement(device)
    set_seed(config.seed)  # before any LoRA or score head is initialised
    tokenizer = AutoTokenizer.from_pretrained(resolve_base(base))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    trainer = build(place, tokenizer, training_arguments(config, output, place))
    if len(trainer.train_dataset) == 0:
        # TRL drops rows whose response does not fit; an empty run would fail deep in torch.
        raise ValueError(
            f"no training row fits max_length={config.max_length} tokens ({kind}); "
            "raise max_length or shorten the prompts"
        )
    trainer.remove_callback(PrinterCallback)  # progress goes to the hooks, not to stdout
    progress = _ProgressCallback(hooks)
    trainer.add_callback(progress)
    checkpoint = last_complete_checkpoint(output)
    if checkpoint:
        logger.info("resuming %s training from %s", kind, checkpoint)
    trainer.train(resume_from_checkpoint=checkpoint)
    state = trainer.state
    seconds = time.perf_counter() - progress.started
    tokens = int(state.num_input_tokens_seen)
    summary: dict[str, Any] = {
        "kind": kind,
        "steps": state.global_step,
        "max_steps": state.max_steps,
        "loss_history": _loss_history(state.log_history),
        "rows": len(trainer.train_dataset),
        "tokens_seen": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_second": (tokens - progress.tokens_at_start) / seconds if seconds else 0.0,
        "resumed_from_step": int(Path(checkpoint).name.split("-")[-1]) if checkpoint else None,
        "config": config.as_dict(),
    }
    if progress.cancelled:
        return TrainingResult(status="cancelled", adapter_dir=None, adapter_sha256=None, **summary)
    if not trainer.is_world_process_zero():
        # Under `accelerate launch` every process trains; the first one alone writes the adapter.
        trainer.accelerator.wait_for_everyone()
        return TrainingResult(status="completed", adapter_dir=None, adapter_sha256=None, **summary)
    adapter = _save_adapter(trainer.accelerator.unwrap_model(trainer.model), output)
    result = TrainingResult(
        status="completed", adapter_dir=str(adapter), adapter_sha256=files_sha256(adapter),
        **summary,
    )  # fmt: skip
    finished.write_text(json.dumps(result.to_json(), indent=2))
    for stale in output.glob("checkpoint-*"):  # the adapter is the artifact now
        shutil.rmtree(stale, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return result


def last_complete_checkpoint(output: Path) -> str | None:
    """The newest checkpoint the trainer finished writing, or None.

    A worker killed while saving leaves a checkpoint folder without its `trainer_state.json`
    (the trainer writes it last); resuming from it would fail, so it is removed and the one
    before it is used.
    """
    steps = sorted(
        (int(folder.name.split("-")[-1]), folder)
        for folder in output.glob("checkpoint-*")
        if folder.is_dir() and folder.name.split("-")[-1].isdigit()
    )
    for _, folder in reversed(steps):
        if (folder / "trainer_state.json").exists():
            return str(folder)
        logger.warning("removing %s: the trainer did not finish writing it", folder)
        shutil.rmtree(folder, ignore_errors=True)
    return None


def training_arguments(config: TrainingConfig, output: Path, place: Placement) -> dict[str, Any]:
    """TrainingArguments shared by the three TRL configs."""
    return {
        "output_dir": str(output),
        "per_device_train_batch_size": config.per_device_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps or -1,
        "warmup_steps": config.warmup_ratio,  # a float below 1 is a ratio of all steps
        "max_length": config.max_length,
        "seed": config.seed,
        "data_seed": config.seed,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        # bf16 autocast on CUDA (the weights are loaded in bf16 too); plain fp32 on CPU, where
        # TRL would otherwise default to bf16.
        "bf16": place.dtype == torch.bfloat16,
        "fp16": place.dtype == torch.float16,
        "use_cpu": place.device == "cpu",
        "gradient_checkpointing": config.gradient_checkpointing,
        "include_num_input_tokens_seen": "non_padding",
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def lora_config(config: TrainingConfig, task_type: str) -> LoraConfig:
    modules: str | list[str] = list(config.target_modules)
    if modules == [ALL_LINEAR]:
        modules = ALL_LINEAR
    return LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=modules,
        task_type=task_type,
        bias="none",
    )


def _with_adapter(
    model: PreTrainedModel,
    parent_adapter: str | Path | None,
    config: TrainingConfig,
    task_type: str,
) -> tuple[PreTrainedModel | PeftModel, LoraConfig | None]:
    """With a parent, its adapter loaded trainable (its LoRA shape, no new config); without
    one, the bare model and a fresh LoRA config for the trainer to apply."""
    if parent_adapter:
        return PeftModel.from_pretrained(model, str(parent_adapter), is_trainable=True), None
    return model, lora_config(config, task_type)


def _save_adapter(model: Any, output: Path) -> Path:
    """Save only the trained adapter ("default"; DPO's frozen "ref" copy stays behind), written
    to a staging folder and renamed so a crash never leaves half an adapter in place."""
    target = output / ADAPTER_FOLDER
    staging = output / f".{ADAPTER_FOLDER}-staging"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging), selected_adapters=["default"])
    shutil.rmtree(target, ignore_errors=True)
    os.rename(staging, target)
    return target


def _loss_history(log_history: list[dict[str, Any]]) -> list[dict[str, float | None]]:
    return [
        {"step": entry["step"], "loss": entry["loss"], "learning_rate": entry.get("learning_rate")}
        for entry in log_history
        if "loss" in entry
    ]


class _ProgressCallback(TrainerCallback):
    """Streams loss to the caller and turns a cancel request into a stop between steps."""

    def __init__(self, hooks: TrainingHooks) -> None:
        self.hooks = hooks
        self.cancelled = False
        self.started = time.perf_counter()
        self.tokens_at_start = 0

    def on_train_begin(self, args, state, control, **kwargs):
        # After a resume the state already holds the earlier run's steps and tokens.
        self.started = time.perf_counter()
        self.tokens_at_start = int(state.num_input_tokens_seen)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.hooks.on_progress and logs and "loss" in logs:
            self.hooks.on_progress(
                TrainingProgress(
                    step=state.global_step,
                    max_steps=state.max_steps,
                    loss=float(logs["loss"]),
                    learning_rate=logs.get("learning_rate"),
                    tokens_per_second=self._tokens_per_second(state),
                    tokens_seen=int(state.num_input_tokens_seen),
                )
            )

    def _tokens_per_second(self, state: TrainerState) -> float | None:
        seconds = time.perf_counter() - self.started
        tokens = int(state.num_input_tokens_seen) - self.tokens_at_start
        return tokens / seconds if seconds > 0 and tokens > 0 else None

    def on_step_end(self, args, state, control, **kwargs):
        if (
            self.hooks.should_stop
            and state.global_step < state.max_steps
            and self.hooks.should_stop()
        ):
            self.cancelled = True
            control.should_training_stop = True
            control.should_save = True  # a checkpoint to resume from if the stop was a shutdown
        return control
