# shellcheck shell=bash
# run-initdb.sh: sourced by the database images' entrypoints (offline/images/mariadb/entrypoint.sh,
# offline/images/postgres/docker-entrypoint.sh; the builders copy it into the context and the
# Dockerfiles to /usr/local/lib/docker-entrypoint/). It defines one function:
#
# run_initdb_scripts SQL_COMMAND...: runs /docker-entrypoint-initdb.d/* in name order, as the
# official mysql and postgres images do, against the entrypoint's initialisation server:
#   *.sh      executed when executable, otherwise sourced (it then sees the entrypoint's variables
#             and functions, e.g. mysql_cmd or psql_init);
#   *.sql     `SQL_COMMAND... FILE`;
#   *.sql.gz  unpacked into `SQL_COMMAND...` without FILE (the SQL on its standard input);
#   others    ignored.
# SQL_COMMAND's output goes to stderr. Each file is logged with the entrypoint's log function; a
# failing script stops the entrypoint (set -e).
run_initdb_scripts() {
  local f
  shopt -s nullglob
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh)
        if [[ -x $f ]]; then log "running $f"; "$f"
        else log "sourcing $f"; # shellcheck disable=SC1090
          . "$f"; fi ;;
      *.sql) log "running $f"; "$@" "$f" >&2 ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | "$@" >&2 ;;
      *) log "ignoring $f" ;;
    esac
  done
  shopt -u nullglob
}
