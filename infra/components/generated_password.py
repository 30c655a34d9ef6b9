"""A password generated once, kept (encrypted) in the stack state and stable across updates.

A Pulumi dynamic resource, so no extra provider plugin is needed offline. The value is created
with the `secrets` module when the resource is created, is a secret output (never written in
plain text to state, logs or previews). With `bcrypt_hash`, the bcrypt hash of the value is made
at the same time and kept with it (a secret too: Dex checks sign-in passwords against it), so the
hash, whose salt is random, does not change on every update. `pulumi up --replace <urn>` makes a new one; the services
that use it need the steps in docs/operations.md to take it over.
"""

from __future__ import annotations

import secrets
import uuid

import bcrypt
import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider


class _PasswordProvider(ResourceProvider):
    def create(self, props):
        # Hex keeps the value safe inside URLs (DSNs), ini files and shell without escaping.
        # Numbers cross the provider protocol as floats.
        value = secrets.token_hex(int(props["bytes"]))
        outs = {"bytes": props["bytes"], "result": value}
        if props.get("bcrypt"):
            outs |= {"bcrypt": True, "hash": bcrypt.hashpw(value.encode(), bcrypt.gensalt(rounds=10)).decode()}
        return CreateResult(id_=uuid.uuid4().hex, outs=outs)

    def diff(self, _id, olds, news):
        changed = [key for key in ("bytes", "bcrypt") if bool(olds.get(key)) != bool(news.get(key)) or
                   (key == "bytes" and olds.get(key) != news.get(key))]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)


class GeneratedPassword(Resource):
    """`result` is a random hex string of 2 x `random_bytes` characters, marked secret; with
    `bcrypt_hash`, `hash` is its bcrypt hash (cost 10), secret too."""

    result: pulumi.Output[str]
    hash: pulumi.Output[str]

    def __init__(self, name: str, random_bytes: int = 24, opts: pulumi.ResourceOptions | None = None,
                 bcrypt_hash: bool = False) -> None:
        if random_bytes < 16:
            raise ValueError(f"GeneratedPassword {name}: random_bytes must be at least 16, got {random_bytes}")
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["result", "hash"]))
        props = {"bytes": random_bytes, "result": None, "hash": None}
        if bcrypt_hash:
            props["bcrypt"] = True
        super().__init__(_PasswordProvider(), name, props, opts)

    @property
    def value(self) -> pulumi.Output[str]:
        """The password, marked secret in the program as well as in the state."""
        return pulumi.Output.secret(self.result)
