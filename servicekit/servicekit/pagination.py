from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

# The largest value of a BigAutoField: a position past it would overflow PostgreSQL's bigint.
MAX_KEY = 2**63 - 1


class NewestFirstPagination(CursorPagination):
    """Keyset pagination on the primary key: every page costs one index range scan, however
    large the table, and no COUNT(*) is run. The page size is each service's API_PAGE_SIZE."""

    ordering = "-id"
    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "pageSize"
    max_page_size = 500
    cursor_query_description = "Where the page starts: the cursor in `next` or `previous`."
    page_size_query_description = "Results per page; a larger number is capped at 500."

    def get_page_size(self, request) -> int:
        # DRF ignores a malformed pageSize and answers the default page size; a 400 tells the
        # client that its number was not read.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not raw.strip("0"):
            message = f"A whole number from 1 (at most {self.max_page_size} are returned)."
            raise ValidationError({self.page_size_query_param: [message]})
        # len() first: int() refuses a string of more than 4300 digits.
        return self.max_page_size if len(raw) > 6 else min(int(raw), self.max_page_size)

    def decode_cursor(self, request):
        """DRF's decoding, then the whole cursor checked: its position must be a key (a whole
        number in the primary key's range), and the cursor must be exactly the text this list
        hands out for it. DRF passes the position to the query unread, so `p=abc`, `p=`, `p=1.5`
        or a NUL were a ValueError (a 500) there, or a DataError on PostgreSQL."""
        cursor = super().decode_cursor(request)
        if cursor is None:
            return None
        if cursor.position is not None and not self.position_is_valid(cursor.position):
            raise NotFound(self.invalid_cursor_message)
        sent = request.query_params[self.cursor_query_param]
        # encode_cursor() is what DRF puts in `next` and `previous` (base_url is set by now).
        query = urlsplit(self.encode_cursor(cursor)).query
        handed_out = parse_qs(query, keep_blank_values=True).get(self.cursor_query_param)
        if handed_out != [sent]:
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def position_is_valid(self, position: str) -> bool:
        """Whether a decoded position is one this list could hand out: a key, for the id order;
        a list ordered by another column says what its values look like."""
        return (
            position.isascii()
            and position.isdigit()
            and len(position) <= 19
            and str(int(position)) == position  # no leading zero
            and int(position) <= MAX_KEY
        )

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters
