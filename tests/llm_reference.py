"""The straightforward LLM scorers the local backend used to run, kept as the reference its
faster scorers must equal (tests/test_llm_scoring.py) and the "before" of bench/llm.py.

One full forward pass per (prompt, option) pair, float32 log_softmax over the whole
[batch, sequence, vocabulary] logits copied to the host; every position is scored exactly as the
model sees it with no cache, so nothing here can be wrong in a way the fast path copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from curator.algorithms.prompts import Messages
from workers.inference.llm import TransformersLLM


def _padded(llm: TransformersLLM, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), llm.tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence)
        mask[row, : len(sequence)] = 1
    return ids.to(llm.place.device), mask.to(llm.place.device)


@torch.inference_mode()
def option_logprobs(
    llm: TransformersLLM, prompts: Sequence[Messages], options: Sequence[str]
) -> np.ndarray:
    tok = llm.tokenizer
    prompt_ids = [tok(llm.render(m), add_special_tokens=False).input_ids for m in prompts]
    option_ids = [tok(option, add_special_tokens=False).input_ids for option in options]
    if all(len(ids) == 1 for ids in option_ids):
        return _single_token_logprobs(llm, prompt_ids, [ids[0] for ids in option_ids])
    pairs = [(p, o) for p in range(len(prompts)) for o in range(len(options))]
    scores = np.zeros(len(pairs), dtype=np.float64)
    order = sorted(
        range(len(pairs)),
        key=lambda i: -(len(prompt_ids[pairs[i][0]]) + len(option_ids[pairs[i][1]])),
    )
    for start in range(0, len(order), llm.place.batch_size):
        chunk = order[start : start + llm.place.batch_size]
        ids, mask = _padded(llm, [prompt_ids[pairs[i][0]] + option_ids[pairs[i][1]] for i in chunk])
        logits = llm.model(input_ids=ids, attention_mask=mask).logits.float()
        logprobs = torch.log_softmax(logits, dim=-1).cpu()
        for row, i in enumerate(chunk):
            start_at = len(prompt_ids[pairs[i][0]])
            targets = option_ids[pairs[i][1]]
            positions = torch.arange(start_at - 1, start_at - 1 + len(targets))
            scores[i] = logprobs[row, positions, torch.tensor(targets)].sum().item()
    return scores.reshape(len(prompts), len(options))


def _single_token_logprobs(
    llm: TransformersLLM, prompt_ids: list[list[int]], tokens: list[int]
) -> np.ndarray:
    scores = np.zeros((len(prompt_ids), len(tokens)), dtype=np.float64)
    order = sorted(range(len(prompt_ids)), key=lambda i: -len(prompt_ids[i]))
    for start in range(0, len(order), llm.place.batch_size):
        chunk = order[start : start + llm.place.batch_size]
        ids, mask = _padded(llm, [prompt_ids[i] for i in chunk])
        logits = llm.model(input_ids=ids, attention_mask=mask).logits
        last = torch.tensor([len(prompt_ids[i]) - 1 for i in chunk], device=logits.device)
        final = logits[torch.arange(len(chunk), device=logits.device), last].float()
        scores[chunk] = torch.log_softmax(final, dim=-1)[:, tokens].cpu().numpy()
    return scores


@torch.inference_mode()
def response_nll(
    llm: TransformersLLM,
    prompts: Sequence[Messages] | None,
    responses: Sequence[str],
    max_tokens: int = 256,
) -> np.ndarray:
    tok = llm.tokenizer
    start = [tok.eos_token_id]
    prefixes = (
        [tok(llm.render(m), add_special_tokens=False).input_ids for m in prompts]
        if prompts is not None
        else [start] * len(responses)
    )
    targets = [
        tok(text, add_special_tokens=False).input_ids[:max_tokens] or start for text in responses
    ]
    result = np.zeros(len(responses), dtype=np.float64)
    order = sorted(range(len(responses)), key=lambda i: -(len(prefixes[i]) + len(targets[i])))
    for begin in range(0, len(order), llm.place.batch_size):
        chunk = order[begin : begin + llm.place.batch_size]
        ids, mask = _padded(llm, [prefixes[i] + targets[i] for i in chunk])
        logprobs = torch.log_softmax(
            llm.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1
        ).cpu()
        for row, i in enumerate(chunk):
            offset = len(prefixes[i])
            positions = torch.arange(offset - 1, offset - 1 + len(targets[i]))
            result[i] = -logprobs[row, positions, torch.tensor(targets[i])].mean().item()
    return result
