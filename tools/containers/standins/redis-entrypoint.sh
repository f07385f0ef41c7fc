#!/bin/sh
# The entrypoint of the redis stand-in (why stand-ins exist: build.sh beside this file). It keeps
# what docker-compose.yml relies on from the official image: `redis-server [options]` runs as
# the redis user in /data (where --appendonly writes), started as root, and accepts clients
# from other containers without a password (the official image builds Redis with protected
# mode off; Debian's keeps it on, so it is turned off here).
set -eu

if [ "${1:-}" != redis-server ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis:redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

shift
exec redis-server --protected-mode no "$@"
