from django.conf import settings
from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    """Keyset pagination on the primary key: no COUNT(*), same cost on every page."""

    ordering = "-id"
    page_size = settings.PAYMENTS_PAGE_SIZE
    page_size_query_param = "pageSize"
    max_page_size = 500
