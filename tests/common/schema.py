"""What the committed HTTP contract (docs/openapi/<service>.yaml) says, read by the tests that
check an answer against it: written once, in the contract, and not read from the serializer
under test (a field the serializer drops still fails the test until the contract says so)."""

import yaml

from common.service import ROOT


def schema_fields(service_name: str, component: str) -> frozenset[str]:
    """The property names of one schema component, e.g. ("orders", "Order")."""
    schema = yaml.safe_load((ROOT / "docs" / "openapi" / f"{service_name}.yaml").read_text())
    return frozenset(schema["components"]["schemas"][component]["properties"])
