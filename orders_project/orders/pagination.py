from django.conf import settings
from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    """Keyset pagination on the primary key: every page costs one index range scan, however
    large the table, and no COUNT(*) is run."""

    ordering = "-id"
    page_size = settings.ORDERS_PAGE_SIZE
    page_size_query_param = "pageSize"
    max_page_size = 500
