"""A password generated once, kept (encrypted) in the stack state and stable across updates.

A Pulumi dynamic resource, so no extra provider plugin is needed offline. The value is created
with the `secrets` module when the resource is created, is a secret output (never written in
plain text to state, logs or previews). `pulumi up --replace <urn>` makes a new one; the services
that use it need the steps in docs/operations.md to take it over.
"""

from __future__ import annotations

import secrets
import uuid

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider


class _PasswordProvider(ResourceProvider):
    def create(self, props):
        # Hex keeps the value safe inside URLs (DSNs), ini files and shell without escaping.
        # Numbers cross the provider protocol as floats.
        value = secrets.token_hex(int(props["bytes"]))
        return CreateResult(id_=uuid.uuid4().hex, outs={"bytes": props["bytes"], "result": value})

    def diff(self, _id, olds, news):
        changed = olds.get("bytes") != news.get("bytes")
        return DiffResult(changes=changed, replaces=["bytes"] if changed else [], delete_before_replace=False)


class GeneratedPassword(Resource):
    """`result` is a random hex string of 2 x `random_bytes` characters, marked secret."""

    result: pulumi.Output[str]

    def __init__(self, name: str, random_bytes: int = 24, opts: pulumi.ResourceOptions | None = None) -> None:
        if random_bytes < 16:
            raise ValueError(f"GeneratedPassword {name}: random_bytes must be at least 16, got {random_bytes}")
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["result"]))
        super().__init__(_PasswordProvider(), name, {"bytes": random_bytes, "result": None}, opts)

    @property
    def value(self) -> pulumi.Output[str]:
        """The password, marked secret in the program as well as in the state."""
        return pulumi.Output.secret(self.result)
