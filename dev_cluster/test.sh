#!/usr/bin/env bash
# `make test`: every test, in two lanes that run side by side.
#   unit lane     make render (a real `pulumi up` of both stacks into build/render/), the fast suite
#                 (unit, render, lint, docs, Ansible static; no cluster), then the pipeline
#                 components and the local pipeline runs (.venv-pipelines)
#   cluster lane  dev_cluster/cluster-check.sh: a throwaway kind cluster, the cluster tests, `make up`
#                 on it, the image checks, the platform and smoke tests, `make down`
# The unit lane needs no cluster and the cluster lane no rendered manifests, so neither waits for
# the other: the cluster lane, the longer one, starts at once instead of after the unit lane's ten
# minutes. The unit lane's output goes to its own log (interleaved, two pytest runs would be
# unreadable); one line per step says how it went as it ends, and the whole log is printed at the
# end. Both lanes always run to their end; the command fails when either failed, naming which.
#
# usage: dev_cluster/test.sh [PYTEST_ARG...]   (passed to every pytest run)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
logs=${MLOPS_TEST_LOGS:-$root/build/test-logs}
mkdir -p "$logs"
unit_log=$logs/unit.log
: >"$unit_log"

say() { echo "[test] $(date -u +%H:%M:%S) $*"; }

# One step of the unit lane: its output into the lane's log, one line on stdout when it ends.
step() {
  local name=$1 start=$SECONDS rc summary before
  shift
  echo "===== $name: $*" >>"$unit_log"
  before=$(wc -l <"$unit_log")
  "$@" >>"$unit_log" 2>&1
  rc=$?
  # pytest's summary line, from this step's output only (not an earlier step's).
  summary=$(tail -n +"$((before + 1))" "$unit_log" | grep -E '^=+ .*(passed|failed|error|no tests ran).* =+$' \
    | tail -n 1 | tr -d '=' | xargs || true)
  if ((rc == 0)); then
    say "unit lane: $name ok in $((SECONDS - start)) s${summary:+ ($summary)}"
  else
    say "unit lane: $name FAILED (exit $rc) after $((SECONDS - start)) s${summary:+ ($summary)}; its output:"
    tail -n 60 "$unit_log" | sed 's/^/[unit] /'
  fi
  return "$rc"
}

unit_lane() {
  step "make render" bash "$here/render.sh" "${MLOPS_RENDER_DIR:-$root/build/render}" local university || return 1
  step "fast suite" "$root/.venv/bin/pytest" -m "not e2e and not molecule" "$@" || return 1
  step "components and local pipeline" "$root/.venv-pipelines/bin/python" -m pytest -m "not e2e" \
    pipeline_components/tests smoke_tests/test_local_pipeline.py "$@" || return 1
}

say "two lanes side by side: unit (log: $unit_log) and cluster (below)"
started=$SECONDS
(cd "$root" && unit_lane "$@") &
unit_pid=$!
# Interrupted: the unit lane's runs stop too (the cluster lane deletes its cluster on its way out).
trap 'pkill -TERM -P "$unit_pid"; kill "$unit_pid" 2>/dev/null' INT TERM

bash "$here/cluster-check.sh" "$@"
cluster_rc=$?
say "cluster lane: $( ((cluster_rc == 0)) && echo ok || echo "FAILED (exit $cluster_rc)") after $((SECONDS - started)) s"

wait "$unit_pid"
unit_rc=$?
say "unit lane's log ($unit_log):"
sed 's/^/[unit] /' "$unit_log"
say "unit lane: $( ((unit_rc == 0)) && echo ok || echo FAILED); cluster lane: $( ((cluster_rc == 0)) && echo ok || echo FAILED); $((SECONDS - started)) s in all"
((unit_rc == 0 && cluster_rc == 0))
