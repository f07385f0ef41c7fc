"""check --deploy and the HTTPS settings (common/deploy.py) with Payments' service fixture."""

from common.deploy import *  # noqa: F403 (the shared tests run here, with Payments' fixtures)
