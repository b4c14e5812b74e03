"""The host's own files besides the containers: where things live, and the text of the units
and scripts homelab adds (pool import, uCore's rebase, the podman-secrets loader). Pure."""

from __future__ import annotations

from homelab.fileset import ManagedFile

QUADLET_DIR = "/etc/containers/systemd"
ENV_DIR = "/etc/homelab/env"
# The core user's SSH keys: the path Ignition itself writes for passwd.users[core], so the
# Butane renders this one file as ssh_authorized_keys.
CORE_KEYS_FILE = "/home/core/.ssh/authorized_keys.d/ignition"
AUTOREBASE_UNITS = ("ucore-unsigned-autorebase.service", "ucore-signed-autorebase.service")
REARM_UNIT = "homelab-rearm-revert.service"

SECRETS_HELPER = "/etc/homelab/bin/podman-secrets"
SECRETS_HELPER_TEXT = """#!/bin/sh
# Managed by homelab. Loads container NAME's secrets from its root 0600 env file into
# podman's secret store. As podman secrets (Secret=...,type=env) the values never enter the
# container's stored config (podman's world-readable db.sql), as EnvironmentFile= would.
set -eu
name=$1
env=/etc/homelab/env/$name.env
if [ ! -f "$env" ]; then
  # First boot from an Ignition without secrets (mouse): the push delivers them later.
  echo "homelab: $name waits for its secrets: $env is not here yet (pulumi up delivers it)" >&2
  exit 1
fi
while IFS= read -r line || [ -n "$line" ]; do
  [ -n "$line" ] || continue
  printf '%s' "${line#*=}" | podman secret create --replace "$name-${line%%=*}" - >/dev/null
done < "$env"
"""


def zfs_import_unit(pool: str) -> str:
    # Containers Require= this unit, so it is pulled in by them and needs no [Install].
    # Active means "the pool is there": from the second boot on, OpenZFS's
    # zfs-import-cache.service (zfs-fuse's daemon, on the simulated host) has usually
    # imported it from zpool.cache already, so the unit runs after it and imports only
    # when the pool is missing (a skipped ExecCondition= would leave it inactive).
    # `import` mounts the pool's datasets itself and `mount -a` any left: no -N, which
    # zfs-fuse (pool version 23, the simulated host's pool) lacks; OpenZFS 2.x takes both.
    zpool, zfs = "/usr/sbin/zpool", "/usr/sbin/zfs"
    # Every dataset that should be mounted is, before the containers start: a pool imported
    # by another unit may still be finishing (zfs-fuse imports its cache in the background).
    mount_all = (
        f"for i in $(seq 50); do {zfs} mount -a; {zfs} list -H -o "
        f'canmount,mounted -r {pool} | grep -q "^on.no$" || exit 0; sleep 0.2; done; exit 1'
    )
    return f"""# Managed by homelab: imports the ZFS pool that holds the containers' data.
[Unit]
Description=Import ZFS pool {pool}
DefaultDependencies=no
After=systemd-udev-settle.service zfs-import-cache.service
Before=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c '{zpool} list {pool} >/dev/null 2>&1 || exec {zpool} import {pool}'
ExecStart=/bin/sh -c '{mount_all}'
"""


def rearm_unit() -> ManagedFile:
    """Confirm-or-revert across a reboot: the push's revert timer is transient (systemd-run),
    so a power cut before the confirmation would drop it and leave an unconfirmed push (maybe
    the one that cut the way in) standing. At startup this arms it again for the time left
    (remote/revert.sh `boot`). `$$` is systemd's escape for the shell's `$`."""
    armed = "/etc/homelab/armed"
    start = (
        f'g=/etc/homelab/generations/$$(cut -f1 {armed}); exec /bin/sh "$$g/revert.sh" boot "$$g"'
    )
    return ManagedFile(
        path=f"/etc/systemd/system/{REARM_UNIT}",
        content=f"""# Managed by homelab: arms an unconfirmed push's revert again after a reboot.
[Unit]
Description=homelab: re-arm the revert of an unconfirmed push
ConditionPathExists={armed}
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c '{start}'

[Install]
WantedBy=multi-user.target
""",
    )


def autorebase_units(image: str) -> list[ManagedFile]:
    """uCore's documented two-step rebase: unverified first (no signing policy yet), then
    signed; each step disables itself and reboots."""
    steps = (
        ("unsigned", "!", f"ostree-unverified-registry:{image}", "unverified"),
        ("signed", "", f"ostree-image-signed:docker://{image}", "signed"),
    )
    return [
        ManagedFile(
            path=f"/etc/systemd/system/{unit}", content=_rebase_unit(kind, before, ref, marker)
        )
        for unit, (kind, before, ref, marker) in zip(AUTOREBASE_UNITS, steps, strict=True)
    ]


def _rebase_unit(kind: str, before: str, ref: str, marker: str) -> str:
    # The first step also makes the marker directory; `before` is "!" while it has not run.
    mkdir = "ExecStart=/usr/bin/mkdir -p /etc/ucore-autorebase/\n" if before else ""
    return f"""[Unit]
Description=uCore autorebase to {kind} OCI and reboot
ConditionPathExists={before}/etc/ucore-autorebase/unverified
ConditionPathExists=!/etc/ucore-autorebase/signed
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/usr/bin/rpm-ostree rebase --bypass-driver {ref}
{mkdir}ExecStart=/usr/bin/touch /etc/ucore-autorebase/{marker}
ExecStart=/usr/bin/systemctl disable ucore-{kind}-autorebase.service
ExecStart=/usr/bin/systemctl reboot

[Install]
WantedBy=multi-user.target
"""
