"""Sessions, the logged-in user and messages run on the admin's paths only."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from servicekit.middleware import (
    AuthenticationMiddleware,
    MessageMiddleware,
    SessionMiddleware,
)


@pytest.mark.parametrize(
    ("path", "admin"),
    [("/admin/", True), ("/admin/login/", True), ("/order", False), ("/health/ready", False)],
)
def test_the_admins_middleware_runs_on_its_paths_only(path, admin):
    seen = {}

    def view(request):
        seen.update(
            session=hasattr(request, "session"),
            user=hasattr(request, "user"),
            messages=hasattr(request, "_messages"),
        )
        return HttpResponse()

    # In MIDDLEWARE's order: sessions outermost, then the user, then messages.
    handler = SessionMiddleware(AuthenticationMiddleware(MessageMiddleware(view)))
    response = handler(RequestFactory().get(path))

    assert response.status_code == 200
    assert seen == {"session": admin, "user": admin, "messages": admin}
