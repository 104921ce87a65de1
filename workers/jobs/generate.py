"""Synthetic generation: a batch of new examples for curators to review.

What a job writes follows the project's task type (`TaskType.generation`): labeled texts here,
prompts with the LLM's response for correction projects (`workers/jobs/generate_instructions.py`).

Generators (job param `generator`), for classification and rating projects:
- instruction: new examples of a label, written from a few labeled seeds of that label;
- rewrite: paraphrases of hard (misclassified or least confident) and minority-label examples
  that keep the label;
- adversarial: minimal edits of examples near the current model's decision boundary that flip
  them to another label (contrast sets), so the intended label is the other one.

Every item is a Record (origin synthetic or rewrite, review "pending": it trains only once a
curator approves it) linked to its seeds by LineageEdge, with the generator's intended label as
an `llm` annotation; the job's params hold the prompt template, model and sampling parameters.
Before anyone sees an item it is scored: toxicity, judge quality (1-5), whether the current
model agrees with the intended label, and (when the batch is complete) near-duplication against
the project's data.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from django.db import transaction

from annotation import task_types
from annotation.labels import training_labels
from curator.algorithms import curation
from curator.curation_selectors import batch_stats
from curator.models import (
    Document,
    Job,
    Origin,
    Project,
    Record,
    Round,
)
from curator.models.records import (
    AGREEMENT_KIND,
    NEAR_DUP_KIND,
    TOXICITY_KIND,
    payload_text,
)
from workers.inference.encoder import get_encoder
from workers.inference.toxicity import get_toxicity_scorer
from workers.jobs import generate_instructions
from workers.jobs.fanout import FannedOut
from workers.jobs.generated_items import (
    generated_item_store,
    quality_and_reward_store,
    seed_failed,
    seeds_to_do,
)
from workers.jobs.project_llm import job_llm
from workers.jobs.scores import scores_store

# (seed record or None, text or None when nothing usable came back, intended label, prompt
# messages, citation of a document chunk)
GeneratedItem = tuple[int | None, str | None, str | None, list[dict], dict]

DEFAULTS = {"count": 20, "temperature": 0.8, "max_new_tokens": 60, "seed": 0, "labels": None}
TEMPLATES = {
    "instruction": (
        "Here are examples of texts labeled '{label}':\n{examples}\n\n"
        "Write one new, different text that a careful annotator would also label '{label}'. "
        "Reply with the text only."
    ),
    "rewrite": (
        "Paraphrase the text below. Keep its meaning and its label '{label}'; change the wording."
        " Reply with the paraphrase only.\n\nText: {text}"
    ),
    "adversarial": (
        "Change as few words as possible in the text below so that it would be labeled "
        "'{target}' instead of '{label}'. Reply with the changed text only.\n\nText: {text}"
    ),
    "grounded": (
        "Read this passage:\n{passage}\n\nWrite one short text, using only facts from the "
        "passage, that a careful annotator would label '{label}'. Reply with the text only."
    ),
}
QUALITY_RUBRIC = (
    "Rate how good this text is as a training example for the label given in the request: "
    "fluent, on-topic, clearly of that label."
)
MAX_CHARS = 600


def _names(project: Project) -> dict[str, str]:
    return {label["value"]: label["name"] for label in project.labels}


def latest_model(project: Project) -> dict[str, Any] | None:
    """The artifact of the project's latest successful round: classifier and encoder identity."""
    round_ = (
        Round.objects.filter(project=project, status=Round.Status.SUCCEEDED)
        .exclude(model_artifact="")
        .order_by("-number")
        .first()
    )
    if round_ is None:
        return None
    import joblib
    from django.conf import settings

    return joblib.load(Path(settings.MEDIA_ROOT) / round_.model_artifact)


def _probabilities(project: Project, texts: list[str]) -> tuple[list[str], np.ndarray] | None:
    """The latest round's classifier on these texts: (its label order, probabilities); None
    without a model, or when the project's encoder changed since (its features would not fit)."""
    artifact = latest_model(project)
    if artifact is None:
        return None
    encoder = get_encoder(project.settings_obj.encoder_model)
    if encoder.identity != artifact["encoder"]:
        return None
    model = artifact["classifier"]
    return model.labels, model.predict_proba(encoder.encode(texts))


def _writes_prompts(job: Job) -> bool:
    return task_types.get(job.project.task_type).generation == task_types.PROMPT_RESPONSE


def plan(job: Job) -> list[int]:
    """Choose the seed records; each chunk then writes one item per seed."""
    if _writes_prompts(job):
        return generate_instructions.plan(job)
    project = job.project
    llm = job_llm(job)  # first: it pins the model version into job.params
    params = {**DEFAULTS, **job.params}
    generator = params["generator"]
    labeled = training_labels(project)
    allowed = set(params["labels"] or project.label_values)
    field = project.settings_obj.text_field
    seeds = {pk: label for pk, (_, label) in labeled.items() if label in allowed}
    rng = random.Random(params["seed"])
    count = int(params["count"])
    if generator == "grounded":
        params["passages"] = _passages(project, params, count, sorted(allowed))
        # Units are positions in params["passages"], not records.
        chosen = list(range(1, len(params["passages"]) + 1))
    elif generator == "instruction":
        chosen = _round_robin_by_label(seeds, count, rng)
    else:
        chosen = _hard_first(project, seeds, count, field, rng, generator)
    params.update(
        {
            "template": TEMPLATES[generator],
            "llm": llm.identity,
            "seed_labels": {str(pk): seeds[pk] for pk in chosen if generator != "grounded"},
        }
    )
    Job.objects.filter(pk=job.pk).update(params=params, model_identity={"llm": llm.identity})
    job.params = params
    return chosen


def _passages(
    project: Project, params: dict[str, Any], count: int, labels: list[str]
) -> list[dict[str, Any]]:
    """(document, chunk, intended label) for each item: chunks in order, labels in turn."""
    documents = Document.objects.filter(project=project)
    if params.get("documents"):
        documents = documents.filter(pk__in=params["documents"])
    chunks = [(d.pk, d.name, i) for d in documents.order_by("id") for i in range(len(d.chunks))]
    if not chunks:
        return []
    return [
        {
            "document": chunks[n % len(chunks)][0],
            "name": chunks[n % len(chunks)][1],
            "chunk": chunks[n % len(chunks)][2],
            "label": labels[n % len(labels)],
        }
        for n in range(count)
    ]


def _round_robin_by_label(seeds: dict[int, str], count: int, rng: random.Random) -> list[int]:
    by_label: dict[str, list[int]] = {}
    for pk, label in sorted(seeds.items()):
        by_label.setdefault(label, []).append(pk)
    for ids in by_label.values():
        rng.shuffle(ids)
    chosen: list[int] = []
    while len(chosen) < count and any(by_label.values()):
        for ids in by_label.values():
            if ids and len(chosen) < count:
                chosen.append(ids.pop())
    return chosen


def _hard_first(
    project: Project,
    seeds: dict[int, str],
    count: int,
    field: str,
    rng: random.Random,
    generator: str,
) -> list[int]:
    """Misclassified, then least-confident examples by the latest round's model; minority
    labels first when no model exists yet."""
    ids = sorted(seeds)
    if not ids:
        return []
    payloads = dict(Record.objects.filter(pk__in=ids).values_list("id", "payload"))
    scored = _probabilities(project, [payload_text(payloads[i], field) for i in ids])
    if scored is None:
        counts: dict[str, int] = {}
        for label in seeds.values():
            counts[label] = counts.get(label, 0) + 1
        rng.shuffle(ids)
        ids.sort(key=lambda pk: counts[seeds[pk]])
        return ids[:count]
    order, probabilities = scored
    given = np.array([probabilities[row, order.index(seeds[pk])] if seeds[pk] in order else 0.0
                      for row, pk in enumerate(ids)])  # fmt: skip
    if generator == "adversarial":
        # Near the boundary: the given label's probability closest to the runner-up's.
        top2 = np.sort(probabilities, axis=1)[:, -2:]
        hardness = -(top2[:, 1] - top2[:, 0])
    else:
        hardness = -given  # misclassified examples have the lowest probability of their label
    ranked = [ids[i] for i in np.argsort(-hardness, kind="stable")]
    return ranked[:count]


def _clean(reply: str) -> str:
    text = reply.strip().split("\n\n")[0].strip()
    text = re.sub(r"^(text|paraphrase|changed text)\s*:\s*", "", text, flags=re.IGNORECASE)
    return text.strip().strip('"').strip()[:MAX_CHARS]


def _messages(job: Job, seed_text: str, label: str, examples: list[str]) -> tuple[list[dict], str]:
    project = job.project
    names = _names(project)
    others = [v for v in project.label_values if v != label]
    target = others[int(hashlib.sha256(seed_text.encode()).digest()[0]) % len(others)]
    prompt = (
        job.params["template"]
        .replace("{label}", names.get(label, label))
        .replace("{target}", names.get(target, target))
        .replace("{text}", seed_text[:MAX_CHARS])
        .replace("{examples}", "\n".join(f"- {e[:300]}" for e in examples))
    )
    return [{"role": "user", "content": prompt}], target


def _generate(job: Job, units: list[int], prompts: list[list[dict]]) -> list[str]:
    """One batched call for the chunk, seeded by (job, its units): a chunk that runs again
    writes the same items."""
    if not prompts:
        return []
    key = f"{job.pk}:{','.join(map(str, units))}"
    torch.manual_seed(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16))
    llm = job_llm(job)
    replies = llm.generate(
        prompts,
        max_new_tokens=int(job.params["max_new_tokens"]),
        temperature=float(job.params["temperature"]),
    )
    return [_clean(reply) for reply in replies]


def _process_grounded(job: Job, units: list[int]) -> None:
    names = _names(job.project)
    documents = {
        d.pk: d
        for d in Document.objects.filter(pk__in={job.params["passages"][u - 1]["document"]
                                                 for u in units})
    }  # fmt: skip
    planned = []
    for unit in units:
        passage = job.params["passages"][unit - 1]
        document = documents.get(passage["document"])
        if document is None:
            continue  # deleted since the plan
        text = document.chunks[passage["chunk"]]
        prompt = (
            job.params["template"]
            .replace("{label}", names.get(passage["label"], passage["label"]))
            .replace("{passage}", text[: MAX_CHARS * 2])
        )
        citation = {"document": document.pk, "name": document.name, "chunk": passage["chunk"],
                    "unit": unit}  # fmt: skip
        planned.append((unit, [{"role": "user", "content": prompt}], passage["label"], citation))
    replies = _generate(job, [p[0] for p in planned], [p[1] for p in planned])
    _store(
        job,
        [
            (None, reply or None, label, messages, citation)
            for (_, messages, label, citation), reply in zip(planned, replies, strict=True)
        ],
    )


def process(job: Job, seed_ids: list[int]) -> None:
    if _writes_prompts(job):
        generate_instructions.process(job, seed_ids)
        return
    project = job.project
    params = job.params
    generator = params["generator"]
    if generator == "grounded":
        _process_grounded(job, seed_ids)
        return
    field = project.settings_obj.text_field
    seeds = seeds_to_do(job, seed_ids)
    if not seeds:
        return
    payloads = dict(Record.objects.filter(pk__in=seeds).values_list("id", "payload"))
    labels = {int(pk): label for pk, label in params["seed_labels"].items()}
    same_label: dict[str, list[str]] = {}
    for pk, label in labels.items():
        if pk in payloads:
            same_label.setdefault(label, []).append(payload_text(payloads[pk], field))
    planned = []
    for pk in seeds:
        text = payload_text(payloads[pk], field)
        examples = [*[t for t in same_label.get(labels[pk], []) if t != text][:2], text]
        messages, target = _messages(job, text, labels[pk], examples)
        planned.append((pk, text, messages, target))
    replies = _generate(job, [p[0] for p in planned], [p[2] for p in planned])
    items: list[GeneratedItem] = []
    for (pk, text, messages, target), generated in zip(planned, replies, strict=True):
        if not generated or curation.normalise(generated) == curation.normalise(text):
            items.append((pk, None, None, messages, {}))
            continue
        intended = target if generator == "adversarial" else labels[pk]
        items.append((pk, generated, intended, messages, {}))
    _store(job, items)


def _store(job: Job, items: list[GeneratedItem]) -> None:
    """Write the items: (seed record or None, text or None when nothing usable came back,
    intended label, prompt messages, citation of a document chunk)."""
    project = job.project
    field = project.settings_obj.text_field
    generator = job.params["generator"]
    origin = Origin.REWRITE if generator in ("rewrite", "adversarial") else Origin.SYNTHETIC
    created: list[tuple[Record, str]] = []
    with transaction.atomic():
        for seed_id, text, intended, messages, citation in items:
            if text is None or intended is None:  # a usable text always has its intended label
                if seed_id is not None:
                    seed_failed(job, seed_id)
                continue
            record = generated_item_store(
                job,
                payload={field: text},
                origin=origin,
                source={
                    "generator": generator,
                    "seed": seed_id,
                    "prompt": messages[-1]["content"],
                    **citation,
                },
                seed_id=seed_id,
                intended=intended,
            )
            if record is not None:
                created.append((record, intended))
    if created:
        _score(job, created)


def _score(job: Job, created: list[tuple[Record, str]]) -> None:
    project = job.project
    field = project.settings_obj.text_field
    ids = [record.pk for record, _ in created]
    texts = [record.text(field) for record, _ in created]
    scorer = get_toxicity_scorer(project.settings_obj.toxicity_model)
    scores_store(round_=None, kind=TOXICITY_KIND, model_identity=scorer.identity, job=job,
                 record_ids=ids, values=scorer.score(texts).tolist())  # fmt: skip
    names = _names(project)
    prompts = [
        f"Write a text of the label '{names.get(intended, intended)}'." for _, intended in created
    ]
    quality_and_reward_store(job, ids, prompts, texts, QUALITY_RUBRIC, "quality-v1")
    scored = _probabilities(project, texts)
    if scored is not None:
        order, probabilities = scored
        agreement = [
            float(probabilities[row, order.index(intended)]) if intended in order else 0.0
            for row, (_, intended) in enumerate(created)
        ]
        scores_store(round_=None, kind=AGREEMENT_KIND, model_identity="latest-round",
                     job=job, record_ids=ids, values=agreement)  # fmt: skip


def finalize(job: Job) -> dict[str, Any]:
    """Near-duplicate scores against the rest of the project, then the batch's statistics."""
    project = job.project
    # Instruction items are compared by their prompt, labeled texts by their text.
    field = project.settings_obj.text_field
    if _writes_prompts(job):
        field = generate_instructions.DEDUP_FIELD
    batch = list(
        Record.objects.filter(created_by_job=job).order_by("id").values_list("id", "payload")
    )
    if batch:
        others = list(
            Record.objects.filter(project=project)
            .exclude(created_by_job=job)
            .order_by("-id")
            .values_list("id", "payload")[:50000]
        )
        similarity = curation.max_jaccard(
            [payload_text(p, field) for _, p in batch], [payload_text(p, field) for _, p in others]
        )
        scores_store(round_=None, kind=NEAR_DUP_KIND, model_identity="minhash-3gram-128",
                     job=job, record_ids=[pk for pk, _ in batch], values=similarity)  # fmt: skip
    return asdict(batch_stats(job))


# The runner named by curator/job_kinds/generate.py.
RUNNER = FannedOut(plan=plan, process=process, finalize=finalize, chunk_size=8)
