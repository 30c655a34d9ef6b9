"""Wires the validated configuration into the platform's components."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from mlops_components.contract import SERVING_LABEL, SERVING_PORT

from infra.components.backup import Backup, BackupArgs, Writer
from infra.components.common import after
from infra.components.gpu import Gpu, GpuArgs
from infra.components.kubeflow_pipelines import (
    METADATA_DATABASE,
    PIPELINE_DATABASE,
    KubeflowPipelines,
    KubeflowPipelinesArgs,
    KubeflowPipelinesImages,
)
from infra.components.login import IDENTITY_HEADER as LOGIN_IDENTITY_HEADER
from infra.components.login import Login, LoginArgs
from infra.components.mlflow import PORT as MLFLOW_PORT
from infra.components.mlflow import Mlflow, MlflowArgs, tenant_identity
from infra.components.monitoring import Monitoring, MonitoringArgs, ScrapeTarget
from infra.components.object_store import ALL_BUCKETS, BucketUser, ObjectStore, ObjectStoreArgs
from infra.components.queueing import Queueing, QueueingArgs, quota_ceiling
from infra.components.schema_versions import SchemaVersions
from infra.components.tenants import TenantCredentials, Tenants, TenantsArgs
from infra.config import PlatformConfig


@dataclass
class Platform:
    object_store: ObjectStore
    mlflow: Mlflow
    # None when gpu.enabled / kubeflowPipelines.enabled is false / no tenants are configured.
    gpu: Gpu | None
    tenants: Tenants | None
    kubeflow_pipelines: KubeflowPipelines | None
    # None when queueing.enabled is false or no tenants are configured.
    queueing: Queueing | None = None
    # None when backup.enabled is false.
    backup: Backup | None = None
    # None when login.enabled is false.
    login: Login | None = None
    # None when monitoring.enabled is false.
    monitoring: Monitoring | None = None


# The object-store user (access key) of Kubeflow Pipelines, scoped to kubeflowPipelines.bucket.
KFP_BUCKET_USER = "kubeflow-pipelines"
# MLflow's object-store user, scoped to mlflow.artifactBucket: MLflow never holds the root key.
MLFLOW_BUCKET_USER = "mlflow"
# The backup's object-store user: reads and writes every bucket, no admin rights.
BACKUP_BUCKET_USER = "platform-backup"
# The scrape job of the research groups' model servers (the alert rules name it).
MODEL_SERVERS_JOB = "model-servers"
# The images whose versions fix a database schema: a backup restores onto the same ones only.
SCHEMA_IMAGES = ("mlflow", "postgres", "mysql", "kfp-api-server", "mlmd-server")


def tenant_user(tenant_name: str) -> str:
    """The object-store user (access key) of a tenant."""
    return f"tenant-{tenant_name}"


def _tenant_credentials(name: str, store: ObjectStore, mlflow: Mlflow) -> TenantCredentials:
    identity = tenant_identity(name)
    return TenantCredentials(
        access_key=tenant_user(name), secret_key=store.user_secret_keys[tenant_user(name)],
        mlflow=identity, mlflow_editor_password=mlflow.tenant_passwords[identity.editor],
        mlflow_reader_password=mlflow.tenant_passwords[identity.reader])


def deploy(cfg: PlatformConfig) -> Platform:
    image = cfg.images.resolve

    store_cfg, mlflow_cfg, gpu_cfg, tenants = cfg.object_store, cfg.mlflow, cfg.gpu, cfg.tenancy.tenants
    kfp_cfg = cfg.kubeflow_pipelines
    # Pipelines run in the tenant namespaces (KFP's multi-user mode); the KFP namespace's API
    # server reaches the object store (pipeline packages), its UI too (artifacts, logs).
    tenant_namespaces = [tenant.namespace for tenant in tenants]
    kfp_namespaces = [kfp_cfg.namespace] if kfp_cfg.enabled else []
    kfp_buckets = (kfp_cfg.bucket,) if kfp_cfg.enabled and kfp_cfg.bucket not in store_cfg.buckets else ()
    kfp_users = (BucketUser(KFP_BUCKET_USER, kfp_cfg.bucket),) if kfp_cfg.enabled else ()
    mlflow_user = BucketUser(MLFLOW_BUCKET_USER, mlflow_cfg.artifact_bucket)
    backup_cfg = cfg.backup
    backup_namespaces = [backup_cfg.namespace] if backup_cfg.enabled else []
    backup_users = (BucketUser(BACKUP_BUCKET_USER, ALL_BUCKETS),) if backup_cfg.enabled else ()
    buckets = store_cfg.buckets + kfp_buckets + tuple(tenant.bucket for tenant in tenants)
    store = ObjectStore("object-store", ObjectStoreArgs(
        backend=store_cfg.backend,
        namespace=store_cfg.namespace,
        image=image(store_cfg.backend),
        image_pull_policy=cfg.images.pull_policy,
        volume_size=store_cfg.volume_size,
        storage_class=cfg.platform.storage_class,
        root_user=store_cfg.root_user,
        buckets=buckets,
        resources=store_cfg.resources,
        client_namespaces=[mlflow_cfg.namespace, *kfp_namespaces, *tenant_namespaces, *backup_namespaces],
        client_cidrs=cfg.platform.allowed_ingress_cidrs,
        protect_data=cfg.platform.protect_data,
        metrics=cfg.monitoring.enabled,
        bucket_users=(mlflow_user, *kfp_users, *(BucketUser(tenant_user(tenant.name), tenant.bucket) for tenant in tenants),
                      *backup_users),
    ))
    # Before an update changes an image that owns a database schema, a backup (schema_versions):
    # every resource of MLflow, Kubeflow Pipelines and the backup waits for it (after()).
    migrate_after: list[pulumi.Resource] = [store]
    schema_images = {name: image(name) for name in SCHEMA_IMAGES}
    if backup_cfg.enabled:
        migrate_after.append(SchemaVersions("schema-versions", schema_images,
                                            backup_cfg.namespace, opts=pulumi.ResourceOptions(depends_on=[store])))
    mlflow_tls_secret, mlflow_ingress_annotations = cfg.platform.ingress_tls.for_component("mlflow")
    mlflow = Mlflow("mlflow", MlflowArgs(
        namespace=mlflow_cfg.namespace,
        image=image("mlflow"),
        postgres_image=image("postgres"),
        image_pull_policy=cfg.images.pull_policy,
        artifact_bucket=mlflow_cfg.artifact_bucket,
        s3=store.access(MLFLOW_BUCKET_USER),
        admin_username=mlflow_cfg.admin_username,
        resources=mlflow_cfg.resources,
        database_mode=mlflow_cfg.database.mode,
        database_volume_size=mlflow_cfg.database.volume_size,
        database_resources=mlflow_cfg.database.resources,
        external_dsn=cfg.mlflow_external_dsn or None,
        storage_class=cfg.platform.storage_class,
        ingress_host=mlflow_cfg.ingress_host,
        ingress_class=cfg.platform.ingress_class,
        ingress_tls_secret=mlflow_tls_secret,
        ingress_annotations=mlflow_ingress_annotations,
        client_namespaces=tenant_namespaces,
        client_cidrs=cfg.platform.allowed_ingress_cidrs,
        protect_data=cfg.platform.protect_data,
        tenants=[tenant_identity(tenant.name) for tenant in tenants],
        database_client_namespaces=backup_namespaces,
        metrics=cfg.monitoring.enabled,
    ),
        # MLflow's scoped user exists once the object store's bucket Job has made it.
        opts=after(*migrate_after))
    gpu = None
    if gpu_cfg.enabled:
        dcgm = gpu_cfg.dcgm_exporter
        gpu = Gpu("gpu", GpuArgs(
            namespace=gpu_cfg.namespace,
            device_plugin_image=image("nvidia-device-plugin"),
            image_pull_policy=cfg.images.pull_policy,
            resources=gpu_cfg.resources,
            time_slicing_replicas=gpu_cfg.time_slicing_replicas,
            mig_strategy=gpu_cfg.mig_strategy,
            dcgm_exporter_image=image("dcgm-exporter") if dcgm.enabled else "",
            dcgm_exporter_resources=dcgm.resources if dcgm.enabled else None,
        ))
    kfp = None
    if kfp_cfg.enabled:
        kfp = KubeflowPipelines("kubeflow-pipelines", KubeflowPipelinesArgs(
            config=kfp_cfg,
            images=KubeflowPipelinesImages(
                api_server=image("kfp-api-server"),
                persistence_agent=image("kfp-persistence-agent"),
                scheduled_workflow=image("kfp-scheduled-workflow"),
                driver=image("kfp-driver"),
                launcher=image("kfp-launcher"),
                metadata_server=image("mlmd-server"),
                workflow_controller=image("argo-workflow-controller"),
                argoexec=image("argoexec"),
                database=image("mysql"),
                ui=image("kfp-frontend"),
                metadata_envoy=image("kfp-metadata-envoy"),
            ),
            s3=store.access(KFP_BUCKET_USER),
            pipelines_namespaces=tuple(tenant_namespaces),
            database_password=cfg.kubeflow_pipelines_database_password or None,
            image_pull_policy=cfg.images.pull_policy,
            storage_class=cfg.platform.storage_class,
            client_cidrs=cfg.platform.allowed_ingress_cidrs,
            protect_data=cfg.platform.protect_data,
            database_client_namespaces=tuple(backup_namespaces),
            people_login_namespace=cfg.login.namespace if cfg.login.enabled else "",
            people_identity_header=LOGIN_IDENTITY_HEADER if cfg.login.enabled else "",
            people_namespaces=tuple((tenant.namespace, tenant.members) for tenant in tenants) if cfg.login.enabled else (),
        ),
            # The API server creates its bucket unless it exists, which the scoped user may not
            # do: start once the object store's bucket Job has made it.
            opts=after(*migrate_after))
    login = None
    if kfp and cfg.login.enabled:
        login = Login("login", LoginArgs(
            config=cfg.login,
            dex_image=image("dex"),
            proxy_image=image("oauth2-proxy"),
            ui_upstream=kfp.ui_endpoint,
            image_pull_policy=cfg.images.pull_policy,
            client_cidrs=cfg.platform.allowed_ingress_cidrs,
            ingress_class=cfg.platform.ingress_class,
            ingress_tls=cfg.platform.ingress_tls,
        ))
    tenant_component = None
    queueing = None
    if cfg.queueing.enabled and tenants:
        queueing = Queueing("queueing", QueueingArgs(
            config=cfg.queueing, tenants=tenants, image=image("kueue"), image_pull_policy=cfg.images.pull_policy,
            metrics=cfg.monitoring.enabled))
    if tenants:
        tenant_component = Tenants("tenants", TenantsArgs(
            tenants=tenants,
            container_defaults=cfg.tenancy.container_defaults,
            credentials={tenant.name: _tenant_credentials(tenant.name, store, mlflow) for tenant in tenants},
            object_store_namespace=store_cfg.namespace,
            object_store_port=store.port,
            s3_endpoint=store.endpoint,
            mlflow_namespace=mlflow_cfg.namespace,
            mlflow_port=MLFLOW_PORT,
            tracking_uri=mlflow.tracking_uri,
            pipelines_namespace=kfp_cfg.namespace if kfp_cfg.enabled else None,
            protect_data=cfg.platform.protect_data,
            quota_ceilings={tenant.name: quota_ceiling(tenant, tenants) for tenant in tenants} if queueing else None,
            queueing=queueing,
        ))
    backup = None
    if backup_cfg.enabled:
        writers = [Writer(mlflow.namespace, "Deployment", "mlflow")]
        if kfp:
            writers += [Writer(kfp.namespace, "Deployment", name) for name in kfp.database_writers]
        backup = Backup("backup", BackupArgs(
            namespace=backup_cfg.namespace,
            schedule=backup_cfg.schedule,
            retention=backup_cfg.retention,
            volume_size=backup_cfg.volume_size,
            storage_class=backup_cfg.storage_class,
            resources=backup_cfg.resources.to_kubernetes(),
            image=image("mlflow"),
            postgres_image=image("postgres"),
            mysql_image=image("mysql"),
            image_pull_policy=cfg.images.pull_policy,
            mlflow_database_url=mlflow.database_url,
            s3=store.access(BACKUP_BUCKET_USER),
            buckets=buckets,
            schema_images=schema_images,
            writers=writers,
            kfp_database_host=kfp.database_host if kfp else None,
            kfp_database_port=kfp.database_port if kfp else 3306,
            kfp_database_user=kfp.database_user if kfp else None,
            kfp_database_password=kfp.database_password if kfp else None,
            kfp_databases=(PIPELINE_DATABASE, METADATA_DATABASE) if kfp else (),
            model_server_namespaces=tuple(tenant_namespaces),
            model_server_selector=f"{SERVING_LABEL}=true",
            model_server_depends_on=[tenant_component] if tenant_component else [],
            protect_data=cfg.platform.protect_data,
        ),
            # Its object-store user exists once the bucket Job has made it; its CronJob changes
            # after the pre-upgrade backup that runs from the current one.
            opts=after(*migrate_after))
    monitoring = None
    if cfg.monitoring.enabled:
        scraped = [part for part in (store, mlflow, kfp, gpu, queueing) if part]
        targets = [target for part in scraped for target in part.metrics_targets]
        if tenant_component:
            # The research groups' model servers (mlops_components.serving: /metrics on the serving port).
            targets.append(ScrapeTarget(MODEL_SERVERS_JOB, tuple(tenant_namespaces), {SERVING_LABEL: "true"}, SERVING_PORT))
        monitoring = Monitoring("monitoring", MonitoringArgs(
            config=cfg.monitoring,
            images=(image("prometheus"), image("kube-state-metrics"), image("node-exporter"), image("alertmanager")),
            dashboard_image=image("mlflow"),
            image_pull_policy=cfg.images.pull_policy,
            targets=tuple(targets),
            tenants=cfg.tenancy.tenants,
            # The targets' NetworkPolicies go into those components' namespaces.
            depends_on=[*scraped, *([tenant_component] if tenant_component else [])],
        ))
    return Platform(object_store=store, mlflow=mlflow, gpu=gpu, tenants=tenant_component, kubeflow_pipelines=kfp,
                    queueing=queueing, backup=backup, login=login, monitoring=monitoring)
