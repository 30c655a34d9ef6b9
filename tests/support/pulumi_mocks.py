"""The platform program under Pulumi mocks, for the unit tests of the components: the mocks record
every resource declared; run() deploys a stack's raw values and collects facts about the outputs."""

from __future__ import annotations

import asyncio

import pulumi

from infra.config import parse

MOCK_PASSWORD = "f" * 48
MOCK_HASH = "$2b$10$" + "m" * 53


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "pulumi-python:dynamic:Resource":
            outputs["result"] = MOCK_PASSWORD
            if args.inputs.get("bcrypt"):
                outputs["hash"] = MOCK_HASH
        metadata = outputs.get("metadata")
        if isinstance(metadata, dict) and "name" not in metadata:
            outputs["metadata"] = {**metadata, "name": f"{args.name}-generated"}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def chart(self, name: str) -> pulumi.runtime.MockResourceArgs:
        """The Helm chart (helm.sh/v4 Chart) declared as `name`."""
        matches = [r for r in self.of_type("kubernetes:helm.sh/v4:Chart") if r.name == name]
        assert len(matches) == 1, f"expected one chart named {name}, found {[r.name for r in self.of_type('kubernetes:helm.sh/v4:Chart')]}"
        return matches[0]

    def named(self, name: str) -> pulumi.runtime.MockResourceArgs:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"expected one resource named {name}, found {[r.name for r in self.resources]}"
        return matches[0]


def install_mocks() -> RecordingMocks:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="mlops-platform", stack="unit", preview=False)
    return recorder


def run(raw: dict) -> dict:
    """Run the program under mocks; returns facts about its outputs once every resource is
    registered (the test decorator waits for all outstanding registrations)."""
    from infra.deploy import deploy

    facts: dict = {}

    @pulumi.runtime.test
    def program():
        platform = deploy(parse(raw, frozenset({"mlflowExternalDsn", "kubeflowPipelinesDatabasePassword",
                                                 "monitoringSmtpPassword", "monitoringAlertWebhookUrl"})))

        async def collect():
            facts["store_password_secret"] = await platform.object_store.secret_key.is_secret()
            facts["admin_password_secret"] = await platform.mlflow.admin_password.is_secret()
            facts["tracking_uri"] = await platform.mlflow.tracking_uri.future()
            facts["endpoint"] = await platform.object_store.endpoint.future()
            if platform.tenants:
                facts["tenants"] = await platform.tenants.tenants.future()
            if platform.gpu:
                facts["runtime_class"] = await platform.gpu.runtime_class.future()
            if platform.kubeflow_pipelines:
                facts["kfp_endpoint"] = await platform.kubeflow_pipelines.endpoint.future()
                facts["kfp_namespace"] = await platform.kubeflow_pipelines.namespace.future()

        return pulumi.Output.from_input(asyncio.ensure_future(collect()))

    program()
    return facts


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the mock runtime encodes a secret value


def unsecret(value):
    """Inputs as plain data: secret-wrapped values (as the mocks receive them) unwrapped."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return unsecret(value["value"])
        return {k: unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsecret(v) for v in value]
    return value


def containers(workload: pulumi.runtime.MockResourceArgs) -> list[dict]:
    spec = workload.inputs["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]
