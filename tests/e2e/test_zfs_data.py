"""Data with config, on a real ZFS pool: the simulated host's pool `tank` is zfs-fuse's (Debian
bookworm, pool version 23; scripts/sim-host), and everything runs through the project's own
program: `pulumi up/preview/destroy` and `homelab rollback|snapshots` from the project folder.

The stand-in `schemer` keeps a schema file in its data: v1 writes "schema v1" when there is
none, v2 migrates a v1 one (rewrites it and appends a row), v3 migrates and then crashes. Its data
is its own dataset `tank/services/schemer` (stack: `dataset:`). Every assertion reads the
host: `zfs list`, file hashes under the mountpoint, `systemctl`, the image of the container.
Tests run in order on one stack (each builds on the last generation)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.mouse_stack import STACK, MouseStack, new_mouse_stack
from tests.e2e.pulumi_cli import REPO
from tests.e2e.registry import lock_pushed, push
from tests.e2e.simhost import SimHost

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

DS = "tank/services/schemer"
MP = "/var/tank/services/schemer"
DATA = f"{MP}/data"
IMAGE = "docker.io/library/schemer"
UNIT = "schemer.service"
FOREVER = "while :; do sleep 3600; done"
STANDINS = {
    "v1": f"sh -c '[ -f /data/schema ] || echo \"schema v1\" >/data/schema; {FOREVER}'",
    # Migrates a v1 schema (once: a restart on v2 data changes nothing).
    "v2": 'sh -c \'read -r s </data/schema; if [ "$s" = "schema v1" ]; then '
    f'echo "schema v2 (migrated)" >/data/schema; echo row >>/data/rows; fi; {FOREVER}\'',
    "v3": "sh -c 'echo \"schema v3 (migrated)\" >/data/schema; sleep 1; exit 3'",
}
CONTAINER = f"""[Unit]
Description=stand-in that keeps a schema in its data
After=zfs-import-tank.service
Requires=zfs-import-tank.service

[Container]
Image={IMAGE}:v1
ContainerName=schemer
Volume={DATA}:/data:Z

[Service]
Restart=on-failure
RestartSec=1s

[Install]
WantedBy=multi-user.target
"""


DIGESTS: dict[str, str] = {}  # IMAGE:TAG -> the registry's digest


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    # Stand-ins from the test registry, locked (mouse runs locked images only): the lock of
    # the copy gets their entries, the registry's own digests as the push reported them.
    for tag, cmd in STANDINS.items():
        DIGESTS.update(push(cmd, f"{IMAGE}:{tag}"))
    ms = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("zfs"))
    lock_pushed(ms.project, DIGESTS)
    ms.stack.up()  # mouse as it is; schemer comes in test 1 (a first preview knows nothing)
    yield ms


def homelab(ms: MouseStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "homelab"), *args],
        cwd=ms.project,
        env=ms.stack.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def data(host: SimHost) -> dict[str, str]:
    """File -> sha256 of everything in schemer's data directory."""
    out = host.sh(f"cd {DATA} && find . -type f | sort | xargs -r sha256sum")
    return {ln.split()[1]: ln.split()[0] for ln in out.splitlines()}


def snapshots(host: SimHost, ds: str = DS) -> list[str]:
    out = host.sh(f"zfs list -H -t snapshot -o name -s creation -r {ds}")
    return [s.split("@", 1)[1] for s in out.split() if s.startswith(ds + "@")]


def image(host: SimHost) -> str:
    return host.sh("podman inspect -f '{{.ImageName}}' schemer").strip()


def wait_schema(host: SimHost, text: str) -> None:
    host.sh(f"for i in $(seq 1 100); do grep -qx '{text}' {DATA}/schema 2>/dev/null && exit 0; "
            f"sleep 0.2; done; cat {DATA}/schema; exit 1")  # fmt: skip


def test_1_up_creates_the_datasets_shown_in_preview(ms: MouseStack) -> None:
    host = ms.host
    (ms.project / "containers" / "schemer.container").write_text(CONTAINER)
    ms.stack.set("homelab:containers.schemer.dataset.compression", "on")
    ms.stack.set("homelab:containers.schemer.image_tag", "v1")
    plan = ms.stack.preview().stdout
    assert f"create {DS} at {MP} (compression=on)" in plan, plan
    ms.stack.up()
    gen = host.current_generation()
    out = host.sh(
        f"zfs get -H -o name,property,value,source mountpoint,compression,homelab:created {DS}"
    )
    rows = {ln.split("\t")[1]: ln.split("\t")[2:] for ln in out.splitlines()}
    assert rows == {
        "mountpoint": [MP, "local"],
        "compression": ["on", "local"],
        "homelab:created": [gen, "local"],
    }
    assert host.sh(f"zfs get -H -o value mounted {DS}").strip() == "yes"
    wait_schema(host, "schema v1")
    # It started: its dataset was snapshotted first, in this generation's name, which
    # records it. (rustfs's dataset too: it may exist already, from an earlier stack.)
    assert snapshots(host) == [f"homelab-{gen}"]
    assert host.sh("zfs get -H -o value mountpoint tank/services/rustfs").strip() == (
        "/var/tank/services/rustfs"
    )
    recorded = host.sh(f"cat /etc/homelab/generations/{gen}/snapshots")
    assert f"{DS}@homelab-{gen}\t{UNIT}\n" in recorded, recorded


def test_2_upgrade_then_rollback_with_data_restores_the_bytes(ms: MouseStack) -> None:
    host = ms.host
    host.sh(f"echo 'a user row' >{DATA}/user.db")
    before, rustfs_before = data(host), snapshots(host, "tank/services/rustfs")
    ms.stack.set("homelab:containers.schemer.image_tag", "v2")
    plan = ms.stack.preview().stdout
    assert f"snapshot {DS}@homelab-<new generation> before {UNIT} restarts" in plan, plan
    ms.stack.up()
    upgraded = host.current_generation()
    wait_schema(host, "schema v2 (migrated)")
    assert data(host) != before
    # Only the unit that restarted got a snapshot.
    assert snapshots(host)[-1] == f"homelab-{upgraded}"
    assert snapshots(host, "tank/services/rustfs") == rustfs_before
    listed = homelab(ms, "snapshots", STACK)
    assert listed.returncode == 0, listed.stderr
    assert any(ln.split()[:3] == [DS, upgraded, UNIT] for ln in listed.stdout.splitlines())

    p = homelab(ms, "rollback", STACK, "--with-data")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"data: rolled back {DS} to {DS}@homelab-{upgraded}" in p.stdout, p.stdout
    assert data(host) == before
    assert host.sh(f"cat {DATA}/schema") == "schema v1\n"
    assert image(host) == f"{IMAGE}@{DIGESTS[IMAGE + ':v1']}"
    assert host.unit(UNIT)["ActiveState"] == "active"


def test_3_failed_upgrade_returns_with_the_old_data(ms: MouseStack) -> None:
    host = ms.host
    ms.stack.set("homelab:containers.schemer.image_tag", "v2")
    ms.stack.up()  # back on v2, then its data is the "before" of the next upgrade
    wait_schema(host, "schema v2 (migrated)")
    live, before = host.current_generation(), data(host)
    ms.stack.set("homelab:containers.schemer.image_tag", "v3")
    p = ms.stack.up(check=False)
    assert p.returncode != 0
    assert f"rolled back, host back on {live}" in p.stdout + p.stderr
    assert host.current_generation() == live
    # v3 migrated the data, then failed its health gate: the data went back with the config.
    assert data(host) == before
    assert image(host) == f"{IMAGE}@{DIGESTS[IMAGE + ':v2']}"
    ms.stack.set("homelab:containers.schemer.image_tag", "v2")


def test_4_a_user_snapshot_newer_than_the_target_refuses(ms: MouseStack) -> None:
    host = ms.host
    host.sh(f"zfs snapshot {DS}@mine")
    gen, snaps, before = host.current_generation(), snapshots(host), data(host)
    p = homelab(ms, "rollback", STACK, "--with-data")
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"{DS}@mine" in p.stderr and "--force-data" in p.stderr, p.stderr
    assert (host.current_generation(), snapshots(host), data(host)) == (gen, snaps, before)
    assert host.unit(UNIT)["ActiveState"] == "active"


def test_5_retention_keeps_the_newest_homelab_snapshots_only(ms: MouseStack) -> None:
    host = ms.host
    ms.stack.set("homelab:push.snapshots_keep", "3")
    for i in range(5):
        ms.stack.set("homelab:containers.schemer.environment.ROUND", f"r{i}")
        ms.stack.up()
    snaps = snapshots(host)
    ours = [s for s in snaps if s.startswith("homelab-")]
    assert len(ours) == 3 and ours[-1] == f"homelab-{host.current_generation()}", snaps
    assert "mine" in snaps  # never touched


def test_6_removing_the_container_and_destroy_leave_every_dataset(ms: MouseStack) -> None:
    host = ms.host
    before = host.sh("zfs list -H -t all -o name -r tank")
    ms.stack.set("homelab:containers.schemer.enabled", "false")
    ms.stack.up()
    assert host.unit(UNIT)["ActiveState"] != "active"
    assert host.sh("zfs list -H -t all -o name -r tank") == before
    ms.stack.run("destroy", "--yes")
    assert host.sh("zfs list -H -t all -o name -r tank") == before
