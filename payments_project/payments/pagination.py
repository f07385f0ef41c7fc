"""The list of payments changed since a moment: what a reconciler reads (Orders' one)."""

from datetime import datetime

from servicekit.pagination import NewestFirstPagination


class OldestChangedFirstPagination(NewestFirstPagination):
    """GET /payment/?updatedSince=: the payments changed since then, the least recently changed
    first, on the (updated_at, id) index. A payment that changes while a reader pages through
    (a refund) moves to the end of the list and is seen again, never skipped: what a
    reconciler that follows `next` to the last page wants."""

    ordering = ("updated_at", "id")

    def position_is_valid(self, position: str) -> bool:
        # The position is an updated_at here: a forged one that is not a time would reach the
        # database's parser and fail there, so it is a cursor this list never gave.
        try:
            datetime.fromisoformat(position)
        except ValueError:
            return False
        return True
