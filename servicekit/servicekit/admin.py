"""The admin both services show: records to read, never typed in by hand."""

from django.contrib import admin

# Django's navigation sidebar takes 300 of a 1280 px screen, and the lists need them: with it
# the change list's last column is cut off and names wrap. The breadcrumbs and the home page
# still lead everywhere. Each service's admin.py imports this module, so it holds for both.
admin.site.enable_nav_sidebar = False


class ViewOnlyAdmin(admin.ModelAdmin):
    """A model's rows change only through its services (the API, an admin action that calls a
    service), so the admin neither adds, edits nor deletes them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
