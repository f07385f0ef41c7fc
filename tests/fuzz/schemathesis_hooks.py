"""schemathesis hooks of `make fuzz`, loaded by run_schemathesis.py through SCHEMATHESIS_HOOKS.

gunicorn answers some requests itself, before Django sees them, with its own HTML page: a request
line over 4094 bytes (414; fuzzed queries reach it by repeating a parameter), a header over 8190
bytes (431), a malformed request line or header (400). It has no option for a JSON body, so the
schema documents these answers (servicekit/openapi.py SERVER_ANSWERS). Each one is written to
FUZZ_SERVER_ANSWERS_FILE, and run_schemathesis.py reports how many there were and which check
failures they caused: the checks that expect the API's answer to valid data (a 2xx) cannot pass
on a request the API never received. Such failures are dropped from the verdict, counted and
reported; every other failure stands."""

import json
import os

import schemathesis

SERVER_STATUSES = {400, 414, 431}


def is_server_answer(response) -> bool:
    """gunicorn's own page: one of its statuses, in HTML (the API's errors are JSON)."""
    content_type = (response.headers.get("content-type") or [""])[0]  # lowercase keys, lists
    return response.status_code in SERVER_STATUSES and content_type.startswith("text/html")


def _record(**fields) -> None:
    path = os.environ.get("FUZZ_SERVER_ANSWERS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(fields) + "\n")


@schemathesis.hook
def after_call(context, case, response) -> None:
    if response is not None and is_server_answer(response):
        _record(kind="answer", status=response.status_code, operation=case.operation.label)


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    if response is None or not is_server_answer(response):
        return True
    _record(
        kind="failure",
        status=response.status_code,
        operation=case.operation.label,
        title=failure.title,
    )
    return False
