"""Payment methods: the registry built from PAYMENTS_METHODS, each shipped provider, and the
API's paymentMethod."""

from decimal import Decimal

import pytest
from common.errors import assert_error
from django.core.exceptions import ImproperlyConfigured
from helpers import load_settings

from payments import services
from payments.models import Payment, PaymentStatus
from payments.providers import Charge, registry
from payments.providers.registry import registry_build

pytestmark = pytest.mark.django_db
P = "payments.providers."


def build(config, allow_test_methods=True):
    return registry_build(config, allow_test_methods=allow_test_methods)


# --- the registry -------------------------------------------------------------------------------


def test_registry_bad_class_path_is_a_clear_error_naming_the_method():
    with pytest.raises(ImproperlyConfigured, match=r"\['card'\].*cannot import 'nowhere.Card'"):
        build({"card": {"class": "nowhere.Card"}})


def test_registry_class_that_is_no_provider_is_refused():
    with pytest.raises(ImproperlyConfigured, match="is not a PaymentProvider"):
        build({"card": {"class": "decimal.Decimal"}})


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"confirm_probability": 2}, "from 0 to 1"),
        ({"confirm_probability": "half"}, "from 0 to 1"),
        ({"odds": 0.5}, "unexpected keyword"),
    ],
)
def test_registry_bad_options_are_a_clear_error(options, why):
    with pytest.raises(ImproperlyConfigured, match=rf"\['card'\]: bad options .*{why}"):
        build({"card": {"class": P + "builtin.CardProvider", "options": options}})


@pytest.mark.parametrize(
    "config",
    [{}, [], {"Card!": {"class": P + "builtin.CardProvider"}}, {"card": P + "x"}],
)
def test_registry_malformed_config_is_refused(config):
    with pytest.raises(ImproperlyConfigured, match="PAYMENTS_METHODS"):
        build(config)


def test_registry_refuses_test_methods_unless_allowed():
    config = {"test_confirm": {"class": P + "testing.ConfirmProvider"}}
    with pytest.raises(ImproperlyConfigured, match="PAYMENTS_TEST_METHODS=true"):
        build(config, allow_test_methods=False)
    assert build(config).names() == ["test_confirm"]


def test_settings_production_has_no_test_methods_unless_asked(monkeypatch, tmp_path):
    production = {"DJANGO_ENV": "production", "PAYMENTS_SECRET_KEY": "s", "PAYMENTS_API_TOKEN": "t"}
    loaded = load_settings(monkeypatch, tmp_path, **production)
    assert set(loaded["PAYMENTS_METHODS"]) == {"card", "cash_on_delivery"}
    assert loaded["PAYMENTS_TEST_METHODS"] is False

    asked = load_settings(monkeypatch, tmp_path, **production, PAYMENTS_TEST_METHODS="true")
    assert "test_unavailable_then_confirm" in asked["PAYMENTS_METHODS"]


def test_settings_local_run_has_the_test_methods(monkeypatch, tmp_path):
    loaded = load_settings(monkeypatch, tmp_path)
    assert {"test_confirm", "test_decline", "test_timeout_then_confirm"} <= set(
        loaded["PAYMENTS_METHODS"]
    )


def test_settings_methods_from_the_environment_as_json(monkeypatch, tmp_path):
    config = '{"cash": {"class": "payments.providers.builtin.CashOnDeliveryProvider"}}'
    loaded = load_settings(monkeypatch, tmp_path, PAYMENTS_METHODS=config)
    assert loaded["PAYMENTS_METHODS"] == {"cash": {"class": P + "builtin.CashOnDeliveryProvider"}}
    with pytest.raises(ImproperlyConfigured, match="must be a JSON object"):
        load_settings(monkeypatch, tmp_path, PAYMENTS_METHODS="{nope")


def test_registry_is_rebuilt_when_its_settings_change(settings):
    settings.PAYMENTS_METHODS = {"only": {"class": P + "builtin.CashOnDeliveryProvider"}}
    assert registry().names() == ["only"]


def test_app_ready_fails_at_start_on_a_bad_method(settings):
    from django.apps import apps

    settings.PAYMENTS_METHODS = {"card": {"class": "nowhere.Card"}}
    with pytest.raises(ImproperlyConfigured, match="cannot import"):
        apps.get_app_config("payments").ready()


# --- the providers ------------------------------------------------------------------------------


def charge(method, number="abcd1234"):
    return Charge(number, Decimal("1.00"), method)


def provider(method):
    return registry().get(method).provider


def test_card_provider_follows_its_probability(settings):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0
    assert provider("card").decide(charge("card")).status == "confirmed"
    settings.PAYMENTS_CONFIRM_PROBABILITY = 0.0
    assert provider("card").decide(charge("card")).status == "declined"
    assert provider("card").refund(charge("card")) is True


def test_cash_on_delivery_confirms_and_charges_nothing():
    assert provider("cash_on_delivery").decide(charge("cash_on_delivery")).status == "confirmed"
    assert provider("cash_on_delivery").refund(charge("cash_on_delivery")) is False


def test_test_confirm_and_test_decline():
    assert provider("test_confirm").decide(charge("test_confirm")).status == "confirmed"
    assert provider("test_decline").decide(charge("test_decline")).status == "declined"


def test_unavailable_then_confirm_fails_twice_per_order():
    from payments.providers import ProviderUnavailable

    method = "test_unavailable_then_confirm"
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            provider(method).decide(charge(method))
    assert provider(method).decide(charge(method)).status == "confirmed"
    with pytest.raises(ProviderUnavailable):  # counted per order
        provider(method).decide(charge(method, number="other123"))


def test_timeout_then_confirm_is_late_once_per_order(settings):
    method = "test_timeout_then_confirm"
    first = provider(method).decide(charge(method))
    assert (first.status, first.answer_after_seconds) == ("confirmed", 12.0)
    assert provider(method).decide(charge(method)).answer_after_seconds == 0


# --- the API ------------------------------------------------------------------------------------


def test_payment_methods_lists_the_enabled_ones_without_a_token(api_client):
    response = api_client.get("/payment/methods")

    assert response.status_code == 200
    names = [method["name"] for method in response.json()["results"]]
    assert names == registry().names()
    assert names[:2] == ["card", "cash_on_delivery"]
    assert all(method["description"] for method in response.json()["results"])


def test_payment_post_stores_and_shows_its_method(auth_client, payload):
    response = auth_client.post(
        "/payment", {**payload, "paymentMethod": "test_decline"}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["paymentMethod"], response.json()["status"]) == (
        "test_decline",
        "declined",
    )
    assert Payment.objects.get(order_number=payload["orderNumber"]).method == "test_decline"


def test_payment_post_without_a_method_is_card(auth_client, payload, confirm_always):
    assert auth_client.post("/payment", payload, format="json").json()["paymentMethod"] == "card"


def test_payment_post_unknown_method_is_a_400_listing_the_enabled(auth_client, payload, settings):
    settings.PAYMENTS_METHODS = {"card": {"class": P + "builtin.CardProvider"}}
    response = auth_client.post(
        "/payment", {**payload, "paymentMethod": "test_confirm"}, format="json"
    )

    body = assert_error(response, 400, "invalid", ("paymentMethod",))
    assert "enabled: card." in body["errors"]["paymentMethod"][0]
    assert not Payment.objects.exists()


def test_payment_replay_with_another_method_is_a_409(auth_client, payload):
    first = auth_client.post(
        "/payment", {**payload, "paymentMethod": "test_confirm"}, format="json"
    )
    again = auth_client.post(
        "/payment", {**payload, "paymentMethod": "cash_on_delivery"}, format="json"
    )

    assert first.status_code == 201
    assert_error(again, 409, "payment_conflict", ("paymentMethod",))


def test_payment_post_unavailable_is_a_503_twice_then_confirmed_once(auth_client, payload):
    body = {**payload, "paymentMethod": "test_unavailable_then_confirm"}

    answers = [auth_client.post("/payment", body, format="json") for _ in range(4)]

    assert_error(answers[0], 503, "payment_unavailable")
    assert_error(answers[1], 503, "payment_unavailable")
    assert [answer.status_code for answer in answers[2:]] == [201, 200]
    assert Payment.objects.filter(order_number=payload["orderNumber"]).count() == 1


def test_payment_batch_unavailable_is_an_item_error_the_others_are_decided(
    auth_client, payload, order_number
):
    slow = {**payload, "paymentMethod": "test_unavailable_then_confirm"}
    fine = {**payload, "orderNumber": order_number(), "paymentMethod": "test_confirm"}

    response = auth_client.post("/payment/batch", {"payments": [slow, fine]}, format="json")

    first, second = response.json()["results"]
    assert response.status_code == 200
    assert first["error"]["code"] == "payment_unavailable"
    assert first["orderNumber"] == slow["orderNumber"]
    assert (second["status"], second["paymentMethod"]) == ("confirmed", "test_confirm")


def test_payment_timeout_method_stores_first_and_answers_late(monkeypatch, payload):
    slept = []

    def sleep(seconds):
        # The payment is committed before the late answer: the caller that gives up was charged.
        assert Payment.objects.filter(order_number=payload["orderNumber"]).exists()
        slept.append(seconds)

    monkeypatch.setattr(services.time, "sleep", sleep)
    args = {"order_number": payload["orderNumber"], "name": "A", "address": "B"}
    first, created = services.payment_create(
        **args, amount=Decimal(1), method="test_timeout_then_confirm"
    )
    again, created_again = services.payment_create(
        **args, amount=Decimal(1), method="test_timeout_then_confirm"
    )

    assert slept == [12.0]
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk and first.status == PaymentStatus.CONFIRMED


def test_refund_of_cash_on_delivery_answers_nothing_was_charged(auth_client, payload):
    auth_client.post("/payment", {**payload, "paymentMethod": "cash_on_delivery"}, format="json")

    response = auth_client.post(f"/payment/{payload['orderNumber']}/refund")

    body = assert_error(response, 409, "payment_not_refundable")
    assert "nothing was charged" in body["message"]
    assert Payment.objects.get(order_number=payload["orderNumber"]).status == "confirmed"
