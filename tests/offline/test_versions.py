"""The toolchain pins agree everywhere, and the tools `make tools` installed report them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MLOPS_CACHE_DIR", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlops-platform"))


def versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "offline" / "versions.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key] = value
    return pins


def pip_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        if match:
            pins[re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")] = match.group(2)
    return pins


def go_requirements(module_dir: str) -> dict[str, str]:
    text = (ROOT / "offline" / "go" / module_dir / "go.mod").read_text()
    return dict(re.findall(r"^\s*(?:require\s+)?([a-z0-9.\-/]+\.[a-z]+/[^\s]+)\s+(v[^\s]+)", text, re.MULTILINE))


def test_python_sdk_pins_match_the_built_engine_and_provider():
    pins, req = versions(), pip_pins(ROOT / "requirements.txt")
    assert req["pulumi"] == pins["PULUMI_VERSION"], "requirements.txt pulumi must equal the engine in offline/versions.env"
    assert req["pulumi-kubernetes"] == pins["PULUMI_KUBERNETES_VERSION"], "pulumi-kubernetes must equal the built provider"


def test_go_wrapper_modules_match_versions_env():
    pins = versions()
    pulumi_mod = go_requirements("pulumi")
    assert pulumi_mod["github.com/pulumi/pulumi/pkg/v3"] == "v" + pins["PULUMI_VERSION"]
    assert pulumi_mod["github.com/pulumi/pulumi/sdk/v3"] == "v" + pins["PULUMI_VERSION"]
    provider_mod = go_requirements("kubernetes-provider")
    assert provider_mod["github.com/pulumi/pulumi-kubernetes/provider/v4"] == pins["PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION"]
    assert provider_mod["github.com/pulumi/pulumi-kubernetes/sdk/v4"] == "v" + pins["PULUMI_KUBERNETES_VERSION"]
    tools_mod = go_requirements("cluster-tools")
    assert tools_mod["sigs.k8s.io/kind"] == "v" + pins["KIND_VERSION"]
    assert tools_mod["helm.sh/helm/v3"] == "v" + pins["HELM_VERSION"]
    # Prometheus 3.x is published as Go module v0.3xx.y: 3.16.0 is v0.316.0.
    prometheus_mod = go_requirements("prometheus")
    assert prometheus_mod["github.com/prometheus/prometheus"] == pins["PROMETHEUS_MODULE_VERSION"]
    major, minor, patch = pins["PROMETHEUS_VERSION"].split(".")
    assert pins["PROMETHEUS_MODULE_VERSION"] == f"v0.{int(major) * 100 + int(minor)}.{patch}", "PROMETHEUS_VERSION and its module version differ"


def test_constraints_agree_with_direct_pins():
    constraints = pip_pins(ROOT / "constraints.txt")
    for requirements in ("requirements.txt", "requirements-dev.txt"):
        for name, version in pip_pins(ROOT / requirements).items():
            assert constraints.get(name) == version, f"{requirements} pins {name}=={version}; constraints.txt has {constraints.get(name)}"


def tool(name: str) -> str:
    path = CACHE / "bin" / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed: run `make tools`"
    return found


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}).stdout


def test_installed_tools_report_the_pinned_versions():
    pins = versions()
    assert run(tool("pulumi"), "version").strip() == "v" + pins["PULUMI_VERSION"]
    language_host = Path(tool("pulumi")).resolve().parent / "pulumi-language-python"
    assert run(str(language_host), "-version").strip() == "v" + pins["PULUMI_VERSION"], "language host beside the CLI"
    assert (language_host.parent / "pulumi-language-python-exec").is_file(), "the exec script sits beside the host"
    assert f"kind v{pins['KIND_VERSION']} " in run(tool("kind"), "version")
    assert run(tool("helm"), "version", "--short").startswith("v" + pins["HELM_VERSION"])
    plugins = json.loads(run(tool("pulumi"), "plugin", "ls", "--json"))
    assert {"name": "kubernetes", "kind": "resource", "version": pins["PULUMI_KUBERNETES_VERSION"]} in [
        {k: p[k] for k in ("name", "kind", "version")} for p in plugins
    ], "the built kubernetes provider is installed as a Pulumi plugin"


def test_pinned_tools_already_on_path_are_used_and_nothing_is_built(tmp_path):
    """A sysadmin's machine with pulumi (and its language host), kind and helm at the pinned versions
    on PATH, and the provider in the plugin cache: `make tools` links them and builds nothing."""
    found = {name: Path(tool(name)).resolve().parent for name in ("pulumi", "kind", "helm")}
    guard = tmp_path / "guard"
    guard.mkdir()
    real_go = shutil.which("go")
    assert real_go, "go is needed by offline/build-tools.sh"
    (guard / "go").write_text(f'#!/bin/sh\ncase "$1" in build|install) echo "go $1 must not run" >&2; exit 99;; esac\nexec {real_go} "$@"\n')
    (guard / "go").chmod(0o755)
    path = os.pathsep.join([str(guard), *map(str, found.values()), os.environ["PATH"]])
    cache = tmp_path / "cache"
    result = subprocess.run(["bash", str(ROOT / "offline" / "build-tools.sh")], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PATH": path, "MLOPS_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert "building" not in result.stderr, result.stderr
    for name, directory in found.items():
        assert (cache / "bin" / name).resolve() == directory / name, f"{name} is linked from PATH, not rebuilt"


# The Kubeflow Pipelines 2.14.3 tag's commit (upstream tags it "2.14.3", without a "v", so Go
# knows it only by this pseudo-version).
KFP_2_14_3 = "v0.0.0-20250902140602-fc3214d4b4d3"


def test_platform_image_builds_match_the_images_the_platform_runs():
    """What offline/images/*.sh builds from Go modules and PyPI is what infra/images.toml names."""
    import sys
    sys.path.insert(0, str(ROOT))
    from infra.images import UPSTREAM_IMAGES, resolve_image

    argo = go_requirements("argo-workflows")["github.com/argoproj/argo-workflows/v3"]
    assert UPSTREAM_IMAGES["argo-workflow-controller"].tag == argo
    assert UPSTREAM_IMAGES["argoexec"].tag == argo
    kueue = go_requirements("kueue")["sigs.k8s.io/kueue"]
    assert UPSTREAM_IMAGES["kueue"].tag == kueue, "Kueue's image is built from the pinned module"
    from infra.charts import UPSTREAM_CHARTS
    assert "v" + UPSTREAM_CHARTS["kueue"].version == kueue, "Kueue's chart comes from the same module (offline/charts.sh)"
    # The monitoring stack (offline/images/monitoring.sh): Prometheus from the module promtool comes from.
    assert UPSTREAM_IMAGES["prometheus"].tag == "v" + versions()["PROMETHEUS_VERSION"]
    assert UPSTREAM_IMAGES["kube-state-metrics"].tag == go_requirements("kube-state-metrics")["k8s.io/kube-state-metrics/v2"]
    assert UPSTREAM_IMAGES["node-exporter"].tag == go_requirements("node-exporter")["github.com/prometheus/node_exporter"]
    assert UPSTREAM_IMAGES["alertmanager"].tag == go_requirements("alertmanager")["github.com/prometheus/alertmanager"], \
        "Alertmanager's image and amtool come from the pinned module (offline/alertmanager.sh)"
    proxy = go_requirements("oauth2-proxy")["github.com/oauth2-proxy/oauth2-proxy/v7"]
    assert UPSTREAM_IMAGES["oauth2-proxy"].tag == proxy, "oauth2-proxy's image is built from the pinned module"
    # Dex by the pseudo-version of its release tag: the wrapper's comment names the tag (login.sh reads it).
    dex = go_requirements("dex")["github.com/dexidp/dex"]
    tag = re.search(re.escape(dex) + r" is tag (v[0-9.]+)\.", (ROOT / "offline" / "go" / "dex" / "go.mod").read_text())
    assert tag, f"offline/go/dex/go.mod pins {dex} but its comment names no release"
    assert UPSTREAM_IMAGES["dex"].tag == tag.group(1), "Dex's image is tagged with the release the pseudo-version is"
    plugin = go_requirements("nvidia-device-plugin")["github.com/NVIDIA/k8s-device-plugin"]
    assert UPSTREAM_IMAGES["nvidia-device-plugin"].tag == plugin, "the device plugin's image is built from the pinned module"
    toolkit = go_requirements("nvidia-container-toolkit")["github.com/NVIDIA/nvidia-container-toolkit"]
    role = (ROOT / "ansible" / "roles" / "nvidia_container_toolkit" / "defaults" / "main.yml").read_text()
    assert f'nvidia_container_toolkit_version: "{toolkit.removeprefix("v")}-' in role, \
        "make gpu-node-check's nvidia-ctk is the version the Ansible role installs"
    kfp = go_requirements("kubeflow-pipelines")
    assert kfp["github.com/kubeflow/pipelines"] == KFP_2_14_3
    for name in ("kfp-api-server", "kfp-persistence-agent", "kfp-scheduled-workflow", "kfp-driver", "kfp-launcher"):
        assert UPSTREAM_IMAGES[name].tag == "2.14.3", name
    build_script = (ROOT / "offline" / "images" / "kubeflow-pipelines.sh").read_text()
    assert "VERSION=2.14.3" in build_script
    assert "kfp-kubernetes==2.14.3" in build_script, "the protos regenerated for the backend are 2.14.3's"
    base = pip_pins(ROOT / "offline" / "images" / "pipeline-base" / "requirements.lock")
    assert base["kfp"] == "2.14.3", "components compile and run with the backend's SDK version"
    assert UPSTREAM_IMAGES["pipeline-base"].tag.endswith("kfp" + base["kfp"])
    # The components compile against the image that `make up` builds for the local stack, which the
    # package reads from the image list, as the builder does.
    sys.path.insert(0, str(ROOT / "pipeline_components"))
    from mlops_components import default_image
    assert default_image("pipeline-base") == UPSTREAM_IMAGES["pipeline-base"].offline_reference("mlops.local")
    # The PyTorch image: its tag names the base's and the torch its lock pins, which adds to the
    # base's lock without re-pinning any of its packages; train_torch compiles against it.
    torch_lock = pip_pins(ROOT / "offline" / "images" / "pipeline-torch" / "requirements.lock")
    assert UPSTREAM_IMAGES["pipeline-torch"].tag == f"{UPSTREAM_IMAGES['pipeline-base'].tag}-torch{torch_lock['torch']}"
    assert not set(torch_lock) & set(base), f"pinned in both locks: {sorted(set(torch_lock) & set(base))}"
    assert default_image("pipeline-torch") == resolve_image("pipeline-torch", "mlops.local", offline=True)
    torch_script = (ROOT / "offline" / "images" / "pipeline-torch.sh").read_text()
    assert f'REQUIREMENTS="torch=={torch_lock["torch"]}"' in torch_script
    seaweedfs = go_requirements("seaweedfs")
    assert "github.com/seaweedfs/seaweedfs" in seaweedfs, "the SeaweedFS wrapper pins the server module"


def test_the_gpu_nodes_label_and_taint_are_the_contracts():
    """The label and taint that ansible's gpu_node role puts on GPU nodes are the ones the platform
    (device plugin, RuntimeClass) and the pipeline components (GPU steps) take from
    mlops_components.contract; the torch pipeline compiled here tolerates that taint."""
    import yaml
    from mlops_components.contract import GPU_NODE_LABEL, GPU_TOLERATION

    role = yaml.safe_load((ROOT / "ansible" / "roles" / "gpu_node" / "defaults" / "main.yml").read_text())
    assert role["gpu_node_labels"] == GPU_NODE_LABEL
    taint = role["gpu_node_taint"]
    assert {key: taint[key] for key in ("key", "value", "effect")} == {key: GPU_TOLERATION[key] for key in ("key", "value", "effect")}
    _, platform = yaml.safe_load_all((ROOT / "pipelines" / "train_pipeline_torch.yaml").read_text())
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["exec-train-torch"]["tolerations"] == [GPU_TOLERATION]


def test_infra_and_the_components_share_one_contract_module():
    """infra/ takes the shared names from the module that the pipeline images carry, not from a copy."""
    import sys
    sys.path.insert(0, str(ROOT))
    import mlops_components.contract as contract

    from infra.components import gpu, tenants

    assert Path(contract.__file__).resolve() == ROOT / "pipeline_components" / "mlops_components" / "contract.py"
    assert tenants.CREDENTIALS_SECRET_NAME is contract.PIPELINE_ENV_SECRET
    assert tenants.MLFLOW_READER_SECRET_NAME is contract.MLFLOW_READER_SECRET
    assert gpu.TOLERATION is contract.GPU_TOLERATION
    for path in ("infra", "pipeline_components/mlops_components", "smoke_tests"):
        for source in (ROOT / path).rglob("*.py"):
            if source.name != "contract.py":
                text = source.read_text()
                for name in (contract.PIPELINE_ENV_SECRET, contract.MLFLOW_READER_SECRET):
                    assert f'= "{name}"' not in text, f"{source} defines the Secret name {name} again"
                assert 'SERVING_PORT = ' not in text, f"{source} defines the serving port again"




def test_every_builder_takes_its_references_from_the_image_list():
    """The builders write no image reference of their own: each asks infra/images.toml (image_ref)
    for every image the list says it builds, so the list is the one place a tag changes."""
    import sys
    sys.path.insert(0, str(ROOT))
    from infra.images import UPSTREAM_IMAGES

    built: dict[str, list[str]] = {}
    for name, image in UPSTREAM_IMAGES.items():
        if image.builder:
            built.setdefault(image.builder, []).append(name)
    assert built, "the image list names no builder"
    for builder, names in built.items():
        script = (ROOT / "offline" / "images" / f"{builder}.sh").read_text()
        code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
        assert "image_ref" in code, f"offline/images/{builder}.sh does not ask the image list for its references (image_ref)"
        assert not re.search(r"\$registry/[\w./-]+:", code), f"offline/images/{builder}.sh writes an image reference itself"
        for name in names:
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", code), f"offline/images/{builder}.sh never names {name}"


def test_the_image_list_refuses_an_incomplete_entry(tmp_path):
    import sys
    sys.path.insert(0, str(ROOT))
    from infra.images import load

    (tmp_path / "infra").mkdir()
    listing = tmp_path / "infra" / "images.toml"
    listing.write_text('[thing]\nupstream = "docker.io/thing"\nbuilder = "nothing-here"\nlane = "fast"\n')
    with pytest.raises(ValueError, match=r"\[thing\]") as refused:
        load(listing)
    message = str(refused.value)
    assert "is not registry/repository:tag" in message
    assert "lane = 'fast' is not one of cpu, io, gpu, none" in message
    assert "there is no offline/images/nothing-here.sh" in message
