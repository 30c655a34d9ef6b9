"""Names of the stack outputs. Tests and smoke tests import these; never repeat them as strings."""

OBJECT_STORE_ENDPOINT = "objectStoreEndpoint"
OBJECT_STORE_NAMESPACE = "objectStoreNamespace"
OBJECT_STORE_CREDENTIALS_SECRET = "objectStoreCredentialsSecret"
MLFLOW_TRACKING_URI = "mlflowTrackingUri"
MLFLOW_NAMESPACE = "mlflowNamespace"
MLFLOW_ADMIN_SECRET = "mlflowAdminSecret"
MLFLOW_ADMIN_PASSWORD = "mlflowAdminPassword"
# name of the RuntimeClass for GPU pods ("" when gpu.enabled is false)
GPU_RUNTIME_CLASS = "gpuRuntimeClass"
# tenant name -> {namespace, bucket, experimentPrefix, credentialsSecret}
TENANTS = "tenants"
# in-cluster URL of the Kubeflow Pipelines API (http://ml-pipeline.<namespace>.svc.cluster.local:8888),
# its namespace and the Secret with MLflow's and the bucket's settings for components ("" when disabled)
KFP_ENDPOINT = "kubeflowPipelinesEndpoint"
KFP_NAMESPACE = "kubeflowPipelinesNamespace"
# in-cluster URL of the Kubeflow Pipelines web UI (http://ml-pipeline-ui.<namespace>.svc.cluster.local:80;
# "" when Kubeflow Pipelines or its `ui` is off)
KFP_UI_ENDPOINT = "kubeflowPipelinesUiEndpoint"
# namespace of the platform's backup CronJob and volume ("" when backup.enabled is false)
BACKUP_NAMESPACE = "backupNamespace"
# People's sign-in (the Login component; "" when login.enabled is false): the address of the
# Kubeflow Pipelines UI behind oauth2-proxy, Dex's issuer, and the namespace whose Secret
# people-passwords holds the generated passwords of login.staticUsers
LOGIN_UI_URL = "loginUiUrl"
LOGIN_ISSUER_URL = "loginIssuerUrl"
LOGIN_NAMESPACE = "loginNamespace"
# The monitoring stack (the Monitoring component; "" when monitoring.enabled is false): its
# namespace and the Service of Prometheus's API (port 9090)
MONITORING_NAMESPACE = "monitoringNamespace"
PROMETHEUS_SERVICE = "prometheusService"
# The dashboard's Service (port 8080), in the monitoring namespace
DASHBOARD_SERVICE = "dashboardService"
# Kueue's namespace ("" when no Kueue runs: queueing.enabled is false or no research group is configured)
QUEUEING_NAMESPACE = "queueingNamespace"
