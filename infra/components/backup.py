"""Backups of the platform's data: a CronJob that dumps the databases and copies every bucket onto
a volume, and the suspended restore CronJob that `make restore` starts a Job from. The program
both run is platform_backup/job.py, mounted from a ConfigMap; platform_backup/README.md explains
the format and the operator's commands."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import CONTAINER_SECURITY, PART_OF, S3Access, grant, labels, namespace, pod_security

PROGRAM = Path(__file__).resolve().parents[2] / "platform_backup" / "job.py"
BACKUP_CRONJOB = "platform-backup"
RESTORE_CRONJOB = "platform-restore"
# The ConfigMap with the program and the platform description (platform.json) that backups record
# and restores are checked against; make backup / make restore read it too.
PROGRAM_CONFIGMAP = "platform-backup-program"
PLATFORM_FILE = "platform.json"
SERVICE_ACCOUNT = "platform-backup"
CREDENTIALS_SECRET = "platform-backup-credentials"  # noqa: S105 (a name, not a value)
VOLUME_CLAIM = "platform-backups"
# Where the backups volume is mounted in every pod (the exporting and uploading ones of the CLI too).
BACKUPS_PATH = "/backups"
# Every pod of the backup namespace carries it (make backup / make restore find the namespace by it).
COMPONENT = "backup"
# The user of every backup pod (the MLflow image's), owner of the files on the volume.
BACKUP_UID = 1000
# MLflow's basic-auth tables: in an external database they share the tracking database. They are
# never dumped, so a restore keeps the users and passwords the restored-to platform generated
# (mlflow/server/auth/db/migrations of MLflow 3.17.2, current and dropped tables).
MLFLOW_AUTH_TABLES = (
    "users", "roles", "role_permissions", "user_role_assignments", "experiment_permissions",
    "registered_model_permissions", "scorer_permissions", "workspace_permissions",
    "gateway_model_definition_permissions", "gateway_endpoint_permissions", "gateway_secret_permissions",
    "alembic_version_auth",
)
# Kubeflow Pipelines' two databases (kubeflow_pipelines.common: PIPELINE_DATABASE, METADATA_DATABASE).
_MYSQL_CLIENT_CONFIG = 'umask 077; printf "[client]\\npassword=%s\\n" "$KFP_DATABASE_PASSWORD" > /tmp/client.cnf\n'
_MYSQL_LOGIN = ('--defaults-extra-file=/tmp/client.cnf --host="$KFP_DATABASE_HOST" --port="$KFP_DATABASE_PORT" '
                '--user="$KFP_DATABASE_USER"')
# A new pod's first connections can be refused until the NetworkPolicy engine has admitted its
# address (kube-router takes seconds): wait until the database answers, at most WAIT_S.
_WAIT_S = 120


def _wait_until(probe: str, what: str) -> str:
    return (f'waited=0; until {probe} >/dev/null 2>&1; do\n'
            f'  [ "$waited" -ge {_WAIT_S} ] && {{ echo "[backup] {what} did not answer in {_WAIT_S} s" >&2; {probe}; exit 1; }}\n'
            '  sleep 3; waited=$((waited + 3)); done\n')


@dataclass(frozen=True)
class Writer:
    """A workload that writes a database or bucket: `make restore` scales it to 0 while it restores."""
    namespace: pulumi.Input[str]
    kind: str
    name: str


@dataclass
class BackupArgs:
    namespace: str
    schedule: str
    retention: int
    volume_size: str
    resources: dict
    # Runs the program (Python 3 with boto3): the MLflow image.
    image: str
    postgres_image: str
    mysql_image: str
    # postgresql://user:password@host:port/database of MLflow's tracking database.
    mlflow_database_url: pulumi.Input[str]
    # The backup's bucket user: reads every bucket, writes none.
    s3: S3Access
    buckets: tuple[str, ...]
    # Image name -> reference of the images that own a database schema (a restore needs the same).
    schema_images: dict[str, str]
    writers: list[Writer]
    # Kubeflow Pipelines' database (None when Kubeflow Pipelines is off).
    kfp_database_host: pulumi.Input[str] | None = None
    kfp_database_port: int = 3306
    kfp_database_user: pulumi.Input[str] | None = None
    kfp_database_password: pulumi.Input[str] | None = None
    kfp_databases: tuple[str, ...] = ()
    # The tenant namespaces and the label of their model servers (Deployments and Services), which
    # each backup records and make restore applies again; the backup may only read those there.
    model_server_namespaces: tuple[str, ...] = ()
    model_server_selector: str = ""
    # The namespaces' objects must exist before the Roles in them (the Tenants component).
    model_server_depends_on: list[pulumi.Resource] = field(default_factory=list)
    image_pull_policy: str = "IfNotPresent"
    storage_class: str = ""
    protect_data: bool = False


class Backup(pulumi.ComponentResource):
    """Namespace (protected with the data), the credentials Secret, the program ConfigMap, the
    backups volume, the backup CronJob, the suspended restore CronJob and a deny-all ingress
    NetworkPolicy (nothing connects to a backup pod)."""

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops-platform:platform:Backup", name, None, opts)
        if args.retention < 1:
            raise ValueError(f"Backup {name}: retention must be 1 or more, got {args.retention}")
        kfp = args.kfp_database_host is not None
        if kfp and not (args.kfp_database_user and args.kfp_database_password and args.kfp_databases):
            raise ValueError(f"Backup {name}: a Kubeflow Pipelines database needs its user, password and databases")
        child = pulumi.ResourceOptions(parent=self)
        self._labels = labels(name, COMPONENT)
        ns = namespace(f"{name}-ns", args.namespace, COMPONENT, self, protect=args.protect_data)
        self._ns = ns.metadata.apply(lambda m: m["name"])

        def meta(object_name: str) -> dict:
            return {"name": object_name, "namespace": self._ns, "labels": self._labels}

        credentials = {
            "MLFLOW_DATABASE_URL": pulumi.Output.secret(args.mlflow_database_url),
            "S3_ENDPOINT": args.s3.endpoint,
            "AWS_ACCESS_KEY_ID": args.s3.access_key,
            "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(args.s3.secret_key),
        }
        if kfp:
            credentials |= {"KFP_DATABASE_HOST": args.kfp_database_host, "KFP_DATABASE_PORT": str(args.kfp_database_port),
                            "KFP_DATABASE_USER": args.kfp_database_user,
                            "KFP_DATABASE_PASSWORD": pulumi.Output.secret(args.kfp_database_password)}
        secret = k8s.core.v1.Secret(f"{name}-credentials", metadata=meta(CREDENTIALS_SECRET), string_data=credentials,
                                    opts=child)
        writers = pulumi.Output.all(*[w.namespace for w in args.writers]).apply(lambda namespaces: [
            {"namespace": ns_name, "kind": w.kind, "name": w.name} for ns_name, w in zip(namespaces, args.writers, strict=True)])
        platform = writers.apply(lambda writer_list: json.dumps({
            "images": args.schema_images, "buckets": list(args.buckets),
            "databases": ["mlflow", *(["kubeflow-pipelines"] if kfp else [])],
            "modelServers": {"namespaces": list(args.model_server_namespaces), "selector": args.model_server_selector},
            "writers": writer_list}, indent=1, sort_keys=True))
        account = k8s.core.v1.ServiceAccount(f"{name}-account", metadata=meta(SERVICE_ACCOUNT),
                                             automount_service_account_token=False, opts=child)
        self._account = account.metadata.apply(lambda m: m["name"])
        self._args = args
        for tenant_ns in args.model_server_namespaces:
            self._model_server_reader(name, tenant_ns)
        program = k8s.core.v1.ConfigMap(f"{name}-program", metadata=meta(PROGRAM_CONFIGMAP), data={
            "job.py": PROGRAM.read_text(), PLATFORM_FILE: platform}, opts=child)
        claim = k8s.core.v1.PersistentVolumeClaim(f"{name}-volume", metadata=meta(VOLUME_CLAIM), spec={
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": args.volume_size}},
            **({"storageClassName": args.storage_class} if args.storage_class else {})},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect_data))
        k8s.networking.v1.NetworkPolicy(f"{name}-deny-ingress", metadata={
            "name": "default-deny-ingress", "namespace": self._ns, "labels": {"app.kubernetes.io/part-of": PART_OF}},
            spec={"podSelector": {}, "policyTypes": ["Ingress"]}, opts=child)
        self._secret = secret.metadata.apply(lambda m: m["name"])
        self._program = program.metadata.apply(lambda m: m["name"])
        self._claim = claim.metadata.apply(lambda m: m["name"])
        depends = pulumi.ResourceOptions(parent=self, depends_on=[secret, program, claim])
        backup = self._cronjob(f"{name}-cronjob", BACKUP_CRONJOB, args.schedule, False, self._backup_pod(kfp), depends)
        # Never runs on its schedule (suspended); make restore creates a Job from its template.
        restore = self._cronjob(f"{name}-restore", RESTORE_CRONJOB, args.schedule, True, self._restore_pod(kfp), depends)
        self.namespace = self._ns
        self.register_outputs({"namespace": self._ns, "backup": backup.urn, "restore": restore.urn})

    def _model_server_reader(self, name: str, tenant_ns: str) -> None:
        """Read (get, list) the Deployments and Services of one tenant namespace: the model servers."""
        opts = pulumi.ResourceOptions(parent=self, depends_on=self._args.model_server_depends_on)
        grant(f"{name}-read-model-servers-{tenant_ns}-role", f"{name}-read-model-servers-{tenant_ns}-binding",
              {"name": "platform-backup-read-model-servers", "namespace": tenant_ns, "labels": self._labels},
              [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
               {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list"]}],
              [{"kind": "ServiceAccount", "name": self._account, "namespace": self._ns}], opts)

    def _container(self, container_name: str, image: str, script: str, env: list[dict] | None = None) -> dict:
        return {
            "name": container_name, "image": image, "imagePullPolicy": self._args.image_pull_policy,
            "securityContext": CONTAINER_SECURITY, "command": ["/bin/sh", "-ec", script],
            "envFrom": [{"secretRef": {"name": self._secret}}],
            "env": [{"name": "HOME", "value": "/tmp"}, *(env or [])],  # noqa: S108 (the pod's own emptyDir)
            "resources": self._args.resources,
            "volumeMounts": [{"name": "backups", "mountPath": BACKUPS_PATH}, {"name": "dumps", "mountPath": "/dumps"},
                             {"name": "program", "mountPath": "/program", "readOnly": True},
                             {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 (the pod's own emptyDir)
        }

    def _python(self, container_name: str, arguments: str, kubernetes_api: bool = False) -> dict:
        container = self._container(container_name, self._args.image, f"exec python3 /program/job.py {arguments}")
        if kubernetes_api:
            # The ServiceAccount's token in this container only (job.py _SERVICE_ACCOUNT).
            container["volumeMounts"].append({"name": "api-token", "mountPath": "/var/run/secrets/platform-backup",
                                              "readOnly": True})
        return container

    def _backup_pod(self, kfp: bool) -> dict:
        excludes = " ".join(f"--exclude-table={table}" for table in MLFLOW_AUTH_TABLES)
        init = [self._container("dump-mlflow", self._args.postgres_image,
                                _wait_until('pg_isready --dbname="$MLFLOW_DATABASE_URL"', "MLflow's database") +
                                'echo "[backup] dumping MLflow\'s database"\n'
                                f'pg_dump --format=custom --no-owner --no-privileges {excludes} '
                                '--file=/dumps/mlflow.pgdump.tmp --dbname="$MLFLOW_DATABASE_URL"\n'
                                'mv /dumps/mlflow.pgdump.tmp /dumps/mlflow.pgdump\n')]
        if kfp:
            databases = " ".join(self._args.kfp_databases)
            init.append(self._container("dump-kubeflow-pipelines", self._args.mysql_image, (
                _MYSQL_CLIENT_CONFIG + _wait_until(f"mysqladmin {_MYSQL_LOGIN} ping", "Kubeflow Pipelines' database") +
                'echo "[backup] dumping Kubeflow Pipelines\' databases"\n'
                f'mysqldump {_MYSQL_LOGIN} --single-transaction --no-tablespaces --routines --add-drop-table '
                f'--databases {databases} > /dumps/kubeflow-pipelines.sql.tmp\n'
                'mv /dumps/kubeflow-pipelines.sql.tmp /dumps/kubeflow-pipelines.sql\n')))
        main = self._python("store", f"store --dumps /dumps --target {BACKUPS_PATH} --retention {self._args.retention} "
                                     f"--platform /program/{PLATFORM_FILE}", kubernetes_api=True)
        pod = self._pod(init, main)
        pod["spec"]["serviceAccountName"] = self._account
        pod["spec"]["volumes"].append({"name": "api-token", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}})
        return pod

    def _restore_pod(self, kfp: bool) -> dict:
        """The restore: BACKUP_ID (set by make restore on the Job it creates) names the folder."""
        backup = f"{BACKUPS_PATH}/$BACKUP_ID"
        init = [
            self._python("verify", f"verify {backup} --platform /program/{PLATFORM_FILE}"),
            # --clean --if-exists in one transaction: the tables are replaced or nothing changes.
            self._container("restore-mlflow", self._args.postgres_image,
                            _wait_until('pg_isready --dbname="$MLFLOW_DATABASE_URL"', "MLflow's database") +
                            'echo "[restore] MLflow\'s database"\n'
                            'pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction '
                            f'--dbname="$MLFLOW_DATABASE_URL" {backup}/databases/mlflow.pgdump\n'),
        ]
        if kfp:
            init.append(self._container("restore-kubeflow-pipelines", self._args.mysql_image, (
                _MYSQL_CLIENT_CONFIG + _wait_until(f"mysqladmin {_MYSQL_LOGIN} ping", "Kubeflow Pipelines' database") +
                'echo "[restore] Kubeflow Pipelines\' databases"\n'
                f'mysql {_MYSQL_LOGIN} < {backup}/databases/kubeflow-pipelines.sql\n')))
        return self._pod(init, self._python("restore-buckets", f"restore-buckets {backup}"))

    def _pod(self, init: list[dict], main: dict) -> dict:
        """A backup or restore pod: no Kubernetes API token unless _backup_pod adds its own."""
        return {
            "metadata": {"labels": self._labels},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "securityContext": pod_security(BACKUP_UID),
                "initContainers": init,
                "containers": [main],
                "volumes": [{"name": "backups", "persistentVolumeClaim": {"claimName": self._claim}},
                            {"name": "dumps", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}},
                            {"name": "program", "configMap": {"name": self._program}}],
            },
        }

    def _cronjob(self, resource_name: str, cronjob_name: str, schedule: str, suspend: bool, pod: dict,
                 opts: pulumi.ResourceOptions) -> k8s.batch.v1.CronJob:
        return k8s.batch.v1.CronJob(resource_name, metadata={"name": cronjob_name, "namespace": self._ns,
                                                             "labels": self._labels}, spec={
            "schedule": schedule, "suspend": suspend, "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": self._labels},
                            "spec": {"backoffLimit": 1, "activeDeadlineSeconds": 6 * 3600, "template": pod}},
        }, opts=opts)
