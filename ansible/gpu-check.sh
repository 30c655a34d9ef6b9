#!/usr/bin/env bash
# GPU check of this machine (`make gpu-check`): runs playbooks/validate.yml --tags gpu against localhost as a GPU
# node. It finds the NVIDIA GPUs on the PCI bus (the nvidia_driver role's detection), asks nvidia-smi for each
# GPU's name, driver version and memory, prints both and fails unless the driver sees every GPU. Read-only.
# Needs ansible-playbook: the project's .venv (`make venv`, or carried to the GPU machine) or one on PATH.
#   ansible/gpu-check.sh [extra ansible-playbook arguments]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
playbook_bin=$repo/.venv/bin/ansible-playbook
[[ -x $playbook_bin ]] || playbook_bin=$(command -v ansible-playbook || true)
if [[ -z $playbook_bin ]]; then
  echo "gpu-check: ERROR: ansible-playbook not found: run \`make venv\` (or pip install ansible-core) first" >&2
  exit 2
fi
python=$(dirname "$playbook_bin")/python3
[[ -x $python ]] || python=$(command -v python3)

inventory=$(mktemp -d)
trap 'rm -rf "$inventory"' EXIT
cat >"$inventory/hosts.yml" <<INVENTORY
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: $python
    ansible_become: false
  children:
    workers:
      children:
        gpu_nodes:
          hosts:
            $(hostname -s | tr '[:upper:]' '[:lower:]'):
              ansible_host: 127.0.0.1
INVENTORY

echo "gpu-check: PCI GPUs vs nvidia-smi on $(hostname -s)" >&2
cd "$here"
ANSIBLE_CONFIG=$here/ansible.cfg exec "$playbook_bin" --inventory "$inventory/hosts.yml" --tags gpu \
  --extra-vars '{"nvidia_driver_require_gpu": true}' "$@" playbooks/validate.yml
