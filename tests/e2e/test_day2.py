"""Day-2 commands (`homelab status|generations|logs|rollback STACK`) as a user runs them (the
`homelab` entry point, from the project folder), over the stack's pinned SSH settings, against
the simulated host. Every assertion is checked against the host's own state: the `current`
link, `systemctl` (InvocationID changes iff a unit was restarted), the journal; and for
rollback the real `pulumi preview` afterwards (drift) and `up` (clears it)."""

from __future__ import annotations

import posixpath
import subprocess
from collections.abc import Iterator

import pytest

from homelab.quadlet import parse_unit
from tests.e2e.mouse_stack import STACK, MouseStack, new_mouse_stack
from tests.e2e.pulumi_cli import REPO
from tests.e2e.simhost import SimHost

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

UNITS = ("netdata.service", "rustfs.service")
NETDATA = "/etc/containers/systemd/netdata.container"


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    """Two generations on the host: A (the stack as is), then B (netdata's memory_max)."""
    ms = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("day2"))
    ms.stack.up()
    ms.gens = [mouse_host.current_generation()]  # type: ignore[attr-defined]
    ms.stack.set("homelab:containers.netdata.memory_max", "1300M")
    ms.stack.up()
    ms.gens.append(mouse_host.current_generation())  # type: ignore[attr-defined]
    yield ms


def homelab(ms: MouseStack, *args: str) -> subprocess.CompletedProcess[str]:
    """`homelab ARGS... e2e-mouse` from the project folder (found upward from the cwd)."""
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "homelab"), *args],
        cwd=ms.project / "containers",
        env=ms.stack.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert (p.returncode, p.stderr) == (0, ""), (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stdout
    return p.stdout


def host_generations(host: SimHost) -> list[str]:
    return host.sh("ls -1 /etc/homelab/generations | sort").split()


def test_status_shows_units_images_and_generation(ms: MouseStack) -> None:
    host = ms.host
    out = ok(homelab(ms, "status", STACK)).splitlines()
    assert out[0] == f"{STACK}: 127.0.0.1 port {host.port}, generation {host.current_generation()}"
    assert out[1].split() == ["UNIT", "STATE", "RESTARTS", "IMAGE", "(locked)", "RUNNING"]
    rows = {ln.split()[0]: ln.split()[1:] for ln in out[2:]}
    assert sorted(rows) == list(UNITS)
    for u in UNITS:
        live = host.unit(u)
        name = u.removesuffix(".service")
        image = parse_unit(host.sh(f"cat /etc/containers/systemd/{name}.container"), name).get(
            "Container", "Image"
        )[-1]
        assert rows[u][:3] == [
            f"{live['ActiveState']}/{live['SubState']}",
            live["NRestarts"],
            image,
        ]
        # Its container runs the locked digest (Image= carries it).
        assert rows[u][3:] == ["the", "locked", "digest"] and "@sha256:" in image, rows[u]
        assert live["ActiveState"] == "active"


def test_generations_lists_the_hosts_generations_and_marks_current(ms: MouseStack) -> None:
    host = ms.host
    lines = ok(homelab(ms, "generations", STACK)).splitlines()
    assert [ln[2:].split()[0] for ln in lines] == host_generations(host)
    current = [ln for ln in lines if ln.startswith("* ")]
    assert len(current) == 1 and current[0].split()[1] == host.current_generation()
    assert current[0].endswith("(current)")
    assert host.current_generation() == ms.gens[-1]  # type: ignore[attr-defined]


def test_logs_is_the_units_journal(ms: MouseStack) -> None:
    host = ms.host
    got = ok(homelab(ms, "logs", STACK, "netdata", "-n", "5"))
    want = host.sh("journalctl -u netdata.service -n 5 --no-pager -o short-iso")
    assert got == want
    assert len(got.splitlines()) == 5
    assert "netdata" in got


def test_rollback_switches_back_restarts_only_what_differs_and_shows_as_drift(
    ms: MouseStack,
) -> None:
    host = ms.host
    a, b = ms.gens  # type: ignore[attr-defined]
    assert host.current_generation() == b
    before = {u: host.unit(u) for u in UNITS}
    assert "MemoryMax=1300M" in host.sh(f"cat {NETDATA}")

    env = ["/etc/homelab/env/rustfs.env"]
    secret_file = host.tree(env)
    out = ok(homelab(ms, "rollback", STACK))
    # Older generations keep no secret file (apply.sh scrubs them): the current values stay.
    assert host.tree(env) == secret_file and host.stat(env[0]) == "600:0:0"
    assert "restarted: netdata.service" in out.splitlines(), out
    gen = host.current_generation()
    assert gen.endswith("-rollback") and gen not in (a, b)
    # The live tree is generation A's again, through the one `current` link.
    assert host.sh(f"readlink {NETDATA}").strip() == f"/etc/homelab/current/root{NETDATA}"
    # Except the secret files: old generations keep none (apply.sh scrubs them), so the
    # rollback carries the live values over from the generation it replaced.
    secrets = host.sh("awk -F'\\t' '$1 == \"S\" { print $2 }' /etc/homelab/current/manifest.tsv")
    assert secrets.split(), "mouse's stack has secret files"
    diff = host.sh(f"diff -r /etc/homelab/generations/{a}/root /etc/homelab/current/root || :")
    assert sorted(diff.splitlines()) == sorted(
        f"Only in /etc/homelab/current/root{posixpath.dirname(p)}: {posixpath.basename(p)}"
        for p in secrets.split()
    )
    for path in secrets.split():
        # The live value is the one B was pushed with (B's manifest hash), and B, no longer
        # live, keeps no copy of it.
        pushed = host.sh(f"awk -F'\\t' '$1 == \"F\" && $2 == \"{path}\" {{ print $6 }}' "
                         f"/etc/homelab/generations/{b}/manifest.tsv").strip()  # fmt: skip
        live = host.sh(f"sha256sum < /etc/homelab/current/root{path}").split()[0]
        assert pushed and live == pushed
        assert host.sh(f"test -e /etc/homelab/generations/{b}/root{path} || echo gone") == (
            "gone\n"
        )
    assert "MemoryMax=1G" in host.sh(f"cat {NETDATA}")
    after = {u: host.unit(u) for u in UNITS}
    # netdata's file differs between B and A: restarted, healthy; rustfs's does not: untouched.
    assert after["netdata.service"]["InvocationID"] != before["netdata.service"]["InvocationID"]
    assert after["netdata.service"]["ActiveState"] == "active"
    assert (after["rustfs.service"]["InvocationID"], after["rustfs.service"]["NRestarts"]) == (
        before["rustfs.service"]["InvocationID"],
        before["rustfs.service"]["NRestarts"],
    )
    gens = ok(homelab(ms, "generations", STACK))
    assert f"* {gen}" in gens and f"(current; rollback to {a})" in gens, gens

    # The host no longer matches the stack: preview says so, up restores the stack.
    p = ms.stack.preview("--expect-no-changes", check=False)
    text = p.stdout + p.stderr
    assert p.returncode != 0, text
    assert "`homelab rollback` at " in text and f"made {a} live again in place of {b}" in text
    assert "+ -MemoryMax=1G" in text and "+ +MemoryMax=1300M" in text, text
    inv = host.invocations(*UNITS)
    ms.stack.up()
    assert not host.current_generation().endswith("-rollback")
    assert "MemoryMax=1300M" in host.sh(f"cat {NETDATA}")
    now = host.invocations(*UNITS)
    assert now["netdata.service"] != inv["netdata.service"]
    assert now["rustfs.service"] == inv["rustfs.service"]
    ms.stack.preview("--expect-no-changes")


def test_rollback_to_an_unknown_generation_changes_nothing(ms: MouseStack) -> None:
    host = ms.host
    gen, gens, inv = host.current_generation(), host_generations(host), host.invocations(*UNITS)
    p = homelab(ms, "rollback", STACK, "20000101T000000Z-nothere")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr == (
        f"homelab rollback {STACK}: rollback on 127.0.0.1 port {host.port} failed (exit 1): "
        "no generation 20000101T000000Z-nothere (see `homelab generations`)\n"
    )
    assert host.current_generation() == gen
    assert host_generations(host) == gens
    assert host.invocations(*UNITS) == inv


def test_wrong_host_key_is_one_line(ms: MouseStack) -> None:
    host = ms.host
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICjmq1k7aYIOE1js5mF1eA6b8r8ZCXSrsplOdUxF20t4"
    ms.stack.set("homelab:ssh.host_key", key)
    try:
        p = homelab(ms, "status", STACK)
    finally:
        ms.stack.set("homelab:ssh.host_key", host.host_key)
    assert p.returncode == 1 and p.stdout == ""
    assert len(p.stderr.splitlines()) == 1 and "Traceback" not in p.stderr
    assert p.stderr.startswith(
        f"homelab status {STACK}: 127.0.0.1 port {host.port} presented a host key other than "
        "the pinned homelab:ssh host_key"
    ), p.stderr


def test_status_into_a_closed_pipe_is_no_traceback(ms: MouseStack) -> None:
    # `homelab status STACK | head -1`, made deterministic: the reader is gone before the
    # first write.
    for _ in range(3):
        p = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "homelab"), "status", STACK],
            cwd=ms.project,
            env=ms.stack.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None
        p.stdout.close()
        _, err = p.communicate(timeout=120)
        assert (p.returncode, err) == (0, ""), err


def test_logs_of_an_unknown_unit_fails_and_lists_the_managed_ones(ms: MouseStack) -> None:
    p = homelab(ms, "logs", STACK, "nosuch")
    assert (p.returncode, p.stdout) == (1, ""), p
    assert p.stderr == (
        f"homelab logs {STACK}: no unit nosuch.service on 127.0.0.1; the managed units: "
        "netdata.service, rustfs.service\n"
    )
    # A unit the host has but homelab does not manage still has its journal.
    assert homelab(ms, "logs", STACK, "sshd", "-n", "1").returncode == 0


def test_rollback_to_the_host_before_homelab_is_refused_clearly(ms: MouseStack) -> None:
    host = ms.host
    assert "000000-empty" in host_generations(host)
    gens = ok(homelab(ms, "generations", STACK))
    assert (
        "000000-empty" in gens
        and "(the host before homelab: its files as the first push found them; "
        "not a rollback target)"
        in gens
    )
    gen, inv = host.current_generation(), host.invocations(*UNITS)
    p = homelab(ms, "rollback", STACK, "000000-empty")
    assert (p.returncode, p.stdout) == (1, ""), p
    assert "000000-empty is the host before homelab's first push, not a rollback target" in (
        p.stderr
    )
    assert "/etc/homelab/generations/000000-empty/root" in p.stderr
    assert host.current_generation() == gen and host.invocations(*UNITS) == inv


def test_the_placeholder_host_key_is_refused_as_a_placeholder(ms: MouseStack) -> None:
    host = ms.host
    # The key Pulumi.mouse.yaml ships with.
    placeholder = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIReplaceWithMouseHostKeyFromSshKeyscanXXXXXX"
    ms.stack.set("homelab:ssh.host_key", placeholder)
    got: list[subprocess.CompletedProcess[str]] = []
    try:
        conns = host.connections_during(lambda: got.append(homelab(ms, "status", STACK)))
    finally:
        ms.stack.set("homelab:ssh.host_key", host.host_key)
    p = got[0]
    assert (p.returncode, p.stdout) == (1, ""), p
    assert len(p.stderr.splitlines()) == 1, p.stderr
    assert "host_key is the placeholder" in p.stderr and "reinstalled" not in p.stderr
    assert f"ssh-keyscan -p {host.port} -t ed25519 127.0.0.1" in p.stderr
    assert conns == 0


def test_the_pre_homelab_state_is_kept_for_good_and_listed(ms: MouseStack) -> None:
    """000000-empty holds the host's own files as the first push found them (the only copy
    of the owner's pre-homelab units): retention never removes it, and `generations` says
    what it is."""
    host = ms.host
    gens = host_generations(host)
    assert gens[0] == "000000-empty", gens
    # Seven older generations than any real one: retention (newest 6) would reach past them.
    host.sh(
        "for i in 1 2 3 4 5 6 7; do "
        "mkdir -p /etc/homelab/generations/20000101T00000${i}Z-old0000$i; done"
    )
    ms.stack.set("homelab:containers.netdata.memory_max", "1100M")
    ms.stack.up()
    kept = host_generations(host)
    assert kept[0] == "000000-empty", kept
    assert len(kept) == 7, kept  # the pre-homelab state and the newest six
    assert "20000101T000001Z-old00001" not in kept  # the oldest did go
    lines = ok(homelab(ms, "generations", STACK)).splitlines()
    assert lines[0] == (
        f"  000000-empty  {lines[0].split()[1]} {lines[0].split()[2]}  (the host before "
        "homelab: its files as the first push found them; not a rollback target)"
    ), lines
