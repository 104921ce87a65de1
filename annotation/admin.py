from django.contrib import admin

from annotation.models import Annotation, Assignment, Comment


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "record", "value", "source", "author", "created_at"]
    list_filter = ["source"]
    raw_id_fields = ["record", "author", "job", "round", "supersedes", "adjudicates"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # annotations are immutable; corrections are new rows


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "record", "annotator", "state", "lease_expires_at"]
    list_filter = ["state"]
    raw_id_fields = ["record", "annotator", "annotation"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "record", "author", "flag", "resolved_at", "created_at"]
    list_filter = ["flag"]
    raw_id_fields = ["record", "author", "resolved_by"]
