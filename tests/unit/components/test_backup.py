"""The Backup component (infra/components/backup.py) under Pulumi mocks: the backup CronJob and
the restore, their credentials and rights, what they may reach, and nothing of it when off."""

from __future__ import annotations

import pytest

from tests.support.components import TENANTS
from tests.support.pulumi_mocks import MOCK_PASSWORD, SECRET_SIG, run, unsecret

pytestmark = pytest.mark.unit


def test_backup_dumps_both_databases_then_copies_every_bucket_as_its_own_s3_user(mocks):
    import json

    run({"tenants": TENANTS[1:], "backup": {"schedule": "30 1 * * *", "retention": 4}})
    cronjob = mocks.named("backup-cronjob").inputs
    assert (cronjob["spec"]["schedule"], cronjob["spec"]["suspend"]) == ("30 1 * * *", False)
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["dump-mlflow", "dump-kubeflow-pipelines"], \
        "the databases are dumped before the buckets are copied (the backup's consistency)"
    dump_mlflow, dump_kfp = (c["command"][-1] for c in pod["initContainers"])
    assert "pg_dump --format=custom" in dump_mlflow
    assert "--exclude-table=users" in dump_mlflow, "MLflow's auth tables stay out: a restore keeps the new platform's users"
    assert "--single-transaction" in dump_kfp
    assert "--databases mlpipeline metadb" in dump_kfp
    assert "$KFP_DATABASE_PASSWORD" in dump_kfp
    assert "--password" not in dump_kfp, "no password on a command line"
    assert pod["containers"][0]["command"][-1].endswith("--retention 4 --platform /program/platform.json")
    assert pod["automountServiceAccountToken"] is False, "the backup pods need no Kubernetes API"
    assert all(c["securityContext"]["runAsNonRoot"] for c in pod["initContainers"] + pod["containers"])
    restore = mocks.named("backup-restore").inputs
    assert restore["spec"]["suspend"] is True, "a restore runs only when make restore starts it"
    restore_pod = restore["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in restore_pod["initContainers"]] == ["verify", "restore-mlflow", "restore-kubeflow-pipelines"]
    assert "--single-transaction" in restore_pod["initContainers"][1]["command"][-1]

    secret = mocks.named("backup-credentials").inputs["stringData"]
    assert SECRET_SIG in secret, "the database logins are Pulumi secrets"
    assert unsecret(secret)["AWS_ACCESS_KEY_ID"] == "platform-backup", "its own S3 user, never the root key"
    assert unsecret(secret)["MLFLOW_DATABASE_URL"] == \
        f"postgresql://mlflow:{MOCK_PASSWORD}@mlflow-postgres.mlops-mlflow.svc.cluster.local:5432/mlflow"
    platform = json.loads(mocks.named("backup-program").inputs["data"]["platform.json"])
    assert platform["buckets"] == ["mlflow-artifacts", "pipelines", "mlpipeline", "nlp-artifacts"]
    assert platform["databases"] == ["mlflow", "kubeflow-pipelines"]
    assert set(platform["images"]) == {"mlflow", "postgres", "mysql", "kfp-api-server", "mlmd-server"}
    assert {w["name"] for w in platform["writers"]} == {"mlflow", "ml-pipeline", "metadata-grpc-deployment"}

    # The model servers of each tenant namespace: read only, and the token in the store container only.
    rules = mocks.named("backup-read-model-servers-research-nlp-role").inputs["rules"]
    assert {verb for rule in rules for verb in rule["verbs"]} == {"get", "list"}
    assert {r for rule in rules for r in rule["resources"]} == {"deployments", "services"}
    assert platform["modelServers"] == {"namespaces": ["research-nlp"], "selector": "mlops-platform/serving=true"}
    assert pod["serviceAccountName"] == "platform-backup"
    assert [c["name"] for c in pod["initContainers"] + pod["containers"]
            if any(m["name"] == "api-token" for m in c["volumeMounts"])] == ["store"]
    assert "serviceAccountName" not in restore_pod, "the restore pod has no Kubernetes API access"

    # Only the backup namespace (and the servers) reach the databases.
    chart = mocks.chart("mlflow").inputs["values"]
    assert chart["networkPolicy"]["databaseClientNamespaces"] == ["mlops-backup"]
    kfp_db = mocks.named("kubeflow-pipelines-allow-database-clients").inputs["spec"]
    assert kfp_db["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlops-backup"}}}]
    assert "mlops-backup" in repr(mocks.named("object-store-ingress").inputs["spec"])


def test_backup_off_declares_nothing_and_opens_nothing(mocks):
    run({"backup": {"enabled": False}})
    names = {r.name for r in mocks.resources}
    assert not {n for n in names if n.startswith("backup-")}
    assert "schema-versions" not in names, "no pre-upgrade backup without backups"
    assert "kubeflow-pipelines-allow-database-clients" not in names
    assert mocks.chart("mlflow").inputs["values"]["networkPolicy"]["databaseClientNamespaces"] == []
