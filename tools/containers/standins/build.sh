#!/usr/bin/env bash
# Stand-ins for the three base images docker-compose.yml and docker/Dockerfile name:
#   python:3.11-slim, postgres:16-alpine, redis:7-alpine
#
# Why they exist: the container test (tests/containers/) runs `make up` for real, but no image
# registry is reachable from the machines it runs on; Debian's package archive is. So this
# script builds each image from Debian packages with mmdebstrap and imports it into podman under
# the very name the project's files use, keeping the part of each image's contract that those
# files rely on (the entrypoints beside this script say which). They are test fixtures only:
# `make up` never builds or asks for them, and on a machine that can pull, the real images are
# what runs. An image already present under a name (real or stand-in) is kept as it is.
#
# Debian bookworm has PostgreSQL 15 and Redis 7.0: the postgres stand-in runs 15 under the 16 tag
# (the project's SQL runs on both).
#
# Usage (root, podman and mmdebstrap installed): tools/containers/standins/build.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The machine's own apt sources: the same archive, mirror and security updates as its packages.
sources=(/etc/apt/sources.list.d/*.sources /etc/apt/sources.list)
mirrors=()
for file in "${sources[@]}"; do
    [ -s "$file" ] && mirrors+=("$file")
done

# Like Debian's slim images: no documentation, manual pages or translations.
slim=(
    --variant=apt
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*'
)

python_rootfs() {
    # The official image has no EXTERNALLY-MANAGED marker: pip installs into the system Python.
    # The machine's added certificates (/usr/local/share/ca-certificates) go into the trust
    # store, for pip behind a TLS-inspecting egress proxy.
    mmdebstrap "${slim[@]}" \
        --include=python3,python3-pip,python-is-python3,ca-certificates \
        --customize-hook='copy-in /usr/local/share/ca-certificates /usr/local/share' \
        --customize-hook='chroot "$1" update-ca-certificates' \
        --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
        bookworm "$1" "${mirrors[@]}"
}

postgres_rootfs() {
    # Debian's package creates and starts nothing here, but it makes a cluster "main" at install:
    # removed, the entrypoint makes its own in PGDATA.
    mmdebstrap "${slim[@]}" \
        --include=postgresql-15 \
        --customize-hook='rm -rf "$1"/var/lib/postgresql/15 "$1"/etc/postgresql/15' \
        --customize-hook="copy-in $here/postgres-entrypoint.sh /usr/local/bin" \
        bookworm "$1" "${mirrors[@]}"
}

redis_rootfs() {
    mmdebstrap "${slim[@]}" \
        --include=redis-server \
        --customize-hook='mkdir -p "$1"/data && chroot "$1" chown redis:redis /data' \
        --customize-hook="copy-in $here/redis-entrypoint.sh /usr/local/bin" \
        bookworm "$1" "${mirrors[@]}"
}

stand_in_label='--change=LABEL org.opencontainers.image.description="stand-in: tools/containers/standins/build.sh"'

import_python() {
    podman import --quiet "$stand_in_label" \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        "$1" docker.io/library/python:3.11-slim
}

import_postgres() {
    podman import --quiet "$stand_in_label" \
        --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV PGDATA=/var/lib/postgresql/data' \
        --change 'ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]' \
        --change 'CMD ["postgres"]' \
        --change 'STOPSIGNAL SIGINT' \
        --change 'EXPOSE 5432' \
        "$1" docker.io/library/postgres:16-alpine
}

import_redis() {
    podman import --quiet "$stand_in_label" \
        --change 'WORKDIR /data' \
        --change 'ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]' \
        --change 'CMD ["redis-server"]' \
        --change 'EXPOSE 6379' \
        "$1" docker.io/library/redis:7-alpine
}

# The three downloads run at once: they wait on the network more than on the CPU.
declare -A images=([python]=python:3.11-slim [postgres]=postgres:16-alpine [redis]=redis:7-alpine)
pids=()
for name in "${!images[@]}"; do
    if podman image exists "${images[$name]}"; then
        echo "== ${images[$name]}: present, kept"
        continue
    fi
    echo "== ${images[$name]}: building the stand-in from Debian packages"
    ( "${name}_rootfs" "$work/$name.tar" > "$work/$name.log" 2>&1 \
        || { tail -n 40 "$work/$name.log" >&2; exit 1; }
      "import_$name" "$work/$name.tar" > /dev/null
      rm -f "$work/$name.tar"
      echo "== ${images[$name]}: stand-in ready" ) &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
exit "$status"
