from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotation import views as annotation_views
from curator.views import (
    auth,
    curation,
    data_manager,
    health,
    held,
    jobs,
    lineage,
    members,
    models,
    projects,
    review,
    rounds,
    settings,
)

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    # Before the admin's own URLs: its log-in page answers signed-in non-staff users with a 403.
    path("admin/login/", auth.admin_login),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", auth.account, name="account"),
    path("account/token/", auth.account_token_create, name="account-token-create"),
    path("account/token/revoke/", auth.account_token_revoke, name="account-token-revoke"),
    path("account/password/", auth.account_password, name="account-password"),
    path("api/", include("curator.api.urls")),
    path("", projects.project_list, name="project-list"),
    path("p/<slug:slug>/", projects.project_detail, name="project-detail"),
    path("p/<slug:slug>/import/", projects.import_upload, name="import-upload"),
    path("p/<slug:slug>/rounds/", projects.round_create, name="round-create"),
    path("p/<slug:slug>/model-jobs/", projects.model_job_create, name="model-job-create"),
    path("p/<slug:slug>/rounds/<int:number>/", rounds.round_detail, name="round-detail"),
    path(
        "p/<slug:slug>/rounds/<int:number>/cancel/",
        projects.round_cancel_view,
        name="round-cancel",
    ),
    path("p/<slug:slug>/jobs/<int:job_id>/", jobs.job_card, name="job-card"),
    path("p/<slug:slug>/held/", held.held_records, name="held-records"),
    path("p/<slug:slug>/settings/", settings.project_settings, name="project-settings"),
    path("p/<slug:slug>/members/", members.members, name="project-members"),
    path(
        "p/<slug:slug>/members/<int:user_id>/remove/",
        members.member_remove,
        name="project-member-remove",
    ),
    path("projects/new/", projects.project_new, name="project-new"),
    path("p/<slug:slug>/data/", curation.data_page, name="data"),
    path("p/<slug:slug>/models/", models.models_page, name="models"),
    path("p/<slug:slug>/models/rollback/", models.model_rollback, name="model-rollback"),
    path("p/<slug:slug>/models/<int:number>/promote/", models.model_promote, name="model-promote"),
    path("p/<slug:slug>/records/<int:record_id>/", lineage.record_page, name="record-page"),
    path(
        "p/<slug:slug>/rounds/<int:before>/diff/<int:after>/",
        lineage.round_diff,
        name="round-diff",
    ),
    path("p/<slug:slug>/data/generate/", curation.generate_start, name="generate-start"),
    path("p/<slug:slug>/data/self-reward/", curation.self_reward_start, name="self-reward-start"),
    path("p/<slug:slug>/data/filter/", curation.filter_start, name="filter-start"),
    path("p/<slug:slug>/data/noise/", curation.noise_start, name="noise-start"),
    path("p/<slug:slug>/data/documents/", curation.document_upload, name="document-upload"),
    path("p/<slug:slug>/batches/<int:job_id>/", curation.batch_page, name="batch"),
    path("p/<slug:slug>/batches/<int:job_id>/bulk/", curation.batch_bulk, name="batch-bulk"),
    path("p/<slug:slug>/items/<int:record_id>/", curation.item_decide, name="item-decide"),
    path("p/<slug:slug>/filters/<int:job_id>/", curation.filter_report, name="filter-report"),
    path(
        "p/<slug:slug>/filters/<int:job_id>/revert/",
        curation.filter_revert,
        name="filter-revert",
    ),
    path("p/<slug:slug>/records/", data_manager.data_manager, name="records"),
    path("p/<slug:slug>/records/bulk/", data_manager.records_bulk, name="records-bulk"),
    path("p/<slug:slug>/records/count/", data_manager.records_count, name="records-count"),
    path("p/<slug:slug>/export/", data_manager.export_download, name="export"),
    path(
        "p/<slug:slug>/held/<int:record_id>/clear/",
        held.held_record_clear,
        name="held-record-clear",
    ),
    path("p/<slug:slug>/annotate/", annotation_views.annotate, name="annotate"),
    path("p/<slug:slug>/annotate/next/", annotation_views.next_record, name="annotate-next"),
    path(
        "p/<slug:slug>/annotate/<int:assignment_id>/submit/",
        annotation_views.submit,
        name="annotate-submit",
    ),
    path(
        "p/<slug:slug>/annotate/<int:assignment_id>/skip/",
        annotation_views.skip,
        name="annotate-skip",
    ),
    path(
        "p/<slug:slug>/annotate/<int:assignment_id>/comment/",
        annotation_views.comment,
        name="annotate-comment",
    ),
    path("p/<slug:slug>/annotate/undo/", annotation_views.undo, name="annotate-undo"),
    path("p/<slug:slug>/annotate/history/", annotation_views.history, name="annotate-history"),
    path(
        "p/<slug:slug>/annotate/edit/<int:annotation_id>/",
        annotation_views.edit,
        name="annotate-edit",
    ),
    path(
        "p/<slug:slug>/annotate/edit/<int:annotation_id>/card/",
        annotation_views.edit_card,
        name="annotate-edit-card",
    ),
    path(
        "p/<slug:slug>/annotate/edit/<int:annotation_id>/revise/",
        annotation_views.revise,
        name="annotate-revise",
    ),
    path("p/<slug:slug>/review/", review.review_page, name="review"),
    path(
        "p/<slug:slug>/review/<int:record_id>/adjudicate/",
        review.adjudicate_record,
        name="review-adjudicate",
    ),
    path(
        "p/<slug:slug>/review/<int:record_id>/send-back/",
        review.send_back,
        name="review-send-back",
    ),
]

handler400 = "curator.views.errors.refused"
handler404 = "curator.views.errors.not_found"
handler500 = "curator.views.errors.server_failed"
