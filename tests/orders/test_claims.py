"""Claims of a worker that died (orders/claims.py): who holds a charger's claim, and how a
worker's start gives back the claims of runs that are gone, so their orders are charged at once
instead of when the claim's clock runs out. Payments is mocked at the HTTP boundary."""

from datetime import timedelta

import pytest
from celery import signals
from django.utils import timezone
from helpers import batch_echo, batch_item, batch_refuse_all, charge

from orders import claims
from orders.models import Order, OrderState

pytestmark = pytest.mark.django_db

NODE, OTHER_NODE = "celery@orders-worker-1", "celery@orders-worker-2"


@pytest.fixture(autouse=True)
def worker_run(monkeypatch):
    """This test process plays a worker process: its own run record, forgotten afterwards."""
    monkeypatch.setattr(claims, "_run", {"node": "", "token": ""})


def claimed_by_a_run(make_order, http, batch_url, *, node: str = NODE) -> tuple[Order, str]:
    """An order claimed by a charger in a run of `node`, its claim held (Payments refused it,
    which leaves the claim to its clock), and Payments answering normally from now on."""
    claims.claimant_start(node=node)
    order = make_order()
    http.add_callback("POST", batch_url, callback=batch_refuse_all())
    charge()
    http.add_callback("POST", batch_url, callback=batch_echo())
    order.refresh_from_db()
    assert order.state == OrderState.CREATED
    assert order.payment_requested_at > timezone.now() + timedelta(seconds=60)
    return order, claims.claimant()


def test_claim_records_the_worker_run_that_holds_it(make_order, http, batch_url):
    order, run = claimed_by_a_run(make_order, http, batch_url)

    assert order.payment_claimed_by == run
    assert run.startswith(f"{NODE} ")


def test_each_start_of_a_worker_is_another_run():
    claims.claimant_start(node=NODE)
    first = claims.claimant()
    claims.claimant_start(node=NODE)

    assert claims.claimant() != first
    assert claims.claimant().split(" ")[0] == NODE


def test_a_claim_outside_a_worker_names_nobody(make_order, http, batch_url):
    order = make_order()
    http.add_callback("POST", batch_url, callback=batch_refuse_all())
    charge()

    order.refresh_from_db()
    assert order.payment_claimed_by == ""
    assert claims.orders_release_claims_of_gone_workers(ready="", live_nodes=set()) == 0


def test_restart_in_place_gives_back_the_dead_runs_claims_and_charges_them_once(
    make_order, http, batch_url
):
    order, dead_run = claimed_by_a_run(make_order, http, batch_url)
    calls_before = len(http.calls)
    claims.claimant_start(node=NODE)  # the same node name, restarted by its supervisor
    assert claims.claimant() != dead_run

    released = claims.orders_release_claims_of_gone_workers(
        ready=claims.claimant(), live_nodes={NODE}
    )

    assert released == 1
    order.refresh_from_db()
    assert order.state == OrderState.CONFIRMED
    assert len(http.calls) == calls_before + 1
    history = list(order.history.values_list("from_state", "to_state"))
    assert history == [(None, "created"), ("created", "confirmed")]


def test_a_node_that_no_longer_answers_has_its_claims_given_back(make_order, http, batch_url):
    order, _ = claimed_by_a_run(make_order, http, batch_url, node=OTHER_NODE)
    claims.claimant_start(node=NODE)  # another node: the replacement pod, say

    released = claims.orders_release_claims_of_gone_workers(
        ready=claims.claimant(), live_nodes={NODE}
    )

    assert released == 1
    order.refresh_from_db()
    assert order.state == OrderState.CONFIRMED


def test_the_claims_of_a_live_worker_are_kept(make_order, http, batch_url):
    order, run = claimed_by_a_run(make_order, http, batch_url, node=OTHER_NODE)
    claimed_until = order.payment_requested_at
    calls_before = len(http.calls)
    claims.claimant_start(node=NODE)

    released = claims.orders_release_claims_of_gone_workers(
        ready=claims.claimant(), live_nodes={NODE, OTHER_NODE}
    )

    assert released == 0
    order.refresh_from_db()
    assert (order.state, order.payment_requested_at) == (OrderState.CREATED, claimed_until)
    assert order.payment_claimed_by == run
    assert len(http.calls) == calls_before


def test_the_ready_runs_own_claims_are_kept(make_order, http, batch_url):
    order, run = claimed_by_a_run(make_order, http, batch_url)

    # The worker that is up now already claimed it (its ready signal came late): not gone.
    assert claims.orders_release_claims_of_gone_workers(ready=run, live_nodes=set()) == 0
    order.refresh_from_db()
    assert order.payment_claimed_by == run


@pytest.mark.parametrize("state", [OrderState.CONFIRMED, OrderState.CANCELLED])
def test_orders_no_longer_created_are_left_alone(make_order, http, batch_url, state):
    order, _ = claimed_by_a_run(make_order, http, batch_url)
    Order.objects.filter(pk=order.pk).update(state=state)
    claims.claimant_start(node=NODE)

    assert (
        claims.orders_release_claims_of_gone_workers(ready=claims.claimant(), live_nodes={NODE})
        == 0
    )


def test_a_given_back_order_answered_as_a_replay_transitions_once(make_order, http, batch_url):
    # The dead run's call had reached Payments: the second call is answered with the stored
    # payment (replayed), and the order
    # transitions once.
    order, _ = claimed_by_a_run(make_order, http, batch_url)
    stored = batch_item(order.number, "confirmed", replayed=True)
    http.remove("POST", batch_url)
    http.add("POST", batch_url, json={"results": [stored]})
    claims.claimant_start(node=NODE)

    claims.orders_release_claims_of_gone_workers(ready=claims.claimant(), live_nodes={NODE})
    charge()  # a wake-up delivered twice finds nothing more to do

    order.refresh_from_db()
    assert order.state == OrderState.CONFIRMED
    confirmed = order.history.filter(to_state=OrderState.CONFIRMED)
    assert confirmed.count() == 1
    assert stored["transactionId"] in confirmed.get().reason


class Started:
    """What the signals' sender offers: the worker (worker_init), its consumer (worker_ready)."""

    def __init__(self, hostname: str):
        self.hostname = hostname


def test_a_worker_start_gives_back_the_claims_of_its_dead_run(
    make_order, http, batch_url, monkeypatch
):
    """The signals a worker sends as it starts (worker_init, then worker_ready) queue the
    release, which pings the workers over the broker (here: the new run alone answers)."""
    order, _ = claimed_by_a_run(make_order, http, batch_url)
    pinged = []

    def live_workers(*, timeout):
        pinged.append(timeout)
        return {NODE}

    monkeypatch.setattr(claims, "live_workers", live_workers)

    signals.worker_init.send(sender=Started(NODE))
    signals.worker_ready.send(sender=Started(NODE))

    assert pinged == [claims.LIVE_WORKERS_PING_SECONDS]
    order.refresh_from_db()
    assert order.state == OrderState.CONFIRMED
    assert order.payment_claimed_by.split(" ")[0] == NODE
