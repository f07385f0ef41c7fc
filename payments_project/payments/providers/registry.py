"""The registry of payment methods, built once from PAYMENTS_METHODS and checked at start
(PaymentsConfig.ready), so a bad class path or bad options stop the service with a clear
message instead of failing the first payment."""

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from payments.providers.base import PaymentProvider

DEFAULT_METHOD = "card"  # what a payment without paymentMethod is paid with
METHOD_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")  # fits Payment.method and Order.payment_method
ENTRY_KEYS = {"class", "options", "description"}


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    provider: PaymentProvider


class Registry:
    def __init__(self, methods: list[Method]):
        self._methods = {method.name: method for method in methods}

    def get(self, name: str) -> Method | None:
        return self._methods.get(name)

    def names(self) -> list[str]:
        return list(self._methods)

    def __iter__(self) -> Iterator[Method]:
        return iter(self._methods.values())


def registry_build(config: Mapping, *, allow_test_methods: bool) -> Registry:
    """The registry that `config` (PAYMENTS_METHODS' shape) describes; ImproperlyConfigured,
    naming the method and what is wrong, for anything it cannot build."""
    if not isinstance(config, Mapping) or not config:
        raise ImproperlyConfigured(
            "PAYMENTS_METHODS must be a non-empty JSON object of method name -> "
            '{"class": "dotted.path", "options": {...}}'
        )
    return Registry([_method(name, entry, allow_test_methods) for name, entry in config.items()])


def _method(name, entry, allow_test_methods: bool) -> Method:
    where = f"PAYMENTS_METHODS[{name!r}]"
    if not isinstance(name, str) or not METHOD_NAME.fullmatch(name):
        raise ImproperlyConfigured(f"{where}: a method name is 1-32 of [a-z0-9_], from a letter")
    if not isinstance(entry, Mapping) or not isinstance(entry.get("class"), str):
        raise ImproperlyConfigured(f'{where} must be an object with "class": "dotted.path"')
    if unknown := set(entry) - ENTRY_KEYS:
        raise ImproperlyConfigured(f"{where}: unknown keys {sorted(unknown)}; use {ENTRY_KEYS}")
    try:
        cls = import_string(entry["class"])
    except ImportError as exc:
        raise ImproperlyConfigured(f"{where}: cannot import {entry['class']!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, PaymentProvider)):
        raise ImproperlyConfigured(f"{where}: {entry['class']!r} is not a PaymentProvider")
    if cls.test_only and not allow_test_methods:
        raise ImproperlyConfigured(
            f"{where}: {entry['class']!r} is a test method; set PAYMENTS_TEST_METHODS=true to "
            "allow it (never in production)"
        )
    options = entry.get("options") or {}
    if not isinstance(options, Mapping):
        raise ImproperlyConfigured(f"{where}: options must be an object, got {options!r}")
    try:
        provider = cls(**options)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{where}: bad options {dict(options)!r}: {exc}") from exc
    description = entry.get("description") or provider.description or name
    if not isinstance(description, str):
        raise ImproperlyConfigured(f"{where}: description must be text")
    return Method(name, description, provider)


@functools.cache
def registry() -> Registry:
    """The process's registry: built on first use, which PaymentsConfig.ready makes the start."""
    return registry_build(
        settings.PAYMENTS_METHODS, allow_test_methods=settings.PAYMENTS_TEST_METHODS
    )


# The settings it is built from; a test that overrides one gets a registry built from it.
_SOURCES = {"PAYMENTS_METHODS", "PAYMENTS_TEST_METHODS", "PAYMENTS_CONFIRM_PROBABILITY"}


@receiver(setting_changed)
def _rebuild_on_setting_change(*, setting, **kwargs):
    if setting in _SOURCES:
        registry.cache_clear()
