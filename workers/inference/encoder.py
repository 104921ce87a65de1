"""Sentence encoders: any Hugging Face encoder, mean-pooled and L2-normalised."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from django.conf import settings
from transformers import AutoModel, AutoTokenizer

from workers.inference.device import placement
from workers.inference.sources import model_identity, resolve

logger = logging.getLogger(__name__)
MAX_TOKENS = 256


class Encoder(Protocol):
    identity: str
    dimensions: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array of shape (len(texts), dimensions), rows of unit length."""
        ...


class TransformersEncoder:
    def __init__(self, spec: str, device: str = "auto") -> None:
        source = resolve(spec)
        self.place = placement(device, cpu_batch=32, gpu_batch=1024)
        self.tokenizer = AutoTokenizer.from_pretrained(str(source))
        self.model = AutoModel.from_pretrained(str(source), dtype=self.place.dtype)
        self.model.to(self.place.device).eval()
        self.identity = f"{model_identity(spec)}|mean|max{MAX_TOKENS}"
        self.dimensions = int(self.model.config.hidden_size)
        logger.info(
            "loaded encoder %s on %s (%s)", self.identity, self.place.device, self.place.dtype
        )

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.place.batch_size):
            chunk = order[start : start + self.place.batch_size]
            batch = self.tokenizer(
                [texts[i] for i in chunk],
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            ).to(self.place.device)
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
            out[chunk] = pooled.cpu().numpy()
        return out


def get_encoder(spec: str | None = None) -> Encoder:
    """The process-wide encoder for `spec` (default: settings.CURATOR_ENCODER_MODEL)."""
    return _load_encoder(spec or settings.CURATOR_ENCODER_MODEL, settings.CURATOR_DEVICE)


@functools.cache
def _load_encoder(spec: str, device: str) -> Encoder:
    return TransformersEncoder(spec, device)
