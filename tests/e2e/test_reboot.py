"""A reboot after every kind of change (issue 20; kola marks such tests "reboot").

One `pulumi up` adds a container (navidrome), rotates a secret (rustfs) and changes an image
(netdata's tag); then the simulated host is shut down cleanly and booted again. With no push,
every managed unit must come back active, in order: the pool import before the containers
whose data is on the pool, the secrets loaded (ExecStartPre) before each container that
needs them, with the rotated value; the host still matches the stack (no drift).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.e2e.mouse_stack import MouseStack, new_mouse_stack, stand_ins
from tests.e2e.registry import lock_pushed, push
from tests.e2e.simhost import SIM, SimHost

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

NEW_TAG = "v2.7.1-e2e-reboot"
POOL_UNIT = "zfs-import-tank.service"
ROTATED = "reboot-rotated-secret-5d1c"


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    st = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("reboot"))
    st.stack.up()
    yield st


def _show(host: SimHost, unit: str, *props: str) -> dict[str, str]:
    out = host.sh(f"systemctl show {unit} " + " ".join(f"-p {p}" for p in props))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _reboot(host: SimHost) -> None:
    """A clean shutdown of the machine, then a boot of the same root fs (scripts/sim-host)."""
    for step in ("down", "boot"):
        p = subprocess.run([str(SIM), step], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, (step, p.stdout, p.stderr)


def test_every_managed_unit_comes_back_in_order_after_a_reboot(ms: MouseStack) -> None:
    host = ms.host
    netdata = next(si for si in stand_ins() if si.container == "netdata")
    image = netdata.image.rsplit(":", 1)[0] + ":" + NEW_TAG
    # The new release from the test registry, locked (mouse runs locked images only).
    pushed = push(netdata.command(), image)
    lock_pushed(ms.project, pushed)
    ms.stack.set("homelab:containers.navidrome.enabled", "true")
    ms.set_secret("rustfsSecretKey", ROTATED)
    ms.stack.set("homelab:containers.netdata.image_tag", NEW_TAG)
    ms.stack.up()
    units = ms.units()
    assert "navidrome.service" in units
    gen = host.current_generation()
    init_start = host.sh("cut -d' ' -f22 /proc/1/stat")  # the machine's systemd: its start

    _reboot(host)

    deadline = time.monotonic() + 120
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {u: host.unit(u)["ActiveState"] for u in [POOL_UNIT, *units]}
        if all(s == "active" for s in states.values()):
            break
        time.sleep(1)
    assert all(s == "active" for s in states.values()), states
    # A new boot (a new systemd as PID 1), and no push since: the same generation, no
    # apply.sh run through sudo in this boot.
    assert int(host.sh("cut -d' ' -f22 /proc/1/stat")) > int(init_start)
    assert host.current_generation() == gen
    assert host.sh("journalctl -b _COMM=sudo --no-pager -o cat | grep -c apply.sh || true") == (
        "0\n"
    )
    # In order: the pool is imported before any container with data on it starts.
    pool = int(_show(host, POOL_UNIT, "ActiveEnterTimestampMonotonic")[
        "ActiveEnterTimestampMonotonic"])  # fmt: skip
    for u in units:
        started = int(_show(host, u, "ExecMainStartTimestampMonotonic")[
            "ExecMainStartTimestampMonotonic"])  # fmt: skip
        assert 0 < pool <= started, (u, pool, started)
    # The secrets were loaded before rustfs started (its ExecStartPre), with the new value.
    env = host.sh("podman exec rustfs sh -c 'echo \"$RUSTFS_SECRET_KEY\"'").strip()
    assert env == ROTATED
    # The new release's locked digest (Image=REF:TAG@DIGEST names it by digest).
    repo = image.rsplit(":", 1)[0]
    want = f"{repo}@{pushed[image]}"
    assert host.sh("podman inspect -f '{{.ImageName}}' netdata").strip() == want
    assert host.sh("podman ps --format '{{.Names}}' --filter name=navidrome").strip() == "navidrome"
    # The host still matches the stack.
    ms.stack.preview("--expect-no-changes")
    assert host.fresh_login() == "root"
