"""The daily loop as a person reads it, through the project's own program and the real
`pulumi` CLI against the simulated host: a tag bump's `preview --diff` and `up` fit a screen
and say what happens on the host; drift is the host against the last push (never the stack's
own pending change), recorded by `pulumi refresh` and gone once healed.

The line bounds are the budget of the README's examples: a test fails when output grows past
them (the figures measured are printed with -s)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from homelab.host.images import ImageLock
from tests.e2e.mouse_stack import PUSH_TYPE, MouseStack, new_mouse_stack, stand_ins
from tests.e2e.registry import lock_pushed, push
from tests.e2e.simhost import SimHost

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

NETDATA = "/etc/containers/systemd/netdata.container"
RUSTFS = "/etc/containers/systemd/rustfs.container"
UNITS = ("netdata.service", "rustfs.service")
BUMP = "v2.7.2-e2e"  # a netdata tag built for this test: the same stand-in under a new tag
# Lines printed (stdout + stderr), from the sim host's output of 2026-12-04: a tag bump's
# preview --diff 40 (62 before the bulk went into one secret input), its up 47 (its
# preview, the update, the outputs); a no-change preview 5, a no-change up 32 (its outputs).
# The bounds leave a few lines for a longer path or one more output.
PREVIEW_BUMP_MAX = 44
UP_BUMP_MAX = 56
NO_CHANGE_PREVIEW_MAX = 12
NO_CHANGE_UP_MAX = 36


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    netdata = next(si for si in stand_ins() if si.container == "netdata")
    bumped = push(netdata.command(), netdata.image.rsplit(":", 1)[0] + ":" + BUMP)
    ms = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("daily"))
    lock_pushed(ms.project, bumped)  # as `homelab images lock` would after the bump
    ms.stack.up()
    yield ms


def text(p) -> str:  # type: ignore[no-untyped-def]
    return p.stdout + p.stderr


def lines(p) -> int:  # type: ignore[no-untyped-def]
    return len(text(p).splitlines())


def drift_lines(out: str) -> list[str]:
    """The drift the preview shows: the `+ KEY: "WHY"` lines under `~ drift`."""
    rows = out.splitlines()
    at = [i for i, ln in enumerate(rows) if ln.strip().startswith(("~ drift", "+ drift"))]
    if not at:
        return []
    indent = len(rows[at[0]]) - len(rows[at[0]].lstrip())
    found = []
    for ln in rows[at[0] + 1 :]:
        if ln.strip() and len(ln) - len(ln.lstrip()) <= indent + 2:
            break
        found.append(ln.strip())
    return found


def recorded_drift(ms: MouseStack) -> dict[str, str]:
    """The push resource's `drift` as the state holds it."""
    resources = json.loads(ms.stack.export())["deployment"]["resources"]
    (res,) = [r for r in resources if r["type"] == PUSH_TYPE]
    return dict(res["outputs"]["drift"])


def test_1_neither_drift_nor_change(ms: MouseStack) -> None:
    p = ms.stack.preview("--expect-no-changes")
    print(f"\nno-change preview: {lines(p)} lines")
    assert lines(p) <= NO_CHANGE_PREVIEW_MAX, text(p)
    assert ms.stack.outputs()["drift"] == {}
    up = ms.stack.up("--expect-no-changes")
    print(f"no-change up: {lines(up)} lines\n{text(up)}")
    assert lines(up) <= NO_CHANGE_UP_MAX, text(up)


def test_2_a_tag_bump_is_the_plan_not_drift_and_fits_a_screen(ms: MouseStack) -> None:
    ms.stack.set("homelab:containers.netdata.image_tag", BUMP)
    p = ms.stack.preview()
    out = text(p)
    print(f"\ntag bump preview --diff: {lines(p)} lines\n{out}")
    assert lines(p) <= PREVIEW_BUMP_MAX, out
    assert drift_lines(p.stdout) == [], out  # the stack's own change is never drift
    assert "drifted item" not in out
    assert f"+Image=docker.io/netdata/netdata:{BUMP}" in out
    assert f"restart netdata.service: {NETDATA} changed" in out
    assert "rustfs.service" not in out.split("units:")[-1].split("Resources:")[0]
    # The bulk stays out of sight: no Ignition/Butane YAML, no manifest, no file bodies.
    for bulk in ("variant: fcos", "storage:", '"mode"', "[Service]", "pushed_hashes"):
        assert bulk not in out, bulk


def test_3_up_reports_what_it_did_on_the_host(ms: MouseStack) -> None:
    host = ms.host
    inv = host.invocations(*UNITS)
    up = ms.stack.up()
    out = text(up)
    print(f"\ntag bump up: {lines(up)} lines\n{out}")
    assert lines(up) <= UP_BUMP_MAX, out
    after = host.invocations(*UNITS)
    assert after["netdata.service"] != inv["netdata.service"]
    assert after["rustfs.service"] == inv["rustfs.service"]
    last = ms.stack.outputs()["last_push"]
    assert last["generation"] == host.current_generation()
    assert last["restarted"] == "netdata.service" and "started" not in last, last
    assert last["seconds"] > 0
    # `up` ends with it: generation, the units restarted, the time taken.
    tail = out.split("Outputs:")[-1]
    assert "last_push" in tail and host.current_generation() in tail
    assert "restarted" in tail and '"netdata.service"' in tail, tail
    # The bumped tag's locked digest is what runs (Image=REF:TAG@DIGEST names it by digest).
    locked = ImageLock.read(ms.project).entries[f"docker.io/netdata/netdata:{BUMP}"].digest
    img = host.sh("podman inspect netdata --format '{{.ImageName}}'").strip()
    assert img == f"docker.io/netdata/netdata@{locked}"
    ms.stack.preview("--expect-no-changes")


def test_4_a_hand_edit_is_drift_recorded_by_refresh_and_healed_by_up(ms: MouseStack) -> None:
    host = ms.host
    # Besides a pending change of the stack (netdata's memory): only the hand edit is drift.
    ms.stack.set("homelab:containers.netdata.memory_max", "1300M")
    host.sh(f"sed -i 's/^RestartSec=10s$/RestartSec=30s/' {RUSTFS}")
    p = ms.stack.preview()
    found = drift_lines(p.stdout)
    assert len(found) == 1 and found[0].startswith(f'+ {RUSTFS}: "content differs'), text(p)
    assert f"restart rustfs.service: {RUSTFS} changed" in p.stdout  # the plan heals it
    assert f"restart netdata.service: {NETDATA} changed" in p.stdout
    # refresh reads the host (the provider's read) and records the drift in the push
    # resource's state; with --run-program the stack output too.
    ms.stack.run("refresh", "--yes")
    drift = recorded_drift(ms)
    assert list(drift) == [RUSTFS] and drift[RUSTFS].startswith("content differs"), drift
    ms.stack.run("refresh", "--yes", "--run-program")
    assert ms.stack.outputs()["drift"] == drift
    inv = host.invocations(*UNITS)
    ms.stack.up()
    after = host.invocations(*UNITS)
    assert all(after[u] != inv[u] for u in UNITS), (inv, after)
    assert host.sh(f"grep -c '^RestartSec=10s$' {RUSTFS}").strip() == "1"
    # Healed: the recorded drift is gone, and the next preview shows no stale entry.
    assert ms.stack.outputs()["drift"] == {}
    p = ms.stack.preview("--expect-no-changes")
    assert drift_lines(p.stdout) == []


def test_5_only_drift_a_stopped_unit_then_healed(ms: MouseStack) -> None:
    host = ms.host
    host.sh("systemctl stop rustfs.service")
    p = ms.stack.preview()
    assert drift_lines(p.stdout) == ['+ unit:rustfs.service: "not active (inactive)"'], text(p)
    assert "start rustfs.service: not active (inactive)" in p.stdout
    ms.stack.run("refresh", "--yes", "--run-program")
    assert ms.stack.outputs()["drift"] == {"unit:rustfs.service": "not active (inactive)"}
    assert recorded_drift(ms) == {"unit:rustfs.service": "not active (inactive)"}
    ms.stack.up()
    assert host.unit("rustfs.service")["ActiveState"] == "active"
    ms.stack.run("refresh", "--yes", "--run-program")
    assert ms.stack.outputs()["drift"] == {} and recorded_drift(ms) == {}
    ms.stack.preview("--expect-no-changes")


def test_6_destroy_says_the_host_keeps_running(ms: MouseStack) -> None:
    host = ms.host
    gen, inv = host.current_generation(), host.invocations(*UNITS)
    paths = ms.managed_paths()
    tree = host.tree(paths)
    d = ms.stack.run("destroy", "--yes")
    said = [ln.strip() for ln in text(d).splitlines() if ln.strip().startswith("homelab: host")]
    assert said and said[0] == (
        f"homelab: host 127.0.0.1:{host.port} left as it is, a delete never touches it: its "
        "units keep running, its files stay (linked from /etc/homelab/current), its data "
        "stays in /var/tank/services"
    ), text(d)
    assert host.current_generation() == gen and host.invocations(*UNITS) == inv
    assert host.tree(paths) == tree
    assert all(host.unit(u)["ActiveState"] == "active" for u in UNITS)
