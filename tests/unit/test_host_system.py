"""The text of the units homelab adds to the host (homelab/host/system.py), as systemd reads
them: uCore's two-step rebase, and the pool import."""

from __future__ import annotations

from homelab.host.system import autorebase_units, zfs_import_unit

UNSIGNED = """[Unit]
Description=uCore autorebase to unsigned OCI and reboot
ConditionPathExists=!/etc/ucore-autorebase/unverified
ConditionPathExists=!/etc/ucore-autorebase/signed
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/usr/bin/rpm-ostree rebase --bypass-driver ostree-unverified-registry:r.example/ucore:1
ExecStart=/usr/bin/mkdir -p /etc/ucore-autorebase/
ExecStart=/usr/bin/touch /etc/ucore-autorebase/unverified
ExecStart=/usr/bin/systemctl disable ucore-unsigned-autorebase.service
ExecStart=/usr/bin/systemctl reboot

[Install]
WantedBy=multi-user.target
"""

# The second step runs once the first left its marker, and makes no directory.
SIGNED = """[Unit]
Description=uCore autorebase to signed OCI and reboot
ConditionPathExists=/etc/ucore-autorebase/unverified
ConditionPathExists=!/etc/ucore-autorebase/signed
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/usr/bin/rpm-ostree rebase --bypass-driver ostree-image-signed:docker://r.example/ucore:1
ExecStart=/usr/bin/touch /etc/ucore-autorebase/signed
ExecStart=/usr/bin/systemctl disable ucore-signed-autorebase.service
ExecStart=/usr/bin/systemctl reboot

[Install]
WantedBy=multi-user.target
"""


def test_the_rebase_is_two_units_each_disabling_itself() -> None:
    units = autorebase_units("r.example/ucore:1")
    got = [(f.path, f.content, f.mode, f.uid, f.gid, f.in_ignition, f.units) for f in units]
    assert got == [
        ("/etc/systemd/system/ucore-unsigned-autorebase.service", UNSIGNED, 0o644, 0, 0, True, ()),
        ("/etc/systemd/system/ucore-signed-autorebase.service", SIGNED, 0o644, 0, 0, True, ()),
    ]


def test_the_pool_import_imports_only_a_missing_pool() -> None:
    assert zfs_import_unit("tank") == (
        "# Managed by homelab: imports the ZFS pool that holds the containers' data.\n"
        "[Unit]\n"
        "Description=Import ZFS pool tank\n"
        "DefaultDependencies=no\n"
        "After=systemd-udev-settle.service zfs-import-cache.service\n"
        "Before=local-fs.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        "ExecStart=/bin/sh -c '/usr/sbin/zpool list tank >/dev/null 2>&1 || exec /usr/sbin/zpool "
        "import tank'\n"
        "ExecStart=/bin/sh -c 'for i in $(seq 50); do /usr/sbin/zfs mount -a; /usr/sbin/zfs list "
        '-H -o canmount,mounted -r tank | grep -q "^on.no$" || exit 0; sleep 0.2; done; exit 1\'\n'
    )
