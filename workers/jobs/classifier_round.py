"""The `classifier` round's stages: embed, train, evaluate, score, save, feedback.

Each stage is a small function that returns a typed result; `classifier_round_run` chains them
after the round job's gates stage (workers/jobs/round.py) and reports each stage's name on the
job row, which the round page shows live.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from django.conf import settings
from django.db.models import Count, Sum

from annotation.labels import gold_labels
from annotation.models import MAX_SECONDS_SPENT
from curator.algorithms import learning, sampling, strategy_choice
from curator.models import Job, Record, Round, RoundSnapshotItem, Split
from curator.models.records import payload_text
from curator.round_kinds import RoundResult
from curator.selectors import routing_stats
from workers.inference.encoder import Encoder, get_encoder
from workers.jobs.embeddings import embeddings_ensure, embeddings_matrix
from workers.jobs.round_suggestions import stage_suggest
from workers.jobs.scores import priorities_set, scores_store
from workers.runtime import job_progress

UNCERTAINTY_KIND = "entropy"
# Strategies led by a model's uncertainty: a cold start of typical records comes first.
UNCERTAINTY_STRATEGIES = ("margin", "entropy", "hybrid", "committee")
# Queue priority tiers: spot checks (10000) > the round's selected batch (1000 - rank) > entropy.
SELECTED_PRIORITY = 1000.0
TRAINING_SEED = 0
DEFAULT_COMMITTEE = 5  # members when the queue is ordered by committee and committee_size is unset
# Progress steps of the job card after embedding: trained, evaluated, scored.
STEPS = 3


def round_classifier_identity(round_: Round, encoder_identity: str) -> str:
    return f"round:{round_.project_id}/{round_.number}|logreg|{encoder_identity}"


def gold_digest(gold: dict[int, str]) -> str:
    return hashlib.sha256(
        "".join(f"{pk}\t{label}\n" for pk, label in sorted(gold.items())).encode()
    ).hexdigest()


# --- typed stage results ------------------------------------------------------------------------
@dataclass
class Embedded:
    """Every record of the project embedded (cached by content hash and encoder identity)."""

    encoder: Encoder
    hash_of: dict[int, str]  # record id -> content hash
    text_of: dict[int, str]  # record id -> the text the encoder saw
    split_of: dict[int, str]
    computed: int  # embeddings computed now (the rest came from the cache)
    seconds: float


@dataclass
class Fit:
    classifier: learning.TrainedClassifier  # the round's model (on the coreset if one is set)
    full: learning.TrainedClassifier  # trained on the whole snapshot
    snapshot: list[tuple[int, str]]
    train_ids: list[int]
    train_x: np.ndarray
    coreset: list[int] = field(default_factory=list)  # indexes into train_ids


@dataclass
class Trained:
    fit: Fit
    tuned: Any | None  # the fine-tuned encoder when the project's trainer is `finetune`
    evaluation: dict[str, Any]
    seconds: float


@dataclass
class Scored:
    pool_ids: list[int]
    pool_entropy: np.ndarray
    selected: list[int]  # the batch put first (hybrid's diverse batch, the cold start's typical)
    strategy: str  # what ordered the queue
    choice: strategy_choice.Choice | None  # why, when the project's sampling is `auto`
    probabilities: np.ndarray  # the pool's class probabilities, columns in `classes` order
    classes: list[str]


@dataclass
class Saved:
    artifact: str  # path under MEDIA_ROOT
    sha256: str


# --- stages -------------------------------------------------------------------------------------
def stage_embed(job: Job, round_: Round, encoder: Encoder | None = None) -> Embedded:
    started = time.monotonic()
    project = round_.project
    text_field = project.setting("text_field")
    job_progress(job, done=0, total=0, stage="loading encoder")
    encoder = encoder or get_encoder(project.setting("encoder_model"))
    Job.objects.filter(pk=job.pk).update(model_identity={"encoder": encoder.identity})
    # In id order: the pool's row order feeds the cold start's clustering (MiniBatchKMeans), so
    # reading it in the table's physical order (which every UPDATE reshuffles) would let the
    # same data order the queue differently.
    records = list(
        Record.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "content_hash", "payload", "split")
    )
    text_of = {pk: payload_text(payload, text_field) for pk, _, payload, _ in records}
    job_progress(job, done=0, total=len(records), stage="embedding")
    computed = embeddings_ensure(
        [(digest, text_of[pk]) for pk, digest, _, _ in records],
        encoder,
        on_progress=lambda done, total: job_progress(job, done=done, total=total),
    )
    return Embedded(
        encoder=encoder,
        hash_of={pk: digest for pk, digest, _, _ in records},
        text_of=text_of,
        split_of={pk: split for pk, _, _, split in records},
        computed=computed,
        seconds=round(time.monotonic() - started, 3),
    )


def fit(round_: Round, encoder: Encoder, hash_of: dict[int, str], coreset_size: int = 0) -> Fit:
    """Train on the round's frozen snapshot (seed 0; on a k-center coreset of `coreset_size` when
    set). Deterministic: the same snapshot and embeddings give the same model."""
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
    return Fit(classifier, full, snapshot, train_ids, train_x, coreset)


def evaluate(round_: Round, encoder: Encoder, hash_of: dict[int, str], fitted: Fit) -> dict:
    """Gold metrics of the round's model (and of the full-set model when a coreset trained)."""
    gold = gold_labels(round_.project)
    gold_ids = sorted(gold)
    if not gold_ids:
        return {"gold_size": 0, "seed": TRAINING_SEED}
    gold_x = embeddings_matrix([hash_of[i] for i in gold_ids], encoder.identity)
    expected = [gold[i] for i in gold_ids]
    evaluation: dict[str, Any] = {
        **learning.evaluate(fitted.classifier.predict(gold_x), expected),
        "seed": TRAINING_SEED,
        "gold_sha256": gold_digest(gold),
    }
    if fitted.coreset:
        evaluation["coreset"] = {
            "size": len(fitted.coreset),
            "record_ids": [fitted.train_ids[i] for i in fitted.coreset],
            "full_set": {"size": len(fitted.train_ids),
                         **learning.evaluate(fitted.full.predict(gold_x), expected)},
        }  # fmt: skip
    return evaluation


def stage_train(job: Job, round_: Round, embedded: Embedded) -> Trained:
    """Train on the snapshot, evaluate on gold; fine-tune the encoder when the project asks."""
    started = time.monotonic()
    project = round_.project
    job_progress(job, done=0, total=STEPS, stage="training")
    fitted = fit(round_, embedded.encoder, embedded.hash_of, int(project.setting("coreset_size")))
    job_progress(job, done=1, stage="evaluating on gold")
    evaluation = evaluate(round_, embedded.encoder, embedded.hash_of, fitted)
    tuned = None
    if project.setting("trainer") == "finetune":
        job_progress(job, done=1, stage="fine-tuning the encoder")
        tuned, evaluation = _finetune(round_, fitted, embedded.text_of, evaluation)
    job_progress(job, done=2, stage="evaluated on gold")
    return Trained(fitted, tuned, evaluation, round(time.monotonic() - started, 3))


def _finetune(
    round_: Round, fitted: Fit, text_of: dict[int, str], baseline: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Fine-tune the encoder on the snapshot, starting from the previous round's fine-tuned
    model when there is one; evaluate on gold; save it beside the round's other artifact."""
    from workers.inference.finetune import finetune  # loads transformers' trainer: only here

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
        [text_of[i] for i in fitted.train_ids],
        [label for _, label in fitted.snapshot],
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


def sampling_strategy(round_: Round, trained: Trained) -> tuple[str, strategy_choice.Choice | None]:
    """The strategy that orders the queue after this round, and with `auto` the choice and its
    reason: the cold start below `cold_start_labels`, then the bandit's pick from the gold
    macro-F1 every earlier round of the project measured."""
    setting = round_.project.setting("sampling")
    train_size = len(trained.fit.train_ids)
    cold = strategy_choice.cold_start(train_size, int(round_.project.setting("cold_start_labels")))
    if setting != "auto":
        return ("typical" if cold and setting in UNCERTAINTY_STRATEGIES else setting), None
    if cold:
        return cold.strategy, cold
    earlier = (
        Round.objects.filter(project=round_.project, number__lt=round_.number,
                             status=Round.Status.SUCCEEDED, metrics__has_key="sampling_used")
        .order_by("number")
        .values_list("metrics", flat=True)
    )  # fmt: skip
    evidence = [
        strategy_choice.RoundEvidence(
            m["sampling_used"],
            m.get("macro_f1"),
            int(m.get("train_size") or 0),
            m.get("gold_sha256"),
        )
        for m in earlier
    ]
    evaluation = trained.evaluation
    this = strategy_choice.RoundEvidence(
        "", evaluation.get("macro_f1"), train_size, evaluation.get("gold_sha256")
    )
    choice = strategy_choice.choose(strategy_choice.outcomes([*evidence, this]), seed=round_.number)
    return choice.strategy, choice


def stage_score(job: Job, round_: Round, embedded: Embedded, trained: Trained) -> Scored:
    """Score every unlabeled pool record by uncertainty and reorder the annotation queue."""
    job_progress(job, done=2, stage="scoring the pool")
    project = round_.project
    fitted = trained.fit
    trained_ids = set(fitted.train_ids)
    pool_ids = [
        pk
        for pk, split in embedded.split_of.items()
        if split == Split.POOL and pk not in trained_ids
    ]
    if not pool_ids:
        return Scored(
            pool_ids, np.zeros(0), [], *sampling_strategy(round_, trained), np.zeros((0, 0)), []
        )
    pool_x = embeddings_matrix([embedded.hash_of[i] for i in pool_ids], embedded.encoder.identity)
    probabilities = (
        trained.tuned.predict_proba_texts([embedded.text_of[i] for i in pool_ids])
        if trained.tuned is not None
        else fitted.classifier.predict_proba(pool_x)
    )
    pool_entropy = sampling.entropy(probabilities)
    identity = round_classifier_identity(round_, embedded.encoder.identity)
    for kind, values in (
        (UNCERTAINTY_KIND, pool_entropy),
        ("margin", sampling.margin_uncertainty(probabilities)),
        ("least_confidence", sampling.least_confidence(probabilities)),
    ):
        scores_store(
            round_=round_, kind=kind, model_identity=identity, job=job,
            record_ids=pool_ids, values=values.tolist(),
        )  # fmt: skip
    strategy, choice = sampling_strategy(round_, trained)
    members = int(project.setting("committee_size"))
    if strategy == "committee":
        members = max(members, DEFAULT_COMMITTEE)
    votes = None
    if members > 1:
        # Reseeded every round: the same bootstrap draws each round would keep the members'
        # shared blind spots instead of sampling the committee afresh.
        committee = learning.train_committee(
            fitted.train_x, [label for _, label in fitted.snapshot], members=members,
            seed=round_.number,
        )  # fmt: skip
        votes = np.stack([
            [fitted.classifier.labels.index(p) for p in member.predict(pool_x)]
            for member in committee
        ])  # fmt: skip
        scores_store(
            round_=round_, kind="vote_entropy", model_identity=f"{identity}|bag{members}",
            job=job, record_ids=pool_ids,
            values=sampling.vote_entropy(votes, len(fitted.classifier.labels)).tolist(),
        )  # fmt: skip
    order = sampling.queue_order(
        strategy, probabilities, pool_x, fitted.train_x, int(project.setting("batch_size")),
        votes=votes, seed=round_.number,
    )  # fmt: skip
    # The strategy's batch goes first, in the order it was picked, then the rest by its score.
    priority = order.score.copy()
    for rank, index in enumerate(order.batch):
        priority[index] = SELECTED_PRIORITY - rank
    selected = [pool_ids[i] for i in order.batch]
    priorities_set(pool_ids, priority.tolist())
    classes = trained.tuned.labels if trained.tuned is not None else fitted.classifier.labels
    return Scored(pool_ids, pool_entropy, selected, strategy, choice, probabilities, list(classes))


def stage_save(round_: Round, embedded: Embedded, trained: Trained) -> Saved:
    """Write the round's classifier under MEDIA_ROOT with its sha256."""
    buffer = io.BytesIO()
    joblib.dump(
        {
            "classifier": trained.fit.classifier,
            "encoder": embedded.encoder.identity,
            "snapshot_sha256": round_.snapshot_sha256,
        },
        buffer,
    )
    data = buffer.getvalue()
    relative = Path("models") / round_.project.slug / f"round-{round_.number}.joblib"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Saved(str(relative), hashlib.sha256(data).hexdigest())


def round_feedback(round_: Round) -> dict[str, Any]:
    """What the people and models behind this round's data did: human labels used and the time
    they took, LLM-label accuracy on spot checks, the latest judge's agreement with people."""
    items = RoundSnapshotItem.objects.filter(round=round_)
    sources = dict(
        items.values_list("annotation__source")
        .annotate(n=Count("id"))
        .values_list("annotation__source", "n")
    )
    # Rows stored before seconds were checked may hold NaN or 1e308; PostgreSQL orders NaN above
    # every number, so the bound leaves both out of the sum.
    spent = items.filter(
        annotation__source="human",
        annotation__seconds_spent__gte=0,
        annotation__seconds_spent__lte=MAX_SECONDS_SPENT,
    ).aggregate(seconds=Sum("annotation__seconds_spent"))["seconds"]
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


# --- the runner ---------------------------------------------------------------------------------
def classifier_round_run(job: Job, round_: Round, encoder: Encoder | None = None) -> RoundResult:
    """The classifier round after its gates passed. Re-running it recomputes the same scores
    and overwrites them."""
    started = time.monotonic()
    project = round_.project
    embedded = stage_embed(job, round_, encoder)
    trained = stage_train(job, round_, embedded)
    scored = stage_score(job, round_, embedded, trained)
    saved = stage_save(round_, embedded, trained)
    feedback = round_feedback(round_)
    suggestions = stage_suggest(
        job, round_, pool_ids=scored.pool_ids, probabilities=scored.probabilities,
        classes=scored.classes, evaluation=trained.evaluation, feedback=feedback,
    )  # fmt: skip
    snapshot = trained.fit.snapshot
    label_counts: dict[str, int] = {}
    for _, label in snapshot:
        label_counts[label] = label_counts.get(label, 0) + 1
    metrics = {
        **trained.evaluation,
        "train_size": len(snapshot),
        "train_label_counts": label_counts,
        "pool_scored": len(scored.pool_ids),
        "sampling": project.setting("sampling"),
        "sampling_used": scored.strategy,
        "sampling_choice": scored.choice.as_dict() if scored.choice else None,
        "selected_batch": scored.selected,
        "mean_pool_entropy": (
            float(scored.pool_entropy.mean()) if len(scored.pool_entropy) else None
        ),
        "embeddings_computed": embedded.computed,
        "encoder": embedded.encoder.identity,
        "timings": {
            "embed_seconds": embedded.seconds,
            "train_seconds": trained.seconds,
            "total_seconds": round(time.monotonic() - started, 3),
        },
        "suggestions": suggestions,
        **feedback,
    }
    return RoundResult(metrics=metrics, model_artifact=saved.artifact, model_sha256=saved.sha256)


# --- reproducing a round ------------------------------------------------------------------------
def fit_and_evaluate(
    round_: Round, encoder: Encoder, hash_of: dict[int, str], coreset_size: int = 0
) -> tuple[Fit, dict[str, Any]]:
    fitted = fit(round_, encoder, hash_of, coreset_size)
    return fitted, evaluate(round_, encoder, hash_of, fitted)


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
    field_name = project.setting("text_field")
    embeddings_ensure([(rows[i], payload_text(payloads[i], field_name)) for i in rows], encoder)
    coreset = (round_.metrics.get("coreset") or {}).get("size", 0)
    _, evaluation = fit_and_evaluate(round_, encoder, rows, coreset)
    keys = ("accuracy", "macro_f1", "gold_size")
    original = {key: round_.metrics.get(key) for key in keys}
    again = {key: evaluation.get(key) for key in keys}
    return {
        "round": round_.number,
        "original": original,
        "reproduced": again,
        "identical": original == again,
        "gold_unchanged": evaluation.get("gold_sha256") == round_.metrics.get("gold_sha256"),
    }
