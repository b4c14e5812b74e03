"""`pulumi preview` of a mouse-shaped stack whose host cannot be reached, or presents another
host key than the pinned one: ONE line naming host, port and what to check, no traceback.

Through the project's own program and the real engine (tests/e2e/mouse_stack.py); the wrong
key case against the simulated host's real sshd.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.mouse_stack import SECRETS, STACK, mouse_doc, new_mouse_stack
from tests.e2e.pulumi_cli import Stack, new_stack, project_copy
from tests.e2e.simhost import SimHost

pytestmark = [pytest.mark.tools]

RESOURCE = "error: pulumi-python:dynamic:Resource resource 'mouse-host' has a problem: "
# Any well-formed key the sim host does not have.
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICjmq1k7aYIOE1js5mF1eA6b8r8ZCXSrsplOdUxF20t4"


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def errors(p: object) -> list[str]:
    text = getattr(p, "stdout", "") + getattr(p, "stderr", "")
    return [ln for ln in text.splitlines() if ln.startswith("error:")]


def assert_one_line(stack: Stack, expected: str) -> None:
    p = stack.preview(check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "Traceback" not in out, out
    assert errors(p) == [RESOURCE + expected], out
    # Nothing but that line and the plan: the error output is that line alone.
    assert p.stderr.strip() == RESOURCE + expected, p.stderr


def test_unreachable_host_fails_in_one_line(tmp_path: Path) -> None:
    port = closed_port()
    project = project_copy(tmp_path / "project")
    doc = mouse_doc()
    # A key of the user's own (the placeholder, or a key file that is not there, stops the
    # preview before any connection: tests/e2e/test_owner_access.py).
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    doc["config"]["homelab:host"]["ssh_authorized_keys"] = [Path(f"{key}.pub").read_text().strip()]
    doc["config"]["homelab:ssh"] = {
        "host": "127.0.0.1",
        "port": port,
        "user": "core",
        "host_key": OTHER_KEY,
        "private_key_path": str(tmp_path / "id_ed25519"),
    }
    (project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    st = new_stack(project, tmp_path / "state", STACK)
    for k, v in SECRETS.items():
        st.set_secret(f"homelab:{k}", v)
    assert_one_line(
        st,
        f"cannot reach 127.0.0.1 port {port}: connection refused; check that the host is up "
        "and sshd listens on that port (homelab:ssh host, port)",
    )


@pytest.mark.simhost
def test_wrong_host_key_fails_in_one_line_and_runs_nothing(
    simhost: SimHost, tmp_path: Path
) -> None:
    assert simhost.host_key.split()[1] != OTHER_KEY.split()[1]
    ms = new_mouse_stack(simhost, tmp_path)
    ms.stack.set("homelab:ssh.host_key", OTHER_KEY)
    fp = simhost.sh("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2").strip()
    logins = simhost.accepted_logins()
    assert_one_line(
        ms.stack,
        f"127.0.0.1 port {simhost.port} presented a host key other than the pinned "
        f"homelab:ssh host_key (it sent {fp}); nothing was run on it. Check the host's key "
        f"with `ssh-keyscan -p {simhost.port} -t ed25519 127.0.0.1` and, only if the host "
        "was reinstalled, put it in homelab:ssh host_key",
    )
    # ssh stopped before authenticating: no login reached the host (this count's own excepted).
    assert simhost.accepted_logins() == logins + 1
