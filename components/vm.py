"""`homelab:vm:TestVM`: a libvirt VM booted from a host's Ignition (pulumi-libvirt)."""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_libvirt as libvirt

from homelab.vmconfig import VmConfig

GIB = 1024**3

# Adds the serial console's log file, and (when unconfined) turns off the security driver
# for this throwaway VM: AppArmor's virt-aa-helper and SELinux's svirt labelling do not
# know the fw_cfg Ignition file and deny qemu reading it (terraform-provider-libvirt#142).
_XSLT = """<?xml version="1.0" ?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output omit-xml-declaration="yes" indent="yes"/>
  <xsl:template match="node()|@*">
    <xsl:copy><xsl:apply-templates select="node()|@*"/></xsl:copy>
  </xsl:template>
  <xsl:template match="/domain/devices/serial[1]">
    <xsl:copy>
      <xsl:apply-templates select="node()|@*"/>
      <log file="{log}" append="on"/>
    </xsl:copy>
  </xsl:template>{seclabel}
</xsl:stylesheet>
"""
_SECLABEL = """
  <xsl:template match="/domain">
    <xsl:copy>
      <xsl:apply-templates select="node()|@*"/>
      <seclabel type="none"/>
    </xsl:copy>
  </xsl:template>"""


def domain_xslt(log_path: str, unconfined: bool) -> str:
    return _XSLT.replace("{log}", log_path).replace("{seclabel}", _SECLABEL if unconfined else "")


class TestVM(pulumi.ComponentResource):
    """Pool, base + overlay disks, Ignition volume, NAT network and domain.

    A changed Ignition replaces the Ignition volume, the root disk and the domain: Ignition
    only runs on a machine's first boot, so the VM always starts fresh from the current
    config (terraform-provider-libvirt#854, #651). Names are fixed, hence
    delete_before_replace.
    """

    ip: pulumi.Output[str | None]
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
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("homelab:vm:TestVM", name, None, opts)
        provider = libvirt.Provider(
            f"{name}-libvirt", uri=cfg.uri, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        # Everything that must start over with a new Ignition carries its digest in its name.
        digest: pulumi.Output[str] = pulumi.Output.from_input(ignition).apply(
            lambda s: hashlib.sha256(s.encode()).hexdigest()[:12]
        )
        ign_digest: pulumi.Output[str] = pulumi.Output.secret(digest)

        if cfg.pool:
            pool_name: pulumi.Input[str] = cfg.pool
        else:
            pool = libvirt.Pool(
                f"{name}-pool",
                name=name,
                type="dir",
                path=cfg.pool_path,
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(delete_before_replace=True)
                ),
            )
            pool_name = pool.name

        base = libvirt.Volume(
            f"{name}-base",
            name=f"{name}-base-{cfg.base_image_sha256[:12]}.qcow2",
            pool=pool_name,
            source=base_image_path,
            format="qcow2",
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(delete_before_replace=True)
            ),
        )
        root = libvirt.Volume(
            f"{name}-root",
            name=ign_digest.apply(lambda d: f"{name}-root-{d}.qcow2"),
            pool=pool_name,
            base_volume_id=base.id,
            size=cfg.disk_size_gib * GIB,
            format="qcow2",
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(delete_before_replace=True)
            ),
        )
        ign = libvirt.Ignition(
            f"{name}-ignition",
            name=ign_digest.apply(lambda d: f"{name}-{d}.ign"),
            pool=pool_name,
            content=pulumi.Output.secret(ignition),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    delete_before_replace=True, additional_secret_outputs=["content"]
                ),
            ),
        )
        net = libvirt.Network(
            f"{name}-net",
            name=name,
            mode="nat",
            addresses=[cfg.network_cidr],
            dhcp={"enabled": True},
            autostart=True,
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(delete_before_replace=True)
            ),
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
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    delete_before_replace=True, replace_on_changes=["coreosIgnition", "disks"]
                ),
            ),
        )
        self.domain_name = domain.name
        self.ip = domain.network_interfaces.apply(
            lambda nics: nics[0].addresses[0] if nics and nics[0].addresses else None
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
