"""Payment methods as plug-ins: a provider decides a charge and gives one back; the registry,
built once from PAYMENTS_METHODS, maps each method name to its provider. The service code asks
the registry for a payment's method and never names a provider."""

from payments.providers.base import (
    Charge,
    Decision,
    PaymentProvider,
    ProviderUnavailable,
)
from payments.providers.registry import DEFAULT_METHOD, Method, Registry, registry

__all__ = [
    "DEFAULT_METHOD",
    "Charge",
    "Decision",
    "Method",
    "PaymentProvider",
    "ProviderUnavailable",
    "Registry",
    "registry",
]
