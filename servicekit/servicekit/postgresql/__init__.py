"""Django's PostgreSQL backend with a health check that costs no round trip (base.py).
ENGINE "servicekit.postgresql" (servicekit/env.py sets it for a postgres:// URL)."""
