"""`pulumi up -s mouse` through the project's own program, against the simulated host.

Real parts only: the pulumi engine with the program's `__main__.py`, the command plugin
(butane for Ignition), the python dynamic provider, OpenSSH, and the simulated production host
(systemd + sshd + podman 5.4 Quadlet, scripts/sim-host). The stack is the real
`Pulumi.mouse.yaml` with only `homelab:ssh` pointed at the sim host (tests/e2e/mouse_stack.py).
Every scenario asserts on the host's own state. They run in order against one stack; each
builds on the previous state.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab import push
from homelab.fileset import ManagedFile
from homelab.host.images import ImageLock
from tests.e2e.mouse_stack import (
    CRASH_IMAGE,
    MouseStack,
    new_mouse_stack,
    stand_ins,
)
from tests.e2e.simhost import SimHost, wait_http

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

UNITS = ("netdata.service", "rustfs.service")
PORTS = {si.container: si.tcp_ports for si in stand_ins()}


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    ms = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("mouse-push"))
    # A value no other module sets: the first `up` is a change whatever the shared host ran
    # before (the same content again would arm no confirmation, which test_1 counts).
    ms.stack.set("homelab:containers.netdata.memory_max", "1357M")
    yield ms


def cold(ms: MouseStack) -> None:
    # Close the shared SSH connection a previous command left, so counts start from zero.
    push.close_shared(push.Connection(**ms.host.connection()))


def ssh_use(ms: MouseStack, fn) -> tuple[int, dict[str, int]]:  # type: ignore[no-untyped-def]
    """(SSH connections, sudo commands by kind) that `fn` cost on the host."""
    cold(ms)
    before = ms.host.sudo_commands()
    conns = ms.host.connections_during(fn)
    after = ms.host.sudo_commands()
    return conns, {k: after[k] - before[k] for k in after}


def names(text: str, path: str, why: str) -> bool:
    """The engine's diff shows the drift as `+ PATH : "WHY..."` (one line per item)."""
    return re.search(rf'\+ {re.escape(path)}\s*: "{re.escape(why)}', text) is not None


def answers(host: SimHost, container: str) -> None:
    for port in PORTS[container]:
        assert wait_http(host, port).strip() == "homelab-sim", (container, port)


def test_1_first_up_brings_the_host_to_the_plan(ms: MouseStack) -> None:
    host = ms.host
    assert ms.units() == list(UNITS)
    before = host.invocations(*UNITS)
    conns, cmds = ssh_use(ms, ms.stack.up)
    # `up --yes` = preview + update: two reads and one push, over one shared connection, and
    # the confirmation over a new one (confirm-or-revert).
    assert conns == 2 and cmds == {"read": 2, "apply": 1, "confirm": 1}, (conns, cmds)
    for u in UNITS:
        assert host.unit(u)["ActiveState"] == "active", u
    answers(host, "rustfs")
    answers(host, "netdata")
    paths = ms.managed_paths()
    assert host.tree(paths) == ms.expected_tree(paths)
    out = ms.stack.outputs()
    assert out["generation"] == host.current_generation()
    assert out["drift"] == {}
    # What `up` did, in its closing outputs: exactly the units it (re)started on the host (all
    # of them on a new host; an earlier module may have left some running unchanged).
    last = out["last_push"]
    assert last["generation"] == host.current_generation()
    acted = sorted(f"{last.get('restarted', '')} {last.get('started', '')}".split())
    after = host.invocations(*UNITS)
    assert acted == [u for u in UNITS if after[u] != before.get(u)], (last, before, after)
    # The secret env file: root 0600; the container got its values as podman secrets.
    assert host.stat("/etc/homelab/env/rustfs.env") == "600:0:0"
    got = host.sh("podman exec rustfs sh -c 'echo $RUSTFS_ACCESS_KEY:$RUSTFS_SECRET_KEY'")
    assert got.strip() == f"{ms.secrets['rustfsAccessKey']}:{ms.secrets['rustfsSecretKey']}"
    assert host.stat("/var/tank/services/rustfs/data") == "750:10001:10001"
    assert host.sh("readlink /etc/localtime").strip() == "../usr/share/zoneinfo/UTC"
    assert host.sh("cat /etc/hostname") == "mouse\n"
    exported = ms.stack.export()
    assert all(v not in exported for v in ms.secrets.values())


def test_2_no_change_up_reads_once_and_touches_nothing(ms: MouseStack) -> None:
    host = ms.host
    gen = host.current_generation()
    units = {u: host.unit(u) for u in UNITS}
    host.sh("touch /run/homelab-marker && sleep 1.1")
    conns, cmds = ssh_use(ms, lambda: ms.stack.up("--expect-no-changes"))
    assert conns == 1 and cmds == {"read": 2, "apply": 0, "confirm": 0}, (conns, cmds)
    written = host.sh(
        "find /etc/homelab /etc/containers/systemd /var/tank/services -newer /run/homelab-marker"
    )
    assert written.strip() == "", f"files written by a no-change up:\n{written}"
    assert host.current_generation() == gen
    for u in UNITS:
        now = host.unit(u)
        assert (now["InvocationID"], now["NRestarts"]) == (
            units[u]["InvocationID"],
            units[u]["NRestarts"],
        ), u


def test_3_ten_previews_on_a_clean_host_report_no_drift(ms: MouseStack) -> None:
    # Ten in a row: a drift check that depends on timing (a unit's state, a clock) shows.
    for _ in range(10):
        p = ms.stack.preview("--expect-no-changes")
        assert "drifted item" not in p.stdout + p.stderr


def test_4_one_changed_container_restarts_only_it(ms: MouseStack) -> None:
    host = ms.host
    before = host.invocations(*UNITS)
    ms.stack.set("homelab:containers.netdata.memory_max", "1536M")
    conns, cmds = ssh_use(ms, ms.stack.up)
    assert conns == 2 and cmds == {"read": 2, "apply": 1, "confirm": 1}, (conns, cmds)
    after = host.invocations(*UNITS)
    assert after["netdata.service"] != before["netdata.service"]
    assert after["rustfs.service"] == before["rustfs.service"]
    assert host.unit("netdata.service")["MemoryMax"] == str(1536 * 1024 * 1024)
    assert "MemoryMax=1536M" in host.sh("cat /etc/containers/systemd/netdata.container")
    answers(host, "netdata")


def test_5_drift_is_shown_by_preview_and_refresh_and_healed_by_up(ms: MouseStack) -> None:
    host = ms.host
    inv = host.invocations(*UNITS)
    host.sh(
        "echo '# edited by hand' >> /etc/containers/systemd/rustfs.container && "
        "chmod 0666 /etc/homelab/env/rustfs.env && "
        "rm /etc/hostname && "
        "printf '[Container]\\nImage=docker.io/library/stray:1\\n' "
        "> /etc/containers/systemd/stray.container"
    )
    expected = {
        "/etc/containers/systemd/rustfs.container": "content differs",
        "/etc/homelab/env/rustfs.env": "mode 0666, pushed 0600",
        "/etc/hostname": "missing",
        "/etc/containers/systemd/stray.container": "unmanaged Quadlet file",
    }
    p = ms.stack.preview(check=False)
    text = p.stdout + p.stderr
    for path, why in expected.items():
        assert names(text, path, why), f"{path} ({why}) not in the preview:\n{text}"
    assert ms.stack.preview("--expect-no-changes", check=False).returncode != 0

    # `pulumi refresh` reads the host the same way (the provider's read) and records the drift
    # in the state; it changes nothing on the host.
    gen = host.current_generation()
    r = ms.stack.run("refresh", "--yes", "--diff")
    rtext = r.stdout + r.stderr
    for path, why in expected.items():
        assert names(rtext, path, why), f"{path} ({why}) not in the refresh:\n{rtext}"
    assert host.current_generation() == gen
    assert host.stat("/etc/homelab/env/rustfs.env") == "666:0:0"

    ms.stack.up()
    ms.stack.preview("--expect-no-changes")
    after = host.invocations(*UNITS)
    # The unit file's content changed, so rustfs restarts; a mode alone restarts nothing.
    assert after["rustfs.service"] != inv["rustfs.service"]
    assert after["netdata.service"] == inv["netdata.service"]
    assert host.stat("/etc/homelab/env/rustfs.env") == "600:0:0"
    assert host.sh("cat /etc/hostname") == "mouse\n"
    assert host.sh("ls /etc/containers/systemd").split() == [
        "netdata.container",
        "rustfs.container",
        "users",
    ]
    paths = ms.managed_paths()
    assert host.tree(paths) == ms.expected_tree(paths)
    answers(host, "rustfs")


def test_6_a_crashing_release_is_rolled_back(ms: MouseStack) -> None:
    host = ms.host
    gen = host.current_generation()
    paths = ms.managed_paths()
    good = host.tree(paths)
    rustfs = host.unit("rustfs.service")["InvocationID"]
    ms.stack.set("homelab:containers.netdata.image_tag", CRASH_IMAGE.rsplit(":", 1)[1])
    ms.lock_images()
    p = ms.stack.up(check=False)
    text = p.stdout + p.stderr
    assert p.returncode != 0
    assert "netdata.service did not stay active" in text, text
    assert "rolled back" in text
    assert "crashing on purpose" in text, f"journal tail missing:\n{text}"
    assert host.current_generation() == gen
    assert host.tree(paths) == good
    assert host.sh("ls /etc/homelab/generations").count(".failed") >= 1
    # The old release runs again; the other container was never touched.
    assert wait_http(host, PORTS["netdata"][0]).strip() == "homelab-sim"
    image = host.sh("podman inspect netdata --format '{{.ImageName}}'").strip()
    # podman names an image pulled as NAME:TAG@DIGEST by NAME@DIGEST: the locked one.
    locked = ImageLock.parse((ms.project / "images.lock").read_text())
    want = locked.entries["docker.io/netdata/netdata:v2.7.1"].digest
    assert image == f"docker.io/netdata/netdata@{want}", image
    assert host.unit("rustfs.service")["InvocationID"] == rustfs
    # One homelab message, no Python traceback (the dynamic provider's is kept out).
    assert "Traceback" not in text and 'File "' not in text, text
    # Back to the good release: the failed up recorded nothing (the Ignition waits for the
    # push), so the state matches the host: no change at all, and the up pushes nothing.
    ms.stack.rm("homelab:containers.netdata.image_tag")
    ms.lock_images()
    ms.stack.preview("--expect-no-changes")
    _conns, cmds = ssh_use(ms, ms.stack.up)
    assert cmds["apply"] == 0 and host.current_generation() == gen
    ms.stack.preview("--expect-no-changes")


@pytest.mark.parametrize("point", ["staged", "before-switch", "after-switch", "after-reload"])
def test_7_killed_push_leaves_old_or_new(ms: MouseStack, point: str) -> None:
    host = ms.host
    old_plan = ms.plan()
    navidrome = any(c.name == "navidrome" for c in old_plan.containers)
    # The new generation restarts netdata, and adds or removes a whole container (navidrome).
    memory = f"{1500 + ['staged', 'before-switch', 'after-switch', 'after-reload'].index(point)}M"
    ms.stack.set("homelab:containers.netdata.memory_max", memory)
    ms.stack.set("homelab:containers.navidrome.enabled", "false" if navidrome else "true")
    new_plan = ms.plan()
    paths = ms.managed_paths(old_plan, new_plan)
    old = ms.expected_tree(paths, old_plan)
    new = ms.expected_tree(paths, new_plan)
    assert old != new and host.tree(paths) == old
    inv = host.unit("netdata.service")["InvocationID"]
    host.sh(f"mkdir -p /etc/homelab-sim && echo {point} > /etc/homelab-sim/kill-at")
    p = ms.stack.up(check=False)
    assert p.returncode != 0, f"the push was not killed at {point}"
    assert host.sh("test -e /etc/homelab-sim/kill-at || echo fired").strip() == "fired"
    tree = host.tree(paths)
    want = new if point in ("after-switch", "after-reload") else old
    assert tree == want, f"killed at {point}: the managed tree is not the expected state"
    # The next up completes the job, including restarts the killed one never did.
    ms.stack.up()
    assert host.tree(paths) == new
    assert host.unit("netdata.service")["InvocationID"] != inv
    answers(host, "netdata")
    state = host.unit("navidrome.service")["ActiveState"]
    if navidrome:
        assert state in ("inactive", "failed") and not host.sh(
            "ls /etc/containers/systemd/navidrome.container 2>/dev/null || true"
        ), state
    else:
        assert state == "active", state
        answers(host, "navidrome")
    ms.stack.preview("--expect-no-changes")


def test_7b_killed_during_transfer_leaves_old(ms: MouseStack) -> None:
    # A push killed mid-transfer is a truncated tar on the host's stdin; send exactly that
    # through the real remote command.
    host = ms.host
    conn = push.Connection(**host.connection())
    ms.stack.set("homelab:containers.netdata.memory_max", "1400M")
    fs = ms.plan().fileset
    paths = ms.managed_paths()
    cur = host.tree(paths)
    data = push.build_tar(
        push.Desired.of(fs), push.plain_contents(fs), push.secret_contents(fs, ms.secrets),
        "20990101T000000Z-deadbeef", 10, 1,
    )  # fmt: skip
    rc, out, _ = push.run_ssh(conn, push.APPLY_COMMAND, data[: len(data) // 2], 60)
    assert rc != 0 and "HOMELAB-OK" not in out
    assert host.tree(paths) == cur
    assert "20990101T000000Z-deadbeef" not in host.sh("ls /etc/homelab/generations")
    ms.stack.up()
    assert "MemoryMax=1400M" in host.sh("cat /etc/containers/systemd/netdata.container")


def test_7c_the_hosts_quadlet_generator_rejects_a_bad_unit(ms: MouseStack) -> None:
    # The program checks units with quadlet before anything is registered, so this pushes a
    # plan with a broken unit directly, to show the host's own generator is the last gate.
    host = ms.host
    conn = push.Connection(**host.connection())
    fs = ms.plan().fileset
    broken = ManagedFile(
        path="/etc/containers/systemd/broken.container",
        content="[Container]\nExec=/bin/true\n",
        units=("broken.service",),
    )
    fs = fs.model_copy(
        update={"files": (*fs.files, broken), "units": (*fs.units, "broken.service")}
    )
    paths = ms.managed_paths()
    gen, cur = host.current_generation(), host.tree(paths)
    with pytest.raises(push.PushError) as e:
        push.apply(
            conn, push.Desired.of(fs), push.plain_contents(fs),
            push.secret_contents(fs, ms.secrets), 20, 1,
        )  # fmt: skip
    assert "quadlet rejected the new units" in str(e.value)
    assert "no Image or Rootfs key specified" in str(e.value)
    assert host.current_generation() == gen
    assert host.tree(paths) == cur
    assert "broken.container" not in host.sh("ls /etc/containers/systemd")
    ms.stack.preview("--expect-no-changes")


def test_8_wrong_host_key_is_refused_before_login(ms: MouseStack, tmp_path: Path) -> None:
    host = ms.host
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    wrong = " ".join((tmp_path / "k.pub").read_text().split()[:2])
    gen = host.current_generation()
    ms.stack.set("homelab:ssh.host_key", wrong)
    try:
        ms.stack.set("homelab:containers.netdata.memory_max", "1300M")
        cold(ms)
        results = []
        conns = host.connections_during(lambda: results.append(ms.stack.up(check=False)))
        assert results[0].returncode != 0
        text = results[0].stdout + results[0].stderr
        assert "presented a host key other than the pinned" in text, text
        assert "Traceback" not in text, text
        assert conns == 0, "the push reached the host"
        assert host.current_generation() == gen
    finally:
        ms.stack.set("homelab:ssh.host_key", host.host_key)
    ms.stack.up()  # 1300M with the right key
    assert "MemoryMax=1300M" in host.sh("cat /etc/containers/systemd/netdata.container")


def test_9_root_user_without_sudo(ms: MouseStack) -> None:
    host = ms.host
    ms.stack.set("homelab:ssh.user", "root")
    try:
        # The connection setting changed: an update, but no drift and nothing to restart.
        assert ms.stack.preview("--expect-no-changes", check=False).returncode != 0
        inv = host.invocations(*UNITS)
        before = host.sudo_commands()
        ms.stack.up()
        assert host.sudo_commands() == before  # root needs no sudo
        assert host.invocations(*UNITS) == inv
        ms.stack.preview("--expect-no-changes")
    finally:
        ms.stack.set("homelab:ssh.user", "core")
        ms.stack.up()
