"""The pre-upgrade backup's decisions (infra/components/schema_versions.py), with kubectl replaced:
when a backup is taken, when it is skipped, and that a failed one stops the update; and, under
Pulumi mocks, the images the record holds. The real backup before an upgrade runs in
`make upgrade-test` (smoke_tests/upgrade_test.py)."""

from __future__ import annotations

import pytest

from infra.components import schema_versions
from platform_backup import cli
from tests.support.pulumi_mocks import run

pytestmark = pytest.mark.unit


class FakeCluster:
    def __init__(self, cronjob: bool = True, backup_fails: bool = False) -> None:
        self.cronjob, self.backup_fails = cronjob, backup_fails
        self.calls: list[tuple] = []

    def kubectl(self, *args, namespace=None, **_):
        self.calls.append(("kubectl", namespace, *args))
        if args[:2] == ("get", "cronjob"):
            return f"cronjob.batch/{cli.BACKUP_CRONJOB}\n" if self.cronjob else ""
        raise AssertionError(f"unexpected kubectl {args}")

    def take_backup(self, namespace, job_name, timeout_s, reason=""):
        self.calls.append(("backup", namespace, job_name, reason))
        if self.backup_fails:
            raise cli.CliError("Job mlops-backup/x failed; last state: dump-mlflow terminated (Error)")
        return "20261206T120000Z"


@pytest.fixture
def cluster(monkeypatch):
    fake = FakeCluster()
    monkeypatch.setattr(cli, "kubectl", fake.kubectl)
    monkeypatch.setattr(cli, "take_backup", fake.take_backup)
    monkeypatch.setattr(schema_versions.pulumi.log, "info", lambda *_a, **_k: None)
    monkeypatch.setattr(schema_versions.pulumi.log, "warn", lambda *_a, **_k: None)
    monkeypatch.delenv(schema_versions.SKIP_VARIABLE, raising=False)
    return fake


def hook_args(old: dict | None, new: dict) -> schema_versions.pulumi.ResourceHookArgs:
    return schema_versions.pulumi.ResourceHookArgs(urn="urn", id="id", name="schema-versions", type="t",
                                                  old_inputs=old, new_inputs=new)


IMAGES = {"mlflow": "mlops.local/mlflow:3.17.2", "postgres": "mlops.local/postgres:17"}


def test_changed_images_names_each_difference():
    assert schema_versions.changed_images(IMAGES, IMAGES) == {}
    assert schema_versions.changed_images(IMAGES, {**IMAGES, "mlflow": "mlops.local/mlflow:3.18.0"}) == {
        "mlflow": ("mlops.local/mlflow:3.17.2", "mlops.local/mlflow:3.18.0")}
    assert schema_versions.changed_images(None, {"mysql": "m:8"}) == {"mysql": (None, "m:8")}


def test_a_changed_schema_image_takes_a_backup_first(cluster):
    new = {**IMAGES, "mlflow": "mlops.local/mlflow:3.18.0"}
    schema_versions._before_update(hook_args({"images": IMAGES, "backupNamespace": "mlops-backup"},
                                             {"images": new, "backupNamespace": "mlops-backup"}))
    backups = [call for call in cluster.calls if call[0] == "backup"]
    assert len(backups) == 1
    _, namespace, job_name, reason = backups[0]
    assert namespace == "mlops-backup"
    assert job_name.startswith(schema_versions.JOB_PREFIX)
    assert "mlflow mlops.local/mlflow:3.17.2 -> mlops.local/mlflow:3.18.0" in reason


def test_an_update_that_changes_no_image_takes_none(cluster):
    schema_versions._before_update(hook_args({"images": IMAGES, "backupNamespace": "a"},
                                             {"images": IMAGES, "backupNamespace": "b"}))
    assert cluster.calls == []


def test_a_first_install_has_nothing_to_back_up(cluster):
    cluster.cronjob = False
    schema_versions._before_create(hook_args(None, {"images": IMAGES, "backupNamespace": "mlops-backup"}))
    assert [call[0] for call in cluster.calls] == ["kubectl"], "looked for the backup CronJob, took no backup"


def test_a_platform_deployed_before_the_record_is_backed_up(cluster):
    schema_versions._before_create(hook_args(None, {"images": IMAGES, "backupNamespace": "mlops-backup"}))
    assert [call[0] for call in cluster.calls] == ["kubectl", "backup"]


def test_a_failed_backup_stops_the_update_with_what_to_do(cluster):
    cluster.backup_fails = True
    with pytest.raises(RuntimeError) as raised:
        schema_versions._before_update(hook_args({"images": IMAGES, "backupNamespace": "mlops-backup"},
                                                 {"images": {**IMAGES, "postgres": "p:18"}, "backupNamespace": "mlops-backup"}))
    message = str(raised.value)
    assert "nothing of MLflow or Kubeflow Pipelines was changed" in message
    assert "dump-mlflow terminated (Error)" in message, "the last state seen"
    assert f"{schema_versions.SKIP_VARIABLE}=skip" in message


def test_skipping_is_explicit(cluster, monkeypatch):
    monkeypatch.setenv(schema_versions.SKIP_VARIABLE, "skip")
    warned = []
    monkeypatch.setattr(schema_versions.pulumi.log, "warn", lambda message, *_a, **_k: warned.append(message))
    schema_versions._before_update(hook_args({"images": IMAGES, "backupNamespace": "mlops-backup"},
                                             {"images": {**IMAGES, "postgres": "p:18"}, "backupNamespace": "mlops-backup"}))
    assert cluster.calls == []
    assert "SKIPPED" in warned[0]


def test_the_record_changes_in_place_never_replaced():
    provider = schema_versions._RecordProvider()
    diff = provider.diff("id", {"images": IMAGES, "backupNamespace": "n"}, {"images": {**IMAGES, "mysql": "m"},
                                                                          "backupNamespace": "n"})
    assert diff.changes is True
    assert not diff.replaces, "an update runs before_update (a replacement would not)"
    assert provider.diff("id", {"images": IMAGES, "backupNamespace": "n"},
                         {"images": dict(IMAGES), "backupNamespace": "n"}).changes is False


def test_schema_images_are_recorded_for_the_pre_upgrade_backup(mocks):
    run({"images": {"registry": "mirror.example.edu:5000"}, "backup": {"namespace": "backups"}})
    record = mocks.named("schema-versions").inputs
    assert record["backupNamespace"] == "backups"
    assert set(record["images"]) == {"mlflow", "postgres", "mysql", "kfp-api-server", "mlmd-server"}, \
        "every image that migrates a database schema on start"
    assert all(ref.startswith("mirror.example.edu:5000/") for ref in record["images"].values())
