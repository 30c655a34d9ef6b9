"""The backup program (platform_backup/job.py) on the local filesystem, with an in-memory S3 in
place of the object store: what a backup holds, that verify refuses what it must, retention, and
that a restore puts back the same bytes. The real object store and databases: tests/platform/test_backup.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from platform_backup import job

PLATFORM = {"images": {"mlflow": "mlops.local/mlflow/mlflow:v3.17.2", "mysql": "mlops.local/library/mariadb:10.11"},
            "buckets": ["mlflow-artifacts", "vision-artifacts"], "databases": ["mlflow", "kubeflow-pipelines"]}
NOW = dt.datetime(2026, 12, 6, 10, 0, 0, tzinfo=dt.UTC)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def iter_chunks(self, size: int):
        for start in range(0, len(self.data), size):
            yield self.data[start:start + size]


class _Paginator:
    def __init__(self, store: dict) -> None:
        self.store = store

    def paginate(self, Bucket: str):
        keys = sorted(self.store[Bucket])
        # Two pages, as a large bucket gives.
        yield {"Contents": [{"Key": key} for key in keys[:1]]}
        yield {"Contents": [{"Key": key} for key in keys[1:]]} if keys[1:] else {}


class FakeS3:
    """The calls job.py makes, on a dict of buckets."""

    def __init__(self, buckets: dict[str, dict[str, bytes]]) -> None:
        self.buckets = buckets

    def get_paginator(self, name: str) -> _Paginator:
        assert name == "list_objects_v2"
        return _Paginator(self.buckets)

    def get_object(self, Bucket: str, Key: str) -> dict:
        return {"Body": _Body(self.buckets[Bucket][Key])}

    def upload_file(self, filename: str, bucket: str, key: str) -> None:
        if bucket not in self.buckets:
            raise KeyError(f"NoSuchBucket {bucket}")
        self.buckets[bucket][key] = Path(filename).read_bytes()


def _contents() -> dict[str, dict[str, bytes]]:
    return {"mlflow-artifacts": {"1/abc/artifacts/model.pkl": b"m" * 3_000_000, "1/abc/artifacts/same.txt": b"same"},
            "vision-artifacts": {"v2/artifacts/run/metrics.json": b'{"accuracy": 0.97}', "copy.txt": b"same"}}


def _dumps(tmp_path: Path) -> Path:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    (dumps / "mlflow.pgdump").write_bytes(b"PGDMP fake")
    (dumps / "kubeflow-pipelines.sql").write_text("CREATE DATABASE IF NOT EXISTS `mlpipeline`;\n")
    return dumps


SERVER = {"metadata": {"name": "iris", "namespace": "research-vision", "uid": "u-1", "resourceVersion": "42",
                       "creationTimestamp": "2026-12-06T09:00:00Z", "managedFields": [{}], "generation": 3,
                       "labels": {"mlops-platform/serving": "true"},
                       "annotations": {"deployment.kubernetes.io/revision": "2", "mlops-platform/model": "iris/1"}},
          "spec": {"replicas": 1, "clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7"]}, "status": {"readyReplicas": 1}}


def fake_api(path: str) -> dict:
    """The Kubernetes API's answer: one model server (Deployment and Service) in research-vision."""
    assert "labelSelector=mlops-platform%2Fserving%3Dtrue" in path, path
    return {"items": [SERVER] if "/namespaces/research-vision/" in path else []}


def _backup(tmp_path: Path, now: dt.datetime = NOW) -> Path:
    target = tmp_path / "backups"
    target.mkdir(exist_ok=True)
    dumps = tmp_path / "dumps" if (tmp_path / "dumps").exists() else _dumps(tmp_path)
    platform = {**PLATFORM, "modelServers": {"namespaces": ["research-vision", "research-nlp"],
                                             "selector": "mlops-platform/serving=true"}}
    return job.store(FakeS3(_contents()), dumps, target, 7, platform, now=now, get=fake_api)


def test_a_backup_holds_every_object_and_dump_with_checksums(tmp_path):
    backup = _backup(tmp_path)
    assert backup.name == "20261206T100000Z"
    manifest = json.loads((backup / job.MANIFEST).read_text())
    assert manifest["format"] == job.FORMAT
    assert manifest["platform"]["images"] == PLATFORM["images"]
    keys = {bucket: sorted(e["key"] for e in entries) for bucket, entries in manifest["buckets"].items()}
    assert keys == {bucket: sorted(objects) for bucket, objects in _contents().items()}
    for bucket, entries in manifest["buckets"].items():
        for entry in entries:
            data = _contents()[bucket][entry["key"]]
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()
            assert (backup / "objects" / entry["sha256"]).read_bytes() == data
    # The same bytes under two keys in two buckets are stored once.
    assert len(list((backup / "objects").iterdir())) == 3
    assert manifest["totals"] == {"objects": 4, "bytes": 3_000_000 + 4 + 18 + 4}
    assert (backup / manifest["databases"]["mlflow"]["file"]).read_bytes() == b"PGDMP fake"
    assert job.verify(backup, PLATFORM) == []


def test_a_backup_records_the_model_servers_as_they_can_be_applied_again(tmp_path):
    backup = _backup(tmp_path)
    manifest = json.loads((backup / job.MANIFEST).read_text())
    assert manifest["kubernetes"]["objects"] == 2
    items = json.loads((backup / job.MODEL_SERVERS_FILE).read_text())["items"]
    assert [(i["kind"], i["apiVersion"]) for i in items] == [("Deployment", "apps/v1"), ("Service", "v1")]
    for item in items:
        assert set(item["metadata"]) == {"name", "namespace", "labels", "annotations"}, "no uid, version, times"
        assert item["metadata"]["annotations"] == {"mlops-platform/model": "iris/1"}
        assert "status" not in item
    assert not {"clusterIP", "clusterIPs"} & set(items[1]["spec"]), "a new cluster assigns its own"
    (backup / job.MODEL_SERVERS_FILE).write_text("{}")
    assert any("kubernetes/model-servers.json" in p for p in job.verify(backup))


def test_a_backup_without_a_database_dump_is_not_written(tmp_path):
    dumps = _dumps(tmp_path)
    (dumps / "kubeflow-pipelines.sql").unlink()
    (tmp_path / "backups").mkdir()
    with pytest.raises(job.BackupError, match=r"kubeflow-pipelines\.sql are missing"):
        job.store(FakeS3(_contents()), dumps, tmp_path / "backups", 7, PLATFORM, now=NOW)
    assert not list((tmp_path / "backups").iterdir())


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda b: (b / job.MANIFEST).unlink(), "manifest.json is missing"),
    (lambda b: (b / job.MANIFEST).write_text("{not json"), "not valid JSON"),
    (lambda b: (b / "databases" / "mlflow.pgdump").unlink(), "databases/mlflow.pgdump is missing"),
    (lambda b: (b / "databases" / "mlflow.pgdump").write_bytes(b"PGDMP fakf"), "checksum differs"),
    (lambda b: next(p for p in (b / "objects").iterdir() if p.stat().st_size > 1000).write_bytes(b"short"),
     "bytes, the manifest says 3000000"),
    (lambda b: next(p for p in (b / "objects").iterdir() if p.stat().st_size == 18).unlink(), "is missing"),
])
def test_verify_names_a_missing_or_corrupt_part(tmp_path, damage, expected):
    backup = _backup(tmp_path)
    damage(backup)
    problems = job.verify(backup, PLATFORM)
    assert problems, "a damaged backup must be refused"
    assert any(expected in problem for problem in problems), problems


def test_verify_refuses_a_backup_of_another_platform_version(tmp_path):
    backup = _backup(tmp_path)
    newer = {**PLATFORM, "images": {**PLATFORM["images"], "mlflow": "mlops.local/mlflow/mlflow:v3.18.0"}}
    problems = job.verify(backup, newer)
    assert len(problems) == 1
    assert "image mlflow: the backup was taken with 'mlops.local/mlflow/mlflow:v3.17.2'" in problems[0]
    assert "v3.18.0" in problems[0]
    fewer = {**PLATFORM, "buckets": ["mlflow-artifacts"]}
    assert any("vision-artifacts" in p for p in job.verify(backup, fewer))


def test_verify_refuses_what_is_not_a_backup(tmp_path):
    assert "is not a folder" in job.verify(tmp_path / "nothing")[0]
    (tmp_path / job.MANIFEST).write_text(json.dumps({"format": "something-else/9"}))
    assert "expected 'mlops-platform-backup/1'" in job.verify(tmp_path)[0]


def test_retention_keeps_the_newest_complete_backups_and_drops_partial_ones(tmp_path):
    for hour in range(4):
        _backup(tmp_path, NOW.replace(hour=hour))
    (tmp_path / "backups" / "20261206T050000Z.partial").mkdir()
    removed = job.prune(tmp_path / "backups", 2)
    assert removed == ["20261206T000000Z", "20261206T010000Z", "20261206T050000Z.partial"]
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == ["20261206T020000Z", "20261206T030000Z"]


def test_restore_puts_back_the_same_bytes_under_the_same_keys(tmp_path):
    backup = _backup(tmp_path)
    empty = FakeS3({"mlflow-artifacts": {}, "vision-artifacts": {}})
    assert job.restore_buckets(empty, backup) == 4
    assert empty.buckets == _contents()


def test_main_exits_2_with_the_problems_named(tmp_path, capsys):
    backup = _backup(tmp_path)
    (backup / "databases" / "kubeflow-pipelines.sql").write_text("changed")
    platform_file = tmp_path / "platform.json"
    platform_file.write_text(json.dumps(PLATFORM))
    assert job.main(["verify", str(backup), "--platform", str(platform_file)]) == 2
    assert "refused: databases/kubeflow-pipelines.sql" in capsys.readouterr().err
    platform_file.write_text(json.dumps({"images": {}}))
    assert job.main(["verify", str(backup), "--platform", str(platform_file)]) == 2
    assert "lacks `images`" in capsys.readouterr().err
