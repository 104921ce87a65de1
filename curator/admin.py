from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from curator.models import AuditEvent, Job, LineageEdge, Membership, Project, Record, Round, User


@admin.register(User)
class CuratorUserAdmin(UserAdmin):
    pass


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "task_type", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Record)
class RecordAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "split", "origin", "priority", "created_at"]
    list_filter = ["split", "origin"]
    raw_id_fields = ["created_by_job", "round"]
    show_full_result_count = False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "status", "created_at", "finished_at"]
    list_filter = ["kind", "status"]


@admin.register(Round)
class RoundAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "kind", "status", "created_at"]
    # Only curator.services.round_lifecycle moves a round; the admin shows its status.
    readonly_fields = ["status", "kind"]


@admin.register(LineageEdge)
class LineageEdgeAdmin(admin.ModelAdmin):
    list_display = ["parent", "child", "operation", "job"]
    raw_id_fields = ["parent", "child", "job"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "project", "action", "target"]
    list_filter = ["action"]
    search_fields = ["target", "actor__username"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
