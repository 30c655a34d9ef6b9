#!/usr/bin/env bash
# Checks mlops.local/library/mariadb:10.11 for real with docker, as KFP's API server and ML
# Metadata will use it: a volume prepared like a Kubernetes fsGroup volume (root:999, 2775,
# lost+found), MYSQL_ROOT_PASSWORD + MYSQL_USER/MYSQL_PASSWORD, init scripts that create and
# grant mlpipeline and metadb; a client container on the same network checks TCP logins,
# CREATE DATABASE error 1007, root, uid 999, SIGTERM shutdown, persistence across a restart.
# Removes its containers, network, volume and files on any exit.
#   offline/images/mariadb/check.sh [image]
set -euo pipefail

IMAGE=${1:-${REGISTRY:-mlops.local}/library/mariadb:10.11}
p=mariadb-check-$$
tmp=$(mktemp -d)
fails=0
cleanup() {
  docker rm -f -v "$p-db" "$p-db2" "$p-nopw" >/dev/null 2>&1 || true
  docker network rm "$p-net" >/dev/null 2>&1 || true
  docker volume rm "$p-data" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ok()   { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
# Whether container $1's log has a line matching $2 (read whole first: `docker logs | grep -q` fails
# under pipefail when grep stops reading before docker logs has written everything).
log_has() { local text; text=$(docker logs "$1" 2>&1); grep -q -- "$2" <<<"$text"; }
client() { docker run --rm -i --network "$p-net" --entrypoint mariadb "$IMAGE" -h "$p-db" -P 3306 --protocol=tcp "$@"; }
wait_ready() {
  for _ in $(seq 1 90); do
    client -uroot -pr00t-check -N -e 'SELECT 1' >/dev/null 2>&1 && return 0
    [[ $(docker inspect -f '{{.State.Running}}' "$p-db") == true ]] || break
    sleep 1
  done
  docker logs "$p-db" 2>&1 | tail -n 30; return 1
}

echo "== image $IMAGE ($(docker image inspect -f '{{index .Config.Labels "org.mlops-platform.mariadb-version"}}' "$IMAGE"))"

# No password at all: refuses to start, clearly.
out=$(docker run --name "$p-nopw" "$IMAGE" 2>&1) && fail "started without MYSQL_ROOT_PASSWORD" || {
  grep -q 'set MYSQL_ROOT_PASSWORD' <<<"$out" && ok "refuses to start without a root password: ${out##*ERROR: }" \
    || fail "no clear message without a root password: $out"; }

mkdir "$tmp/initdb"
cat >"$tmp/initdb/01-kfp.sql" <<'SQL'
CREATE DATABASE IF NOT EXISTS mlpipeline; CREATE DATABASE IF NOT EXISTS metadb;
GRANT ALL PRIVILEGES ON mlpipeline.* TO 'kfp'@'%'; GRANT ALL PRIVILEGES ON metadb.* TO 'kfp'@'%';
SQL
cat >"$tmp/initdb/02-runs.sql" <<'SQL'
CREATE TABLE IF NOT EXISTS metadb.init_runs (id INT AUTO_INCREMENT PRIMARY KEY); INSERT INTO metadb.init_runs VALUES ();
SQL
cat >"$tmp/initdb/03-runs.sh" <<'SH'
mariadb -uroot -p"$MYSQL_ROOT_PASSWORD" -e 'INSERT INTO metadb.init_runs VALUES ()'
SH
chmod 755 "$tmp/initdb"; chmod 644 "$tmp/initdb"/*

docker network create "$p-net" >/dev/null
docker volume create "$p-data" >/dev/null
# What a Kubernetes fsGroup: 999 volume looks like: root-owned, group 999 with write + setgid, lost+found.
docker run --rm --user 0 --entrypoint sh -v "$p-data:/var/lib/mysql" "$IMAGE" -c \
  'chown root:999 /var/lib/mysql && chmod 2775 /var/lib/mysql && mkdir /var/lib/mysql/lost+found && chmod 700 /var/lib/mysql/lost+found'
run_db() {
  docker run -d --name "$p-db" --network "$p-net" --user 999:999 --group-add 999 \
    -e MYSQL_ROOT_PASSWORD=r00t-check -e MYSQL_USER=kfp -e MYSQL_PASSWORD=kfp-check \
    -v "$p-data:/var/lib/mysql" -v "$tmp/initdb:/docker-entrypoint-initdb.d:ro" "$IMAGE" >/dev/null
}
started=$SECONDS
run_db
wait_ready && ok "server ready over TCP in $((SECONDS - started)) s" || { fail "server not ready"; exit 1; }

out=$(client -ukfp -pkfp-check -N -e 'CREATE TABLE mlpipeline.t (id INT); INSERT INTO mlpipeline.t VALUES (42); SELECT id FROM mlpipeline.t' 2>&1) \
  && [[ $out == 42 ]] && ok "kfp over TCP creates a table in mlpipeline" || fail "kfp table in mlpipeline: $out"
out=$(client -ukfp -pkfp-check -e 'CREATE DATABASE mlpipeline' 2>&1) && fail "CREATE DATABASE mlpipeline as kfp succeeded" || {
  [[ $out == *"ERROR 1007"* ]] && ok "CREATE DATABASE mlpipeline as kfp: ${out##*$'\n'}" || fail "CREATE DATABASE mlpipeline as kfp: $out (1007 expected)"; }
out=$(client -ukfp -pkfp-check -e 'CREATE DATABASE metadb' 2>&1) || true
[[ $out == *"ERROR 1007"* ]] && ok "CREATE DATABASE metadb as kfp: ${out##*$'\n'}" || fail "CREATE DATABASE metadb as kfp: $out (1007 expected)"
out=$(client -ukfp -pwrong -e 'SELECT 1' 2>&1) && fail "wrong password accepted" || {
  [[ $out == *"ERROR 1045"* ]] && ok "wrong password refused: $out" || fail "wrong password: $out"; }
out=$(client -uroot -pr00t-check -N -e 'SELECT CURRENT_USER()' 2>&1) && ok "root over TCP with the password: $out" || fail "root over TCP: $out"
out=$(client -uroot -N -e 'SELECT 1' 2>&1) && fail "root over TCP without a password accepted" || ok "root over TCP without a password refused"
out=$(docker exec "$p-db" mariadb -uroot -N -e 'SELECT 1' 2>&1) && fail "root@localhost without a password accepted" || ok "root@localhost (socket) needs the password too"
out=$(client -uroot -pr00t-check -N -e "SELECT CONCAT(user,'@',host,' ',plugin) FROM mysql.user ORDER BY 1" 2>&1); echo "     accounts: $(tr '\n' ';' <<<"$out")"
[[ $out != *"@ "* && $out != *"root@127"* ]] && ok "no anonymous or extra root accounts" || fail "unexpected accounts"
out=$(client -uroot -pr00t-check -N -e 'SELECT VERSION()' 2>&1); echo "     version: $out"
out=$(client -ukfp -pkfp-check -N -e 'SHOW DATABASES' 2>&1); echo "     kfp sees: $(tr '\n' ' ' <<<"$out")"
[[ $out != *lost* ]] && ok "lost+found is no database" || fail "lost+found shows as a database"
comm=$(docker exec "$p-db" cat /proc/1/comm); uid=$(docker exec "$p-db" awk '/^Uid:/ {print $2}' /proc/1/status)
[[ $comm == mariadbd && $uid == 999 ]] && ok "PID 1 is $comm, uid $uid" || fail "PID 1 is $comm with uid $uid"
docker exec "$p-db" ls -ldn /var/lib/mysql /var/lib/mysql/mysql /var/lib/mysql/mlpipeline | sed 's/^/     /'

# Restart: SIGTERM must shut down cleanly; data persists; init scripts do not run again.
started=$SECONDS
docker stop -t 30 "$p-db" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$p-db")
log_has "$p-db" 'Shutdown complete' && [[ $code == 0 ]] \
  && ok "SIGTERM: clean shutdown in $((SECONDS - started)) s, exit code $code" || fail "SIGTERM shutdown (exit code $code)"
docker logs "$p-db" 2>&1 | grep -E 'docker-entrypoint:' | sed 's/^/     first start: /'
docker start "$p-db" >/dev/null
wait_ready && ok "restarted" || { fail "no restart"; exit 1; }
out=$(client -ukfp -pkfp-check -N -e 'SELECT id FROM mlpipeline.t; SELECT COUNT(*) FROM metadb.init_runs' 2>&1 | tr '\n' ' ')
[[ $out == "42 2 " ]] && ok "data persists, init scripts ran once (.sql and .sh): $out" || fail "after restart: $out (42 2 expected)"
log_has "$p-db" 'initialisation skipped' && ok "second start skipped initialisation" || fail "no 'initialisation skipped'"
out=$(docker logs "$p-db" 2>&1 | grep -ciE 'crash recovery|\[ERROR\]' || true)
[[ $out == 0 ]] && ok "no crash recovery or [ERROR] in the server log" || { fail "$out error lines"; docker logs "$p-db" 2>&1 | grep -iE 'crash recovery|\[ERROR\]'; }

# MYSQL_DATABASE + MYSQL_RANDOM_ROOT_PASSWORD, started as root (no runAsUser), fresh anonymous volume.
docker run -d --name "$p-db2" --network "$p-net" --user 0 -e MYSQL_RANDOM_ROOT_PASSWORD=yes \
  -e MYSQL_DATABASE=appdb -e MYSQL_USER=app -e MYSQL_PASSWORD=app-check "$IMAGE" >/dev/null
for _ in $(seq 1 90); do
  out=$(docker run --rm --network "$p-net" --entrypoint mariadb "$IMAGE" -h "$p-db2" -uapp -papp-check -N \
        -e 'CREATE TABLE appdb.t (i INT); SHOW DATABASES' 2>&1) && break; sleep 1; done
[[ $out == *appdb* ]] && ok "MYSQL_DATABASE created and granted to MYSQL_USER (random root password, started as root)" || fail "MYSQL_DATABASE: $out"
log_has "$p-db2" 'GENERATED ROOT PASSWORD' && ok "random root password logged" || fail "no random root password"
uid=$(docker exec "$p-db2" awk '/^Uid:/ {print $2}' /proc/1/status); [[ $uid == 999 ]] && ok "started as root, runs as uid $uid" || fail "uid $uid"

echo "== $fails failure(s)"
[[ $fails == 0 ]]
