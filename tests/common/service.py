"""What the shared tests need to know of a service: its routes, a valid body, its model."""

from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Service:
    name: str  # "orders": docs/openapi/<name>.yaml, the <NAME>_* settings
    create_path: str  # the POST that creates a row, "/order"
    list_route: tuple[str, str]  # the list's path and URL name, ("/order/", "order-collection")
    api_paths: tuple[str, ...]  # every API path in the schema, health and schema aside
    valid_body: dict  # a body create_path accepts
    required_fields: tuple[str, ...]  # named when the body is empty
    model: type  # the model create_path writes
    price_attribute: str  # the model's field that stores "price"
    create_service: str  # dotted path of the service function create_path calls
    admin_list_path: str  # the model's page in the admin
    production_env: dict = field(default_factory=dict)  # the secrets production settings need

    @property
    def schema_file(self) -> Path:
        return ROOT / "docs" / "openapi" / f"{self.name}.yaml"

    @property
    def var_dir_env(self) -> str:
        return f"{self.name.upper()}_VAR_DIR"
