"""The push on hosts that are not as expected: no sudo at all, symlinks where data goes.

Through the project's own program (mouse-shaped stack, tests/e2e/mouse_stack.py) against the
simulated host; every assertion reads the host's own state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.generations import generations, incomplete
from tests.e2e.mouse_stack import MouseStack, new_mouse_stack
from tests.e2e.simhost import SimHost

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

AWAY = "/usr/bin/sudo.homelab-e2e-away"


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    ms = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("hardening"))
    ms.stack.up()
    yield ms


def test_root_pushes_a_change_to_a_host_without_sudo(ms: MouseStack) -> None:
    host = ms.host
    # sudo's binary moved out of every path: for the push, the host has no sudo.
    host.sh(f"mv /usr/bin/sudo {AWAY}")
    try:
        assert host.sh("command -v sudo || echo none").strip() == "none"
        ms.stack.set("homelab:ssh.user", "root")
        old_plan = ms.plan()
        ms.stack.set("homelab:containers.netdata.memory_max", "1234M")
        paths = ms.managed_paths(old_plan)
        new = ms.expected_tree(paths)
        assert host.tree(paths) != new
        gen, inv = host.current_generation(), host.unit("netdata.service")["InvocationID"]
        logins = host.sh("journalctl -u ssh -o cat | grep -c 'Accepted publickey for root'")
        ms.stack.up()
        # The new generation is live, complete, and running.
        assert host.current_generation() != gen
        assert host.tree(paths) == new
        assert incomplete(host) == []
        unit = host.sh("cat /etc/homelab/current/root/etc/containers/systemd/netdata.container")
        assert "MemoryMax=1234M" in unit
        assert host.unit("netdata.service")["MemoryMax"] == str(1234 * 1024 * 1024)
        assert host.unit("netdata.service")["InvocationID"] != inv
        after = host.sh("journalctl -u ssh -o cat | grep -c 'Accepted publickey for root'")
        assert int(after) > int(logins), "the push did not log in as root"
        ms.stack.preview("--expect-no-changes")
    finally:
        host.sh(f"test -e /usr/bin/sudo || mv {AWAY} /usr/bin/sudo")
        ms.stack.set("homelab:ssh.user", "core")
    ms.stack.up()


@pytest.mark.parametrize(
    "planted",
    ["/var/tank/services/navidrome/data", "/var/tank/services/navidrome"],
    ids=["data-dir", "its-parent"],
)
def test_a_symlinked_data_dir_is_never_followed(ms: MouseStack, planted: str) -> None:
    host = ms.host
    assert not any(c.name == "navidrome" for c in ms.plan().containers)
    # Someone's private directory outside the volume root, and a link to it where navidrome's
    # data goes: navidrome's data is owned by 1000:1000, so following the link would chown it.
    host.sh(
        "rm -rf /var/tank/services/navidrome /root/victim && "
        "mkdir -m 0700 /root/victim && echo private > /root/victim/f && "
        "chmod 0600 /root/victim/f && mkdir -p /var/tank/services/navidrome && "
        f"rm -rf {planted} && ln -s /root/victim {planted}"
    )
    victim = host.sh("stat -c '%a:%u:%g %n' /root/victim /root/victim/f")
    paths = ms.managed_paths()
    gen, gens, tree = host.current_generation(), generations(host), host.tree(paths)
    ms.stack.set("homelab:containers.navidrome.enabled", "true")
    try:
        p = ms.stack.up(check=False)
        text = p.stdout + p.stderr
        assert p.returncode != 0
        assert f"data directory {planted} is a symlink (to /root/victim)" in text, text
        assert "never chowns or chmods through one" in text
        # Nothing followed, nothing switched, nothing left.
        assert host.sh("stat -c '%a:%u:%g %n' /root/victim /root/victim/f") == victim
        assert host.sh(f"readlink {planted}").strip() == "/root/victim"
        assert host.current_generation() == gen and generations(host) == gens
        assert host.tree(paths) == tree
        assert host.unit("navidrome.service")["ActiveState"] != "active"
        # Once the link is gone, the same up goes through.
        host.sh(f"rm {planted}")
        ms.stack.up()
        assert host.unit("navidrome.service")["ActiveState"] == "active"
        assert host.stat("/var/tank/services/navidrome/data") == "750:1000:1000"
    finally:
        ms.stack.set("homelab:containers.navidrome.enabled", "false")
        ms.stack.up()
        host.sh("rm -rf /root/victim")
