#!/bin/bash
# Entry point compatible with the official mysql image: MYSQL_ROOT_PASSWORD (or
# MYSQL_RANDOM_ROOT_PASSWORD=yes, or MYSQL_ALLOW_EMPTY_PASSWORD=yes), MYSQL_DATABASE,
# MYSQL_USER + MYSQL_PASSWORD, each also as *_FILE. When /var/lib/mysql holds no `mysql`
# system database it runs mariadb-install-db, starts a server on the Unix socket only (no
# TCP, so nobody connects before the passwords are set), sets root's password for
# 'root'@'localhost' and 'root'@'%', creates the database and user, runs
# /docker-entrypoint-initdb.d/*.sh, *.sql, *.sql.gz once (run_initdb_scripts, from
# offline/images/common/run-initdb.sh), stops that server and finally execs mariadbd (PID 1,
# clean shutdown on SIGTERM) on 0.0.0.0:3306, logging to stderr.
set -Eeuo pipefail

log() { echo "docker-entrypoint: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# run_initdb_scripts: /docker-entrypoint-initdb.d/*, shared with the postgres image.
# shellcheck source=offline/images/common/run-initdb.sh
. /usr/local/lib/docker-entrypoint/run-initdb.sh

# A first argument that is an option is an option of mariadbd; mysqld is mariadbd.
if [[ $# -eq 0 || ${1:0:1} == - ]]; then
  set -- mariadbd "$@"
fi
[[ $1 == mysqld ]] && set -- mariadbd "${@:2}"
if [[ $1 != mariadbd ]]; then
  exec "$@"
fi

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

# Started as root (no runAsUser): own the data directory, then drop to mysql (999).
if [[ $(id -u) == 0 ]]; then
  mkdir -p "$DATADIR" /run/mysqld
  chown mysql:mysql "$DATADIR" /run/mysqld
  exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" "$@"
fi

# VAR_FILE names a file that holds VAR's value (Kubernetes/Docker secrets).
file_env() {
  local var=$1 file_var="${1}_FILE" def=${2:-}
  [[ -n ${!var:-} && -n ${!file_var:-} ]] && die "both $var and $file_var are set (but are exclusive)"
  local val=$def
  if [[ -n ${!var:-} ]]; then val=${!var}
  elif [[ -n ${!file_var:-} ]]; then val=$(<"${!file_var}"); fi
  export "$var"="$val"
  unset "$file_var"
}

# SQL string literal contents: backslashes and single quotes escaped.
sql_escape() { local s=${1//\\/\\\\}; printf '%s' "${s//\'/\\\'}"; }

if [[ ! -d $DATADIR/mysql ]]; then
  for v in MYSQL_ROOT_PASSWORD MYSQL_DATABASE MYSQL_USER MYSQL_PASSWORD; do file_env "$v"; done
  if [[ -z $MYSQL_ROOT_PASSWORD && ${MYSQL_RANDOM_ROOT_PASSWORD:-} != yes && ${MYSQL_ALLOW_EMPTY_PASSWORD:-} != yes ]]; then
    die "$DATADIR holds no database and no root password is given: set MYSQL_ROOT_PASSWORD (or MYSQL_RANDOM_ROOT_PASSWORD=yes, or MYSQL_ALLOW_EMPTY_PASSWORD=yes)"
  fi
  if [[ -n $MYSQL_USER && -z $MYSQL_PASSWORD ]]; then
    die "MYSQL_USER ($MYSQL_USER) is set but MYSQL_PASSWORD is not"
  fi
  [[ $MYSQL_USER == root ]] && die "MYSQL_USER must not be root (MYSQL_ROOT_PASSWORD sets root's password)"
  if [[ -z $MYSQL_ROOT_PASSWORD && ${MYSQL_RANDOM_ROOT_PASSWORD:-} == yes ]]; then
    MYSQL_ROOT_PASSWORD=$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | cut -c1-32)
    log "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
  fi

  log "initialising $DATADIR (entries left alone: $(cd "$DATADIR" && ls -A | tr "\n" " "))"
  # The system tables go into a fresh directory: a half-done initialisation leaves no `mysql`
  # database behind, so the next start initialises again instead of serving it.
  rm -rf "$DATADIR/.init"
  mariadb-install-db --datadir="$DATADIR/.init" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve --skip-log-bin \
    --default-time-zone=SYSTEM --enforce-storage-engine= --rpm >/dev/null

  mariadbd --datadir="$DATADIR/.init" --skip-networking --skip-log-bin --socket="$SOCKET" \
    --pid-file=/run/mysqld/init.pid --default-time-zone=SYSTEM &
  pid=$!
  trap 'kill "$pid" 2>/dev/null || true' EXIT
  for i in {1..60}; do
    mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "the initialisation server exited"
    [[ $i == 60 ]] && die "the initialisation server did not come up in 60 s"
    sleep 1
  done

  rootpw=$(sql_escape "$MYSQL_ROOT_PASSWORD")
  mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot --binary-mode >&2 <<SQL
SET @@SESSION.SQL_LOG_BIN=0;
SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
DELETE FROM mysql.proxies_priv WHERE User = '' OR Host <> 'localhost';
DROP DATABASE IF EXISTS test;
FLUSH PRIVILEGES;
CREATE USER 'root'@'%' IDENTIFIED BY '$rootpw';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO 'root'@'%' WITH GRANT OPTION;
ALTER USER 'root'@'localhost' IDENTIFIED BY '$rootpw';
SQL
  # From here on the client authenticates as root with the password (through a private file).
  defaults=/run/mysqld/init-client.cnf
  (umask 077; printf '[client]\nuser=root\npassword="%s"\nsocket=%s\nprotocol=socket\n' \
     "$(printf '%s' "$MYSQL_ROOT_PASSWORD" | sed 's/\\/\\\\/g; s/"/\\"/g')" "$SOCKET" >"$defaults")
  trap 'kill "$pid" 2>/dev/null || true; rm -f "$defaults"' EXIT
  mysql_cmd=(mariadb --defaults-extra-file="$defaults" --binary-mode)
  if [[ -n $MYSQL_DATABASE ]]; then
    log "creating database $MYSQL_DATABASE"
    echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE//\`/\`\`}\`;" | "${mysql_cmd[@]}" >&2
  fi
  if [[ -n $MYSQL_USER ]]; then
    log "creating user $MYSQL_USER@%"
    user=$(sql_escape "$MYSQL_USER")
    { echo "CREATE USER '$user'@'%' IDENTIFIED BY '$(sql_escape "$MYSQL_PASSWORD")';"
      if [[ -n $MYSQL_DATABASE ]]; then echo "GRANT ALL ON \`${MYSQL_DATABASE//\`/\`\`}\`.* TO '$user'@'%';"; fi
    } | "${mysql_cmd[@]}" >&2
  fi
  # Init scripts see mysql_cmd (array) and MYSQL_* as in the official image; *.sql runs in MYSQL_DATABASE.
  db_arg=(); [[ -n $MYSQL_DATABASE ]] && db_arg=(--database="$MYSQL_DATABASE")
  # The SQL of FILE, or of stdin without one, as root in MYSQL_DATABASE.
  mysql_initdb() { "${mysql_cmd[@]}" "${db_arg[@]}" <"${1:-/dev/stdin}"; }
  run_initdb_scripts mysql_initdb

  mariadb-admin --defaults-extra-file="$defaults" shutdown >&2
  wait "$pid" || die "the initialisation server did not shut down cleanly"
  rm -f "$defaults"
  trap - EXIT
  # Publish the initialised system: the `mysql` database appears last, atomically per directory.
  for entry in "$DATADIR/.init"/* "$DATADIR/.init"/.[!.]*; do
    [[ -e $entry && $(basename "$entry") != mysql ]] && mv "$entry" "$DATADIR/"
  done
  mv "$DATADIR/.init/mysql" "$DATADIR/mysql"
  rmdir "$DATADIR/.init"
  log "initialisation complete"
else
  log "$DATADIR holds a database already: initialisation skipped"
fi

shift
exec mariadbd "$@"
