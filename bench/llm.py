"""LLM throughput (pre-labels/s by batch size, judge comparisons/s), label scoring with multi-token
labels against single-token ones (before and after prompt-once scoring), and what routing saves.

Routing: the LLM pre-labels a pool; records above a confidence threshold keep the LLM label,
the rest get the human (SST-2) label. For each threshold we train the round classifier on that
mix and compare gold accuracy with all-human labeling of the same pool.
"""

from __future__ import annotations

import json
import time

import numpy as np

from bench.common import DATA, OUT, sst2_sentences, table
from bench.run import plot_bars

ROUTING_POOL = 300
THRESHOLDS = (0.6, 0.7, 0.8, 0.9, 0.95)
SCORING_PROMPTS = 16
# Four grades of sentiment each: one token apiece, and two to three tokens apiece (SmolLM2).
SINGLE_TOKEN_LABELS = ["Bad", "Poor", "Good", "Great"]
MULTI_TOKEN_LABELS = ["very negative", "somewhat negative", "somewhat positive", "very positive"]
MULTI_SINGLE_GOAL = 2.0


def _label_scoring(llm, rounds: int = 2) -> tuple[dict, str]:
    """Seconds to score 16 prompts against 4 labels, single- and multi-token, with the backend's
    scorer and with the per-pair reference it replaced (tests/llm_reference.py), interleaved in
    this process; the fastest of `rounds` timings of each."""
    from curator.algorithms.prompts import classification_messages
    from tests import llm_reference

    texts = [t for t, _ in sst2_sentences("dev")[:SCORING_PROMPTS]]
    label_sets = {"single-token": SINGLE_TOKEN_LABELS, "multi-token": MULTI_TOKEN_LABELS}
    prompts = {
        kind: [classification_messages(t, label_names=labels) for t in texts]
        for kind, labels in label_sets.items()
    }
    methods = {
        "before (one pass per prompt and label)": lambda m, o: llm_reference.option_logprobs(
            llm, m, o
        ),
        "after (prompt once, labels continue it)": llm.option_logprobs,
    }
    llm.option_logprobs(prompts["multi-token"][:2], MULTI_TOKEN_LABELS)  # warm up
    seconds: dict[str, dict[str, float]] = {name: {} for name in methods}
    scores: dict[str, dict[str, np.ndarray]] = {name: {} for name in methods}
    for _ in range(rounds):
        for name, method in methods.items():
            for kind, labels in label_sets.items():
                started = time.perf_counter()
                scores[name][kind] = method(prompts[kind], labels)
                elapsed = time.perf_counter() - started
                seconds[name][kind] = min(seconds[name].get(kind, elapsed), elapsed)
    before, after = methods

    def token_count(text: str) -> int:
        return len(llm.tokenizer(text, add_special_tokens=False).input_ids)

    tokens = {kind: [token_count(label) for label in labels] for kind, labels in label_sets.items()}
    prompt_tokens = {
        kind: float(np.mean([token_count(llm.render(m)) for m in prompts[kind]]))
        for kind in label_sets
    }
    rows = []
    per_method = {}
    for name in methods:
        single, multi = seconds[name]["single-token"], seconds[name]["multi-token"]
        rows.append([name, single, multi, len(texts) / multi, multi / single])
        per_method[name] = {
            "single_s": single,
            "multi_s": multi,
            "multi_over_single": multi / single,
        }
    results: dict[str, object] = {
        "prompts": len(texts),
        "label_tokens": tokens,
        "mean_prompt_tokens": prompt_tokens,
        "methods": per_method,
    }
    largest_gap = max(
        float(np.abs(scores[after][kind] - scores[before][kind]).max()) for kind in label_sets
    )
    results["max_abs_score_difference"] = largest_gap
    results["multi_speedup"] = seconds[before]["multi-token"] / seconds[after]["multi-token"]
    ratio = seconds[after]["multi-token"] / seconds[after]["single-token"]
    results["goal_met"] = ratio <= MULTI_SINGLE_GOAL
    text = table(
        f"Label scoring: {len(texts)} SST-2 prompts x 4 labels, seconds (fastest of {rounds}); "
        f"label tokens {tokens['single-token']} vs {tokens['multi-token']}, mean prompt tokens "
        f"{prompt_tokens['single-token']:.0f} vs {prompt_tokens['multi-token']:.0f}",
        ["method", "single-token s", "multi-token s", "multi prompts/s", "multi / single"],
        rows,
    )
    text += (
        f"\nmulti-token labels {results['multi_speedup']:.1f}x faster than before; "
        f"multi / single {ratio:.2f} (goal <= {MULTI_SINGLE_GOAL}: "
        f"{'met' if results['goal_met'] else 'NOT met'}); "
        f"largest score difference from before {largest_gap:.1e}"
    )
    (OUT / "llm_scoring.json").write_text(json.dumps(results, indent=2))
    plot_bars(
        OUT / "llm_scoring.png",
        f"label scoring, {len(texts)} prompts x 4 labels",
        list(label_sets),
        {name.split(" (")[0]: [seconds[name][kind] for kind in label_sets] for name in methods},
        "seconds",
    )
    return results, text


def _throughput(llm, texts: list[str]) -> list[list[object]]:
    from curator.algorithms.prompts import classification_messages

    messages = [classification_messages(t, label_names=["Negative", "Positive"]) for t in texts]
    rows = []
    original = llm.place
    for batch in (4, 16, 32):
        llm.place = type(original)(original.device, original.dtype, batch)
        started = time.perf_counter()
        llm.option_logprobs(messages, ["Negative", "Positive"])
        rows.append([f"pre-label, batch {batch}", len(texts) / (time.perf_counter() - started)])
    llm.place = original
    return rows


def _judge_rate(llm) -> float:
    from curator.algorithms import judging

    pairs = []
    with (DATA / "hh_rlhf_harmless" / "harmless_base_test.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            cut = row["chosen"].rfind("\n\nAssistant:")
            pairs.append(
                (row["chosen"][:cut], row["chosen"][cut + 12 :], row["rejected"][cut + 12 :])
            )
            if len(pairs) == 16:
                break
    ab = [judging.pairwise_messages(p, a, b) for p, a, b in pairs]
    ba = [judging.pairwise_messages(p, b, a) for p, a, b in pairs]
    started = time.perf_counter()
    llm.option_logprobs(ab + ba, ["A", "B"])
    return len(pairs) / (time.perf_counter() - started)


def _routing(llm) -> tuple[dict, list[list[object]]]:
    from curator.algorithms import calibration, learning
    from curator.algorithms.prompts import Example, classification_messages
    from workers.inference.encoder import get_encoder

    names = {"negative": "Negative", "positive": "Positive"}
    rng = np.random.default_rng(0)
    train = [(t, label) for t, label in sst2_sentences("train") if len(t.split()) >= 6]
    picks = rng.choice(len(train), ROUTING_POOL + 20, replace=False)
    pool = [train[i] for i in picks[:ROUTING_POOL]]
    shots = [train[i] for i in picks[ROUTING_POOL:]]
    examples = [
        Example(*next((t, names[lab]) for t, lab in shots if lab == want))
        for want in ("negative", "positive")
    ]

    def messages(text: str) -> list[dict[str, str]]:
        return classification_messages(
            text, label_names=["Negative", "Positive"], examples=examples
        )

    prior = calibration.content_free_prior(
        llm.option_logprobs(
            [messages(t) for t in calibration.CONTENT_FREE_INPUTS], ["Negative", "Positive"]
        )
    )
    started = time.perf_counter()
    probabilities = calibration.calibrate(
        llm.option_logprobs([messages(t) for t, _ in pool], ["Negative", "Positive"]), prior
    )
    seconds = time.perf_counter() - started
    llm_labels = np.array(["negative", "positive"])[probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    truth = np.array([label for _, label in pool])
    encoder = get_encoder()
    x = encoder.encode([t for t, _ in pool])
    dev = sst2_sentences("dev")
    dev_x, dev_y = encoder.encode([t for t, _ in dev]), [label for _, label in dev]

    def gold_accuracy(labels: np.ndarray) -> float:
        model = learning.train_classifier(x, [str(v) for v in labels])
        return learning.evaluate(model.predict(dev_x), dev_y)["accuracy"]

    human = gold_accuracy(truth)
    rows = [["all human", 0, 1.0, human, 0.0]]
    results = {
        "all_human_accuracy": human,
        "llm_accuracy": float((llm_labels == truth).mean()),
        "llm_labels_per_s": ROUTING_POOL / seconds,
        "thresholds": {},
    }
    best = 0
    for threshold in THRESHOLDS:
        auto = confidence >= threshold
        mixed = np.where(auto, llm_labels, truth)
        accuracy = gold_accuracy(mixed)
        auto_accuracy = float((llm_labels[auto] == truth[auto]).mean()) if auto.any() else None
        results["thresholds"][str(threshold)] = {
            "saved": int(auto.sum()),
            "auto_accuracy": auto_accuracy,
            "gold_accuracy": accuracy,
        }
        rows.append(
            [
                f"route at {threshold}",
                int(auto.sum()),
                auto_accuracy or float("nan"),
                accuracy,
                accuracy - human,
            ]
        )
        if accuracy >= human - 0.01:
            best = max(best, int(auto.sum()))
    results["human_labels_saved_within_1_point"] = best
    return results, rows


def run() -> tuple[dict, str]:
    from workers.inference.llm import get_llm

    llm = get_llm()
    device = getattr(getattr(llm, "place", None), "device", "remote")
    texts = [t for t, _ in sst2_sentences("dev")[:64]]
    scoring, scoring_text = (
        _label_scoring(llm) if hasattr(llm, "model") else ({}, "label scoring: local models only")
    )
    rows = _throughput(llm, texts)
    judge = _judge_rate(llm)
    rows.append(["judge comparisons (both orders)", judge])
    routing, routing_rows = _routing(llm)
    results = {
        "device": device,
        "label_scoring": scoring,
        "throughput": {r[0]: r[1] for r in rows},
        "routing": routing,
    }
    text = table(
        f"LLM {llm.identity} on {device} (no GPU lent to this run)", ["work", "items/s"], rows
    )
    text = f"{scoring_text}\n\n{text}"
    text += "\n\n" + table(
        f"Routing on {ROUTING_POOL} SST-2 sentences (LLM labels {routing['llm_accuracy']:.3f} "
        f"accurate); gold accuracy of the round classifier",
        [
            "labels from",
            "human labels saved",
            "auto-accepted accuracy",
            "gold accuracy",
            "vs all human",
        ],
        routing_rows,
    )
    saved = routing["human_labels_saved_within_1_point"]
    text += f"\nhuman labels saved within 1 point of all-human: {saved}"
    (OUT / "llm.json").write_text(json.dumps(results, indent=2))
    return results, text


if __name__ == "__main__":  # only the label-scoring comparison (no database): python -m bench.llm
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "curator.settings")
    django.setup()
    OUT.mkdir(parents=True, exist_ok=True)
    from workers.inference.llm import get_llm

    print(_label_scoring(get_llm())[1])
