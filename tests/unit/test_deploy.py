"""The whole program (infra/deploy.py) under Pulumi mocks: what holds across its components.
Each component's own unit tests are in tests/unit/components/; the real proof is the render run
(tests/render) and the cluster tests."""

from __future__ import annotations

import pytest

from tests.support.pulumi_mocks import MOCK_PASSWORD, SECRET_SIG, run, unsecret

pytestmark = pytest.mark.unit


def test_no_password_is_passed_in_plain_text_to_any_resource(mocks):
    facts = run({"tenants": [{"name": "nlp", "members": ["bob"]}]})
    assert facts["tracking_uri"] == "http://mlflow.mlops-mlflow.svc.cluster.local:5000"

    for resource in mocks.resources:
        if resource.typ == "kubernetes:core/v1:Secret":
            continue
        assert MOCK_PASSWORD not in repr(resource.inputs), f"{resource.typ} {resource.name} carries a password inline"
    secrets = {r.name: r for r in mocks.of_type("kubernetes:core/v1:Secret")}
    for name in ("mlflow-auth", "mlflow-database", "object-store-credentials", "mlflow-s3",
                 "kubeflow-pipelines-database-credentials", "kubeflow-pipelines-artifact-credentials",
                 "tenants-nlp-credentials", "tenants-nlp-mlflow-reader", "tenants-nlp-artifact-credentials"):
        assert SECRET_SIG in secrets[name].inputs["stringData"], f"Secret {name}: stringData is passed as a secret"
    assert unsecret(secrets["mlflow-auth"].inputs["stringData"])["admin-password"] == MOCK_PASSWORD
    assert unsecret(secrets["mlflow-database"].inputs["stringData"])["postgres-password"] == MOCK_PASSWORD
