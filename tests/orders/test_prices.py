"""The price field against this service's committed schema (common/prices.py)."""

from common.prices import *  # noqa: F403 (the shared tests run here, with this service's fixtures)
