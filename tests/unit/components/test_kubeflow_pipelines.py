"""The KubeflowPipelines component (infra/components/kubeflow_pipelines/: database, API server,
metadata, Argo, UI) under Pulumi mocks: workloads, images, Secrets, RBAC, network policies, the
UI and the URNs its parts kept from before the split."""

from __future__ import annotations

import json

import pulumi
import pytest

from tests.support.components import KFP_NS, TENANTS, env_of
from tests.support.pulumi_mocks import MOCK_PASSWORD, SECRET_SIG, RecordingMocks, containers, run, unsecret

pytestmark = pytest.mark.unit


KFP_DEPLOYMENTS = {
    # resource name -> (Kubernetes name, image name in infra/images.toml)
    "kubeflow-pipelines-api-server": ("ml-pipeline", "kfp-api-server"),
    "kubeflow-pipelines-persistence-agent": ("ml-pipeline-persistenceagent", "kfp-persistence-agent"),
    "kubeflow-pipelines-scheduled-workflow": ("ml-pipeline-scheduledworkflow", "kfp-scheduled-workflow"),
    "kubeflow-pipelines-metadata-server": ("metadata-grpc-deployment", "mlmd-server"),
    "kubeflow-pipelines-workflow-controller": ("workflow-controller", "argo-workflow-controller"),
}


def rules_of(mocks, role: str, cluster: bool = False) -> dict[tuple[str, str], set[str]]:
    """(api group, resource) -> verbs of the named Role (or ClusterRole) of KFP."""
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in mocks.named(f"kubeflow-pipelines-{'clusterrole' if cluster else 'role'}-{role}").inputs["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_kubeflow_pipelines_workloads_images_resources_and_security(mocks):
    from infra.images import resolve_image

    registry = "mirror.example.edu:5000"
    facts = run({"images": {"registry": registry, "overrides": {"mlmd-server": "r.example.edu/mlmd:1"}}})
    assert facts["kfp_endpoint"] == "http://ml-pipeline.mlops-pipelines.svc.cluster.local:8888"
    assert facts["kfp_namespace"] == KFP_NS

    ns = mocks.named("kubeflow-pipelines-ns").inputs["metadata"]
    assert ns["name"] == KFP_NS
    overrides = {"mlmd-server": "r.example.edu/mlmd:1"}
    workloads = {**KFP_DEPLOYMENTS, "kubeflow-pipelines-database": ("kubeflow-pipelines-db", "mysql")}
    for resource, (k8s_name, image_name) in workloads.items():
        workload = mocks.named(resource)
        assert workload.inputs["metadata"] == {**workload.inputs["metadata"], "name": k8s_name, "namespace": KFP_NS}
        pod = workload.inputs["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, f"{k8s_name} runs as non-root"
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in containers(workload):
            where = f"{k8s_name} container {container['name']}"
            assert container["image"] == resolve_image(image_name, registry, overrides), f"{where} image"
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), f"{where} has requests"
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), f"{where} has limits"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, where
    api = containers(mocks.named("kubeflow-pipelines-api-server"))[0]
    assert env_of(api)["V2_DRIVER_IMAGE"]["value"] == f"{registry}/kubeflow/kfp-driver:2.14.3"
    assert env_of(api)["V2_LAUNCHER_IMAGE"]["value"] == f"{registry}/kubeflow/kfp-launcher:2.14.3"
    assert api["command"] == ["/bin/apiserver"]
    assert "--config=/config" in api["args"]
    assert not any(arg.startswith("--sampleconfig") for arg in api["args"]), "no samples: they pull public images"


def test_kubeflow_pipelines_runs_multi_user_and_knows_callers_by_token_only(mocks):
    run({})
    env = env_of(containers(mocks.named("kubeflow-pipelines-api-server"))[0])
    assert env["MULTIUSER"]["value"] == "true"
    assert env["DEFAULTPIPELINERUNNERSERVICEACCOUNT"]["value"] == "pipeline-runner"
    assert env["TOKEN_REVIEW_AUDIENCE"]["value"] == "pipelines.kubeflow.org"
    header = env["KUBEFLOW_USERID_HEADER"]["value"]
    # RFC 9110 token characters: a header name with any other character cannot be sent.
    allowed = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert set(header) - allowed, f"KUBEFLOW_USERID_HEADER={header!r} is a valid header name: any pod could claim a user"
    api = rules_of(mocks, "ml-pipeline", cluster=True)
    assert api[("authentication.k8s.io", "tokenreviews")] == {"create"}
    assert api[("authorization.k8s.io", "subjectaccessreviews")] == {"create"}
    roles = {r.inputs["metadata"]["name"]: r.inputs["rules"] for r in mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")}
    edit = {(res, verb) for rule in roles["mlops-pipelines-edit"] for res in rule["resources"] for verb in rule["verbs"]}
    view = {(res, verb) for rule in roles["mlops-pipelines-view"] for res in rule["resources"] for verb in rule["verbs"]}
    assert {("runs", "create"), ("runs", "delete"), ("experiments", "create"), ("runs", "get")} <= edit
    assert ("runs", "get") in view
    assert ("runs", "list") in view
    assert not {verb for (_, verb) in view} - {"get", "list", "readArtifact"}, "view reads only"
    assert all(rule["apiGroups"] == ["pipelines.kubeflow.org"] for rule in roles["mlops-pipelines-edit"])


def test_kubeflow_pipelines_lean_profile_is_small(mocks):
    run({"kubeflowPipelines": {"resourceProfile": "lean"}})
    for resource in KFP_DEPLOYMENTS:
        requests = containers(mocks.named(resource))[0]["resources"]["requests"]
        assert requests["cpu"] in ("10m", "25m"), f"{resource} requests {requests['cpu']} CPU in the lean profile"


def test_kubeflow_pipelines_secrets_are_referenced_never_inlined(mocks):
    run({})
    for resource in mocks.resources:
        if resource.typ != "kubernetes:core/v1:Secret":
            assert MOCK_PASSWORD not in repr(resource.inputs), f"{resource.typ} {resource.name} carries a secret inline"
    for resource in [*KFP_DEPLOYMENTS, "kubeflow-pipelines-database"]:
        for container in containers(mocks.named(resource)):
            for env in container.get("env", []):
                if any(word in env["name"] for word in ("PASSWORD", "SECRET", "ACCESSKEY")):
                    assert "secretKeyRef" in env["valueFrom"], f"{resource}: {env['name']} comes from a Secret"

    artifact = mocks.named("kubeflow-pipelines-artifact-credentials").inputs
    assert artifact["metadata"]["name"] == "mlpipeline-minio-artifact", "upstream's name, which KFP's programs read"
    assert unsecret(artifact["stringData"]) == {"accesskey": "kubeflow-pipelines", "secretkey": MOCK_PASSWORD}
    assert not [r for r in mocks.of_type("kubernetes:core/v1:Secret") if "admin" in repr(unsecret(r.inputs.get("stringData")))
                and r.inputs["metadata"]["namespace"] == KFP_NS], "no MLflow admin credentials for pipelines"
    mlmd = containers(mocks.named("kubeflow-pipelines-metadata-server"))[0]
    assert mlmd["command"] == ["/bin/metadata_store_server"]
    assert "--mysql_config_password=$(DB_PASSWORD)" in mlmd["args"], "the password is expanded from the env at start"
    assert "--mysql_config_database=$(DB_NAME)" in mlmd["args"]
    assert env_of(mlmd)["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "kubeflow-pipelines-database", "key": "password"}
    mysql = containers(mocks.named("kubeflow-pipelines-database"))[0]
    assert env_of(mysql)["MYSQL_USER"]["value"] == "mlpipeline"
    assert env_of(mysql)["MYSQL_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kubeflow-pipelines-database", "key": "root-password"}
    init = mocks.named("kubeflow-pipelines-db-init").inputs["data"]["10-databases.sql"]
    for database in ("mlpipeline", "metadb"):
        assert f"GRANT ALL PRIVILEGES ON `{database}`.* TO 'mlpipeline'@'%';" in init, \
            "the user gets the two databases only, created up front (KFP ignores only 'database exists')"


def test_kubeflow_pipelines_api_server_reads_database_and_object_store_settings(mocks):
    run({"objectStore": {"backend": "minio"}})
    api = containers(mocks.named("kubeflow-pipelines-api-server"))[0]
    env = env_of(api)
    install = mocks.named("kubeflow-pipelines-install-config").inputs
    assert install["metadata"]["name"] == "pipeline-install-config"
    config = install["data"]

    def value(name: str) -> str:
        source = env[name]["valueFrom"]["configMapKeyRef"]
        assert source["name"] == "pipeline-install-config", f"{name} comes from pipeline-install-config"
        return config[source["key"]]

    # viper: DBDriverName -> DBDRIVERNAME (upstream's DB_DRIVER_NAME is read by nothing).
    assert value("DBDRIVERNAME") == "mysql"
    assert value("DBCONFIG_MYSQLCONFIG_HOST") == "kubeflow-pipelines-db.mlops-pipelines.svc.cluster.local"
    assert value("DBCONFIG_MYSQLCONFIG_PORT") == "3306"
    assert value("DBCONFIG_MYSQLCONFIG_DBNAME") == "mlpipeline"
    assert value("OBJECTSTORECONFIG_HOST") == "object-store.mlops-storage.svc.cluster.local"
    assert value("OBJECTSTORECONFIG_PORT") == "9000"
    assert value("OBJECTSTORECONFIG_SECURE") == "false"
    assert value("OBJECTSTORECONFIG_BUCKETNAME") == "mlpipeline"
    assert env["OBJECTSTORECONFIG_ACCESSKEY"]["valueFrom"]["secretKeyRef"] == {"name": "mlpipeline-minio-artifact", "key": "accesskey"}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"

    api_service = mocks.named("kubeflow-pipelines-svc-ml-pipeline").inputs
    assert api_service["metadata"]["name"] == "ml-pipeline"
    # The driver finds the cache API by the service-link variable ML_PIPELINE_SERVICE_PORT_GRPC.
    assert [(p["name"], p["port"]) for p in api_service["spec"]["ports"]] == [("http", 8888), ("grpc", 8887)]
    metadata_service = mocks.named("kubeflow-pipelines-svc-metadata-grpc-service").inputs
    assert metadata_service["metadata"]["name"] == "metadata-grpc-service", "the driver reads METADATA_GRPC_SERVICE_SERVICE_HOST"
    assert [p["port"] for p in metadata_service["spec"]["ports"]] == [8080]
    agent = containers(mocks.named("kubeflow-pipelines-persistence-agent"))[0]
    assert not [arg for arg in agent["args"] if arg.startswith("--namespace")], "the agent watches every namespace"
    assert agent["volumeMounts"][0]["mountPath"] == "/var/run/secrets/kubeflow/tokens"


def test_argo_requeue_in_whole_seconds_is_a_go_duration(mocks):
    run({"kubeflowPipelines": {"workflowRequeueSeconds": 2}})
    controller = containers(mocks.named("kubeflow-pipelines-workflow-controller"))[0]
    env = {e["name"]: e.get("value") for e in controller["env"]}
    assert env["DEFAULT_REQUEUE_TIME"] == "2s", "Go's time.ParseDuration reads 2s and 0.3s"


def test_no_platform_fault_retry_when_the_stack_turns_it_off(mocks):
    import yaml

    run({"kubeflowPipelines": {"platformFaultRetries": 0}})
    config = mocks.named("kubeflow-pipelines-workflow-controller-config").inputs
    defaults = yaml.safe_load(config["data"]["workflowDefaults"])["spec"]
    assert "retryStrategy" not in defaults
    assert "podSpecPatch" not in defaults
    assert defaults["securityContext"]["runAsUser"] == 1000


def test_argo_runs_cluster_wide_with_restricted_pipeline_pods(mocks):
    import yaml

    run({"images": {"registry": "mirror.example.edu:5000"}})
    controller = containers(mocks.named("kubeflow-pipelines-workflow-controller"))[0]
    args = controller["args"]
    assert "--namespaced" not in args, "multi-user mode: workflows run in the tenant namespaces"
    assert args[args.index("--executor-image") + 1] == "mirror.example.edu:5000/argoproj/argoexec:v3.6.18"
    assert args[args.index("--configmap") + 1] == "workflow-controller-configmap"
    env = {e["name"]: e.get("value") for e in controller["env"]}
    assert env["DEFAULT_REQUEUE_TIME"] == "0.3s", "kubeflowPipelines.workflowRequeueSeconds (default 0.3), not Argo's 10 s"
    config = mocks.named("kubeflow-pipelines-workflow-controller-config").inputs
    assert config["metadata"]["name"] == "workflow-controller-configmap"
    data = {key: yaml.safe_load(value) for key, value in config["data"].items()}
    assert data["workflowDefaults"]["spec"]["securityContext"]["runAsNonRoot"] is True, "pipeline pods run as non-root"
    assert data["workflowDefaults"]["spec"]["securityContext"]["runAsUser"] == 1000
    retry = data["workflowDefaults"]["spec"]["retryStrategy"]
    assert retry["limit"] == 3, "kubeflowPipelines.platformFaultRetries (default 3)"
    assert retry["retryPolicy"] == "Always", "both Error and Failed reach the expression"
    assert retry["backoff"] == {"duration": "5s", "factor": 2}, "the policy engine and a restarted object store get time"
    assert retry["expression"] == (
        'lastRetry.message == "pod deleted" || lastRetry.exitCode == "143" || '
        '(lastRetry.message contains "code = Unavailable" && lastRetry.message contains "connect: connection refused") || '
        '((lastRetry.message contains "failed to upload output artifact" || '
        'lastRetry.message contains "failed to download input artifact") && '
        '(lastRetry.message contains "connect: connection refused" || lastRetry.message contains "connection reset by peer" || '
        'lastRetry.message contains "i/o timeout"))'), \
        "only a pod the platform made fail (taken away, refused while the policy engine catches up, " \
        "or refused by a restarting object store) is started again"
    patch = json.loads(data["workflowDefaults"]["spec"]["podSpecPatch"])
    assert patch == {"containers": [{"name": "wait"}, {"name": "main", "terminationMessagePolicy": "FallbackToLogsOnError"}]}, \
        "a failed main container's last log lines reach Argo's message, which the retry expression reads"
    for part in ("executor", "mainContainer"):
        assert data[part]["securityContext"]["allowPrivilegeEscalation"] is False, f"Argo {part} cannot escalate"
        assert data[part]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert data["executor"]["resources"]["limits"]["memory"], "Argo's init and wait containers have limits"
    assert "artifactRepository" not in data, "each pipelines namespace has its own (artifact-repositories)"
    main_env = {e["name"]: e["value"] for e in data["mainContainer"]["env"]}
    assert main_env["METADATA_GRPC_SERVICE_SERVICE_HOST"] == f"metadata-grpc-service.{KFP_NS}.svc.cluster.local", \
        "drivers run in the tenant namespaces, where no Service link names KFP's servers"
    assert main_env["ML_PIPELINE_SERVICE_PORT_GRPC"] == "8887"

    argo = rules_of(mocks, "argo", cluster=True)
    assert {"create", "delete", "patch"} <= argo[("", "pods")]
    assert {"list", "watch", "deletecollection"} <= argo[("argoproj.io", "workflowtaskresults")]
    secret_rules = [r for r in mocks.named("kubeflow-pipelines-clusterrole-argo").inputs["rules"] if "secrets" in r["resources"]]
    assert [r.get("resourceNames") for r in secret_rules] == [["mlpipeline-minio-artifact"]], \
        "Argo reads the bucket Secret of each namespace, no other Secret"
    assert rules_of(mocks, "argo")[("coordination.k8s.io", "leases")] == {"create", "get", "update"}, \
        "leader election in its own namespace only"
    assert ("coordination.k8s.io", "leases") not in argo

    crds = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in mocks.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")}
    assert set(crds) == {f"{plural}.argoproj.io" for plural in (
        "workflows", "workflowtemplates", "cronworkflows", "clusterworkflowtemplates", "workflowtaskresults",
        "workflowtasksets", "workflowartifactgctasks", "workfloweventbindings")} | {"scheduledworkflows.kubeflow.org"}
    assert crds["clusterworkflowtemplates.argoproj.io"]["scope"] == "Cluster"
    assert crds["workflows.argoproj.io"]["names"]["shortNames"] == ["wf"]
    for name, spec in crds.items():
        (version,) = spec["versions"]
        assert version["schema"]["openAPIV3Schema"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, name
        assert version["name"] == ("v1beta1" if name.endswith("kubeflow.org") else "v1alpha1")


def test_kubeflow_pipelines_rbac_grants_what_the_programs_use(mocks):
    run({})
    api = rules_of(mocks, "ml-pipeline", cluster=True)
    assert {"create", "get", "list", "watch", "delete"} <= api[("argoproj.io", "workflows")]
    assert {"create", "delete"} <= api[("kubeflow.org", "scheduledworkflows")]
    agent = rules_of(mocks, "ml-pipeline-persistenceagent", cluster=True)
    assert agent[("argoproj.io", "workflows")] == {"get", "list", "watch"}
    assert agent[("pipelines.kubeflow.org", "workflows")] == {"report"}, "the API server checks the agent's reports"
    scheduler = rules_of(mocks, "ml-pipeline-scheduledworkflow", cluster=True)
    assert "create" in scheduler[("argoproj.io", "workflows")]
    assert scheduler[("pipelines.kubeflow.org", "runs")] == {"create"}
    bindings = {r.inputs["metadata"]["name"]: r.inputs for r in
                mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")}
    assert bindings["mlops-pipelines-ml-pipeline"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "ml-pipeline", "namespace": KFP_NS}]
    assert not [name for name in bindings if "runner" in name], "no pipeline runner holds cluster-wide rights"
    api_pod = mocks.named("kubeflow-pipelines-api-server").inputs["spec"]["template"]["spec"]
    assert api_pod["serviceAccountName"] == "ml-pipeline"
    db_pod = mocks.named("kubeflow-pipelines-database").inputs["spec"]["template"]["spec"]
    assert db_pod["automountServiceAccountToken"] is False, "the database needs no Kubernetes API"


def test_kubeflow_pipelines_network_and_platform_wiring(mocks):
    import json

    run({"platform": {"allowedIngressCidrs": ["10.20.0.0/24"]}, "tenants": TENANTS[1:]})
    deny = mocks.named("kubeflow-pipelines-default-deny").inputs["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    rule = mocks.named("kubeflow-pipelines-allow-api-server").inputs["spec"]["ingress"][0]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8888}, {"protocol": "TCP", "port": 8887}]
    assert {"podSelector": {}} in rule["from"], "the agents call the API server"
    assert {"ipBlock": {"cidr": "10.20.0.0/24"}} in rule["from"], "clients outside the cluster: platform.allowedIngressCidrs"
    tenant_peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "research-nlp"}}}
    assert tenant_peer in rule["from"], "programs and pipeline steps of the tenants call the API server"
    metadata_rule = mocks.named("kubeflow-pipelines-allow-metadata-grpc").inputs["spec"]["ingress"][0]
    assert tenant_peer in metadata_rule["from"], "the driver and launcher record lineage"
    database = mocks.named("kubeflow-pipelines-database").inputs
    db_policy = mocks.named("kubeflow-pipelines-allow-database").inputs["spec"]
    assert db_policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == database["metadata"]["name"]
    assert [peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in db_policy["ingress"][0]["from"]] == \
        ["ml-pipeline", "metadata-grpc-deployment"]

    script = mocks.named("object-store-buckets").inputs["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "mlflow-artifacts pipelines mlpipeline nlp-artifacts" in script, "the KFP bucket is created with the others"
    store_secret = unsecret(mocks.named("object-store-credentials").inputs["stringData"])
    identities = {i["name"]: i for i in json.loads(store_secret["s3.json"])["identities"]}
    assert identities["kubeflow-pipelines"]["actions"] == ["Read:mlpipeline", "Write:mlpipeline", "List:mlpipeline"]
    peers = mocks.named("object-store-ingress").inputs["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": KFP_NS}}} in peers
    values = mocks.chart("mlflow").inputs["values"]
    assert values["networkPolicy"]["allowedNamespaces"] == ["research-nlp"], "pipeline pods call MLflow from their tenant's"
    assert values["networkPolicy"]["allowedCidrs"] == ["10.20.0.0/24"], "MLflow's Ingress: platform.allowedIngressCidrs"


def test_kubeflow_pipelines_ui_and_its_metadata_proxy(mocks):
    from infra.images import resolve_image

    registry = "mirror.example.edu:5000"
    run({"kubeflowPipelines": {"ui": True}, "images": {"registry": registry},
         "platform": {"allowedIngressCidrs": ["10.20.0.0/24"]}})
    ui = mocks.named("kubeflow-pipelines-ui")
    assert (ui.inputs["metadata"]["name"], ui.inputs["metadata"]["namespace"]) == ("ml-pipeline-ui", KFP_NS)
    pod = ui.inputs["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "ml-pipeline-ui"
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["image"] == resolve_image("kfp-frontend", registry) == f"{registry}/kubeflow/kfp-frontend:2.14.3"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    env = env_of(container)
    assert env["ML_PIPELINE_SERVICE_HOST"]["value"] == f"ml-pipeline.{KFP_NS}.svc.cluster.local"
    assert env["ML_PIPELINE_SERVICE_PORT"]["value"] == "8888"
    assert env["METADATA_ENVOY_SERVICE_SERVICE_HOST"]["value"] == f"metadata-envoy-service.{KFP_NS}.svc.cluster.local"
    assert env["METADATA_ENVOY_SERVICE_SERVICE_PORT"]["value"] == "9090"
    for name, key in (("MINIO_ACCESS_KEY", "accesskey"), ("MINIO_SECRET_KEY", "secretkey")):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "mlpipeline-minio-artifact", "key": key}, \
            f"{name} comes from the scoped user's Secret, never upstream's default minio/minio123"
    assert env["MINIO_NAMESPACE"]["value"] == "", "the object store's host is used as given, not suffixed .kubeflow"
    assert env["MINIO_HOST"]["valueFrom"]["configMapKeyRef"]["key"] == "objectStoreHost"
    assert (env["ARGO_ARCHIVE_LOGS"]["value"], env["ARGO_ARCHIVE_BUCKETNAME"]["value"]) == ("true", "mlpipeline"), \
        "logs of finished steps come from the bucket Argo archives them in"
    assert env["FRONTEND_SERVER_NAMESPACE"]["value"] == KFP_NS
    assert container["readinessProbe"]["httpGet"] == {"path": "/apis/v2beta1/healthz", "port": 3000}
    service = mocks.named("kubeflow-pipelines-svc-ml-pipeline-ui").inputs["spec"]
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": 3000, "protocol": "TCP"}]
    rules = mocks.named("kubeflow-pipelines-clusterrole-ml-pipeline-ui").inputs["rules"]
    secret_rules = [rule for rule in rules if "secrets" in rule["resources"]]
    assert secret_rules == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                             "resourceNames": ["mlpipeline-minio-artifact"]}], "the UI reads only the artifact Secret"
    assert not [rule for rule in rules if set(rule["verbs"]) - {"get", "list"}], "the UI changes nothing in the cluster"

    envoy = mocks.named("kubeflow-pipelines-metadata-envoy").inputs
    assert envoy["metadata"]["name"] == "metadata-envoy-deployment"
    envoy_container = envoy["spec"]["template"]["spec"]["containers"][0]
    assert envoy_container["image"] == f"{registry}/kubeflow/kfp-metadata-envoy:2.14.3"
    assert env_of(envoy_container)["GRPC_WEB_UPSTREAM"]["value"] == "metadata-grpc-service:8080"
    envoy_service = mocks.named("kubeflow-pipelines-svc-metadata-envoy-service").inputs
    assert envoy_service["metadata"]["name"] == "metadata-envoy-service"
    assert envoy_service["spec"]["ports"][0]["port"] == 9090

    ui_policy = mocks.named("kubeflow-pipelines-allow-ui").inputs["spec"]
    assert ui_policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "ml-pipeline-ui"
    assert ui_policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 3000}]
    assert {"ipBlock": {"cidr": "10.20.0.0/24"}} in ui_policy["ingress"][0]["from"]
    envoy_policy = mocks.named("kubeflow-pipelines-allow-metadata-envoy").inputs["spec"]
    assert envoy_policy["ingress"] == [{"from": [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "ml-pipeline-ui", "app.kubernetes.io/component": "pipelines"}}}],
        "ports": [{"protocol": "TCP", "port": 9090}]}], "only the UI's pod reaches the metadata proxy"


def test_kubeflow_pipelines_without_ui_declares_none_of_it(mocks):
    run({"kubeflowPipelines": {"ui": False}})
    names = {r.name for r in mocks.resources}
    assert not {n for n in names if "ui" in n.split("-") or "envoy" in n}, "no UI, proxy, Service, Role or policy"


def test_kubeflow_pipelines_disabled_declares_nothing_of_it(mocks):
    run({"kubeflowPipelines": {"enabled": False}})
    names = [r.name for r in mocks.resources]
    assert not [n for n in names if "kubeflow-pipelines" in n], "nothing of KFP, not even its bucket user"
    assert "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition" not in {r.typ for r in mocks.resources}
    script = mocks.named("object-store-buckets").inputs["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "mlpipeline" not in script
    values = mocks.chart("mlflow").inputs["values"]
    assert values["networkPolicy"]["allowedNamespaces"] == []


def test_kubeflow_pipelines_external_database(mocks):
    run({"kubeflowPipelines": {"database": {"mode": "external", "host": "db.example.edu", "port": 5433, "user": "kfp"}},
         "kubeflowPipelinesDatabasePassword": "external-db-password"})
    names = [r.name for r in mocks.resources]
    assert "kubeflow-pipelines-database-password" not in names, "no generated password for an external database"
    assert [r.name for r in mocks.of_type("kubernetes:apps/v1:StatefulSet")] == ["object-store-server"], \
        "no in-cluster database for an external one"
    secret = mocks.named("kubeflow-pipelines-database-credentials").inputs
    assert secret["metadata"]["name"] == "kubeflow-pipelines-database"
    assert SECRET_SIG in secret["stringData"]
    assert unsecret(secret["stringData"]) == {"username": "kfp", "password": "external-db-password"}
    config = mocks.named("kubeflow-pipelines-install-config").inputs["data"]
    assert (config["mysqlHost"], config["mysqlPort"]) == ("db.example.edu", "5433")
    for resource in mocks.resources:
        if resource.typ != "kubernetes:core/v1:Secret":
            assert "external-db-password" not in repr(resource.inputs), f"{resource.name} carries the database password"


def test_kubeflow_pipelines_validates_its_arguments():
    from dataclasses import replace

    from infra.components.common import S3Access
    from infra.components.kubeflow_pipelines import KubeflowPipelines, KubeflowPipelinesArgs, KubeflowPipelinesImages
    from infra.config import KFP_RESOURCE_PROFILES, KfpDatabaseConfig, KubeflowPipelinesConfig

    images = KubeflowPipelinesImages(*["i:1"] * 9)
    config = KubeflowPipelinesConfig(enabled=True, namespace="p", bucket="b", resource_profile="lean",
                                     resources=KFP_RESOURCE_PROFILES["lean"],
                                     database=KfpDatabaseConfig("inCluster", "10Gi", "", 3306, ""))
    base = {"images": images, "s3": S3Access("http://s3:9000", "u", "k")}

    def database(mode: str) -> KubeflowPipelinesConfig:
        return replace(config, database=replace(config.database, mode=mode))

    def without(*workloads: str, ui: bool = False) -> KubeflowPipelinesConfig:
        return replace(config, ui=ui, resources={k: v for k, v in config.resources.items() if k not in workloads})

    with pytest.raises(ValueError, match=r"database\.mode='mysql'; allowed values: inCluster, external"):
        KubeflowPipelines("bad", KubeflowPipelinesArgs(config=database("mysql"), **base))
    with pytest.raises(ValueError, match=r"database\.mode='external' needs config\.database\.host, "
                                         r"config\.database\.user, database_password"):
        KubeflowPipelines("bad", KubeflowPipelinesArgs(config=database("external"), **base))
    with pytest.raises(ValueError, match="resources lacks ui, metadata-envoy"):
        KubeflowPipelines("bad", KubeflowPipelinesArgs(config=without("ui", "metadata-envoy", ui=True), **base))
    with pytest.raises(ValueError, match=r"ui=True needs images\.ui and images\.metadata_envoy"):
        KubeflowPipelines("bad", KubeflowPipelinesArgs(config=replace(config, ui=True), **base))
    with pytest.raises(ValueError, match="resources lacks argo-executor"):
        KubeflowPipelines("bad", KubeflowPipelinesArgs(config=without("argo-executor"), **base))


KFP_PARTS = {"mlops-platform:platform:KubeflowPipelinesDatabase", "mlops-platform:platform:KubeflowPipelinesApiServer",
             "mlops-platform:platform:KubeflowPipelinesMetadata", "mlops-platform:platform:KubeflowPipelinesArgo",
             "mlops-platform:platform:KubeflowPipelinesUi"}


@pytest.mark.parametrize("database", [{}, {"mode": "external", "host": "db.example.edu", "user": "kfp"}])
def test_kubeflow_pipelines_parts_keep_the_urns_objects_had_before_the_split(database):
    """Until the split, KubeflowPipelines was the parent of every object its child components now
    declare: each such object must carry an alias to that parent under its unchanged name and
    type, or `pulumi up` on an existing stack would create a same-named Kubernetes object (and
    fail, or delete the old one afterwards)."""
    from pulumi.runtime.mocks import MockMonitor

    class AliasRecordingMonitor(MockMonitor):
        def __init__(self, recorder: RecordingMocks) -> None:
            super().__init__(recorder)
            self.requests: list = []

        def RegisterResource(self, request):
            self.requests.append(request)
            return super().RegisterResource(request)

    monitor = AliasRecordingMonitor(RecordingMocks())
    pulumi.runtime.set_mocks(monitor.mocks, project="mlops-platform", stack="unit", preview=False, monitor=monitor)
    secret = {"kubeflowPipelinesDatabasePassword": "pw"} if database else {}
    run({"kubeflowPipelines": {"ui": True, "database": database}, **secret})

    urns = [monitor.make_urn(r.parent, r.type, r.name) for r in monitor.requests]
    (kfp,) = [urn for r, urn in zip(monitor.requests, urns, strict=True) if r.type == "mlops-platform:platform:KubeflowPipelines"]
    parts = {urn: r.type for r, urn in zip(monitor.requests, urns, strict=True) if r.parent == kfp and r.type in KFP_PARTS}
    assert set(parts.values()) == KFP_PARTS, "database, API server, metadata, Argo and UI are child components"
    old_urns = []
    for request in monitor.requests:
        if request.parent not in parts:
            continue
        where = f"{request.type} {request.name} (in {parts[request.parent]})"
        # Besides ours, the Kubernetes SDK adds aliases to former API versions of the type (same parent).
        moved = [(a.spec.parentUrn, a.spec.name, a.spec.type, a.spec.noParent) for a in request.aliases
                 if a.WhichOneof("alias") != "spec" or a.spec.parentUrn or a.spec.noParent or a.spec.name]
        assert moved == [(kfp, "", "", False)], \
            f"{where}: one alias, to KubeflowPipelines as parent with its own name and type; got {request.aliases}"
        old_urns.append(monitor.make_urn(kfp, request.type, request.name))
    assert len(old_urns) >= 2 * len(KFP_PARTS), f"the parts declare their objects: {old_urns}"
    assert len(set(old_urns)) == len(old_urns), "no two objects claim the same old URN"
    assert not set(old_urns) & set(urns), "no object of this program holds an old URN of a moved object"
    for request, urn in zip(monitor.requests, urns, strict=True):
        if request.type in KFP_PARTS:
            assert not request.aliases, f"{urn}: a child component is new, it has no old URN"
