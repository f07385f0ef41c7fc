"""What the shared tests need to know of a service: its routes, a valid body, its model; the
rest follows from the project's conventions (see the properties)."""

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Service:
    name: str  # "orders": docs/openapi/<name>.yaml, <name>/services.py, the <NAME>_* settings
    model: type  # the model the create route writes, Order
    create_path: str  # the POST that creates one, "/order"
    api_paths: tuple[str, ...]  # every API path in the schema, health and schema aside
    valid_body: dict  # a body create_path accepts
    required_fields: tuple[str, ...]  # named when the body is empty
    price_attribute: str  # the model's field that stores "price"
    api_token: bool  # its API asks for the service token (PAYMENTS_API_TOKEN), reads and writes

    @property
    def model_name(self) -> str:
        return self.model._meta.model_name

    @property
    def list_route(self) -> tuple[str, str]:
        """The list's path and URL name: ("/order/", "order-collection")."""
        return f"{self.create_path}/", f"{self.model_name}-collection"

    @property
    def admin_list_path(self) -> str:
        return f"/admin/{self.model._meta.app_label}/{self.model_name}/"

    @property
    def create_service(self) -> str:
        """The service function the create route calls, as a dotted path."""
        return f"{self.name}.services.{self.model_name}_create"

    @property
    def production_env(self) -> dict:
        """The environment production settings refuse to start without."""
        secret = f"{self.name.upper()}_SECRET_KEY"
        return {"DJANGO_ENV": "production", secret: "s", "PAYMENTS_API_TOKEN": "t"}

    @property
    def schema_file(self) -> Path:
        return ROOT / "docs" / "openapi" / f"{self.name}.yaml"

    @property
    def var_dir_env(self) -> str:
        return f"{self.name.upper()}_VAR_DIR"
