"""Turning an LLM's option log-likelihoods into calibrated label probabilities. Pure numpy.

Small models prefer some answers whatever the input (a label prior). Contextual calibration
(Zhao et al., 2021) measures that prior on content-free inputs ("N/A", "", "[MASK]") and divides
it out, so the confidence reflects the text rather than the model's habit.
"""

from __future__ import annotations

import numpy as np

CONTENT_FREE_INPUTS = ("N/A", "", "[MASK]")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def content_free_prior(content_free_logprobs: np.ndarray) -> np.ndarray:
    """Mean label distribution the model gives to inputs that carry no content."""
    return softmax(np.atleast_2d(content_free_logprobs)).mean(axis=0)


def calibrate(option_logprobs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """p(label | text) with the content-free prior divided out, renormalised per row."""
    p = softmax(np.atleast_2d(option_logprobs))
    q = p / np.clip(prior, 1e-12, None)
    return q / q.sum(axis=-1, keepdims=True)


def blend_votes(probabilities: np.ndarray, votes: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """Mix scored probabilities with self-consistency vote shares (rows of counts)."""
    shares = votes / np.clip(votes.sum(axis=-1, keepdims=True), 1, None)
    mixed = (1 - weight) * probabilities + weight * shares
    return mixed / mixed.sum(axis=-1, keepdims=True)


def near_chance(confidence: float, choices: int, margin: float) -> bool:
    """Whether a model's confidence in its top choice is within `margin` of guessing among
    `choices` options (0.52 on two classes is a coin toss): such a guess is no suggestion to
    accept with one key."""
    if choices < 2:
        return False
    return confidence < 1.0 / choices + margin
