#!/usr/bin/env bash
# `make cold-check`: a fresh machine reproduced on this one, without touching its warm caches:
#   - a fresh clone of this repository's HEAD (uncommitted changes are not part of it),
#   - empty GOMODCACHE, Go build cache, MLOPS_CACHE_DIR, PULUMI_HOME, pip, npm and XDG caches,
#   - a second Docker daemon with its own data root and socket, in a network namespace of its own
#     (its bridges, kind network and iptables rules cannot meet the first daemon's), reaching the
#     package registries through NAT on this host,
# then `make venv`, `make up` and `make smoke` there. It prints the table of every stage's
# duration (make up's stages and these), writes it as JSON, and removes everything it made.
#
# environment:
#   MLOPS_COLD_CHECK_DIR     where the fresh machine lives (default /var/tmp/mlops-cold-check); needs
#                            MLOPS_COLD_CHECK_MIN_GB free (default 56; its peak was 45.5 GB on 2026-12-05 and 50.8 GB
#                            on 2026-12-07, make smoke included)
#   MLOPS_COLD_CHECK_REPORT  the JSON report (default build/cold-check/cold-check.json)
#   MLOPS_COLD_CHECK_KEEP=1  keep the folder, daemon and cluster afterwards (to investigate)
#   MLOPS_COLD_CHECK_NETNS   the network namespace's name (default mlops-cold-check); the veth pair's
#                            names and its /30 subnet (in 10.231.0.0/16) are derived from it
#   MLOPS_COLD_CHECK_STEPS   which of venv, up, smoke run (default "venv up smoke"; "" checks only
#                            the fresh machine's setup and its cleanup)
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../offline/lib/build.sh"
builder_init cold-check

work=${MLOPS_COLD_CHECK_DIR:-/var/tmp/mlops-cold-check}
min_gb=${MLOPS_COLD_CHECK_MIN_GB:-56}
report=${MLOPS_COLD_CHECK_REPORT:-$root/build/cold-check/cold-check.json}
netns=${MLOPS_COLD_CHECK_NETNS:-mlops-cold-check}
steps=${MLOPS_COLD_CHECK_STEPS-venv up smoke}
# The veth pair between this host and the namespace (.1 here, .2 there), named after the namespace.
tag=$(printf '%s' "$netns" | sha256sum | cut -c1-6)
subnet=10.231.$(( 16#${tag:0:2} )) host_if=mcc$tag-h ns_if=mcc$tag-n

# --- preflight: nothing is changed before these pass --------------------------------------------
[[ $(id -u) == 0 ]] || die "run as root: it starts a Docker daemon and a network namespace"
for name in $steps; do
  [[ $name == @(venv|up|smoke) ]] || die "MLOPS_COLD_CHECK_STEPS: unknown step '$name' (the steps are venv, up, smoke)"
done
for tool in git ip nsenter python3 go; do
  command -v "$tool" >/dev/null || die "$tool is needed (apt-get install git iproute2 util-linux python3; Go >= 1.26)"
done
[[ ! -e $work ]] || die "$work exists (an earlier cold check kept or interrupted?): remove it (rm -rf $work; ip netns del $netns) or set MLOPS_COLD_CHECK_DIR"
ip netns list | grep -qw "$netns" && die "network namespace $netns exists (an earlier cold check?): ip netns del $netns"
mkdir -p "$(dirname "$work")"
free_gb=$(df -P -BG "$(dirname "$work")" | awk 'NR == 2 {print int($4)}')
(( free_gb >= min_gb )) || die "$(dirname "$work") has ${free_gb} GB free; a cold check needs ${min_gb} GB (Go module and build caches, a Docker data root with every image, a kind cluster): free space or set MLOPS_COLD_CHECK_DIR to a larger disk"
# containerd's sockets go under $work/docker-exec/containerd/: a Unix socket's path has at most 107 bytes.
(( ${#work} <= 50 )) || die "MLOPS_COLD_CHECK_DIR=$work is too long (${#work} characters; at most 50): the second daemon's sockets live under it"
if [[ -n $(git -C "$root" status --porcelain --untracked-files=no) ]]; then
  log "WARNING: uncommitted changes in $root are not part of the check (it clones HEAD $(git -C "$root" rev-parse --short HEAD))"
fi
# The first daemon: its installation brings dockerd, iptables and the runc the second one uses.
bash "$offline/docker.sh"
command -v iptables >/dev/null || die "iptables is needed (apt-get install iptables)"

mkdir -p "$work"/{home,gomod,cache,pulumi,pip,npm,xdg,tmp,docker,docker-exec,logs}
log "fresh machine in $work (${free_gb} GB free before)"
rows=$work/rows.tsv
: >"$rows"
daemon_pid=""

cleanup() {
  local status=$?
  set +e
  if [[ ${MLOPS_COLD_CHECK_KEEP:-0} == 1 ]]; then
    log "kept $work, the daemon (DOCKER_HOST=unix://$work/docker.sock, pid $daemon_pid) and namespace $netns"
    exit "$status"
  fi
  log "cleaning up: clusters, the second daemon, the namespace, $work"
  [[ -z ${sampler_pid:-} ]] || kill "$sampler_pid" 2>/dev/null
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    # The daemon's socket is a file: the docker CLI reaches it from this namespace.
    docker -H "unix://$work/docker.sock" ps -aq | xargs -r docker -H "unix://$work/docker.sock" rm -f -v >/dev/null 2>&1
    kill "$daemon_pid"
    for _ in $(seq 1 30); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$daemon_pid" 2>/dev/null
    kill -0 "$daemon_pid" 2>/dev/null && log "WARNING: the second Docker daemon (pid $daemon_pid) is still running"
  fi
  iptables -t nat -D POSTROUTING -s "$subnet.0/30" ! -o "$host_if" -j MASQUERADE 2>/dev/null
  iptables -D FORWARD -i "$host_if" -j ACCEPT 2>/dev/null
  iptables -D FORWARD -o "$host_if" -j ACCEPT 2>/dev/null
  ip link del "$host_if" 2>/dev/null
  ip netns del "$netns" 2>/dev/null
  # Mounts the daemon left under its roots (overlays, netns files) go before the files.
  grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  chmod -R u+w "$work" 2>/dev/null
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

in_ns() { nsenter --net="/var/run/netns/$netns" "$@"; }

# --- the network namespace --------------------------------------------------------------------
ip netns add "$netns"
ip link add "$host_if" type veth peer name "$ns_if"
ip link set "$ns_if" netns "$netns"
ip addr add "$subnet.1/30" dev "$host_if" && ip link set "$host_if" up
ip -n "$netns" addr add "$subnet.2/30" dev "$ns_if"
ip -n "$netns" link set "$ns_if" up && ip -n "$netns" link set lo up
ip -n "$netns" route add default via "$subnet.1"
sysctl -qw net.ipv4.ip_forward=1
iptables -t nat -A POSTROUTING -s "$subnet.0/30" ! -o "$host_if" -j MASQUERADE
iptables -I FORWARD -i "$host_if" -j ACCEPT
iptables -I FORWARD -o "$host_if" -j ACCEPT

# --- the second Docker daemon -------------------------------------------------------------------
# The same runc wrapper as offline/docker.sh installs (privileged kind nodes on hosts without
# CAP_SYS_RESOURCE), from the fresh clone, when this host needs it.
start=$SECONDS
git clone --quiet "$root" "$work/repo"
log "cloned $(git -C "$work/repo" rev-parse --short HEAD) into $work/repo"
printf 'fresh clone\t-\tok\t%s\n' "$((SECONDS - start))" >>"$rows"
daemon_json=$work/daemon.json
if (( ((16#$(awk '/^CapBnd/ {print $2}' /proc/self/status)) >> 24) & 1 )); then
  echo '{}' >"$daemon_json"
else
  sed "s|@RUNC@|$(command -v runc)|" "$work/repo/offline/runc-drop-sys-resource.py" >"$work/runc-wrapper"
  chmod 0755 "$work/runc-wrapper"
  printf '{"runtimes": {"mlops-runc": {"path": "%s"}}, "default-runtime": "mlops-runc"}\n' "$work/runc-wrapper" >"$daemon_json"
fi
# nsenter itself, not the in_ns function: in the background a function runs in a subshell, whose
# pid is not the daemon's (stopping it left the daemon running). nsenter execs dockerd in place.
nsenter --net="/var/run/netns/$netns" dockerd --config-file "$daemon_json" --data-root "$work/docker" \
  --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" -H "unix://$work/docker.sock" \
  >"$work/logs/dockerd.log" 2>&1 &
daemon_pid=$!
export DOCKER_HOST=unix://$work/docker.sock
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker info >/dev/null 2>&1 || { tail -n 40 "$work/logs/dockerd.log" >&2; die "the second Docker daemon did not start (log: $work/logs/dockerd.log)"; }
[[ $(cat "$work/docker.pid") == "$daemon_pid" ]] \
  || die "the second Docker daemon's pid file says $(cat "$work/docker.pid"), not $daemon_pid: it could not be stopped at the end"
[[ -z $(docker images -q) ]] || die "the second Docker daemon has images: not a fresh machine"
log "second Docker daemon ready: $DOCKER_HOST (data root $work/docker, network namespace $netns)"

# --- make venv, make up, make smoke on the fresh machine ---------------------------------------
export GOMODCACHE=$work/gomod MLOPS_CACHE_DIR=$work/cache PULUMI_HOME=$work/pulumi \
  PIP_CACHE_DIR=$work/pip npm_config_cache=$work/npm XDG_CACHE_HOME=$work/xdg TMPDIR=$work/tmp \
  MLOPS_STAGES_JSON=$work/up-stages.json
# GOCACHE unset, as on a fresh machine: the builders use their own, $work/cache/go-build, kept under
# MLOPS_GO_BUILD_CACHE_MB (offline/lib/build.sh); go test and go run use $work/xdg/go-build.
unset KUBECONFIG MLOPS_LOG_DIR GOCACHE
# Nothing of this machine's builds on PATH either (make puts its cache's bin/ and .venv/bin there):
# a pinned tool found there would be used instead of built.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vE "^($root|$cache)(/|$)" | paste -sd:)
for tool in pulumi kind helm; do
  if found=$(command -v "$tool"); then log "NOTE: $tool on this machine's PATH ($found) is used if it has the pinned version"; fi
done
# The disk used since the start, sampled every 30 s from the file system's own count (a `du` of
# millions of files lags minutes behind): the peak is the disk a cold machine needs.
used_mb() { df -P -BM "$work" | awk 'NR == 2 {print int($3)}'; }
( before=$(used_mb) peak=0; while sleep 30; do
    used=$(( $(used_mb) - before ))
    if (( used > peak )); then peak=$used; echo "$peak" >"$work/peak-mb"; fi
  done ) &
sampler_pid=$!

# step NAME COMMAND...: runs in the fresh clone and the namespace, output on the terminal and in a log.
step() {
  local name=$1 start status logfile
  shift
  logfile=$work/logs/${name// /-}.log
  log "$name: $*"
  start=$SECONDS
  set +e
  (cd "$work/repo" && in_ns "$@") 2>&1 | tee "$logfile"
  status=${PIPESTATUS[0]}
  set -e
  printf '%s\t-\t%s\t%s\n' "$name" "$([[ $status == 0 ]] && echo ok || echo failed)" "$((SECONDS - start))" >>"$rows"
  if [[ $status != 0 ]]; then
    write_report failed
    log "FAILED: $name (exit $status); the last 40 lines of $logfile:"
    tail -n 40 "$logfile" >&2
    die "$name failed on the fresh machine (log: $logfile; MLOPS_COLD_CHECK_KEEP=1 keeps everything)"
  fi
}

write_report() {
  mkdir -p "$(dirname "$report")"
  python3 "$root/dev_cluster/cold_report.py" write "$rows" "$work/up-stages.json" "$report" "$1" \
    "$(cat "$work/peak-mb" 2>/dev/null || echo 0)" "$(git -C "$work/repo" rev-parse HEAD)"
}

for name in $steps; do
  case $name in
    venv|up|smoke) step "make $name" make "$name" ;;
  esac
done
write_report passed

python3 "$root/dev_cluster/cold_report.py" show "$report"
