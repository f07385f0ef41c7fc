"""The admission gate (servicekit/admission.py): a request runs with a working slot's database
connections, waits for a slot within the deadline, or is shed at once with a 503 in the JSON
error shape."""

import json
import threading
import time

import pytest
from django.db import connection, connections

from servicekit import admission, webserver
from servicekit.admission import AdmissionGate


class Held:
    """A WSGI application that answers 200 with the id of the database connection object it was
    given, after `release` is set (for the requests told to HOLD)."""

    def __init__(self):
        self.release = threading.Event()
        self.running = threading.Semaphore(0)

    def __call__(self, environ, start_response):
        if environ.get("HOLD"):
            self.running.release()
            self.release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(id(connections["default"])).encode()]


class Answer:
    def __init__(self):
        self.status = self.headers = None

    def __call__(self, status, headers, exc_info=None):
        self.status, self.headers = status, dict(headers)


def call(gate, path="/order", **environ):
    answer = Answer()
    body = b"".join(gate({"PATH_INFO": path, "REQUEST_METHOD": "POST", **environ}, answer))
    return answer, body


def in_background(gate, path="/order", **environ):
    thread = threading.Thread(target=call, args=(gate, path), kwargs=environ, daemon=True)
    thread.start()
    return thread


def hold(gate, app, count, path="/order"):
    """`count` requests running and held on `path`'s lane."""
    threads = [in_background(gate, path, HOLD=1) for _ in range(count)]
    for _ in range(count):
        assert app.running.acquire(timeout=5)
    return threads


@pytest.fixture
def app():
    held = Held()
    yield held
    held.release.set()


def test_a_request_runs_with_its_slots_database_connection_not_its_threads_own(app):
    gate = AdmissionGate(app, slots=1, queue_length=2, timeout=0.5)

    answer, body = call(gate)
    _, again = call(gate)

    assert answer.status == "200 OK"
    assert body == again  # the slot's, reused
    assert body != str(id(connections["default"])).encode()  # not this thread's own


def test_a_full_gate_answers_a_fast_503_with_retry_after_in_the_json_error_shape(app):
    gate = AdmissionGate(app, slots=1, queue_length=0, timeout=5)
    hold(gate, app, 1)

    started = time.monotonic()
    answer, body = call(gate)

    assert time.monotonic() - started < 0.5  # no wait at all: the line has no room
    assert answer.status.startswith("503")
    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["Content-Type"] == "application/json"
    assert int(answer.headers["Content-Length"]) == len(body)
    assert json.loads(body) == {
        "code": "overloaded",
        "message": "The service is busy; retry after the time Retry-After gives.",
        "errors": {},
    }


def test_a_waiting_request_is_shed_at_its_deadline(app):
    gate = AdmissionGate(app, slots=1, queue_length=4, timeout=0.2)
    hold(gate, app, 1)

    started = time.monotonic()
    answer, _ = call(gate)

    assert 0.15 < time.monotonic() - started < 2
    assert answer.status.startswith("503")


def test_a_waiting_request_gets_the_slot_freed_before_its_deadline(app):
    gate = AdmissionGate(app, slots=1, queue_length=4, timeout=5)
    hold(gate, app, 1)
    threading.Timer(0.2, app.release.set).start()

    answer, _ = call(gate)

    assert answer.status == "200 OK"


def test_waiting_requests_get_the_freed_slots_in_the_order_they_came():
    served = []
    release = threading.Event()

    def app(environ, start_response):
        if environ.get("HOLD"):
            release.wait(5)
        served.append(environ.get("NAME"))
        start_response("200 OK", [])
        return [b""]

    gate = AdmissionGate(app, slots=1, queue_length=8, timeout=5)
    threads = [in_background(gate, HOLD=1)]
    for name in "abcd":
        time.sleep(0.1)  # each one in the line before the next comes
        threads.append(in_background(gate, NAME=name))
    release.set()
    for thread in threads:
        thread.join(5)

    assert served == [None, "a", "b", "c", "d"]


def test_probes_have_a_lane_of_their_own_that_the_apis_load_does_not_fill(app):
    gate = AdmissionGate(app, slots=1, queue_length=0, timeout=0.1)
    hold(gate, app, 1)
    assert call(gate)[0].status.startswith("503")

    for path in ("/health/ready", "/health/live", "/metrics"):
        assert call(gate, path)[0].status == "200 OK", path


def test_liveness_is_answered_while_a_readiness_probe_holds_the_probes_lane(app):
    """A readiness probe may wait on a database that does not answer; liveness must not wait
    behind it, or the pod is restarted during the outage."""
    gate = AdmissionGate(app, slots=1, queue_length=0, timeout=0.1)
    hold(gate, app, 1, path="/health/ready")
    assert call(gate, "/health/ready")[0].status.startswith("503")

    assert call(gate, "/health/live")[0].status == "200 OK"
    app.release.set()


def test_however_many_threads_call_the_gate_the_application_uses_the_slots_connections(app):
    """Django keeps a database connection per thread that used it: however many server threads
    call the gate, the application sees only `slots` connection objects."""
    gate = AdmissionGate(app, slots=2, queue_length=64, timeout=5)
    names = set()
    lock = threading.Lock()

    def many():
        for _ in range(20):
            _, body = call(gate)
            with lock:
                names.add(body)

    threads = [threading.Thread(target=many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert 1 <= len(names) <= 2


def test_an_exception_of_the_application_reaches_the_server(app):
    def broken(environ, start_response):
        raise RuntimeError("boom")

    gate = AdmissionGate(broken, slots=1, queue_length=0, timeout=0.1)

    for _ in range(2):  # the slot was given back: the second runs too, rather than a 503
        with pytest.raises(RuntimeError, match="boom"):
            call(gate)


def test_the_server_runs_threads_for_the_slots_the_line_and_the_sheds(monkeypatch, tmp_path):
    monkeypatch.setenv("WEB_THREADS", "4")
    monkeypatch.setenv("WEB_QUEUE_LENGTH", "10")
    monkeypatch.setenv("WEB_QUEUE_TIMEOUT_MS", "250")

    gate = AdmissionGate.from_environment(lambda environ, start_response: [])

    assert webserver.server_options(tmp_path)["blocking_threads"] == 4 + 4 + 10 + 1 + 4
    assert (gate.api.queue_length, gate.api.timeout) == (10, 0.25)
    assert admission.server_threads() > admission.working_slots()


@pytest.mark.django_db(transaction=True)
def test_the_probes_lane_closes_its_database_connection_after_each_probe():
    """So that a process holds WEB_THREADS connections between probes, however many lanes."""
    if connection.vendor == "sqlite":
        pytest.skip("Django keeps an in-memory test database open (SERVICEKIT_DATABASE_URL)")
    used = {}

    def ready(environ, start_response):
        used[environ["PATH_INFO"]] = wrapper = connections["default"]  # the slot's
        wrapper.ensure_connection()
        start_response("200 OK", [])
        return [b""]

    gate = AdmissionGate(ready, slots=1, queue_length=0, timeout=0.1)

    call(gate, "/health/ready")
    call(gate, "/order")

    assert used["/health/ready"].connection is None  # closed
    assert used["/order"].connection is not None  # kept, as CONN_MAX_AGE says
    used["/order"].close()


def test_a_slot_whose_connection_fails_to_close_is_given_back_all_the_same(monkeypatch):
    lane = admission.Lane("probes", slots=1, queue_length=0, timeout=0.1, probes=True)
    lane.run(lambda: None)  # the slot makes its connection objects
    (slot,) = lane._free

    def close_fails():
        raise RuntimeError("the socket is gone")

    monkeypatch.setattr(slot.databases["default"], "close", close_fails)
    with pytest.raises(RuntimeError):
        lane.run(lambda: "served")

    monkeypatch.undo()
    assert lane.run(lambda: "served") == ("served", 0.0)  # the one slot came back
