"""The test world's registry (scripts/registry: Debian's docker-registry) as tests use it.

`ensure_registry()` starts it when it is not running (idempotent) and pushes, once per
session, the busybox stand-in of every image in containers/ (and the test-only crash tag)
under the image's real name; `lock_images(project)` runs the project's own
`homelab images lock` against it (docker.io mirrored to it), so every project copy of the e2e
tests gets an images.lock whose digests a real registry served. The `registry` session
fixture stops it at the end of the session when the session started it.
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.simhost import SimHost

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "registry"
PORT = 5151
AUTH_PORT = 5152
MIRROR = f"docker.io=127.0.0.1:{PORT}"
_state: dict[str, bool] = {}


def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, text=True, capture_output=True, check=False, stdin=subprocess.DEVNULL, **kw
    )  # type: ignore[call-overload]


def _fail(msg: str) -> None:
    pytest.fail(msg, pytrace=False)


def running() -> bool:
    return _run([str(SCRIPT), "status"]).returncode == 0


def registry_up() -> None:
    p = _run([str(SCRIPT), "up"], timeout=300)
    if p.returncode != 0:
        _fail(
            f"scripts/registry up failed:\n{p.stdout}{p.stderr}\nIt needs root and "
            "apt-get install docker-registry buildah skopeo apache2-utils busybox-static curl"
        )


def registry_down() -> None:
    _run([str(SCRIPT), "down"], timeout=60)


def push(cmd: str, *images: str) -> dict[str, str]:
    """A busybox stand-in running `cmd`, pushed under each of `images`; image -> digest."""
    p = _run([str(SCRIPT), "push", "--cmd", cmd, *images], timeout=300)
    if p.returncode != 0:
        _fail(f"scripts/registry push failed:\n{p.stderr}")
    return dict(line.split(" ", 1) for line in p.stdout.splitlines())


def ensure_registry() -> None:
    if "started" not in _state:
        _state["started"] = not running()
        if _state["started"] and "pytest" not in sys.modules:
            atexit.register(registry_down)  # a bench: no session fixture stops it
    registry_up()
    if not _state.get("pushed"):
        from tests.e2e.mouse_stack import CRASH_CMD, CRASH_IMAGE, stand_ins

        for si in stand_ins():
            push(si.command(), si.image)
        push(CRASH_CMD, CRASH_IMAGE)
        _state["pushed"] = True


def lock_images(project: Path) -> str:
    """`homelab images lock` of `project`, run by the project's own code, against the test
    registry; returns images.lock's text."""
    ensure_registry()
    p = _run(
        [sys.executable, "-m", "homelab", "images", "lock", "--project", str(project),
         "--mirror", MIRROR],
        cwd=project,
        timeout=300,
    )  # fmt: skip
    if p.returncode != 0:
        _fail(f"homelab images lock failed:\n{p.stdout}{p.stderr}")
    return (project / "images.lock").read_text()


def lock_pushed(project: Path, digests: dict[str, str]) -> None:
    """Add the images `push` made (ref -> the registry's digest, as it reported them) to
    `project`'s images.lock, beside what `homelab images lock` resolved: for stand-ins a
    stack enables one test at a time, which a lock of the enabled containers cannot see."""
    from homelab.host.images import ImageLock, LockEntry

    lock = ImageLock.parse((project / "images.lock").read_text())
    for ref, digest in digests.items():
        lock.entries[ref] = LockEntry(ref, digest, "linux/amd64")
    (project / "images.lock").write_text(lock.render())


# Where a SlowProxy listens (loopback: the sim host on port 2222 shares this machine's network).
PROXY_PORT = 5161
# The sim host's mirror drop-in (scripts/sim-host mirror_conf) names the registry's port.
MIRROR_CONF = "/etc/containers/registries.conf.d/50-homelab-sim-mirror.conf"


class SlowProxy:
    """127.0.0.1:PROXY_PORT -> the registry, its answers passed on at `rate` bytes/s: a
    slow registry (a pull of one ~1 MB stand-in layer takes seconds). `kill()` is the
    registry dying mid-transfer: every connection is reset, nothing listens any more.
    `blob_gets` counts the blob downloads that started (GET .../blobs/...)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.blob_gets = 0
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self.srv = socket.create_server(("127.0.0.1", PROXY_PORT), reuse_port=True)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.srv.accept()
                u = socket.create_connection(("127.0.0.1", PORT))
            except OSError:
                return
            with self._lock:
                self._socks += [c, u]
            threading.Thread(target=self._pipe, args=(c, u, 0), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, self.rate), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, rate: int) -> None:
        # Small sends when slowed: a whole small answer would otherwise pass in one send.
        chunk = max(16, min(8192, rate // 10)) if rate else 8192
        try:
            while data := src.recv(chunk):
                if not rate and data.startswith(b"GET ") and b"/blobs/" in data.split(b"\r\n")[0]:
                    self.blob_gets += 1
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def point_host_at_it(self, host: SimHost, on: bool = True) -> None:
        """The sim host's mirror through this proxy (on) or straight to the registry."""
        a, b = (PORT, PROXY_PORT) if on else (PROXY_PORT, PORT)
        host.sh(f"sed -i 's/127.0.0.1:{a}/127.0.0.1:{b}/' {MIRROR_CONF}")

    def kill(self) -> None:
        """Every open connection reset (RST, as when the registry's machine goes away)."""
        self.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # shutdown wakes the pipe threads blocked in recv(); close() alone would not
            # release the socket while they hold it, and the host's pull would hang until
            # its time limit instead of seeing the registry go away.
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        # shutdown first: close() alone leaves a listener blocked in accept() in the kernel,
        # so new connections queue and hang (a pull waited out its whole time limit).
        with contextlib.suppress(OSError):
            self.srv.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.srv.close()


@pytest.fixture(scope="session", autouse=True)
def registry() -> Iterator[None]:
    """Stops the registry at the end of the session if this session started it."""
    yield
    if _state.get("started"):
        registry_down()
