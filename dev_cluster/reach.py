"""What dev_cluster/up.sh says from the local stack's outputs (their names are infra/outputs.py's,
never repeated here as strings): how to reach each service after `make up`, and, before
`make down`, which namespaces the stack deployed and where its backups live.

usage:
  pulumi stack output --json | reach.py summary KUBECONFIG WORKSPACE
  pulumi stack export | reach.py namespaces
  pulumi stack output --json | reach.py output NAME      (the output's value; "" when it is absent)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from infra import outputs


def summary(values: dict, kubeconfig: str, workspace: str) -> str:
    """The lines `make up` ends with: each service, how to reach it and with which credentials."""
    store_ns, mlflow_ns = values[outputs.OBJECT_STORE_NAMESPACE], values[outputs.MLFLOW_NAMESPACE]
    lines = [
        "",
        f"The platform is up (kubeconfig: {kubeconfig}).",
        f"  MLflow:        kubectl -n {mlflow_ns} port-forward svc/mlflow 5000:5000   -> http://localhost:5000",
        f"                 user: admin, password: (cd {workspace} && pulumi stack output --show-secrets "
        f"{outputs.MLFLOW_ADMIN_PASSWORD})",
        f"  Object store:  kubectl -n {store_ns} port-forward svc/object-store 8333:8333 -> http://localhost:8333",
        f"                 keys: kubectl -n {store_ns} get secret object-store-credentials -o "
        "jsonpath='{.data.AWS_SECRET_ACCESS_KEY}' | base64 -d",
    ]
    kfp_ns = values.get(outputs.KFP_NAMESPACE, "")
    if kfp_ns:
        lines += [
            f"  Pipelines:     kubectl -n {kfp_ns} port-forward svc/ml-pipeline 8888:8888",
            '                 -> kfp.Client(host="http://localhost:8888", existing_token=TOKEN, namespace="research-<group>")',
            "                 multi-user: runs execute in the group's namespace; TOKEN: a member's Kubernetes token,",
            "                 audience pipelines.kubeflow.org (local stack: the ServiceAccounts of mlops-people,",
            "                 kubectl -n mlops-people create serviceaccount alice;",
            "                 kubectl -n mlops-people create token alice --audience pipelines.kubeflow.org)",
            "  Queues:        every pod of research-<group> is admitted by Kueue through the LocalQueue default:",
            "                 kubectl -n research-<group> get localqueue,workloads; kubectl get clusterqueues",
        ]
        login_ns = values.get(outputs.LOGIN_NAMESPACE, "")
        if login_ns:
            lines += [
                f"  Pipelines UI:  people sign in at {values.get(outputs.LOGIN_UI_URL, '')} (runs, graphs, step logs, "
                "artifacts, lineage of their group):",
                f"                 kubectl -n {login_ns} port-forward svc/dex 5556 & "
                f"kubectl -n {login_ns} port-forward svc/oauth2-proxy 4180 &",
                f"                 passwords: kubectl -n {login_ns} get secret people-passwords -o "
                "jsonpath='{.data.alice}' | base64 -d",
            ]
        elif values.get(outputs.KFP_UI_ENDPOINT, ""):
            lines += [
                f"  Pipelines UI:  kubectl -n {kfp_ns} port-forward svc/ml-pipeline-ui 8080:80 -> http://localhost:8080",
                "                 runs, their graphs, step logs, artifacts and ML Metadata lineage; without login.enabled",
                "                 the API answers only requests with a member's token (Authorization: Bearer)",
            ]
    monitoring_ns = values.get(outputs.MONITORING_NAMESPACE, "")
    if monitoring_ns:
        lines += [
            "  Dashboard:     make dashboard -> http://localhost:8080 (the platform's and each research group's charts, alerts)",
            f"  Monitoring:    kubectl -n {monitoring_ns} port-forward svc/prometheus 9090 -> Prometheus's API at "
            "http://localhost:9090",
            "                 (/api/v1/alerts, /api/v1/targets, /api/v1/query?query=...; the web UI is not built offline yet)",
        ]
    return "\n".join(lines)


def namespaces(state: dict) -> list[str]:
    """The namespaces a stack's state (`pulumi stack export`) holds, sorted."""
    resources = state.get("deployment", {}).get("resources") or []
    return sorted(r["outputs"]["metadata"]["name"] for r in resources if r["type"] == "kubernetes:core/v1:Namespace")


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "summary" and len(argv) == 3:
        print(summary(json.load(sys.stdin), argv[1], argv[2]))
    elif command == "namespaces" and len(argv) == 1:
        text = sys.stdin.read()
        for name in namespaces(json.loads(text) if text.strip() else {}):
            print(name)  # one per line, nothing for none (`mapfile` in up.sh would read an empty line as one)
    elif command == "output" and len(argv) == 2:
        if not hasattr(outputs, argv[1]):
            sys.exit(f"reach.py: infra/outputs.py names no output {argv[1]}")
        print(json.load(sys.stdin).get(getattr(outputs, argv[1]), ""))
    else:
        sys.exit("usage:" + __doc__.split("usage:", 1)[1].rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
