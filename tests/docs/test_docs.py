"""The documentation keeps its promises: its links resolve, and the commands and files it names exist.

Covered: README.md, docs/*.md, stacks/README.md, charts/*/README.md and ansible/**/README.md.
- every relative link points at an existing file or folder, and its `#anchor` at a heading;
- every `make <target>` in code (fenced blocks and `inline code`) is a rule of the Makefile;
- every `ansible/playbooks/<x>.yml` (or `playbooks/<x>.yml`) names an existing playbook;
- every `offline/...` path exists;
- the version matrix of docs/architecture.md states the values of the files that pin them.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from infra.images import UPSTREAM_IMAGES

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]

# Targets the docs may name before they exist, because the docs say they are planned. Remove an
# entry when the target lands (test_planned_make_targets_are_still_missing insists).
PLANNED_MAKE_TARGETS: dict[str, str] = {}

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_PLAYBOOK = re.compile(r"(?<![\w./-])(?:ansible/)?playbooks/([\w.-]+\.ya?ml)\b")
_OFFLINE_PATH = re.compile(r"(?<![\w./-])offline/[\w./*-]*[\w*]")
_MAKE_TARGET = re.compile(r"^[a-z][a-z0-9_-]*$")
_SHELL_SEPARATORS = re.compile(r"&&|\|\||[;|()]")


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "stacks" / "README.md"]
    files += sorted((ROOT / "docs").glob("*.md"))
    files += sorted((ROOT / "charts").glob("*/README.md"))
    files += sorted((ROOT / "ansible").glob("**/README.md"))
    return [path for path in files if path.is_file()]


DOCS = doc_files()


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


class Markdown:
    """A Markdown file split into prose (code spans blanked out) and code (blocks and spans)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.prose: list[tuple[int, str]] = []
        self.code: list[tuple[int, str]] = []
        self.headings: list[str] = []
        fence = None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            opening = _FENCE.match(line)
            if fence:
                if opening and opening.group(1) == fence:
                    fence = None
                else:
                    self.code.append((number, line))
                continue
            if opening:
                fence = opening.group(1)
                continue
            self.code += [(number, span.group(2)) for span in _INLINE_CODE.finditer(line)]
            self.prose.append((number, _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)))
            heading = _HEADING.match(line)
            if heading:
                self.headings.append(heading.group(2))

    def anchors(self) -> set[str]:
        """The ids GitHub gives the headings: lower case, punctuation dropped, spaces to '-', repeats numbered."""
        seen: dict[str, int] = {}
        anchors = set()
        for heading in self.headings:
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
            slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
        return anchors

    def links(self) -> list[tuple[int, str]]:
        found = []
        for number, line in self.prose:
            found += [(number, match.group(1)) for match in _INLINE_LINK.finditer(line)]
            reference = _REFERENCE_LINK.match(line)
            if reference:
                found.append((number, reference.group(1)))
        return found

    def text(self) -> list[tuple[int, str]]:
        return sorted(self.prose + self.code)


def makefile_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        rule = re.match(r"^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*::?(?!=)", line)
        if rule:
            targets.update(name for name in rule.group(1).split() if not name.startswith("."))
    return targets


def make_targets_in(code: str) -> list[str]:
    """The targets of every `make` command in a piece of code: `make venv tools`, `FOO=1 make x`."""
    targets = []
    without_comment = re.split(r"(?:^|\s)#", code, maxsplit=1)[0]
    for command in _SHELL_SEPARATORS.split(without_comment):
        words = command.split()
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]
        if not words or words[0] != "make":
            continue
        for word in words[1:]:
            if word.startswith("-") or "=" in word:
                continue
            name = word.rstrip(").,:;")
            if not _MAKE_TARGET.match(name):
                break
            targets.append(name)
            if name != word:
                break
    return targets


@pytest.fixture(scope="module", params=DOCS, ids=[_doc_id(path) for path in DOCS])
def doc(request) -> Markdown:
    return Markdown(request.param)


def test_the_docs_to_check_are_found():
    expected = {"README.md", "stacks/README.md", "docs/architecture.md", "docs/evaluation.md", "docs/operations.md",
                "charts/mlflow/README.md", "ansible/README.md"}
    missing = expected - {_doc_id(path) for path in DOCS}
    assert not missing, f"documents not found (moved? update doc_files): {sorted(missing)}"


def test_relative_links_resolve(doc):
    broken = []
    for number, target in doc.links():
        if _URL_SCHEME.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (doc.path.parent / unquote(path_part)).resolve() if path_part else doc.path
        where = f"{_doc_id(doc.path)}:{number}: {target}"
        if not path.exists():
            broken.append(f"{where}: no file {path_part}")
        elif anchor and path.suffix == ".md" and anchor not in Markdown(path).anchors():
            broken.append(f"{where}: no heading #{anchor} in {path.relative_to(ROOT)} "
                          f"(anchors: {', '.join(sorted(Markdown(path).anchors()))})")
    assert not broken, "broken links:\n  " + "\n  ".join(broken)


def test_make_targets_exist(doc):
    targets = makefile_targets()
    unknown = [f"{_doc_id(doc.path)}:{number}: make {name}"
               for number, code in doc.code for name in make_targets_in(code)
               if name not in targets and name not in PLANNED_MAKE_TARGETS]
    assert not unknown, f"make targets that the Makefile lacks (it has: {', '.join(sorted(targets))}):\n  " + "\n  ".join(unknown)


def test_planned_make_targets_are_still_missing():
    landed = sorted(set(PLANNED_MAKE_TARGETS) & makefile_targets())
    assert not landed, f"make {', '.join(landed)} exists now: remove it from PLANNED_MAKE_TARGETS and update the docs"


def test_named_playbooks_exist(doc):
    missing = [f"{_doc_id(doc.path)}:{number}: playbooks/{match.group(1)}"
               for number, line in doc.text() for match in _PLAYBOOK.finditer(line)
               if not (ROOT / "ansible" / "playbooks" / match.group(1)).is_file()]
    assert not missing, "playbooks that ansible/playbooks/ lacks:\n  " + "\n  ".join(missing)


def test_named_offline_paths_exist(doc):
    missing = []
    for number, line in doc.text():
        for match in _OFFLINE_PATH.finditer(line):
            path = match.group(0)
            found = list(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()
            if not found:
                missing.append(f"{_doc_id(doc.path)}:{number}: {path}")
    assert not missing, "offline/ paths that do not exist:\n  " + "\n  ".join(missing)


# --- the version matrix -----------------------------------------------------------------------------


def _versions_env() -> dict[str, str]:
    lines = (ROOT / "offline" / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _go_requirement(module_dir: str, module: str) -> str:
    text = (ROOT / "offline" / "go" / module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    assert match, f"offline/go/{module_dir}/go.mod does not require {module}"
    return match.group(1)


def _role_default(role: str, key: str) -> str:
    defaults = yaml.safe_load((ROOT / "ansible" / "roles" / role / "defaults" / "main.yml").read_text())
    return str(defaults[key])


def pinned_versions() -> dict[str, str]:
    """The version matrix's rows, read from the files that pin them."""
    env = _versions_env()
    chart = yaml.safe_load((ROOT / "charts" / "mlflow" / "Chart.yaml").read_text())
    flannel = re.search(r"/download/(v[^/]+)/", _role_default("control_plane", "control_plane_cni_manifest"))
    node = "node-components/"
    return {
        "Pulumi engine and Python SDK": env["PULUMI_VERSION"],
        "pulumi-kubernetes provider and SDK": env["PULUMI_KUBERNETES_VERSION"],
        "kind": env["KIND_VERSION"],
        "helm": env["HELM_VERSION"],
        "Prometheus (the Monitoring component; promtool for the alert rules' tests)": env["PROMETHEUS_VERSION"],
        "kube-state-metrics": UPSTREAM_IMAGES["kube-state-metrics"].tag,
        "node-exporter": UPSTREAM_IMAGES["node-exporter"].tag,
        "Alertmanager (the Monitoring component; amtool for its configuration's tests)": UPSTREAM_IMAGES["alertmanager"].tag,
        "Kubernetes built from source (kind node image, `make kubernetes`)": _go_requirement("kubernetes", "k8s.io/kubernetes"),
        "Kubernetes on kubeadm nodes (role default)": _role_default("kubernetes_node", "kubernetes_node_version"),
        "containerd (kind node image)": _go_requirement(node + "containerd", "github.com/containerd/containerd/v2"),
        "runc (kind node image)": _go_requirement(node + "runc", "github.com/opencontainers/runc"),
        "crictl (kind node image)": _go_requirement(node + "crictl", "sigs.k8s.io/cri-tools"),
        "CNI plugins (kind node image)": _go_requirement(node + "cni-plugins", "github.com/containernetworking/plugins"),
        "etcd (kind node image)": _go_requirement(node + "etcd", "go.etcd.io/etcd/server/v3"),
        "CoreDNS (kind node image)": _go_requirement(node + "coredns", "github.com/coredns/coredns"),
        "local-path-provisioner (kind node image)": _go_requirement(node + "local-path-provisioner",
                                                                    "github.com/rancher/local-path-provisioner"),
        "SeaweedFS": UPSTREAM_IMAGES["seaweedfs"].tag,
        "MinIO (last community image)": UPSTREAM_IMAGES["minio"].tag,
        "PostgreSQL (in-cluster MLflow database)": UPSTREAM_IMAGES["postgres"].tag,
        "MLflow server image": UPSTREAM_IMAGES["mlflow"].tag,
        "Kubeflow Pipelines backend (API server, persistence agent, scheduled workflow, driver, launcher)":
            UPSTREAM_IMAGES["kfp-api-server"].tag,
        "Argo Workflows (controller, argoexec)": _go_requirement("argo-workflows", "github.com/argoproj/argo-workflows/v3"),
        "ML Metadata server (upstream image)": UPSTREAM_IMAGES["mlmd-server"].tag,
        "MySQL (Kubeflow Pipelines database)": UPSTREAM_IMAGES["mysql"].tag,
        "Pipeline base image (kfp SDK)": UPSTREAM_IMAGES["pipeline-base"].tag,
        "mlflow chart (version, appVersion)": f"{chart['version']}, {chart['appVersion']}",
        "NVIDIA Container Toolkit": _role_default("nvidia_container_toolkit", "nvidia_container_toolkit_version"),
        "kube-router, NetworkPolicy engine (both clusters)": _kube_router_version(),
        "Flannel CNI manifest (kubeadm clusters)": flannel.group(1) if flannel else "no release in control_plane_cni_manifest",
        "pause sandbox image (kubeadm nodes)": _role_default("containerd", "containerd_sandbox_image").rsplit(":", 1)[-1],
    }


def _kube_router_version() -> str:
    """The engine's tag in the Ansible role, which must be the version the offline build pins."""
    tag = _role_default("control_plane", "control_plane_network_policy_image").rsplit(":", 1)[-1]
    go_mod = (ROOT / "offline" / "go" / "kube-router" / "go.mod").read_text()
    pinned = re.search(r"github\.com/cloudnativelabs/kube-router/v2 (v\S+)", go_mod)
    assert pinned, "offline/go/kube-router/go.mod pins no github.com/cloudnativelabs/kube-router/v2"
    assert pinned.group(1) == tag, \
        f"control_plane_network_policy_image's tag {tag} differs from offline/go/kube-router/go.mod's {pinned.group(1)}"
    return tag


def version_matrix() -> dict[str, str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## Version matrix\n", 1)
    assert len(section) == 2, "docs/architecture.md has no '## Version matrix' section"
    rows = {}
    for line in section[1].split("\n## ", 1)[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and cells[0] not in ("component", "") and not set(cells[0]) <= set("-: "):
            rows[cells[0]] = cells[1]
    return rows


def test_version_matrix_matches_the_pins():
    documented, pinned = version_matrix(), pinned_versions()
    assert set(documented) == set(pinned), (
        f"docs/architecture.md's version matrix and this test disagree on the rows: only in the doc "
        f"{sorted(set(documented) - set(pinned))}, only here {sorted(set(pinned) - set(documented))}")
    stale = [f"{name}: the doc says {documented[name]}, the pin is {value}"
             for name, value in pinned.items() if documented[name] != value]
    assert not stale, "update docs/architecture.md's version matrix:\n  " + "\n  ".join(stale)


def _layers_picture() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Layers", 1)[1]
    return section.split("```", 2)[1]


def test_the_architecture_picture_names_folders_that_exist_and_every_component():
    """docs/architecture.md's layer picture: every folder or file it names exists, and every
    Pulumi component of infra/components/ has its box."""
    picture = _layers_picture()
    paths = sorted({match.rstrip(".,)") for match in re.findall(r"[\w.<>-]+/[\w./<>-]*", picture)})
    assert paths, "the picture names no folder"
    missing = [path for path in paths if "<" not in path and not (ROOT / path).exists()]
    assert not missing, f"docs/architecture.md's picture names what does not exist: {missing}"
    components = sorted(set(re.findall(r"^class (\w+)\(pulumi\.ComponentResource\)",
                                       "\n".join(p.read_text() for p in (ROOT / "infra" / "components").rglob("*.py")),
                                       re.MULTILINE)) - {"Part"})
    absent = [name for name in components if not re.search(rf"\b{name}\b", picture)]
    assert not absent, f"components without a box in docs/architecture.md's picture: {absent}"
