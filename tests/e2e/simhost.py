"""The simulated production host (scripts/sim-host) as a test fixture, and ways to look at it.

The sim host is booted from a clean copy of the cached root fs once per test session and
powered off at its end. If it cannot be built or booted the fixture FAILS (never skips) and
says how to fix it. Everything here reads the host's own state over its root shell: files,
modes, `systemctl`, the journal.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from homelab import push

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "scripts" / "sim-host"


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, text=True, capture_output=True, check=False, **kw)


@dataclass
class SimHost:
    host_key: str
    key_path: str
    port: int = 2222

    def connection(self, user: str = "core", host_key: str | None = None) -> dict[str, Any]:
        return asdict(
            push.Connection(
                host="127.0.0.1",
                port=self.port,
                user=user,
                host_key=host_key or self.host_key,
                private_key_path=self.key_path,
            )
        )

    def fresh_login(self, user: str = "core") -> str:
        """`whoami` over a NEW SSH connection as `user` with the test key (no shared
        connection: an open one would hide a lock-out), as root through sudo like the push;
        PushError (sshd's refusal explained) when the host does not let the key in."""
        conn = push.Connection(**self.connection(user))
        rc, out, err = push.run_ssh(conn, "id -un", b"", 30, share=False)
        if rc != 0:
            raise push.PushError(f"{user}: exit {rc}: {err.strip()}")
        return out.strip()

    def sh(self, script: str, check: bool = True, stdin: str | None = None) -> str:
        """Run `script` as root on the host. Secret values go in `stdin`, never in `script`
        (it is an argument of ssh and of the host's shell: visible in their process lists)."""
        p = _run([str(SIM), "ssh", script], input=stdin)
        if check and p.returncode != 0:
            raise AssertionError(f"sim host command failed ({p.returncode}): {script}\n{p.stderr}")
        return p.stdout

    def accepted_logins(self) -> int:
        """sshd's "Accepted publickey" lines: one per SSH connection that got in."""
        out = self.sh("journalctl -u ssh.service --no-pager -o cat | grep -c 'Accepted publickey'")
        return int(out.strip())

    def connections_during(self, fn: Any) -> int:
        """SSH connections that got in while `fn()` ran (this count's own one excluded)."""
        before = self.accepted_logins()
        fn()
        return self.accepted_logins() - before - 1

    def sudo_commands(self) -> dict[str, int]:
        """Commands the push ran through sudo (journal), by kind: `read` (the read script on
        stdin of `sh -s`), `apply` (the tar into `sh -c ...`) and `confirm`. Root logins
        bypass sudo."""
        out = self.sh("journalctl _COMM=sudo --no-pager -o cat | grep 'COMMAND=' || true")
        cmds = [ln.split("COMMAND=", 1)[1] for ln in out.splitlines()]
        return {
            "read": sum(c.endswith("sh -s") for c in cmds),
            "apply": sum("sh -c" in c and "apply.sh" in c for c in cmds),
            # confirm-or-revert's confirmation (homelab.push.apply.CONFIRM_COMMAND)
            "confirm": sum("revert.sh" in c and "confirm" in c for c in cmds),
        }

    def unit(self, unit: str) -> dict[str, str]:
        out = self.sh(
            f"systemctl show -p ActiveState -p SubState -p InvocationID -p NRestarts "
            f"-p ActiveEnterTimestamp -p MemoryMax {unit}"
        )
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def invocations(self, *units: str) -> dict[str, str]:
        """unit -> systemd's InvocationID: a new one means the unit was (re)started."""
        return {u: self.unit(u)["InvocationID"] for u in units}

    def current_generation(self) -> str:
        return self.sh('basename "$(readlink /etc/homelab/current)" 2>/dev/null || true').strip()

    def stat(self, path: str) -> str:
        """`mode:uid:gid` of the resolved path."""
        return self.sh(f"stat -L -c %a:%u:%g '{path}'").strip()

    def tree(self, paths: list[str]) -> dict[str, str | None]:
        """path -> sha256 of the resolved content, or None when missing."""
        script = "".join(
            f"if [ -f '{p}' ]; then printf '%s\\t%s\\n' '{p}' \"$(sha256sum <'{p}' | cut -c1-64)\";"
            f" else printf '%s\\t-\\n' '{p}'; fi\n"
            for p in paths
        )
        out = self.sh(script)
        res: dict[str, str | None] = {}
        for line in out.splitlines():
            p, h = line.split("\t")
            res[p] = None if h == "-" else h
        return res

    def http(self, port: int) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            return str(r.read().decode())


def _fail(msg: str) -> None:
    pytest.fail(msg, pytrace=False)


def start_simhost() -> SimHost:
    """Build (cached) and boot a clean sim host; fail loudly with instructions otherwise."""
    for step in ("build", "up"):
        p = _run([str(SIM), step], timeout=1200)
        if p.returncode != 0:
            _fail(
                f"scripts/sim-host {step} failed:\n{p.stdout}{p.stderr}\n"
                "The simulated host needs: apt-get install debootstrap systemd-container "
                "openssh-client busybox-static, the Debian mirror, and root. "
                "Run `scripts/sim-host build && scripts/sim-host up` by hand to see details."
            )
    key = _run([str(SIM), "hostkey"]).stdout.strip()
    key_path = _run([str(SIM), "key"]).stdout.strip()
    return SimHost(host_key=key, key_path=key_path)


def stop_simhost() -> None:
    _run([str(SIM), "down"])


@pytest.fixture(scope="session")
def simhost() -> Iterator[SimHost]:
    host = start_simhost()
    try:
        yield host
    finally:
        # The suite stops what it starts: the host is powered off once the session is done.
        stop_simhost()


def wait_http(host: SimHost, port: int, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return host.http(port)
        except OSError as exc:
            last = exc
            time.sleep(0.3)
    raise AssertionError(f"port {port} did not answer: {last}")
