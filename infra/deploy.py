"""Wires the validated configuration into the platform's components."""

from __future__ import annotations

from dataclasses import dataclass

from infra.components.mlflow import Mlflow, MlflowArgs
from infra.components.object_store import ObjectStore, ObjectStoreArgs
from infra.config import PlatformConfig
from infra.images import resolve_image


@dataclass
class Platform:
    object_store: ObjectStore
    mlflow: Mlflow


def deploy(cfg: PlatformConfig) -> Platform:
    def image(name: str) -> str:
        return resolve_image(name, cfg.images.registry, cfg.images.overrides)

    store_cfg, mlflow_cfg = cfg.object_store, cfg.mlflow
    store = ObjectStore("object-store", ObjectStoreArgs(
        backend=store_cfg.backend,
        namespace=store_cfg.namespace,
        image=image(store_cfg.backend),
        image_pull_policy=cfg.images.pull_policy,
        volume_size=store_cfg.volume_size,
        storage_class=cfg.platform.storage_class,
        root_user=store_cfg.root_user,
        buckets=store_cfg.buckets,
        resources=store_cfg.resources,
        client_namespaces=[mlflow_cfg.namespace],
        client_cidrs=cfg.platform.allowed_ingress_cidrs,
    ))
    mlflow = Mlflow("mlflow", MlflowArgs(
        namespace=mlflow_cfg.namespace,
        image=image("mlflow"),
        postgres_image=image("postgres"),
        image_pull_policy=cfg.images.pull_policy,
        artifact_bucket=mlflow_cfg.artifact_bucket,
        s3_endpoint=store.endpoint,
        s3_access_key=store.access_key,
        s3_secret_key=store.secret_key,
        admin_username=mlflow_cfg.admin_username,
        resources=mlflow_cfg.resources,
        database_mode=mlflow_cfg.database.mode,
        database_volume_size=mlflow_cfg.database.volume_size,
        database_resources=mlflow_cfg.database.resources,
        external_dsn=cfg.mlflow_external_dsn or None,
        storage_class=cfg.platform.storage_class,
        ingress_host=mlflow_cfg.ingress_host,
        ingress_class=cfg.platform.ingress_class,
    ))
    return Platform(object_store=store, mlflow=mlflow)
