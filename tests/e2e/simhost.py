"""Fixtures for the SSH push tests: the simulated host (scripts/sim-host) and a pulumi runner.

The sim host is booted from a clean copy of the cached root fs once per test session. If it
cannot be built or booted the fixture FAILS (never skips) and says how to fix it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from homelab import push
from homelab.fileset import FileSet, render_secret_files
from tests.e2e.pulumi_cli import tools_env

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "scripts" / "sim-host"
PROGRAM = ROOT / "tests" / "e2e" / "push_program"
SECRET = "s3cret-test-password"
# Images the push test program uses; each is a busybox stand-in built inside the sim host.
WEB_IMAGE = "docker.io/library/homelab-test-web:1.0"
CRASH_IMAGE = "docker.io/library/homelab-test-crash:1.0"


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, text=True, capture_output=True, check=False, **kw)


@dataclass
class SimHost:
    host_key: str
    key_path: str
    port: int = 2222

    def connection(self, user: str = "core", host_key: str | None = None) -> dict[str, Any]:
        return push.Connection(
            host="127.0.0.1",
            port=self.port,
            user=user,
            host_key=host_key or self.host_key,
            private_key_path=self.key_path,
        ).to_dict()

    def sh(self, script: str, check: bool = True) -> str:
        p = _run([str(SIM), "ssh", script])
        if check and p.returncode != 0:
            raise AssertionError(f"sim host command failed ({p.returncode}): {script}\n{p.stderr}")
        return p.stdout

    def accepted_logins(self) -> int:
        """sshd's "Accepted publickey" lines: one per SSH connection that got in."""
        out = self.sh("journalctl -u ssh.service --no-pager -o cat | grep -c 'Accepted publickey'")
        return int(out.strip())

    def unit(self, unit: str) -> dict[str, str]:
        out = self.sh(
            f"systemctl show -p ActiveState -p InvocationID -p ActiveEnterTimestamp "
            f"-p NRestarts {unit}"
        )
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def current_generation(self) -> str:
        return self.sh('basename "$(readlink /etc/homelab/current)" 2>/dev/null || true').strip()

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


def expected_tree(fs: FileSet, paths: list[str]) -> dict[str, str | None]:
    contents = {f.path: f.content for f in fs.files if not f.secret}
    contents.update(render_secret_files(fs, {"webPassword": SECRET}))
    return {p: (push._sha(contents[p].encode()) if p in contents else None) for p in paths}


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
    images = [
        ([WEB_IMAGE], "busybox httpd -f -p 127.0.0.1:${PORT:-8080}"),
        ([CRASH_IMAGE], "echo crashing on purpose; exit 3"),
    ]
    for names, cmd in images:
        p = _run([str(SIM), "images", "--cmd", cmd, *names])
        if p.returncode != 0:
            _fail(f"scripts/sim-host images failed:\n{p.stderr}")
    key = _run([str(SIM), "hostkey"]).stdout.strip()
    key_path = _run([str(SIM), "key"]).stdout.strip()
    return SimHost(host_key=key, key_path=key_path)


# ---------------------------------------------------------------------------------------------
# A minimal pulumi runner (local file backend, throwaway stack).


def pulumi_bin() -> str:
    for cand in (ROOT / ".tools" / "bin" / "pulumi", shutil.which("pulumi")):
        if cand and Path(cand).exists():
            return str(cand)
    _fail("pulumi CLI not found: run scripts/install-tools (installs .tools/bin/pulumi)")
    raise AssertionError("unreachable")


class Pulumi:
    def __init__(self, workdir: Path, stack: str = "simtest") -> None:
        self.bin = pulumi_bin()
        self.stack = stack
        backend = workdir / "backend"
        backend.mkdir(parents=True, exist_ok=True)
        # The toolchain's environment (PATH, PULUMI_HOME, offline), shared with other e2e tests.
        self.env = tools_env(
            PULUMI_BACKEND_URL=f"file://{backend}",
            PULUMI_CONFIG_PASSPHRASE="homelab-e2e-only",
            PULUMI_DIY_BACKEND_NO_LEGACY_WARNING="true",
            # The test program lives below the repository root; the provider process is
            # started in the program's directory and needs `components` importable.
            PYTHONPATH=str(ROOT),
        )
        self.run("stack", "init", stack, check=False)
        self.run("stack", "select", stack)

    def run(
        self, *args: str, check: bool = True, timeout: float = 600, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            [self.bin, *args, "--non-interactive", "--cwd", str(PROGRAM)],
            text=True,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            input=stdin,
            check=False,
        )
        if check and p.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
            )
        return p

    def configure(
        self,
        conn: dict[str, Any],
        spec: dict[str, Any],
        health_timeout: int = 20,
        settle: int = 2,
    ) -> None:
        s = ["-s", self.stack]
        self.run("config", "set", *s, "--path", "pushtest:ssh.host", conn["host"])
        self.run("config", "set", *s, "--path", "pushtest:ssh.port", str(conn["port"]))
        self.run("config", "set", *s, "--path", "pushtest:ssh.user", conn["user"])
        self.run("config", "set", *s, "--path", "pushtest:ssh.host_key", conn["host_key"])
        self.run(
            "config", "set", *s, "--path", "pushtest:ssh.private_key_path",
            conn["private_key_path"],
        )  # fmt: skip
        self.run("config", "set", *s, "pushtest:spec", json.dumps(spec))
        # On stdin: a secret never goes on a command line (process list).
        self.run("config", "set", *s, "--secret", "pushtest:webPassword", stdin=SECRET)
        self.run("config", "set", *s, "pushtest:health_timeout", str(health_timeout))
        self.run("config", "set", *s, "pushtest:settle", str(settle))

    def up(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--yes", "--skip-preview", "-s", self.stack, check=check)

    def preview(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("preview", "--diff", "-s", self.stack, *extra, check=check)

    def outputs(self) -> dict[str, Any]:
        p = self.run("stack", "output", "--json", "-s", self.stack)
        return dict(json.loads(p.stdout))


def spec(rev1: str = "1", rev2: str = "1", image2: str = WEB_IMAGE, notes: bool = True) -> dict:
    s: dict[str, Any] = {
        "containers": {
            "web1": {"image": WEB_IMAGE, "port": 18091, "rev": rev1},
            "web2": {"image": image2, "port": 18092, "rev": rev2},
        }
    }
    if notes:
        s["notes"] = "managed by the homelab push test\n"
    return s


@pytest.fixture(scope="session")
def simhost() -> Iterator[SimHost]:
    host = start_simhost()
    yield host
    # The suite stops what it starts: the host is powered off once the session is done.
    _run([str(SIM), "down"])


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
