"""GeneratedPassword (infra/components/generated_password.py) under Pulumi mocks: which passwords
the platform generates, and that they are secret outputs."""

from __future__ import annotations

import pytest

from tests.support.pulumi_mocks import run

pytestmark = pytest.mark.unit


def test_generated_passwords_are_secret_outputs(mocks):
    facts = run({})
    assert facts["store_password_secret"], "object-store root password must be a secret output"
    assert facts["admin_password_secret"], "MLflow admin password must be a secret output"
    generated = [r for r in mocks.of_type("pulumi-python:dynamic:Resource") if r.name != "schema-versions"]
    assert {r.name for r in generated} == {"object-store-root-password", "mlflow-admin-password",
                                           "mlflow-flask-secret-key", "mlflow-database-password",
                                           "object-store-user-kubeflow-pipelines", "object-store-user-mlflow",
                                           "object-store-user-platform-backup",
                                           "kubeflow-pipelines-database-password",
                                           "kubeflow-pipelines-database-root-password"}
