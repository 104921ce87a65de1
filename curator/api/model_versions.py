"""The model registry over HTTP: list, detail with lineage, promote, roll back, export."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from curator import model_version_selectors as selectors
from curator.models import ModelVersion
from curator.permissions import Action, metrics_shown
from curator.services.model_versions import (
    model_version_export,
    model_version_promote,
    model_version_rollback,
)
from curator.views.access import project_for


class ModelVersionSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="number")
    parent = serializers.SlugRelatedField(slug_field="number", read_only=True)
    round = serializers.SlugRelatedField(slug_field="number", read_only=True)
    promoted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "version",
            "kind",
            "role",
            "status",
            "base_model",
            "parent",
            "adapter_sha256",
            "served_name",
            "round",
            "snapshot_sha256",
            "hyperparameters",
            "metrics",
            "promoted_by",
            "promoted_at",
            "created_at",
        ]

    def to_representation(self, version: ModelVersion) -> dict:
        body = super().to_representation(version)
        user = getattr(self.context.get("request"), "user", None)
        body["metrics"] = metrics_shown(user, version.project, version.metrics or {})
        return body


class LineageSerializer(serializers.Serializer):
    round = serializers.IntegerField(allow_null=True)
    snapshot_sha256 = serializers.CharField()
    training_items = serializers.IntegerField()
    parent = serializers.IntegerField(allow_null=True)
    ancestors = serializers.ListField(child=serializers.IntegerField())
    children = serializers.ListField(child=serializers.IntegerField())
    rounds_built_on = serializers.ListField(child=serializers.IntegerField())
    jobs = serializers.IntegerField()


class ModelVersionDetailSerializer(ModelVersionSerializer):
    lineage = serializers.SerializerMethodField()

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "lineage"]

    @extend_schema_field(LineageSerializer)
    def get_lineage(self, version: ModelVersion) -> dict:
        return LineageSerializer(selectors.version_lineage(version)).data


class RollbackSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ModelVersion.Role.choices, default=ModelVersion.Role.LLM)


class RollbackResultSerializer(serializers.Serializer):
    # The version now promoted for the role; null: the project is back on its base model.
    promoted = ModelVersionSerializer(allow_null=True)


def _version(request: Request, slug: str, number: int, action: Action) -> ModelVersion:
    project = project_for(request.user, slug, action)
    return get_object_or_404(selectors.project_versions(project), number=number)


class ModelVersionList(APIView):
    @extend_schema(responses=ModelVersionSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        project = project_for(request.user, slug)
        versions = selectors.project_versions(project)
        return Response(
            ModelVersionSerializer(versions, many=True, context={"request": request}).data
        )


class ModelVersionDetail(APIView):
    @extend_schema(responses=ModelVersionDetailSerializer)
    def get(self, request: Request, slug: str, number: int) -> Response:
        version = _version(request, slug, number, Action.VIEW)
        return Response(ModelVersionDetailSerializer(version, context={"request": request}).data)


class ModelVersionPromote(APIView):
    """Promote vN: from the next job on, the project's LLM (or reward model) runs with it."""

    @extend_schema(request=None, responses={200: ModelVersionSerializer, 409: None})
    def post(self, request: Request, slug: str, number: int) -> Response:
        version = _version(request, slug, number, Action.PROMOTE_MODEL)
        promoted = model_version_promote(version, request.user)
        return Response(ModelVersionSerializer(promoted, context={"request": request}).data)


class ModelVersionRollback(APIView):
    """Retire the promoted version of a role and promote again the one it replaced."""

    @extend_schema(request=RollbackSerializer, responses={200: RollbackResultSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = project_for(request.user, slug, Action.PROMOTE_MODEL)
        data = RollbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        restored = model_version_rollback(project, request.user, data.validated_data["role"])
        return Response(
            RollbackResultSerializer({"promoted": restored}, context={"request": request}).data
        )


class ModelVersionExport(APIView):
    """A zip of vN's PEFT adapter folder and manifest.json, for serving (vLLM --enable-lora)."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str, number: int) -> FileResponse:
        version = _version(request, slug, number, Action.REVIEW)
        workdir = Path(tempfile.mkdtemp(prefix="curator-model-"))
        try:
            archive = model_version_export(version, workdir / "model.zip")
            handle = archive.open("rb")
        finally:
            # The open handle keeps the zip readable; the disk space returns when it closes.
            shutil.rmtree(workdir, ignore_errors=True)
        name = f"{version.served_name}.zip"
        response = FileResponse(handle, as_attachment=True, filename=name)
        response["Content-Type"] = "application/zip"
        return response
