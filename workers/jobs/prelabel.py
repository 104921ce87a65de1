"""LLM pre-labeling with calibrated confidence, and routing between people and the model.

plan: choose records, draw few-shot examples from human labels, measure the content-free prior,
then measure the routing signals on people's labels and choose the auto-accept threshold
(`prelabel_routing.routing_plan`).
process: score every label by log-likelihood, calibrate, pool with the latest round's calibrated
classifier, store an `llm` annotation with the pooled confidence, route: confident ->
auto-accepted (a random share still spot-checked by people), uncertain -> the human queue. A
record whose text addresses the labeler or the model goes to people too, with the reason
recorded: an injected instruction can raise the confidence, so it is not trusted.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Exists, OuterRef

from annotation import task_types
from annotation.labels import training_labels
from annotation.models import Annotation, Source
from curator.algorithms import calibration, routing
from curator.algorithms.injection import instruction_reason
from curator.algorithms.prompts import (
    DEFAULT_SYSTEM,
    DEFAULT_USER,
    Example,
    classification_messages,
    parse_label,
)
from curator.models import Job, Project, Record, RoutingDecision, Split
from curator.models.project_settings import FIELDS as PROJECT_SETTINGS
from curator.models.records import payload_text
from workers.inference.llm import LLM
from workers.jobs import prelabel_routing, routing_signals
from workers.jobs.fanout import FannedOut
from workers.jobs.project_llm import job_llm

# Per-job knobs; the routing thresholds are project settings (ProjectSettings).
DEFAULTS = {
    "limit": 500,
    "few_shot_per_label": 1,
    "auto_accept_threshold": None,
    "spot_check_rate": None,
    "routing_target_precision": None,
    "routing_evidence_size": None,
    "routing_require_agreement": None,
    "self_consistency": 0,
    "seed": 0,
}
MAX_REASON = 500  # RoutingDecision.reason's length
# Spot checks jump the queue: their value is a quick, honest measure of auto-accepted accuracy.
SPOT_CHECK_PRIORITY = 10000.0


def setting(job: Job, project: Project, key: str) -> Any:
    """Job parameter, else the project's setting (with its default), else the job default."""
    if key in job.params:
        return job.params[key]
    if key in PROJECT_SETTINGS:
        return project.setting(key)
    return DEFAULTS[key]


def label_names(project: Project) -> list[str]:
    return [label["name"] for label in project.labels]


def few_shot_examples(project: Project, per_label: int, seed: int) -> list[Example]:
    """Up to `per_label` human-labeled examples of each label, interleaved, drawn by seed."""
    labels = training_labels(project)
    by_label: dict[str, list[int]] = {}
    for record_id, (_, label) in sorted(labels.items()):
        by_label.setdefault(label, []).append(record_id)
    rng = random.Random(seed)
    chosen: list[tuple[int, str]] = []
    for label, ids in by_label.items():
        chosen += [(i, label) for i in rng.sample(ids, min(per_label, len(ids)))]
    rng.shuffle(chosen)
    names = {label["value"]: label["name"] for label in project.labels}
    field = project.settings_obj.text_field
    payloads = dict(
        Record.objects.filter(pk__in=[i for i, _ in chosen]).values_list("id", "payload")
    )
    return [Example(payload_text(payloads[i], field), names[label]) for i, label in chosen]


def messages_for(project: Project, params: dict[str, Any], text: str) -> list[dict[str, str]]:
    return classification_messages(
        text,
        label_names=label_names(project),
        guidelines=project.guidelines,
        examples=[Example(**e) for e in params["examples"]],
        system_template=params["system_template"],
        user_template=params["user_template"],
    )


def label_probabilities(
    llm: LLM, project: Project, params: dict[str, Any], texts: list[str]
) -> np.ndarray:
    """Calibrated label probabilities for each text (columns in the project's label order)."""
    names = label_names(project)
    logprobs = llm.option_logprobs([messages_for(project, params, t) for t in texts], names)
    probabilities = calibration.calibrate(logprobs, np.array(params["prior"]))
    samples = int(params.get("self_consistency") or 0)
    if samples:
        votes = np.zeros_like(probabilities)
        prompts = [messages_for(project, params, t) for t in texts for _ in range(samples)]
        replies = llm.generate(prompts, max_new_tokens=8, temperature=0.7)
        for index, reply in enumerate(replies):
            label = parse_label(reply, names)
            if label is not None:
                votes[index // samples, label] += 1
        probabilities = calibration.blend_votes(probabilities, votes)
    return probabilities


def plan(job: Job) -> list[int]:
    project = job.project
    llm = job_llm(job)
    seed = int(setting(job, project, "seed"))
    method = METHODS[task_types.get(project.task_type).prelabel_method]
    examples = (
        few_shot_examples(project, int(setting(job, project, "few_shot_per_label")), seed)
        if method.few_shot
        else []
    )
    params = {
        **job.params,
        **{key: setting(job, project, key) for key in DEFAULTS},
        "examples": [{"text": e.text, "label": e.label} for e in examples],
        "llm": llm.identity,
        # The exact prompt is part of the lineage of every label this job writes.
        "system_template": job.params.get("system_template")
        or project.settings_obj.prelabel_system
        or DEFAULT_SYSTEM,
        "user_template": job.params.get("user_template")
        or project.settings_obj.prelabel_user
        or DEFAULT_USER,
    }
    if method.prior is not None:
        params["prior"] = method.prior(llm, project, params)
    params["routing"] = prelabel_routing.routing_plan(
        project,
        params,
        score=(lambda texts: label_probabilities(llm, project, params, texts))
        if method.pooled
        else None,
    )
    params["auto_accept_threshold"] = params["routing"]["threshold"]
    Job.objects.filter(pk=job.pk).update(params=params, model_identity={"llm": llm.identity})
    job.params = params
    human = Annotation.objects.filter(record=OuterRef("pk"), source=Source.HUMAN)
    records = Record.objects.filter(project=project, split=Split.POOL, route="")
    if job.params.get("record_ids"):  # a curator's choice in the data manager
        records = records.filter(pk__in=job.params["record_ids"])
    return list(
        records.exclude(Exists(human))
        .order_by("-priority", "id")
        .values_list("id", flat=True)[: int(params["limit"])]
    )


def spot_checked(record_id: int, seed: int, rate: float) -> bool:
    """A stable coin flip per record, so a re-run chunk makes the same choice."""
    digest = hashlib.sha256(f"{seed}:{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def route(
    confidence: float, threshold: float | None, record_id: int, seed: int, rate: float,
    distrusted: bool = False, disagree: bool = False,
) -> str:  # fmt: skip
    """Where a pre-labeled record goes; a distrusted confidence (see `distrust`), signals that
    disagree where agreement is required, or no threshold at all always ask people."""
    if distrusted or disagree or threshold is None or confidence < threshold:
        return RoutingDecision.Decision.HUMAN
    if spot_checked(record_id, seed, rate):
        return RoutingDecision.Decision.SPOT_CHECK
    return RoutingDecision.Decision.AUTO


# Each labeler returns (value in the task type's shape, calibrated confidence or None, the
# signals behind it) for each record; None means a suggestion for people, never routed.
Labeled = list[tuple[Any, float | None, dict[str, Any]]]


def _label_scores(
    llm: LLM, project: Project, params: dict[str, Any], records: list[Record], field: str
) -> Labeled:
    llm_p = label_probabilities(llm, project, params, [r.text(field) for r in records])
    plan_ = params.get("routing") or {}
    signal = routing_signals.classifier_signal(project) if plan_.get("classifier_round") else None
    # The round the plan measured: a round finished since then was not measured, so not used.
    if signal is not None and signal.round_number != plan_["classifier_round"]:
        signal = None
    classifier_p = (
        routing_signals.classifier_probabilities(signal, project, [r.pk for r in records])
        if signal is not None
        else None
    )
    weights = tuple(plan_.get("weights") or (1.0, 1.0))
    pooled = routing.pooled_labels(llm_p, classifier_p, (weights[0], weights[1]))
    # Stored in the task type's shape: a rating is the scale point as a number.
    task = task_types.get(project.task_type)
    values = [task.clean(project.labels, {}, v) for v in project.label_values]
    labeled: Labeled = []
    for row, label in enumerate(pooled.labels):
        signals: dict[str, Any] = {"llm": round(float(llm_p[row, label]), 4)}
        if classifier_p is not None and signal is not None:
            signals.update(classifier=round(float(classifier_p[row, label]), 4),
                           agree=bool(pooled.agree[row]), round=signal.round_number)  # fmt: skip
        labeled.append((values[int(label)], float(pooled.confidence[row]), signals))
    return labeled


def _label_scores_prior(llm: LLM, project: Project, params: dict[str, Any]) -> Any:
    return calibration.content_free_prior(
        llm.option_logprobs(
            [messages_for(project, params, text) for text in calibration.CONTENT_FREE_INPUTS],
            label_names(project),
        )
    ).tolist()


def _yes_no_per_label(
    llm: LLM, project: Project, params: dict[str, Any], records: list[Record], field: str
) -> Labeled:
    yes = multilabel_probabilities(llm, project, params, [r.text(field) for r in records])
    values = project.label_values
    return [
        (
            [v for v, p in zip(values, row, strict=True) if p >= 0.5],
            # As sure as its least sure yes/no decision.
            float(np.min(np.maximum(row, 1 - row))),
            {},
        )
        for row in yes
    ]


def _yes_no_prior(llm: LLM, project: Project, params: dict[str, Any]) -> Any:
    return [
        calibration.content_free_prior(
            llm.option_logprobs(
                [multilabel_messages(project, t, name) for t in calibration.CONTENT_FREE_INPUTS],
                YES_NO,
            )
        ).tolist()
        for name in label_names(project)
    ]


def _drafts(
    llm: LLM, project: Project, params: dict[str, Any], records: list[Record], field: str
) -> Labeled:
    task = task_types.get(project.task_type)
    prompts = [
        [{"role": "user", "content": task_types.text_of(r.payload, "prompt")[:4000]}]
        for r in records
    ]
    replies = llm.generate(prompts, max_new_tokens=int(params.get("max_new_tokens", 160)))
    return [
        (task.clean(project.labels, r.payload, {"text": reply or "(no answer)"}), None, {})
        for r, reply in zip(records, replies, strict=True)
    ]


def _phrases(
    llm: LLM, project: Project, params: dict[str, Any], records: list[Record], field: str
) -> Labeled:
    texts = [r.text(field) for r in records]
    return [(spans, None, {}) for spans in span_suggestions(llm, project, params, texts)]


@dataclass(frozen=True)
class Method:
    """How to pre-label one kind of task (TaskType.prelabel_method names one)."""

    label: Callable[[LLM, Project, dict[str, Any], list[Record], str], Labeled]
    # The content-free prior measured once in plan, for calibration; None where not needed.
    prior: Callable[[LLM, Project, dict[str, Any]], Any] | None = None
    few_shot: bool = False
    # One label per record: the round classifier is a second signal, and people's labels are
    # re-scored in plan to measure both (`routing_plan`).
    pooled: bool = False


METHODS: dict[str | None, Method] = {
    task_types.LABEL_SCORES: Method(_label_scores, _label_scores_prior, few_shot=True, pooled=True),
    task_types.YES_NO_PER_LABEL: Method(_yes_no_per_label, _yes_no_prior),
    task_types.DRAFT: Method(_drafts),
    task_types.PHRASES: Method(_phrases),
}


def _labels_for(
    llm: LLM, project: Project, params: dict[str, Any], records: list[Record], field: str
) -> Labeled:
    """(value in the task type's shape, calibrated confidence, signals) for each record."""
    method = METHODS[task_types.get(project.task_type).prelabel_method]
    return method.label(llm, project, params, records, field)


YES_NO = ["yes", "no"]
SPAN_PROMPT = (
    "Text: {text}\n\nCopy from the text every word or phrase that is {tag}. "
    "Separate them with ';'. If there is none, answer none."
)


def span_suggestions(
    llm: LLM, project: Project, params: dict[str, Any], texts: list[str]
) -> list[list[dict[str, Any]]]:
    """The LLM lists phrases per tag; each phrase found verbatim in the text becomes a span
    (first free occurrence, never overlapping another). Suggestions for people, not routed."""
    tags = project.labels
    prompts = [
        [{"role": "user", "content": SPAN_PROMPT.replace("{text}", text[:1500])
          .replace("{tag}", str(tag["name"]))}]
        for text in texts
        for tag in tags
    ]  # fmt: skip
    replies = llm.generate(prompts, max_new_tokens=int(params.get("max_new_tokens", 32)))
    result = []
    for row, text in enumerate(texts):
        lowered = text.lower()
        taken: list[tuple[int, int]] = []
        spans = []
        for column, tag in enumerate(tags):
            reply = replies[row * len(tags) + column]
            for phrase in (p.strip(" .\"'") for p in reply.split(";")):
                if not phrase or phrase.lower() == "none" or len(phrase) > 200:
                    continue
                start = lowered.find(phrase.lower())
                while start >= 0:
                    end = start + len(phrase)
                    if all(end <= a or start >= b for a, b in taken):
                        taken.append((start, end))
                        spans.append({"start": start, "end": end, "label": tag["value"]})
                        break
                    start = lowered.find(phrase.lower(), start + 1)
        result.append(task_types.clean_value(project.task_type, tags, {"text": text}, spans))
    return result


def multilabel_messages(project: Project, text: str, label_name: str) -> list[dict[str, str]]:
    system = "You are a careful data annotator.\n" + project.guidelines.strip()
    user = f"Text: {text[:1500]}\nDoes the label '{label_name}' apply to this text? yes or no:"
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user}]


def multilabel_probabilities(
    llm: LLM, project: Project, params: dict[str, Any], texts: list[str]
) -> np.ndarray:
    """(len(texts), labels) calibrated probability that each label applies: one yes/no
    question per label, each corrected by that question's content-free prior."""
    names = label_names(project)
    out = np.zeros((len(texts), len(names)))
    for column, name in enumerate(names):
        logprobs = llm.option_logprobs(
            [multilabel_messages(project, t, name) for t in texts], YES_NO
        )
        prior = np.array(params["prior"][column])
        out[:, column] = calibration.calibrate(logprobs, prior)[:, 0]
    return out


def distrust(project: Project, records: list[Record], field: str) -> dict[int, str]:
    """record id -> why its LLM confidence is not trusted: its text looks like instructions to
    the labeler or the model (an injection raises the confidence it is judged by).

    Not done: a perturbation check (score the text again quoted as inert data, distrust a label
    that flips). On the bundled SmolLM2-135M the quoted reading flipped 54% of ordinary SST-2
    reviews (mean confidence shift 0.29), so it would have sent nearly every record to people.
    """
    names = label_names(project)
    reasons = {}
    for record in records:
        found = instruction_reason(record.text(field), names)
        if found:
            reasons[record.pk] = f"instruction-like text: {found}"
    return reasons


def process(job: Job, record_ids: list[int]) -> None:
    project = job.project
    params = job.params
    llm = job_llm(job)
    field = project.settings_obj.text_field
    records = list(Record.objects.filter(pk__in=record_ids).order_by("id"))
    done = set(
        Annotation.objects.filter(job=job, record__in=records).values_list("record_id", flat=True)
    )
    records = [r for r in records if r.pk not in done]
    if not records:
        return
    labels = _labels_for(llm, project, params, records, field)
    threshold = params["auto_accept_threshold"]
    threshold = None if threshold is None else float(threshold)
    require_agreement = bool(params.get("routing_require_agreement"))
    distrusted = distrust(project, records, field)
    with transaction.atomic():
        # ignore_conflicts + the (record, job) unique key: a chunk running twice stores one label.
        Annotation.objects.bulk_create(
            [
                Annotation(
                    record=record,
                    project=project,
                    value=value,
                    source=Source.LLM,
                    job=job,
                    confidence=confidence,
                )
                for record, (value, confidence, _) in zip(records, labels, strict=True)
            ],
            ignore_conflicts=True,
        )
        # Drafts written for correction have no confidence: they are suggestions for people.
        annotations = Annotation.objects.filter(
            job=job, record__in=records, confidence__isnull=False
        )
        signals_of = {r.pk: signals for r, (_, _, signals) in zip(records, labels, strict=True)}
        decisions = []
        for annotation in annotations:
            if annotation.confidence is None:  # excluded by the query; narrows the type
                continue
            reason = distrusted.get(annotation.record_id, "")
            signals = signals_of.get(annotation.record_id, {})
            decision = route(
                annotation.confidence, threshold, annotation.record_id, int(params["seed"]),
                float(params["spot_check_rate"]), distrusted=bool(reason),
                disagree=require_agreement and signals.get("agree") is False,
            )  # fmt: skip
            decisions.append(
                RoutingDecision(
                    record_id=annotation.record_id, job=job, annotation=annotation,
                    decision=decision,
                    label=task_types.vote_key(project.task_type, annotation.value),
                    confidence=annotation.confidence, threshold=threshold,
                    reason=reason[:MAX_REASON], signals=signals,
                )
            )  # fmt: skip
        RoutingDecision.objects.bulk_create(decisions, ignore_conflicts=True)
        for decision in RoutingDecision.Decision.values:
            ids = [d.record_id for d in decisions if d.decision == decision]
            update: dict[str, Any] = {"route": decision}
            if decision == RoutingDecision.Decision.SPOT_CHECK:
                update["priority"] = SPOT_CHECK_PRIORITY
            Record.objects.filter(pk__in=ids).update(**update)


def finalize(job: Job) -> dict[str, Any]:
    decisions = RoutingDecision.objects.filter(job=job)
    counts = Counter(decisions.values_list("decision", flat=True))
    labels = Counter(decisions.values_list("label", flat=True))
    confidences = list(decisions.values_list("confidence", flat=True))
    return {
        "labeled": sum(counts.values()),
        "routes": dict(counts),
        # Sent to people because their confidence was not trusted (see `distrust`).
        "distrusted": decisions.exclude(reason="").count(),
        "labels": dict(labels),
        "mean_confidence": float(np.mean(confidences)) if confidences else None,
        "prior": job.params.get("prior"),
        "few_shot": len(job.params.get("examples", [])),
        "threshold": job.params.get("auto_accept_threshold"),
        "routing": job.params.get("routing"),
    }


# The runner named by curator/job_kinds/prelabel.py.
RUNNER = FannedOut(plan=plan, process=process, finalize=finalize)
