"""Never lock the owner out, through the project's own program and the real engine, against
the simulated host whose sshd reads core's keys as Fedora CoreOS's does (only from Ignition's
`~core/.ssh/authorized_keys.d/ignition`, through ssh-key-dir; scripts/sim-host).

The scenario of issue 20: the owner's key (here the sim host's test key) is in core's
`authorized_keys.d/ignition`, and the stack leaves `homelab:host.ssh_authorized_keys` at the
repository's placeholder, or lists only another key. `preview` and `up` must stop before
anything reaches the host, saying which key, which file and the fix; the host's file stays
as it was, and a NEW connection as core still gets in. With the key listed, every push is
followed by a fresh connection (no shared master) that gets in.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab import push
from homelab.host.system import CORE_KEYS_FILE
from tests.e2e.mouse_stack import MouseStack, new_mouse_stack, sim_key_line
from tests.e2e.simhost import SimHost

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

PLACEHOLDER = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICjmq1k7aYIOE1js5mF1eA6b8r8ZCXSrsplOdUxF20t4 "
    "replace-with-your-key@laptop"
)
KEYS = "homelab:host.ssh_authorized_keys"


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    yield new_mouse_stack(mouse_host, tmp_path_factory.mktemp("owner-access"))


def fingerprint(pub: str) -> str:
    p = subprocess.run(
        ["ssh-keygen", "-lf", "-"], input=pub, capture_output=True, text=True, check=True
    )
    return p.stdout.split()[1]


def keys_on_host(host: SimHost) -> str:
    return host.sh(f"cat {CORE_KEYS_FILE}")


def test_core_gets_in_only_through_ignitions_key_file(ms: MouseStack) -> None:
    """The simulated host can show a lock-out at all: core has no other key file, and
    without the test key in authorized_keys.d/ignition a new connection is refused."""
    host = ms.host
    assert keys_on_host(host).split()[:2] == sim_key_line(host).split()[:2]
    assert host.sh("ls -A /home/core/.ssh").split() == ["authorized_keys.d"]
    assert host.fresh_login() == "root"  # core, then sudo: as the push runs
    # Out of the folder: ssh-key-dir reads every file in it, whatever its name.
    host.sh(f"mv {CORE_KEYS_FILE} /root/ignition.away")
    try:
        with pytest.raises(push.PushError, match="refused our key"):
            host.fresh_login()
    finally:
        host.sh(f"mv /root/ignition.away {CORE_KEYS_FILE}")
    assert host.fresh_login() == "root"


@pytest.mark.parametrize("keys", ["placeholder", "another key"])
def test_a_stack_without_the_owners_key_stops_at_preview(
    ms: MouseStack, keys: str, tmp_path: Path
) -> None:
    host = ms.host
    before = keys_on_host(host)
    gen = host.current_generation()
    own = sim_key_line(host)
    if keys == "placeholder":
        ms.stack.set(f"{KEYS}[0]", PLACEHOLDER)
    else:
        other = tmp_path / "other"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "x@y", "-f", str(other)],
            check=True,
        )
        ms.stack.set(f"{KEYS}[0]", Path(f"{other}.pub").read_text().strip())
    try:
        for run in (ms.stack.preview, ms.stack.up):
            p = run(check=False)
            out = p.stdout + p.stderr
            assert p.returncode != 0, out
            assert "Traceback" not in out, out
            # The key (type, fingerprint, comment), the file on the host and the fix.
            assert f"ssh-ed25519 {fingerprint(own)} ({own.split()[2]})" in out, out
            assert f"after it {CORE_KEYS_FILE} would no longer hold that key" in out, out
            assert f"add it to {KEYS}" in out, out
            assert ("placeholder" in out) == (keys == "placeholder"), out
            # Stopped before anything touched the host: no generation, the same keys.
            assert keys_on_host(host) == before
            assert host.current_generation() == gen
        # Nothing was registered: the stack holds no push resource.
        assert "mouse-host" not in ms.stack.export()
        assert host.fresh_login() == "root"
    finally:
        ms.stack.set(f"{KEYS}[0]", own)


def test_every_push_leaves_a_fresh_connection_in(ms: MouseStack) -> None:
    """A stack that lists the key pushes as before; after each push a NEW connection as
    core (no shared master: the push's own would outlive a lock-out) gets in."""
    host = ms.host
    ms.stack.up()
    assert host.fresh_login() == "root"
    assert keys_on_host(host).split()[:2] == sim_key_line(host).split()[:2]
    ms.stack.set("homelab:containers.netdata.memory_max", "768M")
    ms.stack.up()
    assert host.unit("netdata.service")["MemoryMax"] == str(768 * 1024 * 1024)
    assert host.fresh_login() == "root"
    ms.set_secret("rustfsSecretKey", "owner-access-rotated")
    ms.stack.up()
    assert host.fresh_login() == "root"
    # The pushed key file is the one sshd reads (a link into the live generation).
    assert host.sh(f"readlink {CORE_KEYS_FILE}").startswith("/etc/homelab/current/")
