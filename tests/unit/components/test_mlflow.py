"""The Mlflow component (infra/components/mlflow.py) under Pulumi mocks: its chart's values, the
Secrets they reference, an external database and the Ingress."""

from __future__ import annotations

import pytest

from tests.support.pulumi_mocks import MOCK_PASSWORD, containers, run, unsecret

pytestmark = pytest.mark.unit


def test_mlflow_chart_values_reference_secrets_and_follow_image_override(mocks):
    run({"images": {"registry": "mirror.example.edu:5000", "overrides": {"postgres": "r.example.edu/pg:15"}}})

    chart = mocks.chart("mlflow")
    values = chart.inputs["values"]
    assert chart.inputs["chart"].endswith("charts/mlflow")
    assert values["image"] == {"repository": "mirror.example.edu:5000/mlflow/mlflow", "tag": "v3.17.2",
                               "pullPolicy": "IfNotPresent"}
    assert values["backendStore"]["postgres"]["image"]["repository"] == "r.example.edu/pg"
    assert values["auth"]["existingSecret"] == "mlflow-auth"
    assert values["artifacts"]["bucket"] == "mlflow-artifacts"
    assert values["artifacts"]["s3EndpointUrl"] == "http://object-store.mlops-storage.svc.cluster.local:8333"
    assert values["resources"]["requests"]["memory"], "MLflow server requests are set"
    assert MOCK_PASSWORD not in repr(values), "chart values never carry a password"
    sts = mocks.named("object-store-server")
    assert containers(sts)[0]["image"] == "mirror.example.edu:5000/chrislusf/seaweedfs:4.53"


def test_external_database_gets_dsn_secret_and_no_database_password(mocks):
    run({"mlflow": {"database": {"mode": "external"}},
         "mlflowExternalDsn": "postgresql://mlflow:pw@db.example.edu:5432/mlflow"})

    names = [r.name for r in mocks.resources]
    assert "mlflow-database-password" not in names, "no in-cluster database password for an external database"
    secret = mocks.named("mlflow-database")
    assert set(unsecret(secret.inputs["stringData"])) == {"dsn"}
    values = mocks.chart("mlflow").inputs["values"]
    assert values["backendStore"]["external"] is True


def test_mlflow_ingress_gets_the_platform_tls(mocks):
    run({"platform": {"ingressClass": "nginx", "ingressTls": {"clusterIssuer": "campus-ca"}},
         "mlflow": {"ingressHost": "mlflow.ml.example.edu"}})
    ingress = mocks.chart("mlflow").inputs["values"]["ingress"]
    assert ingress == {"enabled": True, "host": "mlflow.ml.example.edu", "className": "nginx", "tlsSecretName": "mlflow-tls",
                       "annotations": {"cert-manager.io/cluster-issuer": "campus-ca"}}
