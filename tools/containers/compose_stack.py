"""What the container test knows of the stack docker-compose.yml describes, shared by its
fixtures and its tests."""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # where docker-compose.yml and the Makefile are
PROJECT = "orders-payments"  # docker-compose.yml's name
OF_PROJECT = f"label=com.docker.compose.project={PROJECT}"  # a podman --filter
PORTS = (3000, 3001)  # published on 127.0.0.1
TOKEN = "container-test-payments-token"
# Passed through docker-compose.yml: every card payment confirmed, delivered two seconds later,
# so that one order shows the whole path; a token of the test's own.
KNOBS = {
    "PAYMENTS_CONFIRM_PROBABILITY": "1",
    "ORDERS_DELIVERY_DELAY_SECONDS": "2",
    "PAYMENTS_API_TOKEN": TOKEN,
}


def containers(engine) -> dict[str, dict]:
    """The project's containers, running or not, by service: podman's ps entry of each."""
    listed = json.loads(engine.podman("ps", "-a", "--format", "json", "--filter", OF_PROJECT))
    return {entry["Labels"]["com.docker.compose.service"]: entry for entry in listed}
