#!/usr/bin/env bash
# Run one manage.py command in both projects, Orders first: ./manage_all.sh migrate
# Uses .venv/bin/python when it exists, else python3 (as inside the Docker image).
set -euo pipefail
if [ $# -eq 0 ]; then
    echo "usage: $0 <manage.py command> [args...]   e.g. $0 migrate" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3
for project in orders_project payments_project; do
    echo "== $project: manage.py $*" >&2
    (cd "$root/$project" && "$python" manage.py "$@")
done
