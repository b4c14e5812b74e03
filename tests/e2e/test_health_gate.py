"""The health gate through `pulumi up -s e2e-mouse` on the simulated host: it fails fast on a
crash-loop, sees a crash within `settle`, waits for podman's health, judges and brings back
dependents, and a failed push is one homelab message with the state recorded truly.

Real parts only: the project's own program through the pulumi CLI, OpenSSH, systemd, podman
and Quadlet on the sim host. The stand-in containers are extra Quadlet files in the project
copy (enabled in the stack like any container), their images busybox stand-ins pushed to the
test registry (tests/e2e/registry.push) and locked like every image of a production stack:
the host pulls them before the switch. Every assertion reads the host.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.e2e.mouse_stack import MouseStack, new_mouse_stack
from tests.e2e.registry import lock_images, lock_pushed, push
from tests.e2e.simhost import SimHost, wait_http

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

RESTART_SEC = 4
# Stand-ins (the three, and a container that cannot start): one that exits at once
# on every start; one that serves and crashes after 3 s; one whose health check never passes;
# and a pair where the dependent (BindsTo=/After= its database) goes down with the database.
# (An image that cannot be pulled no longer gets this far: the pull before the switch
# refuses it, tests/e2e/test_images.py.)
IMAGES = {
    "gatebad": (
        "docker.io/homelab-e2e/gatebad:1",
        "sh -c 'echo cannot start: no config; exit 125'",
    ),
    "gatelate": (
        "docker.io/homelab-e2e/gatelate:1",
        "sh -c 'echo serving; sleep 3; echo crashing after 3 s; exit 1'",
    ),
    "gatesick": ("docker.io/homelab-e2e/gatesick:1", "sh -c 'exec httpd -f -p 127.0.0.1:18093'"),
    "gatedb": ("docker.io/homelab-e2e/gatedb:1", "sh -c 'exec httpd -f -p 127.0.0.1:18091'"),
    "gateapp": ("docker.io/homelab-e2e/gateapp:1", "sh -c 'exec httpd -f -p 127.0.0.1:18092'"),
}
DB_BROKEN = "docker.io/homelab-e2e/gatedb:2-broken"


def container_file(name: str, image: str, extra_unit: str = "", extra: str = "") -> str:
    return (
        f"[Unit]\nDescription=homelab e2e stand-in {name}\n{extra_unit}\n"
        f"[Container]\nImage={image}\nContainerName={name}\n{extra}\n"
        f"[Service]\nRestart=on-failure\nRestartSec={RESTART_SEC}s\nTimeoutStartSec=60\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


FILES = {
    "gatebad": container_file("gatebad", IMAGES["gatebad"][0]),
    "gatelate": container_file("gatelate", IMAGES["gatelate"][0]),
    # Notify=healthy: the unit stays activating until podman says healthy (it never does).
    "gatesick": container_file(
        "gatesick",
        IMAGES["gatesick"][0],
        extra="HealthCmd=sh -c 'exit 1'\nHealthInterval=1s\nHealthRetries=1\n"
        "HealthStartPeriod=0s\nNotify=healthy\n",
    ),
    "gatedb": container_file("gatedb", IMAGES["gatedb"][0]),
    "gateapp": container_file(
        "gateapp",
        IMAGES["gateapp"][0],
        # BindsTo=: systemd stops it whenever the database goes down (a crash included) and
        # never starts it again by itself.
        extra_unit="BindsTo=gatedb.service\nAfter=gatedb.service\n",
    ),
}


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    digests: dict[str, str] = {}
    for image, cmd in IMAGES.values():
        digests.update(push(cmd, image))
    digests.update(push("sh -c 'echo broken database; exit 3'", DB_BROKEN))
    ms = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("health-gate"))
    for name, text in FILES.items():
        (ms.project / "containers" / f"{name}.container").write_text(text)
    # mouse runs locked images only. `homelab images lock` locks what the stacks enable, and
    # these are enabled one test at a time: their entries (the registry's own digests, as
    # the push reported them) go into the copy's lock beside the ones it resolved.
    lock_images(ms.project)
    lock_pushed(ms.project, digests)
    yield ms
    # Leave the session's host as the other modules expect it: the stand-ins gone.
    for name in ("gatedb", "gateapp", "gatebad", "gatelate", "gatesick"):
        ms.stack.run("config", "rm", "--path", f"homelab:containers.{name}", check=False)
    ms.stack.up(check=False)


@pytest.fixture(autouse=True)
def _one_broken_stand_in_at_a_time(ms: MouseStack) -> Iterator[None]:
    """A test that failed before undoing its broken stand-in must not fail the ones after."""
    yield
    stack_file = (ms.stack.project / f"Pulumi.{ms.stack.name}.yaml").read_text()
    for name in ("gatebad", "gatelate", "gatesick"):
        if f"{name}:" in stack_file:
            ms.stack.run("config", "rm", "--path", f"homelab:containers.{name}", check=False)


def enable(ms: MouseStack, name: str) -> None:
    ms.stack.set(f"homelab:containers.{name}.enabled", "true")


def one_message(text: str) -> None:
    """A failed push reads as one homelab message: no Python traceback anywhere."""
    assert "Traceback" not in text and 'File "' not in text, text
    assert "homelab:" in text, text


def recorded_truly(ms: MouseStack, name: str) -> None:
    """Undoing the change gives a no-change preview: the state matches the host."""
    ms.stack.rm(f"homelab:containers.{name}")
    ms.stack.preview("--expect-no-changes")


def test_1_the_pair_comes_up(ms: MouseStack) -> None:
    enable(ms, "gatedb")
    enable(ms, "gateapp")
    ms.stack.up()
    for u in ("gatedb.service", "gateapp.service"):
        assert ms.host.unit(u)["ActiveState"] == "active", u
    assert wait_http(ms.host, 18092).strip() == "homelab-sim"


def test_2_a_container_that_cannot_start_fails_fast_in_one_line(ms: MouseStack) -> None:
    host = ms.host
    gen = host.current_generation()
    enable(ms, "gatebad")
    p = ms.stack.up(check=False)
    text = p.stdout + p.stderr
    assert p.returncode != 0
    one_message(text)
    assert "gatebad.service did not stay active: crash-looping" in text, text
    assert f"host back on {gen}" in text and "Last lines of journalctl -u gatebad" in text, text
    # Fast: it gave up after at most two restarts (RestartSec=4s), not after mouse's
    # 120 s health_timeout (about 25 restarts). NRestarts as the gate saw it, in its message.
    restarts = re.search(r"gatebad.service did not stay active: .*?NRestarts=(\d+)", text)
    assert restarts and int(restarts.group(1)) <= 2, text
    assert host.current_generation() == gen
    assert host.unit("gatebad.service")["ActiveState"] in ("inactive", "failed")
    assert "last-revert" in host.sh("ls /etc/homelab")
    assert "gatebad.service" in host.sh("cat /etc/homelab/last-revert")
    recorded_truly(ms, "gatebad")


def test_3_a_crash_after_3_s_within_settle_fails_the_gate(ms: MouseStack) -> None:
    host = ms.host
    gen = host.current_generation()
    enable(ms, "gatelate")
    p = ms.stack.up(check=False)
    text = p.stdout + p.stderr
    assert p.returncode != 0
    one_message(text)
    assert "gatelate.service did not stay active" in text, text
    assert "crashing after 3 s" in text, text
    assert host.current_generation() == gen
    recorded_truly(ms, "gatelate")


def test_4_a_container_that_never_becomes_healthy_fails(ms: MouseStack) -> None:
    host = ms.host
    gen = host.current_generation()
    enable(ms, "gatesick")
    p = ms.stack.up(check=False)
    text = p.stdout + p.stderr
    assert p.returncode != 0
    one_message(text)
    assert "gatesick.service did not stay active: unhealthy" in text, text
    assert host.current_generation() == gen
    assert host.unit("gatesick.service")["ActiveState"] in ("inactive", "failed")
    recorded_truly(ms, "gatesick")


def test_5_dependents_are_restarted_judged_and_brought_back_by_a_rollback(
    ms: MouseStack,
) -> None:
    host = ms.host
    app = host.unit("gateapp.service")["InvocationID"]
    # A good change of the database: systemd restarts its dependent with it; the gate judges
    # both.
    ms.stack.set("homelab:containers.gatedb.memory_max", "300M")
    ms.stack.up()
    now = host.unit("gateapp.service")
    assert now["ActiveState"] == "active" and now["InvocationID"] != app, now
    gen = host.current_generation()
    app = now["InvocationID"]
    # A broken database: its dependent goes down with it. The rollback restarts the old
    # database AND the dependent (systemd's restart would leave a stopped dependent down).
    ms.stack.set("homelab:containers.gatedb.image_tag", DB_BROKEN.rsplit(":", 1)[1])
    p = ms.stack.up(check=False)
    text = p.stdout + p.stderr
    assert p.returncode != 0 and "gatedb.service did not stay active" in text, text
    assert host.current_generation() == gen
    assert wait_http(host, 18091).strip() == "homelab-sim"
    assert wait_http(host, 18092).strip() == "homelab-sim"
    now = host.unit("gateapp.service")
    assert now["ActiveState"] == "active" and now["InvocationID"] != app, now
    ms.stack.rm("homelab:containers.gatedb.image_tag")
    ms.stack.preview("--expect-no-changes")
