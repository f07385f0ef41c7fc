"""FastPostMixin: a plain JSON POST is answered outside DRF's request cycle, with DRF's rules and
answer; every other request, and every body DRF would refuse, is DRF's to answer."""

import json

import pytest
from django.db import OperationalError
from django.test import RequestFactory
from rest_framework import serializers
from rest_framework.authentication import BasicAuthentication
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.versioning import AcceptHeaderVersioning
from rest_framework.views import APIView

from servicekit.fast_post import FastPostMixin
from servicekit.parsers import ApiJSONParser

BODY = {"name": "Ada"}


class NameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=5)


class NameApi(FastPostMixin, APIView):
    """Tells which path answered: "fast" or "drf"; the same fields either way. As the services
    configure DRF: JSON only, no authentication or permission classes of their own."""

    authentication_classes = []
    permission_classes = []
    parser_classes = [ApiJSONParser]
    renderer_classes = [JSONRenderer]
    failure: Exception | None = None

    def fast_post_serializer(self):
        return NameSerializer()

    def fast_post(self, request, validated_data):
        if self.failure is not None:
            return self.error_response(self.failure)
        return self.json_response({"path": "fast", **validated_data}, status=201)

    def post(self, request):
        body = NameSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response({"path": "drf", **body.validated_data}, status=201)


class NameApiWithAuthentication(NameApi):
    authentication_classes = [BasicAuthentication]


class NameApiWithTwoRenderers(NameApi):
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]  # DRF adds "Vary: Accept"


class NameApiVersioned(NameApi):
    versioning_class = AcceptHeaderVersioning


def post(view=NameApi, body=BODY, path="/names", raw=None, **extra):
    data = raw if raw is not None else json.dumps(body)
    extra.setdefault("content_type", "application/json")
    request = RequestFactory().post(path, data, **extra)
    return view.as_view()(request)


def rendered(response) -> dict:
    if hasattr(response, "render"):
        response.render()
    return json.loads(response.content)


def test_a_plain_json_post_is_answered_outside_drf_with_its_rendering():
    response = post()

    assert response.status_code == 201
    assert rendered(response) == {"path": "fast", "name": "Ada"}
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "POST, OPTIONS"  # as DRF sends it
    assert response.content == b'{"path":"fast","name":"Ada"}'  # DRF's compact JSON


@pytest.mark.parametrize(
    "extra",
    [
        {"path": "/names?format=json"},  # a query: DRF's format override, say
        {"HTTP_ACCEPT": "application/json; indent=4"},  # a rendering only DRF chooses
        {"HTTP_ACCEPT": "text/html, application/json"},
        {"content_type": "application/json; charset=latin-1"},
    ],
    ids=["query", "indent", "accept-list", "charset"],
)
def test_a_post_that_asks_for_drfs_choices_is_drfs(extra):
    response = post(**extra)

    assert response.status_code == 201
    assert rendered(response)["path"] == "drf"


def test_a_charset_of_utf_8_stays_plain():
    assert rendered(post(content_type="application/json; charset=UTF-8"))["path"] == "fast"


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ('{"name": "far too long"}', "application/json"),  # the serializer refuses it
        ("{not json", "application/json"),  # the parser refuses it
        ("name=Ada", "application/x-www-form-urlencoded"),  # not JSON at all
    ],
    ids=["invalid", "malformed", "form"],
)
def test_a_body_drf_refuses_is_refused_by_drf(raw, content_type):
    response = post(raw=raw, content_type=content_type)

    assert response.status_code in {400, 415}
    assert "path" not in rendered(response)


@pytest.mark.parametrize(
    "view",
    [NameApiWithAuthentication, NameApiWithTwoRenderers, NameApiVersioned],
    ids=["access-checks", "two-renderers", "versioned"],
)
def test_a_view_where_drf_would_choose_is_served_by_drf_alone(view):
    response = post(view=view)

    assert rendered(response)["path"] == "drf"


def test_an_error_of_the_fast_path_is_answered_as_drfs_handler_answers_it(monkeypatch):
    monkeypatch.setattr(NameApi, "failure", OperationalError("the server closed the connection"))

    response = post()

    # servicekit.errors turns a database that went away into a 503 the client may retry.
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response["Content-Type"] == "application/json"
    assert rendered(response)["code"] == "service_unavailable"


def test_an_error_drfs_handler_does_not_know_is_raised_for_django_to_answer(monkeypatch):
    monkeypatch.setattr(NameApi, "failure", ZeroDivisionError())

    with pytest.raises(ZeroDivisionError):
        post()
