"""The admin in a real browser, as an operator at a 1280 px screen sees it: headless Chromium
(Debian's package) driven by Playwright logs in to both services, cancels orders with the admin
action, and looks at every page an operator works in. Each page's screenshot is kept in
artifacts/screenshots/ (for CI, and for a person to look at); the checks say what a person
would otherwise have to spot on it: a cut-off column, a cell wrapped onto several lines, a time
without its seconds."""

import re
import shutil
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright
from test_scenario import create_order, wait_for_state

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# This machine has no network: without these, Chromium keeps trying to reach Google.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
ADMIN_PASSWORD = "e2e-admin-password"
ENSURE_ADMIN = (
    "from django.contrib.auth import get_user_model; "
    "user, _ = get_user_model().objects.get_or_create(username='admin', "
    "defaults={'is_staff': True, 'is_superuser': True}); "
    f"user.set_password('{ADMIN_PASSWORD}'); user.save()"
)
TIME_TO_THE_SECOND = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")

# The cells of the change list whose text runs onto more than one line (their class names).
WRAPPED_CELLS = """() => [...document.querySelectorAll('#result_list tbody :is(td, th)')]
    .filter(cell => {
        const range = document.createRange();
        range.selectNodeContents(cell);
        const tops = [...range.getClientRects()].map(rect => rect.top);
        return tops.length && Math.max(...tops) - Math.min(...tops) > 8;
    })
    .map(cell => cell.className)"""
# How many pixels the change list is wider than the room it has (0: every column is seen).
OVERFLOW = """() => {
    const results = document.querySelector('#changelist-form .results');
    return Math.max(results.scrollWidth - results.clientWidth,
                    document.documentElement.scrollWidth - window.innerWidth);
}"""


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed: run `make browser-deps` (Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def admins(stack):
    for project in ("orders_project", "payments_project"):
        stack.manage(project, "shell", "-c", ENSURE_ADMIN)


@pytest.fixture
def page(browser, admins):
    page = browser.new_page(viewport=VIEWPORT)
    yield page
    page.close()


def log_in(page: Page, base_url: str, path: str) -> None:
    page.goto(f"{base_url}{path}")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    expect(page).to_have_url(f"{base_url}{path}")


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=True)


def assert_change_list_fits(page: Page) -> None:
    assert page.evaluate(OVERFLOW) <= 0, "the list is wider than the screen: columns are cut"
    assert page.evaluate(WRAPPED_CELLS) == [], "cells wrapped onto several lines"


def confirmed_order(stack) -> str:
    """An order whose payment was confirmed: it can be cancelled until it is delivered."""
    for _ in range(30):
        number = create_order(stack)["orderNumber"]
        if wait_for_state(stack, number, {"confirmed", "cancelled"}) == "confirmed":
            return number
    pytest.fail("no payment was confirmed in 30 orders")


def row(page: Page, number: str):
    return page.locator("#result_list tbody tr", has=page.locator(f"a:text-is('{number}')"))


def cancel_in_the_admin(page: Page, stack, numbers: list[str]) -> None:
    page.goto(f"{stack.orders_url}/admin/orders/order/")
    for number in numbers:
        row(page, number).locator("input.action-select").check()
    page.select_option("select[name=action]", "cancel_orders")
    page.click("button[name=index]")


def wait_for_event(page: Page, text: str, timeout: float = 30) -> None:
    """Reload the order's page until its events show `text` (a refund is asynchronous)."""
    deadline = time.monotonic() + timeout
    while text not in page.locator("#events-group").inner_text():
        assert time.monotonic() < deadline, f"no event {text!r} after {timeout} s"
        time.sleep(0.5)
        page.reload()


def test_admin_orders_cancel_action_history_and_events(stack, page):
    # Final before the action: delivered, or cancelled by a declined payment.
    finished = create_order(stack)["orderNumber"]
    finished_state = wait_for_state(stack, finished, {"cancelled", "delivered"}, timeout=40)
    log_in(page, stack.orders_url, "/admin/orders/order/")

    # Cancelled in the admin while confirmed; delivery may beat us to it on a slow machine:
    # then the action said why (already delivered), and another order is tried.
    for _ in range(5):
        number = confirmed_order(stack)
        cancel_in_the_admin(page, stack, [number, finished])
        success = page.locator("ul.messagelist li.success")
        if success.filter(has_text=number).count():
            break
    else:
        pytest.fail("every confirmed order was delivered before the admin could cancel it")

    expect(success).to_have_text(f"Order {number} cancelled.")
    expect(page.locator("ul.messagelist li.warning")).to_contain_text(
        f"Order {finished} not cancelled: it is {finished_state} already."
    )
    expect(row(page, number).locator("td.field-state")).to_have_text("Cancelled")
    expect(page.locator("#changelist-filter")).to_contain_text("By created at")
    assert TIME_TO_THE_SECOND.search(row(page, number).locator("td.field-created_at").inner_text())
    screenshot(page, "orders-admin-list.png")
    assert_change_list_fits(page)

    page.fill("#searchbar", "analytical st")  # the address every e2e order has
    page.press("#searchbar", "Enter")
    expect(row(page, number)).to_have_count(1)

    page.goto(f"{stack.orders_url}/admin/orders/order/?q={number}")
    page.click(f"#result_list a:text-is('{number}')")
    history, events = page.locator("#history-group"), page.locator("#events-group")
    expect(history).to_contain_text("order created")
    expect(history).to_contain_text("cancelled by an operator")
    wait_for_event(page, "payment refunded")
    expect(events).to_contain_text("cancelled in the admin (was confirmed)")
    expect(events.locator("td.field-actor").first).to_have_text("admin")
    expect(history.locator("td.original p").first).to_be_hidden()  # only repeats the row
    for cell in page.locator("td.field-created_at").all():
        assert TIME_TO_THE_SECOND.fullmatch(cell.inner_text().strip()), cell.inner_text()
    screenshot(page, "orders-admin-order.png")

    page.click("a.historylink")
    expect(page.locator("#change-history")).to_contain_text(
        "Cancelled by admin (Cancel selected orders)."
    )
    assert TIME_TO_THE_SECOND.search(page.locator("#change-history tbody th").first.inner_text())
    screenshot(page, "orders-admin-order-history.png")


def test_admin_payments_list_with_a_refund(stack, page):
    number = confirmed_order(stack)
    cancelled = requests.put(f"{stack.orders_url}/order/cancel/{number}", timeout=5)
    assert cancelled.status_code == 200, cancelled.text
    log_in(page, stack.payments_url, "/admin/payments/payment/")

    deadline = time.monotonic() + 30
    while not row(page, number).locator("td.field-status:text-is('Refunded')").count():
        assert time.monotonic() < deadline, f"payment {number} was not refunded in 30 s"
        time.sleep(0.5)
        page.reload()

    transaction = row(page, number).locator("td.field-short_transaction_id")
    expect(transaction).to_have_text(re.compile(r"^[0-9a-f]{8}…$"))
    assert TIME_TO_THE_SECOND.search(row(page, number).locator("td.field-refunded_at").inner_text())
    expect(page.locator("#changelist-filter")).to_contain_text("Refunded")
    screenshot(page, "payments-admin-list.png")
    assert_change_list_fits(page)

    page.click("#changelist-filter a:text-is('Refunded')")
    expect(row(page, number)).to_have_count(1)
    expect(page.locator("td.field-status:not(:text-is('Refunded'))")).to_have_count(0)


def test_admin_periodic_tasks_say_their_schedule_comes_from_the_settings(stack, page):
    log_in(page, stack.orders_url, "/admin/django_celery_beat/periodictask/")

    expect(page.locator(".schedule-note")).to_contain_text("come from the settings")
    expect(page.locator("#result_list")).to_contain_text("orders.deliver-due-orders")
    expect(page.locator("a.addlink")).to_have_count(0)  # nobody adds one by hand
    screenshot(page, "periodic-tasks-admin-list.png")
    assert_change_list_fits(page)

    page.click("#result_list a:text-is('orders.deliver-due-orders')")
    expect(page.locator(".schedule-note")).to_contain_text("overwriting any edit")
    expect(page.locator("input[name=_save]")).to_have_count(0)  # view only
    screenshot(page, "periodic-tasks-admin-task.png")
