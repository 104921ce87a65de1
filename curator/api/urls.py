from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from curator.api import auth, model_versions, views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Interactive docs of that schema; their scripts are served from the sidecar package's static
    # files (SPECTACULAR_SETTINGS), never from a CDN. The split view serves its start-up script
    # as a file of its own (`?script`), because the Content-Security-Policy refuses inline code.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("auth/token/", auth.ObtainToken.as_view(), name="api-token"),
    path("projects/", views.ProjectListCreate.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", views.ProjectDetail.as_view(), name="api-project"),
    path("projects/<slug:slug>/records/", views.RecordList.as_view(), name="api-records"),
    path("projects/<slug:slug>/imports/", views.ImportCreate.as_view(), name="api-imports"),
    path("projects/<slug:slug>/jobs/", views.JobList.as_view(), name="api-jobs"),
    path("projects/<slug:slug>/jobs/<int:job_id>/", views.JobDetail.as_view(), name="api-job"),
    path(
        "projects/<slug:slug>/jobs/<int:job_id>/cancel/",
        views.JobCancel.as_view(),
        name="api-job-cancel",
    ),
    path(
        "projects/<slug:slug>/records/<int:record_id>/clear-hold/",
        views.RecordClearHold.as_view(),
        name="api-record-clear-hold",
    ),
    path("projects/<slug:slug>/rounds/", views.RoundListCreate.as_view(), name="api-rounds"),
    path(
        "projects/<slug:slug>/rounds/<int:number>/", views.RoundDetail.as_view(), name="api-round"
    ),
    path(
        "projects/<slug:slug>/rounds/<int:number>/cancel/",
        views.RoundCancel.as_view(),
        name="api-round-cancel",
    ),
    path(
        "projects/<slug:slug>/rounds/<int:number>/snapshot/",
        views.RoundSnapshot.as_view(),
        name="api-round-snapshot",
    ),
    path(
        "projects/<slug:slug>/annotations/",
        views.AnnotationList.as_view(),
        name="api-annotations",
    ),
    path("projects/<slug:slug>/next/", views.NextRecord.as_view(), name="api-next"),
    path(
        "projects/<slug:slug>/assignments/<int:assignment_id>/submit/",
        views.SubmitLabel.as_view(),
        name="api-submit",
    ),
    path(
        "projects/<slug:slug>/assignments/<int:assignment_id>/skip/",
        views.SkipRecord.as_view(),
        name="api-skip",
    ),
    path(
        "projects/<slug:slug>/annotations/<int:annotation_id>/revise/",
        views.AnnotationRevise.as_view(),
        name="api-annotation-revise",
    ),
    path(
        "projects/<slug:slug>/records/<int:record_id>/comments/",
        views.RecordComment.as_view(),
        name="api-record-comments",
    ),
    path(
        "projects/<slug:slug>/records/<int:record_id>/adjudicate/",
        views.RecordAdjudicate.as_view(),
        name="api-record-adjudicate",
    ),
    path(
        "projects/<slug:slug>/records/<int:record_id>/send-back/",
        views.RecordSendBack.as_view(),
        name="api-record-send-back",
    ),
    path("projects/<slug:slug>/agreement/", views.Agreement.as_view(), name="api-agreement"),
    path("projects/<slug:slug>/annotators/", views.Annotators.as_view(), name="api-annotators"),
    path(
        "projects/<slug:slug>/disagreements/",
        views.Disagreements.as_view(),
        name="api-disagreements",
    ),
    path("projects/<slug:slug>/export/", views.Export.as_view(), name="api-export"),
    path(
        "projects/<slug:slug>/distribution/",
        views.Distribution.as_view(),
        name="api-distribution",
    ),
    path("projects/<slug:slug>/batches/<int:job_id>/", views.Batch.as_view(), name="api-batch"),
    path(
        "projects/<slug:slug>/batches/<int:job_id>/bulk/",
        views.BatchBulk.as_view(),
        name="api-batch-bulk",
    ),
    path(
        "projects/<slug:slug>/records/<int:record_id>/review-item/",
        views.ItemReview.as_view(),
        name="api-item-review",
    ),
    path(
        "projects/<slug:slug>/filters/<int:job_id>/decisions/",
        views.FilterDecisions.as_view(),
        name="api-filter-decisions",
    ),
    path(
        "projects/<slug:slug>/filters/<int:job_id>/revert/",
        views.FilterRevert.as_view(),
        name="api-filter-revert",
    ),
    path("projects/<slug:slug>/noise/", views.NoiseReport.as_view(), name="api-noise"),
    path(
        "projects/<slug:slug>/records/<int:record_id>/lineage/",
        views.RecordLineage.as_view(),
        name="api-record-lineage",
    ),
    path(
        "projects/<slug:slug>/rounds/<int:number>/diff/<int:other>/",
        views.RoundDiff.as_view(),
        name="api-round-diff",
    ),
    path("projects/<slug:slug>/documents/", views.DocumentCreate.as_view(), name="api-documents"),
    path(
        "projects/<slug:slug>/models/",
        model_versions.ModelVersionList.as_view(),
        name="api-model-versions",
    ),
    path(
        "projects/<slug:slug>/models/rollback/",
        model_versions.ModelVersionRollback.as_view(),
        name="api-model-rollback",
    ),
    path(
        "projects/<slug:slug>/models/<int:number>/",
        model_versions.ModelVersionDetail.as_view(),
        name="api-model-version",
    ),
    path(
        "projects/<slug:slug>/models/<int:number>/promote/",
        model_versions.ModelVersionPromote.as_view(),
        name="api-model-promote",
    ),
    path(
        "projects/<slug:slug>/models/<int:number>/export/",
        model_versions.ModelVersionExport.as_view(),
        name="api-model-export",
    ),
]
