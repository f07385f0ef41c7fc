#!/usr/bin/env bash
# One image, several roles: entrypoint.sh <role> [extra arguments for that process]
#
#   orders-web | payments-web   granian on 0.0.0.0:3001 / 0.0.0.0:3000 (WEB_* variables, no arguments)
#   worker | beat               Celery worker / Celery beat of the Orders project
#   migrate                     manage.py migrate --noinput in both projects, Orders first
#   orders-manage | payments-manage   any manage.py command, e.g. orders-manage createsuperuser
#   anything else               run as a command, e.g. bash
#
# Long-running roles `exec` their process so that SIGTERM from `docker stop` reaches it and
# the web server and Celery shut down gracefully. No wait-for-database loop: compose starts these
# roles only once Postgres and Redis are healthy and the migrate role has completed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

if [ $# -eq 0 ]; then
    usage
    exit 2
fi
role="$1"
shift

# Roles with several processes write their metrics here; a scrape adds them up. Emptied at each
# start: a previous run's files would be counted again.
fresh_metrics_dir() {
    export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus-metrics}"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
}

# Where docker/healthcheck.py asks (the image's HEALTHCHECK and compose's); best effort: a
# read-only /tmp only loses that check, and Kubernetes probes the pod itself.
health_url_is() {
    echo "$1" > /tmp/healthcheck-url 2>/dev/null || true
}

# The HTTP server (granian: servicekit/webserver.py, set by WEB_* variables).
web_server_in() {
    local project="$1" port="$2"
    cd "$root/$project"
    export WEB_BIND="${WEB_BIND:-0.0.0.0:$port}"
    health_url_is "http://127.0.0.1:${WEB_BIND##*:}/health/ready"
    fresh_metrics_dir
    # No extra arguments: the WEB_* variables set the server up.
    exec python -m servicekit.webserver
}

case "$role" in
    orders-web)
        web_server_in orders_project 3001
        ;;
    payments-web)
        web_server_in payments_project 3000
        ;;
    worker)
        cd "$root/orders_project"
        fresh_metrics_dir
        # Its metrics server starts once the worker consumes (worker_ready): until then, and
        # whenever its main process stops answering, the check fails. Cheap where a Celery
        # ping is not: a ping starts a whole Celery client each time.
        if [ -n "${CELERY_METRICS_PORT:-}" ]; then
            health_url_is "http://127.0.0.1:${CELERY_METRICS_PORT}/metrics"
        fi
        # Pool and concurrency: CELERY_WORKER_POOL, CELERY_WORKER_CONCURRENCY (settings.py).
        exec python -m celery -A config worker --loglevel "${LOG_LEVEL:-INFO}" "$@"
        ;;
    beat)
        cd "$root/orders_project"
        unset PROMETHEUS_MULTIPROC_DIR
        exec python -m celery -A config beat --loglevel "${LOG_LEVEL:-INFO}" "$@"
        ;;
    migrate)
        unset PROMETHEUS_MULTIPROC_DIR
        exec "$root/manage_all.sh" migrate --noinput "$@"
        ;;
    orders-manage)
        unset PROMETHEUS_MULTIPROC_DIR
        cd "$root/orders_project"
        exec python manage.py "$@"
        ;;
    payments-manage)
        unset PROMETHEUS_MULTIPROC_DIR
        cd "$root/payments_project"
        exec python manage.py "$@"
        ;;
    -h | --help | help)
        usage
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
