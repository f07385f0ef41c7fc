"""schemathesis hooks of `make fuzz`, loaded by run_schemathesis.py through SCHEMATHESIS_HOOKS.

The HTTP server (granian) answers some requests itself, before Django sees them, with an empty
body: a request line and headers over 48 KiB or more than 100 headers (431; fuzzed queries reach
it by repeating a parameter), a malformed request line or header (400). It has no option for a
JSON body, so the schema documents these answers (servicekit/openapi.py SERVER_ANSWERS). Each
one is written to FUZZ_SERVER_ANSWERS_FILE, and run_schemathesis.py reports how many there were
and which check failures they caused: the checks that expect the API's answer to valid data (a
2xx) cannot pass on a request the API never received. Such failures are dropped from the
verdict, counted and reported; every other failure stands."""

import json
import os

import schemathesis

SERVER_STATUSES = {400, 431}


def is_server_answer(response) -> bool:
    """granian's own answer: one of its statuses, with no body and no Content-Type (the API's
    errors are JSON)."""
    content_type = (response.headers.get("content-type") or [""])[0]  # lowercase keys, lists
    return response.status_code in SERVER_STATUSES and not content_type and not response.content


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
