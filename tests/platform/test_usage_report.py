"""`make usage-report` (platform_usage/report.py) on the platform that `make up` deployed: the report,
run as the operator runs it (kubectl port-forward to the platform's Prometheus), lists both research
groups with CPU-, memory- and GPU-hours above zero for today, in its table, CSV and chart. The usage
comes from real pods: in `make test` the queueing tests before this one ran GPU pods in both groups'
namespaces; when some group has none yet today (this test alone), each group first runs a pod
holding one of the cluster's GPUs and doing a little work for a minute."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys

import pytest
from mlops_components.contract import GPU_RESOURCE

from tests.support.cluster import kubectl, wait_for
from tests.support.platform import CFG, cluster_gpus, gpu_pod

pytestmark = pytest.mark.e2e
# A minute of work with pauses: some CPU time in every 15 s scrape of the containers' counters.
WORK = ["sh", "-c", 'end=$(( $(date +%s) + 60 )); while [ "$(date +%s)" -lt "$end" ]; do i=0; '
        'while [ "$i" -lt 20000 ]; do i=$((i + 1)); done; sleep 1; done']


def test_the_usage_report_lists_each_group_with_its_cpu_memory_and_gpu_hours(tmp_path):
    tenants = CFG.tenancy.tenants
    gpus = cluster_gpus()
    if gpus < len(tenants):
        pytest.skip(f"SKIPPED LOUDLY: the cluster advertises {gpus} {GPU_RESOURCE} for {len(tenants)} research groups; the CI "
                    "cluster has 2 fake GPUs (dev_cluster/cluster-check.sh: MLOPS_FAKE_GPUS=2; a dev cluster: make cluster MLOPS_FAKE_GPUS=2)")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    output = tmp_path / "usage"

    def reported():
        run = subprocess.run([sys.executable, "-m", "platform_usage.report", "--days", "1", "--output", str(output)],
                             capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        with (output / "usage.csv").open() as handle:
            rows = {row["tenant"]: row for row in csv.DictReader(handle) if row["day"] == today}
        used = all(float(rows.get(t.name, {}).get(m, 0)) > 0 for t in tenants for m in ("cpu_hours", "memory_gib_hours", "gpu_hours"))
        return used and set(rows) == {t.name for t in tenants}, run.stdout

    created: list[tuple[str, str]] = []
    try:
        done, table = reported()
        if not done:
            for tenant in tenants:
                gpu_pod(created, tenant.namespace, "usage", 60, command=WORK)

            def all_running():
                phases = {name: kubectl("get", "pod", "-n", namespace, name, "-o", "jsonpath={.status.phase}", check=False)
                          for namespace, name in created}
                return all(phase in ("Running", "Succeeded") for phase in phases.values()), phases

            wait_for("each group's GPU pod running", all_running, timeout=180)
            # GPUs held are sampled every 30 s and Prometheus scrapes every 15 s: within about a minute.
            table = wait_for("the report showing each group's CPU, memory and GPU use today", reported, timeout=150, interval=10)
        for tenant in tenants:
            assert f"{today}  {tenant.name}" in table, table
        chart = (output / "usage.svg").read_text()
        assert all(f"{tenant.name} {today} GPU-hours" in chart for tenant in tenants), "a GPU bar per group"
    finally:
        for namespace, name in created:
            kubectl("delete", "pod", "-n", namespace, name, "--ignore-not-found", "--wait=false", check=False)
