"""Shared fixtures of the Ansible tests: paths, and a runner for the project's own ansible-playbook."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "ansible"
ROLES_DIR = ANSIBLE_DIR / "roles"
PLAYBOOKS_DIR = ANSIBLE_DIR / "playbooks"
TEST_DIR = Path(__file__).resolve().parent
ROLES = sorted(path.name for path in ROLES_DIR.iterdir() if (path / "tasks" / "main.yml").is_file())
PLAYBOOKS = sorted(path.name for path in PLAYBOOKS_DIR.glob("*.yml"))


def tool_env(**extra):
    """Environment in which the Ansible tools of this interpreter's virtualenv come first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ANSIBLE_DIR / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env.update(extra)
    return env


def run_tool(args, cwd=ANSIBLE_DIR, env=None, timeout=600):
    """Run a tool and return the completed process with stdout and stderr combined."""
    return subprocess.run(
        args,
        cwd=cwd,
        env=env or tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


class PreflightRun:
    """Runs a playbook's preflight checks against this machine, in check mode, with a crafted inventory.

    Nothing changes on this machine: only tasks tagged `preflight` run (assertions, stat, find, read-only
    commands) and check mode is on. Facts can be overridden to make this machine look like another one.
    """

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path

    def __call__(self, playbook, groups, extra_vars=None, facts=None, path_prefix=None):
        inventory = {
            "all": {
                "vars": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                    "ansible_become": False,
                    "ansible_facts_parallel": False,
                },
                "children": {
                    group: {"hosts": {name: {"ansible_host": address} for name, address in hosts.items()}} for group, hosts in groups.items()
                },
            }
        }
        inventory_file = self.tmp_path / "hosts.yml"
        inventory_file.write_text(yaml.safe_dump(inventory, sort_keys=False))
        vars_file = self.tmp_path / "extra_vars.json"
        vars_file.write_text(json.dumps(extra_vars or {}))
        env = tool_env(
            ANSIBLE_FACTS_MODULES="ansible.builtin.setup,override_facts",
            ANSIBLE_LIBRARY=str(TEST_DIR / "library"),
            MLOPS_TEST_FACT_OVERRIDES=json.dumps({"service_mgr": "systemd", **(facts or {})}),
        )
        if path_prefix:
            env["PATH"] = f"{path_prefix}{os.pathsep}{env['PATH']}"
        command = [
            "ansible-playbook",
            "--check",
            "--tags",
            "preflight",
            "--inventory",
            str(inventory_file),
            "--extra-vars",
            f"@{vars_file}",
            str(PLAYBOOKS_DIR / playbook),
        ]
        return run_tool(command, env=env)


@pytest.fixture
def preflight(tmp_path):
    return PreflightRun(tmp_path)
