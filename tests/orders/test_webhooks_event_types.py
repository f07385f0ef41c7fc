"""The event types come from the code, and docs/webhooks.md lists exactly them."""

import re
from pathlib import Path

from orders.events import BUILDERS
from orders.models import OrderState
from orders.webhooks import event_types

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def test_one_type_per_state_and_per_event_kind_written():
    assert set(event_types.ALL) == {f"order.{s}" for s in OrderState.values} | {
        f"order.{k}" for k in BUILDERS
    }
    assert "order.created" in event_types.ALL and "order.refunded" in event_types.ALL


def test_the_docs_list_every_type_and_no_other():
    section = DOC.read_text().split("## Event types", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `((?:order|webhook)\.[a-z_]+)` \|", section, flags=re.M)
    assert sorted(listed) == sorted([*event_types.ALL, event_types.TEST])
