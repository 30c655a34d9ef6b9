"""The names that the platform (infra/, the Pulumi program) and the pipeline components agree on,
defined once: infra/ imports this module (infra/__init__.py puts pipeline_components/ on its path) and the
pipeline images carry it with the rest of mlops_components. Plain constants only: importing it
must need nothing beyond the standard library, in either environment.

Change a value here and both sides follow; the Ansible roles (gpu_node's label and taint) are
checked against it by tests/offline/test_versions.py.
"""

# The Secret in each research group's (tenant's) namespace from which pipeline steps get MLflow's
# address, the group's MLflow workspace and identity, and the object store's endpoint and the
# group's bucket keys (kfp.kubernetes.use_secret_as_env), and the keys it holds.
PIPELINE_ENV_SECRET = "mlops-credentials"  # noqa: S105 (a name, not a value)
PIPELINE_ENV_KEYS = ("MLFLOW_TRACKING_URI", "MLFLOW_WORKSPACE", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                     "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                     "AWS_SECRET_ACCESS_KEY", "MLOPS_ARTIFACT_BUCKET", "MLOPS_EXPERIMENT_PREFIX")
# The Secret in the same namespace with the group's read-only MLflow user, made by the platform,
# for the model servers that deploy_model makes (they load their model from MLflow with it).
MLFLOW_READER_SECRET = "mlflow-reader"  # noqa: S105 (a name, not a value)
MLFLOW_READER_KEYS = ("MLFLOW_TRACKING_URI", "MLFLOW_WORKSPACE", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                      "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD")

# Model servers that deploy_model makes in a tenant namespace: the label that the tenant's
# NetworkPolicy admits traffic to, and their port.
SERVING_LABEL = "mlops-platform/serving"
SERVING_PORT = 8080

# GPUs: the extended resource, and the label and taint of GPU nodes (ansible role gpu_node sets
# them; the device plugin selects and tolerates them; GPU steps tolerate the taint).
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE_LABEL = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Equal", "value": "present", "effect": "NoSchedule"}
# A node whose nvidia.com/gpu are advertised only, with no GPU behind them (the local kind
# cluster's, dev_cluster/cluster.sh MLOPS_FAKE_GPUS): a step placed there trains on the CPU.
FAKE_GPU_LABEL = "mlops-platform/fake-gpu"
