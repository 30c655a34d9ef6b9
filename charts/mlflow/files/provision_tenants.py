"""Makes MLflow match the platform's tenants, as the basic-auth admin: one MLflow workspace per
tenant, and in it two users, each through a role of that workspace only:

- `<editor>` (role `tenant-editor`): uses the workspace, manages every experiment and registered
  model in it (runs, metrics, artifacts, model versions); what pipelines and researchers log as.
- `<reader>` (role `tenant-reader`): reads every experiment and registered model in it; what the
  tenant's model servers load models with.

No tenant role grants workspace MANAGE (whose holders may create users). Passwords come from
files named after the users in CREDENTIALS_DIR (a Secret the platform generates) and are set on
every run. Users of tenants no longer configured (the `tenant-` prefix) are deleted; their
workspaces and data stay. Idempotent: everything is looked up before it is created.

Environment: MLFLOW_URL, ADMIN_USERNAME, ADMIN_PASSWORD, TENANTS (JSON list of
{"workspace", "editor", "reader"}), CREDENTIALS_DIR, TENANT_USER_PREFIX. Standard library only.
Error bodies of MLflow are not printed: for a user they can carry a password hash.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

# Role name -> the grants of its permissions ((resource type, permission); pattern "*": all).
ROLES = {
    "tenant-editor": (("workspace", "USE"), ("experiment", "MANAGE"), ("registered_model", "MANAGE")),
    "tenant-reader": (("experiment", "READ"), ("registered_model", "READ")),
}


class Mlflow:
    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url.rstrip("/")
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None, query: dict | None = None) -> tuple[int, dict]:
        url = f"{self.url}/api/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=self.headers)  # noqa: S310 (http(s) URL from the chart)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                text = response.read().decode()
                return response.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as error:
            try:
                code = json.loads(error.read().decode()).get("error_code", "")
            except ValueError:
                code = ""
            return error.code, {"error_code": code}

    def must(self, method: str, path: str, body: dict | None = None, query: dict | None = None) -> dict:
        status, answer = self.call(method, path, body, query)
        if status >= 400:
            raise SystemExit(f"MLflow {method} /api/{path} answered {status} {answer.get('error_code', '')}")
        return answer


def wait_until_up(mlflow: Mlflow, timeout_s: int = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            status, _ = mlflow.call("GET", "3.0/mlflow/workspaces")
        except OSError as exc:
            # Connection refused or reset while the server starts (no ready pod behind the Service yet).
            status = f"unreachable: {getattr(exc, 'reason', exc)}"
        if status == 200:
            return
        if status in (401, 403):
            raise SystemExit(f"MLflow refused the admin's credentials ({status}): check the auth Secret")
        if time.monotonic() > deadline:
            raise SystemExit(f"MLflow at {mlflow.url} did not answer within {timeout_s} s (last status {status})")
        print(f"waiting for MLflow at {mlflow.url} (status {status})", flush=True)
        time.sleep(5)


def ensure_workspace(mlflow: Mlflow, name: str) -> None:
    status, _ = mlflow.call("GET", f"3.0/mlflow/workspaces/{urllib.parse.quote(name)}")
    if status == 404:
        mlflow.must("POST", "3.0/mlflow/workspaces", {"name": name})
        print(f"workspace {name}: created", flush=True)
    elif status != 200:
        raise SystemExit(f"MLflow GET workspace {name} answered {status}")


def ensure_user(mlflow: Mlflow, username: str, password: str) -> None:
    status, _ = mlflow.call("GET", "2.0/mlflow/users/get", query={"username": username})
    if status == 404:
        mlflow.must("POST", "2.0/mlflow/users/create", {"username": username, "password": password})
        print(f"user {username}: created", flush=True)
    elif status == 200:
        mlflow.must("PATCH", "2.0/mlflow/users/update-password", {"username": username, "password": password})
    else:
        raise SystemExit(f"MLflow GET user {username} answered {status}")


def ensure_role(mlflow: Mlflow, workspace: str, name: str, grants: tuple[tuple[str, str], ...]) -> int:
    """The role `name` of `workspace` with exactly `grants` (extra permissions are removed)."""
    roles = mlflow.must("GET", "3.0/mlflow/roles/list", query={"workspace": workspace}).get("roles", [])
    role = next((r for r in roles if r["name"] == name), None)
    if role is None:
        role = mlflow.must("POST", "3.0/mlflow/roles/create", {"workspace": workspace, "name": name,
                                                                  "description": "made by the platform"})["role"]
        role.setdefault("permissions", [])
        print(f"workspace {workspace}: role {name} created", flush=True)
    have = {(p["resource_type"], p["permission"], p["resource_pattern"]): p["id"] for p in role.get("permissions", [])}
    want = {(resource_type, permission, "*") for resource_type, permission in grants}
    for resource_type, permission, pattern in sorted(want - set(have)):
        mlflow.must("POST", "3.0/mlflow/roles/permissions/add", {
            "role_id": role["id"], "resource_type": resource_type, "resource_pattern": pattern, "permission": permission})
    for key in set(have) - want:
        mlflow.must("DELETE", "3.0/mlflow/roles/permissions/remove", {"role_permission_id": have[key]})
    return int(role["id"])


def ensure_assignment(mlflow: Mlflow, username: str, role_id: int) -> None:
    roles = mlflow.must("GET", "3.0/mlflow/users/roles/list", query={"username": username}).get("roles", [])
    if not any(int(r["id"]) == role_id for r in roles):
        mlflow.must("POST", "3.0/mlflow/roles/assign", {"username": username, "role_id": role_id})


def main() -> int:
    env = os.environ
    mlflow = Mlflow(env["MLFLOW_URL"], env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"])
    tenants = json.loads(env["TENANTS"])
    passwords = Path(env["CREDENTIALS_DIR"])
    prefix = env["TENANT_USER_PREFIX"]
    wait_until_up(mlflow)
    wanted = set()
    for tenant in tenants:
        workspace = tenant["workspace"]
        ensure_workspace(mlflow, workspace)
        for kind, role_name in (("editor", "tenant-editor"), ("reader", "tenant-reader")):
            username = tenant[kind]
            if not username.startswith(prefix):
                raise SystemExit(f"user {username} lacks the prefix {prefix!r} that marks the platform's tenant users")
            wanted.add(username)
            ensure_user(mlflow, username, (passwords / username).read_text())
            ensure_assignment(mlflow, username, ensure_role(mlflow, workspace, role_name, ROLES[role_name]))
        print(f"tenant workspace {workspace}: editor {tenant['editor']}, reader {tenant['reader']}", flush=True)
    for user in mlflow.must("GET", "2.0/mlflow/users/list").get("users", []):
        if user["username"].startswith(prefix) and user["username"] not in wanted:
            mlflow.must("DELETE", "2.0/mlflow/users/delete", {"username": user["username"]})
            print(f"user {user['username']}: deleted (its tenant is gone; its workspace and data stay)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
