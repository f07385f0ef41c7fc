"""Payments' squashed migration and the check that refuses a database part-way through the ones
it replaced: the shared tests (common/migrations.py) with Payments' service fixture."""

from common.migrations import *  # noqa: F403 (the shared tests run here, with Payments' fixtures)
