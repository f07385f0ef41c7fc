"""Every route, hostile path segments and query values (common/routes.py), on this service."""

import pytest
from common.routes import *  # noqa: F403 (the shared tests run here, with this service's fixtures)

pytestmark = pytest.mark.django_db
