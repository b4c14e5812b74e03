"""`homelab:vm:TestVM`: a libvirt VM booted from a host's Ignition (pulumi-libvirt)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_libvirt as libvirt

from homelab.vm.config import VmConfig
from homelab.vm.host import LIBVIRT_KINDS, clear_stale

GIB = 1024**3

_IDENTITY = """<?xml version="1.0" ?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output omit-xml-declaration="yes" indent="yes"/>
  <xsl:template match="node()|@*">
    <xsl:copy><xsl:apply-templates select="node()|@*"/></xsl:copy>
  </xsl:template>"""


def _xslt(*templates: str) -> str:
    """A stylesheet that copies the provider's XML as it is, but for `templates`."""
    return f"{_IDENTITY}{''.join(templates)}\n</xsl:stylesheet>\n"


def _append(match: str, child: str) -> str:
    """A template that copies the element `match` selects and appends `child` to it."""
    return f"""
  <xsl:template match="{match}">
    <xsl:copy>
      <xsl:apply-templates select="node()|@*"/>
      {child}
    </xsl:copy>
  </xsl:template>"""


def domain_xslt(log_path: str, unconfined: bool) -> str:
    """Adds the serial console's log file, and (when unconfined) turns off the security
    driver for this throwaway VM: AppArmor's virt-aa-helper and SELinux's svirt labelling
    do not know the fw_cfg Ignition file and deny qemu reading it
    (terraform-provider-libvirt#142). The provider writes the console as
    <console><target type="serial"/></console> and no <serial>; libvirt makes serial0 from
    that console, log included. It also adds a spice display that listens on 127.0.0.1 with
    no password: any local user could take the VM's console, so it is dropped (the serial
    console and its log are the way in)."""
    log = _append("/domain/devices/console[1]", f'<log file="{log_path}" append="on"/>')
    no_display = '\n  <xsl:template match="/domain/devices/graphics"/>'
    seclabel = _append("/domain", '<seclabel type="none"/>') if unconfined else ""
    return _xslt(log, no_display, seclabel)


def pool_xslt(qemu_gid: int | None) -> str:
    """The pool directory holds the Ignition (secrets) as a 0644 file, a mode the provider
    fixes for every volume: only the daemon and qemu's group may enter the directory
    (homelab/vm/host.py). 0710 with qemu's group; 0700 when qemu runs as the daemon's own
    user (no DAC model)."""
    if qemu_gid is None:
        perms = "<permissions><mode>0700</mode></permissions>"
    else:
        perms = f"<permissions><mode>0710</mode><group>{qemu_gid}</group></permissions>"
    return _xslt(_append("/pool/target", perms))


@dataclass(frozen=True)
class TestVMArgs:
    """What a TestVM is made of: its config, the Ignition to boot from, the verified base
    image, and what the libvirt host said (domain type, qemu's group for the closed pool)."""

    cfg: VmConfig
    ignition: pulumi.Input[str]
    base_image_path: str
    domain_type: str
    qemu_gid: int | None


class TestVM(pulumi.ComponentResource):
    """Pool, base + overlay disks, Ignition volume, NAT network and domain.

    A changed Ignition replaces the Ignition volume, the root disk and the domain: Ignition
    only runs on a machine's first boot, so the VM always starts fresh from the current
    config (terraform-provider-libvirt#854, #651). Names are fixed (and derived from nothing
    secret: every local user sees them in `ps`), hence delete_before_replace.

    Each libvirt resource clears, right before the engine creates it, an object of the same
    name: only a create that `pulumi up` started but never recorded (a killed run) leaves
    one, and the provider refuses to create over it (homelab/vm/host.py).
    """

    ip: pulumi.Output[str]  # "" until libvirt knows a DHCP lease (needs wait_for_lease)
    ssh_command: pulumi.Output[str]
    console_log: pulumi.Output[str]
    domain_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: TestVMArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("homelab:vm:TestVM", name, None, opts)
        cfg = args.cfg
        options = self._options(name, cfg.uri)
        ign, root = _disks(name, args, options)
        net = libvirt.Network(
            f"{name}-net",
            name=name,
            mode="nat",
            addresses=[cfg.network_cidr],
            dhcp={"enabled": True},
            autostart=True,
            opts=options(),
        )
        log_path = f"/var/log/libvirt/qemu/{name}-console.log"
        domain = libvirt.Domain(
            f"{name}-domain",
            name=name,
            type=args.domain_type,
            memory=cfg.memory_mib,
            vcpu=cfg.vcpus,
            coreos_ignition=ign.id,
            disks=[{"volume_id": root.id}],
            network_interfaces=[
                {"network_id": net.id, "hostname": name, "wait_for_lease": cfg.wait_for_lease}
            ],
            consoles=[{"type": "pty", "target_port": "0", "target_type": "serial"}],
            xml={"xslt": domain_xslt(log_path, cfg.unconfined)},
            running=True,
            opts=options(replace_on_changes=["coreosIgnition", "disks"]),
        )
        self._outputs(name, cfg.uri, domain, log_path)

    def _options(self, name: str, uri: str) -> Callable[..., pulumi.ResourceOptions]:
        """The options every libvirt resource of this VM gets (plus `extra`): this VM's
        provider, fixed names replaced delete-first, and the stale-object hook."""
        provider = libvirt.Provider(
            f"{name}-libvirt", uri=uri, opts=pulumi.ResourceOptions(parent=self)
        )
        clear = pulumi.ResourceHook(f"{name}-clear-stale", _clear_stale(uri, name))

        def options(**extra: Any) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                delete_before_replace=True,
                hooks=pulumi.ResourceHookBinding(before_create=[clear]),
                **extra,
            )

        return options

    def _outputs(self, name: str, uri: str, domain: libvirt.Domain, log_path: str) -> None:
        self.domain_name = domain.name
        self.ip = domain.network_interfaces.apply(
            lambda nics: nics[0].addresses[0] if nics and nics[0].addresses else ""
        )
        self.ssh_command = self.ip.apply(
            lambda ip: f"ssh core@{ip}" if ip else f"virsh -c {uri} domifaddr {name}"
        )
        self.console_log = pulumi.Output.from_input(log_path)
        self.register_outputs(
            {
                "ip": self.ip,
                "ssh_command": self.ssh_command,
                "console_log": self.console_log,
                "domain_name": self.domain_name,
            }
        )


def _disks(
    name: str, args: TestVMArgs, options: Callable[..., pulumi.ResourceOptions]
) -> tuple[libvirt.Ignition, libvirt.Volume]:
    """The pool (unless the config names one), the base image, the Ignition volume and the
    root disk on top of the base."""
    cfg = args.cfg
    pool = (
        cfg.pool
        or libvirt.Pool(
            f"{name}-pool",
            name=name,
            type="dir",
            target={"path": cfg.pool_path},
            xml={"xslt": pool_xslt(args.qemu_gid)},
            opts=options(),
        ).name
    )
    base = libvirt.Volume(
        f"{name}-base",
        name=f"{name}-base-{cfg.base_image_sha256[:12]}.qcow2",
        pool=pool,
        source=args.base_image_path,
        format="qcow2",
        opts=options(),
    )
    ign = libvirt.Ignition(
        f"{name}-ignition",
        name=f"{name}.ign",
        pool=pool,
        content=pulumi.Output.secret(args.ignition),
        opts=options(additional_secret_outputs=["content"]),
    )
    root = libvirt.Volume(
        f"{name}-root",
        name=f"{name}-root.qcow2",
        pool=pool,
        base_volume_id=base.id,
        size=cfg.disk_size_gib * GIB,
        format="qcow2",
        # A new Ignition needs a disk that has never booted.
        opts=options(replace_with=[ign]),
    )
    return ign, root


def _clear_stale(uri: str, prefix: str) -> pulumi.ResourceHookFunction:
    def hook(args: pulumi.ResourceHookArgs) -> None:
        inputs = args.new_inputs or {}
        kind = LIBVIRT_KINDS[args.type]
        name, pool = str(inputs["name"]), inputs.get("pool")
        if clear_stale(uri, kind, name, str(pool) if pool else None, prefix):
            pulumi.log.warn(
                f"removed libvirt {kind} {name!r} that an interrupted `pulumi up` had "
                "created but not recorded"
            )

    return hook
