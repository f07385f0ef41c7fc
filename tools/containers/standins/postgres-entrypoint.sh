#!/bin/sh
# The entrypoint of the postgres stand-in (why stand-ins exist: build.sh beside this file). It
# keeps what docker-compose.yml relies on from the official image's entrypoint:
# - on the first start with an empty PGDATA: initdb with POSTGRES_USER as superuser and
#   POSTGRES_PASSWORD as its password, then /docker-entrypoint-initdb.d/*.sql run by psql on a
#   server that listens on its socket only (so a TCP pg_isready is not ready before they ran);
# - then the server listens on every interface, password (scram-sha-256) auth over TCP;
# - it runs as the postgres user, started as root.
set -eu

if [ "${1:-}" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

user="${POSTGRES_USER:-postgres}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres stand-in: POSTGRES_PASSWORD must be set" >&2
        exit 1
    fi
    password_file="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    initdb --username="$user" --pwfile="$password_file" \
        --auth-local=trust --auth-host=scram-sha-256 --pgdata="$PGDATA"
    rm -f "$password_file"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"

    pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait start
    database="${POSTGRES_DB:-$user}"
    if [ "$database" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres \
            --command="CREATE DATABASE \"$database\""
    fi
    for script in /docker-entrypoint-initdb.d/*.sql; do
        [ -e "$script" ] || continue
        echo "postgres stand-in: running $script"
        psql -v ON_ERROR_STOP=1 --username="$user" --dbname="$database" --file="$script"
    done
    pg_ctl --pgdata="$PGDATA" --mode=fast --wait stop
fi

exec "$@"
