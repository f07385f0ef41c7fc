"""Every timestamp field of Payments' answers has six fraction digits, microseconds 0 too."""

import pytest
import yaml
from common.timestamps import (
    assert_fixed_width,
    schema_timestamp_names,
    set_every_timestamp_to_a_whole_second,
    timestamps,
)

pytestmark = pytest.mark.django_db


def test_payment_timestamps_keep_six_fraction_digits_at_microsecond_0(
    auth_client, make_payment, service, settings
):
    settings.PAYMENTS_CONFIRM_PROBABILITY = 1.0  # confirmed, so that it can be refunded
    payment = make_payment()
    assert auth_client.post(f"/payment/{payment.order_number}/refund").status_code == 200
    set_every_timestamp_to_a_whole_second("payments")

    listed = auth_client.get("/payment")
    # The refund again answers with the stored payment, refundedAt included.
    again = auth_client.post(f"/payment/{payment.order_number}/refund")
    found = {**timestamps(listed.json(), "list"), **timestamps(again.json(), "refund")}

    assert listed.status_code == again.status_code == 200
    assert_fixed_width(found)
    assert "refund.refundedAt" in found and "list.results[0].refundedAt" in found
    documented = schema_timestamp_names(yaml.safe_load(service.schema_file.read_text()))
    assert documented == {key.rsplit(".", 1)[1] for key in found}
