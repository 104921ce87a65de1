"""Real PEFT adapters over the bundled SmolLM2 for registry tests: made with LoraConfig +
get_peft_model + save_pretrained, without training (random LoRA weights, fixed seed)."""

from __future__ import annotations

from pathlib import Path

import torch
from django.conf import settings
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from workers.inference.llm import materialise_gguf
from workers.inference.sources import bundled_path

BASE = "bundled:SmolLM2-135M-Instruct"


def base_folder() -> Path:
    return materialise_gguf(bundled_path("SmolLM2-135M-Instruct"), settings.CURATOR_MODEL_CACHE)


def make_adapter(target: Path, seed: int, reward: bool = False) -> Path:
    """Save a LoRA adapter (a causal-LM one, or a one-logit reward head) into `target`."""
    torch.manual_seed(seed)
    if reward:
        model = AutoModelForSequenceClassification.from_pretrained(base_folder(), num_labels=1)
        config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                            task_type="SEQ_CLS", init_lora_weights=False)  # fmt: skip
    else:
        model = AutoModelForCausalLM.from_pretrained(base_folder())
        # Non-zero LoRA B weights: the adapter changes what the model says, as a trained one does.
        config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                            task_type="CAUSAL_LM", init_lora_weights=False)  # fmt: skip
    get_peft_model(model, config).save_pretrained(target)
    return target
