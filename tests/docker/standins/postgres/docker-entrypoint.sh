#!/usr/bin/env bash
# The official image's first-start contract (see the Dockerfile), then the server in the foreground.
set -euo pipefail

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

if [[ $(id -u) == 0 ]]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set (the official image refuses to start without it)}"
    user=${POSTGRES_USER:-postgres}
    database=${POSTGRES_DB:-$user}
    password_file=$(mktemp)
    printf '%s' "$POSTGRES_PASSWORD" > "$password_file"
    chown postgres "$password_file"
    as_postgres initdb -D "$PGDATA" -U "$user" --pwfile="$password_file" -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 > /dev/null
    rm -f "$password_file"
    printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    if [[ $database != postgres ]]; then
        printf 'CREATE DATABASE "%s";\n' "$database" | as_postgres postgres --single -D "$PGDATA" postgres > /dev/null
    fi
    echo "docker-entrypoint: initialized $PGDATA (user $user, database $database)"
fi

if [[ ${1:-} == postgres ]]; then
    shift
    [[ $(id -u) == 0 ]] && exec setpriv --reuid=postgres --regid=postgres --init-groups postgres "$@"
    exec postgres "$@"
fi
exec "$@"
