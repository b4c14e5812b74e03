"""Confirm-or-revert through `pulumi up -s e2e-mouse` on simulated hosts.

After the switch and the health gate the host arms a revert (a transient systemd timer,
`homelab-revert-GEN`, that outlives the SSH session); the client confirms over a NEW SSH
connection. Scenarios, each asserted on the host's own state:
- the confirmation arriving just before the deadline (the host holds the push at the
  `armed` test hook, so the client hears back only a few seconds before it);
- the client killed between the switch and the confirmation: the host goes back alone;
- a second push while a revert is armed: it supersedes it (the revert is disarmed, the
  host keeps the pushed content);
- a change that cuts the host's own network: on a second sim host booted in a network
  namespace of its own (HOMELAB_SIM_NETNS), a container whose unit takes the namespace's
  link down. Nothing leaves this machine: the link is the namespace's veth. The host
  reverts by itself, SSH comes back, `pulumi up` says so in one line, and the next `up` of a
  good change converges.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import vmlab
from tests.e2e.generations import HOMELAB, settle
from tests.e2e.mouse_stack import STACK, MouseStack, e2e_doc
from tests.e2e.pulumi_cli import new_stack, project_copy
from tests.e2e.registry import lock_pushed, push
from tests.e2e.simhost import SIM, SimHost

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

CONFIRM = 20


def arm_hook(host: SimHost, spec: str) -> None:
    host.sh(f"mkdir -p /etc/homelab-sim && echo '{spec}' > /etc/homelab-sim/kill-at")


def revert_timers(host: SimHost) -> str:
    return host.sh("systemctl list-units --all --plain --no-legend 'homelab-revert-*'").strip()


def wait_for(what: str, fn, timeout: float) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not fn():
        assert time.monotonic() - t0 < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    from tests.e2e.mouse_stack import new_mouse_stack

    ms = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("confirm"))
    ms.stack.set("homelab:push.confirm_timeout", str(CONFIRM))
    ms.stack.up()
    yield ms


def memory(ms: MouseStack, mib: int) -> None:
    ms.stack.set("homelab:containers.netdata.memory_max", f"{mib}M")


def test_1_confirmed_just_before_the_deadline(ms: MouseStack) -> None:
    host = ms.host
    # The host holds the push 16 s after arming: the client confirms 2-4 s before the end.
    arm_hook(host, f"slow armed {CONFIRM - 4}")
    memory(ms, 1100)
    ms.stack.up()
    gen = host.current_generation()
    assert "MemoryMax=1100M" in host.sh("cat /etc/containers/systemd/netdata.container")
    log = host.sh(f"cat /etc/homelab/generations/{gen}/apply.log")
    assert f"HOMELAB-ARMED {gen}" in log and f"HOMELAB-CONFIRMED {gen}" in log, log
    assert not (HOMELAB / "armed").exists() and revert_timers(host) == ""
    time.sleep(6)  # past the deadline: nothing happens
    assert host.current_generation() == gen
    ms.stack.preview("--expect-no-changes")


def test_2_client_killed_before_confirming_the_host_goes_back(
    ms: MouseStack, tmp_path: Path
) -> None:
    host = ms.host
    gen = host.current_generation()
    netdata = host.sh("cat /etc/containers/systemd/netdata.container")
    arm_hook(host, "slow armed 30")
    memory(ms, 1200)
    proc = ms.stack.popen("up", "--yes", log=tmp_path / "up.log")
    try:
        wait_for("the host arms its revert", (HOMELAB / "armed").exists, 180)
    finally:
        vmlab.kill_tree(vmlab.process_tree(proc.pid))
        proc.wait()
    new = (HOMELAB / "armed").read_text().split("\t")[0]
    settle(host)  # apply.sh ends (after the hook); then the timer's revert gets the lock
    wait_for("the host reverts by itself", lambda: host.current_generation() == gen, 60)
    last = host.sh("cat /etc/homelab/last-revert")
    assert f"\t{new}\t{gen}\t" in last and "did not hear back within 20 s" in last, last
    assert host.sh("cat /etc/containers/systemd/netdata.container") == netdata
    wait_for(
        "netdata runs the old generation",
        lambda: host.unit("netdata.service")["ActiveState"] == "active",
        60,
    )
    assert host.unit("netdata.service")["MemoryMax"] != str(1200 * 1024 * 1024)
    assert f"{new}.failed" in host.sh("ls /etc/homelab/generations")
    assert revert_timers(host) == ""
    # The next `up` pushes the change again (README: `pulumi cancel` if the engine says the
    # stack is locked) and converges.
    r = ms.stack.up(check=False)
    if r.returncode != 0:
        ms.stack.run("cancel", "--yes")
        ms.stack.up()
    assert "MemoryMax=1200M" in host.sh("cat /etc/containers/systemd/netdata.container")
    ms.stack.preview("--expect-no-changes")


def test_3_a_second_push_while_armed_supersedes_it(ms: MouseStack, tmp_path: Path) -> None:
    host = ms.host
    gen = host.current_generation()
    # Time enough for the preview and the second up before the first one's deadline.
    ms.stack.set("homelab:push.confirm_timeout", "90")
    arm_hook(host, "slow armed 3")
    memory(ms, 1300)
    proc = ms.stack.popen("up", "--yes", log=tmp_path / "up.log")
    try:
        wait_for("the host arms its revert", (HOMELAB / "armed").exists, 180)
    finally:
        vmlab.kill_tree(vmlab.process_tree(proc.pid))
        proc.wait()
    armed = (HOMELAB / "armed").read_text().split("\t")[0]
    settle(host)
    assert armed in revert_timers(host)
    # The preview says so: the host has not heard back.
    p = ms.stack.preview(check=False)
    assert "never confirmed" in p.stdout + p.stderr, p.stdout
    r = ms.stack.up(check=False)
    if r.returncode != 0:
        ms.stack.run("cancel", "--yes")
        ms.stack.up()
    assert not (HOMELAB / "armed").exists() and revert_timers(host) == ""
    now = host.current_generation()
    assert now not in (gen, "") and "MemoryMax=1300M" in host.sh(
        "cat /etc/containers/systemd/netdata.container"
    )
    # The first push's timer is gone: nothing will revert.
    assert armed not in host.sh("systemctl list-timers --all --no-legend")
    assert host.current_generation() == now
    ms.stack.preview("--expect-no-changes")
    ms.stack.set("homelab:push.confirm_timeout", str(CONFIRM))


# ---------------------------------------------------------------- a push that cuts the way in

NETNS = "homelab-e2e-gate"
NET = "10.231.73"
STATE = Path("/var/lib/homelab-sim-gate")
CUTOFF_IMAGE = "docker.io/homelab-e2e/cutoff:1"  # pulled from the test registry, locked
# The unit takes its own host's link down once the container runs (ExecStartPost= runs on
# the host, in the host's network namespace) and brings it back when it stops.
CUTOFF = (
    "[Unit]\nDescription=homelab e2e: takes the host's network down\n\n"
    f"[Container]\nImage={CUTOFF_IMAGE}\nContainerName=cutoff\n\n"
    "[Service]\nExecStartPost=/bin/sh -c 'ip link set sim0 down'\n"
    "ExecStopPost=/bin/sh -c 'ip link set sim0 up'\n"
    "Restart=on-failure\nTimeoutStartSec=60\n\n[Install]\nWantedBy=multi-user.target\n"
)


def _sim(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    p = subprocess.run(
        [str(SIM), *args], env=env, text=True, capture_output=True, timeout=timeout,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    if p.returncode != 0:
        pytest.fail(f"scripts/sim-host {args[0]} failed:\n{p.stdout}{p.stderr}", pytrace=False)
    return p.stdout


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MouseStack, dict[str, str]]]:
    import yaml

    env = dict(
        os.environ,
        HOMELAB_SIM_STATE=str(STATE),
        HOMELAB_SIM_NETNS=NETNS,
        HOMELAB_SIM_NET=NET,
    )
    _sim(env, "up", timeout=600)
    try:
        host = SimHost(host_key=_sim(env, "hostkey").strip(), key_path=_sim(env, "key").strip())
        cutoff = push("sh -c 'while :; do sleep 1; done'", CUTOFF_IMAGE)  # and the stand-ins
        work = tmp_path_factory.mktemp("cutoff")
        project = project_copy(work / "project")
        lock_pushed(project, cutoff)
        doc = e2e_doc(host)
        doc["config"]["homelab:ssh"]["host"] = f"{NET}.2"
        doc["config"]["homelab:push"] = {"health_timeout": 60, "settle": 2, "confirm_timeout": 15}
        (project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        (project / "containers" / "cutoff.container").write_text(CUTOFF)
        st = new_stack(project, work / "state", STACK)
        ms = MouseStack(st, host, {})
        from tests.e2e.mouse_stack import SECRETS

        for k, v in SECRETS.items():
            ms.set_secret(k, v)
        ms.stack.up()
        yield ms, env
    finally:
        _sim(env, "down")


def test_4_a_push_that_cuts_the_network_reverts_by_itself(
    cut: tuple[MouseStack, dict[str, str]],
) -> None:
    ms, env = cut
    gen = _sim(env, "ssh", 'basename "$(readlink /etc/homelab/current)"').strip()
    ms.stack.set("homelab:containers.cutoff.enabled", "true")
    t0 = time.monotonic()
    p = ms.stack.up(check=False)
    took = time.monotonic() - t0
    text = p.stdout + p.stderr
    assert p.returncode != 0
    assert f"the host did not hear back within 15 s; it rolled itself back to {gen}" in text, text
    assert "Traceback" not in text and 'File "' not in text, text
    print(f"cut-off push to its report: {took:.0f} s")
    # SSH is back (a fresh login, as a person would), the host on the old generation.
    assert _sim(env, "ssh", 'basename "$(readlink /etc/homelab/current)"').strip() == gen
    states = _sim(env, "ssh", "systemctl is-active cutoff.service || true").strip()
    assert states in ("inactive", "failed"), states
    assert "did not hear back" in _sim(env, "ssh", "cat /etc/homelab/last-revert")
    # The next preview tells the truth: the host lacks the cut-off container.
    pv = ms.stack.preview(check=False)
    assert "cutoff.container" in pv.stdout, pv.stdout
    # A good change converges.
    ms.stack.rm("homelab:containers.cutoff")
    ms.stack.set("homelab:containers.netdata.memory_max", "900M")
    ms.stack.up()
    assert "MemoryMax=900M" in _sim(env, "ssh", "cat /etc/containers/systemd/netdata.container")
    ms.stack.preview("--expect-no-changes")
