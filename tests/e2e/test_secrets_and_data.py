"""Secrets end to end and data that survives every operation, through the project's own
program (mouse-shaped stack, tests/e2e/mouse_stack.py) on the simulated host.

Real engine, real program, real command plugin and dynamic provider, real sshd/systemd/podman.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.e2e.mouse_stack import SECRETS, MouseStack, new_mouse_stack
from tests.e2e.simhost import SimHost, wait_http

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

CANARY = "canary-51d2e8-do-not-leak"
DATA = "/var/tank/services"


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    yield new_mouse_stack(
        mouse_host, tmp_path_factory.mktemp("secrets"), dict(SECRETS, rustfsSecretKey=CANARY)
    )


def test_canary_never_in_plain_text(ms: MouseStack) -> None:
    host, st = ms.host, ms.stack
    checked: dict[str, bool] = {}
    pre = st.preview()
    checked["engine output: preview --diff"] = CANARY in pre.stdout + pre.stderr
    up = st.up()
    checked["engine output: up"] = CANARY in up.stdout + up.stderr
    checked["pulumi stack export"] = CANARY in st.export()
    checked["pulumi stack output"] = CANARY in st.run("stack", "output", "--json").stdout
    checked["the stack file"] = CANARY in (ms.project / "Pulumi.e2e-mouse.yaml").read_text()
    # The one place it must be: the root 0600 env file the unit's secrets are loaded from.
    assert f"RUSTFS_SECRET_KEY={CANARY}" in host.sh("cat /etc/homelab/env/rustfs.env")
    quadlet = host.sh("cat /etc/containers/systemd/rustfs.container")
    checked["rendered Quadlet file"] = CANARY in quadlet
    checked["mouse's Ignition"] = CANARY in str(st.outputs(show_secrets=True)["ignition"])
    journal = host.sh(f"journalctl --no-pager -o cat | grep -c '{CANARY}' || true")
    checked["host journal"] = int(journal.strip() or 0) > 0
    # Every file on the host holding it must be root-only: root-owned, and unreadable by any
    # other user (checked as `nobody`, so parent directories count, as they do for a person).
    found = host.sh(
        f"grep -rlsF '{CANARY}' /etc /var /root /home /tmp /run 2>/dev/null | "
        "while read -r f; do stat -L -c '%a %U %n' \"$f\"; "
        'setpriv --reuid=nobody --regid=nogroup --clear-groups head -c1 "$f" '
        '>/dev/null 2>&1 && echo "READABLE $f"; done || true'
    )
    holders = [ln for ln in found.splitlines() if not ln.startswith("READABLE ")]
    bad = [ln for ln in found.splitlines() if ln.startswith("READABLE ")]
    bad += [ln for ln in holders if ln.split()[1] != "root"]
    checked["host files readable by a non-root user"] = bool(bad)
    leaks = [where for where, leaked in checked.items() if leaked]
    print(
        f"\ncanary: {len(checked)} kinds of location checked; {len(holders)} host files hold it, "
        f"all root-only unless listed ({'; '.join(holders)}); {len(leaks)} with a leak: "
        f"{leaks} {bad}"
    )
    assert holders, "the canary reached no host file: the check would prove nothing"
    assert leaks == [], (leaks, bad)


def test_rotation_restarts_only_the_units_using_it(ms: MouseStack) -> None:
    host = ms.host
    before = host.invocations("rustfs.service", "netdata.service")
    ms.set_secret("rustfsSecretKey", CANARY + "-rotated")
    ms.stack.up()
    after = host.invocations("rustfs.service", "netdata.service")
    assert f"RUSTFS_SECRET_KEY={CANARY}-rotated" in host.sh("cat /etc/homelab/env/rustfs.env")
    got = host.sh("podman exec rustfs sh -c 'echo $RUSTFS_SECRET_KEY'").strip()
    assert got == CANARY + "-rotated"
    assert after["rustfs.service"] != before["rustfs.service"]
    assert after["netdata.service"] == before["netdata.service"]


def test_data_survives_every_destructive_operation(ms: MouseStack) -> None:
    host, st = ms.host, ms.stack
    st.set("homelab:containers.navidrome.enabled", "true")
    st.up()
    assert wait_http(host, 4533).strip() == "homelab-sim"
    markers = {n: f"{DATA}/{n}/data/marker" for n in ("rustfs", "navidrome")}
    for n, m in markers.items():
        host.sh(f"echo 'precious {n}' > {m}")

    def lost() -> list[str]:
        return [m for m in markers.values() if host.sh(f"cat {m} 2>/dev/null || true") == ""]

    ops: list[tuple[str, list[str]]] = []
    # Rename: the same container under a new name (file and stack key), same data paths.
    src = ms.project / "containers" / "navidrome.container"
    shutil.copy(src, ms.project / "containers" / "music.container")
    st.set("homelab:containers.navidrome.enabled", "false")
    st.set("homelab:containers.music.data_owner", "1000:1000")
    st.up()
    assert host.unit("music.service")["ActiveState"] == "active"
    assert host.unit("navidrome.service")["ActiveState"] != "active"
    ops.append(("rename a container", lost()))

    st.set("homelab:containers.music.enabled", "false")  # remove it from the stack
    st.up()
    assert host.unit("music.service")["ActiveState"] != "active"
    ops.append(("remove a container from the stack", lost()))

    st.run("up", "--yes", "--skip-preview", "--replace", st.urn("pulumi-python:dynamic:Resource"))
    ops.append(("replace the host resource", lost()))

    st.run("destroy", "--yes", "--skip-preview")
    ops.append(("pulumi destroy", lost()))
    # destroy leaves the host running as it was (retain_on_delete): nothing stopped.
    assert host.unit("rustfs.service")["ActiveState"] == "active"

    lost_total = sorted({m for _, ls in ops for m in ls})
    print(f"\ndata: {len(ops)} destructive operations tried, {len(lost_total)} data files lost")
    assert lost_total == [], ops
