"""The platform: stack config -> components -> stack outputs."""

import sys
from pathlib import Path

# `pulumi` runs this file with infra/ as the working directory; make `infra` importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra import outputs
from infra.config import ConfigError, load
from infra.deploy import deploy

try:
    config = load()
except ConfigError as exc:
    # Nothing is declared yet, so nothing is changed; the message names every bad key.
    # RunError ends the program with the message alone, without a Python traceback.
    raise pulumi.RunError(str(exc)) from None
platform = deploy(config)
pulumi.export(outputs.OBJECT_STORE_ENDPOINT, platform.object_store.endpoint)
pulumi.export(outputs.OBJECT_STORE_NAMESPACE, platform.object_store.namespace)
pulumi.export(outputs.OBJECT_STORE_CREDENTIALS_SECRET, platform.object_store.credentials_secret_name)
pulumi.export(outputs.MLFLOW_TRACKING_URI, platform.mlflow.tracking_uri)
pulumi.export(outputs.MLFLOW_NAMESPACE, platform.mlflow.namespace)
pulumi.export(outputs.MLFLOW_ADMIN_SECRET, platform.mlflow.admin_secret_name)
pulumi.export(outputs.MLFLOW_ADMIN_PASSWORD, platform.mlflow.admin_password)
pulumi.export(outputs.GPU_RUNTIME_CLASS, platform.gpu.runtime_class if platform.gpu else "")
pulumi.export(outputs.TENANTS, platform.tenants.tenants if platform.tenants else {})
kfp = platform.kubeflow_pipelines
pulumi.export(outputs.KFP_ENDPOINT, kfp.endpoint if kfp else "")
pulumi.export(outputs.KFP_NAMESPACE, kfp.namespace if kfp else "")
pulumi.export(outputs.KFP_UI_ENDPOINT, kfp.ui_endpoint if kfp else "")
pulumi.export(outputs.BACKUP_NAMESPACE, platform.backup.namespace if platform.backup else "")
pulumi.export(outputs.LOGIN_UI_URL, platform.login.ui_url if platform.login else "")
pulumi.export(outputs.LOGIN_ISSUER_URL, platform.login.issuer_url if platform.login else "")
pulumi.export(outputs.LOGIN_NAMESPACE, platform.login.namespace if platform.login else "")
pulumi.export(outputs.MONITORING_NAMESPACE, platform.monitoring.namespace if platform.monitoring else "")
pulumi.export(outputs.PROMETHEUS_SERVICE, platform.monitoring.prometheus_service if platform.monitoring else "")
pulumi.export(outputs.QUEUEING_NAMESPACE, platform.queueing.namespace if platform.queueing else "")
pulumi.export(outputs.DASHBOARD_SERVICE, platform.monitoring.dashboard_service if platform.monitoring else "")
