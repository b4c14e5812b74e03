"""First boot from each stack's Ignition, for real, and mouse's reinstall story end to end.

The real Ignition binary applies `build`'s .ign to a clean first-boot image (no `core` user,
no keys, no pool), which then boots under systemd-nspawn (scripts/sim-host firstboot). Every
assertion reads the host's own state: files, users, `systemctl`, what its containers answer.

Stacks are the real `Pulumi.mouse.yaml` / `Pulumi.vm-test.yaml` of a project copy, renamed
e2e-*, with only what pointing them at the test host needs: the test key as core's key, the
host's address and pinned key under `homelab:ssh`, and e2e-vm inheriting from e2e-mouse (and,
so the timezone check can fail, Europe/Berlin instead of UTC).

mouse: first boot leaves rustfs waiting for its secrets (they are not in mouse's Ignition),
`pulumi up` delivers them through the real engine and push, and a no-change preview is clean.
The pool is a real ZFS pool (zfs-fuse) from "before the reinstall" (data dirs and a file) on a
disk file outside the machine, which the zfs-import unit Ignition wrote imports at first boot.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import yaml

from homelab.fileset import file_contents
from homelab.host.layout import HostLayout
from homelab.host.system import CORE_KEYS_FILE
from homelab.tools import run_butane
from tests.e2e.firstboot import (
    STANDIN_BODY,
    STATE,
    FirstBootHost,
    Project,
    expected_state,
    firstboot_host,  # noqa: F401  (fixture)
    make_project,
    tcp_ports,
)

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

SECRET_KEYS = ("rustfsAccessKey", "rustfsSecretKey", "tailscaleAuthKey")
RUN = uuid.uuid4().hex[:12]
SECRETS = {k: f"fb-canary-{RUN}-{k}" for k in SECRET_KEYS}
MARKER = "written before the reinstall\n"
# The generation of the pushes before the reinstall: their datasets and snapshots carry it.
PREVIOUS_GEN = "20260101T000000Z-before00"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, firstboot_host: FirstBootHost) -> Project:  # noqa: F811
    return make_project(tmp_path_factory.mktemp("firstboot"), firstboot_host, SECRETS)


def _assert_login_and_identity(host: FirstBootHost, plan: HostLayout, tz_target: str) -> None:
    # The key Ignition gave core lets core in, and core has passwordless sudo (FCOS's groups).
    p = host.ssh_as("core", "id -un && sudo -n id -un && cat ~/.ssh/authorized_keys.d/ignition")
    assert p.returncode == 0, p.stderr
    user, root, keys = p.stdout.split("\n", 2)
    assert (user, root) == ("core", "root")
    assert keys.splitlines() == plan.config.host.ssh_authorized_keys
    groups = host.sh("id -Gn core").split()
    assert {"adm", "sudo", "systemd-journal", "wheel"} <= set(groups)
    assert host.sh("hostname").strip() == plan.config.host.hostname
    assert host.sh("readlink /etc/localtime").strip() == tz_target
    expected_tz = {"UTC": "UTC", "Europe/Berlin": "CET CEST"}[plan.config.host.timezone]
    assert host.sh("date +%Z").strip() in expected_tz.split()
    # Ignition really ran here (its result file) and this was systemd's first boot.
    assert host.sh("test -f /etc/.ignition-result.json && echo yes").strip() == "yes"
    assert host.states(["first-boot-complete.target"]) == {"first-boot-complete.target": "active"}


def _assert_labels(host: FirstBootHost, paths: list[str]) -> None:
    """Ignition's relabeling ran: each path it wrote carries an SELinux label (Debian's
    reference policy; nothing enforces it here)."""
    for p in paths:
        label = os.getxattr(str(host.root) + p, "security.selinux", follow_symlinks=False)
        assert b":object_r:" in label, (p, label)


# --------------------------------------------------------------------------- the stand-in


def test_first_boot_enables_units_through_ignitions_presets(
    tmp_path: Path,
    firstboot_host: FirstBootHost,  # noqa: F811
) -> None:
    """How FCOS enables units: Ignition only writes a preset; systemd's first boot applies it.
    (homelab's own configs enable nothing this way yet; this holds the stand-in to it.)"""
    unit = "homelab-preset-probe.service"
    ign = tmp_path / "probe.ign"
    ign.write_text(
        json.dumps(
            {
                "ignition": {"version": "3.4.0"},
                "systemd": {
                    "units": [
                        {
                            "name": unit,
                            "enabled": True,
                            "contents": "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                            "ExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
                        }
                    ]
                },
            }
        )
    )
    firstboot_host.boot(ign)
    assert firstboot_host.sh("cat /etc/systemd/system-preset/20-ignition.preset") == (
        f"enable {unit}\n"
    )
    assert firstboot_host.sh(f"systemctl is-enabled {unit}").strip() == "enabled"
    assert firstboot_host.states([unit]) == {unit: "active"}


def test_files_fcos_does_not_ship_are_written_without_overwrite(
    tmp_path: Path,
    firstboot_host: FirstBootHost,  # noqa: F811
) -> None:
    """Fedora's own docs write /etc/hostname (and /etc/vconsole.conf for a keymap) without
    `overwrite: true`: Ignition then refuses a path that exists, so it boots on FCOS only
    because FCOS's image has neither. The first-boot image must not have them either."""
    key = Path(firstboot_host.key_path + ".pub").read_text().strip()
    butane = {
        "variant": "fcos",
        "version": "1.5.0",
        "passwd": {"users": [{"name": "core", "ssh_authorized_keys": [key]}]},
        "storage": {
            "files": [
                {"path": "/etc/hostname", "mode": 0o644, "contents": {"inline": "fb-docs\n"}},
                {
                    "path": "/etc/vconsole.conf",
                    "mode": 0o644,
                    "contents": {"inline": "KEYMAP=de\n"},
                },
            ]
        },
    }
    ign = tmp_path / "docs.ign"
    ign.write_text(run_butane(yaml.safe_dump(butane)))
    # Ignition's files stage wrote both (it fails on an existing file); booting is the proof.
    firstboot_host.boot(ign)
    assert firstboot_host.sh("cat /etc/hostname") == "fb-docs\n"
    p = firstboot_host.ssh_as("core", "id -un")
    assert (p.returncode, p.stdout) == (0, "core\n"), p.stderr


# --------------------------------------------------------------------------- vm-test


def test_vm_test_ignition_boots_to_all_five_services(
    project: Project,
    firstboot_host: FirstBootHost,  # noqa: F811
) -> None:
    host = firstboot_host
    plan = project.plan("e2e-vm")
    fs = plan.fileset
    # vm-test's Ignition: all five containers, secrets inside.
    assert sorted(c.name for c in plan.containers) == [
        "navidrome", "netdata", "rustfs", "syncthing", "tailscale",
    ]  # fmt: skip
    host.boot(project.build("e2e-vm"))
    contents = file_contents(fs, SECRETS)
    rustfs_env = contents["/etc/homelab/env/rustfs.env"]
    assert f"RUSTFS_SECRET_KEY={SECRETS['rustfsSecretKey']}" in rustfs_env

    expected = expected_state(fs, contents)
    assert {f.path for f in fs.files if f.secret} <= set(expected)
    assert host.stat(sorted(expected)) == expected

    _assert_login_and_identity(host, plan, "../usr/share/zoneinfo/Europe/Berlin")
    units = list(fs.units)
    assert host.wait_active(units) == dict.fromkeys(units, "active")
    for service, ports in tcp_ports(plan).items():
        for port in ports:
            assert host.http(port).strip() == STANDIN_BODY, (service, port)
    # The generated services took their secrets from podman's store, loaded from the env file.
    assert "rustfs-RUSTFS_SECRET_KEY" in host.sh("podman secret ls --format '{{.Name}}'")
    # Where the values are on the host: the env files among others, none readable by core.
    holding = host.files_holding(list(SECRETS.values()))
    assert {"/etc/homelab/env/rustfs.env", "/etc/homelab/env/tailscale.env"} <= set(holding)
    assert [f for f, readable in holding.items() if readable] == []
    _assert_labels(host, [f.path for f in fs.files if f.path != CORE_KEYS_FILE])


# --------------------------------------------------------------------------- mouse


@pytest.fixture(scope="module")
def mouse_booted(project: Project, firstboot_host: FirstBootHost) -> dict:  # noqa: F811
    """mouse's Ignition (from `build`) on a clean host, its pool from before the reinstall."""
    plan = project.plan("e2e-mouse")
    pool = project.previous_pool(
        firstboot_host, plan, {"services/rustfs/data/previous-life.txt": MARKER}, PREVIOUS_GEN
    )
    ign = project.build("e2e-mouse")
    firstboot_host.boot(ign, pool=pool)
    return {"plan": plan, "ign": ign, "pool": pool}


def test_mouse_ignition_writes_the_file_set_without_secrets(
    project: Project,
    firstboot_host: FirstBootHost,  # noqa: F811
    mouse_booted: dict,
) -> None:
    host = firstboot_host
    plan: HostLayout = mouse_booted["plan"]
    fs = plan.fileset
    contents = file_contents(fs)
    expected = expected_state(fs, contents)
    assert "/etc/systemd/system/zfs-import-tank.service" in expected
    assert host.stat(sorted(expected)) == expected
    # No secret file, and no secret value anywhere on the host.
    secret_files = [f.path for f in fs.files if f.secret]
    assert secret_files == ["/etc/homelab/env/rustfs.env"]
    assert host.stat(secret_files) == {p: ("missing",) for p in secret_files}
    ign_text = mouse_booted["ign"].read_text()
    assert not [v for v in SECRETS.values() if v in ign_text]
    assert host.files_holding(list(SECRETS.values())) == {}
    # Ignition created nothing under the volume root: on the root fs below the pool's
    # mountpoint there is nothing at all (the pool itself is bound over it).
    tank = host.root / "var" / "tank"
    assert not tank.exists() or list(tank.iterdir()) == []
    assert "/var/tank" not in (STATE / "ignition.log").read_text()
    _assert_login_and_identity(host, plan, "../usr/share/zoneinfo/UTC")
    _assert_labels(host, [f.path for f in fs.files if f.in_ignition and f.path != CORE_KEYS_FILE])


def test_mouse_containers_that_need_secrets_wait_and_say_why(
    firstboot_host: FirstBootHost,  # noqa: F811
    mouse_booted: dict,
) -> None:
    host = firstboot_host
    plan: HostLayout = mouse_booted["plan"]
    needs = {c.service for c in plan.containers if c.secrets}
    free = [c.service for c in plan.containers if not c.secrets]
    assert needs == {"rustfs.service"} and free == ["netdata.service"]
    # The zfs-import unit from Ignition imported the real pool (zfs-fuse) with its own commands.
    assert host.states(["zfs-import-tank.service"]) == {"zfs-import-tank.service": "active"}
    assert host.wait_active(free) == dict.fromkeys(free, "active")
    assert host.http(19999).strip() == STANDIN_BODY
    state = host.sh("systemctl show -p ActiveState -p SubState -p NRestarts rustfs.service")
    assert "ActiveState=active" not in state, state
    journal = host.sh("journalctl -b -u rustfs.service -o cat --no-pager")
    assert (
        "homelab: rustfs waits for its secrets: /etc/homelab/env/rustfs.env is not here yet"
        in journal
    ), journal
    # It keeps retrying (Restart=on-failure) rather than giving up.
    assert "start-limit-hit" not in journal


def test_mouse_push_delivers_the_secrets_and_preview_is_clean(
    project: Project,
    firstboot_host: FirstBootHost,  # noqa: F811
    mouse_booted: dict,
) -> None:
    host = firstboot_host
    plan: HostLayout = mouse_booted["plan"]
    st = project.stacks["e2e-mouse"]
    st.run("up", "--yes", "--skip-preview", timeout=900)

    # The engine's Ignition is byte for byte the one the host was built from.
    out = st.outputs(show_secrets=True)
    assert out["ignition"] == mouse_booted["ign"].read_text()

    units = list(plan.fileset.units)
    assert host.wait_active(units) == dict.fromkeys(units, "active")
    for port in (9000, 9001, 19999):
        assert host.http(port).strip() == STANDIN_BODY, port
    env = host.sh(
        "stat -L -c %a:%u:%g /etc/homelab/env/rustfs.env; cat /etc/homelab/env/rustfs.env"
    )
    assert env.splitlines()[0] == "600:0:0"
    assert f"RUSTFS_SECRET_KEY={SECRETS['rustfsSecretKey']}" in env
    # The pool's data from before the reinstall is untouched: the same dataset (created
    # before), its snapshot from then, and a new one taken before rustfs started now.
    assert host.sh("cat /var/tank/services/rustfs/data/previous-life.txt") == MARKER
    ds = "tank/services/rustfs"
    assert host.sh(f"zfs get -H -o value,source homelab:created {ds}") == f"{PREVIOUS_GEN}\tlocal\n"
    snaps = host.sh(f"zfs list -H -t snapshot -o name -s creation -r {ds}").split()
    gen = host.sh("basename $(readlink /etc/homelab/current)").strip()
    assert snaps == [f"{ds}@homelab-{PREVIOUS_GEN}", f"{ds}@homelab-{gen}"], snaps
    # A no-change preview: 0 changes, no drift.
    p = st.run("preview", "--diff", "--expect-no-changes", timeout=600)
    assert "drifted" not in p.stdout + p.stderr, p.stdout
    assert json.loads(st.run("stack", "output", "drift", "--json").stdout) == {}
