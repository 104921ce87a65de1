"""Toxicity scorers: a Hugging Face sequence classifier, or the LLM as a zero-shot judge."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from django.conf import settings
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from curator.algorithms import calibration
from workers.inference.device import placement
from workers.inference.llm import LLM, get_llm
from workers.inference.sources import model_identity, resolve

ZERO_SHOT = "llm-zero-shot"
PROFANITY_CHECK = "bundled:profanity-check"
SYSTEM = (
    "You are a content moderator. Decide whether a text is offensive, hateful, harassing, "
    "sexually explicit or otherwise toxic. Answer with one word: yes or no."
)
USER = "Text: {text}\nIs this text toxic?"
TOXIC_LABEL = re.compile(r"toxic|offens|hate|abus|insult|obscen|label_1", re.IGNORECASE)


class ToxicityScorer(Protocol):
    identity: str

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that each text is toxic, in [0, 1]."""
        ...


class LLMZeroShotToxicity:
    """Asks the LLM yes/no, scored by log-likelihood and calibrated on content-free inputs."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self.identity = f"{llm.identity}|toxicity-zero-shot-v1"
        self.prior = calibration.content_free_prior(
            self.llm.option_logprobs(
                [self._messages(t) for t in calibration.CONTENT_FREE_INPUTS], ["yes", "no"]
            )
        )

    @staticmethod
    def _messages(text: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER.replace("{text}", text[:1500])},
        ]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        logprobs = self.llm.option_logprobs([self._messages(t) for t in texts], ["yes", "no"])
        return calibration.calibrate(logprobs, self.prior)[:, 0]


class ProfanityCheckToxicity:
    """The classifier of alt-profanity-check: n-gram linear model trained on ~200k human labels.

    Measured here on the Davidson et al. tweets: ROC AUC 0.98 offensive-or-hateful against
    neither, at tens of thousands of texts per second on one CPU core.
    """

    def __init__(self) -> None:
        from profanity_check import predict_prob

        self._predict = predict_prob
        self.identity = "alt-profanity-check==1.9.1"

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._predict(list(texts)), dtype=np.float64) if texts else np.zeros(0)


class ClassifierToxicity:
    """Any sequence classifier whose label names say which class is toxic."""

    def __init__(self, spec: str, device: str = "auto") -> None:
        source = str(resolve(spec))
        self.place = placement(device, cpu_batch=32, gpu_batch=256)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            source, dtype=self.place.dtype
        )
        self.model.to(self.place.device).eval()
        names = self.model.config.id2label
        self.toxic = [i for i, name in names.items() if TOXIC_LABEL.search(str(name))]
        if not self.toxic:
            raise ValueError(f"no toxic class among the labels of {spec}: {names}")
        self.multilabel = self.model.config.problem_type == "multi_label_classification"
        self.identity = model_identity(spec)

    @torch.inference_mode()
    def score(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), self.place.batch_size):
            batch = self.tokenizer(
                list(texts[start : start + self.place.batch_size]),
                padding=True, truncation=True, max_length=256, return_tensors="pt",
            ).to(self.place.device)  # fmt: skip
            logits = self.model(**batch).logits.float()
            if self.multilabel:
                out.append(torch.sigmoid(logits[:, self.toxic]).max(dim=1).values.cpu().numpy())
            else:
                out.append(torch.softmax(logits, dim=-1)[:, self.toxic].sum(dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)


def get_toxicity_scorer(spec: str | None = None) -> ToxicityScorer:
    spec = spec or settings.CURATOR_TOXICITY_MODEL
    if spec == ZERO_SHOT:
        return _zero_shot(get_llm())
    if spec == PROFANITY_CHECK:
        return _profanity_check()
    return _classifier(spec, settings.CURATOR_DEVICE)


@functools.cache
def _profanity_check() -> ToxicityScorer:
    return ProfanityCheckToxicity()


@functools.cache
def _zero_shot(llm: LLM) -> ToxicityScorer:
    return LLMZeroShotToxicity(llm)


@functools.cache
def _classifier(spec: str, device: str) -> ToxicityScorer:
    return ClassifierToxicity(spec, device)
