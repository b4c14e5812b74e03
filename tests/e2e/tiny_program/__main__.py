"""Tiny program for the toolchain test: one Python dynamic-provider resource and, with config
`commandMarker: PATH`, one `command:local:Command` (needs the real command provider plugin)."""

import hashlib

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider
from pulumi_command import local


class Digest(ResourceProvider):
    def create(self, props):
        digest = hashlib.sha256(props["text"].encode()).hexdigest()
        return CreateResult(id_=digest[:12], outs={**props, "sha256": digest})

    def diff(self, _id, olds, news):
        return DiffResult(changes=olds.get("text") != news.get("text"), replaces=["text"])


class DigestResource(pulumi.dynamic.Resource):
    sha256: pulumi.Output[str]

    def __init__(self, name: str, text: str) -> None:
        super().__init__(Digest(), name, {"text": text, "sha256": None})


config = pulumi.Config()
text = config.get("text") or "hello homelab"
d = DigestResource("digest", text)
pulumi.export("sha256", d.sha256)
pulumi.export("text", text)

marker = config.get("commandMarker")
if marker:
    # A real command through the command provider: create writes `marker`, delete removes it.
    echo = local.Command(
        "echo",
        create=f"printf '%s' '{text}' | tee '{marker}'",
        delete=f"rm -f '{marker}'",
        triggers=[text],
    )
    pulumi.export("echoed", echo.stdout)
