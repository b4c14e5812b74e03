"""A host: its containers, its desired file set and the Ignition made from it by `butane`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_command as command

from components.container import QuadletContainer
from homelab.fileset import FileSet, manifest
from homelab.host.butane import has_secrets, ignition_text, render_butane
from homelab.host.layout import HostLayout

# butane --strict turns warnings into errors; ignition-validate re-checks what it produced.
# Both come from PATH (scripts/env.sh), so the command text is the same on every machine.
BUTANE_SCRIPT = (
    "set -eu; t=$(mktemp); trap 'rm -f \"$t\"' EXIT; "
    'butane --strict > "$t"; ignition-validate "$t"; cat "$t"'
)


@dataclass(frozen=True)
class HostArgs:
    """What a Host is made of: the host layout and the secret values its files need."""

    layout: HostLayout
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Resources the Ignition waits for: after a failed push the state keeps the old Ignition,
    # so it matches the host (which went back to its old generation).
    after: tuple[pulumi.Resource, ...] = ()


class Host(pulumi.ComponentResource):
    """The desired state of one machine, independent of how it is delivered."""

    hostname: pulumi.Output[str]
    butane: pulumi.Output[str]
    ignition: pulumi.Output[str]
    ignition_has_secrets: pulumi.Output[bool]
    files: pulumi.Output[dict[str, Any]]
    units: pulumi.Output[list[str]]
    containers: dict[str, QuadletContainer]

    def __init__(
        self, name: str, args: HostArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("homelab:host:Host", name, None, opts)
        layout, secrets = args.layout, args.secrets
        fs: FileSet = layout.fileset
        self.containers = {
            # After the push (args.after) like the Ignition: a failed push records no new one.
            c.name: QuadletContainer(
                f"{name}-{c.name}",
                c,
                pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
            )
            for c in layout.containers
        }

        secret_in_ign = has_secrets(fs)
        if secret_in_ign:
            # Only this stack's Ignition carries secrets (e.g. vm-test); it stays secret.
            butane_text: pulumi.Output[str] = pulumi.Output.secret(
                pulumi.Output.all(**dict(secrets)).apply(lambda s: render_butane(fs, s))
            )
        else:
            butane_text = pulumi.Output.from_input(render_butane(fs))

        gen = command.local.Command(
            f"{name}-ignition",
            create=BUTANE_SCRIPT,
            interpreter=["/bin/sh", "-c"],
            # Secret: the engine then shows one `[secret]` line for a changed Butane, not the
            # whole YAML (`homelab build` writes it). It changes iff the file set does.
            stdin=butane_text.apply(pulumi.Output.secret),
            # Never echo the Ignition: the engine masks secret config values only verbatim,
            # and Ignition URL-encodes them (`a/b` -> `a%2Fb`). Errors (stderr) still show.
            logging=command.local.Logging.STDERR,
            # Re-run only when the Butane changes; the Ignition itself is always secret.
            opts=pulumi.ResourceOptions(
                parent=self, additional_secret_outputs=["stdout"], depends_on=list(args.after)
            ),
        )
        self.hostname = pulumi.Output.from_input(layout.config.host.hostname)
        self.butane = butane_text
        self.ignition = pulumi.Output.secret(gen.stdout.apply(ignition_text))
        self.ignition_has_secrets = pulumi.Output.from_input(secret_in_ign)
        self.files = pulumi.Output.from_input(manifest(fs))
        self.units = pulumi.Output.from_input(list(fs.units))
        self.register_outputs(
            {
                "hostname": self.hostname,
                "butane": self.butane,
                "ignition": self.ignition,
                "ignition_has_secrets": self.ignition_has_secrets,
                "files": self.files,
                "units": self.units,
            }
        )
