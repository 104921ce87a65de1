"""The round job: embed, train on the frozen snapshot, evaluate on gold, score the pool."""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from django.conf import settings
from django.utils import timezone

from curator.models import Job, Record, Round, RoundSnapshotItem, Split
from curator.models.records import payload_text
from curator.services.rounds import gold_labels
from workers import learning, sampling
from workers.inference.encoder import Encoder, get_encoder
from workers.jobs.embeddings import embeddings_ensure, embeddings_matrix
from workers.jobs.scores import priorities_set, scores_store
from workers.runtime import job_progress, json_safe

logger = logging.getLogger(__name__)
UNCERTAINTY_KIND = "entropy"
# Queue priority tiers: spot checks (10000) > the round's selected batch (1000 - rank) > entropy.
SELECTED_PRIORITY = 1000.0
TRAINING_SEED = 0


def round_classifier_identity(round_: Round, encoder_identity: str) -> str:
    return f"round:{round_.project_id}/{round_.number}|logreg|{encoder_identity}"


def _artifact_write(round_: Round, payload: dict[str, Any]) -> tuple[str, str]:
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    data = buffer.getvalue()
    relative = Path("models") / round_.project.slug / f"round-{round_.number}.joblib"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(relative), hashlib.sha256(data).hexdigest()


@dataclass
class Fit:
    classifier: learning.TrainedClassifier  # the round's model (on the coreset if one is set)
    snapshot: list[tuple[int, str]]
    train_ids: list[int]
    train_x: np.ndarray
    evaluation: dict[str, Any]


def gold_digest(gold: dict[int, str]) -> str:
    return hashlib.sha256(
        "".join(f"{pk}\t{label}\n" for pk, label in sorted(gold.items())).encode()
    ).hexdigest()


def fit_and_evaluate(
    round_: Round, encoder: Encoder, hash_of: dict[int, str], coreset_size: int = 0
) -> Fit:
    """Train on the round's frozen snapshot (seed 0, a k-center coreset of `coreset_size` when
    set) and evaluate on gold. Deterministic: the same snapshot, embeddings and gold give the
    same metrics."""
    project = round_.project
    snapshot = list(
        RoundSnapshotItem.objects.filter(round=round_)
        .order_by("record_id")
        .values_list("record_id", "label")
    )
    train_ids = [record_id for record_id, _ in snapshot]
    train_x = embeddings_matrix([hash_of[i] for i in train_ids], encoder.identity)
    train_y = [label for _, label in snapshot]
    full = learning.train_classifier(train_x, train_y, seed=TRAINING_SEED)
    coreset: list[int] = []
    if 0 < coreset_size < len(train_ids):
        # A compact training set that keeps the data's spread (k-center on the embeddings);
        # the full-set model is trained too, for the comparison on the round page.
        coreset = sampling.k_center_greedy(train_x, np.zeros((0, train_x.shape[1])), coreset_size)
        if len({train_y[i] for i in coreset}) < 2:
            coreset = []
    classifier = (
        learning.train_classifier(
            train_x[coreset], [train_y[i] for i in coreset], seed=TRAINING_SEED
        )
        if coreset
        else full
    )
    gold = gold_labels(project)
    gold_ids = sorted(gold)
    evaluation: dict[str, Any] = {"gold_size": 0, "seed": TRAINING_SEED}
    if gold_ids:
        gold_x = embeddings_matrix([hash_of[i] for i in gold_ids], encoder.identity)
        expected = [gold[i] for i in gold_ids]
        evaluation = {
            **learning.evaluate(classifier.predict(gold_x), expected),
            "seed": TRAINING_SEED,
            "gold_sha256": gold_digest(gold),
        }
        if coreset:
            evaluation["coreset"] = {
                "size": len(coreset),
                "record_ids": [train_ids[i] for i in coreset],
                "full_set": {"size": len(train_ids),
                             **learning.evaluate(full.predict(gold_x), expected)},
            }  # fmt: skip
    return Fit(classifier, snapshot, train_ids, train_x, evaluation)


def round_reproduce(round_: Round) -> dict[str, Any]:
    """Retrain from the round's snapshot with its seed and compare the gold metrics."""
    project = round_.project
    encoder = get_encoder(project.setting("encoder_model"))
    if encoder.identity != round_.metrics.get("encoder"):
        raise ValueError(
            f"round {round_.number} used encoder {round_.metrics.get('encoder')!r}; the project "
            f"now uses {encoder.identity!r}"
        )
    ids = list(round_.snapshot_items.values_list("record_id", flat=True)) + list(
        gold_labels(project)
    )
    rows = dict(Record.objects.filter(pk__in=ids).values_list("id", "content_hash"))
    payloads = dict(Record.objects.filter(pk__in=ids).values_list("id", "payload"))
    field = project.setting("text_field")
    embeddings_ensure([(rows[i], payload_text(payloads[i], field)) for i in rows], encoder)
    coreset = (round_.metrics.get("coreset") or {}).get("size", 0)
    fit = fit_and_evaluate(round_, encoder, rows, coreset)
    keys = ("accuracy", "macro_f1", "gold_size")
    original = {key: round_.metrics.get(key) for key in keys}
    again = {key: fit.evaluation.get(key) for key in keys}
    return {
        "round": round_.number,
        "original": original,
        "reproduced": again,
        "identical": original == again,
        "gold_unchanged": fit.evaluation.get("gold_sha256") == round_.metrics.get("gold_sha256"),
    }


def _finetune(
    round_: Round, fit: Fit, text_of: dict[int, str], baseline: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Fine-tune the encoder on the snapshot, starting from the previous round's fine-tuned
    model when there is one; evaluate on gold; save it beside the round's other artifact."""
    from workers.inference.finetune import finetune

    project = round_.project
    previous = (
        Round.objects.filter(project=project, number__lt=round_.number,
                             status=Round.Status.SUCCEEDED, metrics__has_key="finetuned_model")
        .order_by("-number")
        .values_list("metrics", flat=True)
        .first()
    )  # fmt: skip
    start = (
        Path(settings.MEDIA_ROOT) / previous["finetuned_model"]
        if previous
        else project.setting("encoder_model") or settings.CURATOR_ENCODER_MODEL
    )
    tuned = finetune(
        start,
        [text_of[i] for i in fit.train_ids],
        [label for _, label in fit.snapshot],
        epochs=int(project.setting("finetune_epochs")),
        seed=TRAINING_SEED,
        device=settings.CURATOR_DEVICE,
    )
    gold = gold_labels(project)
    gold_ids = sorted(gold)
    evaluation = dict(baseline)
    if gold_ids:
        evaluation.update(
            learning.evaluate(
                tuned.predict_texts([text_of[i] for i in gold_ids]), [gold[i] for i in gold_ids]
            )
        )
    relative = Path("models") / project.slug / f"round-{round_.number}-finetuned"
    sha256 = tuned.save(Path(settings.MEDIA_ROOT) / relative)
    evaluation["trainer"] = "finetune"
    evaluation["started_from"] = str(previous["finetuned_model"]) if previous else str(start)
    evaluation["finetuned_model"] = str(relative)
    evaluation["finetuned_sha256"] = sha256
    evaluation["frozen_embedding_baseline"] = {
        key: baseline.get(key) for key in ("accuracy", "macro_f1", "gold_size")
    }
    return tuned, evaluation


def round_feedback(round_: Round) -> dict[str, Any]:
    """What the people and models behind this round's data did: human labels used and the time
    they took, LLM-label accuracy on spot checks, the latest judge's agreement with people."""
    from django.db.models import Count, Sum

    from curator.selectors import routing_stats

    items = RoundSnapshotItem.objects.filter(round=round_)
    sources = dict(
        items.values_list("annotation__source")
        .annotate(n=Count("id"))
        .values_list("annotation__source", "n")
    )
    spent = items.filter(annotation__source="human").aggregate(
        seconds=Sum("annotation__seconds_spent")
    )["seconds"]
    judge = (
        Job.objects.filter(project=round_.project, kind=Job.Kind.JUDGE, status=Job.Status.SUCCEEDED)
        .order_by("-id")
        .values_list("metrics", flat=True)
        .first()
    ) or {}
    routing = routing_stats(round_.project)
    return {
        "labels_by_source": sources,
        "human_labels": sources.get("human", 0) + sources.get("review", 0),
        "human_seconds": round(spent, 1) if spent else 0.0,
        "spot_check_accuracy": routing["spot_check_accuracy"],
        "spot_checked": routing["spot_checked"],
        "judge_human_agreement": judge.get("agreement"),
    }


def round_run(job: Job, encoder: Encoder | None = None) -> dict[str, Any]:
    """Job body of a round. Re-running it recomputes the same scores and overwrites them."""
    round_ = Round.objects.select_related("project").get(pk=job.round_id)
    # Conditional updates: a round cancelled meanwhile stays cancelled.
    Round.objects.filter(pk=round_.pk, status=Round.Status.QUEUED).update(
        status=Round.Status.RUNNING
    )
    try:
        metrics = _round_body(job, round_, encoder)
    except Exception:
        Round.objects.filter(
            pk=round_.pk, status__in=[Round.Status.QUEUED, Round.Status.RUNNING]
        ).update(status=Round.Status.FAILED, finished_at=timezone.now())
        raise
    return metrics


def _round_body(job: Job, round_: Round, encoder: Encoder | None) -> dict[str, Any]:
    project = round_.project
    text_field = project.setting("text_field")
    timings: dict[str, float] = {}
    started = time.monotonic()

    job_progress(job, done=0, total=0, stage="loading encoder")
    encoder = encoder or get_encoder(project.setting("encoder_model"))
    Job.objects.filter(pk=job.pk).update(model_identity={"encoder": encoder.identity})

    records = list(
        Record.objects.filter(project=project).values_list("id", "content_hash", "payload", "split")
    )
    texts = [(digest, payload_text(payload, text_field)) for _, digest, payload, _ in records]
    job_progress(job, done=0, total=len(texts), stage="embedding")
    computed = embeddings_ensure(
        texts, encoder, on_progress=lambda done, total: job_progress(job, done=done, total=total)
    )
    timings["embed_seconds"] = round(time.monotonic() - started, 3)
    hash_of = {record_id: digest for record_id, digest, _, _ in records}

    job_progress(job, done=0, total=3, stage="training")
    fit = fit_and_evaluate(round_, encoder, hash_of, int(project.setting("coreset_size")))
    classifier, train_ids, train_x, snapshot = (
        fit.classifier,
        fit.train_ids,
        fit.train_x,
        fit.snapshot,
    )
    evaluation = fit.evaluation
    text_of = {record_id: payload_text(payload, text_field) for record_id, _, payload, _ in records}
    tuned = None
    if project.setting("trainer") == "finetune":
        job_progress(job, done=0, stage="fine-tuning the encoder")
        tuned, evaluation = _finetune(round_, fit, text_of, evaluation)
    timings["train_seconds"] = round(time.monotonic() - started - sum(timings.values()), 3)
    job_progress(job, done=1, stage="evaluated on gold")

    job_progress(job, done=2, stage="scoring the pool")
    trained = set(train_ids)
    pool_ids = [
        record_id
        for record_id, _, _, split in records
        if split == Split.POOL and record_id not in trained
    ]
    pool_entropy = np.zeros(0)
    selected: list[int] = []
    if pool_ids:
        pool_x = embeddings_matrix([hash_of[i] for i in pool_ids], encoder.identity)
        probabilities = (
            tuned.predict_proba_texts([text_of[i] for i in pool_ids])
            if tuned is not None
            else classifier.predict_proba(pool_x)
        )
        pool_entropy = sampling.entropy(probabilities)
        identity = round_classifier_identity(round_, encoder.identity)
        for kind, values in (
            (UNCERTAINTY_KIND, pool_entropy),
            ("margin", sampling.margin_uncertainty(probabilities)),
            ("least_confidence", sampling.least_confidence(probabilities)),
        ):
            scores_store(
                round_=round_, kind=kind, model_identity=identity, job=job,
                record_ids=pool_ids, values=values.tolist(),
            )  # fmt: skip
        members = int(project.setting("committee_size"))
        committee_scores = None
        if members > 1:
            committee = learning.train_committee(
                train_x, [label for _, label in snapshot], members=members
            )
            votes = np.stack([
                [classifier.labels.index(p) for p in member.predict(pool_x)]
                for member in committee
            ])  # fmt: skip
            committee_scores = sampling.vote_entropy(votes, len(classifier.labels))
            scores_store(
                round_=round_, kind="vote_entropy", model_identity=f"{identity}|bag{members}",
                job=job, record_ids=pool_ids, values=committee_scores.tolist(),
            )  # fmt: skip
        strategy = project.setting("sampling")
        # Committee disagreement orders the queue when asked for; ties keep the entropy order.
        priority = (
            committee_scores + pool_entropy * 1e-3
            if strategy == "committee" and committee_scores is not None
            else pool_entropy.copy()
        )
        if strategy == "hybrid":
            chosen = sampling.hybrid_batch(
                pool_entropy, pool_x, train_x, int(project.setting("batch_size"))
            )
            selected = [pool_ids[i] for i in chosen]
            # The diverse batch goes first, in the order it was picked, then the rest by entropy.
            for rank, index in enumerate(chosen):
                priority[index] = SELECTED_PRIORITY - rank
        priorities_set(pool_ids, priority.tolist())

    artifact, sha256 = _artifact_write(
        round_,
        {
            "classifier": classifier,
            "encoder": encoder.identity,
            "snapshot_sha256": round_.snapshot_sha256,
        },
    )
    timings["total_seconds"] = round(time.monotonic() - started, 3)
    label_counts: dict[str, int] = {}
    for _, label in snapshot:
        label_counts[label] = label_counts.get(label, 0) + 1
    metrics = {
        **evaluation,
        "train_size": len(snapshot),
        "train_label_counts": label_counts,
        "pool_scored": len(pool_ids),
        "sampling": project.setting("sampling"),
        "selected_batch": selected,
        "mean_pool_entropy": float(pool_entropy.mean()) if len(pool_entropy) else None,
        "embeddings_computed": computed,
        "encoder": encoder.identity,
        "timings": timings,
        **round_feedback(round_),
    }
    # With pipeline steps to come the round stays running; the last step finishes it.
    steps = (round_.config or {}).get("pipeline")
    Round.objects.filter(pk=round_.pk, status=Round.Status.RUNNING).update(
        status=Round.Status.RUNNING if steps else Round.Status.SUCCEEDED,
        metrics=json_safe(metrics),
        model_artifact=artifact,
        model_sha256=sha256,
        finished_at=None if steps else timezone.now(),
    )
    job_progress(job, done=3, stage="done")
    return metrics
