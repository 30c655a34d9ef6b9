"""offline/lib/build.sh, the library every builder shares: inputs hashing, atomic cache folders,
Go modules fetched before they are read (the cold-machine failure of `make tools`), and the npm
placeholder the KFP frontend's lock names but the registry does not serve."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "offline" / "lib" / "build.sh"
pytestmark = pytest.mark.unit


def builder(tmp_path: Path, body: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs `body` in a throwaway builder script that sources the library."""
    script = tmp_path / "builder.sh"
    script.write_text(f"#!/usr/bin/env bash\nset -euo pipefail\nsource {LIB}\nbuilder_init test-builder\n{body}\n")
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MLOPS_CACHE_DIR": str(tmp_path / "cache"), **(env or {})})


def test_inputs_hash_follows_content_but_not_comments(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY a /a\n")
    data = tmp_path / "lock.txt"
    data.write_text("a==1\n")

    def hashed() -> str:
        done = builder(tmp_path, f"inputs_hash {dockerfile} {data} -s extra")
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    first = hashed()
    assert len(first) == 16
    dockerfile.write_text("# a note\nFROM scratch\n  # another\nCOPY a /a\n")
    assert hashed() == first, "comment lines of a Dockerfile do not force a rebuild"
    data.write_text("# pinned\na==1\n")
    assert hashed() != first, "data files count whole, comments included"
    data.write_text("a==1\n")
    dockerfile.write_text("FROM scratch\nCOPY a /b\n")
    assert hashed() != first


def test_inputs_hash_covers_the_builder_and_only_the_recipe_that_made_the_output(tmp_path):
    # The same builder text; ALT=1 changes how Go builds run (go_build_into), as an edit would.
    alternative = 'if [[ ${ALT:-0} == 1 ]]; then go_build_into() { echo built differently; }; fi'

    def hashed(args: str, extra: str = alternative, alt: str = "0") -> str:
        done = builder(tmp_path, f"{extra}\ninputs_hash {args}", {"ALT": alt})
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    plain, go, image = hashed("-s x"), hashed("-r go -s x"), hashed("-r image -s x")
    assert len({plain, go, image}) == 3
    assert hashed("-r go -s x", alt="1") != go, "a change to the Go recipe rebuilds Go outputs"
    assert hashed("-r image -s x", alt="1") == image, "and not the images"
    assert hashed("-s x", alt="1") == plain
    assert hashed("-s x", extra=alternative + "\n# a note") == plain, "comments of the builder do not count"
    assert hashed("-s x", extra=alternative + "\ntrue") != plain, "the builder's code does"
    done = builder(tmp_path, "inputs_hash -r nonsense")
    assert done.returncode == 1
    assert "unknown recipe nonsense" in done.stderr


def test_inputs_hash_refuses_a_missing_file_but_not_an_optional_one(tmp_path):
    done = builder(tmp_path, f"inputs_hash {tmp_path}/typo")
    assert done.returncode == 1
    assert f"inputs_hash: {tmp_path}/typo does not exist" in done.stderr
    done = builder(tmp_path, f"a=$(inputs_hash -o {tmp_path}/lock); echo x > {tmp_path}/lock; b=$(inputs_hash -o {tmp_path}/lock); "
                   '[[ $a != "$b" ]] && echo differs')
    assert done.stdout.strip() == "differs", done.stderr


def test_a_cache_folder_counts_only_once_committed(tmp_path):
    folder = tmp_path / "out"
    body = f"""
if cache_dir_ready {folder}; then echo cached; exit 0; fi
echo half > {folder}.tmp/binary
[[ ${{FAIL:-0}} == 1 ]] && exit 1
cache_dir_commit {folder}
echo built"""
    assert builder(tmp_path, body, {"FAIL": "1"}).returncode == 1
    assert not folder.exists(), "an interrupted build leaves nothing that looks complete"
    assert builder(tmp_path, body).stdout.strip() == "built"
    assert (folder / "binary").read_text() == "half\n"
    assert (folder / ".complete").exists()
    assert builder(tmp_path, body).stdout.strip() == "cached"


def test_two_builders_of_one_cache_folder_build_it_once(tmp_path):
    folder = tmp_path / "out"
    body = f"""
if cache_dir_ready {folder}; then echo cached; exit 0; fi
sleep 1; echo "$$" >> {tmp_path}/builds; cp {tmp_path}/builds {folder}.tmp/
cache_dir_commit {folder}
echo built"""
    script = tmp_path / "b.sh"
    script.write_text(f"source {LIB}\nbuilder_init t\n{body}\n")
    env = {**os.environ, "MLOPS_CACHE_DIR": str(tmp_path / "cache")}
    procs = [subprocess.Popen(["bash", str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    results = sorted(p.communicate(timeout=30)[0].strip() for p in procs)
    assert results == ["built", "cached"], results
    assert len((tmp_path / "builds").read_text().split()) == 1, "the second one waited instead of building again"


def test_go_module_downloads_a_module_missing_from_the_module_cache(tmp_path):
    """On a fresh machine `go list -m -f {{.Dir}}` prints nothing for a module not downloaded yet
    (what broke `make tools`); go_module fetches it first and checks it against the wrapper's go.sum."""
    modcache = tmp_path / "gomod"
    env = {"GOMODCACHE": str(modcache), "GOFLAGS": "-modcacherw"}
    listed = subprocess.run(["go", "list", "-C", str(ROOT / "offline" / "go" / "cluster-tools"), "-m", "-f", "{{.Dir}}",
                             "sigs.k8s.io/kind"], capture_output=True, text=True, env={**os.environ, **env}, check=True)
    assert listed.stdout.strip() == "", "the premise: go list shows no folder before a download"
    done = builder(tmp_path, f"go_module Dir {ROOT}/offline/go/cluster-tools sigs.k8s.io/kind; echo; "
                   f"go_module Version {ROOT}/offline/go/cluster-tools sigs.k8s.io/kind; echo; "
                   f"go_module Time {ROOT}/offline/go/cluster-tools sigs.k8s.io/kind", env)
    assert done.returncode == 0, done.stderr
    folder, version, when = done.stdout.splitlines()
    assert Path(folder).is_relative_to(modcache)
    assert (Path(folder) / "images" / "base" / "files").is_dir()
    assert version == "v" + next(line.split("=")[1] for line in (ROOT / "offline" / "versions.env").read_text().splitlines()
                                 if line.startswith("KIND_VERSION="))
    assert when.startswith("20"), when
    done = builder(tmp_path, f"go_module Dir {ROOT}/offline/go/cluster-tools example.com/not-required", env)
    assert done.returncode == 1
    assert "example.com/not-required is not required by" in done.stderr


# --- the builders' Go build cache and its budget --------------------------------------------------

def _go_cache(tmp_path: Path, files: int = 30, kib: int = 100) -> list[Path]:
    """$cache/go-build with FILES files of KIB KiB each, the first the least recently used."""
    folder = tmp_path / "cache" / "go-build"
    (folder / "ab").mkdir(parents=True)
    paths = []
    for i in range(files):
        path = folder / "ab" / f"entry {i:02d}-d"
        path.write_bytes(os.urandom(kib * 1024))
        os.utime(path, (1_000_000 + i * 60, 1_000_000 + i * 60))
        paths.append(path)
    return paths


def _builder_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GOCACHE"}
    return {**env, **extra}


def _run(tmp_path: Path, body: str, **extra: str) -> subprocess.CompletedProcess:
    script = tmp_path / "builder.sh"
    script.write_text(f"#!/usr/bin/env bash\nset -euo pipefail\nsource {LIB}\nbuilder_init test-builder\n{body}\n")
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=300,
                          env=_builder_env(MLOPS_CACHE_DIR=str(tmp_path / "cache"), **extra))


def test_a_committed_build_trims_the_go_build_cache_over_its_budget_oldest_first(tmp_path):
    """3000 KiB of cache over a budget of 2 MiB: the least recently used files go until half the
    budget (1024 KiB) is left; the newest stay. need_go points GOCACHE at the builders' own folder."""
    paths = _go_cache(tmp_path)
    done = _run(tmp_path, f"need_go; echo \"$GOCACHE\"; mkdir -p {tmp_path}/out.tmp; cache_dir_commit {tmp_path}/out",
                MLOPS_GO_BUILD_CACHE_MB="2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "cache" / "go-build")
    kept = [p for p in paths if p.exists()]
    assert kept == paths[-len(kept):], "only the least recently used files are removed"
    assert 1 <= len(kept) <= 10, len(kept)
    assert sum(p.stat().st_size for p in kept) <= 1024 * 1024
    assert "over its budget of 2 MiB (MLOPS_GO_BUILD_CACHE_MB): removed the least recently used" in done.stderr


def test_the_go_build_cache_is_not_trimmed_while_another_builder_compiles(tmp_path):
    paths = _go_cache(tmp_path)
    lock = tmp_path / "cache" / "go-build.lock"
    # Another builder's shared lock (need_go's), held for the test's length.
    holder = subprocess.Popen(["flock", "-s", str(lock), "sleep", "60"], start_new_session=True)
    try:
        for _ in range(50):
            if subprocess.run(["flock", "-n", "-x", str(lock), "true"], check=False).returncode != 0:
                break
            time.sleep(0.1)
        done = _run(tmp_path, f"mkdir -p {tmp_path}/out.tmp; cache_dir_commit {tmp_path}/out", MLOPS_GO_BUILD_CACHE_MB="2")
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    assert done.returncode == 0, done.stderr
    assert all(p.exists() for p in paths)
    assert "another builder compiles: trimmed after it" in done.stderr
    # Once it is done, the next commit trims.
    done = _run(tmp_path, f"mkdir -p {tmp_path}/out2.tmp; cache_dir_commit {tmp_path}/out2", MLOPS_GO_BUILD_CACHE_MB="2")
    assert not paths[0].exists(), done.stderr


def test_a_go_build_cache_set_by_the_user_or_within_budget_is_left_alone(tmp_path):
    paths = _go_cache(tmp_path)
    for extra in ({"GOCACHE": str(tmp_path / "users")}, {"MLOPS_GO_BUILD_CACHE_MB": "0"}, {"MLOPS_GO_BUILD_CACHE_MB": "4"}):
        done = _run(tmp_path, f"mkdir -p {tmp_path}/out.tmp; cache_dir_commit {tmp_path}/out", **extra)
        assert done.returncode == 0, done.stderr
        assert all(p.exists() for p in paths), extra
        assert "Go build cache" not in done.stderr


def test_a_bad_go_build_cache_budget_is_named(tmp_path):
    done = _run(tmp_path, "need_go", MLOPS_GO_BUILD_CACHE_MB="5G")
    assert done.returncode == 1
    assert "MLOPS_GO_BUILD_CACHE_MB=5G: give the Go build cache's budget in whole MiB" in done.stderr


def test_go_builds_again_after_its_cache_was_trimmed_under_it(tmp_path):
    """For real: a Go build fills the builders' cache, the commit trims it to half a 4 MiB budget, and
    the next build of the same package works (Go recompiles the missing entries) and gives the same
    binary (-trimpath)."""
    module = tmp_path / "hello"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/hello\n\ngo 1.22\n")
    # No imports: the runtime alone is enough to fill the cache (a minute's compile on 2 cores).
    (module / "main.go").write_text('package main\n\nfunc main() { println("hello") }\n')
    body = f"""for out in one two; do
  cache_dir_ready {tmp_path}/$out || {{ go_build_into {tmp_path}/$out.tmp {module} .; cache_dir_commit {tmp_path}/$out; }}
done"""
    done = _run(tmp_path, body, MLOPS_GO_BUILD_CACHE_MB="4")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("removed the least recently used") == 2, done.stderr
    assert subprocess.run([str(tmp_path / "two" / "hello")], capture_output=True, text=True, check=True).stderr == "hello\n"
    assert (tmp_path / "one" / "hello").read_bytes() == (tmp_path / "two" / "hello").read_bytes()


# --- the KFP frontend's unserved npm placeholder -------------------------------------------------

sys.path.insert(0, str(ROOT / "offline" / "images" / "kfp-frontend"))
import drop_unserved  # noqa: E402


def package(tmp_path: Path, lock_extra: dict | None = None) -> Path:
    (tmp_path / "package.json").write_text(json.dumps({"name": "app", "dependencies": {"react": "18.0.0"},
                                                       "devDependencies": {"fs": "0.0.1-security", "jest": "29.0.0"}}))
    lock = {"lockfileVersion": 2, "packages": {
        "": {"name": "app", "dependencies": {"react": "18.0.0"}, "devDependencies": {"fs": "0.0.1-security", "jest": "29.0.0"}},
        "node_modules/fs": {"version": "0.0.1-security", "dev": True},
        "node_modules/jest": {"version": "29.0.0", "dev": True},
        **(lock_extra or {})},
        "dependencies": {"fs": {"version": "0.0.1-security", "dev": True}, "jest": {"version": "29.0.0", "dev": True}}}
    (tmp_path / "package-lock.json").write_text(json.dumps(lock))
    return tmp_path


def test_the_placeholder_leaves_package_json_and_both_lock_formats(tmp_path):
    drop_unserved.drop(package(tmp_path), ["fs"])
    manifest = json.loads((tmp_path / "package.json").read_text())
    lock = json.loads((tmp_path / "package-lock.json").read_text())
    assert manifest["devDependencies"] == {"jest": "29.0.0"}
    assert lock["packages"][""]["devDependencies"] == {"jest": "29.0.0"}
    assert "node_modules/fs" not in lock["packages"]
    assert "fs" not in lock["dependencies"]
    assert "node_modules/jest" in lock["packages"], "nothing else is touched"


def test_a_placeholder_something_depends_on_is_not_dropped(tmp_path):
    package(tmp_path, {"node_modules/uses-fs": {"version": "1.0.0", "dependencies": {"fs": "*"}}})
    before = (tmp_path / "package-lock.json").read_text()
    with pytest.raises(SystemExit, match="fs is needed by node_modules/uses-fs"):
        drop_unserved.drop(tmp_path, ["fs"])
    assert (tmp_path / "package-lock.json").read_text() == before


def test_a_package_that_is_gone_is_reported(tmp_path):
    with pytest.raises(SystemExit, match="left-pad is not a dependency any more"):
        drop_unserved.drop(package(tmp_path), ["left-pad"])


def test_the_pinned_kfp_frontend_lists_the_placeholder_that_the_builder_drops():
    """The builder's list matches the pinned KFP source: each name is a root dev dependency there."""
    builder_text = (ROOT / "offline" / "images" / "kfp-frontend.sh").read_text()
    names = next(line.split('"')[1] for line in builder_text.splitlines() if line.startswith("UNSERVED=")).split()
    assert names == ["fs"]
    module = ROOT / "offline" / "go" / "kubeflow-pipelines"
    done = subprocess.run(["bash", "-c", f"source {LIB}; builder_init t; GONOSUMDB=github.com/kubeflow/pipelines "
                           f"go_module Dir {module} github.com/kubeflow/pipelines"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    frontend = Path(done.stdout) / "frontend"
    manifest = json.loads((frontend / "package.json").read_text())
    lock = json.loads((frontend / "package-lock.json").read_text())
    for name in names:
        assert name in manifest["devDependencies"], name
        assert not drop_unserved.dependents(lock, name), name


# --- offline/docker.sh -------------------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="offline/docker.sh starts dockerd only as root")
def test_docker_engine_setup_leaves_its_lock_free():
    """A dockerd started by docker.sh must not inherit the lock: every later caller would wait forever."""
    done = subprocess.run(["bash", str(ROOT / "offline" / "docker.sh")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    free = subprocess.run(["flock", "-n", "/run/lock/mlops-platform-docker.lock", "true"], capture_output=True, timeout=10)
    assert free.returncode == 0, "the Docker engine setup lock is still held after docker.sh returned"


def test_image_ref_reads_the_image_list_and_stops_on_a_tag_the_pin_disagrees_with(tmp_path):
    done = builder(tmp_path, "image_ref mysql; image_ref kueue v0.17.0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["mlops.local/library/mariadb:10.11", "mlops.local/kueue/kueue:v0.17.0"]
    done = builder(tmp_path, "image_ref mlflow", env={"REGISTRY": "registry.example.edu:5000"})
    assert done.stdout.strip() == "registry.example.edu:5000/mlflow/mlflow:v3.17.2"
    disagreeing = builder(tmp_path, 'image=$(image_ref kueue v0.16.0); echo "built $image"')
    assert disagreeing.returncode != 0
    assert "built" not in disagreeing.stdout
    assert "tags kueue as mlops.local/kueue/kueue:v0.17.0, but this build makes version v0.16.0" in disagreeing.stderr
    pulled_only = builder(tmp_path, 'image=$(image_ref minio); echo "built $image"')
    assert pulled_only.returncode != 0
    assert "built" not in pulled_only.stdout
    assert "infra/images.toml has no image minio built offline" in pulled_only.stderr


def test_the_image_scripts_install_packages_and_venvs_in_a_build_context(tmp_path):
    """apt-install.sh and venv-install.sh go into every build context that installs packages, and
    their contents count in the images' inputs hash (editing them rebuilds the images)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    lock = tmp_path / "requirements.lock"
    lock.write_text("a==1\n")
    done = builder(tmp_path, f"context_add_apt {ctx}; context_add_lock {ctx} {lock} 'a'")
    assert done.returncode == 0, done.stderr
    assert {p.name for p in ctx.iterdir()} == {"debian.sources", "apt-install.sh", "venv-install.sh", "requirements.lock"}
    copy = tmp_path / "images"
    (copy / "common").mkdir(parents=True)
    for script in (ROOT / "offline" / "images" / "common").glob("*.sh"):
        (copy / "common" / script.name).write_text(script.read_text())

    def hashed() -> str:
        return builder(tmp_path, f"images_dir={copy}; inputs_hash -r image -s x").stdout

    before = hashed()
    assert before == hashed(), "the same inputs, the same hash"
    (copy / "common" / "venv-install.sh").write_text((copy / "common" / "venv-install.sh").read_text() + "true\n")
    assert hashed() != before, "an edit of offline/images/common/ rebuilds the images"


def test_the_venv_images_dockerfiles_are_last_stages_after_the_shared_ones():
    """The builders that call venv_image without own_stages put common/venv-stages.Dockerfile in front
    of their Dockerfile: it must start FROM runtime (no BASE of its own) and copy the venv the
    builder names (VENV=) from the build stage; the shared stages define both stages."""
    import re

    stages = (ROOT / "offline" / "images" / "common" / "venv-stages.Dockerfile").read_text()
    assert re.search(r"^FROM \$\{BASE\} AS runtime$", stages, re.M)
    assert re.search(r"^FROM runtime AS build$", stages, re.M)
    checked = []
    for builder_script in sorted((ROOT / "offline" / "images").glob("*.sh")):
        text = builder_script.read_text()
        if "venv_image " not in text or "own_stages=1" in text:
            continue
        venv = re.search(r"\bVENV=(\S+)", text)
        assert venv, f"{builder_script.name} calls venv_image without VENV="
        dockerfile = (builder_script.with_suffix("") / "Dockerfile").read_text()
        froms = re.findall(r"^FROM (.+)$", dockerfile, re.M)
        assert froms[:1] == ["runtime"], f"{builder_script.name}: its Dockerfile must start FROM runtime, not {froms[:1]}"
        assert "ARG BASE" not in dockerfile, f"{builder_script.name}: BASE is the shared stages' argument"
        assert f"COPY --from=build {venv.group(1)} {venv.group(1)}" in dockerfile, f"{builder_script.name}: the venv is not copied"
        checked.append(builder_script.stem)
    assert checked == ["metadata", "mlflow", "pipeline-base"]


# The image core (_image_build) with the engine left out: need_docker, need_base_image and docker_build
# are replaced in the builder script, docker_build copying the context it was given. The real builds
# of the seven images that use it run in their builders (make up) and their checks (make image-checks).
FAKE_ENGINE = """
need_docker() { :; }
need_base_image() { base_ref=mlops.local/debian-base:test base_id=sha256:test; }
image_current() { [[ $(cat "$MLOPS_CACHE_DIR/label-$(basename "$1")" 2>/dev/null) == "$2" ]]; }
docker_build() {
  local out=$MLOPS_CACHE_DIR/context-$(basename "$1")
  rm -rf "$out"; cp -r "$2" "$out"; shift 3; printf '%s\\n' "$@" >"$out.args"
}
label_image() { :; }
"""


def image_files(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "Dockerfile").write_text("FROM runtime\n")
    (src / "a.conf").write_text("a\n")
    (src / "sub" / "a.conf").write_text("another a\n")
    (src / "requirements.lock").write_text("mlflow==1\n")
    return src


def test_debian_image_builds_a_context_of_its_files_once_and_again_when_one_changes(tmp_path):
    src = image_files(tmp_path)
    body = FAKE_ENGINE + f"""
debian_image mlops.local/x:1 {src} a.conf
echo "built=$built hash=$hash"
((built)) && printf '%s' "$hash" >"$MLOPS_CACHE_DIR/label-x:1"
debian_image mlops.local/x:1 {src} a.conf
echo "built=$built hash=$hash"
"""
    first = builder(tmp_path, body)
    assert first.returncode == 0, first.stderr
    runs = first.stdout.split()
    assert runs[0] == "built=1"
    assert runs[2] == "built=0", "an image whose inputs are unchanged is not built again"
    assert runs[1] == runs[3]
    context = tmp_path / "cache" / "context-x:1"
    assert {p.name for p in context.iterdir()} == {"Dockerfile", "a.conf", "debian.sources", "apt-install.sh"}
    (src / "a.conf").write_text("changed\n")
    again = builder(tmp_path, body)
    assert again.stdout.split()[0] == "built=1", "a changed file rebuilds the image"
    assert again.stdout.split()[1] != runs[1]


def test_two_files_of_one_name_are_refused_before_a_build(tmp_path):
    src = image_files(tmp_path)
    done = builder(tmp_path, FAKE_ENGINE + f"debian_image mlops.local/x:1 {src} a.conf sub/a.conf")
    assert done.returncode != 0
    assert "debian_image: two files named a.conf for one build context" in done.stderr
    assert not (tmp_path / "cache" / "context-x:1").exists()


def test_venv_image_adds_the_shared_stages_the_lock_the_ca_and_the_builders_own_context(tmp_path):
    src = image_files(tmp_path)
    body = FAKE_ENGINE + f"""
REQUIREMENTS="mlflow==1"
src={src}
context_files=({src}/a.conf)
add_to_context() {{ echo extra >"$1/extra.txt"; }}
venv_image mlops.local/v:1 /opt/v/requirements.lock VENV=/opt/v
echo "built=$built"
"""
    done = builder(tmp_path, body, env={"PIP_CERT": str(src / "a.conf")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["built=1"]
    context = tmp_path / "cache" / "context-v:1"
    assert {p.name for p in context.iterdir()} == {"Dockerfile", "a.conf", "debian.sources", "apt-install.sh",
                                                  "build-ca.crt", "requirements.lock", "venv-install.sh", "extra.txt"}
    stages = (ROOT / "offline" / "images" / "common" / "venv-stages.Dockerfile").read_text()
    assert (context / "Dockerfile").read_text() == stages + "FROM runtime\n"
    assert (tmp_path / "cache" / "context-v:1.args").read_text().split() == ["VENV=/opt/v", "REQUIREMENTS=mlflow==1"]
