#!/usr/bin/env bash
# Makes sure a Docker engine is running, installing Debian's docker.io when it is missing.
#
# Privileged containers (kind nodes) need a workaround on VMs whose capability bounding set
# lacks CAP_SYS_RESOURCE: runc then fails with "unable to apply caps". There the engine gets a
# default runtime that wraps runc and drops that one capability from each container's OCI
# config before create/run/exec. On a normal host nothing is changed.
#
# Idempotent; safe to call from every target. usage: offline/docker.sh
set -euo pipefail

log() { printf '[docker] %s\n' "$*" >&2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wrapper=/usr/local/libexec/mlops-platform/runc-drop-sys-resource
daemon_json=/etc/docker/daemon.json

running=false
docker info >/dev/null 2>&1 && running=true
if [[ $(id -u) -ne 0 ]]; then
  $running && exit 0
  log "ERROR: no Docker engine is running and starting one needs root; start dockerd and re-run"
  exit 1
fi
# Builders in parallel stages call this at the same time: one at a time (the first may start the
# engine for all).
mkdir -p /run/lock
exec 9>/run/lock/mlops-platform-docker.lock
if ! flock -w 600 9; then
  log "ERROR: another setup of the Docker engine has held /run/lock/mlops-platform-docker.lock for 10 minutes; its holder: $(fuser /run/lock/mlops-platform-docker.lock 2>/dev/null)"
  exit 1
fi
docker info >/dev/null 2>&1 && running=true
if ! command -v dockerd >/dev/null; then
  log "installing Debian's docker.io (engine) ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

# CAP_SYS_RESOURCE is capability 24.
bounding=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
wrapper_needed=""
if (( ((16#$bounding) >> 24) & 1 )); then :; else
  mkdir -p "$(dirname "$wrapper")"
  wanted=$(sed "s|@RUNC@|$(command -v runc)|" "$here/runc-drop-sys-resource.py")
  if [[ ! -x $wrapper || $(cat "$wrapper") != "$wanted" ]]; then
    printf '%s\n' "$wanted" >"$wrapper.tmp"
    chmod 0755 "$wrapper.tmp" && mv "$wrapper.tmp" "$wrapper"
  fi
  wrapper_needed=$wrapper
fi

mkdir -p /etc/docker
changed=$(python3 - "$daemon_json" "$wrapper_needed" <<'PYTHON'
import json, os, sys
path, wrapper = sys.argv[1], sys.argv[2]
config = json.load(open(path)) if os.path.exists(path) else {}
before = json.dumps(config, sort_keys=True)
if wrapper:
    config.setdefault("runtimes", {})["mlops-runc"] = {"path": wrapper}
    config["default-runtime"] = "mlops-runc"
if json.dumps(config, sort_keys=True) != before:
    with open(path, "w") as out:
        json.dump(config, out, indent=2)
    print("changed")
PYTHON
)

if $running; then
  [[ $changed == changed ]] || exit 0
  # Runtimes are reloadable: no restart, running containers are untouched.
  log "CAP_SYS_RESOURCE is missing here: making the runc wrapper the default runtime (reloading dockerd)"
  kill -HUP "$(pidof dockerd)"
  for _ in $(seq 1 20); do
    [[ $(docker info --format '{{.DefaultRuntime}}' 2>/dev/null) == mlops-runc ]] && exit 0
    sleep 0.5
  done
  log "ERROR: dockerd did not pick up the runc wrapper from $daemon_json; restart dockerd"
  exit 1
fi

log "starting dockerd (log: /var/log/dockerd.log)"
# Without the caller's open descriptors (this script's lock, a builder's cache and Go build cache
# locks, offline/lib/build.sh): a daemon holding one would keep every later caller waiting.
(
  for fd in /proc/"$BASHPID"/fd/*; do
    fd=${fd##*/}
    if ((fd > 2 && fd != 255)); then eval "exec $fd>&-"; fi
  done
  exec nohup dockerd >>/var/log/dockerd.log 2>&1
) &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "Docker engine ready ($(docker version --format '{{.Server.Version}}'), runtime $(docker info --format '{{.DefaultRuntime}}'))"
    exit 0
  fi
  sleep 1
done
log "ERROR: dockerd did not become ready in 60 s; last lines of /var/log/dockerd.log:"
tail -n 20 /var/log/dockerd.log >&2
exit 1
