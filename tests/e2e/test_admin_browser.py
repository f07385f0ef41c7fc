"""The Orders admin in a real browser: headless Chromium (Debian's package) driven by
Playwright logs in, finds an order, and shows its state history. The screenshot is kept in
artifacts/screenshots/ for CI."""

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
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
ADMIN_PASSWORD = "e2e-admin-password"
ENSURE_ADMIN = (
    "from django.contrib.auth import get_user_model; "
    "user, _ = get_user_model().objects.get_or_create(username='admin', "
    "defaults={'is_staff': True, 'is_superuser': True}); "
    f"user.set_password('{ADMIN_PASSWORD}'); user.save()"
)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed: run `make browser-deps` (Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_admin_login_shows_an_order_and_its_state_history(stack, browser):
    number = create_order(stack)["orderNumber"]
    state = wait_for_state(stack, number, {"confirmed", "cancelled", "delivered"})
    stack.manage("orders_project", "shell", "-c", ENSURE_ADMIN)
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    page.goto(f"{stack.orders_url}/admin/orders/order/?q={number}")
    expect(page).to_have_url(
        f"{stack.orders_url}/admin/login/?next=/admin/orders/order/%3Fq%3D{number}"
    )
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")

    expect(page.locator("#result_list")).to_contain_text(number)
    page.click(f"#result_list a:text-is('{number}')")
    history = page.locator("#history-group")
    expect(history).to_contain_text("order created")
    expect(history).to_contain_text("confirmed" if state != "cancelled" else "payment declined")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "orders-admin-order.png", full_page=True)
    page.close()
