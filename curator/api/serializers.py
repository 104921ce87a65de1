from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotation import task_types
from annotation.models import MAX_SECONDS_SPENT, Annotation, Assignment, seconds_usable
from annotation.services.annotations import suggestion_for
from curator import job_kinds, round_kinds
from curator.models import (
    Document,
    FilterDecision,
    Job,
    Project,
    Record,
    Round,
    RoundSnapshotItem,
    Split,
    User,
)
from curator.models.records import QUALITY_KIND
from curator.permissions import job_error_shown, job_params_shown, metrics_shown
from curator.views.job_links import job_links


def viewer(serializer: serializers.BaseSerializer) -> User | None:
    """The user a response is for; None (show the least) when the serializer has no request."""
    request = serializer.context.get("request")
    return getattr(request, "user", None)


class LabelSerializer(serializers.Serializer):
    value = serializers.CharField()
    name = serializers.CharField()


class ProjectSerializer(serializers.ModelSerializer):
    labels = LabelSerializer(many=True)
    round_kinds = serializers.SerializerMethodField(
        help_text="The round kinds this project can start, default first (none: no rounds)."
    )

    class Meta:
        model = Project
        fields = [
            "id",
            "slug",
            "name",
            "task_type",
            "description",
            "labels",
            "guidelines",
            "settings",
            "round_kinds",
            "created_at",
        ]
        read_only_fields = ["id", "slug", "created_at"]

    def get_round_kinds(self, project: Project) -> list[str]:
        return [kind.name for kind in round_kinds.kinds_for(project.task_type)]


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    task_type = serializers.ChoiceField(
        choices=task_types.choices(), default=task_types.CLASSIFICATION
    )
    # ["pos", "neg"] or [{"value": "1", "name": "1 - off topic"}, ...]; none for pairwise and
    # correction projects.
    labels = serializers.ListField(child=serializers.JSONField(), required=False, default=list)
    guidelines = serializers.CharField(required=False, allow_blank=True, default="")
    # Checked by ProjectSettings (the Settings page's rules): unknown keys and broken values are
    # refused as `settings.<name>`.
    settings = serializers.DictField(required=False, default=dict)


class ProjectUpdateSerializer(serializers.Serializer):
    """An admin's edit; a field left out keeps its value."""

    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    guidelines = serializers.CharField(required=False, allow_blank=True)
    labels = serializers.ListField(child=serializers.JSONField(), required=False)
    confirm_removal = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Remove labels that stored labels use (409 without it). Existing labels are "
        "never rewritten.",
    )
    settings = serializers.DictField(
        required=False,
        help_text="Settings to change, checked as the Settings page checks them (all or "
        "nothing; null returns a setting to its default).",
    )


class RecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = Record
        fields = [
            "id",
            "payload",
            "content_hash",
            "origin",
            "split",
            "created_by_job",
            "round",
            "source",
            "priority",
            "route",
            "held",
            "held_reason",
            "review",
            "review_note",
            "filtered_by",
            "created_at",
        ]


class BlindRecordSerializer(serializers.ModelSerializer):
    """A record as the labeling path shows it: the same two fields for every record, so an
    annotator cannot tell a gold check or a spot check (or where a record came from) from any
    other."""

    class Meta:
        model = Record
        fields = ["id", "payload"]

    def to_representation(self, record: Record) -> dict:
        return {"id": record.pk, "payload": record.payload}


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField()
    split = serializers.ChoiceField(choices=Split.choices, default=Split.POOL)
    format = serializers.ChoiceField(choices=["jsonl", "csv", "chatlog"], required=False)


class ModelJobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=job_kinds.startable())
    params = serializers.DictField(required=False, default=dict)


class JobLinkSerializer(serializers.Serializer):
    label = serializers.CharField()
    url = serializers.CharField(help_text="a page of the web interface")


class JobSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)
    elapsed_seconds = serializers.FloatField(
        read_only=True, allow_null=True, help_text="since it started; null while queued"
    )
    throughput = serializers.FloatField(
        read_only=True, allow_null=True, help_text="items done per second so far"
    )
    eta_seconds = serializers.FloatField(
        read_only=True, allow_null=True, help_text="seconds left at that rate, while running"
    )
    links = serializers.SerializerMethodField(
        help_text="what it produced (batch, round, report, records) and its round"
    )
    # The number of the model version (vN) whose adapter the job's LLM ran with; null: base model.
    # The number (vN) of the model version the job ran with; null: the base model.
    model_version = serializers.SlugRelatedField(
        slug_field="number", read_only=True, allow_null=True
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "stage",
            "params",
            "progress_done",
            "progress_total",
            "progress_percent",
            "error",
            "model_identity",
            "model_version",
            "metrics",
            "timings",
            "attempts",
            "chunks_total",
            "chunks_done",
            "round",
            "created_at",
            "started_at",
            "finished_at",
            "elapsed_seconds",
            "throughput",
            "eta_seconds",
            "links",
        ]

    def to_representation(self, job: Job) -> dict:
        body = super().to_representation(job)
        user, project = viewer(self), job.project
        body["params"] = job_params_shown(user, project, job.params or {})
        body["error"] = job_error_shown(user, project, job.error)
        body["metrics"] = metrics_shown(user, project, job.metrics or {})
        return body

    @extend_schema_field(JobLinkSerializer(many=True))
    def get_links(self, job: Job) -> list[dict[str, str]]:
        return [{"label": link.label, "url": link.url} for link in job_links(job)]


class RoundStartSerializer(serializers.Serializer):
    """Body of a round start: which kind (default: the first that fits the project)."""

    kind = serializers.ChoiceField(choices=sorted(round_kinds.KINDS), required=False)

    def __init__(self, *args, kinds: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if kinds is not None:  # those that fit the project; the schema lists every kind
            self.fields["kind"].choices = kinds
            self.fields["kind"].error_messages["invalid_choice"] = (
                '"{input}" does not fit this project; use: ' + ", ".join(kinds)
            )


class RoundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Round
        fields = [
            "id",
            "number",
            "kind",
            "status",
            "config",
            "metrics",
            "model_artifact",
            "model_sha256",
            "snapshot_sha256",
            "created_at",
            "finished_at",
        ]

    def to_representation(self, round_: Round) -> dict:
        body = super().to_representation(round_)
        body["metrics"] = metrics_shown(viewer(self), round_.project, round_.metrics or {})
        return body


class SnapshotItemSerializer(serializers.ModelSerializer):
    content_hash = serializers.CharField(source="record.content_hash")

    class Meta:
        model = RoundSnapshotItem
        fields = ["id", "record", "content_hash", "annotation", "label"]


class StoredSecondsField(serializers.FloatField):
    """A stored seconds_spent; a row from before seconds were checked (NaN, 1e308) reads as
    null rather than breaking the whole list (JSON has no NaN)."""

    def to_representation(self, value: float) -> float | None:
        return float(value) if seconds_usable(value) or value == 0 else None


# Every label pays for the serializers below (its answer, the next record, its suggestion), and
# DRF builds a ModelSerializer's fields anew for each instance: about a third of a submit's
# server time. They write their answer out instead; `tests/test_api_answers.py` holds each to
# the answer DRF's generic `to_representation` gives, so the schema and the answer stay one.
_WHEN = serializers.DateTimeField(read_only=True)
_SECONDS = StoredSecondsField(read_only=True, allow_null=True)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


class AnnotationSerializer(serializers.ModelSerializer):
    seconds_spent = StoredSecondsField(read_only=True, allow_null=True)

    class Meta:
        model = Annotation
        fields = [
            "id",
            "record",
            "value",
            "source",
            "author",
            "job",
            "confidence",
            "suggestion_accepted",
            "round",
            "supersedes",
            "seconds_spent",
            "created_at",
        ]

    def to_representation(self, annotation: Annotation) -> dict:
        seconds = annotation.seconds_spent
        return {
            "id": annotation.pk,
            "record": annotation.record_id,
            "value": annotation.value,
            "source": annotation.source,
            "author": annotation.author_id,
            "job": annotation.job_id,
            "confidence": _float(annotation.confidence),
            "suggestion_accepted": annotation.suggestion_accepted,
            "round": annotation.round_id,
            "supersedes": annotation.supersedes_id,
            "seconds_spent": None if seconds is None else _SECONDS.to_representation(seconds),
            "created_at": _WHEN.to_representation(annotation.created_at),
        }


class SuggestionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    value = serializers.JSONField()
    source = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)

    def to_representation(self, suggestion: Annotation) -> dict:
        return {
            "id": suggestion.pk,
            "value": suggestion.value,
            "source": suggestion.source,
            "confidence": _float(suggestion.confidence),
        }


class AssignmentSerializer(serializers.ModelSerializer):
    record = BlindRecordSerializer()
    suggestion = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = ["id", "record", "state", "lease_expires_at", "suggestion"]

    @extend_schema_field(SuggestionSerializer(allow_null=True))
    def get_suggestion(self, assignment: Assignment) -> dict | None:
        suggestion = suggestion_for(assignment.record)
        return SuggestionSerializer(suggestion).data if suggestion else None

    def to_representation(self, assignment: Assignment) -> dict:
        return {
            "id": assignment.pk,
            "record": BlindRecordSerializer(assignment.record).data,
            "state": assignment.state,
            "lease_expires_at": _WHEN.to_representation(assignment.lease_expires_at),
            "suggestion": self.get_suggestion(assignment),
        }


class SubmitSerializer(serializers.Serializer):
    """`value` in the shape of the project's task type; `label` is the single-label shorthand."""

    label = serializers.CharField(max_length=200, required=False)
    value = serializers.JSONField(required=False)
    seconds_spent = serializers.FloatField(required=False, min_value=0, max_value=MAX_SECONDS_SPENT)
    suggestion = serializers.IntegerField(required=False, min_value=1)
    next = serializers.BooleanField(required=False, default=False)

    def validate(self, data: dict) -> dict:
        if "value" not in data and "label" not in data:
            raise serializers.ValidationError({"value": "give the label as `value` (or `label`)"})
        data["value"] = data["value"] if "value" in data else data["label"]
        return data


class SubmittedSerializer(AnnotationSerializer):
    next = AssignmentSerializer(required=False, allow_null=True)

    class Meta(AnnotationSerializer.Meta):
        fields = [*AnnotationSerializer.Meta.fields, "next"]

    # The schema of a submit's answer (the view adds `next` to AnnotationSerializer's); as an
    # answer of its own it takes DRF's generic path, which knows the extra field.
    to_representation = serializers.ModelSerializer.to_representation


class ReviseSerializer(serializers.Serializer):
    value = serializers.JSONField()
    seconds_spent = serializers.FloatField(required=False, min_value=0, max_value=MAX_SECONDS_SPENT)


class CommentSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    flag = serializers.BooleanField(required=False, default=False)


class AdjudicateSerializer(serializers.Serializer):
    """Either `adopt` (the id of a label given to the record) or the curator's own `value`."""

    adopt = serializers.IntegerField(required=False, min_value=1)
    value = serializers.JSONField(required=False)

    def validate(self, data: dict) -> dict:
        if ("adopt" in data) == ("value" in data):
            raise serializers.ValidationError({"value": "give exactly one of `adopt` or `value`"})
        return data


class PairAgreementSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    shared_units = serializers.IntegerField()
    kappa = serializers.FloatField(allow_null=True)
    observed = serializers.FloatField()


class AgreementSerializer(serializers.Serializer):
    level = serializers.CharField()
    units = serializers.IntegerField()
    coders = serializers.IntegerField()
    observed = serializers.FloatField(allow_null=True)
    fleiss_kappa = serializers.FloatField(allow_null=True)
    fleiss_units = serializers.IntegerField()
    alpha = serializers.FloatField(allow_null=True)
    pairs = PairAgreementSerializer(many=True)
    per_label = serializers.DictField(child=serializers.FloatField(allow_null=True))


class AnnotatorFiguresSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    labels = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    suggestions_shown = serializers.IntegerField()
    suggestions_accepted = serializers.IntegerField()
    acceptance = serializers.FloatField(allow_null=True)
    gold_checked = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    competence = serializers.FloatField(allow_null=True)


class DisagreementLabelSerializer(serializers.Serializer):
    annotation_id = serializers.IntegerField()
    author = serializers.CharField()
    value = serializers.JSONField()


class DisagreementSerializer(serializers.Serializer):
    record = RecordSerializer()
    labels = DisagreementLabelSerializer(many=True)


class SkipSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ItemReviewSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject", "edit"])
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    text = serializers.CharField(max_length=20000, required=False)
    label = serializers.CharField(max_length=200, required=False)


class BulkReviewSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    threshold = serializers.FloatField()
    kind = serializers.CharField(max_length=32, required=False, default=QUALITY_KIND)


class BatchItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="record.pk")
    text = serializers.CharField()
    # A generated pair: its prompt, response_a and response_b (null for other items).
    pair = serializers.DictField(child=serializers.CharField(), allow_null=True)
    # A generated instruction item: its prompt, the LLM's response and the response it trains
    # with once approved ("" before; null for other items).
    instruction = serializers.DictField(
        child=serializers.CharField(allow_blank=True), allow_null=True
    )
    review = serializers.CharField(source="record.review")
    review_note = serializers.CharField(source="record.review_note")
    intended = serializers.CharField(allow_null=True)
    parent_id = serializers.IntegerField(allow_null=True)
    scores = serializers.DictField(child=serializers.FloatField())


class FilterDecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = FilterDecision
        fields = ["id", "record", "filter", "reason", "evidence"]


class BatchStatsSerializer(serializers.Serializer):
    """curator.curation_selectors.BatchStats"""

    items = serializers.IntegerField()
    pending = serializers.IntegerField()
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()
    quality_histogram = serializers.ListField(
        child=serializers.IntegerField(), help_text="Items with quality 1-2, 2-3, 3-4, 4-5."
    )
    mean_quality = serializers.FloatField(allow_null=True)
    toxic = serializers.IntegerField()
    duplicate_rate = serializers.FloatField(allow_null=True)
    labels = serializers.DictField(
        child=serializers.IntegerField(), help_text="Intended label -> items."
    )
    model_agreement = serializers.FloatField(allow_null=True)


class BatchSerializer(serializers.Serializer):
    job = JobSerializer()
    stats = BatchStatsSerializer()
    items = BatchItemSerializer(many=True)


class BulkReviewedSerializer(serializers.Serializer):
    decided = serializers.IntegerField(help_text="How many items the decision applied to.")
    stats = BatchStatsSerializer()


class FilterRevertedSerializer(serializers.Serializer):
    restored = serializers.IntegerField(help_text="Records the filter run had dropped.")


class NoiseReportSerializer(serializers.Serializer):
    """curator.curation_selectors.NoiseReport"""

    flags = serializers.IntegerField()
    open = serializers.IntegerField(help_text="No label from a person since the flag.")
    confirmed = serializers.IntegerField(help_text="People changed the flagged label.")
    rejected = serializers.IntegerField(help_text="People gave the flagged label again.")
    precision = serializers.FloatField(allow_null=True)


class LengthBinSerializer(serializers.Serializer):
    """curator.curation_selectors.LengthBin"""

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword, so no class attribute can declare it: the attributes are
        # start and end, and the keys the API has always shown are declared here.
        return {
            "from": serializers.IntegerField(source="start", help_text="Words, inclusive."),
            "to": serializers.IntegerField(source="end", help_text="Words, exclusive."),
            "records": serializers.IntegerField(),
        }


class DistributionSerializer(serializers.Serializer):
    """curator.curation_selectors.Distribution"""

    labeled = serializers.IntegerField()
    labels = serializers.DictField(child=serializers.IntegerField())
    imbalance_ratio = serializers.FloatField(allow_null=True)
    imbalanced = serializers.BooleanField()
    minority_labels = serializers.ListField(child=serializers.CharField())
    length_histogram = LengthBinSerializer(many=True)
    label_sources = serializers.DictField(child=serializers.IntegerField())
    origins = serializers.DictField(child=serializers.IntegerField())


class DocumentCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    chunks = serializers.SerializerMethodField(help_text="How many chunks the text was cut into.")

    def get_chunks(self, document: Document) -> int:
        return len(document.chunks)


class CreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()


class LinkSerializer(serializers.Serializer):
    """curator.lineage.Link"""

    record_id = serializers.IntegerField()
    depth = serializers.IntegerField(help_text="1: a direct parent or child.")
    operation = serializers.CharField()
    via = serializers.IntegerField(help_text="The record on the other side of this edge.")
    job_id = serializers.IntegerField(allow_null=True)


class ScoreEntrySerializer(serializers.Serializer):
    kind = serializers.CharField()
    model_identity = serializers.CharField()
    value = serializers.FloatField()
    job_id = serializers.IntegerField(allow_null=True)
    round_id = serializers.IntegerField(allow_null=True)


class NoiseFlagEntrySerializer(serializers.Serializer):
    job = serializers.IntegerField(source="job_id")
    given = serializers.CharField(source="given_label")
    suggested = serializers.CharField(source="suggested_label")


class ModelVersionUseSerializer(serializers.Serializer):
    """curator.model_version_selectors.ModelVersionUse"""

    what = serializers.ChoiceField(choices=["generated", "labeled", "scored"])
    job = serializers.IntegerField()
    job_kind = serializers.CharField()
    version = serializers.IntegerField()
    adapter_sha256 = serializers.CharField()
    identity = serializers.DictField(help_text="The job's model identity.")


class RecordLineageSerializer(serializers.Serializer):
    """curator.lineage.RecordHistory, as the API shows it."""

    record = RecordSerializer()
    ancestors = LinkSerializer(many=True)
    descendants = LinkSerializer(many=True)
    annotations = AnnotationSerializer(many=True)
    scores = ScoreEntrySerializer(many=True)
    filter_decisions = FilterDecisionSerializer(many=True, source="filters")
    noise_flags = NoiseFlagEntrySerializer(many=True)
    trained_in_rounds = serializers.ListField(child=serializers.IntegerField())
    model_versions = ModelVersionUseSerializer(many=True)


class SnapshotEntrySerializer(serializers.Serializer):
    record_id = serializers.IntegerField()
    label = serializers.CharField()


class RelabelSerializer(serializers.Serializer):
    record_id = serializers.IntegerField()
    before = serializers.CharField()
    after = serializers.CharField()


class RoundDiffSerializer(serializers.Serializer):
    """curator.lineage.RoundDiff"""

    added = SnapshotEntrySerializer(many=True)
    removed = SnapshotEntrySerializer(many=True)
    relabeled = RelabelSerializer(many=True)


class DocumentUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
