"""`pulumi preview -s mouse --diff` as a readable plan, through the project's own program and
the real engine against the simulated host: a unified text diff per changed non-secret file
(old: what the host has now, be it the last push or a hand edit; new: the stack), secret
files named only, and the units that will restart with the file that makes them. Then `up`
restarts exactly those units."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.mouse_stack import MouseStack, new_mouse_stack
from tests.e2e.simhost import SimHost

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

NETDATA = "/etc/containers/systemd/netdata.container"
RUSTFS = "/etc/containers/systemd/rustfs.container"
ENV = "/etc/homelab/env/rustfs.env"
UNITS = ("netdata.service", "rustfs.service")
NEW_SECRET = "e2e-rustfs-secret-rotated"


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    ms = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("preview-plan"))
    ms.stack.up()
    yield ms


def plan_block(stdout: str) -> list[str]:
    """The lines the engine prints for the `plan` input, stripped (`+ LINE` for each line of
    the new plan; the head line, unchanged, as context)."""
    lines = stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith("~ plan"))
    indent = len(lines[start]) - len(lines[start].lstrip())
    out = []
    for ln in lines[start + 1 :]:
        # The next property starts where `plan` does after its "~ ".
        if ln.strip() and len(ln) - len(ln.lstrip()) <= indent + 2:
            break
        out.append(ln.strip())
    return out


def test_preview_diff_shows_text_diffs_secret_names_and_restarts(ms: MouseStack) -> None:
    host = ms.host
    old_secret = ms.secrets["rustfsSecretKey"]
    # The stack changes a container's setting and rotates a secret; someone edits another
    # container's file on the host by hand.
    ms.stack.set("homelab:containers.netdata.memory_max", "1300M")
    ms.set_secret("rustfsSecretKey", NEW_SECRET)
    host.sh(f"sed -i 's/^RestartSec=10s$/RestartSec=30s/' {RUSTFS}")
    paths = ms.managed_paths()
    tree = host.tree(paths)
    inv = host.invocations(*UNITS)

    p = ms.stack.preview()
    out = p.stdout + p.stderr
    block = plan_block(p.stdout)
    head = "what `pulumi up` does on the host:"
    assert block[0] == head, block
    body = block[1:]
    # The stack's change: last pushed -> desired.
    assert f"+ --- {NETDATA} (on the host)" in body, block
    assert f"+ +++ {NETDATA} (after up)" in body, block
    assert "+ -MemoryMax=1G" in body and "+ +MemoryMax=1300M" in body, block
    # The hand edit: what the host has now -> desired.
    assert f"+ --- {RUSTFS} (on the host)" in body, block
    assert "+ -RestartSec=30s" in body and "+ +RestartSec=10s" in body, block
    # Only changed files get a diff; the secret file is named, its values never shown.
    assert [ln for ln in body if ln.startswith("+ --- ")] == [
        f"+ --- {NETDATA} (on the host)",
        f"+ --- {RUSTFS} (on the host)",
    ], block
    assert f"+ secret file {ENV}: content differs (values not shown)" in body, block
    assert body[body.index("+ units:") :] == [
        "+ units:",
        f"+   restart netdata.service: {NETDATA} changed",
        f"+   restart rustfs.service: {RUSTFS} changed, {ENV} changed",
        # rustfs's data is its own dataset: snapshotted before it restarts.
        "+ data:",
        "+   snapshot tank/services/rustfs@homelab-<new generation> before rustfs.service restarts",
    ], block
    for value in (old_secret, NEW_SECRET, ms.secrets["rustfsAccessKey"]):
        assert value not in out
    assert "Traceback" not in out
    # A preview changes nothing on the host.
    assert host.tree(paths) == tree
    assert host.invocations(*UNITS) == inv

    # The plan told the truth: `up` restarts exactly the units it named, and the state keeps
    # no plan to diff the next one against.
    ms.stack.up()
    after = host.invocations(*UNITS)
    assert all(after[u] != inv[u] for u in UNITS), (inv, after)
    assert host.sh(f"grep -c '^RestartSec=10s$' {RUSTFS}").strip() == "1"
    ms.stack.preview("--expect-no-changes")


def test_plan_names_only_the_unit_whose_file_changed(ms: MouseStack) -> None:
    host = ms.host
    ms.stack.set("homelab:containers.netdata.memory_max", "1400M")
    inv = host.invocations(*UNITS)
    block = plan_block(ms.stack.preview().stdout)
    assert block[block.index("+ units:") :] == [
        "+ units:",
        # netdata has no dataset and rustfs does not restart: nothing is snapshotted.
        f"+   restart netdata.service: {NETDATA} changed",
    ], block
    assert not any(ln.startswith("+ secret file") for ln in block), block
    ms.stack.up()
    after = host.invocations(*UNITS)
    assert after["netdata.service"] != inv["netdata.service"]
    assert after["rustfs.service"] == inv["rustfs.service"]


CANARY = "e2e-canary-4b1d9e"


def test_a_secret_value_in_a_plain_file_never_reaches_the_preview(ms: MouseStack) -> None:
    """A secret's value that also sits in a plain file (a stack value pasted by mistake) is
    masked in the plan; the values come from the rendered env files (secret_strings)."""
    ms.set_secret("rustfsSecretKey", CANARY)
    ms.stack.set("homelab:containers.netdata.environment.NOTE", CANARY)
    try:
        p = ms.stack.preview()
        out = p.stdout + p.stderr
        block = plan_block(p.stdout)
        assert CANARY not in out
        assert "+ +Environment=NOTE=********" in block, block
        assert f"+ secret file {ENV}: content differs (values not shown)" in block, block
    finally:
        ms.stack.rm("homelab:containers.netdata.environment.NOTE")
