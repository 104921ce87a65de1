from __future__ import annotations

from rest_framework import serializers

from annotation.models import Annotation, Assignment
from curator.models import Job, Project, Record, Round, RoundSnapshotItem, Split


class LabelSerializer(serializers.Serializer):
    value = serializers.CharField()
    name = serializers.CharField()


class ProjectSerializer(serializers.ModelSerializer):
    labels = LabelSerializer(many=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "slug",
            "name",
            "task_type",
            "labels",
            "guidelines",
            "settings",
            "created_at",
        ]
        read_only_fields = ["id", "slug", "created_at"]


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    labels = serializers.ListField(child=serializers.CharField(max_length=200), min_length=2)
    guidelines = serializers.CharField(required=False, allow_blank=True, default="")
    settings = serializers.DictField(required=False, default=dict)


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
            "created_at",
        ]


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField()
    split = serializers.ChoiceField(choices=Split.choices, default=Split.POOL)
    format = serializers.ChoiceField(choices=["jsonl", "csv"], required=False)


class ModelJobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["prelabel", "toxicity", "judge"])
    params = serializers.DictField(required=False, default=dict)


class JobSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)

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
            "metrics",
            "timings",
            "attempts",
            "chunks_total",
            "chunks_done",
            "round",
            "created_at",
            "started_at",
            "finished_at",
        ]


class RoundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Round
        fields = [
            "id",
            "number",
            "status",
            "config",
            "metrics",
            "model_artifact",
            "model_sha256",
            "snapshot_sha256",
            "created_at",
            "finished_at",
        ]


class SnapshotItemSerializer(serializers.ModelSerializer):
    content_hash = serializers.CharField(source="record.content_hash")

    class Meta:
        model = RoundSnapshotItem
        fields = ["id", "record", "content_hash", "annotation", "label"]


class AnnotationSerializer(serializers.ModelSerializer):
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


class AssignmentSerializer(serializers.ModelSerializer):
    record = RecordSerializer()

    class Meta:
        model = Assignment
        fields = ["id", "record", "state", "lease_expires_at"]


class SubmitSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=200)
    seconds_spent = serializers.FloatField(required=False, min_value=0)


class SkipSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
