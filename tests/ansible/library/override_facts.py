#!/usr/bin/python
"""Test-only facts module: returns the facts in $MLOPS_TEST_FACT_OVERRIDES (a JSON object).

Run after ansible.builtin.setup (ANSIBLE_FACTS_MODULES=ansible.builtin.setup,override_facts with
ansible_facts_parallel=false), it makes this machine look like another one to the preflight checks:
another distribution, swap, no systemd.
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    overrides = json.loads(os.environ.get("MLOPS_TEST_FACT_OVERRIDES", "{}"))
    module.exit_json(changed=False, ansible_facts={f"ansible_{key}": value for key, value in overrides.items()})


if __name__ == "__main__":
    main()
