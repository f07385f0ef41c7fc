"""Django's PostgreSQL backend with a health check that costs no round trip (base.py).
ENGINE "config.postgresql" (config/env.py sets it for a postgres:// URL)."""
