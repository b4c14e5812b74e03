"""Tiny program for the toolchain test: one Python dynamic-provider resource."""

import hashlib

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider


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


text = pulumi.Config().get("text") or "hello homelab"
d = DigestResource("digest", text)
pulumi.export("sha256", d.sha256)
pulumi.export("text", text)
