"""`homelab:vm:TestVM`: a libvirt VM booted from a host's Ignition (pulumi-libvirt)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_libvirt as libvirt

from homelab.vmconfig import VmConfig
from homelab.vmhost import LIBVIRT_KINDS, clear_stale

GIB = 1024**3

# Adds the serial console's log file, and (when unconfined) turns off the security driver
# for this throwaway VM: AppArmor's virt-aa-helper and SELinux's svirt labelling do not
# know the fw_cfg Ignition file and deny qemu reading it (terraform-provider-libvirt#142).
# The provider writes the console as <console><target type="serial"/></console> and no
# <serial>; libvirt makes serial0 from that console, log included. It also adds a spice
# display that listens on 127.0.0.1 with no password: any local user could take the VM's
# console, so it is dropped (the serial console and its log are the way in).
_XSLT = """<?xml version="1.0" ?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output omit-xml-declaration="yes" indent="yes"/>
  <xsl:template match="node()|@*">
    <xsl:copy><xsl:apply-templates select="node()|@*"/></xsl:copy>
  </xsl:template>
  <xsl:template match="/domain/devices/console[1]">
    <xsl:copy>
      <xsl:apply-templates select="node()|@*"/>
      <log file="{log}" append="on"/>
    </xsl:copy>
  </xsl:template>
  <xsl:template match="/domain/devices/graphics"/>{seclabel}
</xsl:stylesheet>
"""
_SECLABEL = """
  <xsl:template match="/domain">
    <xsl:copy>
      <xsl:apply-templates select="node()|@*"/>
      <seclabel type="none"/>
    </xsl:copy>
  </xsl:template>"""

# The pool directory holds the Ignition (secrets) as a 0644 file, a mode the provider fixes
# for every volume: only the daemon and qemu's group may enter the directory (homelab/vmhost.py).
_POOL_XSLT = """<?xml version="1.0" ?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output omit-xml-declaration="yes" indent="yes"/>
  <xsl:template match="node()|@*">
    <xsl:copy><xsl:apply-templates select="node()|@*"/></xsl:copy>
  </xsl:template>
  <xsl:template match="/pool/target">
    <xsl:copy>
      <xsl:apply-templates select="node()|@*"/>
      <permissions><mode>{mode}</mode>{group}</permissions>
    </xsl:copy>
  </xsl:template>
</xsl:stylesheet>
"""


def domain_xslt(log_path: str, unconfined: bool) -> str:
    return _XSLT.replace("{log}", log_path).replace("{seclabel}", _SECLABEL if unconfined else "")


def pool_xslt(qemu_gid: int | None) -> str:
    """0710 with qemu's group; 0700 when qemu runs as the daemon's own user (no DAC model)."""
    if qemu_gid is None:
        return _POOL_XSLT.replace("{mode}", "0700").replace("{group}", "")
    return _POOL_XSLT.replace("{mode}", "0710").replace("{group}", f"<group>{qemu_gid}</group>")


class TestVM(pulumi.ComponentResource):
    """Pool, base + overlay disks, Ignition volume, NAT network and domain.

    A changed Ignition replaces the Ignition volume, the root disk and the domain: Ignition
    only runs on a machine's first boot, so the VM always starts fresh from the current
    config (terraform-provider-libvirt#854, #651). Names are fixed (and derived from nothing
    secret: every local user sees them in `ps`), hence delete_before_replace.

    Each libvirt resource clears, right before the engine creates it, an object of the same
    name: only a create that `pulumi up` started but never recorded (a killed run) leaves
    one, and the provider refuses to create over it (homelab/vmhost.py).
    """

    ip: pulumi.Output[str]  # "" until libvirt knows a DHCP lease (needs wait_for_lease)
    ssh_command: pulumi.Output[str]
    console_log: pulumi.Output[str]
    domain_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cfg: VmConfig,
        ignition: pulumi.Input[str],
        base_image_path: str,
        domain_type: str,
        qemu_gid: int | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("homelab:vm:TestVM", name, None, opts)
        provider = libvirt.Provider(
            f"{name}-libvirt", uri=cfg.uri, opts=pulumi.ResourceOptions(parent=self)
        )
        clear = pulumi.ResourceHook(f"{name}-clear-stale", _clear_stale(cfg.uri, name))

        def options(**extra: Any) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                delete_before_replace=True,
                hooks=pulumi.ResourceHookBinding(before_create=[clear]),
                **extra,
            )

        if cfg.pool:
            pool_name: pulumi.Input[str] = cfg.pool
        else:
            pool = libvirt.Pool(
                f"{name}-pool",
                name=name,
                type="dir",
                target={"path": cfg.pool_path},
                xml={"xslt": pool_xslt(qemu_gid)},
                opts=options(),
            )
            pool_name = pool.name

        base = libvirt.Volume(
            f"{name}-base",
            name=f"{name}-base-{cfg.base_image_sha256[:12]}.qcow2",
            pool=pool_name,
            source=base_image_path,
            format="qcow2",
            opts=options(),
        )
        ign = libvirt.Ignition(
            f"{name}-ignition",
            name=f"{name}.ign",
            pool=pool_name,
            content=pulumi.Output.secret(ignition),
            opts=options(additional_secret_outputs=["content"]),
        )
        root = libvirt.Volume(
            f"{name}-root",
            name=f"{name}-root.qcow2",
            pool=pool_name,
            base_volume_id=base.id,
            size=cfg.disk_size_gib * GIB,
            format="qcow2",
            # A new Ignition needs a disk that has never booted.
            opts=options(replace_with=[ign]),
        )
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
            type=domain_type,
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
        self.domain_name = domain.name
        self.ip = domain.network_interfaces.apply(
            lambda nics: nics[0].addresses[0] if nics and nics[0].addresses else ""
        )
        self.ssh_command = self.ip.apply(
            lambda ip: f"ssh core@{ip}" if ip else f"virsh -c {cfg.uri} domifaddr {name}"
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
