#!/bin/bash
# Entry point compatible with the official postgres image as the mlflow chart uses it:
# POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required), POSTGRES_DB (default
# POSTGRES_USER), PGDATA, POSTGRES_INITDB_ARGS; on an empty PGDATA it runs initdb, then
# /docker-entrypoint-initdb.d/*.sh, *.sql and *.sql.gz once against a socket-only server
# (run_initdb_scripts, from offline/images/common/run-initdb.sh), and finally
# execs postgres in the foreground listening on 0.0.0.0:5432. TCP clients authenticate with
# scram-sha-256 (loopback included); the Unix socket, reachable only inside the container, trusts.
# Writes only to PGDATA, /var/run/postgresql and /tmp, so a read-only root file system works.
set -Eeuo pipefail

log() { echo "docker-entrypoint: $*" >&2; }
# run_initdb_scripts: /docker-entrypoint-initdb.d/*, shared with the mariadb image.
# shellcheck source=offline/images/common/run-initdb.sh
. /usr/local/lib/docker-entrypoint/run-initdb.sh

# A first argument that is an option is an option of postgres.
if [[ $# -eq 0 || ${1:0:1} == - ]]; then
  set -- postgres "$@"
fi
if [[ $1 != postgres ]]; then
  exec "$@"
fi

# Started as root (no runAsUser): own the data directory, then drop to postgres (999).
if [[ $(id -u) == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

export POSTGRES_USER=${POSTGRES_USER:-postgres}
export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
mkdir -p "$PGDATA"
chmod 700 "$PGDATA" 2>/dev/null || true
chmod 3777 /var/run/postgresql 2>/dev/null || true

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  if [[ -z ${POSTGRES_PASSWORD:-} ]]; then
    log "PGDATA ($PGDATA) is empty and POSTGRES_PASSWORD is not set: set it to initialise the database"
    exit 1
  fi
  if [[ -n $(ls -A "$PGDATA") ]]; then
    log "PGDATA ($PGDATA) is not empty but holds no database (lost+found on a volume root?): point PGDATA at a subdirectory"
    exit 1
  fi
  log "initialising $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
  # initdb refuses to run as a uid without a passwd entry; 999 has one (postgres).
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    ${POSTGRES_INITDB_ARGS:-} >&2
  cat >>"$PGDATA/pg_hba.conf" <<HBA

# Added by docker-entrypoint.sh: every TCP client authenticates with scram-sha-256.
host all all 0.0.0.0/0 scram-sha-256
host all all ::/0 scram-sha-256
HBA
  cat >>"$PGDATA/postgresql.conf" <<CONF

# Added by docker-entrypoint.sh.
listen_addresses = '*'
password_encryption = scram-sha-256
unix_socket_directories = '/var/run/postgresql'
CONF

  # A server on the Unix socket only, so no client sees the database before it is ready.
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p 5432" start >&2
  psql_init=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --no-password)
  if [[ $POSTGRES_DB != postgres ]]; then
    "${psql_init[@]}" --dbname postgres --set db="$POSTGRES_DB" <<'SQL' >&2
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SQL
  fi
  export PGUSER=$POSTGRES_USER PGDATABASE=$POSTGRES_DB PGHOST=/var/run/postgresql PGPORT=5432
  # The SQL of FILE (psql -f: its name and line numbers in errors), or of stdin without one, in POSTGRES_DB.
  psql_initdb() { "${psql_init[@]}" --dbname "$POSTGRES_DB" ${1:+--file="$1"}; }
  run_initdb_scripts psql_initdb
  unset PGUSER PGDATABASE PGHOST PGPORT
  pg_ctl -D "$PGDATA" -m fast -w stop >&2
  log "initialisation complete"
else
  log "$PGDATA holds a database already: initialisation skipped"
fi

shift
exec postgres -D "$PGDATA" "$@"
