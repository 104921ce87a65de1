"""The local backend's fast scorers (prompt once, options as cache continuations, target
log-probabilities gathered on the device) give the scores of the straightforward per-pair
method, with the real bundled SmolLM2."""

import dataclasses

import numpy as np
import pytest

from curator.algorithms.prompts import classification_messages
from tests import llm_reference
from workers.inference.llm import get_llm

TEXTS = [
    "a gorgeous, witty, moving film; i loved every minute of it, and so did my whole family.",
    "dull.",
    "the central bank raised interest rates again on tuesday, citing stubborn inflation.",
    "the striker scored twice in the final minutes to win the cup for his home town club "
    "after a season of injuries, transfers, doubts and a manager who nearly resigned.",
    "new chip doubles battery life",
]
# Single- and multi-token labels of different token lengths, two sharing their first token.
MIXED = ["World", "Sports", "Sci/Tech", "very positive", "very negative", "Business"]


@pytest.fixture(scope="module")
def llm():
    return get_llm()


def messages(labels):
    return [classification_messages(t, label_names=labels) for t in TEXTS]


@pytest.fixture(params=[2, 16], ids=["batch2", "batch16"])
def batched(request, llm, monkeypatch):
    """Prompts of different lengths padded into batches of 2 (three batches) or all in one."""
    monkeypatch.setattr(llm, "place", dataclasses.replace(llm.place, batch_size=request.param))
    return llm


def test_multi_token_options_score_as_the_per_pair_method(batched):
    prompts = messages(MIXED)
    fast = batched.option_logprobs(prompts, MIXED)
    assert fast.shape == (len(TEXTS), len(MIXED))
    np.testing.assert_allclose(
        fast, llm_reference.option_logprobs(batched, prompts, MIXED), rtol=0, atol=1e-4
    )


def test_single_token_options_score_as_the_per_pair_method(batched):
    labels = ["Negative", "Positive", "World"]
    prompts = messages(labels)
    np.testing.assert_allclose(
        batched.option_logprobs(prompts, labels),
        llm_reference.option_logprobs(batched, prompts, labels),
        rtol=0,
        atol=1e-4,
    )


def test_an_option_scores_the_same_alone_or_among_others(llm):
    prompts = messages(MIXED)
    together = llm.option_logprobs(prompts, MIXED)
    for k, option in enumerate(MIXED):
        alone = llm.option_logprobs(prompts, [option])[:, 0]
        np.testing.assert_allclose(alone, together[:, k], rtol=0, atol=1e-4)


def test_response_nll_equals_the_per_pair_method_with_and_without_a_prompt(batched):
    prompts = [[{"role": "user", "content": f"Summarise: {t}"}] for t in TEXTS]
    responses = [t.split(";")[0] for t in reversed(TEXTS)]
    for given in (prompts, None):
        np.testing.assert_allclose(
            batched.response_nll(given, responses),
            llm_reference.response_nll(batched, given, responses),
            rtol=0,
            atol=1e-4,
        )
    # Truncated to a few tokens, and an empty response scored as the end-of-text token.
    short = [*responses[:-1], ""]
    np.testing.assert_allclose(
        batched.response_nll(None, short, max_tokens=4),
        llm_reference.response_nll(batched, None, short, max_tokens=4),
        rtol=0,
        atol=1e-4,
    )


def test_an_option_with_no_tokens_is_refused(llm):
    with pytest.raises(ValueError, match="no tokens"):
        llm.option_logprobs(messages(["yes", ""]), ["yes", ""])
