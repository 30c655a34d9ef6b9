"""infra/config.py: defaults come from Pulumi.yaml; every bad stack config is refused with a
message naming the key, the bad value and what is allowed."""


import pytest

from infra.config import KFP_RESOURCE_PROFILES, ConfigError, parse, project_defaults, quantity
from tests.support.stacks import stack_values

pytestmark = pytest.mark.unit


def test_defaults_alone_are_valid():
    cfg = parse({})
    assert cfg.object_store.backend == "seaweedfs"
    assert cfg.mlflow.artifact_bucket in cfg.object_store.buckets
    assert cfg.mlflow.database.mode == "inCluster"


def test_defaults_are_read_from_pulumi_yaml_only():
    defaults = project_defaults()
    assert set(defaults) == {"images", "platform", "objectStore", "mlflow", "mlflowExternalDsn", "gpu", "tenancy",
                             "tenants", "kubeflowPipelines", "kubeflowPipelinesDatabasePassword", "queueing", "backup", "login",
                             "loginLdapBindPassword", "monitoring", "monitoringSmtpPassword", "monitoringAlertWebhookUrl"}
    assert parse({}).object_store.volume_size == defaults["objectStore"]["volumeSize"]


def test_stack_values_merge_over_defaults_field_by_field():
    cfg = parse({"objectStore": {"volumeSize": "3Gi"}, "mlflow": {"database": {"volumeSize": "2Gi"}}})
    assert cfg.object_store.volume_size == "3Gi"
    assert cfg.object_store.backend == project_defaults()["objectStore"]["backend"], "untouched fields keep their default"
    assert cfg.mlflow.database.volume_size == "2Gi"
    assert cfg.mlflow.database.mode == "inCluster"


@pytest.mark.parametrize("stack", ["local", "university"])
def test_shipped_stacks_are_valid(stack):
    raw, secret = stack_values(stack)
    cfg = parse(raw, secret)
    assert cfg.object_store.namespace


def test_local_stack_is_lean_seaweedfs_and_university_is_minio_with_ingress():
    local = parse(*stack_values("local"))
    university = parse(*stack_values("university"))
    assert local.object_store.backend == "seaweedfs"
    assert local.images.registry, "the local stack runs offline-built images from the local registry name"
    assert university.object_store.backend == "minio"
    assert university.mlflow.ingress_host
    assert university.platform.ingress_tls.cluster_issuer, "the university's Ingress serves HTTPS"
    assert university.mlflow.database.mode == "external"


TENANT = {"name": "vision", "members": ["alice"]}
LOGIN = {"enabled": True, "issuerUrl": "https://login.example.edu/dex", "uiUrl": "https://pipelines.example.edu",
         "staticUsers": ["alice@example.edu"]}

BAD_CONFIGS = [
    # (id, raw config, secret keys, fragments the message must contain)
    ("unknown top-level key", {"mlfow": {}}, (), ["mlops-platform:mlfow", "unknown key", "known keys: backup, gpu, images"]),
    ("backup schedule not cron", {"backup": {"schedule": "every night"}}, (),
     ["mlops-platform:backup.schedule = 'every night'", "five fields", "'0 2 * * *'"]),
    ("backup retention 0", {"backup": {"retention": 0}}, (), ["mlops-platform:backup.retention = 0", "1 or more"]),
    ("backup namespace taken", {"backup": {"namespace": "mlops-mlflow"}}, (),
     ["mlops-platform:backup.namespace = 'mlops-mlflow'", "is already mlflow.namespace"]),
    ("backup volume size", {"backup": {"target": {"volumeSize": "20GB"}}}, (),
     ["mlops-platform:backup.target.volumeSize = '20GB'", "Mi, Gi or Ti"]),
    ("tenant in the backup namespace", {"tenancy": {"namespacePrefix": "mlops-"}, "tenants": [{**TENANT, "name": "backup"}]}, (),
     ["namespace 'mlops-backup' is a platform namespace (backup.namespace)"]),
    ("unknown nested key", {"objectStore": {"volumSize": "1Gi"}}, (),
     ["objectStore.volumSize", "unknown key", "volumeSize"]),
    ("wrong type for a map", {"objectStore": "seaweedfs"}, (), ["mlops-platform:objectStore", "expected a map"]),
    ("wrong type for a list", {"objectStore": {"buckets": "mlflow-artifacts"}}, (),
     ["objectStore.buckets", "expected a list of strings"]),
    ("unsupported backend", {"objectStore": {"backend": "ceph"}}, (),
     ["objectStore.backend", "'ceph'", "allowed values: minio, seaweedfs"]),
    ("bad volume size", {"objectStore": {"volumeSize": "20GB"}}, (),
     ["objectStore.volumeSize", "'20GB'", "Mi, Gi or Ti"]),
    ("bad cpu quantity", {"mlflow": {"resources": {"requests": {"cpu": "lots"}}}}, (),
     ["mlflow.resources.requests.cpu", "'lots'", "cpu quantity"]),
    ("request above limit", {"mlflow": {"resources": {"requests": {"memory": "4Gi"}}}}, (),
     ["mlflow.resources.requests.memory", "'4Gi'", "must not exceed the limit 1Gi"]),
    ("unknown resource name", {"objectStore": {"resources": {"limits": {"gpu": "1", "cpu": "1", "memory": "1Gi"}}}}, (),
     ["objectStore.resources.limits.gpu", "allowed resources: cpu, memory"]),
    ("invalid namespace", {"mlflow": {"namespace": "MLflow_NS"}}, (), ["mlflow.namespace", "'MLflow_NS'", "DNS label"]),
    ("reserved namespace", {"objectStore": {"namespace": "kube-system"}}, (),
     ["objectStore.namespace", "'kube-system'", "Kubernetes owns"]),
    ("bad hostname", {"platform": {"ingressClass": "nginx", "ingressTls": {"secretName": "ml-tls"}},
                      "mlflow": {"ingressHost": "mlflow_server"}}, (),
     ["mlflow.ingressHost", "'mlflow_server'", "fully qualified host name"]),
    ("cidr with host bits", {"platform": {"allowedIngressCidrs": ["10.0.0.1/8"]}}, (),
     ["platform.allowedIngressCidrs[0]", "'10.0.0.1/8'", "CIDR notation"]),
    ("not a cidr", {"platform": {"allowedIngressCidrs": ["campus-net"]}}, (),
     ["platform.allowedIngressCidrs[0]", "'campus-net'", "CIDR"]),
    ("bad bucket name", {"objectStore": {"buckets": ["mlflow-artifacts", "Pipelines_Data"]}}, (),
     ["objectStore.buckets[1]", "'Pipelines_Data'", "S3 bucket name"]),
    ("duplicate buckets", {"objectStore": {"buckets": ["mlflow-artifacts", "mlflow-artifacts"]}}, (),
     ["objectStore.buckets", "repeated: mlflow-artifacts"]),
    ("artifact bucket not created", {"mlflow": {"artifactBucket": "elsewhere"}}, (),
     ["mlflow.artifactBucket", "'elsewhere'", "must be one of objectStore.buckets"]),
    ("ingress host without ingress class", {"mlflow": {"ingressHost": "mlflow.ml.example.edu"}}, (),
     ["mlflow.ingressHost", "needs platform.ingressClass"]),
    ("ingress host without tls", {"platform": {"ingressClass": "nginx"}, "mlflow": {"ingressHost": "mlflow.ml.example.edu"}}, (),
     ["mlflow.ingressHost", "needs TLS", "platform.ingressTls.clusterIssuer", "platform.ingressTls.secretName",
      "in namespace mlops-mlflow"]),
    ("tls by issuer and secret at once", {"platform": {"ingressTls": {"clusterIssuer": "campus-ca", "secretName": "ml-tls"}}}, (),
     ["platform.ingressTls", "not both"]),
    ("bad tls secret name", {"platform": {"ingressTls": {"secretName": "ML_TLS"}}}, (),
     ["platform.ingressTls.secretName", "'ML_TLS'", "Kubernetes object name"]),
    ("unknown tls key", {"platform": {"ingressTls": {"issuer": "campus-ca"}}}, (),
     ["platform.ingressTls.issuer", "unknown key", "clusterIssuer, secretName"]),
    ("external database without dsn", {"mlflow": {"database": {"mode": "external"}}}, (),
     ["mlflow.database.mode", "needs the DSN", "pulumi config set --secret mlops-platform:mlflowExternalDsn"]),
    ("dsn stored in plain text", {"mlflow": {"database": {"mode": "external"}},
                                  "mlflowExternalDsn": "postgresql://u:p@h:5432/d"}, (),
     ["mlflowExternalDsn", "must be stored encrypted", "<redacted>"]),
    ("malformed dsn", {"mlflow": {"database": {"mode": "external"}}, "mlflowExternalDsn": "mysql://h/d"},
     ("mlflowExternalDsn",), ["mlflowExternalDsn", "expected postgresql://user:password@host:port/database"]),
    ("dsn set for in-cluster database", {"mlflowExternalDsn": "postgresql://u:p@h:5432/d"}, ("mlflowExternalDsn",),
     ["mlflowExternalDsn", "mode is inCluster"]),
    ("unknown database mode", {"mlflow": {"database": {"mode": "sqlite"}}}, (),
     ["mlflow.database.mode", "'sqlite'", "allowed values: inCluster, external"]),
    ("offline images without their registry", {"images": {"offline": True}}, (),
     ["images.offline = True", "set images.registry too"]),
    ("bad pull policy", {"images": {"pullPolicy": "Sometimes"}}, (),
     ["images.pullPolicy", "'Sometimes'", "Always, IfNotPresent, Never"]),
    ("override of an unknown image", {"images": {"overrides": {"minoi": "r/minio:1"}}}, (),
     ["images.overrides.minoi", "known images: alertmanager, argo-workflow-controller, argoexec, dcgm-exporter, dex",
      "minio, mlflow, mlmd-server, mysql, node-exporter, nvidia-device-plugin, oauth2-proxy, pipeline-base, pipeline-torch, "
      "postgres, prometheus, seaweedfs"]),
    ("bad admin username", {"mlflow": {"adminUsername": "a"}}, (), ["mlflow.adminUsername", "'a'", "3-32"]),
    ("tenants not a list", {"tenants": {"name": "vision"}}, (), ["mlops-platform:tenants", "expected a list of tenants"]),
    ("duplicate tenant names", {"tenants": [TENANT, TENANT]}, (), ["mlops-platform:tenants", "repeated: vision"]),
    ("tenant name not a DNS label", {"tenants": [{**TENANT, "name": "Vision_Lab"}]}, (),
     ["tenants[Vision_Lab].name", "'Vision_Lab'", "DNS label"]),
    ("tenant namespace too long", {"tenants": [{**TENANT, "name": "v" * 60}]}, (),
     ["tenants[" + "v" * 60 + "].name", "exceeds 63 characters"]),
    ("tenant without a name", {"tenants": [{"members": ["alice"]}]}, (), ["tenants[0].name", "needs a name"]),
    ("unknown key in a tenant", {"tenants": [{**TENANT, "quotas": {}}]}, (),
     ["tenants[0].quotas", "unknown key", "name, members, groups, quota"]),
    ("unknown quota field", {"tenants": [{**TENANT, "quota": {"gpus": 1}}]}, (),
     ["tenants[vision].quota.gpus", "unknown key", "maxPods"]),
    ("malformed memory quota", {"tenants": [{**TENANT, "quota": {"memory": "32GB"}}]}, (),
     ["tenants[vision].quota.memory", "'32GB'", "memory quantity"]),
    ("gpu quota not a number", {"tenants": [{**TENANT, "quota": {"gpu": "two"}}]}, (),
     ["tenants[vision].quota.gpu", "'two'", "whole number"]),
    ("malformed storage quota", {"tenants": [{**TENANT, "quota": {"storage": "lots"}}]}, (),
     ["tenants[vision].quota.storage", "'lots'", "Mi, Gi or Ti"]),
    ("tenant without members or groups", {"tenants": [{"name": "vision"}]}, (),
     ["tenants[vision]", "at least one member or group"]),
    ("gpu quota above the per-tenant maximum", {"gpu": {"enabled": True, "totalGpus": 16, "maxGpusPerTenant": 2},
                                               "tenants": [{**TENANT, "quota": {"gpu": 3}}]}, (),
     ["tenants[vision].quota.gpu", "= 3", "exceeds gpu.maxGpusPerTenant (2)"]),
    ("gpu quota above cluster capacity", {"gpu": {"enabled": True, "totalGpus": 2},
                                          "tenants": [{**TENANT, "quota": {"gpu": 4}}]}, (),
     ["tenants[vision].quota.gpu", "quotas above cluster capacity", "declares 2 GPUs"]),
    ("gpu quota without gpus", {"tenants": [{**TENANT, "quota": {"gpu": 1}}]}, (),
     ["tenants[vision].quota.gpu", "gpu.enabled is false and gpu.totalGpus is 0"]),
    ("tenant bucket collides with a platform bucket",
     {"objectStore": {"buckets": ["mlflow-artifacts", "vision-artifacts"]}, "tenants": [TENANT]}, (),
     ["tenants[vision].name", "'vision-artifacts' collides with a platform bucket"]),
    ("tenant namespace is a platform namespace", {"tenancy": {"namespacePrefix": "mlops-"},
                                                  "tenants": [{**TENANT, "name": "mlflow"}]}, (),
     ["tenants[mlflow].name", "'mlops-mlflow' is a platform namespace"]),
    ("bad namespace prefix", {"tenancy": {"namespacePrefix": "Research_"}}, (),
     ["tenancy.namespacePrefix", "'Research_'", "lower-case letters"]),
    ("gpu enabled without gpus", {"gpu": {"enabled": True}}, (), ["gpu.totalGpus", "declare the cluster's GPUs"]),
    ("unknown mig strategy", {"gpu": {"migStrategy": "all"}}, (),
     ["gpu.migStrategy", "'all'", "allowed values: none, single, mixed"]),
    ("time-slicing replicas of zero", {"gpu": {"timeSlicingReplicas": 0}}, (),
     ["gpu.timeSlicingReplicas", "1 (no sharing) or more"]),
    ("gpu count as text", {"gpu": {"totalGpus": "8"}}, (), ["gpu.totalGpus", "'8'", "whole number"]),
    ("pipelines enabled not a boolean", {"kubeflowPipelines": {"enabled": "yes"}}, (),
     ["kubeflowPipelines.enabled", "'yes'", "expected true or false"]),
    ("pipelines namespace not a DNS label", {"kubeflowPipelines": {"namespace": "KFP_NS"}}, (),
     ["kubeflowPipelines.namespace", "'KFP_NS'", "DNS label"]),
    ("pipelines namespace shared with mlflow", {"kubeflowPipelines": {"namespace": "mlops-mlflow"}}, (),
     ["kubeflowPipelines.namespace", "'mlops-mlflow'", "is already mlflow.namespace"]),
    ("pipelines bucket not an S3 name", {"kubeflowPipelines": {"bucket": "ML_Pipeline"}}, (),
     ["kubeflowPipelines.bucket", "'ML_Pipeline'", "S3 bucket name"]),
    ("pipelines bucket is mlflow's", {"kubeflowPipelines": {"bucket": "mlflow-artifacts"}}, (),
     ["kubeflowPipelines.bucket", "is mlflow.artifactBucket"]),
    ("unknown resource profile", {"kubeflowPipelines": {"resourceProfile": "huge"}}, (),
     ["kubeflowPipelines.resourceProfile", "'huge'", "allowed values: lean, production"]),
    ("pipelines ui not a boolean", {"kubeflowPipelines": {"ui": "yes"}}, (),
     ["kubeflowPipelines.ui", "'yes'", "expected true or false"]),
    ("argo requeue of zero seconds", {"kubeflowPipelines": {"workflowRequeueSeconds": 0}}, (),
     ["kubeflowPipelines.workflowRequeueSeconds", "= 0", "seconds from 0.1 to 60", "10 is Argo's default"]),
    ("argo requeue as a duration string", {"kubeflowPipelines": {"workflowRequeueSeconds": "2s"}}, (),
     ["kubeflowPipelines.workflowRequeueSeconds", "'2s'", "expected a number"]),
    ("argo requeue below its floor", {"kubeflowPipelines": {"workflowRequeueSeconds": 0.05}}, (),
     ["kubeflowPipelines.workflowRequeueSeconds", "= 0.05", "seconds from 0.1 to 60"]),
    ("argo requeue as a boolean", {"kubeflowPipelines": {"workflowRequeueSeconds": True}}, (),
     ["kubeflowPipelines.workflowRequeueSeconds", "= True", "expected a number"]),
    ("platform-fault retries above ten", {"kubeflowPipelines": {"platformFaultRetries": 11}}, (),
     ["kubeflowPipelines.platformFaultRetries", "= 11", "from 0 to 10", "Kueue's preemption"]),
    ("platform-fault retries as a word", {"kubeflowPipelines": {"platformFaultRetries": "three"}}, (),
     ["kubeflowPipelines.platformFaultRetries", "'three'", "whole number"]),
    ("unknown pipelines database mode", {"kubeflowPipelines": {"database": {"mode": "mysql"}}}, (),
     ["kubeflowPipelines.database.mode", "'mysql'", "allowed values: inCluster, external"]),
    ("bad pipelines database volume", {"kubeflowPipelines": {"database": {"volumeSize": "10G"}}}, (),
     ["kubeflowPipelines.database.volumeSize", "'10G'", "Mi, Gi or Ti"]),
    ("external pipelines database without its settings", {"kubeflowPipelines": {"database": {"mode": "external"}}}, (),
     ["kubeflowPipelines.database.host", "needs the MySQL host", "kubeflowPipelines.database.user",
      "needs the MySQL user", "needs the user's password",
      "pulumi config set --secret mlops-platform:kubeflowPipelinesDatabasePassword"]),
    ("external pipelines database with a bad host and port",
     {"kubeflowPipelines": {"database": {"mode": "external", "host": "db_server", "port": 70000, "user": "kfp"}},
      "kubeflowPipelinesDatabasePassword": "pw"}, ("kubeflowPipelinesDatabasePassword",),
     ["kubeflowPipelines.database.host", "'db_server'", "such as db.ml.example.edu",
      "kubeflowPipelines.database.port", "70000", "1-65535"]),
    ("pipelines database port as text", {"kubeflowPipelines": {"database": {"port": "5432x"}}}, (),
     ["kubeflowPipelines.database.port", "'5432x'", "whole number"]),
    ("pipelines database password in plain text",
     {"kubeflowPipelines": {"database": {"mode": "external", "host": "db.example.edu", "user": "kfp"}},
      "kubeflowPipelinesDatabasePassword": "hunter2"}, (),
     ["kubeflowPipelinesDatabasePassword", "must be stored encrypted", "<redacted>"]),
    ("pipelines database password for the in-cluster database", {"kubeflowPipelinesDatabasePassword": "pw"},
     ("kubeflowPipelinesDatabasePassword",),
     ["kubeflowPipelinesDatabasePassword", "kubeflowPipelines.database.mode is inCluster", "generated"]),
    ("pipelines database host for the in-cluster database", {"kubeflowPipelines": {"database": {"host": "db.example.edu"}}},
     (), ["kubeflowPipelines.database.host", "'db.example.edu'", "the mode is inCluster"]),
    ("unknown pipelines key", {"kubeflowPipelines": {"buckets": ["a"]}}, (),
     ["kubeflowPipelines.buckets", "unknown key", "resourceProfile"]),
    ("tenant namespace is the pipelines namespace", {"tenancy": {"namespacePrefix": "mlops-"},
                                                     "tenants": [{**TENANT, "name": "pipelines"}]}, (),
     ["tenants[pipelines].name", "'mlops-pipelines' is a platform namespace"]),
    ("tenant namespace kube-system", {"tenancy": {"namespacePrefix": ""}, "tenants": [{**TENANT, "name": "kube-system"}]},
     (), ["tenants[kube-system].name", "'kube-system'", "Kubernetes owns", "tenancy.namespacePrefix"]),
    ("tenant namespace default", {"tenancy": {"namespacePrefix": ""}, "tenants": [{**TENANT, "name": "default"}]},
     (), ["tenants[default].name", "'default'", "Kubernetes owns"]),
    ("tenant namespace kube-prefixed", {"tenancy": {"namespacePrefix": "kube-"}, "tenants": [TENANT]},
     (), ["tenants[vision].name", "'kube-vision'", "Kubernetes owns"]),
    ("tenant namespace of a disabled component", {"tenancy": {"namespacePrefix": ""}, "gpu": {"enabled": False},
                                                  "tenants": [{**TENANT, "name": "mlops-gpu"}]},
     (), ["tenants[mlops-gpu].name", "is a platform namespace (gpu.namespace)"]),
    ("tenant namespace of the object store", {"tenancy": {"namespacePrefix": ""},
                                              "tenants": [{**TENANT, "name": "mlops-storage"}]},
     (), ["tenants[mlops-storage].name", "(objectStore.namespace)"]),
    ("tenant namespace of a cluster add-on", {"tenancy": {"namespacePrefix": ""},
                                              "tenants": [{**TENANT, "name": "local-path-storage"}]},
     (), ["tenants[local-path-storage].name", "cluster add-on"]),
    ("tenant group system:authenticated", {"tenants": [{**TENANT, "groups": ["system:authenticated"]}]},
     (), ["tenants[vision].groups", "'system:authenticated'", "system: groups"]),
    ("tenant group system:masters", {"tenants": [{**TENANT, "groups": ["vision-lab", "system:masters"]}]},
     (), ["tenants[vision].groups", "'system:masters'"]),
    ("tenant member system:anonymous", {"tenants": [{**TENANT, "members": ["system:anonymous"]}]},
     (), ["tenants[vision].members", "'system:anonymous'", "system:serviceaccount:<namespace>:<name>"]),
    ("tenant bucket is the pipelines bucket", {"kubeflowPipelines": {"bucket": "vision-artifacts"}, "tenants": [TENANT]}, (),
     ["tenants[vision].name", "'vision-artifacts' is kubeflowPipelines.bucket"]),
    ("tenant namespace of the queueing controller", {"tenancy": {"namespacePrefix": ""},
                                                     "tenants": [{**TENANT, "name": "kueue-system"}]},
     (), ["tenants[kueue-system].name", "(queueing.namespace)"]),
    ("borrowing limit not a quantity", {"tenants": [{**TENANT, "borrowingLimit": {"gpu": "two", "memory": "8GB"}}]}, (),
     ["tenants[vision].borrowingLimit.gpu", "'two'", "tenants[vision].borrowingLimit.memory", "'' (no limit)"]),
    ("borrowing limit unknown field", {"tenants": [{**TENANT, "borrowingLimit": {"disk": "1"}}]}, (),
     ["tenants[vision].borrowingLimit.disk", "unknown key"]),
    ("queueing in kube-system", {"queueing": {"namespace": "kube-system"}}, (),
     ["queueing.namespace", "Kubernetes owns it"]),
    ("queueing chart folder without the chart", {"queueing": {"chart": "build/no-such-chart"}}, (),
     ["queueing.chart", "no Helm chart there", "offline/charts.sh"]),
    ("login without addresses and users", {"kubeflowPipelines": {"ui": True}, "login": {"enabled": True}}, (),
     ["login.issuerUrl", "https://login.example.edu/dex", "login.uiUrl", "nobody could sign in"]),
    ("login without the UI", {"login": LOGIN,
                              "tenants": [{**TENANT, "members": ["alice@example.edu"]}]}, (),
     ["login.enabled", "set kubeflowPipelines.ui"]),
    ("login issuer without a path", {"kubeflowPipelines": {"ui": True}, "login": {**LOGIN, "issuerUrl": "https://login.example.edu"},
                                     "tenants": [{**TENANT, "members": ["alice@example.edu"]}]}, (),
     ["login.issuerUrl", "needs a path for Dex"]),
    ("login static user not an address", {"kubeflowPipelines": {"ui": True}, "login": {**LOGIN, "staticUsers": ["alice"]},
                                          "tenants": [{**TENANT, "members": ["alice"]}]}, (),
     ["login.staticUsers[0]", "'alice'", "expected an e-mail address"]),
    ("login static user in no tenant", {"kubeflowPipelines": {"ui": True}, "login": LOGIN, "tenants": [TENANT]}, (),
     ["login.staticUsers[0]", "'alice@example.edu'", "is no tenant's member"]),
    ("login static users with one password key", {"kubeflowPipelines": {"ui": True},
                                                  "login": {**LOGIN, "staticUsers": ["al@a.edu", "al@b.edu"]},
                                                  "tenants": [{**TENANT, "members": ["al@a.edu", "al@b.edu"]}]}, (),
     ["login.staticUsers", "must be unique; repeated: al"]),
    ("login in a platform namespace", {"login": {"namespace": "mlops-pipelines"}}, (),
     ["login.namespace", "is already kubeflowPipelines.namespace"]),
    ("login in kube-system", {"login": {"namespace": "kube-system"}}, (), ["login.namespace", "Kubernetes owns"]),
    ("login ldap without its bind password", {"kubeflowPipelines": {"ui": True}, "login": {
        **LOGIN, "staticUsers": [], "ldap": {"host": "ldap.example.edu:636", "bindDN": "cn=dex", "userBaseDN": "ou=people"}},
        "tenants": [TENANT]}, (), ["login.ldap.bindDN", "pulumi config set --secret mlops-platform:loginLdapBindPassword"]),
    ("login ldap unknown and missing keys", {"kubeflowPipelines": {"ui": True}, "login": {
        **LOGIN, "staticUsers": [], "ldap": {"host": "ldap.example.edu", "userbase": "ou=people"}},
        "loginLdapBindPassword": "pw"}, ("loginLdapBindPassword",),
     ["login.ldap.userbase", "unknown key", "login.ldap", "needs userBaseDN", "loginLdapBindPassword",
      "login.ldap.bindDN is not"]),
    ("login ldap bind password in plain text", {"loginLdapBindPassword": "hunter2"}, (),
     ["loginLdapBindPassword", "must be stored encrypted"]),
    ("login behind an Ingress over http", {"platform": {"ingressClass": "nginx"}, "kubeflowPipelines": {"ui": True},
                                          "login": {**LOGIN, "uiUrl": "http://pipelines.example.edu"},
                                          "tenants": [{**TENANT, "members": ["alice@example.edu"]}]}, (),
     ["login.uiUrl", "must be https://", "login.enabled", "needs TLS"]),
]


def test_a_valid_login_section():
    cfg = parse({"kubeflowPipelines": {"ui": True}, "login": LOGIN,
                 "tenants": [{**TENANT, "members": ["alice@example.edu"]}]})
    assert (cfg.login.enabled, cfg.login.issuer_url, cfg.login.static_users) == (
        True, "https://login.example.edu/dex", ("alice@example.edu",))
    assert cfg.login.user_key("alice@example.edu") == "alice"


def test_a_local_chart_of_another_version_is_refused(tmp_path):
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: kueue\nversion: 0.16.1\n")
    with pytest.raises(ConfigError, match=r"queueing.chart.*version 0.16.1, the platform pins 0.17.0"):
        parse({"queueing": {"chart": str(tmp_path)}})


def test_borrowing_limits_merge_over_the_default_and_empty_means_no_limit():
    cfg = parse({"tenancy": {"defaultBorrowingLimit": {"gpu": "1"}},
                 "tenants": [{**TENANT, "borrowingLimit": {"cpu": "2"}}, {**TENANT, "name": "nlp"}]})
    vision, nlp = cfg.tenancy.tenants
    assert (vision.borrowing_limit.cpu, vision.borrowing_limit.memory, vision.borrowing_limit.gpu) == ("2", None, 1)
    assert (nlp.borrowing_limit.cpu, nlp.borrowing_limit.gpu) == (None, 1)
    assert cfg.queueing.enabled, "queueing is on by default"


@pytest.mark.parametrize(("raw", "secret", "fragments"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_refused_with_a_clear_message(raw, secret, fragments):
    with pytest.raises(ConfigError) as caught:
        parse(raw, frozenset(secret))
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"message lacks {fragment!r}:\n{message}"


def test_backup_defaults_and_a_valid_schedule():
    cfg = parse({"backup": {"schedule": "@hourly", "retention": 3, "target": {"volumeSize": "5Gi"}}})
    assert (cfg.backup.enabled, cfg.backup.namespace, cfg.backup.schedule) == (True, "mlops-backup", "@hourly")
    assert (cfg.backup.retention, cfg.backup.volume_size, cfg.backup.storage_class) == (3, "5Gi", "")
    assert parse({"platform": {"storageClass": "fast"}}).backup.storage_class == "fast", "'' = platform.storageClass"
    assert parse({"backup": {"schedule": "*/30 1-5 * * mon-fri"}}).backup.schedule == "*/30 1-5 * * mon-fri"


def test_tenant_may_list_a_service_account_member():
    cfg = parse({"tenants": [{**TENANT, "members": ["system:serviceaccount:ci:vision-bot"]}]})
    assert cfg.tenancy.tenants[0].members == ("system:serviceaccount:ci:vision-bot",)


def test_tenants_merge_quota_over_the_default_quota():
    cfg = parse({"gpu": {"totalGpus": 2}, "tenants": [{**TENANT, "quota": {"gpu": 1}}]})
    (tenant,) = cfg.tenancy.tenants
    defaults = project_defaults()["tenancy"]
    assert tenant.namespace == defaults["namespacePrefix"] + "vision"
    assert tenant.bucket == "vision-artifacts"
    assert tenant.experiment_prefix == "/vision/"
    assert tenant.quota.gpu == 1
    assert tenant.quota.memory == defaults["defaultQuota"]["memory"], "untouched quota fields keep their default"


def test_gpu_quota_counts_time_sliced_replicas_as_capacity():
    cfg = parse({"gpu": {"enabled": True, "totalGpus": 1, "timeSlicingReplicas": 4},
                 "tenants": [{**TENANT, "quota": {"gpu": 3}}]})
    assert cfg.tenancy.tenants[0].quota.gpu == 3


def test_shipped_stacks_tenants_and_gpu():
    local = parse(*stack_values("local"))
    university = parse(*stack_values("university"))
    assert not local.gpu.enabled, "local fakes GPUs without the device plugin"
    assert local.gpu.total_gpus > 0, "local declares its fake GPUs"
    assert [t.name for t in local.tenancy.tenants] == ["vision", "nlp"]
    assert university.gpu.enabled
    assert university.gpu.time_slicing_replicas == 1
    assert len(university.tenancy.tenants) == 3


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        parse({"objectStore": {"backend": "ceph", "volumeSize": "big"}})
    assert "objectStore.backend" in str(caught.value)
    assert "objectStore.volumeSize" in str(caught.value)


def test_secret_value_never_appears_in_errors():
    with pytest.raises(ConfigError) as caught:
        parse({"mlflowExternalDsn": "postgresql://u:hunter2secret@h:5432/d"}, frozenset({"mlflowExternalDsn"}))
    assert "hunter2secret" not in str(caught.value)


def test_kubeflow_pipelines_defaults_and_profiles():
    kfp = parse({}).kubeflow_pipelines
    assert kfp.enabled
    assert kfp.namespace == "mlops-pipelines"
    assert kfp.bucket == "mlpipeline"
    assert kfp.resource_profile == "production"
    assert kfp.database.mode == "inCluster"
    assert kfp.workflow_requeue_seconds == 0.3
    assert parse({"kubeflowPipelines": {"workflowRequeueSeconds": 2}}).kubeflow_pipelines.workflow_requeue_seconds == 2.0, \
        "whole seconds are still seconds"
    assert set(kfp.resources) == set(KFP_RESOURCE_PROFILES["lean"]), "both profiles cover the same workloads"
    assert set(KFP_RESOURCE_PROFILES["production"]) == set(KFP_RESOURCE_PROFILES["lean"])
    external = parse({"kubeflowPipelines": {"database": {"mode": "external", "host": "db.example.edu", "user": "kfp"}},
                      "kubeflowPipelinesDatabasePassword": "pw"}, frozenset({"kubeflowPipelinesDatabasePassword"}))
    assert external.kubeflow_pipelines.database.port == 3306, "untouched database fields keep their default"
    assert external.kubeflow_pipelines_database_password == "pw"


def test_lean_profile_fits_a_small_node():
    """The local stack's profile: with the rest of the platform on a 2-core, 8 GiB kind node."""
    lean = KFP_RESOURCE_PROFILES["lean"]
    # Per pipeline pod, not deployed once: Argo's executor and the pipeline containers' defaults.
    services = [r for workload, r in lean.items() if workload != "argo-executor"]
    cpu = sum(quantity(r.requests["cpu"]) for r in services)
    memory = sum(quantity(r.requests["memory"]) for r in services)
    assert cpu <= 0.15, f"lean requests {cpu} CPUs in all"
    assert memory <= 768 * 2**20, f"lean requests {memory / 2**20:.0f} MiB in all"
    for workload, resources in lean.items():
        assert quantity(resources.requests["memory"]) <= 256 * 2**20, f"lean {workload} requests more than 256Mi"


def test_disabled_pipelines_skip_the_namespace_checks():
    cfg = parse({"kubeflowPipelines": {"enabled": False, "namespace": "mlops-mlflow"}})
    assert not cfg.kubeflow_pipelines.enabled


def test_shipped_stacks_pipelines():
    local = parse(*stack_values("local"))
    university = parse(*stack_values("university"))
    assert local.kubeflow_pipelines.enabled
    assert local.kubeflow_pipelines.resource_profile == "lean"
    assert local.images.resolve("mlmd-server") == "mlops.local/kubeflow/mlmd-server:1.17.1", \
        "the offline metadata server image is tagged with its ml-metadata version"
    assert local.images.resolve("mysql") == "mlops.local/library/mariadb:10.11", "offline, MariaDB stands in for MySQL"
    assert local.images.resolve("kfp-api-server") == "mlops.local/kubeflow/kfp-api-server:2.14.3"
    assert university.images.resolve("mysql") == "registry.ml.example.edu/library/mysql:8.4.6", "a mirror keeps upstream's paths"
    assert university.kubeflow_pipelines.resource_profile == "production"


def test_ingress_tls_gives_each_component_its_secret_and_annotations():
    from infra.config import IngressTls
    assert IngressTls(cluster_issuer="campus-ca").for_component("mlflow") == (
        "mlflow-tls", {"cert-manager.io/cluster-issuer": "campus-ca"})
    assert IngressTls(secret_name="ml-example-edu").for_component("mlflow") == ("ml-example-edu", {})
    cfg = parse({"platform": {"ingressClass": "nginx", "ingressTls": {"secretName": "ml-example-edu"}},
                 "mlflow": {"ingressHost": "mlflow.ml.example.edu"}}, frozenset())
    assert cfg.platform.ingress_tls.secret_name == "ml-example-edu"

