"""REST API: parse, call one service or selector, serialise. Permissions as in the web views."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import selectors as annotation_selectors
from annotation.models import Annotation, Assignment, Source
from annotation.services.annotations import annotation_revise, annotation_submit, comment_add
from annotation.services.assignment import assignment_skip, next_assignment
from annotation.services.review import adjudicate, record_send_back
from curator import curation_selectors, job_kinds, lineage, round_kinds, selectors
from curator.api import serializers as s
from curator.api.pagination import IdCursor
from curator.models import FilterDecision, Job, Project, Record, ReviewState, Round, Split
from curator.models.validation import nested_field_errors
from curator.permissions import Action, can
from curator.services import curation
from curator.services.documents import document_add
from curator.services.exports import FORMATS, export_write, labeled_rows
from curator.services.imports import import_start
from curator.services.job_stop import job_stop
from curator.services.model_jobs import model_job_start, record_hold_clear
from curator.services.project_settings import project_settings_update
from curator.services.projects import project_create, project_update
from curator.services.rounds import round_cancel, round_start
from curator.views.access import own_assignment_for, project_for
from curator.views.common import as_id


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _project(request: Request, slug: str, action: Action = Action.VIEW) -> Project:
    # DRF turns Http404 and PermissionDenied into 404 and 403 responses.
    return project_for(request.user, slug, action)


class ProjectListCreate(generics.ListAPIView):
    serializer_class = s.ProjectSerializer
    pagination_class = IdCursor

    def get_queryset(self):
        return selectors.projects_for(self.request.user)

    @extend_schema(request=s.ProjectCreateSerializer, responses={201: s.ProjectSerializer})
    def post(self, request: Request) -> Response:
        if not (request.user.is_staff or request.user.is_superuser):
            raise NotFound()
        data = s.ProjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(created_by=request.user, **data.validated_data)
        return Response(s.ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetail(APIView):
    @extend_schema(responses=s.ProjectSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(s.ProjectSerializer(_project(request, slug)).data)

    @extend_schema(request=s.ProjectUpdateSerializer, responses={200: s.ProjectSerializer})
    def patch(self, request: Request, slug: str) -> Response:
        """Admins edit the name, description, guidelines, labels and settings. Removing a label
        that stored labels use answers 409 with `labels_in_use` unless `confirm_removal`;
        settings follow the Settings page's rules, all or nothing."""
        project = _project(request, slug, Action.MANAGE)
        body = s.ProjectUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            if "settings" in data:
                with nested_field_errors("settings"):
                    project = project_settings_update(
                        project=project, user=request.user, changes=data["settings"]
                    )
            if data.keys() - {"settings", "confirm_removal"}:
                project = project_update(
                    project=project,
                    user=request.user,
                    name=data.get("name", project.name),
                    description=data.get("description", project.description),
                    guidelines=data.get("guidelines", project.guidelines),
                    labels=data.get("labels", project.labels),
                    confirm_removal=data["confirm_removal"],
                )
        return Response(s.ProjectSerializer(project).data)


class RecordList(generics.ListAPIView):
    """Curators and admins: every record, filtered by `split` or `held`. Annotators: the
    records they were handed to label, as the labeling path shows them (gold checks and spot
    checks look like any other record, so neither the list nor its filters may tell them apart)."""

    serializer_class = s.RecordSerializer
    pagination_class = IdCursor

    def get_serializer_class(self):
        if getattr(self, "swagger_fake_view", False):  # the schema documents the full shape
            return s.RecordSerializer
        if can(self.request.user, self._project(), Action.SEE_BLIND):
            return s.RecordSerializer
        return s.BlindRecordSerializer

    def _project(self) -> Project:
        if not hasattr(self, "project"):
            self.project = _project(self.request, self.kwargs["slug"])
        return self.project

    def get_queryset(self):
        project = self._project()
        if not can(self.request.user, project, Action.SEE_BLIND):
            if {"split", "held"} & set(self.request.query_params):
                raise PermissionDenied("only curators may filter records by split or hold")
            return annotation_selectors.records_handed_to(project, self.request.user)
        records = Record.objects.filter(project=project)
        if self.request.query_params.get("held") in ("true", "1"):
            records = records.filter(held=True)
        split = self.request.query_params.get("split")
        if split:
            if split not in Split.values:
                raise ValidationError({"split": f"use one of {', '.join(Split.values)}"})
            records = records.filter(split=split)
        return records


class ImportCreate(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=s.ImportCreateSerializer, responses={202: s.JobSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = _project(request, slug, Action.IMPORT)
        data = s.ImportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = import_start(
            project=project,
            upload=data.validated_data["file"],
            split=data.validated_data["split"],
            file_format=data.validated_data.get("format"),
            user=request.user,
        )
        return Response(
            s.JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )


class JobList(generics.ListAPIView):
    serializer_class = s.JobSerializer
    pagination_class = IdCursor

    def get_queryset(self):
        jobs = Job.objects.filter(project=_project(self.request, self.kwargs["slug"]))
        jobs = jobs.select_related("project", "round")
        kind = self.request.query_params.get("kind")
        if kind:
            if not job_kinds.exists(kind):
                kinds = ", ".join(name for name, _ in job_kinds.choices())
                raise ValidationError({"kind": f"use one of {kinds}"})
            jobs = jobs.filter(kind=kind)
        status_ = self.request.query_params.get("status")
        if status_:
            if status_ not in Job.Status.values:
                raise ValidationError({"status": f"use one of {', '.join(Job.Status.values)}"})
            jobs = jobs.filter(status=status_)
        return jobs

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, description="only jobs of this kind"),
            OpenApiParameter("status", str, enum=Job.Status.values, description="only these"),
        ]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.ModelJobCreateSerializer, responses={202: s.JobSerializer})
    def post(self, request: Request, slug: str) -> Response:
        """Start a model job: `prelabel` (LLM labels + routing), `toxicity`, `judge`, `generate`
        (a synthetic batch), `filter` (quality filters and dedup) or `noise` (label errors)."""
        project = _project(request, slug, Action.RUN_MODEL_JOB)
        data = s.ModelJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = model_job_start(project=project, user=request.user, **data.validated_data)
        return Response(
            s.JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )


class JobCancel(APIView):
    @extend_schema(request=None, responses={200: s.JobSerializer})
    def post(self, request: Request, slug: str, job_id: int) -> Response:
        """Stop a queued or running job (a round's job stops its round); 409 once finished."""
        project = _project(request, slug)
        job = get_object_or_404(Job.objects.select_related("round"), pk=job_id, project=project)
        if not job_stop(job=job, user=request.user):
            job.refresh_from_db()
            raise Conflict(f"job {job.pk} already {job.status}")
        job.refresh_from_db()
        return Response(s.JobSerializer(job, context={"request": request}).data)


class RecordClearHold(APIView):
    @extend_schema(request=None, responses={200: s.RecordSerializer})
    def post(self, request: Request, slug: str, record_id: int) -> Response:
        project = _project(request, slug, Action.REVIEW)
        record = get_object_or_404(Record, pk=record_id, project=project)
        record_hold_clear(record=record, user=request.user)
        record.refresh_from_db()
        return Response(s.RecordSerializer(record).data)


class JobDetail(APIView):
    @extend_schema(responses=s.JobSerializer)
    def get(self, request: Request, slug: str, job_id: int) -> Response:
        project = _project(request, slug)
        return Response(
            s.JobSerializer(
                get_object_or_404(Job, pk=job_id, project=project), context={"request": request}
            ).data
        )


class RoundListCreate(generics.ListAPIView):
    serializer_class = s.RoundSerializer
    pagination_class = IdCursor

    def get_queryset(self):
        project = _project(self.request, self.kwargs["slug"])
        return Round.objects.filter(project=project).select_related("project")

    @extend_schema(request=s.RoundStartSerializer, responses={202: s.RoundSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = _project(request, slug, Action.START_ROUND)
        kinds = [kind.name for kind in round_kinds.kinds_for(project.task_type)]
        body = s.RoundStartSerializer(data=request.data, kinds=kinds)
        body.is_valid(raise_exception=True)
        round_ = round_start(
            project=project, user=request.user, kind=body.validated_data.get("kind")
        )
        return Response(
            s.RoundSerializer(round_, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class RoundDetail(APIView):
    @extend_schema(responses=s.RoundSerializer)
    def get(self, request: Request, slug: str, number: int) -> Response:
        project = _project(request, slug)
        return Response(
            s.RoundSerializer(
                get_object_or_404(Round, project=project, number=number),
                context={"request": request},
            ).data
        )


class RoundSnapshot(generics.ListAPIView):
    """The exact training set of a round: which label of which record (curators and admins:
    annotators may not read the labels other people gave)."""

    serializer_class = s.SnapshotItemSerializer
    pagination_class = IdCursor

    def get_queryset(self):
        project = _project(self.request, self.kwargs["slug"], Action.SEE_OTHERS_LABELS)
        round_ = get_object_or_404(Round, project=project, number=self.kwargs["number"])
        return round_.snapshot_items.select_related("record")


class AnnotationList(generics.ListAPIView):
    serializer_class = s.AnnotationSerializer
    pagination_class = IdCursor

    def get_queryset(self):
        project = _project(self.request, self.kwargs["slug"])
        annotations = Annotation.objects.filter(project=project)
        if not can(self.request.user, project, Action.REVIEW):
            annotations = annotations.filter(author=self.request.user)
        return annotations


class NextRecord(APIView):
    """Lease the next record for the caller (the same one until it is submitted or skipped)."""

    @extend_schema(request=None, responses={200: s.AssignmentSerializer, 204: None})
    def post(self, request: Request, slug: str) -> Response:
        project = _project(request, slug, Action.ANNOTATE)
        assignment = next_assignment(project, request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.AssignmentSerializer(assignment).data)


def _assignment(request: Request, slug: str, assignment_id: int) -> Assignment:
    return own_assignment_for(request.user, slug, assignment_id, Action.ANNOTATE)


class SubmitLabel(APIView):
    """Store a label. With `"next": true` the response also carries the caller's next
    assignment (or null when the queue is empty): one round trip per label."""

    @extend_schema(request=s.SubmitSerializer, responses={201: s.SubmittedSerializer})
    def post(self, request: Request, slug: str, assignment_id: int) -> Response:
        assignment = _assignment(request, slug, assignment_id)
        data = s.SubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = annotation_submit(
            assignment=assignment,
            user=request.user,
            value=data.validated_data["value"],
            seconds_spent=data.validated_data.get("seconds_spent"),
            suggestion_id=data.validated_data.get("suggestion"),
        )
        body = s.AnnotationSerializer(annotation).data
        if data.validated_data.get("next"):
            following = next_assignment(assignment.project, request.user, lease_closed=True)
            body["next"] = s.AssignmentSerializer(following).data if following else None
        return Response(body, status=status.HTTP_201_CREATED)


class SkipRecord(APIView):
    @extend_schema(request=s.SkipSerializer, responses={204: None})
    def post(self, request: Request, slug: str, assignment_id: int) -> Response:
        assignment = _assignment(request, slug, assignment_id)
        data = s.SkipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment_skip(assignment, reason=data.validated_data["reason"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class AnnotationRevise(APIView):
    """Change one's own label: stored as a new annotation superseding the latest version."""

    @extend_schema(request=s.ReviseSerializer, responses={201: s.AnnotationSerializer})
    def post(self, request: Request, slug: str, annotation_id: int) -> Response:
        project = _project(request, slug, Action.ANNOTATE)
        annotation = get_object_or_404(
            Annotation.objects.select_related("record", "project"),
            pk=annotation_id,
            project=project,
            author=request.user,
            source=Source.HUMAN,
        )
        data = s.ReviseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        revised = annotation_revise(
            annotation=annotation,
            user=request.user,
            value=data.validated_data["value"],
            seconds_spent=data.validated_data.get("seconds_spent"),
        )
        return Response(s.AnnotationSerializer(revised).data, status=status.HTTP_201_CREATED)


class RecordComment(APIView):
    @extend_schema(request=s.CommentSerializer, responses={201: s.CreatedSerializer})
    def post(self, request: Request, slug: str, record_id: int) -> Response:
        project = _project(request, slug, Action.ANNOTATE)
        record = get_object_or_404(Record, pk=record_id, project=project)
        data = s.CommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = comment_add(record=record, user=request.user, **data.validated_data)
        return Response(s.CreatedSerializer(comment).data, status=status.HTTP_201_CREATED)


class Agreement(APIView):
    """Agreement between annotators (204 for free-text tasks, where none is defined)."""

    @extend_schema(responses={200: s.AgreementSerializer, 204: None})
    def get(self, request: Request, slug: str) -> Response:
        project = _project(request, slug, Action.REVIEW)
        report = annotation_selectors.project_agreement(project)
        if report is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.AgreementSerializer(report).data)


class Annotators(APIView):
    @extend_schema(responses=s.AnnotatorFiguresSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        project = _project(request, slug, Action.REVIEW)
        figures = annotation_selectors.annotator_figures(project)
        return Response(s.AnnotatorFiguresSerializer(figures, many=True).data)


class Disagreements(APIView):
    """Records whose annotators disagree, not yet adjudicated; page with ?after=<record id>."""

    @extend_schema(responses=s.DisagreementSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        project = _project(request, slug, Action.REVIEW)
        given = request.query_params.get("after")
        after = as_id(given) or 0
        if given and not after:
            raise ValidationError({"after": "a record id"})
        items = annotation_selectors.disagreements(project, after_id=after)
        return Response(s.DisagreementSerializer(items, many=True).data)


class RecordAdjudicate(APIView):
    @extend_schema(request=s.AdjudicateSerializer, responses={201: s.AnnotationSerializer})
    def post(self, request: Request, slug: str, record_id: int) -> Response:
        project = _project(request, slug, Action.REVIEW)
        record = get_object_or_404(Record, pk=record_id, project=project)
        data = s.AdjudicateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        adopt = None
        if "adopt" in data.validated_data:
            adopt = get_object_or_404(Annotation, pk=data.validated_data["adopt"], record=record)
        annotation = adjudicate(
            record=record, user=request.user, value=data.validated_data.get("value"),
            adopt=adopt,
        )  # fmt: skip
        return Response(s.AnnotationSerializer(annotation).data, status=status.HTTP_201_CREATED)


class RecordSendBack(APIView):
    @extend_schema(request=None, responses={200: s.RecordSerializer})
    def post(self, request: Request, slug: str, record_id: int) -> Response:
        project = _project(request, slug, Action.REVIEW)
        record = get_object_or_404(Record, pk=record_id, project=project)
        record_send_back(record=record, user=request.user)
        record.refresh_from_db()
        return Response(s.RecordSerializer(record).data)


class Export(APIView):
    """Labeled records in the shape of the task type (see the README). Without `output`: JSON
    Lines, streamed. With `output` (jsonl, csv, parquet, hf) and optionally `round`: a zip of
    the data and its manifest.json. (Not `format`: DRF reserves it for content negotiation.)"""

    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, enum=Split.values, required=False),
            OpenApiParameter("output", str, enum=list(FORMATS), required=False),
            OpenApiParameter("round", int, required=False),
        ],
        responses={
            (200, "application/jsonl"): OpenApiTypes.STR,
            (200, "application/zip"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        project = _project(request, slug, Action.REVIEW)
        split = request.query_params.get("split") or None
        if split is not None and split not in Split.values:
            raise ValidationError({"split": f"use one of {', '.join(Split.values)}"})
        fmt = request.query_params.get("output")
        if fmt is not None:
            return self._archive(project, fmt, split, request.query_params.get("round"))
        lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in labeled_rows(project, split))
        response = StreamingHttpResponse(lines, content_type="application/jsonl")
        response["Content-Disposition"] = f'attachment; filename="{project.slug}.jsonl"'
        return response

    def _archive(self, project, fmt: str, split: str | None, number: str | None) -> FileResponse:
        if fmt not in FORMATS:
            raise ValidationError({"output": f"use one of {', '.join(FORMATS)}"})
        round_ = None
        if number:
            if not (number.isascii() and number.isdigit() and len(number) <= 9):
                raise ValidationError({"round": "a round number"})
            round_ = get_object_or_404(Round, project=project, number=int(number))
        workdir = Path(tempfile.mkdtemp(prefix="curator-export-"))
        try:
            export_write(project, workdir / "export", fmt, round_=round_, split=split)
            archive = shutil.make_archive(str(workdir / project.slug), "zip", workdir / "export")
            handle = open(archive, "rb")  # noqa: SIM115 - FileResponse closes it
        finally:
            # The open handle keeps the zip readable; the disk space returns when it closes.
            shutil.rmtree(workdir, ignore_errors=True)
        name = f"{project.slug}-{fmt}{f'-round-{round_.number}' if round_ else ''}.zip"
        response = FileResponse(handle, as_attachment=True, filename=name)
        response["Content-Type"] = "application/zip"
        return response


def _job_of(request: Request, slug: str, job_id: int, kind: str | list[str], action: Action) -> Job:
    project = _project(request, slug, action)
    kinds = [kind] if isinstance(kind, str) else kind
    return get_object_or_404(Job, pk=job_id, project=project, kind__in=kinds)


class Distribution(APIView):
    """Label counts, lengths, sources and origins of what would train now."""

    @extend_schema(responses=s.DistributionSerializer)
    def get(self, request: Request, slug: str) -> Response:
        report = curation_selectors.distribution(_project(request, slug, Action.REVIEW))
        return Response(s.DistributionSerializer(report).data)


class Batch(APIView):
    """A generated batch: its statistics and items (?state=pending|approved|rejected)."""

    @extend_schema(responses=s.BatchSerializer)
    def get(self, request: Request, slug: str, job_id: int) -> Response:
        job = _job_of(request, slug, job_id, job_kinds.review_batches(), Action.REVIEW)
        state = request.query_params.get("state") or None
        if state is not None and state not in ReviewState.values:
            raise ValidationError({"state": f"use one of {', '.join(ReviewState.values)}"})
        body = {
            "job": job,
            "stats": curation_selectors.batch_stats(job),
            "items": selectors.batch_items(job, state=state),
        }
        return Response(s.BatchSerializer(body, context={"request": request}).data)


class BatchBulk(APIView):
    @extend_schema(request=s.BulkReviewSerializer, responses=s.BulkReviewedSerializer)
    def post(self, request: Request, slug: str, job_id: int) -> Response:
        job = _job_of(request, slug, job_id, job_kinds.review_batches(), Action.REVIEW)
        data = s.BulkReviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        count = curation.bulk_review(job=job, user=request.user, **data.validated_data)
        body = {"decided": count, "stats": curation_selectors.batch_stats(job)}
        return Response(s.BulkReviewedSerializer(body).data)


class ItemReview(APIView):
    """Approve, reject (with a reason) or edit a generated item."""

    @extend_schema(request=s.ItemReviewSerializer, responses={200: s.RecordSerializer})
    def post(self, request: Request, slug: str, record_id: int) -> Response:
        project = _project(request, slug, Action.REVIEW)
        record = get_object_or_404(Record, pk=record_id, project=project)
        data = s.ItemReviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = curation.item_review(record=record, user=request.user, **data.validated_data)
        return Response(s.RecordSerializer(result).data)


class FilterDecisions(generics.ListAPIView):
    """What a filter run dropped, and why."""

    serializer_class = s.FilterDecisionSerializer
    pagination_class = IdCursor

    def get_queryset(self):
        job = _job_of(
            self.request, self.kwargs["slug"], self.kwargs["job_id"], Job.Kind.FILTER,
            Action.REVIEW,
        )  # fmt: skip
        return FilterDecision.objects.filter(job=job)


class FilterRevert(APIView):
    @extend_schema(request=None, responses=s.FilterRevertedSerializer)
    def post(self, request: Request, slug: str, job_id: int) -> Response:
        job = _job_of(request, slug, job_id, Job.Kind.FILTER, Action.RUN_MODEL_JOB)
        restored = curation.filter_revert(job=job, user=request.user)
        return Response(s.FilterRevertedSerializer({"restored": restored}).data)


class NoiseReport(APIView):
    """Label-noise flags and their precision, measured from people's relabels."""

    @extend_schema(responses=s.NoiseReportSerializer)
    def get(self, request: Request, slug: str) -> Response:
        report = curation_selectors.noise_report(_project(request, slug, Action.REVIEW))
        return Response(s.NoiseReportSerializer(report).data)


class DocumentCreate(APIView):
    """Upload a text, Markdown or PDF document for knowledge-grounded generation."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=s.DocumentUploadSerializer, responses={201: s.DocumentCreatedSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = _project(request, slug, Action.IMPORT)
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": "upload a text, Markdown or PDF file"})
        document = document_add(project=project, upload=upload, user=request.user)
        return Response(s.DocumentCreatedSerializer(document).data, status=status.HTTP_201_CREATED)


class RecordLineage(APIView):
    """A record's ancestors and descendants (recursive), labels, scores, filter decisions,
    noise flags and the rounds that trained on it."""

    @extend_schema(responses=s.RecordLineageSerializer)
    def get(self, request: Request, slug: str, record_id: int) -> Response:
        project = _project(request, slug, Action.REVIEW)
        record = get_object_or_404(Record, pk=record_id, project=project)
        return Response(s.RecordLineageSerializer(lineage.record_history(record)).data)


class RoundDiff(APIView):
    """Records added, removed and relabeled between two rounds' training sets (curators and
    admins, as the snapshot)."""

    @extend_schema(responses=s.RoundDiffSerializer)
    def get(self, request: Request, slug: str, number: int, other: int) -> Response:
        project = _project(request, slug, Action.SEE_OTHERS_LABELS)
        before = get_object_or_404(Round, project=project, number=number)
        after = get_object_or_404(Round, project=project, number=other)
        return Response(s.RoundDiffSerializer(lineage.round_diff(before, after)).data)


class RoundCancel(APIView):
    @extend_schema(request=None, responses={200: s.RoundSerializer})
    def post(self, request: Request, slug: str, number: int) -> Response:
        project = _project(request, slug, Action.START_ROUND)
        round_ = get_object_or_404(Round, project=project, number=number)
        if not round_cancel(round_=round_, user=request.user):
            raise Conflict(f"round {number} is {round_.status}")
        round_.refresh_from_db()
        return Response(s.RoundSerializer(round_, context={"request": request}).data)
