#!/bin/sh
# The container's entrypoint (Dockerfile): bring the database to head, then run the command.
#   IMAGE                -> flask db upgrade, flask seed tiers, then gunicorn (the CMD)
#   IMAGE migrate        -> only the first part, then exit: the one-off job before a release
#   SUBSVC_MIGRATE=0     -> skip the first part: several containers on one Postgres, where the
#                           migrate job runs once instead of every container at the same moment
# Both steps are idempotent; `seed tiers` only adds built-in tiers that are missing.
set -eu

migrate() {
    flask db upgrade
    flask seed tiers
}

if [ "${1:-}" = migrate ]; then
    migrate
    exit 0
fi

case "${SUBSVC_MIGRATE:-1}" in
    0 | false | no | off) echo "SUBSVC_MIGRATE=${SUBSVC_MIGRATE}: not migrating" ;;
    *) migrate ;;
esac

# exec: the server becomes PID 1 and gets the container's SIGTERM itself.
exec "$@"
