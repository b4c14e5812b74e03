"""One Quadlet container as a Pulumi component: what it puts on the host, as typed outputs."""

from __future__ import annotations

import pulumi

from homelab.fileset import sha256
from homelab.host.containers import ContainerLayout


class QuadletContainer(pulumi.ComponentResource):
    """A `containers/NAME.container` file as planned for one host.

    It owns no cloud resource: its files travel with the host's file set (Ignition or the
    SSH push). Its outputs make each container's part of a preview readable on its own.
    """

    unit_name: pulumi.Output[str]
    path: pulumi.Output[str]
    content: pulumi.Output[str]
    content_sha256: pulumi.Output[str]
    image: pulumi.Output[str]
    ports: pulumi.Output[list[str]]
    data_dirs: pulumi.Output[list[str]]
    secret_keys: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        planned: ContainerLayout,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("homelab:quadlet:Container", name, None, opts)
        self.unit_name = pulumi.Output.from_input(planned.service)
        self.path = pulumi.Output.from_input(planned.unit_path)
        self.content = pulumi.Output.from_input(planned.text)
        self.content_sha256 = pulumi.Output.from_input(sha256(planned.text))
        self.image = pulumi.Output.from_input(planned.image)
        self.ports = pulumi.Output.from_input(list(planned.ports))
        self.data_dirs = pulumi.Output.from_input(list(planned.data_dirs))
        # Names of the secret config keys only; values never pass through this component.
        self.secret_keys = pulumi.Output.from_input(sorted(set(planned.secrets.values())))
        self.register_outputs(
            {
                "unit_name": self.unit_name,
                "path": self.path,
                "content": self.content,
                "content_sha256": self.content_sha256,
                "image": self.image,
                "ports": self.ports,
                "data_dirs": self.data_dirs,
                "secret_keys": self.secret_keys,
            }
        )
