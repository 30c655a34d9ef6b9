"""offline/lib/json_tools.py, the JSON the builders read and write (the kubernetes provider in
Pulumi's plugin cache, its schema's version, the kind node's OCI spec, `go mod download -json`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "offline" / "lib" / "json_tools.py"
pytestmark = pytest.mark.unit


def tool(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], input=stdin, capture_output=True, text=True, check=False)


def test_the_plugin_cache_has_the_pinned_provider_or_not():
    plugins = json.dumps([{"name": "kubernetes", "kind": "resource", "version": "4.25.0"},
                          {"name": "kubernetes", "kind": "language", "version": "4.26.0"}])
    assert tool("plugin-installed", "kubernetes", "resource", "4.25.0", stdin=plugins).returncode == 0
    assert tool("plugin-installed", "kubernetes", "resource", "4.26.0", stdin=plugins).returncode == 1
    assert tool("plugin-installed", "kubernetes", "resource", "4.25.0", stdin="null").returncode == 1, "an empty cache"


def test_the_schema_gets_the_pinned_version(tmp_path):
    (tmp_path / "schema.json").write_text(json.dumps({"name": "kubernetes", "version": "0.0.0-dev", "types": {}}))
    done = tool("schema-version", str(tmp_path / "schema.json"), str(tmp_path / "out.json"), "4.25.0")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == {"name": "kubernetes", "version": "4.25.0", "types": {}}
    assert " " not in (tmp_path / "out.json").read_text(), "written compact, as it is embedded in the binary"
    missing = tool("schema-version", str(tmp_path / "none.json"), str(tmp_path / "out2.json"), "1")
    assert missing.returncode == 1
    assert "none.json" in missing.stderr


def test_the_kind_nodes_oci_spec_has_the_hook_and_no_rlimits():
    spec = {"process": {"args": ["sh"], "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]},
            "hooks": {"createContainer": [{"path": "/other"}]}}
    done = tool("kind-oci-spec", "/kind/bin/mount-product-files.sh", stdin=json.dumps(spec))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["hooks"]["createContainer"] == [{"path": "/other"}, {"path": "/kind/bin/mount-product-files.sh"}]
    assert "rlimits" not in out["process"]
    assert json.loads(tool("kind-oci-spec", "/h", stdin='{"process": {}}').stdout)["hooks"] == {"createContainer": [{"path": "/h"}]}


def test_a_field_of_go_mod_download(tmp_path):
    info = tmp_path / "v1.0.0.info"
    info.write_text(json.dumps({"Version": "v1.0.0", "Time": "2025-01-02T03:04:05Z", "Origin": {"Hash": "abc123"}}))
    download = json.dumps({"Path": "example.com/m", "Version": "v1.0.0", "Dir": "/mod/example.com/m@v1.0.0", "Info": str(info)})
    assert tool("go-download-field", download, "Dir").stdout == "/mod/example.com/m@v1.0.0\n"
    assert tool("go-download-field", download, "Commit").stdout == "abc123\n"
    assert tool("go-download-field", download, "Time").stdout == "2025-01-02T03:04:05Z\n"
    info.write_text(json.dumps({"Version": "v1.0.0"}))
    assert tool("go-download-field", download, "Commit").stdout == "\n", "older fetches record no origin"
    failed = tool("go-download-field", json.dumps({"Error": "not found: 410 Gone"}), "Dir")
    assert failed.returncode == 1
    assert "go mod download: not found: 410 Gone" in failed.stderr


def test_a_wrong_call_shows_the_usage():
    done = tool("schema-version", "only-one")
    assert done.returncode == 1
    assert "json_tools.py kind-oci-spec HOOK" in done.stderr
