"""Every timestamp field of Orders' answers has six fraction digits, microseconds 0 too."""

import pytest
import yaml
from common.timestamps import (
    assert_fixed_width,
    schema_timestamp_names,
    set_every_timestamp_to_a_whole_second,
    timestamps,
)
from django.utils import timezone

from orders.models import (
    RECONCILIATION_CHECKPOINT,
    OrderEvent,
    OrderEventKind,
    OrderState,
    ReconciliationCheckpoint,
)

pytestmark = pytest.mark.django_db


def test_order_timestamps_keep_six_fraction_digits_at_microsecond_0(
    api_client, make_order, service
):
    order = make_order(OrderState.CONFIRMED)
    OrderEvent.objects.create(order=order, kind=OrderEventKind.NOTE, detail="d", actor="test")
    ReconciliationCheckpoint.objects.create(
        name=RECONCILIATION_CHECKPOINT, checked_up_to=timezone.now(), last_run_at=timezone.now()
    )
    set_every_timestamp_to_a_whole_second("orders")

    found = {}
    paths = ("/order", f"/order/{order.number}", f"/order/status/{order.number}", "/health/ready")
    for path in paths:
        response = api_client.get(path)
        assert response.status_code == 200
        found |= {f"{path}{key}": value for key, value in timestamps(response.json()).items()}

    assert_fixed_width(found)
    assert any(".events[0].at" in key for key in found)
    assert any(".history[0].at" in key for key in found)
    documented = schema_timestamp_names(yaml.safe_load(service.schema_file.read_text()))
    assert documented == {key.rsplit(".", 1)[1] for key in found}
