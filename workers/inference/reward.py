"""A promoted reward model: the base LLM with a sequence-classification head (one logit) and a
PEFT LoRA adapter, as TRL's RewardTrainer saves it. Higher scores mean better responses."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from workers.inference.device import placement
from workers.inference.llm import Adapter, materialise_gguf
from workers.inference.sources import model_identity, resolve


class RewardModel:
    def __init__(self, spec: str, adapter: Adapter, device: str = "auto") -> None:
        from peft import PeftModel

        source = resolve(spec)
        if str(source).endswith(".gguf"):
            source = materialise_gguf(Path(source), Path(settings.CURATOR_MODEL_CACHE))
        self.place = placement(device, cpu_batch=16, gpu_batch=64)
        self.tokenizer = AutoTokenizer.from_pretrained(str(source))
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        base = AutoModelForSequenceClassification.from_pretrained(
            str(source), num_labels=1, dtype=self.place.dtype
        )
        base.config.pad_token_id = self.tokenizer.pad_token_id
        # The adapter carries the trained head too (PEFT modules_to_save for SEQ_CLS tasks).
        self.model = PeftModel.from_pretrained(base, adapter.path).merge_and_unload()
        self.model.to(self.place.device).eval()
        self.identity = f"{model_identity(spec)}+{adapter.label}|reward"

    @torch.inference_mode()
    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """The reward of each response to its prompt (a user turn and the assistant's reply)."""
        texts = [
            self.tokenizer.apply_chat_template(
                [{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                tokenize=False,
            )
            for p, r in zip(prompts, responses, strict=True)
        ]
        values: list[float] = []
        for start in range(0, len(texts), self.place.batch_size):
            encoded = self.tokenizer(
                texts[start : start + self.place.batch_size],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=1024,
                add_special_tokens=False,
            ).to(self.place.device)
            values += self.model(**encoded).logits[:, 0].float().cpu().tolist()
        return np.array(values, dtype=np.float64)


@functools.cache
def get_reward_model(spec: str, adapter: Adapter) -> RewardModel:
    return RewardModel(spec, adapter, settings.CURATOR_DEVICE)
