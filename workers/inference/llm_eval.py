"""Model-backed evaluation of trained LLM versions on gold: log-likelihood of references, greedy
outputs (ROUGE-L), a judged win rate in both orders, preference and reward accuracy. No Django.

One base model is loaded once; the candidate and promoted adapters are attached to it by name
and switched per variant (PEFT `set_adapter`; the base variant runs with adapters disabled), so
evaluating four variants costs one copy of the weights.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from curator.algorithms import calibration, judging
from curator.algorithms.evaluation import (
    Messages,
    VariantRow,
    VariantsReport,
    WinRate,
    as_messages,
    few_shot_messages,
    preference_accuracy,
    prompt_text,
    rouge_l,
    win_rate,
)
from workers.inference.device import placement
from workers.inference.llm import LLM, TransformersLLM
from workers.inference.llm_training import resolve_base

logger = logging.getLogger(__name__)
Prompt = str | Messages
BASE, IN_CONTEXT, CANDIDATE, PROMOTED = "base", "in_context", "candidate", "promoted"


# --- causal LMs with named adapters -------------------------------------------------------------
def load_policy(
    base: str, adapters: dict[str, str | Path] | None = None, device: str = "auto"
) -> TransformersLLM:
    """The base LLM (the labeling LLM's own loader) with each adapter attached under its name.

    The result is an `LLM` like any other (generate, option_logprobs), so a candidate can be
    read, judged or used as a judge; `variant(llm, name)` picks the adapter, None the base.
    """
    llm = TransformersLLM(resolve_base(base), device)
    model: Any = llm.model
    for index, (name, folder) in enumerate((adapters or {}).items()):
        if index == 0:
            model = PeftModel.from_pretrained(model, str(folder), adapter_name=name)
        else:
            model.load_adapter(str(folder), adapter_name=name)
    llm.model = model.eval()
    return llm


@contextlib.contextmanager
def variant(llm: TransformersLLM, adapter: str | None) -> Iterator[TransformersLLM]:
    """Run the block with one named adapter active, or with none (the base model)."""
    model = llm.model
    if not isinstance(model, PeftModel):
        if adapter is not None:
            raise ValueError(f"no adapter {adapter!r} is loaded")
        yield llm
        return
    if adapter is None:
        with model.disable_adapter():
            yield llm
        return
    model.set_adapter(adapter)
    yield llm


@torch.inference_mode()
def response_logprobs(
    llm: TransformersLLM,
    prompts: Sequence[Prompt],
    responses: Sequence[str],
    *,
    max_response_tokens: int = 256,
    max_prompt_tokens: int = 768,
) -> tuple[np.ndarray, np.ndarray]:
    """(sum of log-probabilities, token count) of each response as the assistant's reply.

    The response ends with the end-of-turn token, as in training, so "stops here" counts too.
    Only response tokens are scored, on the device, from the last hidden states at those
    positions (`TokenScorer.sequence_logprobs`): no full-vocabulary log-probabilities are built.
    """
    if len(prompts) != len(responses):
        raise ValueError("one response per prompt")
    tok = llm.tokenizer
    end = [tok.eos_token_id]
    prefixes = [
        tok(llm.render(as_messages(p)), add_special_tokens=False).input_ids[-max_prompt_tokens:]
        for p in prompts
    ]
    targets = [
        tok(r, add_special_tokens=False).input_ids[:max_response_tokens] + end for r in responses
    ]
    counts = np.array([len(t) for t in targets], dtype=np.int64)
    return llm.scorer.sequence_logprobs(prefixes, targets), counts


def mean_loglik(
    llm: TransformersLLM, prompts: Sequence[Prompt], references: Sequence[str]
) -> float:
    """Mean per-token log-likelihood of the gold references (higher is better)."""
    sums, counts = response_logprobs(llm, prompts, references)
    return float(np.mean(sums / counts))


def generations(llm: LLM, prompts: Sequence[Prompt], *, max_new_tokens: int = 128) -> list[str]:
    """Greedy answers (temperature 0), so variants are compared on their most likely output."""
    return llm.generate([as_messages(p) for p in prompts], max_new_tokens=max_new_tokens)


def implicit_reward_margins(
    llm: TransformersLLM,
    adapter: str,
    prompts: Sequence[Prompt],
    chosen: Sequence[str],
    rejected: Sequence[str],
) -> np.ndarray:
    """DPO's implicit reward margin per pair (without beta, which does not change the sign):
    [log pi(chosen) - log ref(chosen)] - [log pi(rejected) - log ref(rejected)], where pi is
    `adapter` and the reference is the base with adapters disabled."""
    both = list(prompts) + list(prompts)
    answers = list(chosen) + list(rejected)
    with variant(llm, adapter):
        policy, _ = response_logprobs(llm, both, answers)
    with variant(llm, None):
        reference, _ = response_logprobs(llm, both, answers)
    ratio = policy - reference
    return ratio[: len(prompts)] - ratio[len(prompts) :]


# --- judging ------------------------------------------------------------------------------------
def judge_both_orders(
    judges: Sequence[LLM],
    prompts: Sequence[Prompt],
    responses_a: Sequence[str],
    responses_b: Sequence[str],
    rubric: str = "",
) -> list[judging.PairVerdict]:
    """Each pair judged with A first and with B first, probabilities averaged over judges; the
    verdict rules (a tie when the orders disagree) are `curator.algorithms.judging`'s."""
    texts = [prompt_text(p) for p in prompts]
    triples = list(zip(texts, responses_a, responses_b, strict=True))
    ab = [judging.pairwise_messages(p, a, b, rubric) for p, a, b in triples]
    ba = [judging.pairwise_messages(p, b, a, rubric) for p, a, b in triples]
    first_ab, first_ba = np.zeros(len(texts)), np.zeros(len(texts))
    for judge in judges:
        probabilities = calibration.softmax(judge.option_logprobs(ab + ba, ["A", "B"]))[:, 0]
        first_ab += probabilities[: len(texts)] / len(judges)
        first_ba += probabilities[len(texts) :] / len(judges)
    return judging.verdicts(first_ab, first_ba)


def judged_win_rate(
    judges: Sequence[LLM],
    prompts: Sequence[Prompt],
    candidate: Sequence[str],
    baseline: Sequence[str],
    rubric: str = "",
) -> WinRate:
    """Win rate of `candidate` outputs over `baseline` outputs on the same prompts."""
    return win_rate(judge_both_orders(judges, prompts, candidate, baseline, rubric), "a")


# --- reward models ------------------------------------------------------------------------------
class RewardModel:
    """A trained reward adapter over the base: one scalar per (prompt, response)."""

    def __init__(self, base: str, adapter_dir: str | Path, device: str = "auto") -> None:
        source = resolve_base(base)
        self.place = placement(device, cpu_batch=8, gpu_batch=64)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        model = AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=1, dtype=self.place.dtype
        )
        model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model = PeftModel.from_pretrained(model, str(adapter_dir)).to(self.place.device)
        self.model.eval()

    def conversation_text(self, prompt: Prompt, response: str) -> str:
        """The text the reward trainer saw: the whole conversation through the chat template."""
        messages = [*as_messages(prompt), {"role": "assistant", "content": response}]
        return str(self.tokenizer.apply_chat_template(messages, tokenize=False))

    @torch.inference_mode()
    def scores_texts(self, texts: Sequence[str], max_tokens: int = 1024) -> np.ndarray:
        out = np.zeros(len(texts), dtype=np.float64)
        for start in range(0, len(texts), self.place.batch_size):
            batch = self.tokenizer(
                list(texts[start : start + self.place.batch_size]), padding=True,
                truncation=True, max_length=max_tokens, add_special_tokens=False,
                return_tensors="pt",
            ).to(self.place.device)  # fmt: skip
            out[start : start + len(batch["input_ids"])] = (
                self.model(**batch).logits.float().squeeze(-1).cpu().numpy()
            )
        return out

    def scores(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> np.ndarray:
        texts = [self.conversation_text(p, r) for p, r in zip(prompts, responses, strict=True)]
        return self.scores_texts(texts)


def reward_scores(
    model: RewardModel, prompts: Sequence[Prompt], responses: Sequence[str]
) -> np.ndarray:
    """Reward of each generated item (for scores on records, bulk approval and filters)."""
    return model.scores(prompts, responses)


def reward_accuracy(
    model: RewardModel, prompts: Sequence[Prompt], chosen: Sequence[str], rejected: Sequence[str]
) -> float:
    """Share of gold pairs with reward(chosen) > reward(rejected)."""
    margins = model.scores(prompts, chosen) - model.scores(prompts, rejected)
    return preference_accuracy(margins)


# --- the round's evaluation table ---------------------------------------------------------------
def evaluate_variants(
    base: str,
    candidate_adapter: str | Path,
    *,
    kind: Literal["sft", "dpo"] = "sft",
    gold: Sequence[dict[str, Any]] = (),
    pairs: Sequence[dict[str, Any]] = (),
    promoted_adapter: str | Path | None = None,
    few_shot: Sequence[dict[str, Any]] = (),
    judges: Sequence[LLM] = (),
    rubric: str = "",
    max_new_tokens: int = 128,
    sample_size: int = 5,
    device: str = "auto",
) -> VariantsReport:
    """One table comparing base, in-context (few-shot), candidate and promoted on gold.

    `gold`: {"prompt", "reference"} rows (prompt: text or chat messages) for log-likelihood,
    ROUGE-L and the judged win rate; `pairs`: {"prompt", "chosen", "rejected"} gold pairs for
    DPO preference accuracy; `few_shot`: {"prompt", "reference"} training rows shown in context.
    Win rates are against the promoted version, or the base when none was promoted yet.
    """
    adapters = {CANDIDATE: candidate_adapter}
    if promoted_adapter:
        adapters[PROMOTED] = promoted_adapter
    llm = load_policy(base, adapters, device)
    baseline = PROMOTED if promoted_adapter else BASE
    settings: list[tuple[str, str | None, bool]] = [(BASE, None, False)]
    if few_shot:
        settings.append((IN_CONTEXT, None, True))
    settings.append((CANDIDATE, CANDIDATE, False))
    if promoted_adapter:
        settings.append((PROMOTED, PROMOTED, False))

    prompts = [row["prompt"] for row in gold]
    references = [row["reference"] for row in gold]
    shots = [(row["prompt"], row["reference"]) for row in few_shot]
    rows: list[VariantRow] = []
    outputs: dict[str, list[str]] = {}
    for name, adapter, in_context in settings:
        row = VariantRow(name)
        shown = [few_shot_messages(p, shots) for p in prompts] if in_context else prompts
        with variant(llm, adapter):
            if gold:
                row.mean_loglik = mean_loglik(llm, shown, references)
                outputs[name] = generations(llm, shown, max_new_tokens=max_new_tokens)
                row.rouge_l = float(rouge_l(outputs[name], references).mean())
        if pairs and kind == "dpo" and adapter is not None:
            row.preference_accuracy = preference_accuracy(
                implicit_reward_margins(
                    llm, adapter, [p["prompt"] for p in pairs],
                    [p["chosen"] for p in pairs], [p["rejected"] for p in pairs],
                )
            )  # fmt: skip
        rows.append(row)
    if gold and judges:
        for row in rows:
            if row.variant != baseline:
                row.win_rate = judged_win_rate(
                    judges, prompts, outputs[row.variant], outputs[baseline], rubric
                )
    samples = [
        {"prompt": prompt_text(prompts[i]), "reference": references[i]}
        | {name: outputs[name][i] for name in outputs}
        for i in range(min(sample_size, len(prompts)))
    ]
    return VariantsReport(rows=rows, baseline=baseline, gold_size=len(gold), samples=samples)


def evaluate_reward_variants(
    base: str,
    candidate_adapter: str | Path,
    pairs: Sequence[dict[str, Any]],
    *,
    promoted_adapter: str | Path | None = None,
    device: str = "auto",
) -> VariantsReport:
    """Reward accuracy on gold pairs of the candidate reward model and the promoted one."""
    prompts = [p["prompt"] for p in pairs]
    chosen, rejected = [p["chosen"] for p in pairs], [p["rejected"] for p in pairs]
    rows = []
    for name, folder in ((CANDIDATE, candidate_adapter), (PROMOTED, promoted_adapter)):
        if folder:
            model = RewardModel(base, folder, device)
            rows.append(
                VariantRow(name, reward_accuracy=reward_accuracy(model, prompts, chosen, rejected))
            )
            del model
    return VariantsReport(
        rows=rows, baseline=PROMOTED if promoted_adapter else "", gold_size=len(pairs)
    )
