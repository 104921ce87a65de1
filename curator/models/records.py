from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from curator.models.projects import Project


def payload_text(payload: Any, field: str = "text") -> str:
    """The text a person reads and an encoder embeds."""
    value = payload.get(field, "") if isinstance(payload, dict) else payload
    return value if isinstance(value, str) else str(value)


# Above any sampling score (those are probabilities, entropies or distances): a record with this
# priority is asked first. A curator's "send to the queue first" and a send-back set it.
REQUEUED_PRIORITY = 1e6
# A hold a curator put by hand: a decision that the record is toxic, which the toxicity head
# learns from (a hold by the toxicity job is the model's own guess).
CURATOR_HOLD_REASON = "held by a curator"


class Split(models.TextChoices):
    POOL = "pool", "Pool"  # unlabeled or being labeled; what the queue serves
    TRAIN = "train", "Train"  # labeled outside the queue, used for training as is
    GOLD = "gold", "Gold"  # held out for evaluation, never trained on


class Origin(models.TextChoices):
    IMPORT = "import", "Import"
    SYNTHETIC = "synthetic", "Synthetic"
    REWRITE = "rewrite", "Rewrite"
    EDIT = "edit", "Edit"


class ReviewState(models.TextChoices):
    PENDING = "pending", "Waiting for review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Record(models.Model):
    # No index of its own: every read by project uses one of the composite indexes it leads
    # (unique hash, queue order, priority order), and each index more costs every import.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="records", db_index=False
    )
    payload = models.JSONField()
    # sha256 of the canonical JSON payload: exact-duplicate detection and the embedding cache key.
    content_hash = models.CharField(max_length=64)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.IMPORT)
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.POOL)
    created_by_job = models.ForeignKey(
        "curator.Job", null=True, blank=True, on_delete=models.PROTECT, related_name="records"
    )
    round = models.ForeignKey(
        "curator.Round",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
    )
    # Where in its source the record came from: {"file": ..., "line": ...}.
    source = models.JSONField(default=dict, blank=True)
    # Annotators holding a live lease or having submitted: the queue serves a record only while
    # this is below the project's overlap. Kept on the row itself so that the conditional UPDATE
    # that claims a slot is what serialises concurrent claims.
    claimed_count = models.PositiveIntegerField(default=0, db_default=0)
    # Sampling score of the latest round (higher = ask people first), 0 until a round scores it;
    # a copy of that round's Score so the queue walks an index instead of joining scores.
    priority = models.FloatField(default=0.0, db_default=0.0)
    # Latest routing of an LLM pre-label: "auto" records leave the human queue (their LLM label
    # trains), "spot_check" and "human" ones are labeled by people. Empty: never routed.
    route = models.CharField(max_length=16, blank=True, default="", db_default="")
    # Kept out of training until a curator clears it (e.g. scored toxic above the threshold).
    held = models.BooleanField(default=False, db_default=False)
    held_reason = models.CharField(max_length=200, blank=True, default="", db_default="")
    hold_cleared_by = models.ForeignKey(
        "curator.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        related_name="+",
    )
    hold_cleared_at = models.DateTimeField(null=True, blank=True)
    # Curator review of generated items: only approved ones may train ("" = not under review).
    review = models.CharField(
        max_length=16, choices=ReviewState.choices, blank=True, default="", db_default=""
    )
    review_note = models.CharField(max_length=300, blank=True, default="", db_default="")
    reviewed_by = models.ForeignKey(
        "curator.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # The filter run that dropped this record (kept out of training and the queue); a revert of
    # that run clears it.
    filtered_by = models.ForeignKey(
        "curator.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="record_unique_hash")
        ]
        indexes = [
            models.Index(fields=["project", "split", "-priority", "id"], name="record_queue_order"),
            # The data manager's sort by priority over every split (read backwards for "high
            # first").
            models.Index(fields=["project", "priority", "id"], name="record_priority_order"),
            # The labeling queue: records that may still want a label, by claim count, in queue
            # order. A claim reads the first unclaimed one (and, with overlap > 1, the started
            # ones) without walking past the claimed part of the project. The condition is
            # `annotation.selectors.waiting_condition` less the overlap, and the claim's SQL
            # (`annotation/services/claims.py`) repeats it word for word.
            models.Index(
                fields=["project", "claimed_count", "-priority", "id"],
                condition=Q(split="pool", review="", filtered_by__isnull=True, held=False)
                & ~Q(route="auto"),
                name="record_waiting_queue",
            ),
            # Foreign keys that are empty on nearly every record: only the set ones are indexed
            # (a NULL entry per imported record in four indexes was a fifth of an import's
            # database time). A lookup by value, or a SET NULL on delete, implies IS NOT NULL.
            *(
                models.Index(
                    fields=[name],
                    condition=Q(**{f"{name}__isnull": False}),
                    name=f"record_{name}_set",
                )
                for name in ("round", "hold_cleared_by", "reviewed_by", "filtered_by")
            ),
            models.Index(
                fields=["created_by_job", "review"],
                condition=~Q(review=""),
                name="record_batch_review",
            ),
        ]

    def __str__(self) -> str:
        return f"record {self.pk}"

    def text(self, field: str = "text") -> str:
        return payload_text(self.payload, field)


class LineageEdge(models.Model):
    """parent -> child: the child record was made from the parent by `operation` in `job`."""

    parent = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="child_edges")
    child = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="parent_edges")
    operation = models.CharField(max_length=32)
    job = models.ForeignKey("curator.Job", null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "child", "operation"], name="lineage_unique_edge"
            )
        ]

    def __str__(self) -> str:
        return f"{self.parent_id} -[{self.operation}]-> {self.child_id}"


# Scores every generated item gets before a curator sees it (Score.kind).
QUALITY_KIND = "generation_quality"  # 1-5, the LLM judge
TOXICITY_KIND = "toxicity"
AGREEMENT_KIND = "intent_agreement"  # probability the latest round's model gives the intent
NEAR_DUP_KIND = "near_duplicate"  # estimated Jaccard with the most similar other record
REWARD_KIND = "reward"  # the promoted reward model's score (none without one)
# Self-rewarding pairs: how far apart the ranker put the best and the worst response.
JUDGE_MARGIN_KIND = "judge_margin"  # P(best beats worst) - P(worst beats best), both orders
REWARD_GAP_KIND = "reward_gap"  # reward(best) - reward(worst)
BATCH_SCORE_KINDS = (
    QUALITY_KIND, TOXICITY_KIND, AGREEMENT_KIND, NEAR_DUP_KIND, REWARD_KIND, JUDGE_MARGIN_KIND,
    REWARD_GAP_KIND,
)  # fmt: skip


class Score(models.Model):
    """One number a model gave a record (entropy, toxicity, judge...), unique per natural key.

    The natural key is (record, kind, model identity); a round's classifier has an identity of
    its own ("round 3 of project 7 | encoder"), so each round's scores are kept apart.
    """

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="scores")
    kind = models.CharField(max_length=32)
    round = models.ForeignKey(
        "curator.Round", null=True, blank=True, on_delete=models.CASCADE, related_name="scores"
    )
    model_identity = models.CharField(max_length=300)
    value = models.FloatField()
    job = models.ForeignKey("curator.Job", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record", "kind", "model_identity"], name="score_natural_key"
            )
        ]
        # The data manager's sort by a score: records in value order, one page at a time.
        indexes = [models.Index(fields=["kind", "value"], name="score_kind_value")]

    def __str__(self) -> str:
        return f"{self.kind}={self.value:.4f} for record {self.record_id}"


class RoutingDecision(models.Model):
    """Where an LLM pre-label sent a record: auto-accepted, spot-checked or to people."""

    class Decision(models.TextChoices):
        AUTO = "auto", "Auto-accepted"
        SPOT_CHECK = "spot_check", "Spot check"
        HUMAN = "human", "To people"

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="routing")
    job = models.ForeignKey("curator.Job", on_delete=models.CASCADE, related_name="+")
    annotation = models.ForeignKey("annotation.Annotation", on_delete=models.CASCADE)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    label = models.CharField(max_length=200)
    confidence = models.FloatField()  # pooled over the signals below
    threshold = models.FloatField(null=True, blank=True)  # None: nothing was auto-accepted
    # Each signal's probability of the routed label ({"llm": .., "classifier": ..}), whether
    # they named the same label, and the round whose classifier spoke.
    signals = models.JSONField(default=dict, blank=True)
    # Why the confidence was not trusted and people were asked (instruction-like text, a label
    # that flips when the text is quoted); empty when the confidence alone decided.
    reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record", "job"], name="routing_one_per_job")
        ]

    def __str__(self) -> str:
        return f"record {self.record_id}: {self.decision} ({self.label}, {self.confidence:.2f})"


class FilterDecision(models.Model):
    """What one filter run decided about one record, and why: the run's report and its undo."""

    job = models.ForeignKey("curator.Job", on_delete=models.CASCADE, related_name="decisions")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="filter_decisions")
    filter = models.CharField(max_length=32)  # the first filter that dropped it
    reason = models.CharField(max_length=300)
    # e.g. the duplicate it matched, the measured value against the bound
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "record"], name="filter_decision_once")
        ]

    def __str__(self) -> str:
        return f"record {self.record_id} dropped by {self.filter}: {self.reason}"


class NoiseFlag(models.Model):
    """A label that confident learning suspects is wrong; people relabel the record.

    Its outcome is read from the labels people give afterwards (curator.curation_selectors.
    noise_report): a flag is confirmed when the new label differs from the flagged one.
    """

    job = models.ForeignKey("curator.Job", on_delete=models.CASCADE, related_name="noise_flags")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="noise_flags")
    given_label = models.CharField(max_length=200)
    suggested_label = models.CharField(max_length=200)
    label_quality = models.FloatField()  # cleanlab's self-confidence of the given label
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "record"], name="noise_flag_once")]

    def __str__(self) -> str:
        return f"record {self.record_id}: label {self.given_label!r} suspected"
