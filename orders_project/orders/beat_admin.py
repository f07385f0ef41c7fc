"""django-celery-beat's periodic tasks, as this project uses them: beat writes the schedules of
settings.CELERY_BEAT_SCHEDULE into these rows at each start (update_or_create by name), so an
edit made here would be silently undone. Those tasks are shown read-only, with a note saying
where their schedule comes from; they are never added or deleted by hand.
Only the library's public admin API is used: its ModelAdmin, subclassed, and re-registered."""

from django.conf import settings
from django.contrib import admin
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

SCHEDULE_NOTE = (
    "These schedules come from the settings (CELERY_BEAT_SCHEDULE, from the environment: "
    "ORDERS_*_SWEEP_SECONDS). Beat writes them back here at its next start, overwriting any "
    "edit: change the setting and restart beat instead. Running a task now is fine."
)


def from_settings(task: PeriodicTask | None) -> bool:
    return task is not None and task.name in settings.CELERY_BEAT_SCHEDULE


class SettingsScheduledTaskAdmin(PeriodicTaskAdmin):
    # A few sweeps: the columns that say what runs how often and when it last did, and no
    # filters by task or date (the library's defaults wrap the names at 1280 px).
    list_display = ["name", "enabled", "interval", "last_run_at", "total_run_count"]
    list_filter = ["enabled"]
    date_hierarchy = None
    change_list_template = "admin/orders/periodictask_change_list.html"
    change_form_template = "admin/orders/periodictask_change_form.html"

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "schedule_note": SCHEDULE_NOTE}
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "schedule_note": SCHEDULE_NOTE}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        # "regtask" is the form's task picker, not a column: read-only it would only say "None".
        if not from_settings(obj):
            return super().get_fieldsets(request, obj)
        return [
            (title, {**options, "fields": [f for f in options["fields"] if f != "regtask"]})
            for title, options in super().get_fieldsets(request, obj)
        ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return not from_settings(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not from_settings(obj) and super().has_delete_permission(request, obj)


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, SettingsScheduledTaskAdmin)
