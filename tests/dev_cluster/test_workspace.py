"""dev_cluster/workspace.py: the one layout of a stack's workspace, state and passphrase that make up,
make render and the tests share, and the environment it prints for pulumi."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dev_cluster.workspace import Workspace, state_dir

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "dev_cluster" / "workspace.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def printed(result: subprocess.CompletedProcess) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def build_sh_cache(env: dict[str, str]) -> Path:
    """The cache folder offline/lib/build.sh's builder_init names under ENV (the shell's own answer)."""
    script = f'source {ROOT}/offline/lib/build.sh; builder_init probe; printf %s "$cache"'
    return Path(subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("extra", [{}, {"XDG_CACHE_HOME": "xdg"}, {"MLOPS_CACHE_DIR": "mine"},
                                   {"MLOPS_CACHE_DIR": "mine", "XDG_CACHE_HOME": "xdg"}],
                         ids=["home", "xdg", "cache dir", "cache dir over xdg"])
def test_the_default_state_folder_is_the_cache_folder_build_sh_names(tmp_path, extra):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"),
           **{name: str(tmp_path / value) for name, value in extra.items()}}
    assert state_dir(env) == build_sh_cache(env)
    assert state_dir({**env, "MLOPS_STATE_DIR": str(tmp_path / "state")}) == tmp_path / "state"


def test_it_writes_the_layout_prints_the_environment_and_makes_the_passphrase_once(tmp_path):
    values = printed(run("university", str(tmp_path), "--drop-secrets", "--set", "mlops-platform:queueing.chart=/c"))
    where = Workspace.under(tmp_path, "university")
    assert values == {**where.env(), "MLOPS_PULUMI_WORKSPACE": str(where.directory),
                      "MLOPS_DROPPED_SECRETS": "mlops-platform:mlflowExternalDsn mlops-platform:loginLdapBindPassword "
                                               "mlops-platform:monitoringSmtpPassword",
                      "MLOPS_PASSPHRASE_GENERATED": "1"}
    assert where.backend.is_dir()
    assert stat.S_IMODE(where.passphrase_file.stat().st_mode) == 0o600
    passphrase = where.passphrase_file.read_text()
    assert len(passphrase.strip()) == 64
    project = yaml.safe_load((where.directory / "Pulumi.yaml").read_text())
    assert Path(project["main"]).is_relative_to(ROOT)
    assert project["stackConfigDir"] == "."
    config = yaml.safe_load((where.directory / "Pulumi.university.yaml").read_text())["config"]
    assert config["mlops-platform:queueing"]["chart"] == "/c"
    assert not any(isinstance(v, dict) and "secure" in v for v in config.values())
    # A second run keeps the passphrase: it decrypts the stack's secrets.
    again = printed(run("university", str(tmp_path)))
    assert again["MLOPS_PASSPHRASE_GENERATED"] == "0"
    assert where.passphrase_file.read_text() == passphrase


@pytest.mark.parametrize(("args", "message"), [
    (("nosuch",), "no stack config"),
    (("local", "--set", "no-equals-sign"), "--set expects KEY=VALUE, got 'no-equals-sign'"),
], ids=["unknown stack", "bad setting"])
def test_bad_input_is_a_message_and_nothing_is_written(tmp_path, args, message):
    stack, *rest = args
    result = run(stack, str(tmp_path / "state"), *rest)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    if stack == "nosuch":
        assert "known stacks: local, university" in result.stderr
    assert not (tmp_path / "state" / f"{stack}.passphrase").exists(), "a refused run must not make a passphrase"
