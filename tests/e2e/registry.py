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
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session", autouse=True)
def registry() -> Iterator[None]:
    """Stops the registry at the end of the session if this session started it."""
    yield
    if _state.get("started"):
        registry_down()
