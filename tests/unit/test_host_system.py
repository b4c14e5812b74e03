"""The text of the units homelab adds to the host (homelab/host/system.py), as systemd reads
them: uCore's two-step rebase, and the pool import."""

from __future__ import annotations

from pathlib import Path

import yaml

from homelab.host.layout import layout_host
from homelab.host.stack import StackFiles, load_stack_config
from homelab.host.system import autorebase_units, rearm_unit, zfs_import_unit

REPO = Path(__file__).resolve().parents[2]

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


REARM = """# Managed by homelab: arms an unconfirmed push's revert again after a reboot.
[Unit]
Description=homelab: re-arm the revert of an unconfirmed push
ConditionPathExists=/etc/homelab/armed
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'g=/etc/homelab/generations/$$(cut -f1 /etc/homelab/armed); exec /bin/sh "$$g/revert.sh" boot "$$g"'

[Install]
WantedBy=multi-user.target
"""  # noqa: E501


def test_the_rearm_unit_escapes_the_shells_dollars_for_systemd():
    # systemd expands $g itself (to nothing) in ExecStart=; `$$` passes a `$` to the shell.
    f = rearm_unit()
    assert (f.path, f.content, f.mode) == (
        "/etc/systemd/system/homelab-rearm-revert.service",
        REARM,
        0o644,
    )


def _layout_paths(project: Path, stack: str) -> tuple[set[str], set[str]]:
    files = StackFiles(project)
    cfg = load_stack_config(stack, files[stack].values, project, files)
    fs = layout_host(cfg, project, files).fileset
    return {f.path for f in fs.files}, {ln.path for ln in fs.links}


UNIT = "/etc/systemd/system/homelab-rearm-revert.service"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
WANTS = "/etc/systemd/system/multi-user.target.wants/homelab-rearm-revert.service"


def test_a_pushed_host_with_confirm_or_revert_rearms_it_at_boot(tmp_path):
    files, links = _layout_paths(REPO, "mouse")
    assert UNIT in files and WANTS in links
    # vm-test inherits mouse's push settings but is never pushed to: no unit.
    files, links = _layout_paths(REPO, "vm-test")
    assert UNIT not in files and WANTS not in links


def test_no_rearm_unit_when_confirm_or_revert_is_off(tmp_path):
    (tmp_path / "containers").mkdir()
    ssh = {"host": "h.example", "user": "core", "private_key_path": "/k", "host_key": HOST_KEY}
    # The shortest wait, 1 s, is still a revert to re-arm.
    for push in ({"confirm": False}, {"confirm_timeout": 0}, {}, {"confirm_timeout": 1}):
        config = {
            "homelab:host": {"hostname": "h", "production": False, "zfs_pool": None},
            "homelab:ssh": ssh,
            "homelab:push": push,
        }
        (tmp_path / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": config}))
        files, links = _layout_paths(tmp_path, "t")
        on = push in ({}, {"confirm_timeout": 1})
        assert (UNIT in files, WANTS in links) == (on, on), push
