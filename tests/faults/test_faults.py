"""Nothing lost, nothing charged twice, no illegal state: the real processes, broken on purpose
while orders keep coming in. Each scenario waits (bounded) until every order settled, then
counts violations in both databases; every count must be zero."""

import random
import threading
import time
from collections import Counter

from fault_checks import clean_orders, race_outcomes
from fault_load import OrderLoad, cancel_race

WARM_UP_SECONDS = 1.5
COOL_DOWN_SECONDS = 2
BURST = 40


def describe(counts: Counter) -> str:
    return ", ".join(f"{n}x {what}" for what, n in sorted(counts.items()))


def test_faults_payments_down_for_10s_recovers_every_order(system, scenario):
    sc = scenario("1 Payments SIGKILLed, back after 10 s")
    with OrderLoad(system.orders_url) as load:
        time.sleep(WARM_UP_SECONDS)
        system.processes.kill("payments")
        time.sleep(10)
        system.start_payments()
        sc.fault_over()
        time.sleep(COOL_DOWN_SECONDS)
    sc.settle(load)
    sc.assert_clean()


def test_faults_worker_killed_mid_batch_recovers_every_order(system, scenario):
    sc = scenario("2 worker SIGKILLed mid-batch")
    with OrderLoad(system.orders_url) as load:
        time.sleep(WARM_UP_SECONDS)
        load.burst(BURST)
        queued, unacked = system.broker_backlog()
        system.processes.kill("worker")
        sc.note(f"killed with {unacked} tasks taken and {queued} waiting")
        system.start_worker()
        sc.fault_over()
        time.sleep(COOL_DOWN_SECONDS)
    sc.settle(load)
    sc.assert_clean()


def test_faults_redis_restart_loses_queue_but_no_order(system, scenario):
    sc = scenario("3 Redis SIGKILLed, restarted empty")
    with OrderLoad(system.orders_url) as load:
        time.sleep(WARM_UP_SECONDS)
        load.burst(BURST)
        confirmed = [
            number
            for number, order in system.databases.snapshot().orders.items()
            if order.id > sc.since_order_id and order.state == "confirmed"
        ][:10]
        queued, unacked = system.broker_backlog()
        system.processes.kill("redis")
        killed_at = time.monotonic()
        sc.note(f"{queued} queued and {unacked} taken messages dropped")
        # Cancelled while the broker is away: their refunds cannot be queued now.
        answers = Counter(load.cancel(number) for number in confirmed)
        sc.note("confirmed orders cancelled meanwhile: " + describe(answers))
        time.sleep(max(0.0, 2 - (time.monotonic() - killed_at)))
        system.start_redis()
        sc.fault_over()
        time.sleep(COOL_DOWN_SECONDS)
    sc.settle(load)
    states = Counter(sc.snapshot.orders[number].state for number in confirmed)
    sc.note("now " + describe(states))
    sc.assert_clean(refusals_expected=True)


def test_faults_database_connections_killed_recovers_every_order(system, scenario):
    sc = scenario("4 every DB connection terminated x3")
    with OrderLoad(system.orders_url) as load:
        time.sleep(WARM_UP_SECONDS)
        burst = threading.Thread(target=load.burst, args=(BURST,))
        burst.start()
        killed = 0
        for _ in range(3):
            killed += system.terminate_database_connections()
            time.sleep(0.7)
        burst.join()
        sc.fault_over()
        sc.note(f"{killed} connections terminated")
        time.sleep(COOL_DOWN_SECONDS)
    sc.settle(load)
    sc.assert_clean(refusals_expected=True)


def test_faults_cancel_races_payment_without_illegal_state(system, scenario):
    sc = scenario("5 200 cancel-vs-payment races")
    # The races are the load: two at a time keep the worker's queue short, so that the payment
    # task runs within the cancel's 0-60 ms and either may come first.
    load = OrderLoad(system.orders_url)
    answers, numbers = cancel_race(load, 200, threads=2)
    sc.fault_over()
    sc.note("cancels answered " + describe(answers))
    sc.settle(load)
    outcomes = race_outcomes(sc.snapshot, numbers)
    sc.note("races: " + describe(outcomes))
    assert set(answers) <= {"cancel 200", "cancel 409"}, answers
    sc.assert_clean()


def test_faults_payment_task_delivered_twice_charges_once(system, scenario):
    sc = scenario("6 every payment task sent twice more")
    earlier = clean_orders(system.databases.snapshot(), system.allowed)
    sc.extra = set(random.sample(earlier, min(100, len(earlier))))
    sent = 0
    with OrderLoad(system.orders_url) as load:
        for number in sc.extra:
            system.send_payment_task(number)
            system.send_payment_task(number)
            sent += 2
        seen = 0
        stop_at = time.monotonic() + 6
        while time.monotonic() < stop_at:
            current = list(load.created)
            for number in current[seen:]:
                system.send_payment_task(number)
                system.send_payment_task(number)
                sent += 2
            seen = len(current)
            time.sleep(0.05)
    for number in load.created[seen:]:
        system.send_payment_task(number)
        system.send_payment_task(number)
        sent += 2
    sc.fault_over()
    sc.note(f"{sent} extra request_payment tasks, {len(sc.extra)} for settled orders")
    sc.settle(load)
    sc.assert_clean()
