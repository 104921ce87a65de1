"""Fine-tuning a Hugging Face encoder for sequence classification (a round's `finetune` trainer).

The default round trainer is logistic regression on frozen embeddings; this one updates the
encoder itself, which pays off with more labels and on a GPU (bf16 autocast there). The model is
saved with save_pretrained, so a later round can start from it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from curator.hashing import files_sha256
from workers.inference.device import placement
from workers.inference.sources import resolve

logger = logging.getLogger(__name__)
MAX_TOKENS = 128


class FineTunedClassifier:
    """Same questions as the logistic-regression model, asked of texts instead of embeddings."""

    def __init__(self, model, tokenizer, labels: list[str], device: str, dtype) -> None:
        self.model, self.tokenizer, self.labels = model, tokenizer, labels
        self.device, self.dtype = device, dtype

    @torch.inference_mode()
    def predict_proba_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.model.eval()
        out = np.zeros((len(texts), len(self.labels)))
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                list(texts[start : start + batch_size]), padding=True, truncation=True,
                max_length=MAX_TOKENS, return_tensors="pt",
            ).to(self.device)  # fmt: skip
            with torch.autocast(self.device, dtype=self.dtype, enabled=self.device == "cuda"):
                logits = self.model(**batch).logits.float()
            out[start : start + len(logits)] = torch.softmax(logits, dim=-1).cpu().numpy()
        return out

    def predict_texts(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba_texts(texts).argmax(axis=1)]

    def save(self, folder: Path) -> str:
        """save_pretrained into `folder`; returns a sha256 over the files written."""
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return files_sha256(folder)


def finetune(
    spec: str | Path,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    epochs: int = 3,
    learning_rate: float = 5e-5,
    seed: int = 0,
    device: str = "auto",
) -> FineTunedClassifier:
    """Fine-tune `spec` (an encoder id, path, `bundled:` name, or an earlier round's folder)."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError("training needs examples of at least two labels")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    place = placement(device, cpu_batch=16, gpu_batch=64)
    source = resolve(str(spec)) if isinstance(spec, str) else spec
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(source),
        num_labels=len(classes),
        id2label=dict(enumerate(classes)),
        label2id={label: i for i, label in enumerate(classes)},
        ignore_mismatched_sizes=True,  # an earlier round's head may have other labels
    ).to(place.device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    target = torch.tensor([classes.index(label) for label in labels])
    order = np.arange(len(texts))
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        rng.shuffle(order)
        for start in range(0, len(order), place.batch_size):
            index = order[start : start + place.batch_size]
            batch = tokenizer(
                [texts[i] for i in index], padding=True, truncation=True,
                max_length=MAX_TOKENS, return_tensors="pt",
            ).to(place.device)  # fmt: skip
            with torch.autocast(place.device, dtype=place.dtype, enabled=place.device == "cuda"):
                loss = model(**batch, labels=target[index].to(place.device)).loss
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
    logger.info("fine-tuned %s on %d examples for %d epochs", spec, len(texts), epochs)
    return FineTunedClassifier(model, tokenizer, classes, place.device, place.dtype)
